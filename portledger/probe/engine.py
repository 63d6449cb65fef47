"""The Docker engine: which one (``DOCKER_HOST``, the CLI context, the local socket; never a
remote one), and the running containers it lists. ``docker`` is imported only here."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from portledger.ledger.model import Ledger
from portledger.probe.model import (
    COMPOSE_FILES_LABEL,
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    DEFAULT_ENGINE,
    LISTED_STATES,
    Container,
    ContainerPort,
    EngineUnavailable,
    _PortIndex,
    run_within,
)

# --- looking: the engine and the sockets -------------------------------------------------


def engine_endpoint(environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The Docker engine to ask, as ``APIClient`` keyword arguments, and where it came
    from: ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``), else the
    context ``DOCKER_CONTEXT`` names or the Docker CLI's current one, else the local
    socket. Raises :class:`EngineUnavailable` for a setting that names no engine."""
    import docker  # type: ignore[import-untyped, unused-ignore]

    if environ.get("DOCKER_HOST"):
        host = environ["DOCKER_HOST"]
        source = f"DOCKER_HOST={host}"
        if "://" not in host and not host.startswith("/"):
            raise EngineUnavailable(
                f"{source} is not a Docker engine address (unix:///path/docker.sock or "
                "tcp://127.0.0.1:2375)")
        try:
            kwargs = docker.utils.kwargs_from_env(environment=dict(environ))
        except docker.errors.DockerException as e:
            raise EngineUnavailable(
                f"the TLS settings of {source} cannot be used: {_one_line(e)} (set "
                "DOCKER_CERT_PATH to a folder with ca.pem, cert.pem and key.pem, or unset "
                "DOCKER_TLS_VERIFY)") from None
        return kwargs, source
    name = environ.get("DOCKER_CONTEXT")
    source = f"DOCKER_CONTEXT={name}" if name else "the Docker CLI's current context"
    config = Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        name = name or _current_context(config)
        if name == "default":
            return {"base_url": DEFAULT_ENGINE}, "the default socket"
        return _context_endpoint(docker, config, name), f"context {name}"
    except EngineUnavailable as e:
        raise EngineUnavailable(f"{e} ({source})") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            docker.errors.DockerException) as e:
        raise EngineUnavailable(f"Docker context {name!r} ({source}) cannot be read: "
                                f"{_one_line(e)}") from None


def _current_context(config: Path) -> str:
    """``currentContext`` of the CLI's ``config.json`` (none, or no file: ``default``)."""
    try:
        data = json.loads((config / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "default"
    name = data.get("currentContext") if isinstance(data, dict) else None
    return str(name) if name else "default"


def _context_endpoint(docker: Any, config: Path, name: str) -> dict[str, Any]:
    """A context's docker endpoint, read from the CLI's context store.

    Read here rather than through ``docker.context.ContextAPI``: the SDK looks for the
    store next to an existing ``config.json`` only, so a context created where the CLI
    has no config file (or ``DOCKER_CONFIG`` pointing at a folder without one) is "not
    found" through it, while the CLI finds it."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta = config / "contexts" / "meta" / digest / "meta.json"
    if not meta.is_file():
        raise EngineUnavailable(f"no Docker context named {name!r} (no {meta})")
    data = json.loads(meta.read_text(encoding="utf-8"))
    endpoint = ((data.get("Endpoints") or {}).get("docker") or {})
    host = endpoint.get("Host")
    if not host:
        return {"base_url": DEFAULT_ENGINE}
    kwargs: dict[str, Any] = {"base_url": host}
    tls = config / "contexts" / "tls" / digest / "docker"
    if tls.is_dir():
        files = {f: str(tls / f) for f in ("ca.pem", "cert.pem", "key.pem")
                 if (tls / f).is_file()}
        cert = ((files["cert.pem"], files["key.pem"])
                if "cert.pem" in files and "key.pem" in files else None)
        kwargs["tls"] = docker.tls.TLSConfig(
            client_cert=cert, ca_cert=files.get("ca.pem"),
            verify=not endpoint.get("SkipTLSVerify"))
    return kwargs


def is_local_engine(url: str) -> bool:
    """Only this host's engine: a unix socket, a named pipe, or TCP on loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme in ("unix", "npipe", "http+unix"):
        return True
    if parts.scheme not in ("tcp", "http", "https"):
        return False
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _engine_error(url: str, source: str, e: BaseException) -> str:
    if url.startswith("unix://") and not os.path.exists(url[len("unix://"):]):
        why = "no such socket"
    elif isinstance(e, PermissionError) or "Permission denied" in str(e):
        why = "permission denied (join the docker group, or run as root)"
    elif "timed out" in str(e).lower() or "timeout" in type(e).__name__.lower():
        why = "no answer in time"
    elif "refused" in str(e).lower():
        why = "connection refused (is dockerd running and listening there?)"
    elif "ssl" in str(e).lower() or "certificate" in str(e).lower():
        why = f"TLS failed: {_ssl_reason(e)}"
    else:
        why = _one_line(e)
    return f"no Docker engine answers at {url} ({source}): {why}"


def _ssl_reason(e: BaseException) -> str:
    """The SSL reason in brackets (``[SSL: WRONG_VERSION_NUMBER] ...``), not urllib3's
    wrapping of it."""
    import re

    m = re.search(r"\[SSL[^\]]*\][^'\")]*", str(e))
    return m.group(0).strip() if m else _one_line(e)


def list_containers(environ: Mapping[str, str], timeout: float,
                    ) -> tuple[list[Container], Any]:
    """Every running, paused or restarting container with its published ports: one API
    call, with a timeout.

    Returns the containers and the API client (for the inspections :func:`inspect_all`
    makes). Raises :class:`EngineUnavailable` when no engine answers, or the one
    configured is not on this host.
    """
    import docker  # type: ignore[import-untyped, unused-ignore]
    import requests  # type: ignore[import-untyped, unused-ignore]

    kwargs, source = engine_endpoint(environ)
    url = str(kwargs.get("base_url", ""))
    if not is_local_engine(url):
        raise EngineUnavailable(
            f"the Docker engine at {url} ({source}) is not on this host; portledger probe "
            "checks only this host's engine (a unix socket, or TCP on loopback)")
    try:
        api = docker.APIClient(timeout=timeout, version="auto", **kwargs)
        raw = api.containers(filters={"status": list(LISTED_STATES)})
    except (docker.errors.DockerException, requests.exceptions.RequestException,
            OSError) as e:
        raise EngineUnavailable(_engine_error(url, source, e)) from None
    return [_container(c) for c in raw], api


def _container(raw: Mapping[str, Any]) -> Container:
    labels = raw.get("Labels") or {}
    names = [n.lstrip("/") for n in raw.get("Names") or []]
    # A linked container has extra names "/other/alias"; the one without a slash is its own.
    name = next((n for n in names if "/" not in n), names[0] if names else raw["Id"][:12])
    ports = []
    for p in raw.get("Ports") or []:
        if not p.get("PublicPort"):
            continue  # exposed, not published
        ports.append(ContainerPort(p.get("IP") or None, int(p["PublicPort"]),
                                   int(p.get("PrivatePort") or 0), p.get("Type", "tcp")))
    networks = ((raw.get("NetworkSettings") or {}).get("Networks") or {}).values()
    addresses = tuple(sorted({ip for n in networks for ip in
                              ((n or {}).get("IPAddress"), (n or {}).get("GlobalIPv6Address"))
                              if ip}))
    files = labels.get(COMPOSE_FILES_LABEL) or ""
    return Container(id=raw["Id"], name=name, compose_service=labels.get(COMPOSE_SERVICE_LABEL),
                     compose_project=labels.get(COMPOSE_PROJECT_LABEL),
                     ports=tuple(sorted(set(ports), key=lambda p: (p.host_port, p.protocol,
                                                                    p.host_ip or ""))),
                     addresses=addresses, image=raw.get("Image") or None,
                     state=str(raw.get("State") or "running"),
                     network_mode=(raw.get("HostConfig") or {}).get("NetworkMode") or None,
                     compose_files=tuple(f for f in files.split(",") if f))


def random_host_ports(environ: Mapping[str, str], api: Any, ledger: Ledger,
                      containers: Sequence[Container], timeout: float, deadline: float,
                      ) -> tuple[dict[str, set[tuple[int, str]]], list[Container],
                                 list[tuple[Container, str]]]:
    """For containers with ports the ledger lacks: which of those Docker chose itself.

    Only those containers are inspected, in parallel, each call within ``timeout`` and
    all of them within the monotonic ``deadline``. Returns the chosen ports by container
    id, the containers not inspected in time, and those whose inspection failed (why).
    """
    index = _PortIndex(ledger.allocations())
    wanted = [c for c in containers
              if not all(index.at(p.host_port, p.protocol, p.host_ip) for p in c.ports)]
    if not wanted:
        return {}, [], []
    import docker  # type: ignore[import-untyped, unused-ignore]

    kwargs, _ = engine_endpoint(environ)
    # A call the deadline cuts short is the deadline's (PL406), not a failed inspection:
    # its own timeout runs a little past the deadline.
    remaining = deadline - time.monotonic()
    left = timeout if timeout < remaining else max(0.05, remaining) + 0.25
    # One client per worker thread: a requests session is not meant to be shared.
    local = threading.local()
    clients: list[Any] = []

    def inspect(c: Container) -> tuple[dict[str, Any] | None, str | None]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = docker.APIClient(timeout=left, version=api.api_version,
                                                     **kwargs)
            clients.append(client)
        try:
            return (client.inspect_container(c.id).get("HostConfig") or {}), None
        except Exception as e:  # noqa: BLE001 - gone meanwhile, refused: a note says so
            return None, _one_line(e)

    done, late = run_within(inspect, wanted, deadline, workers=8)
    chosen: dict[str, set[tuple[int, str]]] = {}
    notes: list[tuple[Container, str]] = []
    for i, (config, error) in done.items():
        c = wanted[i]
        if config is None:
            notes.append((c, error or "no answer"))
            continue
        fixed: set[tuple[int, str]] = set()
        for key, entries in (config.get("PortBindings") or {}).items():
            proto = key.split("/", 1)[1] if "/" in key else "tcp"
            for e in entries or ():
                text = (e or {}).get("HostPort") or ""
                lo, _, hi = text.partition("-")
                if lo.isdigit():
                    for port in range(int(lo), int(hi or lo) + 1):
                        fixed.add((port, proto))
        chosen[c.id] = {(p.host_port, p.protocol) for p in c.ports} - fixed
    for client in list(clients):
        with contextlib.suppress(Exception):
            client.close()
    return chosen, [wanted[i] for i in late], notes
