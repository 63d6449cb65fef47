"""What the planner (:mod:`portledger.fixes.planner`) works with: a plan and its draft, and
the planner's state (the one view of what is taken, the compose and ledger edits, making
a draft a plan), which every decision uses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from portledger import yamlio
from portledger.compose.rules import taken_by
from portledger.findings import Edit
from portledger.fixes import ledger_text
from portledger.fixes.edits import Source, _requote, short_with_host
from portledger.fixes.ledger_text import LedgerChanges, NewPort, Unwritable
from portledger.ledger.allocation import Allocator
from portledger.ledger.model import Ledger, Service

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


def short_with_ip(raw: str, ip: str) -> str | None:
    """A short-syntax port bound to ``ip`` alone (``"8090:80"`` -> ``"127.0.0.1:8090:80"``,
    ``"[::]:8090:80"`` -> ``"[::1]:8090:80"``), or None when that is unsafe (a variable,
    no host port)."""
    if "$" in raw:
        return None
    body, slash, proto = raw.partition("/")
    left, colon, container = body.rpartition(":")
    if not colon:
        return None
    _, _, host = left.rpartition(":") if not left.endswith("]") else ("", "", "")
    if not host or not host.replace("-", "").isdigit():
        return None
    address = f"[{ip}]" if ":" in ip else ip
    return f"{address}:{host}:{container}{slash}{proto}"


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


class _PlannerBase:
    """The state of :class:`portledger.fixes.planner.Planner` and what every decision uses."""

    def __init__(self, ledger: Ledger, published: Sequence[Any],
                 strategy: str = "record") -> None:
        self.ledger = ledger
        self.published = sorted(published, key=lambda p: (p.file, p.line, p.column,
                                                          p.start, p.protocol))
        self.strategy = strategy
        self._allocator: Allocator | None = None
        self.sources: dict[str, Source] = {}
        self.consulted: set[str] = set()
        """Every file whose text a plan was made on (or tried to be: unreadable is an
        answer too); a check's verdict holds only while these are unchanged."""
        self.changes = LedgerChanges()
        self.by_entry: dict[tuple[str, int, int], Plan] = {}
        self.by_alloc: dict[tuple[str, str], Plan] = {}
        self._by_owner: dict[str, list[Any]] | None = None
        self._by_port: tuple[dict[tuple[str, int], list[int]], list[int]] | None = None
        self._onto: list[tuple[Any, int]] = []
        """(compose entry, port) of every move planned so far."""
        self._recorded: dict[tuple[str, str, int, str | None], Plan] = {}
        """(owner, protocol, port, address) -> the plan recording it this run."""
        self._claims: list[tuple[Any, int]] = []
        """(compose entry, port) of each ledger port a manual plan asks an entry to
        publish: no other entry of its project is moved there."""
        self._contested: dict[tuple[str, int], tuple[Plan, list[str]]] = {}
        """(protocol, port) -> the plan of its group and the owners that keep it."""
        self._decided: dict[tuple[str, int], Plan | None] = {}
        """(protocol, port) -> the plan of its contested group, once decided."""
        self._pending: set[tuple[str, int]] = set()
        """The groups of ledger conflicts (PL104) not decided yet."""

    def publishing(self, protocol: str, port: int) -> list[Any]:
        """The compose entries that publish ``port``/``protocol``, in ``published``
        order (an index, made on first use: each contested port scanned all of them)."""
        if self._by_port is None:
            single: dict[tuple[str, int], list[int]] = {}
            ranges: list[int] = []
            for i, p in enumerate(self.published):
                if p.start == p.end:
                    single.setdefault((p.protocol, p.start), []).append(i)
                else:
                    ranges.append(i)
            self._by_port = (single, ranges)
        single, ranges = self._by_port
        found = single.get((protocol, port), [])
        wide = [i for i in ranges if self.published[i].protocol == protocol
                and self.published[i].start <= port <= self.published[i].end]
        return [self.published[i] for i in (sorted(found + wide) if wide else found)]

    def _safe(self, make: Any) -> Any:
        try:
            plan: Plan | None = make()
        except (OSError, yamlio.YamlError, Unwritable) as e:
            return Plan(f"manual: the files could not be read to plan a fix ({e})")
        return plan

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
        self.consulted.add(path)
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
    def _short_edit(self, p: Any, rewrite: Any) -> tuple[Source | None, Edit | None]:
        """(the file of compose entry ``p``, the edit replacing its short-syntax scalar
        by ``rewrite(raw)``, quoted as it was); the source alone for a long-syntax entry;
        (None, None) when the file cannot be read or ``rewrite`` declines (None)."""
        if getattr(p, "host_network", False):
            return None, None
        try:
            src = self.source(p.file)
        except (OSError, yamlio.YamlError):
            return None, None
        if p.raw is None:
            return src, None
        original = src.slice(p.line, p.column, p.end_line, p.end_column)
        inner = original[1:-1] if original[:1] in ("'", '"') else original  # quotes kept
        new = rewrite(p.raw) if inner == p.raw else None
        if new is None:
            return None, None
        return src, Edit(p.file, p.line, p.column, p.end_line, p.end_column,
                         _requote(original, new))

    def compose_edit(self, p: Any, new_port: int) -> Edit | None:
        """The edit that makes compose entry ``p`` publish ``new_port``."""
        if p.start != p.end:
            return None
        src, edit = self._short_edit(p, lambda raw: short_with_host(raw, str(new_port)))
        if src is None or edit is not None:
            return edit
        return self._long_published_edit(p, src, new_port)

    def _long_entry(self, p: Any, src: Source) -> tuple[yamlio.Document, tuple[Any, ...],
                                                        dict[str, Any]] | None:
        """The long-syntax entry ``p`` was read from: (its document, its path, its
        mapping), or None."""
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
                if span is not None and (span.line, span.column) == (p.line, p.column):
                    return (doc, ("services", name, "ports", i), entry) \
                        if isinstance(entry, dict) else None
        return None

    def bind_edit(self, p: Any, ip: str) -> Edit | None:
        """The edit that binds compose entry ``p`` to the address ``ip`` alone (PL210):
        the short syntax's address written or replaced, the long syntax's ``host_ip``
        replaced or added after ``published``; None when that is unsafe (a variable,
        a flow-style entry, a ``network_mode: host`` service)."""
        src, edit = self._short_edit(p, lambda raw: short_with_ip(raw, ip))
        if src is None or edit is not None:
            return edit
        found = self._long_entry(p, src)
        if found is None:
            return None
        doc, path, entry = found
        value = f'"{ip}"' if ":" in ip else ip
        if "host_ip" in entry:
            vs = doc.spans[path + ("host_ip",)]
            old = src.slice(vs.line, vs.column, vs.end_line, vs.end_column)
            if "$" in old or "\n" in old:
                return None
            return Edit(p.file, vs.line, vs.column, vs.end_line, vs.end_column, value)
        key = doc.key_spans.get(path + ("published",))
        value_span = doc.spans.get(path + ("published",))
        if key is None or value_span is None or value_span.end_line != key.line \
                or src.slice(p.line, p.column, p.line, p.column + 1) == "{":
            return None
        return ledger_text.insert_after(src, key.line, key.column - 1, [f"host_ip: {value}"])

    def _long_published_edit(self, p: Any, src: Source, new_port: int) -> Edit | None:
        found = self._long_entry(p, src)
        if found is None:
            return None
        doc, path, entry = found
        if "published" not in entry:
            return None
        vs = doc.spans[path + ("published",)]
        old = src.slice(vs.line, vs.column, vs.end_line, vs.end_column)
        inner = old[1:-1] if old[:1] in ("'", '"') else old
        if not inner.strip().isdigit():
            return None
        new = f"{old[0]}{new_port}{old[0]}" if old[:1] in ("'", '"') else str(new_port)
        return Edit(p.file, vs.line, vs.column, vs.end_line, vs.end_column, new)

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

    # -- a new service's category (4. unmapped ports; 1. moves entries to it too) -------
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

    def _new_category(self, owner: str) -> str | None:
        """The category of a service this run adds (the same for every plan)."""
        if owner in self.changes.new_services:
            return self.changes.new_services[owner][0]
        return self._category_for(self.entries_of(owner))

