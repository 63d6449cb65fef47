"""Service discovery exports of the ledger (``portledger export --format ...``):
Prometheus file-based service discovery, a Compose ``.env``, Consul service definitions.

Plain data built from the ledger, no network and no extra package: ``export`` needs
neither the probe nor the serve extra.
"""

from __future__ import annotations

from typing import Any

WILDCARDS = ("0.0.0.0", "::", "")


def _address(a: Any, host: str | None) -> str:
    """Where a port is reached: ``host`` when given, else the port's own ``host_ip``
    (wildcards: loopback)."""
    if host:
        return host
    ip = a.host_ip or ""
    return "127.0.0.1" if ip in WILDCARDS else ip


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def prometheus_file_sd(ledger: Any, host: str | None = None) -> list[dict[str, Any]]:
    """Prometheus ``file_sd_configs`` targets: one group per single TCP port (a range is
    no scrape target), labelled from the ledger; a declared ``health`` path becomes
    ``__metrics_path__``, the scheme ``__scheme__``."""
    groups = []
    for a in ledger.allocations():
        if a.protocol != "tcp" or a.start != a.end:
            continue
        s = ledger.services[a.service]
        labels = {"service": a.service, "port_name": a.name, "category": s.category,
                  "status": s.status, "ledger_port": str(a.start)}
        if host:
            labels["host"] = host
        if s.owner:
            labels["owner"] = s.owner
        if a.health:
            labels["__metrics_path__"] = a.health
            labels["__scheme__"] = a.health_scheme
        groups.append({"targets": [_hostport(_address(a, host), a.start)], "labels": labels})
    return groups


def compose_env(ledger: Any, source: str) -> str:
    """A ``.env`` a compose project can read (``${DIGI_CORE_HTTP_PORT}``)."""
    from portledger.ledger.allocation import exports

    lines = [f"# Ports from {source}, written by portledger export --format compose-env.",
             "# Compose reads this file as .env (or: docker compose --env-file FILE)."]
    lines += [f"{name}={value}" for name, value in exports(ledger).items()]
    return "\n".join(lines) + "\n"


def consul(ledger: Any, host: str | None = None) -> dict[str, Any]:
    """Consul service definitions (the agent's ``services`` configuration block), one per
    ledger port, with an HTTP check for each declared health path."""
    services = []
    for a in ledger.allocations():
        if a.start != a.end:
            continue
        s = ledger.services[a.service]
        address = _address(a, host)
        entry: dict[str, Any] = {
            "id": f"{a.service}-{a.name}", "name": a.service, "port": a.start,
            "tags": [a.name, s.category, a.protocol],
            "meta": {"port_name": a.name, "category": s.category, "status": s.status,
                     "source": "portledger"},
        }
        if host or a.host_ip:
            entry["address"] = address
        if a.health:
            url = f"{a.health_scheme}://{_hostport(address, a.start)}{a.health}"
            check: dict[str, Any] = {"id": f"{a.service}-{a.name}-health",
                                     "name": f"{a.service}.{a.name} health", "http": url,
                                     "method": "GET", "interval": "10s", "timeout": "2s"}
            if a.health_scheme == "https":
                check["tls_skip_verify"] = True
            if a.health_host:
                check["header"] = {"Host": [a.health_host]}
            entry["checks"] = [check]
        services.append(entry)
    return {"services": services}
