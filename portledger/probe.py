"""``portledger probe``: what is really running, against the ledger (rules PL401-PL404).

Three sources, each optional:

* **containers**, through the Docker Engine API (the ``docker`` SDK): one
  ``/containers/json`` call lists every running container with its published ports
  (IPv4 and IPv6 entries, each port of a range on its own). The engine is the one
  ``DOCKER_HOST`` names, else the Docker CLI context ``DOCKER_CONTEXT`` (or the CLI's
  current context), else the local socket; one that is not on this host (``ssh://``,
  ``tcp://`` to another address) is refused, since its ports are not this host's.
* **listening sockets**, through ``psutil``: TCP sockets in LISTEN and bound UDP
  sockets, with the process that holds each when it is visible (another user's
  processes are visible only to root; then the finding says so rather than guess).
* **health endpoints**: for each ledger port with a ``health`` path whose service is
  running, ``GET http://127.0.0.1:PORT/PATH`` with a deadline.

A container is a ledger service by its ``com.docker.compose.service`` label or its
name, each matched against the service names and their ``compose`` aliases. A
``docker-proxy`` (or rootless ``rootlessport``) listener is the container that the engine
says publishes that port. A host process is its service when its name (less a daemon's
``-server`` or ``d`` ending) is the service's name or one of its aliases.

Findings point at the ledger, the reference: the allocation's ``port:`` line (for PL403,
the container's ledger service, or the ``services:`` key), and their message names the
container or the process. Network calls go only to the local engine socket and to
loopback, each with the ``--timeout`` deadline. ``docker`` and ``psutil`` are imported only
here, inside the functions that use them (``pip install 'portledger[probe]'``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from portledger import overlap
from portledger.errors import FatalError
from portledger.findings import Finding, Severity, make, rule
from portledger.ledger import Allocation, Ledger, Service

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


# --- rules: each function documents its rule and builds its finding -------------------


def _where(alloc: Allocation) -> str:
    return f"{alloc.label}/{alloc.protocol} ({alloc.service}.{alloc.name})"


@rule("PL401", "port-in-use", "error",
      "an allocated port is held by a process that is not its service")
def port_in_use(ledger: Ledger, alloc: Allocation, holder: Holder) -> Finding:
    """An allocated port is held on this host by a process that is not its service.

    The seed's "Port availability: ports already in use by other processes": the
    service cannot start while something else holds its port. A container's
    ``docker-proxy`` counts as that container (a container of another service is PL402);
    a host process counts as the service when its name, or its name less a daemon's
    ``-server`` or ``d`` ending (``redis-server``, ``mysqld``), is the service's name or
    one of its ``compose`` aliases. When the process is not visible (another user's, and
    the probe is not run as root) the finding says so, as a warning; a docker-proxy
    whose container cannot be known (``--no-docker``) is a notice.

    Failing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
        # $ python3 -m http.server 8000                      (pid 4242)
        # $ portledger probe
        # port-mapping.yml:4:26: PL401 port-in-use 8000/tcp (digi-core.http) is held by
        #   python3 (pid 4242) on 0.0.0.0, not by digi-core

    Passing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
        # $ docker run -d --name digi-core -p 8000:8000 digi-core
        #   (its docker-proxy holds 8000: that is digi-core)
    """
    this = port_in_use.rule  # type: ignore[attr-defined]
    on = holder.on
    if holder.kind == "proxy":
        return make(this, ledger.path, alloc.span.line, alloc.span.column,
                    f"{_where(alloc)} is held by {holder.label} on {on}; which container "
                    f"(and so whether it is {alloc.service}) needs --docker to tell",
                    severity=Severity.NOTICE, end_line=alloc.span.end_line,
                    end_column=alloc.span.end_column, service=alloc.service,
                    port=alloc.start, protocol=alloc.protocol)
    hidden = holder.kind == "hidden"
    return make(this, ledger.path, alloc.span.line, alloc.span.column,
                f"{_where(alloc)} is held by {holder.label} on {on}"
                + ("; it may or may not be " if hidden else ", not by ") + alloc.service,
                severity=Severity.WARNING if hidden else None, end_line=alloc.span.end_line,
                end_column=alloc.span.end_column, service=alloc.service,
                port=alloc.start, protocol=alloc.protocol)


@rule("PL402", "container-port-conflict", "error",
      "a running container publishes a port the ledger gives to another service")
def container_port_conflict(ledger: Ledger, alloc: Allocation, container: Container,
                            ports: Sequence[ContainerPort],
                            mine: Service | None) -> Finding:
    """A running container publishes a host port that the ledger gives to another service.

    The live form of PL202: the seed's "Docker port conflicts: running containers
    conflicting with planned allocations". The service that owns the port cannot start
    while the container holds it. The container is matched to its ledger service by its
    ``com.docker.compose.service`` label or its name (service names and ``compose``
    aliases); a container that is no ledger service at all publishing an allocated port
    is this rule too.

    Failing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002}}
        # $ docker run -d --name pcs-api -p 8000:8000 pcs
        # $ portledger probe
        # port-mapping.yml:4:26: PL402 container-port-conflict container pcs-api
        #   publishes 0.0.0.0:8000/tcp, which the ledger gives to digi-core.http

    Passing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002}}
        # $ docker run -d --name pcs-api -p 8002:8000 pcs
    """
    this = container_port_conflict.rule  # type: ignore[attr-defined]
    who = _who(container, mine)
    published = ", ".join(_published(ports))
    fix = None
    if mine is not None:
        targets = {p.container_port for p in ports}
        own = [a for a in mine.ports if a.protocol == alloc.protocol
               and (a.target in targets or len(mine.ports) == 1)]
        if own:
            fix = (f"publish {container.name} on {own[0].label} "
                   f"({mine.name}.{own[0].name} in the ledger)")
    return make(this, ledger.path, alloc.span.line, alloc.span.column,
                f"{who} publishes {published}, which the ledger gives to "
                f"{alloc.service}.{alloc.name}",
                end_line=alloc.span.end_line, end_column=alloc.span.end_column,
                service=alloc.service, port=alloc.start, protocol=alloc.protocol, fix=fix)


@rule("PL403", "unmapped-container-port", "error",
      "a running container publishes a port the ledger does not have")
def unmapped_container_port(ledger: Ledger, container: Container,
                            ports: Sequence[ContainerPort], mine: Service | None,
                            random: bool = False) -> Finding:
    """A running container publishes a host port that no ledger entry has.

    The live form of PL201: a container started by hand, or from a compose file the
    ledger does not cover, takes a port nobody recorded. It points at the container's
    ledger service when it has one, else at the ledger's ``services:`` key. A host port
    Docker chose at random (published without one, ``-p 8080``) is a warning: it cannot
    be allocated, but it may still take a port meant for another host service.

    Failing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
        # $ docker run -d --name reports -p 8010:8000 reports
        # $ portledger probe
        # port-mapping.yml:1:1: PL403 unmapped-container-port container reports (not in
        #   the ledger) publishes 0.0.0.0:8010/tcp, which the ledger does not allocate

    Passing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
          reports:
            category: user-facing
            ports: {http: {port: 8010}}
        # $ docker run -d --name reports -p 8010:8000 reports
    """
    this = unmapped_container_port.rule  # type: ignore[attr-defined]
    if mine is not None:
        span = mine.span
    else:
        span = ledger.doc.key_span(("services",))
    who = _who(container, mine)
    chosen = "; Docker chose it at random (published without a host port)" if random else ""
    first = min(ports, key=lambda p: p.host_port)
    return make(this, ledger.path, span.line, span.column,
                f"{who} publishes {', '.join(_published(ports))}, which the ledger does not "
                f"allocate{chosen}",
                severity=Severity.WARNING if random else None,
                end_line=span.end_line, end_column=span.end_column,
                service=mine.name if mine else container.name, port=first.host_port,
                protocol=first.protocol)


@rule("PL404", "health-check-failed", "error",
      "a service's health endpoint does not answer 2xx")
def health_check_failed(ledger: Ledger, alloc: Allocation, url: str, problem: str) -> Finding:
    """A running service's health endpoint does not answer with a 2xx status.

    For each ledger port with a ``health`` path whose service is running (its
    container publishes the port, or its own process listens on it), the probe sends
    ``GET`` to that path on 127.0.0.1 (``::1`` for a port bound there) with the
    ``--timeout`` deadline. A refused connection, no answer in time, or any status
    but 2xx (redirects are not followed) fails. It connects only to loopback: a port
    bound to another address of the host is not checked (a notice says so).

    Failing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000, health: /health}}
        # $ docker run -d --name digi-core -p 8000:8000 digi-core
        # GET http://127.0.0.1:8000/health answers 503 Service Unavailable
        # $ portledger probe
        # port-mapping.yml:4:26: PL404 health-check-failed digi-core.http:
        #   GET http://127.0.0.1:8000/health answered 503 Service Unavailable

    Passing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000, health: /health}}
        # GET http://127.0.0.1:8000/health answers 200 OK
    """
    this = health_check_failed.rule  # type: ignore[attr-defined]
    severity = Severity.NOTICE if problem.startswith("not checked") else None
    return make(this, ledger.path, alloc.span.line, alloc.span.column,
                f"{alloc.service}.{alloc.name}: {url} {problem}", severity=severity,
                end_line=alloc.span.end_line, end_column=alloc.span.end_column,
                service=alloc.service, port=alloc.start, protocol=alloc.protocol)


PROBE_RULES = (port_in_use, container_port_conflict, unmapped_container_port,
               health_check_failed)
"""The probe's documented rules, in code order (for the catalogue in rules.py)."""


def _who(container: Container, mine: Service | None) -> str:
    """``container pcs-1 (compose service pcs, ledger service pcs-api)``."""
    about = []
    if container.compose_service and container.compose_service != container.name:
        about.append(f"compose service {container.compose_service}")
    if mine is None:
        about.append("not in the ledger")
    elif mine.name not in (container.name, container.compose_service):
        about.append(f"ledger service {mine.name}")
    return f"container {container.name}" + (f" ({', '.join(about)})" if about else "")


def _addr(host_ip: str | None) -> str:
    if host_ip in (None, ""):
        return "every address"
    assert host_ip is not None
    return f"[{host_ip}]" if ":" in host_ip else host_ip


def _published(ports: Sequence[ContainerPort]) -> list[str]:
    """``127.0.0.1:8000/tcp`` texts, consecutive ports merged (``0.0.0.0:9000-9002/tcp``),
    an IPv6 entry folded into its IPv4 twin (``0.0.0.0`` and ``::``)."""
    by_ip: dict[tuple[str, str], list[int]] = defaultdict(list)
    for p in ports:
        ip = p.host_ip or ""
        by_ip[(ip, p.protocol)].append(p.host_port)
    for (ip, proto) in list(by_ip):
        twin = {"0.0.0.0": "::", "127.0.0.1": "::1"}.get(ip)
        if twin and sorted(by_ip.get((twin, proto), [])) == sorted(by_ip[(ip, proto)]):
            del by_ip[(twin, proto)]
    out = []
    for (ip, proto), numbers in sorted(by_ip.items()):
        shown = _addr(ip or None) + ":" if ip else ""
        for start, end in _runs(sorted(set(numbers))):
            label = str(start) if start == end else f"{start}-{end}"
            out.append(f"{shown}{label}/{proto}")
    return out


def _runs(numbers: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] + 1 == n:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


# --- who is who -----------------------------------------------------------------------


def service_of(ledger: Ledger, container: Container) -> Service | None:
    """The ledger service a container is: by its compose label, else by its name."""
    for name in (container.compose_service, container.name):
        if name:
            found = ledger.service_for_compose_name(name)
            if found is not None:
                return found
    return None


def _process_is(service: Service, process: str | None) -> bool:
    """A host process counts as ``service`` when its name, or its name less a daemon's
    ``-server`` or ``d`` ending (``redis-server``, ``mysqld``), is the service's name or
    one of its ``compose`` aliases (case and ``_``/``-`` aside)."""
    if not process:
        return False

    def norm(x: str) -> str:
        return x.lower().replace("_", "-")

    names = {norm(n) for n in (service.name, *service.compose)}
    proc = norm(process)
    forms = {proc, proc.removesuffix("-server")}
    if len(proc) > 4 and proc.endswith("d"):
        forms.add(proc[:-1])
    return bool(forms & names)


def _proxy_target(cmdline: Sequence[str]) -> str | None:
    """``10.0.0.2:8080`` from a docker-proxy's ``-container-ip``/``-container-port``."""
    args = dict(zip(cmdline, list(cmdline)[1:], strict=False))
    ip, port = args.get("-container-ip"), args.get("-container-port")
    if ip and port:
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return None


class Attribution:
    """Which container publishes what: answers "who holds this listener?"."""

    def __init__(self, containers: Iterable[Container]) -> None:
        self._by_port: dict[tuple[int, str], list[tuple[Container, ContainerPort]]] = (
            defaultdict(list))
        self._by_address: dict[str, Container] = {}
        for c in containers:
            for p in c.ports:
                self._by_port[(p.host_port, p.protocol)].append((c, p))
            for a in c.addresses:
                self._by_address[a] = c

    def publisher(self, port: int, protocol: str, address: str | None) -> Container | None:
        for c, p in self._by_port.get((port, protocol), ()):
            if overlap.addresses_overlap(p.host_ip, address):
                return c
        return None

    def holder(self, listener: Listener) -> Holder:
        proxy = listener.process in PROXY_PROCESSES
        if proxy or listener.pid is None:
            # The kernel lets one socket hold an address and port; when the engine says a
            # running container publishes it, a proxy (or a hidden process) is that one.
            c = self.publisher(listener.port, listener.protocol, listener.address)
            if c is None and proxy:
                target = _proxy_target(listener.cmdline)
                ip = target.rsplit(":", 1)[0].strip("[]") if target else None
                c = self._by_address.get(ip) if ip else None
            if c is not None:
                return Holder("container", container=c, listener=listener,
                              addresses=(listener.address,))
            return Holder("proxy" if proxy else "hidden", listener=listener,
                          addresses=(listener.address,))
        return Holder("process", listener=listener, addresses=(listener.address,))


# --- the checks: plain functions over what was observed --------------------------------


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


def check_containers(ledger: Ledger, containers: Sequence[Container],
                     random_ports: Mapping[str, set[tuple[int, str]]] | None = None,
                     ) -> list[Finding]:
    """PL402 and PL403 for every running container's published ports.

    ``random_ports`` names, per container id, the (host port, protocol) pairs Docker
    chose itself (see :func:`random_host_ports`).
    """
    findings: list[Finding] = []
    index = _PortIndex(ledger.allocations())
    for c in containers:
        mine = service_of(ledger, c)
        conflicts: dict[int, tuple[Allocation, list[ContainerPort]]] = {}
        unmapped: dict[bool, list[ContainerPort]] = defaultdict(list)
        chosen = (random_ports or {}).get(c.id, set())
        for p in c.ports:
            hits = index.at(p.host_port, p.protocol, p.host_ip)
            if mine is not None and any(a.service == mine.name for a in hits):
                continue
            for a in hits:
                conflicts.setdefault(id(a), (a, []))[1].append(p)
            if not hits:
                unmapped[(p.host_port, p.protocol) in chosen].append(p)
        for a, ports in conflicts.values():
            findings.append(container_port_conflict(ledger, a, c, ports, mine))
        for random, ports in unmapped.items():
            findings.append(unmapped_container_port(ledger, c, ports, mine, random))
    return findings


def holders(ledger: Ledger, obs: Observation) -> dict[int, list[Holder]]:
    """Per allocation (by ``id``), everything holding its port, one :class:`Holder` per
    container, per process, per proxy of an unknown container, and one for all hidden
    processes, each with every address it holds the port on."""
    attribution = Attribution(obs.containers or ())
    index = _PortIndex(ledger.allocations())
    found: dict[int, dict[tuple[str, object], Holder]] = defaultdict(dict)

    def add(a: Allocation, h: Holder) -> None:
        if h.container is not None:
            key: tuple[str, object] = ("container", h.container.id)
        elif h.kind == "process":
            key = ("process", h.listener.pid if h.listener else None)
        elif h.kind == "proxy":
            key = ("proxy", _proxy_target(h.listener.cmdline) if h.listener else None)
        else:
            key = (h.kind, None)
        mine = found[id(a)]
        was = mine.get(key)
        if was is None:
            mine[key] = h
        elif not set(h.addresses) <= set(was.addresses):
            mine[key] = Holder(was.kind, was.container, was.listener or h.listener,
                               was.addresses + h.addresses)

    for listener in obs.listeners or ():
        allocations = index.at(listener.port, listener.protocol, listener.address)
        if allocations:
            h = attribution.holder(listener)
            for a in allocations:
                add(a, h)
    # A container holds its ports even with no host listener (an engine that forwards
    # with iptables rules has no docker-proxy).
    for c in obs.containers or ():
        for p in c.ports:
            for a in index.at(p.host_port, p.protocol, p.host_ip):
                add(a, Holder("container", container=c, addresses=(p.host_ip,)))
    return {k: list(v.values()) for k, v in found.items()}


def _is_own(ledger: Ledger, alloc: Allocation, holder: Holder) -> bool:
    service = ledger.services[alloc.service]
    if holder.container is not None:
        s = service_of(ledger, holder.container)
        return s is not None and s.name == service.name
    if holder.kind == "process" and holder.listener is not None:
        return _process_is(service, holder.listener.process)
    return False


def check_sockets(ledger: Ledger, obs: Observation) -> list[Finding]:
    """PL401 for every allocated port held by something that is not its service.

    A container of another service is left to PL402 (reported once, as a container).
    """
    findings: list[Finding] = []
    held = holders(ledger, obs)
    for a in ledger.allocations():
        for h in held.get(id(a), ()):
            if h.container is None and not _is_own(ledger, a, h):
                findings.append(port_in_use(ledger, a, h))
    return findings


# --- health ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthTarget:
    allocation: Allocation
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


def health_targets(ledger: Ledger, obs: Observation) -> tuple[list[HealthTarget], list[Finding]]:
    """The health endpoints to ask (of services seen running), and notices for those
    that cannot be asked on loopback."""
    held = holders(ledger, obs)
    everything = obs.containers is None and obs.listeners is None
    targets: list[HealthTarget] = []
    notices: list[Finding] = []
    for a in ledger.allocations():
        if not a.health:
            continue
        own = [h for h in held.get(id(a), ()) if _is_own(ledger, a, h)]
        if not own and not everything:
            continue
        addresses = [x for h in own for x in h.addresses] or [a.host_ip]
        host = _loopback_for(addresses)
        path = a.health if a.health.startswith("/") else "/" + a.health
        if host is None:
            shown = ", ".join(sorted({_addr(x) for x in addresses}))
            notices.append(health_check_failed(
                ledger, a, f"GET {path} on {shown}",
                "not checked: the port is bound to another address of this host, and the "
                "probe connects only to loopback"))
            continue
        targets.append(HealthTarget(a, host, a.start, path))
    return targets, notices


def _loopback_for(addresses: Iterable[str | None]) -> str | None:
    """127.0.0.1 or ::1, whichever reaches a port bound to ``addresses``."""
    best: str | None = None
    for a in addresses:
        if a in (None, "", "0.0.0.0", "::"):
            return "127.0.0.1"
        assert a is not None
        try:
            ip = ipaddress.ip_address(a.strip("[]"))
        except ValueError:
            continue
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if ip.is_loopback:
            best = str(ip) if ip.version == 4 else "::1"
    return best


def http_status(host: str, port: int, path: str, timeout: float) -> tuple[int | None, str]:
    """``GET path`` on loopback: (status, reason) or (None, what went wrong).

    One deadline covers connecting, sending and reading the status line, so a server
    that trickles bytes cannot hold the probe.
    """
    import socket

    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            host_header = f"[{host}]" if ":" in host else host
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}:{port}\r\n"
                         "User-Agent: portledger-probe\r\nAccept: */*\r\n"
                         "Connection: close\r\n\r\n".encode("ascii", "replace"))
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 16384:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except ConnectionRefusedError:
        return None, "refused the connection"
    except TimeoutError:
        return None, f"did not answer within {timeout:g} s"
    except OSError as e:
        return None, f"failed: {e.strerror or e}"
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None, "did not answer HTTP" if data else "closed the connection without an answer"
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "location" and 300 <= status < 400:
            reason += f" (redirect to {value.strip()}, not followed)"
    return status, reason


def check_health(ledger: Ledger, targets: Sequence[HealthTarget], timeout: float) -> list[Finding]:
    """PL404 for every target that does not answer 2xx, asked in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    if not targets:
        return []

    def ask(t: HealthTarget) -> Finding | None:
        status, reason = http_status(t.host, t.port, t.path, timeout)
        if status is not None and 200 <= status < 300:
            return None
        problem = f"answered {status} {reason}".rstrip() if status is not None else reason
        return health_check_failed(ledger, t.allocation, f"GET {t.url}", problem)

    with ThreadPoolExecutor(max_workers=min(32, len(targets))) as pool:
        return [f for f in pool.map(ask, targets) if f is not None]


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


def list_listeners(notes: list[str]) -> list[Listener]:
    """Listening TCP sockets and bound UDP sockets on this host, with their processes."""
    import socket

    import psutil  # type: ignore[import-untyped, unused-ignore]

    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        notes.append("listening sockets cannot be listed without root on this system; "
                     "run as root, or pass --no-sockets")
        return []
    names: dict[int, tuple[str | None, tuple[str, ...]]] = {}
    listeners: set[Listener] = set()
    hidden = 0
    for c in conns:
        if c.type == socket.SOCK_STREAM:
            if c.status != psutil.CONN_LISTEN:
                continue
            protocol = "tcp"
        elif c.type == socket.SOCK_DGRAM:
            if c.raddr:
                continue
            protocol = "udp"
        else:
            continue
        if not c.laddr:
            continue
        pid = c.pid
        process: str | None = None
        cmdline: tuple[str, ...] = ()
        if pid is not None:
            if pid not in names:
                names[pid] = _process(psutil, pid)
            process, cmdline = names[pid]
        else:
            hidden += 1
        listeners.add(Listener(c.laddr.ip, c.laddr.port, protocol, pid, process, cmdline))
    if hidden and os.name == "posix" and os.geteuid() != 0:
        notes.append(f"{hidden} listening socket{'s' * (hidden != 1)} belong to processes not "
                     "visible without root; run as root to name them")
    return sorted(listeners, key=lambda x: (x.port, x.protocol, x.address, x.pid or 0))


def _process(psutil: Any, pid: int) -> tuple[str | None, tuple[str, ...]]:
    try:
        proc = psutil.Process(pid)
        name = proc.name()
        cmdline = tuple(proc.cmdline()) if name in PROXY_PROCESSES else ()
        return name, cmdline
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None, ()


def observe(ledger: Ledger, *, docker: bool | None, sockets: bool, timeout: float,
            environ: Mapping[str, str] | None = None) -> Observation:
    """Look at the engine and the sockets.

    ``docker``: True, an engine must answer (else :class:`EngineUnavailable`); None, look
    when one answers (a note says when none does); False, do not look.
    """
    env = os.environ if environ is None else environ
    obs = Observation()
    if docker is not False:
        try:
            _require("docker", "containers", optional=docker is None)
            containers, api = list_containers(env, timeout)
        except _Skipped as e:
            obs.notes.append(str(e))
        except EngineUnavailable as e:
            if docker:
                raise
            obs.notes.append(f"{e}; containers not checked (--docker requires an engine, "
                             "--no-docker skips it)")
        else:
            obs.containers = containers
            try:
                obs.random_ports = random_host_ports(api, ledger, containers)
            finally:
                api.close()
    if sockets:
        _require("psutil", "listening sockets", optional=False)
        obs.listeners = list_listeners(obs.notes)
    return obs


class _Skipped(Exception):
    """An optional source that cannot be looked at; its message is the note."""


def _require(module: str, what: str, *, optional: bool) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return
    message = f"the {module} package is not installed ({PROBE_EXTRA_HINT})"
    if optional:
        raise _Skipped(f"{message}; {what} not checked")
    raise FatalError(f"{message}; it is needed for {what}")


def check(ledger: Ledger, obs: Observation, *, health: bool = True,
          timeout: float = DEFAULT_TIMEOUT) -> list[Finding]:
    """Every probe rule over what was observed: sorted findings."""
    findings: list[Finding] = []
    if obs.containers is not None:
        findings += check_containers(ledger, obs.containers, obs.random_ports)
    if obs.listeners is not None:
        findings += check_sockets(ledger, obs)
    if health:
        targets, notices = health_targets(ledger, obs)
        findings += notices
        findings += check_health(ledger, targets, timeout)
    return sorted(set(findings))


# --- --available ----------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    allocation: Allocation
    taken_by: tuple[Holder, ...]

    def as_dict(self) -> dict[str, Any]:
        a = self.allocation
        return {"service": a.service, "name": a.name, "port": a.label,
                "protocol": a.protocol, "host_ip": a.host_ip, "free": not self.taken_by,
                "taken_by": [h.as_dict() for h in self.taken_by]}


def availability(ledger: Ledger, services: Sequence[str], obs: Observation,
                 ) -> list[Availability]:
    """For each port of ``services``: who holds it now (nobody: free)."""
    held = holders(ledger, obs)
    out = []
    for name in services:
        for a in ledger.services[name].ports:
            out.append(Availability(a, tuple(held.get(id(a), ()))))
    return out


def _report_availability(rows: Sequence[Availability], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump({"available": [r.as_dict() for r in rows]}, out, indent=2)
        out.write("\n")
        return
    for r in rows:
        a = r.allocation
        where = f"{a.label}/{a.protocol}" + (f" on {a.host_ip}" if a.host_ip else "")
        if not r.taken_by:
            out.write(f"{a.service}.{a.name} {where}: free\n")
            continue
        by = "; ".join(f"{h.label} on {h.on}" for h in r.taken_by)
        out.write(f"{a.service}.{a.name} {where}: taken by {by}\n")


# --- command line -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise FatalError(f"{self.prog}: {message}")


def _formats() -> tuple[str, ...]:
    from portledger import reporters

    return tuple(reporters.FORMATS)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="portledger probe",
                description="Check what is really running on this host against the ledger: "
                "containers (PL402, PL403), listening sockets (PL401), health (PL404).")
    p.add_argument("--mapping", metavar="FILE",
                   help="the ledger (default: port-mapping.yml in this folder or the nearest "
                   "above)")
    p.add_argument("--docker", action=argparse.BooleanOptionalAction, default=None,
                   help="check running containers (default: when an engine answers; with "
                   "--docker, no engine is exit 2)")
    p.add_argument("--sockets", action=argparse.BooleanOptionalAction, default=True,
                   help="check listening sockets (default: on)")
    p.add_argument("--health", action=argparse.BooleanOptionalAction, default=True,
                   help="ask running services' health endpoints (default: on)")
    p.add_argument("--available", nargs="+", metavar="SERVICE",
                   help="say which ports of these ledger services are taken, and by what "
                   "(exit 1 when any is)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"deadline of each engine call and health request "
                   f"(default: {DEFAULT_TIMEOUT:g})")
    default = "github" if (os.environ.get("GITHUB_ACTIONS") == "true"
                           and "github" in _formats()) else "text"
    p.add_argument("--format", choices=_formats(), default=default)
    return p


def _ledger_path(mapping: str | None) -> Path:
    from portledger.ledger import LEDGER_NAME, find_ledger

    if mapping:
        return Path(mapping)
    found = find_ledger()
    if found is None:
        raise FatalError(f"no {LEDGER_NAME} in this folder or above it (pass --mapping FILE)")
    return found


def run_probe(argv: Sequence[str], out: TextIO | None = None,
              err: TextIO | None = None) -> int:
    """``portledger probe ARGS``: 0 clean, 1 findings at error severity (or, with
    ``--available``, a port taken). Raises :class:`FatalError` (exit 2) for usage errors
    and, when ``--docker`` was asked, for an engine that does not answer."""
    import difflib

    from portledger import reporters
    from portledger.check import display_path
    from portledger.ledger import load

    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(list(argv))
    if not (args.timeout > 0):
        raise FatalError("portledger probe: --timeout must be a positive number of seconds")
    if args.available and args.docker is False and not args.sockets:
        raise FatalError("portledger probe: --available needs --docker or --sockets to look")
    ledger, load_findings = load(display_path(_ledger_path(args.mapping)))
    if ledger is None:
        reporters.report(args.format, sorted(load_findings), 1, out)
        return 1
    if args.available:
        for name in args.available:
            if name not in ledger.services:
                hint = difflib.get_close_matches(name, list(ledger.services), n=1)
                did = f"; did you mean {hint[0]!r}?" if hint else ""
                raise FatalError(f"portledger probe: --available: {name!r} is not a service "
                                 f"in {ledger.path}{did}")
        obs = observe(ledger, docker=args.docker, sockets=args.sockets,
                      timeout=args.timeout)
        for note in obs.notes:
            err.write(f"portledger: note: {note}\n")
        rows = availability(ledger, args.available, obs)
        _report_availability(rows, "json" if args.format == "json" else "text", out)
        return 1 if any(r.taken_by for r in rows) else 0
    obs = observe(ledger, docker=args.docker, sockets=args.sockets, timeout=args.timeout)
    for note in obs.notes:
        err.write(f"portledger: note: {note}\n")
    findings = check(ledger, obs, health=args.health, timeout=args.timeout)
    findings = sorted(set(load_findings) | set(findings))
    reporters.report(args.format, findings, 1, out)
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m portledger.probe``: :func:`run_probe` with its fatal errors printed."""
    from portledger.errors import guarded

    return guarded(run_probe, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
