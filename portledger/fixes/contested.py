"""Decision 1 of the planner (:mod:`portledger.fixes.planner`): contested ports, who keeps
a port and how every other owner moves."""

from __future__ import annotations

from typing import Any

from portledger.fixes.ledger_text import NewPort
from portledger.fixes.planning import (
    _EVERY_ADDRESS,
    Plan,
    _Draft,
    _entry_key,
    _PlannerBase,
    _why_manual,
)
from portledger.ledger import overlap
from portledger.ledger.allocation import keeper, rank
from portledger.ledger.model import Allocation, Service


class _Contests(_PlannerBase):
    """Contested ports (PL104, PL202, PL204): the keeper of each, the moves of the others."""

    # -- 1. contested ports ---------------------------------------------------------------
    def _decide(self, key: tuple[str, int]) -> Plan | None:
        """Decide the group of ``key`` (protocol, port) once: its plan (None: nothing
        to decide), kept in ``_decided``."""
        if key in self._decided:
            return self._decided[key]
        self._pending.discard(key)
        self._decided[key] = None  # deciding it (a cycle of dependencies stops here)
        decided = self._safe(lambda: self._contest(*key))
        self._decided[key] = decided
        if decided is None:
            self._contested.pop(key, None)
        else:
            self._contested[key] = (decided, self._contested.get(key, (decided, []))[1])
        return decided

    def _settle_ledger_ports(self, owners: list[str]) -> None:
        """Decide first the ledger's own conflicts (PL104) on the ledger ports of
        ``owners``: a compose entry moving onto its service's ledger port must move to
        where that port ends up, not where it was (a later decision moving it away)."""
        for owner in owners:
            service = self._service(owner)
            for a in service.ports if service is not None else ():
                key = (a.protocol, a.start)
                if key in self._pending:
                    self._decide(key)

    def _contest(self, protocol: str, port: int) -> Plan | None:
        """Decide who keeps ``port``/``protocol``; the plan of every finding about it."""
        publishing = self.publishing(protocol, port)
        self._settle_ledger_ports(sorted({self.owner(p) for p in publishing}))
        # Whatever an earlier plan moves away no longer claims the port.
        leaving = {_entry_key(q) for q, _ in self._onto}
        allocations = [a for a in self.ledger.holders(protocol, port)
                       if (a.service, a.name) not in self.changes.moves]
        entries = [p for p in publishing if _entry_key(p) not in leaving]
        owners: dict[str, dict[str, list[Any]]] = {}
        for a in allocations:
            owners.setdefault(a.service, {"ledger": [], "compose": []})["ledger"].append(a)
        for p in entries:
            owners.setdefault(self.owner(p), {"ledger": [], "compose": []})["compose"].append(p)

        def elsewhere(owner: str) -> bool:
            """An owner with a ledger port of its own for these entries publishes that
            one (the ledger places it): it does not keep this port, it moves there. Not
            an entry that cannot be edited (a variable): it stays, and competes for the
            port by rank (were it left to move by hand, another entry of its service
            could take its ledger port in this run, and the next run would rank it)."""
            service = self._service(owner)
            return not owners[owner]["ledger"] and service is not None and any(
                self._own_port(p, service) is not None
                and self.compose_edit(p, p.start) is not None
                for p in owners[owner]["compose"])

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

