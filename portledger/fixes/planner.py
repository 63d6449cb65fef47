"""Resolution plans for findings (``check --fix``/``--diff``): one planner over the
whole set of findings of one check.

The order of decisions (the README's "Resolution plans and --fix"):

1. **Contested ports.** The findings about one port (PL104, PL202, PL204) form a group
   per protocol and port; the group is decided once. Its claimants are the ledger's
   allocations of the port and every compose entry publishing it, by owner (the
   ledger service, else the compose service in its project). The keeper is the owner
   the ledger gives the port to, then the lower ``priority``, then an active status,
   then the name that sorts first (:func:`portledger.ledger.allocation.rank`); an
   owner whose host addresses do not collide with a keeper's keeps its port too. Every
   other owner moves once: a ledger allocation to the next free port of its category
   (its compose entries with it), a compose entry to its own ledger port when it has
   one that its project does not already publish, else to the next free port of its
   category, recorded in the ledger. Every finding of the group carries that plan.
2. **Misplaced ledger ports** (PL105-PL107): a standard port of the service gets an
   ``exception``; any other moves within its category, its compose entries with it.
3. **A port other than the ledger's** (PL203): the compose entry is corrected to the
   ledger's port, unless the project already publishes that one (an override adding
   a second port): then the extra port is recorded, never merged into the first.
4. **Unmapped ports** (PL201), record before move: a port no one else owns is added to
   the ledger under its service (a new service when needed, its category the range
   holding most of its ports), with an ``exception`` naming why when it lies outside
   its category's range, in a reserved range, below 1024 or on a port registered to
   another service. ``--fix-strategy move`` moves them into the range instead.
5. **YAML 1.1 ports** (PL207) are quoted (a moved entry is quoted by its move).

"Free" is the one view of what is taken: the ledger's allocations, every port any
compose project publishes in any profile, and every port a plan of this run takes.
Every iteration is in a sorted order, so the plans of a repository are the same on
every machine and under every ``PYTHONHASHSEED``. A fix never removes a published port,
never merges two into one and never widens a bind address. The ledger's changes are
made as one edit (:mod:`.ledger_text`), so ``--diff`` is exactly what ``--fix`` writes
and one ``--fix`` leaves nothing an automatic plan would change.

What is never edited: a port given through a variable (``${PORT:-8000}``), a port
range, an entry of a ``network_mode: host`` service. Those plans are marked manual
(recording such a port in the ledger needs no edit of it, and is made).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from portledger import yamlio
from portledger.compose.rules import taken_by
from portledger.findings import Edit, Finding
from portledger.fixes import ledger_text
from portledger.fixes.edits import Source, _requote, short_with_host
from portledger.fixes.ledger_text import LedgerChanges, NewPort, Unwritable
from portledger.ledger import overlap, wellknown
from portledger.ledger.allocation import Allocator, keeper, rank
from portledger.ledger.model import Allocation, Ledger, Service

FIXABLE = ("PL104", "PL105", "PL106", "PL107", "PL201", "PL202", "PL203", "PL204", "PL207")
STRATEGIES = ("record", "move")
"""``--fix-strategy``: record an unmapped port where it is (the default), or move it
into its category's range."""

_CONTESTED = ("PL104", "PL202", "PL204")
_EVERY_ADDRESS = (None, "", "0.0.0.0", "::", "[::]")


def _why_manual(p: Any) -> str:
    """Why a compose entry is not edited automatically."""
    if getattr(p, "host_network", False):
        return ("with network_mode: host the container binds its own port "
                f"{p.target}; make it listen on the ledger's port, or drop network_mode: host")
    if p.start != p.end:
        return "a host port range is not edited automatically"
    if p.raw is not None and "$" in p.raw:
        return "the port comes from a variable; change it where the variable is set"
    return "the entry could not be edited safely"


def _record_hosts(ledger: Ledger, group: Sequence[Any], owner: str) -> tuple[str, ...]:
    """The hosts a port recorded for ``group`` (compose entries of ``owner``) is limited
    to: their projects' hosts, when no host names the owner (so a port recorded for one
    alternative of ``each`` stays that alternative's); none otherwise."""
    if not ledger.hosts or ledger.hosts.service(owner) is not None:
        return ()
    placed: set[str] = set()
    for p in group:
        if p.hosts is None:
            return ()
        placed |= p.hosts
    return tuple(sorted(placed))


def _entry_key(p: Any) -> tuple[str, int, int]:
    return (p.file, p.line, p.column)


@dataclass
class Plan:
    summary: str
    edits: tuple[Edit, ...] = ()
    ledger: bool = False
    """True when the plan changes the ledger (its edit is added when all are made)."""

    @property
    def manual(self) -> bool:
        return not self.edits and not self.ledger


@dataclass
class _Draft:
    """What a plan would change, before it is known to be possible."""

    compose: list[tuple[Any, int]] = field(default_factory=list)
    """(compose entry, its new host port)."""
    moves: dict[tuple[str, str], int] = field(default_factory=dict)
    exceptions: dict[tuple[str, str], str] = field(default_factory=dict)
    added: list[tuple[str, str | None, NewPort]] = field(default_factory=list)
    """(service, category of a new service or None, port)."""


class Planner:
    """Makes one consistent set of plans for the findings of one check (:meth:`plan_all`).

    Ports it hands out are remembered, so two plans never pick the same free port; a
    compose entry or ledger allocation is planned once, and every finding about it
    carries that plan.
    """

    def __init__(self, ledger: Ledger, published: Sequence[Any],
                 strategy: str = "record") -> None:
        self.ledger = ledger
        self.published = sorted(published, key=lambda p: (p.file, p.line, p.column,
                                                          p.start, p.protocol))
        self.strategy = strategy
        self._allocator: Allocator | None = None
        self.sources: dict[str, Source] = {}
        self.changes = LedgerChanges()
        self.by_entry: dict[tuple[str, int, int], Plan] = {}
        self.by_alloc: dict[tuple[str, str], Plan] = {}
        self._by_owner: dict[str, list[Any]] | None = None
        self._onto: list[tuple[Any, int]] = []
        """(compose entry, port) of every move planned so far."""
        self._recorded: dict[tuple[str, str, int, str | None], Plan] = {}
        """(owner, protocol, port, address) -> the plan recording it this run."""
        self._claims: list[tuple[Any, int]] = []
        """(compose entry, port) of each ledger port a manual plan asks an entry to
        publish: no other entry of its project is moved there."""
        self._contested: dict[tuple[str, int], tuple[Plan, list[str]]] = {}
        """(protocol, port) -> the plan of its group and the owners that keep it."""

    # -- the one view of what is taken ----------------------------------------------------
    @property
    def allocator(self) -> Allocator:
        """The free-port finder, made when a plan first needs a free port."""
        if self._allocator is None:
            # The one view of what compose projects publish (check.taken's too).
            self._allocator = Allocator(self.ledger, taken_by(self.published))
        return self._allocator

    def owner(self, p: Any) -> str:
        """Who a compose entry stands for: its ledger service, else its compose service's
        name, the ledger service it becomes once recorded (a ledger service stands for
        every compose service of its name, in every project)."""
        service = self.ledger.service_for_compose_name(p.compose_service)
        return service.name if service is not None else str(p.compose_service)

    def entries_of(self, owner: str) -> list[Any]:
        """The compose entries of one owner, in file order."""
        if self._by_owner is None:
            self._by_owner = defaultdict(list)
            for p in self.published:
                self._by_owner[self.owner(p)].append(p)
        return self._by_owner.get(owner, [])

    def source(self, path: str) -> Source:
        if path not in self.sources:
            self.sources[path] = Source.read(path)
        return self.sources[path]

    def _service(self, name: str | None) -> Service | None:
        return self.ledger.services.get(name) if name else None

    def _range_category(self, port: int) -> str | None:
        r = self.ledger.range_of(port)
        return r.name if r is not None and not r.reserved else None

    def _free(self, owner: str, category: str | None, protocol: str,
              near: int | None = None) -> int | None:
        if category is None:
            return None
        s = self._service(owner)
        names = [s.name, *s.compose] if s else [owner]
        if near is None and s is not None and s.ports:
            near = max(p.end for p in s.ports) + 1
        block = self.allocator.block(category, 1, protocol, names, near)
        return block[0] if block else None

    # -- compose edits --------------------------------------------------------------------
    def compose_edit(self, p: Any, new_port: int) -> Edit | None:
        """The edit that makes compose entry ``p`` publish ``new_port``."""
        if p.start != p.end or getattr(p, "host_network", False):
            return None
        try:
            src = self.source(p.file)
        except (OSError, yamlio.YamlError):
            return None
        original = src.slice(p.line, p.column, p.end_line, p.end_column)
        if p.raw is not None:  # short syntax: the scalar, quotes included
            inner = original[1:-1] if original[:1] in ("'", '"') else original
            if inner != p.raw:
                return None
            new = short_with_host(p.raw, str(new_port))
            if new is None:
                return None
            return Edit(p.file, p.line, p.column, p.end_line, p.end_column,
                        _requote(original, new))
        return self._long_published_edit(p, src, new_port)

    def _long_published_edit(self, p: Any, src: Source, new_port: int) -> Edit | None:
        try:
            doc = yamlio.load(p.file, data=src.data, compat="goyaml",
                              local_tags=frozenset({"!reset", "!override"}))
        except yamlio.YamlError:
            return None
        services = doc.data.get("services") if isinstance(doc.data, dict) else None
        if not isinstance(services, dict):
            return None
        for name in sorted(services):
            svc = services[name]
            ports = svc.get("ports") if isinstance(svc, dict) else None
            if not isinstance(ports, list):
                continue
            for i, entry in enumerate(ports):
                span = doc.spans.get(("services", name, "ports", i))
                if span is None or (span.line, span.column) != (p.line, p.column):
                    continue
                if not isinstance(entry, dict) or "published" not in entry:
                    return None
                vs = doc.spans[("services", name, "ports", i, "published")]
                old = src.slice(vs.line, vs.column, vs.end_line, vs.end_column)
                inner = old[1:-1] if old[:1] in ("'", '"') else old
                if not inner.strip().isdigit():
                    return None
                new = f"{old[0]}{new_port}{old[0]}" if old[:1] in ("'", '"') else str(new_port)
                return Edit(p.file, vs.line, vs.column, vs.end_line, vs.end_column, new)
        return None

    # -- the ledger's text (also used by ``allocate --write`` and ``init``) ----------------
    def _last_line(self, path: tuple[Any, ...]) -> int | None:
        """The last line a block-style value at ``path`` of the ledger takes."""
        found = self.ledger.doc._locator.locate(path)
        return None if found is None else ledger_text.last_line(found[1])

    def _insert_after(self, src: Source, line: int, indent: int, text: str) -> Edit:
        """An edit inserting ``text`` as new lines after ``line``, indented."""
        return ledger_text.insert_after(src, line, indent, text.split("\n"))

    def _changes_edit(self, changes: LedgerChanges) -> Edit | None:
        src = self.source(self.ledger.path)
        try:
            text = ledger_text.render(src, self.ledger.doc, changes)
        except (Unwritable, yamlio.YamlError):
            return None
        edit = ledger_text.one_edit(src, text)
        return replace(edit, digest=src.digest) if edit is not None else None

    def add_ports_edit(self, service: str,
                       entries: list[tuple[str, int, int | None, str]],
                       hosts: tuple[str, ...] = ()) -> Edit | None:
        """The edit adding port entries to an existing service, in any style (limited to
        ``hosts``, when given)."""
        if service not in self.ledger.services:
            return None
        return self._changes_edit(LedgerChanges(added={service: [
            NewPort(name, port, target, protocol, hosts=hosts)
            for name, port, target, protocol in entries
        ]}))

    def add_port_edit(self, service: str, name: str, port: int, target: int | None,
                      protocol: str) -> Edit | None:
        return self.add_ports_edit(service, [(name, port, target, protocol)])

    def add_service_with_ports_edit(
        self, service: str, category: str, entries: list[tuple[str, int, int | None, str]],
        hosts: tuple[str, ...] = ()
    ) -> Edit | None:
        """The edit adding a new service at the end of ``services``, in any style (its
        ports limited to ``hosts``, when given)."""
        if service in self.ledger.services:
            return None
        return self._changes_edit(LedgerChanges(new_services={service: (category, [
            NewPort(name, port, target, protocol, hosts=hosts)
            for name, port, target, protocol in entries
        ])}))

    def add_service_edit(self, service: str, category: str, name: str, port: int,
                         target: int | None, protocol: str) -> Edit | None:
        return self.add_service_with_ports_edit(service, category,
                                                [(name, port, target, protocol)])

    # -- making a draft a plan ------------------------------------------------------------
    def _commit(self, draft: _Draft, summary: str) -> Plan:
        """The plan of ``draft``: automatic when every compose edit can be made (then its
        ledger changes join this run's), else manual."""
        edits: list[Edit] = []
        for p, port in draft.compose:
            e = self.compose_edit(p, port)
            if e is None:
                return Plan(f"manual: {summary} ({p.file}:{p.line}: {_why_manual(p)})")
            edits.append(e)
        for key, port in draft.moves.items():
            if key in self.changes.moves and self.changes.moves[key] != port:
                return Plan(f"manual: {summary} (another plan moves it)")
        for key, port in draft.moves.items():
            self.changes.moves[key] = port
        for key, reason in draft.exceptions.items():
            self.changes.exceptions.setdefault(key, reason)
        for service, category, new in draft.added:
            if category is None:
                self.changes.added.setdefault(service, []).append(new)
            else:
                self.changes.new_services.setdefault(service, (category, []))[1].append(new)
        plan = Plan(summary, tuple(edits), ledger=bool(draft.moves or draft.exceptions
                                                        or draft.added))
        for p, port in draft.compose:
            self.by_entry[_entry_key(p)] = plan
            self._onto.append((p, port))
        for key in draft.moves:
            self.by_alloc[key] = plan
        return plan

    def _port_name(self, service: str, protocol: str, target: int | None,
                   pending: list[tuple[str, str | None, NewPort]]) -> str:
        """A name for a new port of ``service`` (``tcp-8000``) that no port of it has,
        planned ones included."""
        s = self._service(service)
        used = {a.name for a in s.ports} if s else set()
        used |= self.changes.names_of(service)
        used |= {p.name for owner, _, p in pending if owner == service}
        base = f"{protocol}-{target}" if target is not None else protocol
        name, i = base, 2
        while name in used:
            name, i = f"{base}-{i}", i + 1
        return name

    # -- 1. contested ports ---------------------------------------------------------------
    def _contest(self, protocol: str, port: int) -> Plan | None:
        """Decide who keeps ``port``/``protocol``; the plan of every finding about it."""
        # Whatever an earlier plan moves away no longer claims the port.
        leaving = {_entry_key(q) for q, _ in self._onto}
        allocations = [a for a in self.ledger.holders(protocol, port)
                       if (a.service, a.name) not in self.changes.moves]
        entries = [p for p in self.published
                   if p.protocol == protocol and p.start <= port <= p.end
                   and _entry_key(p) not in leaving]
        owners: dict[str, dict[str, list[Any]]] = {}
        for a in allocations:
            owners.setdefault(a.service, {"ledger": [], "compose": []})["ledger"].append(a)
        for p in entries:
            owners.setdefault(self.owner(p), {"ledger": [], "compose": []})["compose"].append(p)

        def elsewhere(owner: str) -> bool:
            """An owner with a ledger port of its own for these entries publishes that
            one (the ledger places it): it does not keep this port, it moves there."""
            service = self._service(owner)
            return not owners[owner]["ledger"] and service is not None and any(
                self._own_port(p, service) is not None for p in owners[owner]["compose"])

        def order(owner: str) -> tuple[Any, ...]:
            return (not owners[owner]["ledger"], self._rank(owner), owner)

        def bindings(owner: str) -> list[tuple[int, int, str, str | None]]:
            return [x.binding() for k in ("ledger", "compose") for x in owners[owner][k]]

        kept: list[str] = []
        movers: list[str] = []
        for owner in sorted(owners, key=order):
            mine = bindings(owner)
            if elsewhere(owner) or any(overlap.collide(b, k) for other in kept
                                       for b in mine for k in bindings(other)):
                movers.append(owner)
            else:
                kept.append(owner)
        self._contested[(protocol, port)] = (Plan("manual: undecided"), kept)
        # One service with two ledger entries on the port: the first keeps it.
        extra = []
        for owner in kept:
            allocs = sorted(owners[owner]["ledger"], key=lambda a: a.order)
            extra += [a for i, a in enumerate(allocs)
                      if any(overlap.collide(a.binding(), b.binding()) for b in allocs[:i])]
        if not movers and not extra:
            return None  # one owner once recorded: the plans of its entries say so
        draft = _Draft()
        parts: list[str] = []
        winner = kept[0] if kept else ""
        if not kept:
            reason = ""
        elif extra:
            reason = "one service, two entries"
        elif elsewhere(movers[0]):
            reason = f"{movers[0]} has a ledger port of its own"
        else:
            first = movers[0]
            if owners[winner]["ledger"] and not owners[first]["ledger"]:
                reason = f"the ledger gives it to {winner}"
            elif self._service(winner) is not None and self._service(first) is not None:
                reason = keeper(self._service(winner), self._service(first),
                                winner, first)[2]
            else:
                reason = self._reason(winner, first)
        head = f"{winner} keeps {port} ({reason})" if kept else \
            f"{port} is no one's to keep (each has a ledger port of its own)"
        # Each mover moves on its own: one that cannot (a variable, a range) is left to
        # be moved by hand, and the others still move.
        stuck: list[str] = []
        staying: list[str] = []
        for a in extra:
            part = self._draft_allocation_move(draft, a, [])
            (parts if not part.startswith("manual: ") else stuck).append(part)
        for owner in movers:
            mine_allocs = owners[owner]["ledger"]
            if mine_allocs:
                for a in sorted(mine_allocs, key=lambda a: a.order):
                    moved = [p for p in owners[owner]["compose"]
                             if overlap.collide(p.binding(), a.binding())]
                    part = self._draft_allocation_move(draft, a, moved)
                    (parts if not part.startswith("manual: ") else stuck).append(part)
                continue
            for p in owners[owner]["compose"]:
                part = self._draft_entry_move(draft, p)
                (parts if not part.startswith("manual: ") else stuck).append(part)
                if part.startswith("manual: ") and owner not in staying:
                    staying.append(owner)
        # An owner that cannot move and collides with no keeper keeps the port too
        # (recorded where it is: the others have moved away).
        for owner in staying:
            if not any(overlap.collide(b, k) for other in kept for b in bindings(owner)
                       for k in bindings(other)):
                kept.append(owner)
        by_hand = "".join(f"; {part.removeprefix('manual: ')}" for part in stuck)
        if not parts:
            return Plan(f"manual: {head}{by_hand}")
        return self._commit(draft, f"{head}; {'; '.join(parts)}{by_hand}")

    def _draft_allocation_move(self, draft: _Draft, a: Allocation, moved: list[Any]) -> str:
        """Add to ``draft`` the move of allocation ``a`` to the next free port of its
        category, ``moved`` (compose entries publishing it) with it; the words of the
        move, or of why it is left to be made by hand ("manual: ...")."""
        s = self.ledger.services[a.service]
        if a.start != a.end:
            return f"manual: {a.service}.{a.name} is a range, move it by hand"
        stuck = next((p for p in moved if self.compose_edit(p, a.start) is None), None)
        if stuck is not None:
            return (f"manual: move {a.service}.{a.name} by hand ({stuck.file}:{stuck.line}: "
                    f"{_why_manual(stuck)})")
        others = [p.end for p in s.ports if p is not a]
        near = max(others) + 1 if others else None
        category = s.category if s.category in self.ledger.ranges else None
        new_port = self._free(a.service, category, a.protocol, near)
        if new_port is None:
            return f"manual: no free port in {s.category} for {a.service}.{a.name}"
        draft.moves[(a.service, a.name)] = new_port
        places = [f"{self.ledger.path}:{a.span.line} port: {new_port}"]
        for p in moved:
            draft.compose.append((p, new_port))
            places.append(f"{p.file}:{p.line} \"{new_port}:{p.target}\"")
        return (f"{a.service}.{a.name} moves to {new_port} (next free in {s.category}): "
                f"edit {', '.join(places)}")

    def _rank(self, owner: str) -> tuple[float, int]:
        """An owner's claim (allocation.rank); one not in the ledger yet ranks as the
        service --fix would record (no priority, active), so that recording it does
        not change who keeps what."""
        s = self._service(owner)
        return rank(s) if s is not None else (float("inf"), 0)

    def _reason(self, win: str, lose: str) -> str:
        """Why ``win`` keeps a port ``lose`` also claims (neither owns it in the
        ledger), by the order of :meth:`_rank`."""
        rw, rl = self._rank(win), self._rank(lose)
        sw, sl = self._service(win), self._service(lose)
        if rw[0] != rl[0]:
            theirs = (f"priority {sl.priority}" if sl is not None and sl.priority is not None
                      else "no priority")
            return f"{win} has priority {sw.priority if sw else None}, {lose} {theirs}"
        if rw[1] != rl[1]:
            return (f"same priority; {win} is {sw.status if sw else 'active'}, {lose} is "
                    f"{sl.status if sl else 'active'}")
        return "same priority and status; the name that sorts first keeps it"

    def _port_of(self, a: Allocation) -> int:
        """Allocation ``a``'s port once this run's plans are made."""
        return self.changes.moves.get((a.service, a.name), a.start)

    def _may_take(self, p: Any, a: Allocation) -> bool:
        """True when compose entry ``p`` may move onto its service's ledger port ``a``:
        one port, its protocol and container port, and not one the service publishes
        already or a plan moves another entry onto (that would merge two ports)."""
        port = self._port_of(a)
        leaving = {_entry_key(q) for q, _ in self._onto}
        if a.protocol != p.protocol or a.start != a.end or port == p.start \
                or a.target not in (p.target, None):
            return False
        # Published by the service already, in this project or another (a variant run
        # beside it): the entry is another port of the service, recorded, not merged.
        if any(q.protocol == a.protocol and q.start <= port <= q.end
               and _entry_key(q) not in leaving for q in self.entries_of(self.owner(p))):
            return False
        return not any(self.owner(q) == self.owner(p) and new == port
                       for q, new in (*self._onto, *self._claims))

    def _own_port(self, p: Any, service: Service | None) -> Allocation | None:
        """The service's own ledger port compose entry ``p`` may move onto, if any."""
        if service is None:
            return None
        return next((a for a in service.ports if self._may_take(p, a)), None)

    def _draft_entry_move(self, draft: _Draft, p: Any) -> str:
        """Add to ``draft`` the move of compose entry ``p``: to its own ledger port, else
        to the next free port of its category, recorded in the ledger; the words of the
        move, or of why it is left to be made by hand ("manual: ...")."""
        if self.compose_edit(p, p.start) is None:
            return (f"manual: move {p.compose_service} by hand ({p.file}:{p.line}: "
                    f"{_why_manual(p)})")
        service = self.ledger.service_for_compose_name(p.compose_service)
        mine = self._own_port(p, service)
        if mine is not None:
            port = self._port_of(mine)
            draft.compose.append((p, port))
            return (f"{p.compose_service} moves to {port} (its ledger port "
                    f"{mine.service}.{mine.name}): edit {p.file}:{p.line} to "
                    f"\"{port}:{p.target}\"")
        if service is not None:
            category = service.category if service.category in self.ledger.ranges \
                else self._range_category(p.start)
            owner, new_service = service.name, None
        else:
            owner = p.compose_service
            category = new_service = self._new_category(owner)
        new_port = self._free(self.owner(p), category, p.protocol)
        if new_port is None:
            return f"manual: no free port in {category} to move {p.compose_service} to"
        entry = NewPort(self._port_name(owner, p.protocol, p.target, draft.added),
                        new_port, p.target, p.protocol, self._address(p))
        draft.added.append((owner, new_service, entry))
        draft.compose.append((p, new_port))
        where = f"{owner}.{entry.name}" + (f" (a new service in {category})"
                                          if new_service else "")
        return (f"{p.compose_service} moves to {new_port} (the next free port in "
                f"{category}): edit {p.file}:{p.line} to \"{new_port}:{p.target}\" and "
                f"record it as {where}")

    @staticmethod
    def _address(p: Any) -> str | None:
        """The bind address to record for ``p`` (None: every address)."""
        return None if p.host_ip in _EVERY_ADDRESS else p.host_ip

    # -- 2. misplaced ledger ports --------------------------------------------------------
    def _placement(self, a: Allocation) -> Plan:
        s = self.ledger.services[a.service]
        registered = wellknown.owner(a.start, a.protocol, self.ledger.well_known) \
            if a.start == a.end else None
        if registered and wellknown.belongs_to(registered, [s.name, *s.compose]):
            reason = f"standard {registered[0]} port"
            draft = _Draft(exceptions={(a.service, a.name): reason})
            return self._commit(draft, f"{a.service} keeps {a.start}, its standard port: "
                                f"add `exception: {reason}` to {a.service}.{a.name} "
                                f"({self.ledger.path}:{a.span.line})")
        moved = [p for p in self.entries_of(a.service)
                 if overlap.collide(p.binding(), a.binding())]
        if any(_entry_key(p) in self.by_entry for p in moved):
            return Plan(f"manual: {a.service}.{a.name} belongs in {s.category}; another "
                        "plan already changes its compose entries")
        draft = _Draft()
        why = f"{a.service}.{a.name} belongs in {s.category}"
        part = self._draft_allocation_move(draft, a, moved)
        if part is None:
            return Plan(f"manual: {why}; no free port in {s.category} for "
                        f"{a.service}.{a.name}" if a.start == a.end else
                        f"manual: {why}; {a.service}.{a.name} is a range, move it by hand")
        return self._commit(draft, f"{why}; {part}")

    # -- 3. another port than the ledger's -----------------------------------------------
    def _mismatch(self, p: Any, mine: Allocation) -> Plan:
        port = self._port_of(mine)
        label = str(port) if mine.start == mine.end else mine.label
        why = f"the ledger gives {mine.service}.{mine.name} {label}"
        service = self.ledger.services.get(mine.service)
        if service is not None and self._may_take(p, mine):
            spec = f"{port}:{p.target}"
            if self.compose_edit(p, port) is None:
                self._claims.append((p, port))
                return Plan(f"manual: {why}: publish {label} in {p.file}:{p.line} "
                            f"({_why_manual(p)})")
            draft = _Draft(compose=[(p, port)])
            return self._commit(draft, f"{why}: edit {p.file}:{p.line} to \"{spec}\"")
        if mine.start != mine.end or p.start != p.end:
            return Plan(f"manual: {why}: publish {mine.label} in {p.file}:{p.line} "
                        f"({_why_manual(p)})")
        # The project already publishes the ledger's port: this one is another port of
        # the service (an override adding one), recorded, not merged into the first.
        return self._record([p], extra_of=mine)[_entry_key(p)]

    # -- 4. unmapped ports ----------------------------------------------------------------
    def _category_for(self, entries: list[Any]) -> str | None:
        """A new service's category: the range (not reserved) holding most of its
        ports, the lowest port's on a tie; else the range holding the lowest port."""
        counts: dict[str, int] = defaultdict(int)
        lowest: dict[str, int] = {}
        for p in entries:
            r = self.ledger.range_of(p.start)
            if r is not None and not r.reserved:
                counts[r.name] += 1
                lowest[r.name] = min(lowest.get(r.name, p.start), p.start)
        if counts:
            return min(counts, key=lambda n: (-counts[n], lowest[n], n))
        for p in sorted(entries, key=lambda p: p.start):
            r = self.ledger.range_of(p.start)
            if r is not None:
                return r.name
        usable = sorted((r.start, r.name) for r in self.ledger.ranges.values()
                        if not r.reserved)
        return usable[0][1] if usable else None

    def _exception_for(self, p: Any, category: str, names: list[str]) -> str | None:
        """Why ``p``'s port may stand in the ledger only with an ``exception`` (None:
        it needs none)."""
        reasons = []
        r = self.ledger.ranges.get(category)
        if r is not None and not r.start <= p.start <= r.end:
            reasons.append(f"outside {category} {r.start}-{r.end}")
        for other in self.ledger.ranges.values():
            if other.reserved and other.start <= p.start <= other.end:
                reasons.append(f"in the reserved range {other.name}")
        if p.start < 1024:
            reasons.append("a system port")
        registered = wellknown.owner(p.start, p.protocol, self.ledger.well_known)
        if registered and not wellknown.belongs_to(registered, names):
            reasons.append(f"registered to {registered[0]}")
        if not reasons:
            return None
        return (f"published in {p.file}:{p.line} before the ledger had it; "
                f"{', '.join(reasons)}")

    def _new_category(self, owner: str) -> str | None:
        """The category of a service this run adds (the same for every plan)."""
        if owner in self.changes.new_services:
            return self.changes.new_services[owner][0]
        return self._category_for(self.entries_of(owner))

    def _record(self, entries: list[Any],
                extra_of: Allocation | None = None) -> dict[tuple[str, int, int], Plan]:
        """Record (or, with ``--fix-strategy move``, move) the unmapped ports of one
        owner's compose entries: the plan of each entry, one per port."""
        p0 = entries[0]
        service = self.ledger.service_for_compose_name(p0.compose_service)
        if service is not None:
            owner, new_category = service.name, None
            category: str | None = service.category
            names = [service.name, *service.compose]
        else:
            owner = p0.compose_service
            category = new_category = self._new_category(owner)
            names = [owner]
        plans: dict[tuple[str, int, int], Plan] = {}
        if category is None:
            plan = Plan(f"manual: {self.ledger.path} has no range to put {owner} in")
            return {_entry_key(p): plan for p in entries}
        # One port of one service in several files or on several addresses is one entry
        # (on every address when any publishes it there: two colliding entries of one
        # service would be a PL104).
        wide = {(p.protocol, p.start) for p in entries if self._address(p) is None}
        same: dict[tuple[str, int, str | None], list[Any]] = defaultdict(list)
        for p in entries:
            address = None if (p.protocol, p.start) in wide else self._address(p)
            same[(p.protocol, p.start, address)].append(p)
        for (protocol, port, address), group in sorted(
                same.items(), key=lambda kv: (_entry_key(kv[1][0]), kv[0][0], kv[0][1])):
            p = group[0]
            contest = self._contested.get((protocol, port))
            if p.start != p.end:
                plan = Plan(f"manual: add {owner} {p.label}/{p.protocol} to the ledger as "
                            "a range")
            elif contest is not None and (contest[0].manual or owner not in contest[1]):
                plan = Plan(f"manual: {port}/{protocol} is contested; resolve it first "
                            f"({contest[0].summary.removeprefix('manual: ')})")
            else:
                plan = self._record_one(group, owner, category, new_category, names,
                                        address, extra_of)
            for q in group:
                plans[_entry_key(q)] = plan
        return plans

    def _record_one(self, group: list[Any], owner: str, category: str,
                    new_category: str | None, names: list[str], address: str | None,
                    extra_of: Allocation | None) -> Plan:
        """The plan recording (or moving) one port that ``group`` publishes."""
        p = group[0]
        protocol, port = p.protocol, p.start
        for (o, proto, at, where), plan in self._recorded.items():
            if (o, proto) == (owner, protocol) and overlap.collide(
                    (at, at, proto, where), (port, port, protocol, address)):
                return plan  # recorded once for the service, by the plan of its first file
        plan = self._record_new(group, owner, category, new_category, names, address,
                                extra_of)
        self._recorded[(owner, protocol, port, address)] = plan
        return plan

    def _record_new(self, group: list[Any], owner: str, category: str,
                    new_category: str | None, names: list[str], address: str | None,
                    extra_of: Allocation | None) -> Plan:
        p = group[0]
        protocol, port = p.protocol, p.start
        draft = _Draft()
        name = self._port_name(owner, protocol, p.target, draft.added)
        why = self._exception_for(p, category, names)
        r = self.ledger.ranges.get(category)
        misplaced = why is not None or r is None or not r.start <= port <= r.end
        if self.strategy == "move" and misplaced and all(
                self.compose_edit(q, port) is not None for q in group):
            new_port = self._free(owner, category, protocol)
            if new_port is not None:
                entry = NewPort(name, new_port, p.target, protocol, address)
                draft.added.append((owner, new_category, entry))
                draft.compose += [(q, new_port) for q in group]
                where = ", ".join(f"{q.file}:{q.line}" for q in group)
                return self._commit(draft, f"{p.compose_service} moves to {new_port} (the "
                                    f"next free port in {category}): edit {where} to "
                                    f"\"{new_port}:{p.target}\" and record it as "
                                    f"{owner}.{entry.name}")
        entry = NewPort(name, port, p.target, protocol, address, why,
                        hosts=_record_hosts(self.ledger, group, owner))
        draft.added.append((owner, new_category, entry))
        self.allocator.take(protocol, port)
        where = f"service {owner} (category {category})" if new_category \
            else f"{owner}.ports"
        head = ""
        if extra_of is not None:
            head = (f"{p.compose_service} publishes {self._port_of(extra_of)} already; "
                    f"{port} is another port: ")
        return self._commit(draft, f"{head}add {entry.text()} to {where} in "
                            f"{self.ledger.path}")

    # -- 5. quoting -----------------------------------------------------------------------
    def _quote(self, f: Finding, raw: str) -> Plan:
        src = self.source(f.file)
        if f.end_line is None or f.end_column is None:
            return Plan(f'manual: quote it: "{raw}"')
        old = src.slice(f.line, f.column, f.end_line, f.end_column)
        if old != raw:
            return Plan(f'manual: quote it: "{raw}"')
        return Plan(f'quote it: "{raw}"',
                    (Edit(f.file, f.line, f.column, f.end_line, f.end_column, f'"{raw}"'),))

    # -- every finding --------------------------------------------------------------------
    def plan_all(self, findings: Sequence[Finding]) -> list[Plan | None]:
        """The plan of each finding (None: no plan), decided in the order above."""
        plans: list[Plan | None] = [None] * len(findings)
        todo = [i for i, f in enumerate(findings) if f.code in FIXABLE and f.context]
        # 1. Contested ports, by protocol and port.
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for i in todo:
            f = findings[i]
            if f.code in _CONTESTED:
                port_of = f.context[1] if f.code == "PL104" else f.context[0]
                groups[(port_of.protocol, port_of.start)].append(i)
        later: list[int] = []
        # The ledger's own conflicts first: where an allocation moves decides where the
        # compose entries of its service move.
        ledger_first = {key for key, members in groups.items()
                        if any(findings[i].code == "PL104" for i in members)}
        for key in sorted(groups, key=lambda k: (k not in ledger_first, k)):
            decided = self._safe(lambda key=key: self._contest(*key))
            if decided is None:
                del self._contested[key]
                later += groups[key]
                continue
            self._contested[key] = (decided, self._contested.get(key, (decided, []))[1])
            for i in groups[key]:
                plans[i] = decided
        # 2. Misplaced ledger ports, in ledger order.
        placements = sorted((i for i in todo if findings[i].code in ("PL105", "PL106", "PL107")),
                            key=lambda i: (findings[i].context[0].order, i))
        for i in placements:
            a = findings[i].context[0]
            name = (a.service, a.name)
            if name not in self.by_alloc:
                self.by_alloc[name] = self._safe(lambda a=a: self._placement(a))
            plans[i] = self.by_alloc[name]
        # 3. and 4. Compose entries, in file order; unmapped ones by owner.
        unmapped: dict[str, list[int]] = defaultdict(list)
        for i in sorted((i for i in todo if findings[i].code in ("PL203", "PL201")),
                        key=lambda i: (_entry_key(findings[i].context[0]), i)):
            f = findings[i]
            p = f.context[0]
            if _entry_key(p) in self.by_entry:
                plans[i] = self.by_entry[_entry_key(p)]
            elif f.code == "PL203":
                plan = self._safe(lambda p=p, mine=f.context[1]: self._mismatch(p, mine))
                self.by_entry[_entry_key(p)] = plans[i] = plan
            else:
                unmapped[self.owner(p)].append(i)
        for owner in sorted(unmapped):
            indices = unmapped[owner]
            entries = [findings[i].context[0] for i in indices]
            recorded = self._safe(lambda entries=entries: self._record(entries))
            for i in indices:
                place = _entry_key(findings[i].context[0])
                plans[i] = self.by_entry[place] = (
                    recorded[place] if isinstance(recorded, dict) else recorded)
        for i in later:  # PL204 between compose services that become one ledger service
            if findings[i].code == "PL104":
                continue  # a ledger conflict no decision settled (a range): manual
            plans[i] = self.by_entry.get(_entry_key(findings[i].context[0]))
        # 5. Quoting: an entry that moves is quoted by its move.
        for i in todo:
            f = findings[i]
            if f.code == "PL207":
                moved = next((plan for plan in self.by_entry.values() if plan.edits and any(
                    e.file == f.file and e.line == f.line and e.column == f.column
                    for e in plan.edits)), None)
                plans[i] = moved or self._safe(lambda f=f: self._quote(f, f.context[0]))
        return self._finish(plans)

    def _safe(self, make: Any) -> Any:
        try:
            plan: Plan | None = make()
        except (OSError, yamlio.YamlError, Unwritable) as e:
            return Plan(f"manual: the files could not be read to plan a fix ({e})")
        return plan

    def _finish(self, plans: list[Plan | None]) -> list[Plan | None]:
        """Every plan that changes the ledger gets the one edit of all its changes."""
        if not any(p is not None and p.ledger for p in plans):
            return plans
        edit = self._changes_edit(self.changes) if self.changes else None
        done: dict[int, Plan | None] = {}
        out: list[Plan | None] = []
        for plan in plans:
            if plan is None or not plan.ledger:
                out.append(plan)
                continue
            if id(plan) not in done:
                done[id(plan)] = (replace(plan, edits=(*plan.edits, edit)) if edit is not None
                                  else Plan(f"manual: {plan.summary} ({self.ledger.path} "
                                            "cannot be edited safely)"))
            out.append(done[id(plan)])
        return out


def attach(findings: Sequence[Finding], ledger: Ledger | None,
           published: Sequence[Any], strategy: str = "record") -> list[Finding]:
    """The findings with their resolution plans (``fix`` and ``edits``) filled in."""
    if ledger is None:
        return list(findings)
    planner = Planner(ledger, published, strategy)
    plans = planner.plan_all(findings)
    out = []
    for f, plan in zip(findings, plans, strict=True):
        if plan is None:
            out.append(f)
        else:
            out.append(replace(f, fix=plan.summary, edits=_stamped(planner, plan.edits)))
    return out


def _stamped(planner: Planner, edits: tuple[Edit, ...]) -> tuple[Edit, ...]:
    """The edits, each carrying the digest of the bytes it was planned on (the writer
    refuses them on any other bytes)."""
    return tuple(replace(e, digest=planner.sources[e.file].digest)
                 if e.file in planner.sources and not e.digest else e for e in edits)
