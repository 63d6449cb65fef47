"""Ledger rules PL103-PL110: what the JSON Schema cannot say about ``port-mapping.yml``.

Each rule is a function ``(ledger) -> Iterator[Finding]``; its docstring is the rule's
documentation (rendered into docs/rules.md), with a failing and a passing example.
PL100-PL102 are reported while loading, in :mod:`portledger.ledger`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from portledger.findings import Finding, make, rule
from portledger.ledger import overlap, wellknown
from portledger.ledger.hosts import share
from portledger.ledger.model import Allocation, Ledger


def _at(ledger: Ledger, a: Allocation) -> tuple[str, int, int]:
    return ledger.path, a.span.line, a.span.column


def _where(a: Allocation) -> str:
    addr = f" on {a.host_ip}" if a.host_ip else ""
    return f"{a.label}/{a.protocol}{addr}"


@rule("PL103", "range-overlap", "error", "two ranges overlap")
def range_overlap(ledger: Ledger) -> Iterator[Finding]:
    """Two named ranges share ports.

    A port in two ranges belongs to two categories at once, so "which range is this
    port in?" has no answer and out-of-range checks become arbitrary. Ranges are
    inclusive at both ends.

    Failing:

        ranges:
          application: {start: 2000, end: 2999}
          monitoring: {start: 2900, end: 3999}

    Passing:

        ranges:
          application: {start: 2000, end: 2999}
          monitoring: {start: 3000, end: 3999}
    """
    this = range_overlap.rule  # type: ignore[attr-defined]
    ranges = list(ledger.ranges.values())
    if not any(overlap.ranges_overlap(a.start, a.end, b.start, b.end)
               for a, b in combinations(ranges, 2)):
        return  # (positions are looked up only for a finding)
    ordered = sorted(ranges, key=lambda r: (r.span.line, r.span.column))
    for a, b in combinations(ordered, 2):
        if overlap.ranges_overlap(a.start, a.end, b.start, b.end):
            lo, hi = max(a.start, b.start), min(a.end, b.end)
            shared = str(lo) if lo == hi else f"{lo}-{hi}"
            yield make(this, ledger.path, b.span.line, b.span.column,
                       f"range {b.name} ({b.start}-{b.end}) overlaps range {a.name} "
                       f"({a.start}-{a.end}) on {shared}")


@rule("PL104", "duplicate-allocation", "error",
      "two ledger services own the same port/protocol/host address on one host")
def duplicate_allocation(ledger: Ledger) -> Iterator[Finding]:
    """Two entries of the ledger own the same host port.

    Two allocations collide when they have the same protocol, overlapping ports (ranges
    included) and overlapping host addresses, as Linux decides for ``bind()``: no
    address or ``0.0.0.0`` overlaps every IPv4 address and ``::``; ``127.0.0.1`` and
    ``127.0.0.2`` do not overlap; tcp and udp never collide. Each later entry is
    reported once, naming the first entry it collides with.

    Hosts: with a ``hosts`` section, two entries collide only when they hold on a host in
    common (a service no host names, and a port without ``hosts:``, hold on every host
    of their service); the finding names the host.

    Failing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
          pcs-api:
            category: user-facing
            ports: {http: {port: 8000}}

    Passing:

        services:
          digi-core:
            category: user-facing
            ports: {http: {port: 8000}}
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002}}
    """
    this = duplicate_allocation.rule  # type: ignore[attr-defined]
    allocations = list(ledger.allocations())  # in document order
    # Sweep by start port, so that only allocations that can overlap are compared.
    by_start = sorted(allocations, key=lambda a: (a.start, a.order))
    # Each later allocation once, against the first one it collides with: ten services
    # on one port are nine findings, not forty-five.
    earliest: dict[int, tuple[Allocation, Allocation]] = {}
    active: list[Allocation] = []
    for a in by_start:
        active = [x for x in active if x.end >= a.start]
        for b in active:
            if overlap.collide(a.binding(), b.binding()) and (
                    not ledger.hosts or share(ledger.placement(a), ledger.placement(b))):
                first, second = (a, b) if a.order < b.order else (b, a)
                known = earliest.get(id(second))
                if known is None or first.order < known[0].order:
                    earliest[id(second)] = (first, second)
        active.append(a)
    for first, second in sorted(earliest.values(), key=lambda pair: pair[1].order):
        file, line, col = _at(ledger, second)
        who = (f"{first.service}.{first.name}" if first.service != second.service
               else f"its own port {first.name}")
        yield make(this, file, line, col,
                   f"{second.service}.{second.name} {_where(second)} is already "
                   f"allocated to {who} ({_where(first)}, line {first.span.line})"
                   f"{_on(ledger, first, second)}",
                   service=second.service, port=second.start,
                   protocol=second.protocol, context=(first, second))


def _on(ledger: Ledger, first: Allocation, second: Allocation) -> str:
    """`` on HOST, ...`` where two colliding allocations meet (nothing for one host)."""
    a, b = ledger.placement(first), ledger.placement(second)
    if a is None and b is None:
        return ""
    meet = sorted(a & b) if a is not None and b is not None else sorted(a or b or ())
    return f" on {', '.join(meet)}" if meet else ""


@rule("PL105", "out-of-range", "error",
      "a port outside its service's category range, with no exception")
def out_of_range(ledger: Ledger) -> Iterator[Finding]:
    """A port lies outside the range of its service's category.

    Ranges keep a category's ports together so that a port says what it is. A port may
    stand elsewhere on purpose (a database on its standard port): say why in its
    ``exception``.

    Failing:

        ranges:
          monitoring: {start: 3000, end: 3999}
        services:
          prometheus:
            category: monitoring
            ports: {http: {port: 9090}}

    Passing:

        ranges:
          monitoring: {start: 3000, end: 3999}
        services:
          prometheus:
            category: monitoring
            ports: {http: {port: 9090, exception: standard Prometheus port}}
    """
    this = out_of_range.rule  # type: ignore[attr-defined]
    for service in ledger.services.values():
        r = ledger.ranges.get(service.category)
        if r is None:
            continue  # PL110 reports the unknown category
        for a in service.ports:
            if a.exception or (r.start <= a.start and a.end <= r.end):
                continue
            file, line, col = _at(ledger, a)
            yield make(this, file, line, col,
                       f"{service.name}.{a.name} {a.label} is outside its category "
                       f"{r.name} ({r.start}-{r.end}); move it into the range or add an "
                       "exception with the reason",
                       service=service.name, port=a.start, protocol=a.protocol, context=(a,))


@rule("PL106", "system-port", "error", "a port below 1024 with no exception")
def system_port(ledger: Ledger) -> Iterator[Finding]:
    """A port below 1024, with no exception.

    Ports below 1024 are the system's: binding them takes root or
    ``CAP_NET_BIND_SERVICE``, and they belong to well-known services (ssh, http, dns).
    Publishing one from a container is sometimes right (a reverse proxy on 80 and 443);
    then say so in ``exception``.

    Failing:

        services:
          proxy:
            category: application
            ports: {http: {port: 80}}

    Passing:

        services:
          proxy:
            category: application
            ports: {http: {port: 80, exception: the public HTTP entry point}}
    """
    this = system_port.rule  # type: ignore[attr-defined]
    for a in ledger.allocations():
        if a.start < 1024 and not a.exception:
            file, line, col = _at(ledger, a)
            yield make(this, file, line, col,
                       f"{a.service}.{a.name} {a.label} is a system port (below 1024); "
                       "add an exception with the reason if it must be",
                       service=a.service, port=a.start, protocol=a.protocol, context=(a,))


@rule("PL107", "reserved-range", "error", "a port in a reserved range, with no exception")
def reserved_range(ledger: Ledger) -> Iterator[Finding]:
    """A port falls in a range marked ``reserved: true``, with no exception.

    A reserved range is held back (for future services, say); nobody takes a port
    there without a documented reason, whatever their category.

    Failing:

        ranges:
          future: {start: 5000, end: 5999, reserved: true}
        services:
          postgresql:
            category: core-infrastructure
            ports: {primary: {port: 5432}}

    Passing:

        ranges:
          future: {start: 5000, end: 5999, reserved: true}
        services:
          postgresql:
            category: core-infrastructure
            ports: {primary: {port: 5432, exception: standard PostgreSQL port}}
    """
    this = reserved_range.rule  # type: ignore[attr-defined]
    reserved = [r for r in ledger.ranges.values() if r.reserved]
    for a in ledger.allocations():
        if a.exception:
            continue
        for r in reserved:
            if overlap.ranges_overlap(a.start, a.end, r.start, r.end):
                file, line, col = _at(ledger, a)
                yield make(this, file, line, col,
                           f"{a.service}.{a.name} {a.label} is in the reserved range "
                           f"{r.name} ({r.start}-{r.end})",
                           service=a.service, port=a.start, protocol=a.protocol,
                           context=(a,))
                break


@rule("PL108", "ephemeral-port", "warning",
      "a port in the OS ephemeral range (Linux 32768-60999)")
def ephemeral_port(ledger: Ledger) -> Iterator[Finding]:
    """A port lies in the operating system's ephemeral range.

    The kernel hands out ephemeral ports to outgoing connections and to containers
    published without a host port, so such a port is sometimes taken when the service
    starts. Linux's default range is 32768-60999; set ``settings.ephemeral`` when your
    hosts use another (``sysctl net.ipv4.ip_local_port_range``).

    Failing:

        services:
          worker:
            category: application
            ports: {metrics: {port: 40000}}

    Passing:

        services:
          worker:
            category: application
            ports: {metrics: {port: 2100}}
    """
    this = ephemeral_port.rule  # type: ignore[attr-defined]
    lo, hi = ledger.ephemeral
    for a in ledger.allocations():
        if overlap.ranges_overlap(a.start, a.end, lo, hi):
            file, line, col = _at(ledger, a)
            yield make(this, file, line, col,
                       f"{a.service}.{a.name} {a.label} is in the ephemeral range {lo}-{hi}; "
                       "the OS may hand it to another program first",
                       service=a.service, port=a.start, protocol=a.protocol)


@rule("PL109", "well-known-port", "warning",
      "a port registered to another well-known service (IANA / /etc/services)")
def well_known_port(ledger: Ledger) -> Iterator[Finding]:
    """A port is registered to another well-known service.

    Registrations come from IANA's registry, bundled with portledger, the same on every
    machine (``settings.well_known: system`` reads the machine's ``/etc/services``
    instead); of it, the 37 ports compose services commonly collide with (80, 443,
    3306, 5432, 6379, 8080, 27017, ...), not every registration (8000 is irdmi's). A
    service on, say, MySQL's 3306 that is not MySQL confuses every client
    and tool that assumes the registration. A service matching the registered name or
    an alias (``postgresql`` on 5432) is fine, as is one with an ``exception``.

    Failing:

        services:
          pcs-api:
            category: application
            ports: {http: {port: 3306}}

    Passing:

        services:
          mysql:
            category: application
            ports: {primary: {port: 3306}}
    """
    this = well_known_port.rule  # type: ignore[attr-defined]
    registry = wellknown.registry(ledger.well_known)
    for service in ledger.services.values():
        names = [service.name, *service.compose]
        for a in service.ports:
            if a.exception or a.end - a.start > 1000:
                continue
            for port in range(a.start, a.end + 1):
                registered = registry.get((port, a.protocol))
                if registered and not wellknown.belongs_to(registered, names):
                    file, line, col = _at(ledger, a)
                    yield make(this, file, line, col,
                               f"{service.name}.{a.name} {port}/{a.protocol} is registered to "
                               f"{registered[0]}",
                               service=service.name, port=port, protocol=a.protocol)
                    break


@rule("PL110", "unknown-reference", "error", "depends_on, category or compose alias names nothing")
def unknown_reference(ledger: Ledger) -> Iterator[Finding]:
    """A name in the ledger points at nothing, or at two things.

    ``category`` must name a range, each ``depends_on`` entry another service. A
    ``compose`` alias must not be another service's name or another service's alias,
    or a compose service would belong to two ledger services.

    Failing:

        services:
          pcs-api:
            category: user-facing
            depends_on: [postgres]
            ports: {http: {port: 8002}}

    Passing:

        services:
          postgresql:
            category: core-infrastructure
            ports: {primary: {port: 5432, exception: standard PostgreSQL port}}
          pcs-api:
            category: user-facing
            depends_on: [postgresql]
            ports: {http: {port: 8002}}
    """
    this = unknown_reference.rule  # type: ignore[attr-defined]
    doc = ledger.doc
    claimed: dict[str, str] = {name: name for name in ledger.services}
    for service in ledger.services.values():
        base = ("services", service.name)
        if service.category not in ledger.ranges:
            s = doc.span(base + ("category",))
            yield make(this, ledger.path, s.line, s.column,
                       f"{service.name}: category {service.category!r} is not a range "
                       f"(ranges: {', '.join(ledger.ranges)})", service=service.name)
        for i, dep in enumerate(service.depends_on):
            if dep not in ledger.services or dep == service.name:
                s = doc.span(base + ("depends_on", i))
                what = "itself" if dep == service.name else "no service"
                yield make(this, ledger.path, s.line, s.column,
                           f"{service.name}: depends_on {dep!r} names {what}",
                           service=service.name)
        for i, alias in enumerate(service.compose):
            other = claimed.get(alias)
            if other is not None and other != service.name:
                s = doc.span(base + ("compose", i))
                yield make(this, ledger.path, s.line, s.column,
                           f"{service.name}: compose alias {alias!r} already stands for "
                           f"{other}", service=service.name)
            else:
                claimed[alias] = service.name


LEDGER_CHECKS = (
    range_overlap,
    duplicate_allocation,
    out_of_range,
    system_port,
    reserved_range,
    ephemeral_port,
    well_known_port,
    unknown_reference,
)
"""The ledger's semantic checks, in the order they run (one explicit table)."""
