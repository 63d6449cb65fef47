"""One view of what is taken: the ledger's allocations and every published compose port
of every profile of every project, each with where it is written.

``who``, ``allocate``, ``report`` and the fix planner (through
:func:`portledger.compose.rules.taken_by`) all ask it, so that no command calls a port
free that a compose project publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger.compose.rules import Published, on_hosts, taken_by
from portledger.ledger import overlap
from portledger.ledger.hosts import on
from portledger.ledger.model import Ledger


@dataclass(frozen=True)
class Publisher:
    """A compose service publishing a port, and whether the ledger records it."""

    project: str
    service: str
    port: str
    protocol: str
    host_ip: str | None
    file: str
    line: int
    column: int
    owner: str | None
    """The ledger service it stands for, or None."""
    recorded: bool
    """True when a ledger allocation of its own service holds this port."""
    hosts: tuple[str, ...] = ()
    """The ledger's hosts its project runs on (empty: every host)."""

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "service": self.service, "port": self.port,
                "protocol": self.protocol, "host_ip": self.host_ip, "file": self.file,
                "line": self.line, "column": self.column, "owner": self.owner,
                "recorded": self.recorded,
                **({"hosts": list(self.hosts)} if self.hosts else {})}


@dataclass
class Taken:
    """What is taken, from one check's ledger and published ports."""

    ledger: Ledger
    published: list[Published]

    def ports(self, host: str | None = None) -> set[tuple[str, int]]:
        """(protocol, port) of every published compose port (the ledger's own allocations
        are the allocator's to know); with ``host``, of the projects on that host."""
        if host is None:
            return taken_by(self.published)
        return taken_by([p for p in self.published if on(p.hosts, host)])

    def publishers(self, port: int, protocol: str, host: str | None = None) -> list[Publisher]:
        """The compose entries publishing ``port``/``protocol``, in file order (with
        ``host``, of the projects on that host)."""
        found = []
        for p in self.published:
            if p.protocol != protocol or not p.start <= port <= p.end:
                continue
            if host is not None and not on(p.hosts, host):
                continue
            service = self.ledger.service_for_compose_name(p.compose_service)
            recorded = service is not None and any(
                a.service == service.name
                for a in self.ledger.holders(protocol, port)
                if overlap.addresses_overlap(a.host_ip, p.host_ip)
                and on_hosts(p, self.ledger, a))
            found.append(Publisher(p.source or p.project, p.compose_service, p.label,
                                   p.protocol, p.host_ip, p.file, p.line, p.column,
                                   service.name if service else None, recorded,
                                   tuple(sorted(p.hosts or ()))))
        return sorted(set(found), key=lambda x: (x.file, x.line, x.column))


def of(mapping: Path) -> Taken:
    """The view for the ledger at ``mapping``: the ledger (valid, or a FatalError) and
    every compose project it names, read through the check's cache."""
    from portledger import check
    from portledger.ledger import model as ledger_mod

    ledger = ledger_mod.load_valid(mapping)
    result = check.run(mapping, select=set(), cache=True)
    return Taken(result.ledger or ledger, result.published)
