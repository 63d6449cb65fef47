"""What the probe observed: containers, their published ports, listening sockets, holders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from portledger.errors import FatalError
from portledger.ledger import overlap
from portledger.ledger.model import Allocation

DEFAULT_TIMEOUT = 2.0
"""Seconds one engine call or health request may take."""
DEFAULT_DEADLINE = 5.0
"""Seconds the whole probe may take: listing, inspections and health requests."""
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_FILES_LABEL = "com.docker.compose.project.config_files"
LISTED_STATES = ("running", "paused", "restarting")
"""Container states whose published ports are held (a paused container's proxy keeps its
port; a restarting one takes it back)."""
PROXY_PROCESSES = frozenset({"docker-proxy", "rootlessport", "rootlesskit"})
"""Processes that hold a host port on behalf of a container."""
DEFAULT_ENGINE = "unix:///var/run/docker.sock"
PROBE_EXTRA_HINT = "pip install 'portledger[probe]'"
T = TypeVar("T")
R = TypeVar("R")


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
    image: str | None = None
    state: str = "running"
    network_mode: str | None = None
    """``host`` for a container on the host's network (it listens on host ports itself)."""
    compose_files: tuple[str, ...] = ()
    """The compose files it came from (``com.docker.compose.project.config_files``)."""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def about(self) -> list[str]:
        """What messages say of it besides its name: project, compose service, state."""
        out = []
        if self.compose_project:
            out.append(f"project {self.compose_project}")
        if self.compose_service and self.compose_service != self.name:
            out.append(f"compose service {self.compose_service}")
        if self.network_mode == "host":
            out.append("host network")
        if self.state != "running":
            out.append(self.state)
        return out

    @property
    def label(self) -> str:
        """How messages name it: ``container NAME (project P, compose service S)``."""
        about = self.about
        return f"container {self.name}" + (f" ({', '.join(about)})" if about else "")


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
    user: str | None = None
    container_id: str | None = None
    """The container whose cgroup holds the process (``/proc/PID/cgroup``), if any."""

    def binding(self) -> tuple[int, int, str, str | None]:
        return (self.port, self.port, self.protocol, self.address)

    @property
    def label(self) -> str:
        """``python3 (pid 4242, user alice, command "python3 -m http.server 8000")``."""
        if self.pid is None:
            return "a process not visible without root (run as root to name it)"
        about = [f"pid {self.pid}"]
        if self.user:
            about.append(f"user {self.user}")
        if self.cmdline:
            command = " ".join(" ".join(self.cmdline).split())
            command = command if len(command) <= 80 else command[:77] + "..."
            about.append(f'command "{command}"')
        return f"{self.process or '?'} ({', '.join(about)})"


@dataclass
class Observation:
    """Everything one probe saw. ``None`` for a source that was not looked at."""

    containers: list[Container] | None = None
    listeners: list[Listener] | None = None
    random_ports: dict[str, set[tuple[int, str]]] = field(default_factory=dict)
    """Per container id, the published (port, protocol) pairs Docker chose itself."""
    notes: list[str] = field(default_factory=list)
    """One-line remarks for stderr: a source skipped, what could not be seen."""
    uninspected: list[Container] = field(default_factory=list)
    """Containers the deadline left uninspected (whether Docker chose a port is unknown)."""
    failed_inspections: list[tuple[Container, str]] = field(default_factory=list)
    """Containers whose inspection failed, and why (the same is unknown of them)."""
    deadline: float | None = None
    """The probe's monotonic deadline (None: none)."""


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
    ports: tuple[int, ...] = ()
    """Which ports it holds (of a range allocation, the ones held)."""

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
            return f"{self.listener.process} (pid {self.listener.pid}){to}"
        return self.listener.label

    @property
    def detail(self) -> str:
        """The label with a container's image and short id (``who --live``)."""
        c = self.container
        if c is None:
            return self.label
        about = [*c.about, *([f"image {c.image}"] if c.image else []), f"id {c.short_id}"]
        return f"container {c.name} ({', '.join(about)})"

    def action(self, port: int | None = None) -> str:
        """What an operator runs to free the port: ``docker stop NAME``, ``kill PID``."""
        if self.container is not None:
            return f"docker stop {self.container.name}"
        listener = self.listener
        if self.kind == "process" and listener is not None and listener.pid is not None:
            return f"kill {listener.pid}"
        if self.kind == "proxy":
            return f"docker ps --filter publish={port}" if port else "docker ps"
        return f"sudo ss -lntup 'sport = :{port}'" if port else "sudo ss -lntup"

    def identity(self) -> str:
        """Who it is, without what changes when it restarts (pids, container ids)."""
        if self.container is not None:
            c = self.container
            return f"container {c.compose_project or ''}/{c.compose_service or c.name}"
        listener = self.listener
        return f"{self.kind} {listener.process if listener else ''}"

    def as_dict(self) -> dict[str, Any]:
        """The structured holder of JSON and SARIF: kind, pid, user, cmdline, container
        (name and id), image, project, service (compose), state, addresses."""
        listener, c = self.listener, self.container
        return {
            "kind": self.kind,
            "pid": listener.pid if listener else None,
            "process": listener.process if listener else None,
            "user": listener.user if listener else None,
            "cmdline": list(listener.cmdline) if listener and listener.cmdline else None,
            "container": c.name if c else None,
            "container_id": c.id if c else None,
            "image": c.image if c else None,
            "project": c.compose_project if c else None,
            "service": c.compose_service if c else None,
            "state": c.state if c else None,
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


def run_within(func: Callable[[T], R], items: Sequence[T], deadline: float,
               workers: int = 16) -> tuple[dict[int, R], list[int]]:
    """``func`` over ``items`` in parallel, until the monotonic ``deadline``.

    Returns the results by item index and the indexes not done in time. The threads are
    daemons: one stuck on a socket past the deadline neither holds the caller nor keeps
    the process alive (``concurrent.futures`` joins its workers at exit, so it cannot
    serve here). ``func`` bounds each call's own timeout; an exception is not a result.
    """
    import queue
    import threading
    import time

    done: dict[int, R] = {}
    if not items:
        return done, []
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(items)):
        todo.put(i)
    results: queue.SimpleQueue[tuple[int, R | None, bool]] = queue.SimpleQueue()

    def work() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            if time.monotonic() >= deadline:
                results.put((i, None, False))
                continue
            try:
                results.put((i, func(items[i]), True))
            except Exception:  # noqa: BLE001 - reported as not done, never raised
                results.put((i, None, False))

    for _ in range(min(workers, len(items))):
        threading.Thread(target=work, daemon=True, name="portledger-probe").start()
    answered = 0
    while answered < len(items):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            i, value, ok = results.get(timeout=left)
        except queue.Empty:
            break
        answered += 1
        if ok:
            done[i] = value  # type: ignore[assignment]
    return done, [i for i in range(len(items)) if i not in done]
