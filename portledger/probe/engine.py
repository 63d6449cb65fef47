"""The Docker engine: which one (``DOCKER_HOST``, the CLI context, the local socket; never a
remote one), and the running containers it lists. ``docker`` is imported only here."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from typing import Any

from portledger.ledger.model import Ledger
from portledger.probe.model import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    DEFAULT_ENGINE,
    Container,
    ContainerPort,
    EngineUnavailable,
    _PortIndex,
)

# --- looking: the engine and the sockets -------------------------------------------------


def engine_endpoint(environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The Docker engine to ask, as ``APIClient`` keyword arguments, and where it came
    from: ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``), else the
    context ``DOCKER_CONTEXT`` names or the Docker CLI's current one, else the local
    socket."""
    import docker  # type: ignore[import-untyped, unused-ignore]

    if environ.get("DOCKER_HOST"):
        kwargs = docker.utils.kwargs_from_env(environment=dict(environ))
        return kwargs, f"DOCKER_HOST={environ['DOCKER_HOST']}"
    from docker.context import ContextAPI  # type: ignore[import-untyped, unused-ignore]
    from docker.context.config import get_current_context_name  # type: ignore[import-untyped, unused-ignore]

    name = environ.get("DOCKER_CONTEXT")
    source = f"DOCKER_CONTEXT={name}" if name else "the Docker CLI's current context"
    try:
        name = name or get_current_context_name()
        ctx = None if name == "default" else ContextAPI.get_context(name)
    except Exception as e:  # noqa: BLE001 - a context file we cannot read
        raise EngineUnavailable(f"Docker context {name!r} ({source}) cannot be read: "
                                f"{_one_line(e)}") from None
    if name != "default" and ctx is None:
        raise EngineUnavailable(f"no Docker context named {name!r} ({source})")
    if ctx is None or not ctx.Host:
        return {"base_url": DEFAULT_ENGINE}, "the default socket"
    kwargs = {"base_url": ctx.Host}
    if ctx.TLSConfig is not None:
        kwargs["tls"] = ctx.TLSConfig
    return kwargs, f"context {name}"


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
    else:
        why = _one_line(e)
    return f"no Docker engine answers at {url} ({source}): {why}"


def list_containers(environ: Mapping[str, str], timeout: float) -> tuple[list[Container], Any]:
    """Every running container with its published ports: one API call, with a timeout.

    Returns the containers and the API client (for the few inspections
    :func:`random_host_ports` makes). Raises :class:`EngineUnavailable` when no engine
    answers, or the one configured is not on this host.
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
        raw = api.containers(filters={"status": "running"})
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
    return Container(id=raw["Id"], name=name, compose_service=labels.get(COMPOSE_SERVICE_LABEL),
                     compose_project=labels.get(COMPOSE_PROJECT_LABEL),
                     ports=tuple(sorted(set(ports), key=lambda p: (p.host_port, p.protocol,
                                                                    p.host_ip or ""))),
                     addresses=addresses)


def random_host_ports(api: Any, ledger: Ledger, containers: Sequence[Container],
                      ) -> dict[str, set[tuple[int, str]]]:
    """For containers with ports the ledger lacks: which of those Docker chose itself.

    Only those containers are inspected (one call each), so a clean host costs nothing.
    """
    index = _PortIndex(ledger.allocations())
    chosen: dict[str, set[tuple[int, str]]] = {}
    for c in containers:
        if all(index.at(p.host_port, p.protocol, p.host_ip) for p in c.ports):
            continue
        try:
            bindings = (api.inspect_container(c.id).get("HostConfig") or {}).get(
                "PortBindings") or {}
        except Exception:  # noqa: BLE001 - gone meanwhile, or slow: treat as explicit
            continue
        fixed: set[tuple[int, str]] = set()
        for key, entries in bindings.items():
            proto = key.split("/", 1)[1] if "/" in key else "tcp"
            for e in entries or ():
                text = (e or {}).get("HostPort") or ""
                lo, _, hi = text.partition("-")
                if lo.isdigit():
                    for port in range(int(lo), int(hi or lo) + 1):
                        fixed.add((port, proto))
        chosen[c.id] = {(p.host_port, p.protocol) for p in c.ports} - fixed
    return chosen
