"""Changes to the ledger's own text: ports moved, exceptions added, ports and services
added, in any style the ledger is written in.

The planner decides every change first (:class:`LedgerChanges`), then :func:`render`
makes them on the ledger's text in two steps: values replaced and exceptions added on
the text as read, then the additions (a block-style mapping gets lines after its last
one, all of them at once on one reading of the text; a flow-style or empty one,
``services: {}`` or ``ports: {http: {port: 8000}}``, is rewritten in block style, each
existing entry's text kept as written, comments included, one addition at a time on the
text so far, read again). The result is one :class:`Edit` of the lines that
changed, made on the bytes the planner read, so that ``--diff`` and ``--fix`` are the
same change and no two edits of one plan can overlap.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import yaml

from portledger import yamlio
from portledger.findings import Edit
from portledger.fixes.edits import Source, apply_edits, yaml_scalar


@dataclass(frozen=True)
class NewPort:
    """A port entry to add under a service's ``ports``."""

    name: str
    port: int
    target: int | None = None
    protocol: str = "tcp"
    host_ip: str | None = None
    exception: str | None = None
    hosts: tuple[str, ...] = ()
    """The ledger's hosts it is limited to (``allocate --host``)."""

    def text(self) -> str:
        parts = [f"port: {self.port}"]
        if self.target is not None:
            parts.append(f"target: {self.target}")
        if self.protocol != "tcp":
            parts.append(f"protocol: {self.protocol}")
        if self.host_ip:
            parts.append(f"host_ip: {yaml_scalar(self.host_ip)}")
        if self.exception:
            parts.append(f"exception: {yaml_scalar(self.exception)}")
        if self.hosts:
            parts.append(f"hosts: [{', '.join(yaml_scalar(h) for h in self.hosts)}]")
        return f"{self.name}: {{{', '.join(parts)}}}"


@dataclass
class LedgerChanges:
    """Every change one fix makes to the ledger, keyed so that each is made once."""

    moves: dict[tuple[str, str], int] = field(default_factory=dict)
    """(service, port name) -> its new port."""
    exceptions: dict[tuple[str, str], str] = field(default_factory=dict)
    """(service, port name) -> the reason to add as its ``exception``."""
    added: dict[str, list[NewPort]] = field(default_factory=dict)
    """Existing service -> ports to add, in the order planned."""
    new_services: dict[str, tuple[str, list[NewPort]]] = field(default_factory=dict)
    """New service -> (category, ports)."""

    def __bool__(self) -> bool:
        return bool(self.moves or self.exceptions or self.added or self.new_services)

    def names_of(self, service: str) -> set[str]:
        """The port names planned for ``service`` (new ones must differ)."""
        planned = self.added.get(service) or self.new_services.get(service, ("", []))[1]
        return {p.name for p in planned}


class Unwritable(Exception):
    """The change cannot be made safely on this text (the plan becomes manual)."""


def _load(source: Source) -> yamlio.Document:
    return yamlio.load(source.path, data=source.encode(source.text))


def _node(doc: yamlio.Document, path: tuple[Any, ...]) -> tuple[Any, Any]:
    found = doc._locator.locate(path)
    if found is None:
        raise Unwritable(f"no {'.'.join(map(str, path))}")
    return found


def last_line(node: Any) -> int:
    """The last line (1-based) a block-style node takes, comments after it left out."""
    while True:
        if getattr(node, "flow_style", False) or not isinstance(node.value, list) \
                or not node.value:
            end = node.end_mark
            return int(end.line if end.column == 0 and end.line > node.start_mark.line
                       else end.line + 1)
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last


def insert_after(src: Source, line: int, indent: int, lines: list[str]) -> Edit:
    """An edit inserting ``lines`` as new lines after ``line``, indented."""
    body = "".join(" " * indent + t + "\n" for t in lines)
    if line < len(src.starts):
        return Edit(src.path, line + 1, 1, line + 1, 1, body)
    last = len(src.starts)  # the last line has no line break: end it first
    col = len(src.text) - src.starts[-1] + 1
    return Edit(src.path, last, col, last, col, "\n" + body)


def _text_of(src: Source, node: Any) -> str:
    s, e = node.start_mark, node.end_mark
    return src.slice(s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def _one_value(src: Source, node: Any, indent: int) -> str:
    """A node's text as written, fit to stand after ``key: `` at ``indent``: a flow
    value over several lines is joined to one (its lines re-indented if it has a
    comment, which would end the line)."""
    text = _text_of(src, node).rstrip()
    lines = text.splitlines()
    if len(lines) == 1:
        return text
    if "#" not in text:
        return " ".join(part.strip() for part in lines)
    return "\n".join([lines[0], *(" " * (indent + 2) + part.strip() for part in lines[1:])])


def _step(doc: yamlio.Document) -> int:
    """The ledger's indentation step (2 when it shows none)."""
    return yamlio.indentation_step(doc)


def append(src: Source, path: tuple[Any, ...], lines: list[str]) -> str:
    """The text with ``lines`` (relative indentation) added as entries of the mapping
    at ``path``: after its last line when it is in block style, else with the mapping
    rewritten in block style (its entries' text kept)."""
    doc = _load(src)
    key, node = _node(doc, path)
    if _block(node):
        indent = node.value[0][0].start_mark.column
        text, _ = apply_edits(src, [insert_after(src, last_line(node), indent, lines)])
        return text
    start, end, replacement = _rewrite(src, path, key, node, _step(doc), lines)
    return src.text[:start] + replacement + src.text[end:]


def _rewrite(src: Source, path: tuple[Any, ...], key: Any, node: Any, step: int,
             lines: list[str]) -> tuple[int, int, str]:
    """A flow-style or empty mapping (``key: node``) rewritten in block style with
    ``lines`` added: (start, end, text) of the replacement, as offsets in ``src``."""
    if key is None:
        raise Unwritable("the document itself is not a block mapping")
    empty = isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null", "Null",
                                                                 "NULL")
    if not (isinstance(node, yaml.MappingNode) or empty):
        raise Unwritable(f"{'.'.join(map(str, path))} is not a mapping")
    if node.tag != "tag:yaml.org,2002:map" and not empty or getattr(node, "anchor", None):
        raise Unwritable("a tagged or anchored mapping")
    indent = key.start_mark.column + step
    body: list[str] = []
    for k, v in (node.value if isinstance(node, yaml.MappingNode) else []):
        body.append(f"{_text_of(src, k)}: {_one_value(src, v, indent)}")
    body += lines
    pad = " " * indent
    block = "".join("\n" + "\n".join(pad + part if part else part
                                     for part in entry.split("\n")) for entry in body)
    # From the end of the key's colon (no space left after it) to the end of the value.
    start = src.offset(key.end_mark.line + 1, key.end_mark.column + 1)
    colon = src.text.index(":", start) + 1
    end = src.offset(node.end_mark.line + 1, node.end_mark.column + 1) if not empty else colon
    if empty and node.value:
        end = src.offset(node.end_mark.line + 1, node.end_mark.column + 1)
    # A comment after the value (`services: {}  # none yet`) stays on the key's line.
    line_end = src.text.find("\n", end)
    rest = src.text[end:] if line_end == -1 else src.text[end:line_end]
    rest = rest.rstrip("\r")
    comment = ""
    if rest.strip().startswith("#"):
        comment, end = rest, end + len(rest)
    return colon, end, comment + block


def _port_lines(ports: list[NewPort]) -> list[str]:
    return [p.text() for p in ports]


def add_ports(src: Source, service: str, ports: list[NewPort]) -> str:
    """The text with ``ports`` added to an existing ``service``."""
    doc = _load(src)
    step = _step(doc)
    for path in (("services",), ("services", service)):
        _, node = _node(doc, path)
        if isinstance(node, yaml.MappingNode) and node.flow_style:
            src = src.with_text(append(src, path, []))
            doc = _load(src)
    _, svc = _node(doc, ("services", service))
    has_ports = any(getattr(k, "value", None) == "ports" for k, _ in svc.value)
    if not has_ports:
        return append(src, ("services", service),
                      ["ports:", *(" " * step + line for line in _port_lines(ports))])
    return append(src, ("services", service, "ports"), _port_lines(ports))


def add_services(src: Source, services: list[tuple[str, str, list[NewPort]]]) -> str:
    """The text with new services (name, category, ports) added at the end of
    ``services``."""
    doc = _load(src)
    pad = " " * _step(doc)
    lines: list[str] = []
    for name, category, ports in services:
        lines += [f"{yaml_scalar(name)}:", f"{pad}category: {yaml_scalar(category)}",
                  f"{pad}ports:"]
        lines += [f"{pad}{pad}{line}" for line in _port_lines(ports)]
    return append(src, ("services",), lines)


def render(source: Source, ledger_doc: yamlio.Document, changes: LedgerChanges) -> str:
    """The ledger's text with every change made (see the module's docstring)."""
    first: list[Edit] = []
    for (service, name), port in sorted(changes.moves.items()):
        first.append(_move_edit(source, ledger_doc, service, name, port))
    for (service, name), reason in sorted(changes.exceptions.items()):
        first.append(exception_edit(source, ledger_doc, service, name, reason))
    text, skipped = apply_edits(source, first)
    if skipped:
        raise Unwritable("two changes of one port")
    src = source.with_text(text)
    # The ledger's own node graph when nothing changed its text yet (else read once).
    same = text == source.text and ledger_doc.text == text
    batched = _block_additions(src, ledger_doc if same else _load(src), changes)
    if batched is not None:
        return batched
    for service in sorted(changes.added):
        src = src.with_text(add_ports(src, service, changes.added[service]))
    if changes.new_services:
        src = src.with_text(add_services(src, [
            (name, category, ports)
            for name, (category, ports) in sorted(changes.new_services.items())]))
    return src.text


def _position(src: Source, offset: int) -> tuple[int, int]:
    """The (line, column) of an offset of ``src.text``, 1-based."""
    line = bisect.bisect_right(src.starts, offset)
    return line, offset - src.starts[line - 1] + 1


def _block(node: Any) -> bool:
    return isinstance(node, yaml.MappingNode) and not node.flow_style and bool(node.value)


def _block_additions(src: Source, doc: yamlio.Document, changes: LedgerChanges) -> str | None:
    """Every addition of ``changes`` made at once on one reading of ``src`` (``doc``):
    lines inserted after each block-style mapping's last line, a service's flow-style or
    empty ``ports`` rewritten where it stands; the text :func:`render`'s one-by-one
    additions would make (a service's new ports come before new services inserted after
    the same line). None when ``services`` or a service itself is not a block mapping
    (then they are rewritten one at a time, read again each time). Reading a
    10,000-service ledger again for each service that gains a port was most of a check
    with a few plans."""
    outline = doc._locator.outline
    if outline is not None and outline.section == "services" and doc._locator.outlined:
        # Not read yet: what the additions need of `services` is in its outline (made
        # when the ledger was read whole), each service's nodes from its lines alone.
        indent, services = outline.indent, None
    else:
        found = doc._locator.locate(("services",))
        if found is None or not _block(found[1]):
            return None
        services = found[1]
        indent = services.value[0][0].start_mark.column
    step = _step(doc)
    inserts: dict[int, list[str]] = {}
    rewrites: list[Edit] = []
    for service in sorted(changes.added):
        at = doc._locator.locate(("services", service))
        if at is None or not _block(at[1]):
            return None
        ports = next((v for k, v in at[1].value if getattr(k, "value", None) == "ports"),
                     None)
        lines = _port_lines(changes.added[service])
        if ports is None:
            node, lines = at[1], ["ports:", *(" " * step + line for line in lines)]
        elif _block(ports):
            node = ports
        elif src.newline == "\n":  # `ports: {}` or flow style: rewritten where it stands
            key = next(k for k, v in at[1].value if v is ports)
            start, end, text = _rewrite(src, ("services", service, "ports"), key, ports,
                                        step, lines)
            rewrites.append(Edit(src.path, *_position(src, start), *_position(src, end), text))
            continue
        else:
            return None
        at_column = node.value[0][0].start_mark.column  # not `indent`: services' own
        inserts.setdefault(last_line(node), []).extend(" " * at_column + t for t in lines)
    if changes.new_services:
        pad = " " * step
        lines = []
        for name, (category, ports_) in sorted(changes.new_services.items()):
            lines += [f"{yaml_scalar(name)}:", f"{pad}category: {yaml_scalar(category)}",
                      f"{pad}ports:"]
            lines += [f"{pad}{pad}{line}" for line in _port_lines(ports_)]
        if services is None:  # the last service's last line is the mapping's
            assert outline is not None
            last = doc._locator.locate(("services", outline.last))
            if last is None:
                return None
            end = last_line(last[1])
        else:
            end = last_line(services)
        inserts.setdefault(end, []).extend(" " * indent + t for t in lines)
    text, skipped = apply_edits(src, rewrites + [insert_after(src, line, 0, body)
                                                 for line, body in sorted(inserts.items())])
    return None if skipped else text


def _move_edit(src: Source, doc: yamlio.Document, service: str, name: str,
               port: int) -> Edit:
    span = doc.spans.get(("services", service, "ports", name, "port"))
    if span is None:
        raise Unwritable(f"no {service}.{name}")
    old = src.slice(span.line, span.column, span.end_line, span.end_column)
    inner = old[1:-1] if old[:1] in ("'", '"') else old
    if not inner.strip().isdigit():
        raise Unwritable(f"{service}.{name} is not one port")
    new = f"{old[0]}{port}{old[0]}" if old[:1] in ("'", '"') else str(port)
    return Edit(src.path, span.line, span.column, span.end_line, span.end_column, new)


def exception_edit(src: Source, doc: yamlio.Document, service: str, name: str,
                   reason: str) -> Edit:
    """The edit adding ``exception: reason`` to the port entry ``service.name``."""
    path = ("services", service, "ports", name)
    span = doc.spans.get(path)
    key = doc.key_spans.get(path + ("port",))
    if span is None or key is None:
        raise Unwritable(f"no {service}.{name}")
    whole = src.slice(span.line, span.column, span.end_line, span.end_column)
    value = yaml_scalar(reason)
    if whole.startswith("{"):
        close = whole.rstrip().rfind("}")
        if close == -1:
            raise Unwritable("an unclosed flow mapping")
        at = src.offset(span.line, span.column) + close
        line = bisect.bisect_right(src.starts, at)
        col = at - src.starts[line - 1] + 1
        before = whole[:close].rstrip()
        sep = "" if before.endswith(("{", ",")) else ", "
        return Edit(src.path, line, col, line, col, f"{sep}exception: {value}")
    port = doc.spans[path + ("port",)]
    return insert_after(src, port.end_line, key.column - 1, [f"exception: {value}"])


_OTHER_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""What ``str.splitlines`` takes for a line break besides "\n"."""


def one_edit(source: Source, new: str) -> Edit | None:
    """One edit turning ``source.text`` into ``new``: the lines between the first and
    the last that differ (None when nothing does)."""
    old = source.text
    if new == old:
        return None
    if _OTHER_BREAKS.isdisjoint(old) and _OTHER_BREAKS.isdisjoint(new):
        return _one_edit_by_characters(source, new)
    return _one_edit_by_lines(source, new)


def _one_edit_by_lines(source: Source, new: str) -> Edit:
    """:func:`one_edit` by comparing the lines of both texts (every line break)."""
    old = source.text
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (tail < min(len(old_lines), len(new_lines)) - head
           and old_lines[-1 - tail] == new_lines[-1 - tail]):
        tail += 1
    middle = "".join(new_lines[head:len(new_lines) - tail])
    if source.newline != "\n":
        middle = middle.replace(source.newline, "\n")  # apply_edits writes the file's own
    end = len(old_lines) - tail
    return Edit(source.path, head + 1, 1, end + 1, 1, middle)


def _one_edit_by_characters(source: Source, new: str) -> Edit:
    """:func:`one_edit` for texts whose only line break is "\n", without splitting them
    into lines: the common head and tail are found by comparing halves (in C), then
    cut back to whole lines. Splitting a 69,000-line ledger's old and new texts into
    lines was most of the memory a check's plans took."""
    old = source.text
    shortest = min(len(old), len(new))
    lo, hi = 0, shortest  # the common prefix's length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old.startswith(new[lo:mid], lo):
            lo = mid
        else:
            hi = mid - 1
    head = old.rfind("\n", 0, lo) + 1  # whole lines only
    most = shortest - head  # the tail may not reach into the head
    lo, hi = 0, most  # the common suffix's length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old.endswith(new[len(new) - mid:len(new) - lo], 0, len(old) - lo):
            lo = mid
        else:
            hi = mid - 1
    at = len(old) - lo  # where the common tail starts, at a line start in both texts
    starts_old = at == 0 or old[at - 1] == "\n"
    starts_new = len(new) == lo or new[len(new) - lo - 1] == "\n"
    if lo and not (starts_old and starts_new):
        nl = old.find("\n", at)
        at = len(old) if nl == -1 else nl + 1
    tail = len(old) - at
    head_line = old.count("\n", 0, head) + 1
    end_line = old.count("\n", 0, at) + (1 if at and old[at - 1] != "\n" else 0) + 1
    return Edit(source.path, head_line, 1, end_line, 1, new[head:len(new) - tail])
