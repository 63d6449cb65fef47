"""The go-yaml v3 compatibility passes over a compose file as read (repeated anchors,
``0X1F`` integers, two ``<<`` keys, non-string keys, explicit floats), for
:mod:`portledger.compose.loader`."""

from __future__ import annotations

import re
from typing import Any

from portledger import yamlio
from portledger.compose.model import ComposeError

_ANCHOR_OR_ALIAS = re.compile(r"(?:(?<=[\s\[{,])|^)([&*])([^\s\[\]{},]+)", re.MULTILINE)


def _unique_anchors(path: str, raw: bytes | None) -> bytes | None:
    """The file with an anchor defined again renamed, and the aliases after it pointing
    at the new name: YAML (and go-yaml) allow a second ``&name``, the later one winning;
    PyYAML refuses it. None when there is nothing to rename."""
    if raw is None:
        return None
    try:
        text = yamlio.read_text(path, raw)
    except yamlio.YamlError:
        return None
    current: dict[str, str] = {}
    count = 0

    def rename(m: re.Match[str]) -> str:
        nonlocal count
        kind, name = m.group(1), m.group(2)
        if kind == "&":
            if name in current:
                count += 1
                current[name] = f"{name}__{count}"
            else:
                current[name] = name
            return "&" + current[name]
        return "*" + current.get(name, name)

    out: list[str] = []
    for line in text.splitlines(keepends=True):
        # Only outside quotes and comments (a rough cut: this runs only on files that
        # PyYAML refused for a repeated anchor).
        code, quoted = line, ""
        for i, c in enumerate(line):
            if c in "'\"#" and (c != "#" or i == 0 or line[i - 1].isspace()):
                code, quoted = line[:i], line[i:]
                break
        out.append(_ANCHOR_OR_ALIAS.sub(rename, code) + quoted)
    return "".join(out).encode("utf-8") if count else None


_UPPER_PREFIX = re.compile(r"0[XOB]")
_UPPER_GO_INT = re.compile(r"[-+]?0(?:X[0-9a-fA-F_]+|O[0-7_]+|B[01_]+)\Z")


def _upper_go_ints(node: Any, path: tuple[Any, ...], doc: yamlio.Document) -> None:
    """go-yaml reads a plain ``0X1F``, ``0O17`` or ``0B101`` as an integer (Go's
    ``strconv.ParseInt(s, 0, 64)`` takes upper-case prefixes too); the YAML module
    leaves them strings."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        if isinstance(value, (dict, list)):
            _upper_go_ints(value, path + (key,), doc)
        elif isinstance(value, str) and _UPPER_GO_INT.match(value):
            _, _, plain = doc.scalar_facts(path + (key,))
            if plain:
                node[key] = int(value.replace("_", ""), 0)


_FLOW_TWO_MERGES = re.compile(r"\{[^{}]*<<\s*:[^{}]*<<\s*:")


def _one_merge_key(doc: yamlio.Document) -> None:
    """go-yaml refuses a mapping with two ``<<`` keys (a repeated key, like any other);
    the YAML module merges both. Block mappings are told apart by indentation."""
    open_at: dict[int, int] = {}  # key column -> line of the "<<" of the mapping there
    for n, line in enumerate(doc.text.splitlines(), start=1):
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        col = len(line) - len(body)
        while body.startswith("- "):
            for c in [c for c in open_at if c >= col]:
                del open_at[c]  # a new list item: a new mapping
            rest = body[2:].lstrip(" ")
            col += len(body) - len(rest)
            body = rest
        for c in [c for c in open_at if c > col]:
            del open_at[c]
        if body.startswith("<<") and body[2:].lstrip(" ").startswith(":"):
            if col in open_at:
                raise ComposeError(doc.path, n, col + 1, f'mapping key "<<" already defined '
                                   f"at line {open_at[col]}", "PL102")
            open_at[col] = n
    m = _FLOW_TWO_MERGES.search(doc.text)
    if m:
        at = doc.text.count("\n", 0, m.start()) + 1
        raise ComposeError(doc.path, at, 1, 'mapping key "<<" already defined', "PL102")


_KEY_FIRST = frozenset("+-.0123456789tTfFnN~")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?\Z"
                       r"|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")
_GO_INT_KEY = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)\Z")
_NON_STRING_WORDS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE",
                               "null", "Null", "NULL", "~"})


def _string_keys(node: Any, path: tuple[Any, ...], doc: yamlio.Document) -> None:
    """Refuse a plain mapping key go-yaml reads as a number, boolean or null (a service
    named ``8080``): compose-go wants string keys ("non-string key")."""
    if isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                _string_keys(v, path + (i,), doc)
        return
    for key, value in node.items():
        if isinstance(key, str) and (key == "" or key[0] in _KEY_FIRST) and (
            key in _NON_STRING_WORDS or _GO_INT_KEY.match(key) or _GO_FLOAT.match(key)
        ):
            sp = doc.key_span(path + (key,))
            line = doc.text.splitlines()[sp.line - 1] if doc.text else ""
            if line[sp.column - 1: sp.column] not in ("'", '"') and key != "<<":
                where = ".".join(str(p) for p in path) or "top level"
                raise ComposeError(doc.path, sp.line, sp.column,
                                   f"non-string key in {where}: {key}", "PL101")
        if isinstance(value, (dict, list)):
            _string_keys(value, path + (key,), doc)


def _explicit_floats(node: Any, path: tuple[Any, ...], doc: yamlio.Document,
                     lines: list[str]) -> None:
    """go-yaml reads ``!!float 80`` as the float 80.0 (the YAML module as the integer
    80): Compose then refuses it as a port (``invalid type float64 for port``)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        if isinstance(value, (dict, list)):
            _explicit_floats(value, path + (key,), doc, lines)
        elif isinstance(value, int) and not isinstance(value, bool):
            sp = doc.spans.get(path + (key,))
            if sp is not None and lines[sp.line - 1][sp.column - 1:].startswith("!!float"):
                node[key] = float(value)


_MISSING = object()


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _MISSING
