"""What the probe observed: containers, their published ports, listening sockets, holders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from portledger.errors import FatalError
from portledger.ledger import overlap
from portledger.ledger.model import Allocation

DEFAULT_TIMEOUT = 2.0
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
PROXY_PROCESSES = frozenset({"docker-proxy", "rootlessport", "rootlesskit"})
"""Processes that hold a host port on behalf of a container."""
DEFAULT_ENGINE = "unix:///var/run/docker.sock"
PROBE_EXTRA_HINT = "pip install 'portledger[probe]'"


class EngineUnavailable(FatalError):
    """No Docker engine answered (exit 2 when ``--docker`` was asked)."""


# --- what was observed ---------------------------------------------------------------


@dataclass(frozen=True)
class ContainerPort:
    """One published port of a running container, as the engine lists it."""

    host_ip: str | None
    host_port: int
    container_port: int
    protocol: str

    def binding(self) -> tuple[int, int, str, str | None]:
        return (self.host_port, self.host_port, self.protocol, self.host_ip)


@dataclass(frozen=True)
class Container:
    """A running container and its published ports."""

    id: str
    name: str
    compose_service: str | None = None
    compose_project: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    addresses: tuple[str, ...] = ()
    """The container's own IP addresses (docker-proxy names the one it forwards to)."""

    @property
    def label(self) -> str:
        """How messages name it: ``container NAME`` (plus its compose service)."""
        if self.compose_service and self.compose_service != self.name:
            return f"container {self.name} (compose service {self.compose_service})"
        return f"container {self.name}"


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket or a bound UDP socket on this host."""

    address: str
    port: int
    protocol: str
    pid: int | None = None
    """None when the process is not visible (another user's, and we are not root)."""
    process: str | None = None
    cmdline: tuple[str, ...] = ()

    def binding(self) -> tuple[int, int, str, str | None]:
        return (self.port, self.port, self.protocol, self.address)

    @property
    def label(self) -> str:
        if self.pid is None:
            return "a process not visible without root (run as root to name it)"
        return f"{self.process or '?'} (pid {self.pid})"


@dataclass
class Observation:
    """Everything one probe saw. ``None`` for a source that was not looked at."""

    containers: list[Container] | None = None
    listeners: list[Listener] | None = None
    random_ports: dict[str, set[tuple[int, str]]] = field(default_factory=dict)
    """Per container id, the published (port, protocol) pairs Docker chose itself."""
    notes: list[str] = field(default_factory=list)
    """One-line remarks for stderr: a source skipped, what could not be seen."""


@dataclass(frozen=True)
class Holder:
    """Who holds a port: a container, a host process, or someone we cannot see."""

    kind: str
    """``container``, ``process``, ``proxy`` (a docker-proxy whose container is unknown)
    or ``hidden`` (a process not visible without root)."""
    container: Container | None = None
    listener: Listener | None = None
    addresses: tuple[str | None, ...] = ()
    """Where it holds the port (None: every address)."""

    @property
    def on(self) -> str:
        """``127.0.0.1``, ``0.0.0.0 and [::]``."""
        shown = sorted({_addr(a) for a in self.addresses}) or ["every address"]
        return " and ".join(shown)

    @property
    def label(self) -> str:
        if self.container is not None:
            return self.container.label
        assert self.listener is not None
        if self.kind == "proxy":
            target = _proxy_target(self.listener.cmdline)
            to = f" for container address {target}" if target else ""
            return f"{self.listener.label}{to}"
        return self.listener.label

    def as_dict(self) -> dict[str, Any]:
        listener = self.listener
        return {
            "kind": self.kind,
            "container": self.container.name if self.container else None,
            "compose_service": self.container.compose_service if self.container else None,
            "process": listener.process if listener else None,
            "pid": listener.pid if listener else None,
            "addresses": sorted(a or "" for a in self.addresses),
            "description": self.label,
        }


def _addr(host_ip: str | None) -> str:
    if host_ip in (None, ""):
        return "every address"
    assert host_ip is not None
    return f"[{host_ip}]" if ":" in host_ip else host_ip


def _proxy_target(cmdline: Sequence[str]) -> str | None:
    """``10.0.0.2:8080`` from a docker-proxy's ``-container-ip``/``-container-port``."""
    args = dict(zip(cmdline, list(cmdline)[1:], strict=False))
    ip, port = args.get("-container-ip"), args.get("-container-port")
    if ip and port:
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return None


class _PortIndex:
    """Allocations by (port, protocol); the rare very wide range is compared directly."""

    WIDE = 4096

    def __init__(self, allocations: Iterable[Allocation]) -> None:
        self._by_port: dict[tuple[int, str], list[Allocation]] = defaultdict(list)
        self._wide: list[Allocation] = []
        for a in allocations:
            if a.end - a.start > self.WIDE:
                self._wide.append(a)
                continue
            for port in range(a.start, a.end + 1):
                self._by_port[(port, a.protocol)].append(a)

    def at(self, port: int, protocol: str, host_ip: str | None) -> list[Allocation]:
        """The allocations a binding of ``port``/``protocol`` on ``host_ip`` collides with."""
        found = self._by_port.get((port, protocol), [])
        if self._wide:
            found = found + [a for a in self._wide
                             if a.protocol == protocol and a.start <= port <= a.end]
        return [a for a in found if overlap.addresses_overlap(a.host_ip, host_ip)]
