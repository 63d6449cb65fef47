"""The probe's rules PL401-PL404, and who is who: which container or process is which
ledger service."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from portledger.findings import Finding, Severity, make, rule
from portledger.ledger.model import Allocation, Ledger, Service
from portledger.probe.attribution import (
    Attribution,
    _is_own,
    holders,
    service_of,
)
from portledger.probe.model import (
    Container,
    ContainerPort,
    Holder,
    Listener,
    Observation,
    _addr,
    _PortIndex,
)

# --- rules: each function documents its rule and builds its finding -------------------


def _where(alloc: Allocation, port: int | None = None) -> str:
    """``8000/tcp (digi-core.http)``; of a range, the port held: ``9003/tcp (x.rtp
    9000-9010)``."""
    if alloc.start == alloc.end or port is None:
        return f"{alloc.label}/{alloc.protocol} ({alloc.service}.{alloc.name})"
    return f"{port}/{alloc.protocol} ({alloc.service}.{alloc.name} {alloc.label})"


def _held_port(alloc: Allocation, holder: Holder) -> int:
    """The port of ``alloc`` the holder holds (its first, for a range)."""
    inside = [p for p in holder.ports if alloc.start <= p <= alloc.end]
    return min(inside) if inside else alloc.start


def _holder_details(holder: Holder) -> tuple[tuple[str, object], ...]:
    return (("holder", holder.as_dict()),)


@rule("PL401", "port-in-use", "error",
      "an allocated port is held by a process that is not its service")
def port_in_use(ledger: Ledger, alloc: Allocation, holder: Holder,
                taken: Iterable[tuple[str, int]] = ()) -> Finding:
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
    port = _held_port(alloc, holder)
    where = _where(alloc, port)
    common = dict(end_line=alloc.span.end_line, end_column=alloc.span.end_column,
                  service=alloc.service, port=port, protocol=alloc.protocol,
                  details=_holder_details(holder),
                  identity=f"{where} {holder.identity()}")
    if holder.kind == "proxy":
        return make(this, ledger.path, alloc.span.line, alloc.span.column,
                    f"{where} is held by {holder.label} on {on}; which container "
                    f"(and so whether it is {alloc.service}) needs --docker to tell; to "
                    f"see it: {holder.action(port)}",
                    severity=Severity.NOTICE, **common)  # type: ignore[arg-type]
    hidden = holder.kind == "hidden"
    move = f", or move {alloc.service}.{alloc.name} to {free}" if (
        free := free_port_for(ledger, alloc, taken)) else ""
    return make(this, ledger.path, alloc.span.line, alloc.span.column,
                f"{where} is held by {holder.label} on {on}"
                + ("; it may or may not be " if hidden else ", not by ") + alloc.service
                + f"; to free it: {holder.action(port)}{move}",
                severity=Severity.WARNING if hidden else None,
                **common)  # type: ignore[arg-type]


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
    verb = "listens on" if container.network_mode == "host" else "publishes"
    held = sorted(p.host_port for p in ports if alloc.start <= p.host_port <= alloc.end)
    holder = Holder("container", container=container,
                    addresses=tuple(p.host_ip for p in ports), ports=tuple(held))
    fix = None
    if mine is not None:
        targets = {p.container_port for p in ports}
        own = [a for a in mine.ports if a.protocol == alloc.protocol
               and (a.target in targets or len(mine.ports) == 1)]
        if own:
            fix = (f"publish {container.name} on {own[0].label} "
                   f"({mine.name}.{own[0].name} in the ledger)")
    return make(this, ledger.path, alloc.span.line, alloc.span.column,
                f"{who} {verb} {published}, which the ledger gives to "
                f"{alloc.service}.{alloc.name}; to free it: {holder.action()}",
                end_line=alloc.span.end_line, end_column=alloc.span.end_column,
                service=alloc.service, port=held[0] if held else alloc.start,
                protocol=alloc.protocol, fix=fix, details=_holder_details(holder),
                identity=f"{alloc.service}.{alloc.name} {holder.identity()}")


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
    holder = Holder("container", container=container,
                    addresses=tuple(p.host_ip for p in ports),
                    ports=tuple(sorted({p.host_port for p in ports})))
    action = (f"record it in the ledger under {mine.name}" if mine is not None
              else "record it in the ledger (portledger allocate)")
    return make(this, ledger.path, span.line, span.column,
                f"{who} publishes {', '.join(_published(ports))}, which the ledger does not "
                f"allocate{chosen}; {action}, or stop it: {holder.action()}",
                severity=Severity.WARNING if random else None,
                end_line=span.end_line, end_column=span.end_column,
                service=mine.name if mine else container.name, port=first.host_port,
                protocol=first.protocol, details=_holder_details(holder),
                identity=f"{holder.identity()} {'random' if random else 'fixed'}")


@rule("PL404", "health-check-failed", "error",
      "a service's health endpoint does not answer 2xx")
def health_check_failed(ledger: Ledger, alloc: Allocation, url: str, problem: str,
                        holder: Holder | None = None) -> Finding:
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
    skipped = problem.startswith("not checked")
    severity = Severity.NOTICE if skipped else None
    by = f" ({holder.label})" if holder is not None else ""
    action = ""
    if not skipped and holder is not None and holder.container is not None:
        action = f"; see its log: docker logs {holder.container.name}"
    elif not skipped and holder is not None and holder.listener is not None:
        action = f"; see the process: ps -o pid,user,args -p {holder.listener.pid}"
    return make(this, ledger.path, alloc.span.line, alloc.span.column,
                f"{alloc.service}.{alloc.name}{by}: {url} {problem}{action}",
                severity=severity,
                end_line=alloc.span.end_line, end_column=alloc.span.end_column,
                service=alloc.service, port=alloc.start, protocol=alloc.protocol,
                details=_holder_details(holder) if holder is not None else (),
                identity=f"{alloc.service}.{alloc.name} {url} "
                         f"{'skipped' if skipped else 'failed'}")


@rule("PL405", "unrecorded-listener", "notice",
      "a host process listens on a port inside a ledger range that the ledger does not have")
def unrecorded_listener(ledger: Ledger, listener: Listener, holder: Holder,
                        range_name: str) -> Finding:
    """A host process listens on a port inside one of the ledger's ranges, and no ledger
    entry has that port.

    Not wrong yet (nothing the ledger allocates is taken), but the host has drifted from
    its ledger: the next ``allocate`` may hand out that very port, and the service that
    gets it will not start. A notice, so the drift is visible without failing a run;
    record the port, or stop what holds it. Published ports of containers are PL403;
    ports outside every range (ephemeral ports, system services) are not reported.

    Failing:

        ranges:
          application: {start: 2000, end: 2999}
        services:
          digi-core:
            category: application
            ports: {http: {port: 2000}}
        # $ python3 -m http.server 2024                      (pid 4242)
        # $ portledger probe
        # port-mapping.yml:2:3: PL405 unrecorded-listener 2024/tcp in range
        #   application is held by python3 (pid 4242, ...) on 0.0.0.0, and the ledger
        #   does not have it; record it, or free it: kill 4242

    Passing:

        ranges:
          application: {start: 2000, end: 2999}
        services:
          digi-core:
            category: application
            ports: {http: {port: 2000}}
          scratch:
            category: application
            ports: {http: {port: 2024}}
    """
    this = unrecorded_listener.rule  # type: ignore[attr-defined]
    span = ledger.ranges[range_name].span
    return make(this, ledger.path, span.line, span.column,
                f"{listener.port}/{listener.protocol} in range {range_name} is held by "
                f"{holder.label} on {holder.on}, and the ledger does not have it; record "
                f"it, or free it: {holder.action(listener.port)}",
                end_line=span.end_line, end_column=span.end_column,
                port=listener.port, protocol=listener.protocol,
                details=_holder_details(holder),
                identity=f"{listener.port}/{listener.protocol} {holder.identity()}")


@rule("PL406", "probe-incomplete", "notice",
      "part of the probe was not done: its deadline passed, or an inspection failed")
def deadline_notice(ledger: Ledger, what: str, consequence: str,
                    alloc: Allocation | None = None) -> Finding:
    """Part of the probe was not done: its deadline (``--deadline``) passed, or an engine
    call failed.

    The probe has one deadline for everything it asks: the engine's container list, the
    inspections of containers with unrecorded ports, every health request (all in
    parallel). What is still unanswered when it passes is left out and named here, with
    what that leaves unknown; a verdict is never changed silently (an uninspected
    container's PL403 stays an error, a health endpoint not asked is not reported
    healthy). A container whose inspection failed (gone meanwhile, an engine error) is
    named the same way. Raise ``--deadline``, or look at the engine or service named.

    Failing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000, health: /health}}
        # the health endpoint accepts the connection and never answers
        # $ portledger probe --deadline 3
        # port-mapping.yml:4:26: PL406 probe-incomplete GET http://127.0.0.1:8000/health
        #   was not answered within the probe's deadline (3 s): digi-core.http's health
        #   is unknown

    Passing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000, health: /health}}
        # GET http://127.0.0.1:8000/health answers 200 OK within the deadline
    """
    this = deadline_notice.rule  # type: ignore[attr-defined]
    span = alloc.span if alloc is not None else ledger.doc.key_span(("services",))
    return make(this, ledger.path, span.line, span.column, f"{what}: {consequence}",
                end_line=span.end_line, end_column=span.end_column,
                service=alloc.service if alloc else None,
                port=alloc.start if alloc else None,
                protocol=alloc.protocol if alloc else None)


def free_port_for(ledger: Ledger, alloc: Allocation,
                  taken: Iterable[tuple[str, int]] = ()) -> str | None:
    """The port (or run) ``allocate`` would give ``alloc``'s service instead, or None."""
    from portledger.ledger.allocation import Allocator

    service = ledger.services[alloc.service]
    if service.category not in ledger.ranges:
        return None
    width = alloc.end - alloc.start + 1
    block = Allocator(ledger, set(taken)).block(
        service.category, width, alloc.protocol, [service.name, *service.compose])
    if not block:
        return None
    return str(block[0]) if width == 1 else f"{block[0]}-{block[-1]}"


PROBE_RULES = (port_in_use, container_port_conflict, unmapped_container_port,
               health_check_failed, unrecorded_listener, deadline_notice)
"""The probe's documented rules, in code order (for the catalogue in rules.py)."""


def _who(container: Container, mine: Service | None) -> str:
    """``container pcs-1 (project pcs, compose service pcs, ledger service pcs-api)``."""
    about = container.about
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


def check_sockets(ledger: Ledger, obs: Observation) -> list[Finding]:
    """PL401 for every allocated port held by something that is not its service, PL402
    for a container on the host's network listening on another service's port, and
    PL405 for listeners inside a ledger range on ports the ledger does not have.

    A container that publishes the port is left to PL402 from the engine's list
    (reported once, as a container).
    """
    findings: list[Finding] = []
    held = holders(ledger, obs)
    # A port suggested instead must be free on this host too, not only in the ledger.
    live = ({(li.protocol, li.port) for li in obs.listeners or ()}
            | {(p.protocol, p.host_port) for c in obs.containers or () for p in c.ports})
    for a in ledger.allocations():
        for h in held.get(id(a), ()):
            if _is_own(ledger, a, h):
                continue
            if h.container is None:
                findings.append(port_in_use(ledger, a, h, live))
            elif h.listener is not None and h.listener.container_id == h.container.id:
                ports = [ContainerPort(x, p, p, a.protocol)
                         for x in h.addresses for p in h.ports]
                findings.append(container_port_conflict(
                    ledger, a, h.container, ports, service_of(ledger, h.container)))
    findings += _unrecorded(ledger, obs)
    return findings


def _unrecorded(ledger: Ledger, obs: Observation) -> list[Finding]:
    """PL405: listeners inside a range, on no allocated port, that no container publishes
    (those are PL403)."""
    if not ledger.ranges:
        return []
    attribution = Attribution(obs.containers or ())
    index = _PortIndex(ledger.allocations())
    bounds = sorted((r.start, r.end, r.name) for r in ledger.ranges.values())
    found: dict[tuple[int, str, object], tuple[Listener, Holder, str]] = {}
    for listener in obs.listeners or ():
        inside = next((name for lo, hi, name in bounds if lo <= listener.port <= hi), None)
        if inside is None or index.at(listener.port, listener.protocol, listener.address):
            continue
        if attribution.publisher(listener.port, listener.protocol, listener.address):
            continue
        h = attribution.holder(listener)
        if h.kind == "proxy":
            continue  # a container's port the engine did not list: --docker tells
        key = (listener.port, listener.protocol, listener.pid)
        if key in found:
            was = found[key]
            merged = Holder(h.kind, h.container, h.listener,
                            tuple(dict.fromkeys(was[1].addresses + h.addresses)), h.ports)
            found[key] = (was[0], merged, inside)
        else:
            found[key] = (listener, h, inside)
    return [unrecorded_listener(ledger, li, h, r) for li, h, r in found.values()]
