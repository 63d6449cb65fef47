"""Who is who: which container or process is which ledger service, and what holds each
ledger port (the probe's rules and health checks ask this module)."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from portledger.ledger import overlap
from portledger.ledger.model import Allocation, Ledger, Service
from portledger.probe.model import (
    PROXY_PROCESSES,
    Container,
    ContainerPort,
    Holder,
    Listener,
    Observation,
    _PortIndex,
    _proxy_target,
)


def service_of(ledger: Ledger, container: Container) -> Service | None:
    """The ledger service a container is: by its compose label, else by its name; a
    service with a ``compose_project`` only for a container of that project (one started
    by hand, with no project label, by its name)."""
    for name in (container.compose_service, container.name):
        if name:
            found = ledger.service_for_compose_name(name)
            if found is not None and (found.compose_project is None
                                      or container.compose_project is None
                                      or found.compose_project == container.compose_project):
                return found
    return None


def _process_is(service: Service, process: str | None, cmdline: Sequence[str] = ()) -> bool:
    """A host process counts as ``service`` when the service's ``process:`` matcher
    matches it (its name, and its ``cmdline`` pattern searched in the command line), or,
    with no matcher, when its name, or its name less a daemon's ``-server`` or ``d``
    ending (``redis-server``, ``mysqld``), is the service's name or one of its
    ``compose`` aliases (case and ``_``/``-`` aside)."""
    if service.process_name is not None or service.process_cmdline is not None:
        if service.process_name is not None and process != service.process_name:
            return False
        if service.process_cmdline is not None:
            return _pattern(service).search(" ".join(cmdline)) is not None
        return True
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




def _pattern(service: Service) -> re.Pattern[str]:
    assert service.process_cmdline is not None
    return _compiled(service.process_cmdline)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def bad_patterns(ledger: Ledger) -> list[str]:
    """``FILE:LINE:COL: services.S.process.cmdline: ...`` for each pattern that is not a
    regular expression (the probe stops on them, exit 2)."""
    out = []
    for s in ledger.services.values():
        if s.process_cmdline is None:
            continue
        try:
            _compiled(s.process_cmdline)
        except re.error as e:
            span = ledger.doc.span(("services", s.name, "process", "cmdline"))
            out.append(f"{ledger.path}:{span.line}:{span.column}: services.{s.name}.process."
                       f"cmdline: {s.process_cmdline!r} is not a regular expression: {e}")
    return out


class Attribution:
    """Which container publishes what: answers "who holds this listener?"."""

    def __init__(self, containers: Iterable[Container]) -> None:
        self._by_port: dict[tuple[int, str], list[tuple[Container, ContainerPort]]] = (
            defaultdict(list))
        self._by_address: dict[str, Container] = {}
        self._by_id: dict[str, Container] = {}
        for c in containers:
            self._by_id[c.id] = c
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
                              addresses=(listener.address,), ports=(listener.port,))
            return Holder("proxy" if proxy else "hidden", listener=listener,
                          addresses=(listener.address,), ports=(listener.port,))
        ports = (listener.port,)
        if listener.container_id is not None and listener.container_id in self._by_id:
            # A process in a container's cgroup: a container on the host's network (or
            # one that shares another's), listening on the host port itself.
            return Holder("container", container=self._by_id[listener.container_id],
                          listener=listener, addresses=(listener.address,), ports=ports)
        return Holder("process", listener=listener, addresses=(listener.address,),
                      ports=ports)


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
        elif not (set(h.addresses) <= set(was.addresses) and set(h.ports) <= set(was.ports)):
            mine[key] = Holder(was.kind, was.container, was.listener or h.listener,
                               tuple(dict.fromkeys(was.addresses + h.addresses)),
                               tuple(sorted(set(was.ports + h.ports))))

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
                add(a, Holder("container", container=c, addresses=(p.host_ip,),
                              ports=(p.host_port,)))
    return {k: list(v.values()) for k, v in found.items()}


def _is_own(ledger: Ledger, alloc: Allocation, holder: Holder) -> bool:
    service = ledger.services[alloc.service]
    if holder.container is not None:
        s = service_of(ledger, holder.container)
        return s is not None and s.name == service.name
    if holder.kind == "process" and holder.listener is not None:
        return _process_is(service, holder.listener.process, holder.listener.cmdline)
    return False
