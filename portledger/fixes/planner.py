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
5. **Binds wider than the ledger allows** (PL210): the compose entry is bound to the
   ledger's address (the short syntax's address written, the long syntax's ``host_ip``
   set), never wider; manual when the ledger allows several addresses, or the service
   publishes the port there already (two entries would become one).
6. **YAML 1.1 ports** (PL207) are quoted (a moved or bound entry is quoted by its edit).

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

Decision 1 is made in :mod:`.contested`; the planner's state and edits are in
:mod:`.planning` (:class:`Planner` builds on both).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from portledger.findings import Edit, Finding
from portledger.fixes.contested import _Contests
from portledger.fixes.ledger_text import NewPort
from portledger.fixes.planning import (
    _CONTESTED,
    Plan,
    _Draft,
    _entry_key,
    _record_hosts,
    _why_manual,
    short_with_ip,
)
from portledger.ledger import overlap, wellknown
from portledger.ledger.model import Allocation, Ledger

FIXABLE = ("PL104", "PL105", "PL106", "PL107", "PL201", "PL202", "PL203", "PL204", "PL207",
           "PL210")
STRATEGIES = ("record", "move")
"""``--fix-strategy``: record an unmapped port where it is (the default), or move it
into its category's range."""


class Planner(_Contests):
    """Makes one consistent set of plans for the findings of one check (:meth:`plan_all`).

    Ports it hands out are remembered, so two plans never pick the same free port; a
    compose entry or ledger allocation is planned once, and every finding about it
    carries that plan.
    """

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

    def _record(self, entries: list[Any], extra_of: Allocation | None = None,
                grown_from: Allocation | None = None) -> dict[tuple[str, int, int], Plan]:
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
                                        address, extra_of, grown_from)
            for q in group:
                plans[_entry_key(q)] = plan
        return plans

    def _record_one(self, group: list[Any], owner: str, category: str,
                    new_category: str | None, names: list[str], address: str | None,
                    extra_of: Allocation | None, grown_from: Allocation | None) -> Plan:
        """The plan recording (or moving) one port that ``group`` publishes."""
        p = group[0]
        protocol, port = p.protocol, p.start
        for (o, proto, at, where), plan in list(self._recorded.items()):
            if (o, proto) == (owner, protocol) and overlap.collide(
                    (at, at, proto, where), (port, port, protocol, address)):
                if where is not None and address is None:
                    # Published on every address too: recorded there (else the next
                    # check finds this entry wider than the ledger allows, PL210).
                    self._widen_record(owner, protocol, at, where, plan)
                return plan  # recorded once for the service, by the plan of its first file
        plan = self._record_new(group, owner, category, new_category, names, address,
                                extra_of, grown_from)
        self._recorded[(owner, protocol, port, address)] = plan
        return plan

    def _widen_record(self, owner: str, protocol: str, port: int, where: str,
                      plan: Plan) -> None:
        """The port this run records for ``owner`` on ``where`` recorded on every
        address instead (its plan's words with it)."""
        planned = self.changes.added.get(owner) or \
            self.changes.new_services.get(owner, ("", []))[1]
        for i, new in enumerate(planned):
            if (new.port, new.protocol, new.host_ip) == (port, protocol, where):
                wide = replace(new, host_ip=None)
                planned[i] = wide
                plan.summary = plan.summary.replace(new.text(), wide.text())
        del self._recorded[(owner, protocol, port, where)]
        self._recorded[(owner, protocol, port, None)] = plan

    def _record_new(self, group: list[Any], owner: str, category: str,
                    new_category: str | None, names: list[str], address: str | None,
                    extra_of: Allocation | None, grown_from: Allocation | None) -> Plan:
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
            theirs = self._port_of(extra_of)
            claim = next((q for q, at in (*self._onto, *self._claims)
                          if at == theirs and self.owner(q) == owner), None)
            who = f"{p.compose_service} publishes {theirs} already" if claim is None else \
                f"{claim.file}:{claim.line} is to publish {theirs}"
            head = f"{who}; {port} is another port of {owner}: "
        elif grown_from is not None:
            head = (f"{port} is not {grown_from.service}.{grown_from.name} "
                    f"({self._port_of(grown_from)}, no container port) once {owner} has "
                    "more ports: ")
        return self._commit(draft, f"{head}add {entry.text()} to {where} in "
                            f"{self.ledger.path}")

    def _regrown(self, findings: Sequence[Finding], plans: list[Plan | None]) -> None:
        """Record the ports of manual PL203 plans that the ledger as this run leaves it
        judges unmapped (PL201), so that one run converges: an entry matched to its
        service's only ledger port, which has no container port (``target``), is
        another port of the service once the run adds a port to it, unless one of its
        ports then has the entry's container port. Recording may grow a service again,
        so until nothing changes (each entry re-planned once: its record may be manual
        too)."""
        tried: set[int] = set()
        while True:
            grown = []
            for i, f in enumerate(findings):
                plan = plans[i]
                if f.code != "PL203" or not f.context or plan is None or not plan.manual \
                        or i in tried:
                    continue
                p, mine = f.context[0], f.context[1]
                service = self.ledger.services.get(mine.service)
                if service is None or p.start != p.end:
                    continue
                ports = [(a.protocol, a.target) for a in service.ports] + [
                    (n.protocol, n.target) for n in self.changes.added.get(service.name, [])]
                if len(ports) > 1 and (p.protocol, p.target) not in ports:
                    grown.append(i)
            if not grown:
                return
            for i in grown:
                tried.add(i)
                p, mine = findings[i].context[0], findings[i].context[1]
                plan = self._safe(lambda p=p, mine=mine: self._record(
                    [p], grown_from=mine)[_entry_key(p)])
                plans[i] = self.by_entry[_entry_key(p)] = plan

    # -- 4b. a bind wider than the ledger allows ------------------------------------------
    def _narrow(self, p: Any, mine: Allocation) -> Plan:
        """Bind compose entry ``p`` to its ledger port's address alone: never wider, and
        never onto a binding its service already publishes there (two entries would be
        one)."""
        key = _entry_key(p)
        if key in self.by_entry:
            return Plan(f"manual: bind {p.file}:{p.line} to {mine.host_ip} once the plan "
                        "that edits it is made")
        ips = sorted({str(a.host_ip) for port in range(p.start, p.end + 1)
                      for a in self.ledger.holders(p.protocol, port)
                      if a.service == mine.service and a.host_ip is not None})
        why = f"the ledger allows {mine.service}.{mine.name} only on {' and '.join(ips)}"
        if len(ips) != 1:
            return Plan(f"manual: {why}: publish one entry per address in {p.file}:{p.line}")
        ip = ips[0]
        twin = next((q for q in self.entries_of(self.owner(p)) if q is not p
                     and q.project == p.project and q.protocol == p.protocol
                     and q.host_ip == ip and q.start <= p.end and p.start <= q.end), None)
        if twin is not None:
            return Plan(f"manual: {why}; {twin.file}:{twin.line} publishes it there already: "
                        f"remove {p.file}:{p.line}, or bind it by hand")
        edit = self.bind_edit(p, ip)
        if edit is None:
            return Plan(f"manual: {why}: bind {p.file}:{p.line} to {ip} ({_why_manual(p)})")
        shown = f'"{short_with_ip(p.raw, ip)}"' if p.raw is not None else \
            f"host_ip: {ip}"
        plan = Plan(f"bind it to the ledger's address: {shown} in {p.file}:{p.line}", (edit,))
        self.by_entry[key] = plan
        return plan

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
        self._pending = set(ledger_first)
        for key in sorted(groups, key=lambda k: (k not in ledger_first, k)):
            self._decide(key)
        for key in sorted(groups):
            decided = self._decided[key]
            if decided is None:
                later += groups[key]
                continue
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
        # 3. and 4. Compose entries, in file order; unmapped ones by owner. An entry
        # that cannot be edited (a variable) comes after those that can: they may take
        # the ledger's port, and it is then another port of the service, recorded (were
        # it first, it would claim the port for an edit no one makes, the others would
        # be recorded, and the next check would judge it against the grown service).
        unmapped: dict[str, list[int]] = defaultdict(list)
        for i in sorted((i for i in todo if findings[i].code in ("PL203", "PL201")),
                        key=lambda i: (findings[i].code == "PL203" and self.compose_edit(
                            findings[i].context[0], findings[i].context[0].start) is None,
                            _entry_key(findings[i].context[0]), i)):
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
        self._regrown(findings, plans)
        # 4b. Binds wider than the ledger allows (PL210), in file order.
        for i in sorted((i for i in todo if findings[i].code == "PL210"),
                        key=lambda i: (_entry_key(findings[i].context[0]), i)):
            p, mine = findings[i].context[0], findings[i].context[1]
            plans[i] = self._safe(lambda p=p, mine=mine: self._narrow(p, mine))
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
           published: Sequence[Any], strategy: str = "record",
           consulted: set[str] | None = None) -> list[Finding]:
    """The findings with their resolution plans (``fix`` and ``edits``) filled in; the
    files whose text the plans were made on are added to ``consulted``."""
    if ledger is None:
        return list(findings)
    planner = Planner(ledger, published, strategy)
    plans = planner.plan_all(findings)
    if consulted is not None:
        consulted |= planner.consulted
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
