"""The probe's rules PL401-PL404, and who is who: which container or process is which
ledger service."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from portledger.findings import Finding, Severity, make, rule
from portledger.ledger import overlap
from portledger.ledger.model import Allocation, Ledger, Service
from portledger.probe.model import (
    PROXY_PROCESSES,
    Container,
    ContainerPort,
    Holder,
    Listener,
    Observation,
    _addr,
    _PortIndex,
    _proxy_target,
)

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
