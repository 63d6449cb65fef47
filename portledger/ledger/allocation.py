"""The allocation policy: which free port a service may take, and who keeps a contested one.

One policy serves ``portledger allocate``, ``who`` (for a free port) and every
resolution plan, so that a port portledger proposes is never one ``check`` then flags:
a candidate lies inside the service's category range and is not allocated (same
protocol, any address), not in a reserved range, not below 1024, not in the ephemeral
range, and not registered to another well-known service.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from portledger.errors import FatalError
from portledger.ledger import wellknown
from portledger.ledger.model import Ledger, Service

_STATUS_ORDER = {"active": 0, "planned": 1, "deprecated": 2}


def refusal(ledger: Ledger, port: int, protocol: str, names: list[str],
            category: str | None = None,
            taken: Collection[tuple[str, int]] = frozenset(),
            host: str | None = None) -> str | None:
    """Why ``port`` may not be given to a service called ``names`` (None: it may);
    with ``host``, only that host's allocations count (``taken`` is the caller's)."""
    if category is not None:
        r = ledger.ranges.get(category)
        if r is None:
            return f"category {category!r} is not a range of the ledger"
        if not r.start <= port <= r.end:
            return f"outside the {category} range {r.start}-{r.end}"
    held = ledger.holders_on(protocol, port, host)
    if held:
        return f"allocated to {held[0].service}.{held[0].name}"
    if (protocol, port) in taken:
        return "published by a compose service"
    for r in ledger.ranges.values():
        if r.reserved and r.start <= port <= r.end:
            return f"in the reserved range {r.name} ({r.start}-{r.end})"
    if port < 1024:
        return "a system port (below 1024)"
    lo, hi = ledger.ephemeral
    if lo <= port <= hi:
        return f"in the ephemeral range {lo}-{hi}"
    registered = wellknown.owner(port, protocol, ledger.well_known)
    if registered and not wellknown.belongs_to(registered, names):
        return f"registered to {registered[0]} ({wellknown.source_name(ledger.well_known)})"
    return None


@dataclass
class Allocator:
    """Hands out free ports by the policy, remembering what it handed out."""

    ledger: Ledger
    extra_taken: set[tuple[str, int]] = field(default_factory=set)
    host: str | None = None
    """Hand out ports free on this host (None: free on every host)."""

    def __post_init__(self) -> None:
        # The ledger's own ports are looked up in its index (Ledger.holders); this set
        # holds the others: the caller's, and those handed out since.
        self._taken: set[tuple[str, int]] = set(self.extra_taken)
        self._blocked: list[tuple[int, int]] = [
            (r.start, r.end) for r in self.ledger.ranges.values() if r.reserved
        ]

    def take(self, protocol: str, port: int) -> None:
        """Mark a port as handed out (a plan added it to the ledger)."""
        self._taken.add((protocol, port))

    def _ok(self, port: int, protocol: str, names: list[str]) -> bool:
        if port < 1024 or (protocol, port) in self._taken or \
                self.ledger.holders_on(protocol, port, self.host):
            return False
        lo, hi = self.ledger.ephemeral
        if lo <= port <= hi or any(s <= port <= e for s, e in self._blocked):
            return False
        registered = wellknown.owner(port, protocol, self.ledger.well_known)
        return not (registered and not wellknown.belongs_to(registered, names))

    def block(self, category: str, count: int = 1, protocol: str = "tcp",
              names: list[str] | None = None, near: int | None = None) -> list[int] | None:
        """The first run of ``count`` free ports in ``category`` (None when there is none).

        Searching starts at ``near`` (the service's other ports, to keep them together)
        and wraps round to the start of the range.
        """
        r = self.ledger.ranges.get(category)
        if r is None or count < 1:
            return None
        names = names or []
        first = near if near is not None and r.start <= near <= r.end else r.start
        starts = list(range(first, r.end - count + 2)) + list(range(r.start, first))
        for start in starts:
            if all(self._ok(p, protocol, names) for p in range(start, start + count)):
                block = list(range(start, start + count))
                for p in block:
                    self._taken.add((protocol, p))
                return block
        return None


def rank(s: Service | None) -> tuple[float, int]:
    """A service's claim on a contested port, lowest first: its ``priority`` (none comes
    last), then its status (active, planned, deprecated; no ledger entry last)."""
    if s is None:
        return (float("inf"), 3)
    prio = float(s.priority) if s.priority is not None else float("inf")
    return (prio, _STATUS_ORDER.get(s.status, 3))


def keeper(a: Service | None, b: Service | None, a_name: str,
           b_name: str) -> tuple[str, str, str]:
    """Of two services contesting a port: (keeps it, moves, the reason in words).

    Lower ``priority`` wins (a service without one comes after any that has one); on a
    tie an active service beats a planned or deprecated one; on a tie still the name that
    sorts first keeps it, so the choice never depends on the order of files.
    """

    ra, rb = rank(a), rank(b)
    if ra[0] != rb[0]:
        win, lose = (a_name, b_name) if ra[0] < rb[0] else (b_name, a_name)
        pw = (a if win == a_name else b)
        pl = (b if win == a_name else a)
        pw_txt = f"priority {pw.priority}" if pw and pw.priority is not None else "a priority"
        pl_txt = (f"priority {pl.priority}" if pl and pl.priority is not None
                  else "no priority" if pl else "no ledger entry")
        return win, lose, f"{win} has {pw_txt}, {lose} {pl_txt}"
    if ra[1] != rb[1]:
        win, lose = (a_name, b_name) if ra[1] < rb[1] else (b_name, a_name)
        sw = a if win == a_name else b
        sl = b if win == a_name else a
        return win, lose, (f"same priority; {win} is {sw.status if sw else 'unknown'}, "
                           f"{lose} is {sl.status if sl else 'not in the ledger'}")
    win, lose = sorted((a_name, b_name))
    return win, lose, "same priority and status; the name that sorts first keeps it"


_ENV_NAME = re.compile(r"[^A-Za-z0-9]+")


def env_name(service: str, port_name: str) -> str:
    """The variable ``export --format env`` writes for a port: ``DIGI_CORE_HTTP_PORT``."""
    return _ENV_NAME.sub("_", f"{service}_{port_name}_port").strip("_").upper()


def exports(ledger: Ledger) -> dict[str, str]:
    """Every ledger port as an environment variable (``SERVICE_PORTNAME_PORT``), and the
    address of a port bound to one (``SERVICE_PORTNAME_HOST``)."""
    values: dict[str, str] = {}
    for a in ledger.allocations():
        variable = env_name(a.service, a.name)
        values[variable] = a.label
        if a.host_ip:
            values[variable[:-len("_PORT")] + "_HOST"] = a.host_ip
    return values


def port_names(name: str, count: int) -> list[str]:
    return [name] if count == 1 else [f"{name}-{i + 1}" for i in range(count)]


def allocate(ledger: Ledger, service: str, category: str, *, name: str = "http",
             count: int = 1, protocol: str = "tcp",
             taken: Collection[tuple[str, int]] = frozenset(),
             host: str | None = None) -> list[tuple[str, int]]:
    """(port name, port) pairs for ``service``: a contiguous block, by the policy;
    ``taken`` are (protocol, port) pairs compose projects publish (check.taken); with
    ``host``, free on that host (the ports are then recorded as limited to it)."""
    if category not in ledger.ranges:
        raise FatalError(
            f"allocate: category {category!r} is not a range of the ledger "
            f"({', '.join(ledger.ranges)})"
        )
    existing = ledger.services.get(service)
    if existing is not None and existing.category != category:
        raise FatalError(
            f"allocate: {service} is in category {existing.category}, not {category}"
        )
    if existing is not None:
        clash = [n for n in port_names(name, count) if any(p.name == n for p in existing.ports)]
        if clash:
            raise FatalError(f"allocate: {service} already has a port named {clash[0]!r}")
    near = None
    if existing is not None and existing.ports:
        near = max(p.end for p in existing.ports) + 1
    names = [service, *(existing.compose if existing else [])]
    block = Allocator(ledger, set(taken), host).block(category, count, protocol, names, near)
    if block is None:
        r = ledger.ranges[category]
        raise FatalError(
            f"allocate: no run of {count} free {protocol} port{'s' * (count > 1)} in "
            f"{category} ({r.start}-{r.end})"
        )
    return list(zip(port_names(name, count), block, strict=True))
