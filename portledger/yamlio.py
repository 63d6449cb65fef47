"""The one YAML module: every file portledger reads goes through :func:`load`.

Why not ``yaml.safe_load``: PyYAML resolves scalars by YAML 1.1 (``22:22`` becomes the
base-60 integer 1342, ``yes`` becomes ``True``), silently keeps the last of two equal
mapping keys, expands aliases without bound and forgets where each value came from.
Docker Compose v2 reads YAML with go-yaml v3, which is YAML 1.2 for these cases. So this
module uses PyYAML only to *compose* the node graph (libyaml's C parser when present) and
builds the Python values itself:

* scalars resolved by the YAML 1.2 core schema (or, with ``compat="goyaml"``, exactly as
  go-yaml v3 resolves them: ``0022`` is octal there, ``1_000`` an integer);
* only the standard tags (``!!str``, ``!!int``, ...) plus the local tags a caller allows
  (Compose's ``!reset`` and ``!override``); anything else is an error, never code;
* a :class:`Span` (1-based line and column) for every value and every mapping key, keyed
  by the value's path, so any check can point at the exact place;
* duplicate keys collected (not silently dropped), merge keys (``<<``) honoured;
* alias expansion measured before building: a "billion laughs" file fails at once;
* a size bound, BOM and CRLF handled, invalid UTF-8 reported with its byte offset.

It is one piece (over the usual 600 lines) because the builder, the scalar resolvers and
the spans share one walk over the node graph: split, each would re-walk it or reach into
the others' state, and this walk is the hot path of every check.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

MAX_BYTES = 8 * 1024 * 1024
"""Input files larger than this are refused (a port ledger or compose file is kilobytes)."""

MAX_DEPTH = 200
"""Deeper nesting is refused (libyaml itself stops at 1000 levels)."""

MAX_EXPANSION = 100_000
"""Aliases may expand a document to this many nodes, or ten times its own size if more."""

KeyPath = tuple[Any, ...]

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
MERGE = "tag:yaml.org,2002:merge"
_STANDARD = {STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, MERGE}


class Span(NamedTuple):
    """Where a node stands: 1-based line and column of its start and end.

    A named tuple, not a dataclass: one is made for every node of every file read.
    """

    line: int
    column: int
    end_line: int
    end_column: int


class YamlError(Exception):
    """A file that cannot be read as YAML; carries the place to report."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class DuplicateKey:
    """A mapping key written twice; ``first`` is where it stood before."""

    key: str
    path: KeyPath
    span: Span
    first: Span


class _Locator:
    """Finds the node at a path of the built data, on demand.

    Recording a span for every node of every file cost more than parsing them, and a
    check needs the places of a few dozen values; so a document keeps its node graph
    and looks a path up when asked (mappings indexed once, on first visit). Merge keys
    are followed as the builder follows them: explicit keys win, then earlier sources.
    """

    def __init__(self, root: yaml.Node | None, text: str | None = None,
                 outline: Outline | None = None) -> None:
        self._root = root
        self._text = text
        self._maps: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}
        self._memo: dict[KeyPath, tuple[yaml.Node | None, yaml.Node] | None] = {}
        self.outline = outline if text is not None else None
        """Where each entry of one block mapping lies in the text (:func:`outline`), so
        that a path below one of them is found by reading that entry's lines alone."""
        self._whole = text
        self._pruned = False
        """Whether the outlined mapping's entries were let go of (:func:`prune`)."""

    @property
    def outlined(self) -> bool:
        """Whether a path below an outlined entry is found from that entry's lines (the
        node graph was not composed, or its entries were let go of), not the graph."""
        return self.outline is not None and (self._text is not None or self._pruned)

    def _entry(self, name: str) -> tuple[yaml.Node | None, yaml.Node] | None:
        """(key node, value node) of the outlined entry ``name``, from its lines alone
        (preceded by as many empty lines, so that every mark is the whole text's)."""
        assert self.outline is not None and self._whole is not None
        line, start, end = self.outline.entries[name]
        root = _compose("\n" * (line - 1) + self._whole[start:end])
        assert isinstance(root, yaml.MappingNode)
        for key, value in root.value:
            if key.value == name:
                return key, value
        return None  # pragma: no cover - the outline was made from these lines

    @property
    def root(self) -> yaml.Node | None:
        """The node graph; composed from the text on first use when only the text was
        given (a document whose values came from elsewhere, see :func:`known`)."""
        if self._text is not None:
            text, self._text = self._text, None
            self._root = _compose(text)
        return self._root

    def children(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        found = self._maps.get(id(node))
        if found is None:
            found = {}
            explicit = []
            for k, v in node.value:
                if k.__class__ is _SCALAR and k.tag == MERGE:
                    sources = v.value if v.__class__ is _SEQUENCE else [v]
                    for source in reversed(sources):
                        if isinstance(source, yaml.MappingNode):
                            found.update(self.children(source))
                elif k.__class__ is _SCALAR:
                    explicit.append((k.value, (k, v)))
            for key, pair in explicit:
                found.pop(key, None)
                found[key] = pair
            self._maps[id(node)] = found
        return found

    @staticmethod
    def _small(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
        """A short scan of a small mapping without merge keys (the common case)."""
        for k, v in reversed(node.value):
            if k.__class__ is _SCALAR and k.value == key and k.tag != MERGE:
                return k, v
        return None

    def locate(self, path: KeyPath) -> tuple[yaml.Node | None, yaml.Node] | None:
        """(key node, value node) at ``path``; the key node is None for list items.

        Remembered by path, parents included: a caller asking for a value's span, its
        text and its style walks the graph once.
        """
        if path in self._memo:
            return self._memo[path]
        found: tuple[yaml.Node | None, yaml.Node] | None
        outline = self.outline
        if (outline is not None and len(path) >= 2 and self.outlined
                and path[0] == outline.section and path[1] in outline.entries):
            found = (self._entry(path[1]) if len(path) == 2 else
                     self._descend(self.locate(path[:-1]), path[-1]))
        elif not path:
            found = None if self.root is None else (None, self.root)
        else:
            found = self._descend(self.locate(path[:-1]), path[-1])
        self._memo[path] = found
        return found

    def _descend(self, parent: tuple[yaml.Node | None, yaml.Node] | None,
                 step: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
        return None if parent is None else self._step(parent[1], step)

    def _step(self, node: yaml.Node, step: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            pair = self._small(node, str(step)) if len(node.value) <= 16 else None
            if pair is None:
                pair = self.children(node).get(str(step))
            return pair
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                return None
            return None, node.value[step]
        return None

    def walk(self) -> Iterator[tuple[KeyPath, yaml.Node | None, yaml.Node]]:
        """Every (path, key node, node) of the expanded document, parents first."""
        if self.root is None:
            return
        stack: list[tuple[KeyPath, yaml.Node | None, yaml.Node]] = [((), None, self.root)]
        outline = self.outline if self._pruned else None
        while stack:
            path, key_node, node = stack.pop()
            yield path, key_node, node
            if outline is not None and path == (outline.section,):
                for name in reversed(list(outline.entries)):
                    found = self.locate((outline.section, name))
                    if found is not None:
                        stack.append(((outline.section, name), found[0], found[1]))
            elif isinstance(node, yaml.MappingNode):
                items = list(self.children(node).items())
                for key, (k, v) in reversed(items):
                    stack.append((path + (key,), k, v))
            elif isinstance(node, yaml.SequenceNode):
                for i in range(len(node.value) - 1, -1, -1):
                    stack.append((path + (i,), None, node.value[i]))


@dataclass(frozen=True)
class Outline:
    """Where the entries of one top-level block mapping (a ledger's ``services``) lie in
    a document's text: ``entries[name]`` is (the line of its key, the offset where that
    line starts, the offset where the next entry's key starts or the mapping ends).
    ``indent`` is the column of its keys (0-based), ``step`` the document's indentation
    step, ``last`` the name of its last entry: what an edit adding entries needs to know
    of the mapping itself."""

    section: str
    entries: dict[str, tuple[int, int, int]]
    indent: int
    step: int
    last: str


def outline(doc: Document, section: str) -> Outline | None:
    """The :class:`Outline` of ``doc``'s top-level ``section`` (from its node graph, as
    loaded), or None when an entry's lines could not be read alone exactly as they read
    in the whole text: anchors (an alias elsewhere), directives, line breaks other than
    "\n", a section that is not a non-empty block mapping of string keys."""
    locator = doc._locator
    if locator.outlined and locator.outline is not None:
        return locator.outline if locator.outline.section == section else None
    text = doc.text
    if ("&" in text or text.startswith("%") or "\n%" in text
            or any(b in text for b in ("\r", "\x85", "\u2028", "\u2029"))):
        return None
    root = doc._locator.root
    if not isinstance(root, yaml.MappingNode):
        return None
    node = next((v for k, v in root.value if k.__class__ is _SCALAR and k.value == section),
                None)
    if not (isinstance(node, yaml.MappingNode) and not node.flow_style and node.value):
        return None
    starts = [0]
    at = text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)

    def offset(mark: Any) -> int:
        if mark.line >= len(starts):  # libyaml's end of a text with no last line break
            return len(text)
        return int(starts[mark.line] + mark.column)

    entries: dict[str, tuple[int, int, int]] = {}
    pairs = node.value
    indent = pairs[0][0].start_mark.column
    for i, (key, _) in enumerate(pairs):
        if (key.__class__ is not _SCALAR or key.tag != STR
                or key.value in entries or key.start_mark.column != indent):
            return None
        end = offset(pairs[i + 1][0].start_mark) if i + 1 < len(pairs) else offset(
            node.end_mark)
        entries[key.value] = (key.start_mark.line + 1, starts[key.start_mark.line], end)
    return Outline(section, entries, indent, indentation_step(doc), pairs[-1][0].value)


def prune(doc: Document, found: Outline) -> None:
    """Let go of the nodes below the entries of ``found.section`` in ``doc`` (loaded by
    :func:`load`, ``found`` its outline): a path below one of them is then found by
    composing that entry's lines alone, as in a document from a cache (:func:`known`).
    The node graph of a large ledger is most of a check's memory (two marks a node:
    60 MiB for 10,000 services), and a check looks up the places of a few of them."""
    locator = doc._locator
    if locator._text is not None or locator._pruned or not doc.text:
        return
    root = locator.root
    if not isinstance(root, yaml.MappingNode):
        return
    node = next((v for k, v in root.value
                 if k.__class__ is _SCALAR and k.value == found.section), None)
    if not isinstance(node, yaml.MappingNode):
        return
    node.value = []
    locator._maps.clear()
    locator._memo.clear()
    locator.outline, locator._whole, locator._pruned = found, doc.text, True


def outline_row(found: Outline | None) -> list[Any] | None:
    """An outline as JSON values (for a cache)."""
    if found is None:
        return None
    return [found.section, [[k, *v] for k, v in found.entries.items()], found.indent,
            found.step, found.last]


def outline_of_row(row: Any) -> Outline | None:
    """The outline :func:`outline_row` made (None for anything else)."""
    try:
        section, entries, indent, step, last = row
        table = {str(k): (int(a), int(b), int(c)) for k, a, b, c in entries}
        if last not in table or not all(isinstance(v, int) for v in (indent, step)):
            return None
        return Outline(str(section), table, indent, step, str(last))
    except (TypeError, ValueError):
        return None


def indentation_step(doc: Document) -> int:
    """The document's indentation step: how far its first block mapping's entries are
    indented under their key (2 when it shows none)."""
    locator = doc._locator
    if locator.outline is not None and locator.outlined:
        return locator.outline.step  # as measured when the outline was made
    root = locator.root
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
                step = value.value[0][0].start_mark.column - key.start_mark.column
                if step > 0:
                    return int(step)
    return 2


class _View(Mapping[KeyPath, Any]):
    """A read-only mapping from paths to facts about their nodes, computed on demand."""

    def __init__(self, locator: _Locator, what: str) -> None:
        self._locator = locator
        self._what = what

    def _fact(self, key_node: yaml.Node | None, node: yaml.Node) -> Any:
        if self._what == "span":
            return _mark(node)
        if self._what == "key":
            return _mark(key_node) if key_node is not None else None
        if node.__class__ is _SCALAR and not node.style:  # "plain"
            return node.value
        return None

    def __getitem__(self, path: KeyPath) -> Any:
        found = self._locator.locate(tuple(path))
        fact = None if found is None else self._fact(*found)
        if fact is None:
            raise KeyError(path)
        return fact

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, tuple):
            return False
        found = self._locator.locate(path)
        return found is not None and self._fact(*found) is not None

    def __iter__(self) -> Iterator[KeyPath]:
        for path, key_node, node in self._locator.walk():
            if self._fact(key_node, node) is not None:
                yield path

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Document:
    """A loaded YAML file: plain Python data plus where each piece came from.

    ``spans[path]`` is the :class:`Span` of the value at ``path``, ``key_spans[path]`` of
    the mapping key that leads to it, ``plain[path]`` the text of an unquoted scalar;
    all three are computed on demand from the node graph. ``tags`` maps paths to the
    local tags (``!reset``) met, ``duplicates`` lists repeated mapping keys.
    """

    def __init__(self, path: str, data: Any, root: yaml.Node | None = None,
                 text: str | None = None, outline: Outline | None = None) -> None:
        self.path = path
        self.data = data
        self.tags: dict[KeyPath, str] = {}
        self.dollars: list[KeyPath] = []
        """Paths of the string values that contain ``$``, in document order (the only
        ones interpolation can change)."""
        self.duplicates: list[DuplicateKey] = []
        self.floats = False
        """Whether a float was read: JSON Schema validators count 2000.0 as an integer,
        so a schema whose numbers are integers must not trust their verdict then."""
        self.text = text or ""
        self._locator = _Locator(root, text, outline)
        self.spans: Mapping[KeyPath, Span] = _View(self._locator, "span")
        self.key_spans: Mapping[KeyPath, Span] = _View(self._locator, "key")
        self.plain: Mapping[KeyPath, str] = _View(self._locator, "plain")

    @functools.cached_property
    def lines(self) -> list[str]:
        """The text's lines (split at "\n"), made once when first asked for."""
        return self.text.split("\n")

    def span(self, path: KeyPath) -> Span:
        """The span of the value at ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            s = self.spans.get(p)
            if s is not None:
                return s
            p = p[:-1]
        return self.spans.get((), Span(1, 1, 1, 1))

    def scalar_facts(self, path: KeyPath) -> tuple[Span, str | None, bool]:
        """(span, text, plain?) of the value at ``path`` in one look-up.

        The text is the scalar's as the file has it (quotes removed; None for a collection
        or a missing path), unchanged by whatever the caller did to ``data``; plain is True
        for an unquoted scalar. The span is ``span(path)``'s."""
        found = self._locator.locate(tuple(path))
        if found is None:
            return self.span(path), None, False
        node = found[1]
        if node.__class__ is not _SCALAR:
            return _mark(node), None, False
        return _mark(node), node.value, not node.style

    def key_span(self, path: KeyPath) -> Span:
        """The span of the mapping key that leads to ``path`` (or of the value)."""
        return self.key_spans.get(tuple(path)) or self.span(path)


def _core_resolver() -> type[yaml.resolver.BaseResolver]:
    class Core12Resolver(yaml.resolver.BaseResolver):
        """Implicit tags of the YAML 1.2 core schema, plus the merge key."""

    add = Core12Resolver.add_implicit_resolver
    add(BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    add(
        INT,
        re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"),
    )
    add(
        FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    )
    add(NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
    add(MERGE, re.compile(r"^<<$"), ["<"])

    implicit = Core12Resolver.yaml_implicit_resolvers
    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode

    @functools.lru_cache(maxsize=4096)
    def resolve(kind: Any, value: Any, implicit_flags: Any) -> str:
        # BaseResolver.resolve without path resolvers (unused). The parser calls it for
        # every node, and keys and common values repeat across files: cached, a call
        # stays in C.
        if kind is scalar:
            if implicit_flags[0]:
                for tag, regexp in implicit.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return STR
        return SEQ if kind is sequence else MAP

    Core12Resolver.resolve = staticmethod(resolve)  # type: ignore[method-assign]
    # The parser also tells the resolver when it enters and leaves a node, for path
    # resolvers we never use: C-level no-ops instead of two Python calls per node.
    Core12Resolver.descend_resolver = {}.get  # type: ignore[method-assign,assignment]
    Core12Resolver.ascend_resolver = ().__len__  # type: ignore[method-assign,assignment]
    return Core12Resolver


_Resolver = _core_resolver()


class _PyComposer(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Resolver,  # type: ignore[valid-type,misc]
):
    """PyYAML's pure-Python parser and composer, with the YAML 1.2 resolver."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Resolver.__init__(self)


_Composer: type[Any] = _PyComposer
WITH_LIBYAML = False
try:  # libyaml's C parser when PyYAML was built with it
    # CParser lives in yaml._yaml; the `yaml` package itself exports only the C loaders.
    from yaml._yaml import CParser as _CParser

    class _CComposer(_CParser, _Resolver):  # type: ignore[valid-type,misc]
        """libyaml's parser and composer, with the YAML 1.2 resolver."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Resolver.__init__(self)

    _Composer = _CComposer
    WITH_LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    pass


_NON_PRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"
)
"""Characters YAML does not allow in a stream: the complement of YAML 1.2's printable set
(5.1: tab, line feed, carriage return, x20-x7E, x85, xA0-xD7FF, xE000-xFFFD and
x10000-x10FFFF), written as the set itself so that a search skips along in C."""
_PRINTABLE_ASCII = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F)])


def _unprintable(text: str) -> re.Match[str] | None:
    """The first character YAML does not allow in ``text``, if any."""
    if text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII):
        return None  # the common case, ten times faster than the search
    return _NON_PRINTABLE.search(text)

_SCALAR, _SEQUENCE = yaml.ScalarNode, yaml.SequenceNode
_GO_INT_FIRST = frozenset("+-0123456789")
_GO_INT = re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")


def _go_int(text: str) -> int | None:
    """go-yaml v3's integer reading (Go's ``strconv.ParseInt(s, 0, 64)`` after dropping
    underscores): ``0022`` is octal 18, ``0b101`` binary, ``1_000`` a thousand."""
    if not _GO_INT.match(text):
        return None
    s = text.replace("_", "")
    sign = -1 if s[0] == "-" else 1
    s = s.lstrip("+-")
    try:
        if s.startswith("0b"):
            return sign * int(s[2:], 2)
        if s.startswith("0o"):
            return sign * int(s[2:], 8)
        if s.startswith("0x"):
            return sign * int(s[2:], 16)
        if len(s) > 1 and s.startswith("0"):
            return sign * int(s, 8)
        return sign * int(s, 10)
    except ValueError:  # e.g. "09": not octal, and Go refuses it as an integer
        return None


def read_bytes(path: str | Path) -> bytes:
    """The bytes of ``path``, at most one more than MAX_BYTES (enough to refuse a file
    that is too large without reading it all); OSError as ``open`` raises it."""
    with open(path, "rb") as f:
        # Asked for MAX_BYTES + 1, a read allocates that much first (8 MiB, each file);
        # a regular file's size is known.
        try:
            size = min(os.fstat(f.fileno()).st_size, MAX_BYTES)
        except OSError:
            size = 0
        data = f.read(size + 1 if size else MAX_BYTES + 1)
        if size and len(data) > size:  # it grew since: the rest too, up to the bound
            data += f.read(MAX_BYTES + 1 - len(data))
        return data


def read_text(path: str | Path, data: bytes | None = None) -> str:
    """Read a file as text: size bound, BOM stripped, UTF-8 checked (offset reported)."""
    name = str(path)
    if data is None:
        try:
            data = read_bytes(path)
        except FileNotFoundError:
            raise YamlError(name, 1, 1, "no such file") from None
        except IsADirectoryError:
            raise YamlError(name, 1, 1, "is a directory, not a file") from None
        except OSError as e:
            raise YamlError(name, 1, 1, f"cannot read: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(
            name, 1, 1, f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB; refusing to read it"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, label, skip = "utf-16", "UTF-16", 0  # the codec consumes the BOM itself
    else:
        encoding, label = "utf-8", "UTF-8"
        skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[skip:].decode(encoding)
    except UnicodeDecodeError as e:
        # Offsets count bytes of the file as it is on disk (the BOM included); line and
        # column count characters, as every other location does.
        offset = skip + e.start
        prefix = data[skip:offset].decode(encoding, errors="replace")
        line = prefix.count("\n") + 1
        column = len(prefix) - (prefix.rfind("\n") + 1) + 1
        bad = f" (byte 0x{data[offset]:02x})" if offset < len(data) else ""
        raise YamlError(
            name, line, column, f"invalid {label} at byte offset {offset}{bad}"
        ) from None


def _is_plain(node: yaml.ScalarNode) -> bool:
    """An unquoted scalar (the pure-Python composer says style None, libyaml's says '')."""
    return not node.style


_new_span = tuple.__new__


def _mark(node: yaml.Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return _new_span(Span, (s.line + 1, s.column + 1, e.line + 1, e.column + 1))


class _Builder:
    def __init__(
        self, name: str, compat: str, local_tags: frozenset[str], root: yaml.Node | None
    ) -> None:
        self.name = name
        self.compat = compat
        self.local_tags = local_tags
        self.doc = Document(name, None, root)
        self.goyaml = compat == "goyaml"
        self.may_merge = True

    def fail(self, node: yaml.Node, message: str) -> YamlError:
        message = message.replace("tag:yaml.org,2002:", "!!")
        sp = _mark(node)
        return YamlError(self.name, sp.line, sp.column, message)

    # -- alias bound --------------------------------------------------------------
    def measure(self, root: yaml.Node) -> None:
        sizes: dict[int, int] = {}
        total = self._size(root, 0, sizes, set())
        distinct = len(sizes)
        if total > max(MAX_EXPANSION, 10 * distinct):
            raise self.fail(
                root,
                f"aliases expand this document to {total} nodes from {distinct} "
                f"(limit {max(MAX_EXPANSION, 10 * distinct)}); refusing to expand it",
            )

    def _size(self, node: yaml.Node, depth: int, sizes: dict[int, int],
              active: set[int]) -> int:
        """How many nodes ``node`` expands to (``sizes``: each distinct node's, once).
        A method, not a closure calling itself: that would be a reference cycle keeping
        the document's node graph until the cyclic collector ran (off during a run)."""
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise self.fail(node, "recursive alias: a node contains itself")
        total = 1
        if isinstance(node, yaml.SequenceNode):
            active.add(key)
            for child in node.value:
                total += self._size(child, depth + 1, sizes, active)
            active.discard(key)
        elif isinstance(node, yaml.MappingNode):
            active.add(key)
            for k, v in node.value:
                total += (self._size(k, depth + 1, sizes, active)
                          + self._size(v, depth + 1, sizes, active))
            active.discard(key)
        sizes[key] = total
        return total

    # -- construction -------------------------------------------------------------
    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        tag = node.tag
        text = node.value
        if tag not in _STANDARD:
            if tag in self.local_tags:
                self.doc.tags[path] = tag
                return text
            raise self.fail(node, f"unsupported tag {tag!r}")
        if tag == STR:
            return text
        if tag == NULL:
            if text in ("", "~", "null", "Null", "NULL"):
                return None
            raise self.fail(node, f"cannot read {text!r} as null")
        if tag == BOOL:
            if text in ("true", "True", "TRUE"):
                return True
            if text in ("false", "False", "FALSE"):
                return False
            raise self.fail(node, f"cannot read {text!r} as a boolean")
        if tag == INT:
            value = self._int(text)
            if value is None and self.compat == "goyaml" and _is_plain(node):
                # go-yaml reads a plain 08 or 09 (not octal, so no Go integer) as a float;
                # anything else tagged !!int (`!!int 0x`, `!!int ${X}`) is an error.
                with contextlib.suppress(ValueError):
                    return float(text.replace("_", ""))
            if value is None:
                raise self.fail(node, f"cannot read {text!r} as an integer")
            return value
        if tag == FLOAT:
            return self._float(node, text)
        raise self.fail(node, f"tag {tag!r} is not allowed on a scalar")

    def _int(self, text: str) -> int | None:
        if self.compat == "goyaml":
            return _go_int(text)
        s = text
        try:
            if s.startswith("0o"):
                return int(s[2:], 8)
            if s.startswith("0x"):
                return int(s[2:], 16)
            return int(s, 10)
        except ValueError:
            return None

    def _float(self, node: yaml.ScalarNode, text: str) -> float | int:
        self.doc.floats = True
        low = text.lower().lstrip("+")
        if low in (".inf",):
            return math.inf
        if low == "-.inf":
            return -math.inf
        if low == ".nan":
            return math.nan
        if self.compat == "goyaml" and _is_plain(node) and node.tag == FLOAT:
            as_int = _go_int(text)
            if as_int is not None:
                return as_int
        try:
            return float(text.replace("_", "") if self.compat == "goyaml" else text)
        except ValueError:
            raise self.fail(node, f"cannot read {text!r} as a number") from None

    def build(self, node: yaml.Node, path: KeyPath, depth: int = 0) -> Any:
        # The hot path of every load: one call per node, so plain strings return early.
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        cls = node.__class__
        tag = node.tag
        if cls is _SCALAR:
            if not node.style:  # type: ignore[attr-defined]
                text = node.value
                if tag == STR:
                    if self.goyaml and text[:1] in _GO_INT_FIRST:
                        # go-yaml reads integers the Core schema leaves as strings (1_000).
                        as_int = _go_int(text)
                        if as_int is not None:
                            return as_int
                    if "$" in text:
                        self.doc.dollars.append(path)
                    return text
            elif tag == STR:
                if "$" in node.value:
                    self.doc.dollars.append(path)
                return node.value
            return self.scalar(node, path)  # type: ignore[arg-type]
        if tag not in _STANDARD:
            if tag in self.local_tags:
                self.doc.tags[path] = tag
            else:
                raise self.fail(node, f"unsupported tag {tag!r}")
        if cls is _SEQUENCE:
            if tag != SEQ and tag not in self.local_tags:
                raise self.fail(node, f"tag {tag!r} is not allowed on a sequence")
            depth += 1
            return [self.build(child, path + (i,), depth) for i, child in enumerate(node.value)]
        if tag != MAP and tag not in self.local_tags:
            raise self.fail(node, f"tag {tag!r} is not allowed on a mapping")
        assert isinstance(node, yaml.MappingNode)
        return self.mapping(node, path, depth)

    def mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        items = node.value
        merging = self.may_merge and any(
            k.tag == MERGE and k.__class__ is _SCALAR for k, _ in items
        )
        if merging:
            # Merge keys first, so that explicit keys then overwrite values and spans;
            # among merged mappings the earlier one wins, as in go-yaml and PyYAML.
            for key_node, value_node in items:
                if key_node.__class__ is not _SCALAR or key_node.tag != MERGE:
                    continue
                if value_node.__class__ is _SEQUENCE:
                    sources = list(value_node.value)
                else:
                    sources = [value_node]
                for source in reversed(sources):
                    if not isinstance(source, yaml.MappingNode):
                        raise self.fail(
                            source, "a merge key (<<) takes a mapping or a list of mappings"
                        )
                    result.update(self.mapping(source, path, depth + 1))
        seen: dict[str, yaml.Node] = {}
        depth += 1
        for key_node, value_node in items:
            if key_node.__class__ is not _SCALAR:
                raise self.fail(key_node, "a mapping key must be a scalar, not a collection")
            if merging and key_node.tag == MERGE:
                continue
            key = key_node.value
            if key in seen:
                self.doc.duplicates.append(
                    DuplicateKey(key, path + (key,), _mark(key_node), _mark(seen[key]))
                )
                result.pop(key, None)
            elif merging:
                result.pop(key, None)
            seen[key] = key_node
            if value_node.__class__ is _SCALAR and value_node.tag == STR and depth <= MAX_DEPTH:
                # build()'s answer for most values (its first branches), without the call:
                # a string with no "$" that go-yaml would not read as a number.
                text = value_node.value
                if "$" not in text and (
                    value_node.style or not self.goyaml or text[:1] not in _GO_INT_FIRST
                ):
                    result[key] = text
                    continue
            result[key] = self.build(value_node, path + (key,), depth)
        return result


def known(path: str, data: Any, text: str, outline: Outline | None = None) -> Document:
    """The document of ``text`` (read before by :func:`load` without duplicates, tags or
    ``$``) when its values ``data`` are already known, as from a cache: positions are
    looked up by composing ``text`` when one is first asked for, not before; with the
    ``outline`` made when it was loaded, a position below one of its entries by composing
    that entry's lines alone."""
    return Document(path, data, text=text, outline=outline)


SECTIONED_MIN = 1 << 18
"""A text at least this long (in characters) with a ``section`` to load is read in
pieces (:func:`_load_sectioned`)."""

PIECE_LINES = 4000
"""About how many lines of the section one piece holds."""

_ENTRY_LINE = re.compile(r"^( *)([^ \n#])", re.MULTILINE)


def _compose(text: str) -> yaml.Node | None:
    """The node graph of one document, the composer disposed of after (libyaml's holds
    the parser; the pure-Python one has no ``dispose``)."""
    composer = _Composer(text)
    try:
        return composer.get_single_node()
    finally:
        dispose = getattr(composer, "dispose", None)
        if dispose:
            dispose()


def _load_sectioned(name: str, text: str, compat: str, local_tags: frozenset[str],
                    section: str) -> Document | None:
    """The document of ``text`` with the entries of its top-level block mapping
    ``section`` composed a piece (some thousand lines) at a time, each piece's nodes let
    go of once its values are built, and the rest of the document composed with only
    the first and last entries of the section in it (the others' lines left empty, so
    every mark is the whole text's). The document is then as :func:`prune` leaves one
    loaded whole: the same values, places, tags and outline. The node graph of a
    10,000-service ledger is 60 MiB; a piece's a few.

    None when the text is not one whose pieces read exactly as the whole does (anchors,
    ``$``, tabs, directives, other line breaks, a flow-style or unusual section, keys
    that are not plain strings, duplicate keys, or anything a piece does not compose
    to as expected): the caller then composes it whole, errors included."""
    if ("&" in text or "$" in text or "\t" in text or not text.endswith("\n")
            or text.startswith("%") or "\n%" in text
            or any(b in text for b in ("\r", "\x85", "\u2028", "\u2029"))):
        return None
    head = re.search(rf"^{re.escape(section)}:[ ]*(?:#[^\n]*)?\n", text, re.MULTILINE)
    if head is None:
        return None
    head_line = text.count("\n", 0, head.start()) + 1
    # Each line that starts at the entries' column with something other than a comment
    # starts an entry; the first line further left ends the section.
    starts: list[int] = []
    indent = -1
    end = len(text)
    for m in _ENTRY_LINE.finditer(text, head.end()):
        width = len(m.group(1))
        if indent < 0:
            if width == 0:
                return None
            indent = width
        if width == indent:
            starts.append(m.start())
        elif width < indent:
            if width != 0 or text.startswith(("---", "..."), m.start()):
                return None
            end = m.start()
            break
    if len(starts) < 3:
        return None
    lines: list[int] = []
    line, at = head_line, head.start()
    for start in starts:
        line += text.count("\n", at, start)
        at = start
        lines.append(line)
    try:
        skeleton = (text[:starts[1]] + "\n" * text.count("\n", starts[1], starts[-1])
                    + text[starts[-1]:])
        root = _compose(skeleton)
        node = _section_node(root, section, head_line)
        if node is None or [k.start_mark.line + 1 for k, _ in node.value] != [
                lines[0], lines[-1]]:
            return None
        builder = _Builder(name, compat, local_tags, root)
        builder.may_merge = "<<" in text
        builder.doc.text = text
        assert root is not None
        data = builder.build(root, ())
        entries: dict[str, tuple[int, int, int]] = {}
        values: dict[str, Any] = {}
        keys: list[Any] = []
        i = 0
        while i < len(starts):
            j = i + 1
            while j < len(starts) and lines[j] - lines[i] < PIECE_LINES:
                j += 1
            stop = starts[j] if j < len(starts) else end
            piece = _compose("\n" * (lines[i] - 1) + text[starts[i]:stop])
            if not (isinstance(piece, yaml.MappingNode) and not piece.flow_style
                    and len(piece.value) == j - i):
                return None
            for n, (key, value) in enumerate(piece.value):
                if (key.__class__ is not _SCALAR or key.tag != STR
                        or key.start_mark.line + 1 != lines[i + n]
                        or key.start_mark.column != indent or key.value in values):
                    return None
                values[key.value] = builder.build(value, (section, key.value), 2)
                keys.append(key.value)
            i = j
        for n, key_ in enumerate(keys):
            entries[key_] = (lines[n], starts[n], starts[n + 1] + indent
                             if n + 1 < len(starts) else _offset(text, node.end_mark))
    except (yaml.YAMLError, YamlError, RecursionError, ValueError, IndexError):
        return None
    if builder.doc.duplicates or builder.doc.dollars:
        return None
    data[section] = values
    doc = builder.doc
    doc.data = data
    prune(doc, Outline(section, entries, indent, indentation_step(doc), keys[-1]))
    return doc


def _section_node(root: yaml.Node | None, section: str,
                  line: int) -> yaml.MappingNode | None:
    """The block mapping under the plain key ``section`` on ``line`` of ``root``."""
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if (key.__class__ is _SCALAR and key.tag == STR and key.value == section
                and not key.style and key.start_mark.line + 1 == line
                and key.start_mark.column == 0):
            if isinstance(value, yaml.MappingNode) and not value.flow_style:
                return value
            return None
    return None


def _offset(text: str, mark: Any) -> int:
    """The offset in ``text`` of a mark (by its line and column, as :func:`outline`)."""
    at = 0
    for _ in range(mark.line):
        at = text.index("\n", at) + 1
    return at + int(mark.column)


def load(
    path: str | Path,
    *,
    data: bytes | None = None,
    compat: str = "core",
    local_tags: frozenset[str] = frozenset(),
    section: str | None = None,
) -> Document:
    """Load one YAML document from ``path`` (or from ``data``, reported as ``path``).

    Raises :class:`YamlError` with file, line and column for anything that is not a
    readable, bounded, single YAML document. Duplicate keys do not raise: they are in
    :attr:`Document.duplicates` for the caller to report. With ``section`` (a ledger's
    ``services``), a long text's entries of that top-level mapping are read a piece at
    a time (:func:`_load_sectioned`), and its outline is the document's.
    """
    name = str(path)
    text = read_text(path, data)
    bad = _unprintable(text)
    if bad:
        # Checked here so both parsers report it at its place (they say "position N").
        before = text[: bad.start()]
        line = before.count("\n") + 1
        column = bad.start() - (before.rfind("\n") + 1) + 1
        raise YamlError(
            name, line, column,
            f"unacceptable character #x{ord(bad.group()):04x}: control characters are not allowed",
        )
    if section is not None and len(text) >= SECTIONED_MIN:
        sectioned = _load_sectioned(name, text, compat, local_tags, section)
        if sectioned is not None:
            return sectioned
    try:
        # Inside the try: the pure-Python parser starts reading in its constructor.
        root = _compose(text)
    except RecursionError:  # only the pure-Python parser recurses in Python
        raise YamlError(name, 1, 1, "nesting too deep to read") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = e.problem or e.context or "invalid YAML"
        if e.context and e.problem and "found" in (e.problem or ""):
            problem = f"{e.context}: {e.problem}"
        raise YamlError(name, line, col, str(problem).strip()) from None
    except yaml.YAMLError as e:  # e.g. a reader error without a mark
        raise YamlError(name, 1, 1, str(e).splitlines()[0]) from None
    builder = _Builder(name, compat, local_tags, root)
    builder.may_merge = "<<" in text  # no merge key anywhere: skip looking for one
    builder.doc.text = text
    if root is None:
        return builder.doc
    # Only aliases can expand a document beyond its own size, and an alias needs an anchor:
    # a ledger's globs ("**/compose*.yml", hosts' projects) bring "*" but no "&".
    if "*" in text and "&" in text:
        builder.measure(root)
    builder.doc.data = builder.build(root, ())
    return builder.doc
