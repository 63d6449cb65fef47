"""Resolution plans for findings (``check --fix``/``--diff``).

A plan says who keeps a contested port and where the other moves, by the policy of
:mod:`portledger.ledger.allocation`; where it can, it carries the exact text edits
(:mod:`portledger.fixes.edits`).

What is never edited: a port given through a variable (``${PORT:-8000}``), a port range,
a flow-style or empty ``services:`` of the ledger. Those plans are marked manual.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from portledger import yamlio
from portledger.compose.rules import taken_by
from portledger.findings import Edit, Finding
from portledger.fixes.edits import Source, _requote, short_with_host, yaml_scalar
from portledger.ledger import wellknown
from portledger.ledger.allocation import Allocator, keeper
from portledger.ledger.model import Allocation, Ledger

FIXABLE = ("PL104", "PL105", "PL106", "PL107", "PL201", "PL202", "PL203", "PL204", "PL207")


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


@dataclass
class Plan:
    summary: str
    edits: tuple[Edit, ...] = ()

    @property
    def manual(self) -> bool:
        return not self.edits


class Planner:
    """Makes one consistent set of plans for the findings of one check.

    Ports it hands out are remembered, so two plans never pick the same free port; a
    compose entry or ledger allocation planned once keeps that plan for every finding
    about it (PL202 and PL204 about one entry agree).
    """

    def __init__(self, ledger: Ledger, published: Sequence[Any]) -> None:
        self.ledger = ledger
        self.published = list(published)
        self._by_owner: dict[tuple[str, str, int], list[Any]] | None = None
        self._allocator: Allocator | None = None
        self.sources: dict[str, Source] = {}
        self.by_entry: dict[tuple[str, int, int], Plan] = {}
        self.by_alloc: dict[tuple[str, str], Plan] = {}
        self.added_services: set[str] = set()

    @property
    def allocator(self) -> Allocator:
        """The free-port finder, made when a plan first needs a free port."""
        if self._allocator is None:
            # The one view of what compose projects publish (check.taken's too).
            self._allocator = Allocator(self.ledger, taken_by(self.published))
        return self._allocator

    def published_by(self, owner: str, protocol: str, start: int) -> list[Any]:
        """The compose entries of ``owner`` publishing ``start``/``protocol`` (indexed on
        first use: a plan per finding must not scan every entry of the repository)."""
        if self._by_owner is None:
            self._by_owner = defaultdict(list)
            for p in self.published:
                self._by_owner[(p.owner, p.protocol, p.start)].append(p)
        return self._by_owner.get((owner, protocol, start), [])

    # -- helpers -----------------------------------------------------------------------
    def source(self, path: str) -> Source:
        if path not in self.sources:
            self.sources[path] = Source.read(path)
        return self.sources[path]

    def _service(self, name: str | None) -> Any:
        return self.ledger.services.get(name) if name else None

    def _category_of(self, service_name: str | None, port: int) -> str | None:
        s = self._service(service_name)
        if s is not None and s.category in self.ledger.ranges:
            return str(s.category)
        r = self.ledger.range_of(port)
        return r.name if r is not None else None

    def _free(self, service_name: str, category: str | None, protocol: str,
              near: int | None = None) -> int | None:
        if category is None:
            return None
        s = self._service(service_name)
        names = [service_name, *(s.compose if s else [])]
        if near is None and s is not None and s.ports:
            near = max(p.end for p in s.ports) + 1
        block = self.allocator.block(category, 1, protocol, names, near)
        return block[0] if block else None

    def compose_edit(self, p: Any, new_port: int) -> Edit | None:
        """The edit that makes compose entry ``p`` publish ``new_port``."""
        if getattr(p, "host_network", False):
            return None  # Docker ignores the entry: no text edit moves the port
        try:
            src = self.source(p.file)
        except OSError:
            return None
        original = src.slice(p.line, p.column, p.end_line, p.end_column)
        if p.start != p.end:
            return None
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
        for name, svc in services.items():
            ports = svc.get("ports") if isinstance(svc, dict) else None
            if not isinstance(ports, list):
                continue
            for i, entry in enumerate(ports):
                span = doc.spans.get(("services", name, "ports", i))
                if span is None or (span.line, span.column) != (p.line, p.column):
                    continue
                if not isinstance(entry, dict) or "published" not in entry:
                    return None
                path = ("services", name, "ports", i, "published")
                vs = doc.spans[path]
                old = src.slice(vs.line, vs.column, vs.end_line, vs.end_column)
                inner = old[1:-1] if old[:1] in ("'", '"') else old
                if not inner.strip().isdigit():
                    return None
                new = f"{old[0]}{new_port}{old[0]}" if old[:1] in ("'", '"') else str(new_port)
                return Edit(p.file, vs.line, vs.column, vs.end_line, vs.end_column, new)
        return None

    def ledger_port_edit(self, a: Allocation, new_port: int) -> Edit | None:
        if a.start != a.end:
            return None
        src = self.source(self.ledger.path)
        sp = a.span
        if src.slice(sp.line, sp.column, sp.end_line, sp.end_column).strip() != str(a.start):
            return None
        return Edit(self.ledger.path, sp.line, sp.column, sp.end_line, sp.end_column,
                    str(new_port))

    def exception_edit(self, a: Allocation, reason: str) -> Edit | None:
        doc = self.ledger.doc
        path = ("services", a.service, "ports", a.name)
        span = doc.spans.get(path)
        key = doc.key_spans.get(path + ("port",))
        if span is None or key is None:
            return None
        src = self.source(self.ledger.path)
        whole = src.slice(span.line, span.column, span.end_line, span.end_column)
        value = yaml_scalar(reason)
        if whole.startswith("{"):
            close = whole.rstrip().rfind("}")
            if close == -1:
                return None
            at = src.offset(span.line, span.column) + close
            line = bisect.bisect_right(src.starts, at)
            col = at - src.starts[line - 1] + 1
            before = whole[:close].rstrip()
            sep = "" if before.endswith(("{", ",")) else ", "
            return Edit(self.ledger.path, line, col, line, col, f"{sep}exception: {value}")
        return self._insert_after(src, a.span.end_line, key.column - 1,
                                  f"exception: {value}")

    def _insert_after(self, src: Source, line: int, indent: int, text: str) -> Edit:
        """An edit inserting ``text`` as new lines after ``line``, indented."""
        body = "".join(" " * indent + t + "\n" for t in text.split("\n"))
        if line < len(src.starts):
            return Edit(src.path, line + 1, 1, line + 1, 1, body)
        last = len(src.starts)  # the last line has no newline: end it first
        col = len(src.text) - src.starts[-1] + 1
        return Edit(src.path, last, col, last, col, "\n" + body)

    def _last_line(self, path: tuple[Any, ...]) -> int | None:
        """The last line a block-style value at ``path`` of the ledger takes."""
        doc = self.ledger.doc
        value = doc._locator.locate(path)
        if value is None:
            return None
        node = value[1]
        while True:
            if getattr(node, "flow_style", False) or not hasattr(node, "value") \
                    or not isinstance(node.value, list) or not node.value:
                end = node.end_mark
                return int(end.line if end.column == 0 and end.line > node.start_mark.line
                           else end.line + 1)
            last = node.value[-1]
            node = last[1] if isinstance(last, tuple) else last

    def add_port_edit(self, service: str, name: str, port: int, target: int | None,
                      protocol: str) -> Edit | None:
        return self.add_ports_edit(service, [(name, port, target, protocol)])

    def add_ports_edit(self, service: str,
                       entries: list[tuple[str, int, int | None, str]]) -> Edit | None:
        """Insert port entries under an existing service's block-style ``ports``."""
        s = self._service(service)
        if s is None or not s.ports:
            return None
        doc = self.ledger.doc
        ports_path = ("services", service, "ports")
        first = doc.key_spans.get(ports_path + (s.ports[0].name,))
        ports_span = doc.spans.get(ports_path)
        last = self._last_line(ports_path)
        src = self.source(self.ledger.path)
        if first is None or ports_span is None or last is None:
            return None
        if src.slice(ports_span.line, ports_span.column, ports_span.line,
                     ports_span.column + 1) == "{":
            return None
        return self._insert_after(src, last, first.column - 1, "\n".join(
            f"{name}: {self._entry(port, target, protocol)}"
            for name, port, target, protocol in entries
        ))

    @staticmethod
    def _entry(port: int, target: int | None, protocol: str) -> str:
        parts = [f"port: {port}"]
        if target is not None:
            parts.append(f"target: {target}")
        if protocol != "tcp":
            parts.append(f"protocol: {protocol}")
        return "{" + ", ".join(parts) + "}"

    def add_service_edit(self, service: str, category: str, name: str, port: int,
                         target: int | None, protocol: str) -> Edit | None:
        return self.add_service_with_ports_edit(service, category,
                                                [(name, port, target, protocol)])

    def add_service_with_ports_edit(
        self, service: str, category: str, entries: list[tuple[str, int, int | None, str]]
    ) -> Edit | None:
        """Insert a new service at the end of the ledger's block-style ``services``."""
        doc = self.ledger.doc
        names = list(self.ledger.services)
        src = self.source(self.ledger.path)
        if not names or service in self.added_services:
            return None
        first_key = doc.key_spans.get(("services", names[0]))
        cat_key = doc.key_spans.get(("services", names[0], "category"))
        last = self._last_line(("services",))
        if first_key is None or last is None:
            return None
        services_span = doc.spans.get(("services",))
        if services_span is not None and src.slice(
            services_span.line, services_span.column, services_span.line,
            services_span.column + 1,
        ) == "{":
            return None
        indent = first_key.column - 1
        step = (cat_key.column - first_key.column) if cat_key and \
            cat_key.line != first_key.line else 2
        pad = " " * step
        self.added_services.add(service)
        lines = [f"{service}:", f"{pad}category: {category}", f"{pad}ports:"]
        lines += [f"{pad}{pad}{name}: {self._entry(port, target, protocol)}"
                  for name, port, target, protocol in entries]
        return self._insert_after(src, last, indent, "\n".join(lines))

    # -- plans by finding ---------------------------------------------------------------
    def plan(self, f: Finding) -> Plan | None:
        handler = getattr(self, f"_plan_{f.code.lower()}", None)
        if handler is None or not f.context:
            return None
        result: Plan | None = handler(f, *f.context)
        return result

    def _move_binding(self, p: Any, why: str) -> Plan:
        """Plan: compose entry ``p`` moves to its own ledger port, or to a free one."""
        key = (p.file, p.line, p.column)
        if key in self.by_entry:
            return self.by_entry[key]
        service = self.ledger.service_for_compose_name(p.compose_service)
        if service is not None:
            own = next((a for a in service.ports if a.protocol == p.protocol
                        and a.start <= p.start <= a.end), None)
            if own is not None:
                # It publishes its own ledger port, which is contested: move the
                # allocation, and this entry with it.
                return self._move_allocation(own, why)
        mine = None
        if service is not None:
            mine = next(
                (a for a in service.ports if a.protocol == p.protocol and a.start == a.end
                 and a.target in (p.target, None) and a.start != p.start),
                None,
            )
        edits: list[Edit] = []
        if mine is not None:
            new_port = mine.start
            where = f"its ledger port {mine.service}.{mine.name}"
        else:
            owner = service.name if service else p.compose_service
            found = self._free(owner, self._category_of(service.name if service else None,
                                                        p.start), p.protocol)
            if found is None:
                plan = Plan(f"manual: {why}; no free port in its range to move "
                            f"{p.compose_service} to")
                self.by_entry[key] = plan
                return plan
            new_port = found
            where = "the next free port in its range"
            if service is not None:
                name = f"{p.protocol}-{p.target}"
                add = self.add_port_edit(service.name, name, new_port, p.target, p.protocol)
                if add is not None:
                    edits.append(add)
        edit = self.compose_edit(p, new_port)
        spec = f"{new_port}:{p.target}"
        if edit is None:
            plan = Plan(f"manual: {why}; publish {p.compose_service} on {new_port} ({where}) "
                        f"in {p.file}:{p.line} ({_why_manual(p)})")
        else:
            edits.insert(0, edit)
            extra = f" and add it to {self.ledger.path}" if len(edits) > 1 else ""
            plan = Plan(f"{why}; {p.compose_service} moves to {new_port} ({where}): edit "
                        f"{p.file}:{p.line} to \"{spec}\"{extra}", tuple(edits))
        self.by_entry[key] = plan
        return plan

    def _move_allocation(self, a: Allocation, why: str) -> Plan:
        """Plan: ledger allocation ``a`` moves to a free port of its category, and the
        compose entries of its service that publish it move along."""
        key = (a.service, a.name)
        if key in self.by_alloc:
            return self.by_alloc[key]
        s = self.ledger.services[a.service]
        others = [p.end for p in s.ports if p is not a]
        near = max(others) + 1 if others else None
        new_port = self._free(a.service, s.category if s.category in self.ledger.ranges
                              else None, a.protocol, near)
        if new_port is None or a.start != a.end:
            plan = Plan(f"manual: {why}; no free port in {s.category} for "
                        f"{a.service}.{a.name}" if new_port is None else
                        f"manual: {why}; {a.service}.{a.name} is a range, move it by hand")
            self.by_alloc[key] = plan
            return plan
        edits = []
        ledger_edit = self.ledger_port_edit(a, new_port)
        if ledger_edit is not None:
            edits.append(ledger_edit)
        places = [f"{self.ledger.path}:{a.span.line} port: {new_port}"]
        for p in self.published_by(a.service, a.protocol, a.start):
            e = self.compose_edit(p, new_port)
            if e is None:
                plan = Plan(f"manual: {why}; move {a.service}.{a.name} to {new_port} "
                            f"(and {p.file}:{p.line}, which cannot be edited safely)")
                self.by_alloc[key] = plan
                return plan
            edits.append(e)
            places.append(f"{p.file}:{p.line} \"{new_port}:{p.target}\"")
        plan = Plan(f"{why}; {a.service}.{a.name} moves to {new_port} (next free in "
                    f"{s.category}): edit {', '.join(places)}", tuple(edits))
        self.by_alloc[key] = plan
        # Every finding about these entries shares the plan.
        for p in self.published_by(a.service, a.protocol, a.start):
            self.by_entry[(p.file, p.line, p.column)] = plan
        return plan

    def _plan_pl104(self, f: Finding, first: Allocation, second: Allocation) -> Plan:
        if first.service == second.service:
            win, lose, reason = first.service, second.service, "one service, two entries"
            mover = second
        else:
            win, lose, reason = keeper(self._service(first.service),
                                       self._service(second.service),
                                       first.service, second.service)
            mover = second if lose == second.service else first
        return self._move_allocation(mover, f"{win} keeps {mover.label} ({reason})")

    def _placement(self, a: Allocation) -> Plan:
        key = (a.service, a.name)
        if key in self.by_alloc:
            return self.by_alloc[key]
        s = self.ledger.services[a.service]
        registered = wellknown.owner(a.start, a.protocol) if a.start == a.end else None
        if registered and wellknown.belongs_to(registered, [s.name, *s.compose]):
            reason = f"standard {registered[0]} port"
            edit = self.exception_edit(a, reason)
            summary = (f"{a.service} keeps {a.start}, its standard port: add "
                       f"`exception: {reason}` to {a.service}.{a.name} "
                       f"({self.ledger.path}:{a.span.line})")
            plan = Plan(summary if edit else f"manual: {summary}",
                        (edit,) if edit else ())
            self.by_alloc[key] = plan
            return plan
        return self._move_allocation(a, f"{a.service}.{a.name} belongs in {s.category}")

    def _plan_pl105(self, f: Finding, a: Allocation) -> Plan:
        return self._placement(a)

    _plan_pl106 = _plan_pl105
    _plan_pl107 = _plan_pl105

    def _plan_pl201(self, f: Finding, p: Any) -> Plan:
        key = (p.file, p.line, p.column)
        if key in self.by_entry:
            return self.by_entry[key]
        service = self.ledger.service_for_compose_name(p.compose_service)
        name = f"{p.protocol}-{p.target}"
        from portledger.ledger.allocation import refusal

        owner = service.name if service else p.compose_service
        category = self._category_of(service.name if service else None, p.start)
        why = refusal(self.ledger, p.start, p.protocol, [owner], category) \
            if category else "no range holds it"
        if p.start != p.end:
            plan = Plan(f"manual: add {owner} {p.label}/{p.protocol} to the ledger as a range")
        elif why is not None and why != "published by a compose service":
            plan = self._move_binding(p, f"{p.start} cannot be {owner}'s ({why})")
            return plan
        elif service is not None:
            edit = self.add_port_edit(service.name, name, p.start, p.target, p.protocol)
            summary = (f"add {name}: {self._entry(p.start, p.target, p.protocol)} to "
                       f"{service.name}.ports in {self.ledger.path}")
            plan = Plan(summary if edit else f"manual: {summary}", (edit,) if edit else ())
        else:
            edit = self.add_service_edit(p.compose_service, category or "", name, p.start,
                                         p.target, p.protocol)
            summary = (f"add service {p.compose_service} (category {category}) with {name}: "
                       f"{self._entry(p.start, p.target, p.protocol)} to {self.ledger.path}")
            plan = Plan(summary if edit else f"manual: {summary}", (edit,) if edit else ())
        if plan.edits:
            self.allocator.take(p.protocol, p.start)
        self.by_entry[key] = plan
        return plan

    def _plan_pl202(self, f: Finding, p: Any, other: Allocation) -> Plan:
        service = self.ledger.service_for_compose_name(p.compose_service)
        mine = service.name if service else p.compose_service
        win, lose, reason = keeper(service, self._service(other.service), mine,
                                   other.service)
        own = None if service is None else next(
            (a for a in service.ports if a.protocol == p.protocol and a.start <= p.start <= a.end),
            None,
        )
        if own is not None:
            # Both own the port in the ledger (PL104): the loser's allocation moves, and
            # its compose entries with it, as the PL104 plan says.
            mover = own if lose == mine else other
            return self._move_allocation(mover, f"{win} keeps {p.start} ({reason})")
        has_own_port = service is not None and any(
            a.protocol == p.protocol and a.target in (p.target, None) for a in service.ports
        )
        if lose == mine or has_own_port:
            # The ledger is the source of truth for a service it already places.
            if lose != mine:
                win, reason = other.service, f"the ledger gives it to {other.service}"
            return self._move_binding(p, f"{win} keeps {p.start} ({reason})")
        return self._move_allocation(other, f"{win} keeps {p.start} ({reason})")

    def _plan_pl203(self, f: Finding, p: Any, mine: Allocation) -> Plan:
        key = (p.file, p.line, p.column)
        if key in self.by_entry:
            return self.by_entry[key]
        why = f"the ledger gives {mine.service}.{mine.name} {mine.label}"
        edit = self.compose_edit(p, mine.start) if mine.start == mine.end else None
        spec = f"{mine.start}:{p.target}"
        plan = (Plan(f"{why}: edit {p.file}:{p.line} to \"{spec}\"", (edit,)) if edit
                else Plan(f"manual: {why}: publish {mine.label} in {p.file}:{p.line} "
                          f"({_why_manual(p)})"))
        self.by_entry[key] = plan
        return plan

    def _plan_pl204(self, f: Finding, p: Any, first: Any) -> Plan:
        sp = self.ledger.service_for_compose_name(p.compose_service)
        sf = self.ledger.service_for_compose_name(first.compose_service)
        win, lose, reason = keeper(sp, sf, p.owner, first.owner)
        mover = p if lose == p.owner else first
        win_name = first.compose_service if mover is p else p.compose_service
        return self._move_binding(mover, f"{win_name} keeps {p.start} ({reason})")

    def _plan_pl207(self, f: Finding, raw: str) -> Plan:
        src = self.source(f.file)
        if f.end_line is None or f.end_column is None:
            return Plan(f'manual: quote it: "{raw}"')
        old = src.slice(f.line, f.column, f.end_line, f.end_column)
        if old != raw:
            return Plan(f'manual: quote it: "{raw}"')
        return Plan(f'quote it: "{raw}"',
                    (Edit(f.file, f.line, f.column, f.end_line, f.end_column, f'"{raw}"'),))


def attach(findings: Sequence[Finding], ledger: Ledger | None,
           published: Sequence[Any]) -> list[Finding]:
    """The findings with their resolution plans (``fix`` and ``edits``) filled in.

    Ledger findings are planned first: when a contested allocation moves, the compose
    entries that publish it move with it, and their own findings share that plan.
    """
    if ledger is None:
        return list(findings)
    planner = Planner(ledger, published)
    plans: dict[int, Plan | None] = {}
    ordered = sorted(range(len(findings)), key=lambda i: (findings[i].code >= "PL2", i))
    for i in ordered:
        f = findings[i]
        try:
            plans[i] = planner.plan(f)
        except (OSError, yamlio.YamlError):
            plans[i] = None
    out = []
    for i, f in enumerate(findings):
        plan = plans[i]
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
