"""Load a compose project the way Docker Compose v2.40 (compose-go v2.9) loads it, as far
as published ports depend on it.

The environment is docker compose's: the OS environment, then the ``.env`` (or
``--env-file``) of the folder known first (project directory, first ``-f`` file's, or the
current one), then ``COMPOSE_FILE`` (relative to the current folder) or the default files,
then the ``.env`` of the project's own folder; earlier values win. ``.env`` files are read
by compose-go's rules (:class:`_DotEnv`).

Pipeline, per file and in ``-f`` order (as compose-go's ``loadYamlFile``):

1. read the YAML (go-yaml v3 compatible: ``0022`` and ``0X1F`` are integers, duplicate
   keys, two ``<<`` keys and non-string keys are errors, a repeated anchor is allowed),
   note ``!reset`` / ``!override`` tags and drop the ``!reset`` values;
2. interpolate every string from the environment, remembering the unset variables each
   value read;
3. resolve ``extends`` (same file or another file); apply the tags to what earlier files
   built (``!reset`` and ``!override`` both remove the earlier value, except inside a
   list: compose-go does not find those);
4. ``include``: load each included project with its own project directory and ``.env``
   (the including project's variables win), import its resources;
5. merge into the project (mappings merged, sequences appended, scalars replaced, a null
   changes nothing), drop repeated port entries by compose-go's key (a later entry
   replaces an earlier one in place), validate the merged model against the compose-spec
   JSON Schema (``uniqueItems`` aside: Compose has removed repeats by then), expand short
   syntax into canonical records, drop repeats again.

Then services whose ``profiles`` are not enabled are left out, and the project is checked
for consistency as compose-go checks it (an image or a build, dependencies, networks,
volumes, secrets and configs that exist, no dependency cycle, unique container names).

Deliberate differences from Compose (each stricter, never laxer), all in one table in
``docs/compose-stricter.md``: long-syntax ports are checked (see
:mod:`portledger.compose.ports`). Besides that table: a ``.env`` file that is not UTF-8 is
an error (Compose passes its bytes on), and remote resources (git or OCI
``include``/``extends``) are not fetched: an error.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from portledger import yamlio
from portledger.compose import ports as portspec
from portledger.compose.interpolate import Interpolator, TemplateError
from portledger.paths import within

LOCAL_TAGS = frozenset({"!reset", "!override"})
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


class ComposeError(Exception):
    """A project Compose would refuse to load; carries where and why.

    ``code`` is ``PL101`` (unreadable YAML, invalid template, schema or structure error),
    ``PL102`` (a repeated mapping key: go-yaml refuses those), ``PL205`` (an invalid port
    entry) or ``PL206`` (a required variable is missing).
    """

    def __init__(self, file: str, line: int, column: int, message: str, code: str,
                 stricter: str | None = None) -> None:
        super().__init__(f"{file}:{line}:{column}: {code} {message}")
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.code = code
        self.stricter = stricter
        """The row of docs/compose-stricter.md (``S1``...) when Compose accepts this."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields when it crosses a process boundary (parallel loading).
        return (ComposeError,
                (self.file, self.line, self.column, self.message, self.code, self.stricter))


@dataclass(unsafe_hash=True)  # by value, as if frozen, but quicker to make (ledger.Allocation)
class Origin:
    """Where a port entry was written, and what it read."""

    file: str
    span: yamlio.Span
    raw: str | None
    plain: bool
    variables: tuple[str, ...]
    read: tuple[str, ...] = field(default=(), compare=False)
    """Every variable the entry's own text names, set or not (messages name them instead
    of quoting what they gave)."""


@dataclass
class RawPort:
    """A port entry as written (after interpolation), not yet made canonical."""

    value: Any
    origin: Origin


@dataclass
class CanonicalPort:
    """One canonical port record (compose-go's map) with where it came from."""

    fields: dict[str, Any]
    origin: Origin


@dataclass
class UnsetVariable:
    """A variable read while unset (Compose warns and substitutes "")."""

    name: str
    file: str
    line: int
    column: int
    path: tuple[Any, ...]


class Inputs:
    """What a load depended on: every path it looked at, with what it found there (the
    SHA-256 of the bytes it read, in hex, or None where there was no file), and every
    environment variable it looked up, with its value in ``environ`` (None: unset). Two
    loads that find the same give the same project, which is what a cache needs to know.

    ``complete`` turns False when something was looked at but not read (a file that
    could not be opened): such a load says nothing reliable about its inputs.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = environ or {}
        self.seen: dict[str, str | None] = {}
        self.variables: dict[str, str | None] = {}
        self.complete = True

    def looked_up(self, names: Iterable[str]) -> None:
        """Note variables read (from the environment, or where it leaves them unset,
        from ``.env`` files, whose bytes are noted anyway)."""
        for name in names:
            if name not in self.variables:
                self.variables[name] = self.environ.get(name)

    def is_file(self, path: str) -> bool:
        """``os.path.isfile``, remembered (a file found must then be read to count)."""
        found = os.path.isfile(path)
        path = os.path.abspath(path)  # one name for a file however it was reached
        if path not in self.seen:
            self.seen[path] = _UNREAD if found else None
        return found

    def read(self, path: str) -> bytes | None:
        """``yamlio.read_bytes(path)`` (None when it cannot be read; the caller's own
        reading then reports why), their digest remembered. A file outside
        :data:`READ_UNDER` is refused (ComposeError naming it), never read."""
        if READ_UNDER is not None and not within(path, READ_UNDER):
            raise ComposeError(
                path, 1, 1, f"is outside {READ_UNDER} (the repository, or the ledger's folder "
                "without one), or a symbolic link to there: portledger reads only files under "
                "it, so it was not read",
                "PL101")
        try:
            data = yamlio.read_bytes(path)
        except OSError:
            self.complete = False
            return None
        self.seen[os.path.abspath(path)] = hashlib.sha256(data).hexdigest()
        return data

    def digests(self) -> tuple[dict[str, str | None], dict[str, str | None]] | None:
        """(paths, variables) and what was found, or None when they do not tell the
        whole story."""
        if not self.complete or _UNREAD in self.seen.values():
            return None
        return dict(self.seen), dict(self.variables)


_UNREAD = "?"
"""A file found by a look-up but not (yet) read."""

READ_UNDER: str | None = None
"""When set (by ``check`` for its run, by ``diff`` for its private copy of a commit), the
folder every file a load reads must be under, through symbolic links: an ``include``,
``extends`` or ``env_file`` with an absolute or ``../`` path, or a symlinked compose file,
leading elsewhere is refused, not read."""


@contextlib.contextmanager
def reading_under(root: str | None) -> Iterator[None]:
    """:data:`READ_UNDER` set to ``root`` for the loads inside."""
    global READ_UNDER
    before, READ_UNDER = READ_UNDER, root
    try:
        yield
    finally:
        READ_UNDER = before


@dataclass
class _Context:
    environ: dict[str, str]
    inputs: Inputs
    unset: list[UnsetVariable] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    include_stack: tuple[str, ...] = ()
    docs: list[yamlio.Document] = field(default_factory=list)
    """Every file read, latest last: where a path of the merged model was written."""


def _where(ctx: _Context, path: tuple[Any, ...], fallback: yamlio.Document | None = None
           ) -> tuple[str, yamlio.Span]:
    """The file and span where the merged model's ``path`` was last written (or the
    nearest ancestor that was)."""
    for p in [tuple(path[:n]) for n in range(len(path), 0, -1)]:
        for seen in reversed(ctx.docs):
            sp = seen.spans.get(p)
            if sp is not None:
                return seen.path, sp
    doc = fallback or (ctx.docs[-1] if ctx.docs else None)
    if doc is None:
        return ".", yamlio.Span(1, 1, 1, 1)
    return doc.path, doc.span(path)


def _model_error(ctx: _Context, path: tuple[Any, ...], message: str, code: str = "PL101",
                 fallback: yamlio.Document | None = None) -> ComposeError:
    file, sp = _where(ctx, path, fallback)
    return ComposeError(file, sp.line, sp.column, message, code)


# -- files and environment ------------------------------------------------------------


def _error_at(doc: yamlio.Document, path: tuple[Any, ...], message: str, code: str) -> ComposeError:
    sp = doc.span(path)
    return ComposeError(doc.path, sp.line, sp.column, message, code)


def read_env_file(path: str, environ: Mapping[str, str],
                  inputs: Inputs | None = None) -> dict[str, str]:
    """Read a ``.env`` file as Compose does: ``${VAR}`` in unquoted and double-quoted
    values expands from the environment first, then from earlier lines; single-quoted
    values are literal; a bare ``NAME`` takes its value from the environment."""
    data = inputs.read(path) if inputs is not None else None
    if data is None:
        try:
            data = yamlio.read_bytes(path)
        except OSError as e:
            raise ComposeError(
                path, 1, 1, f"cannot read env file: {e.strerror or e}", "PL101"
            ) from None
    try:
        text = yamlio.read_text(path, data)
    except yamlio.YamlError as e:
        # Compose passes the bytes of a .env that is not UTF-8 on: docs/compose-stricter.md
        raise ComposeError(path, e.line, e.column, f"env file: {e.message}", "PL101",
                           "S5") from None
    return _DotEnv(path, text, environ, inputs).parse()


_ENV_SPACE = "\t\v\f\r \x85\xa0"
"""compose-go's dotenv spaces: white space but not a line break."""

_EXPORT = re.compile(r"export\s+")
_ESCAPE = re.compile(r'\\(?:[abcfnrtv$"\\]|0\d{0,3})')
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v", '"': '"', "\\": "\\", "$": "$$"}


def _unescape(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[1] != "0":
        return _ESCAPES[text[1]]
    digits = text[2:]  # "\0ooo" is Go's "\ooo": three octal digits, else "\" + digits
    if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256:
        return chr(int(digits, 8))
    return "\\" + digits


class _DotEnv:
    """compose-go's dotenv reader (``dotenv/parser.go``), behaviour for behaviour: a
    key ends at ``=``, ``:`` or a line break (a bare ``NAME`` takes its value from the
    environment); an unquoted value is the rest of the line cut at the first `` #``;
    quoted values may span lines, double-quoted ones expand ``\\n`` & co; unquoted and
    double-quoted values are interpolated, the environment first, then earlier lines."""

    def __init__(self, path: str, text: str, environ: Mapping[str, str],
                 inputs: Inputs | None) -> None:
        self.path = path
        self.src = text
        self.environ = environ
        self.inputs = inputs
        self.line = 1
        self.values: dict[str, str] = {}

    def fail(self, message: str, line: int | None = None) -> ComposeError:
        return ComposeError(self.path, line or self.line, 1, f"env file: {message}", "PL101")

    def lookup(self, name: str) -> str | None:
        if self.inputs is not None:
            self.inputs.looked_up([name])
        if name in self.environ:
            return self.environ[name]
        return self.values.get(name)

    def expand(self, value: str, line: int) -> str:
        interp = Interpolator({**self.values, **self.environ})
        try:
            return interp.substitute(value)
        except TemplateError as e:
            raise self.fail(e.message, line) from None
        finally:
            if self.inputs is not None:
                self.inputs.looked_up(interp.read)

    def statement_start(self, src: str) -> str:
        while True:
            i = 0
            while i < len(src) and src[i].isspace():
                if src[i] == "\n":
                    self.line += 1
                i += 1
            src = src[i:]
            if not src or src[0] != "#":
                return src
            newline = src.find("\n")
            if newline == -1:
                return ""
            src = src[newline:]

    def parse(self) -> dict[str, str]:
        src = self.src
        while True:
            src = self.statement_start(src)
            if not src:
                return self.values
            line = self.line
            if _EXPORT.match(src):
                src = src[len("export"):].lstrip(_ENV_SPACE)
            key, offset, inherited = "", 0, False
            for i, c in enumerate(src):
                if c in _ENV_SPACE:
                    continue
                if c in "=:\n":
                    key, offset, inherited = src[:i], i + 1, c == "\n"
                    break
                if c in "_.-[]" or c.isalpha() or c.isnumeric():
                    continue
                first = src.split("\n", 1)[0]
                raise self.fail(f"unexpected character {c!r} in variable name {first!r}")
            if inherited and " " not in key:
                self.line += 1
            key = key.rstrip()
            rest = src[offset:].lstrip(_ENV_SPACE)
            if " " in key:
                raise self.fail("key cannot contain a space", line)
            if inherited:
                value = self.lookup(key)
                if value is not None:
                    self.values[key] = value
                src = rest
                continue
            self.values[key], src = self.value(rest)

    def value(self, src: str) -> tuple[str, str]:
        line = self.line
        if not src or src[0] not in "'\"":
            text, _, rest = src.partition("\n")
            self.line += 1
            text = text.partition(" #")[0].rstrip()
            return self.expand(text, line), rest
        quote = src[0]
        chars: list[str] = []
        escape = False
        for i in range(1, len(src)):
            c = src[i]
            if c == "\n":
                self.line += 1
            if c != quote:
                if not escape and c == "\\":
                    escape = True
                    continue
                if escape:
                    escape = False
                    chars.append("\\")
                chars.append(c)
                continue
            if escape:
                escape = False
                chars.append(c)
                continue
            text = "".join(chars)
            if quote == '"':
                text = self.expand(_ESCAPE.sub(_unescape, text), line)
            return text, src[i + 1:]
        raise self.fail(f"unterminated quoted value {src.split(chr(10), 1)[0]}", line)


def _find_default_files(start: str, inputs: Inputs) -> list[str]:
    """compose.yaml & co in ``start`` or the nearest parent folder that has one, plus the
    first override file found beside it (Compose picks it whatever the base's name)."""
    here = os.path.abspath(start)
    rel = start
    while True:
        for name in DEFAULT_FILES:
            candidate = os.path.join(here, name)
            if inputs.is_file(candidate):
                base = os.path.normpath(os.path.join(rel, name))
                found = [base]
                for over in OVERRIDE_FILES:
                    if inputs.is_file(os.path.join(here, over)):
                        found.append(os.path.normpath(os.path.join(rel, over)))
                        break
                return found
        parent = os.path.dirname(here)
        if parent == here:
            return []
        here = parent
        rel = os.path.join(rel, "..")


# -- one file -----------------------------------------------------------------------


def _delete_path(data: Any, path: tuple[Any, ...]) -> None:
    node = data
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        del node[last]


def _interpolate(
    value: Any,
    path: tuple[Any, ...],
    doc: yamlio.Document,
    ctx: _Context,
    environ: Mapping[str, str],
    unset_by_path: dict[tuple[Any, ...], list[str]],
) -> Any:
    if isinstance(value, str):
        if "$" not in value:  # nothing to substitute: most values of a compose file
            return value
        interp = Interpolator(environ)
        try:
            result = interp.substitute(value)
        except TemplateError as e:
            if e.variable is not None:
                raise _error_at(doc, path, e.message, "PL206") from None
            where = ".".join(str(p) for p in path)
            raise _error_at(
                doc, path, f"{e.message} in {where} (write $$ for a literal $)", "PL101"
            ) from None
        finally:
            ctx.inputs.looked_up(interp.read)
        if interp.unset:
            unset_by_path[path] = interp.unset
            sp = doc.span(path)
            for name in interp.unset:
                ctx.unset.append(UnsetVariable(name, doc.path, sp.line, sp.column, path))
        return result
    if isinstance(value, dict):
        return {
            k: _interpolate(v, path + (k,), doc, ctx, environ, unset_by_path)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, path + (i,), doc, ctx, environ, unset_by_path)
            for i, v in enumerate(value)
        ]
    return value


def _interpolate_in_place(
    data: dict[str, Any],
    doc: yamlio.Document,
    ctx: _Context,
    environ: Mapping[str, str],
    unset_by_path: dict[tuple[Any, ...], list[str]],
) -> dict[str, Any]:
    """:func:`_interpolate`, visiting only the strings that contain ``$``.

    The YAML module lists them while it builds the data (which it builds fresh for
    every file, so changing it in place is safe); a file's other values are left as
    they are instead of being copied. Used when no ``!reset`` removed anything first.
    """
    for path in doc.dollars:
        # A path may name nothing now: a merge key (<<) source's string that the
        # mapping itself overrides was listed too.
        parent: Any = data
        for key in path[:-1]:
            parent = _child(parent, key)
        value = _child(parent, path[-1])
        if isinstance(value, str):
            parent[path[-1]] = _interpolate(value, path, doc, ctx, environ, unset_by_path)
    return data


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


@dataclass
class _File:
    doc: yamlio.Document
    cfg: dict[str, Any]
    tagged: list[tuple[Any, ...]]


def _read_file(path: str, ctx: _Context, environ: Mapping[str, str], *, validate: bool) -> _File:
    raw = ctx.inputs.read(path)
    try:
        doc = yamlio.load(path, data=raw, compat="goyaml", local_tags=LOCAL_TAGS)
    except yamlio.YamlError as e:
        renamed = _unique_anchors(path, raw) if e.message == "second occurrence" else None
        if renamed is None:
            raise ComposeError(e.path, e.line, e.column, e.message, "PL101") from None
        try:
            doc = yamlio.load(path, data=renamed, compat="goyaml", local_tags=LOCAL_TAGS)
        except yamlio.YamlError as e2:
            raise ComposeError(e2.path, e2.line, e2.column, e2.message, "PL101") from None
    if path not in ctx.files:
        ctx.files.append(path)
    ctx.docs.append(doc)
    if doc.duplicates:
        dup = doc.duplicates[0]
        raise ComposeError(
            path,
            dup.span.line,
            dup.span.column,
            f'mapping key "{dup.key}" already defined at line {dup.first.line}',
            "PL102",
        )
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise _error_at(doc, (), "a compose file must be a mapping at the top level", "PL101")
    if doc.text.count("<<") > 1:
        _one_merge_key(doc)
    _string_keys(data, (), doc)
    if _UPPER_PREFIX.search(doc.text):
        _upper_go_ints(data, (), doc)
    if "!!float" in doc.text:
        _explicit_floats(data, (), doc, doc.text.splitlines())
    if () in doc.tags:  # Compose crashes on it (a nil dereference in compose-go)
        raise _error_at(doc, (), f"{doc.tags[()]} on the whole document: Compose cannot "
                        "load it", "PL101")
    tagged = sorted(doc.tags, key=len)
    for p in sorted(
        (p for p, t in doc.tags.items() if t == "!reset"), key=lambda p: (len(p), p), reverse=True
    ):
        _delete_path(data, p)
    unset_by_path: dict[tuple[Any, ...], list[str]] = {}
    if tagged:
        cfg = _interpolate(data, (), doc, ctx, environ, unset_by_path)
    else:
        cfg = _interpolate_in_place(data, doc, ctx, environ, unset_by_path)
    if validate:
        _validate(cfg, ctx, doc)
    _wrap_ports(cfg, doc, unset_by_path)
    return _File(doc, cfg, tagged)


def _plain_model(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` with its port wrappers replaced by the values they hold (a view)."""
    services = model.get("services")
    if not isinstance(services, dict):
        return model
    view = dict(model)
    view["services"] = plain = dict(services)
    for name, service in services.items():
        if isinstance(service, dict) and isinstance(service.get("ports"), list):
            plain[name] = {**service, "ports": [
                p.fields if isinstance(p, CanonicalPort) else p.value if isinstance(p, RawPort)
                else p for p in service["ports"]]}
    return view


def _validate(model: dict[str, Any], ctx: _Context, doc: yamlio.Document) -> None:
    from portledger.compose.schema import first_error

    err = first_error(_plain_model(model))
    if err is not None:
        epath, message = err
        code = (
            "PL205"
            if len(epath) >= 3 and epath[0] == "services" and epath[2] == "ports"
            else "PL101"
        )
        raise _model_error(
            ctx, epath, f"does not match the compose specification: {message}", code, doc
        )


_NAME = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _names_in(doc: yamlio.Document, span: yamlio.Span) -> tuple[str, ...]:
    """The variable names written in ``doc``'s text between the places of ``span``."""
    lines = doc.lines
    if not 1 <= span.line <= span.end_line <= len(lines):
        return ()
    if span.line == span.end_line:
        part = lines[span.line - 1][span.column - 1:span.end_column - 1]
    else:
        part = "\n".join([lines[span.line - 1][span.column - 1:],
                          *lines[span.line:span.end_line - 1],
                          lines[span.end_line - 1][:span.end_column - 1]])
    return tuple(dict.fromkeys(_NAME.findall(part)))


def _wrap_ports(
    cfg: dict[str, Any], doc: yamlio.Document, unset_by_path: dict[tuple[Any, ...], list[str]]
) -> None:
    for name, service in _services_with_ports(cfg):
        wrapped = []
        for i, item in enumerate(service["ports"]):
            path = ("services", name, "ports", i)
            variables: list[str] = []
            for p, names in unset_by_path.items():
                if p[: len(path)] == path:
                    variables.extend(n for n in names if n not in variables)
            raw: str | None = None
            if isinstance(item, dict) and isinstance(item.get("target"), str):
                # compose-go casts an interpolated target to an integer (strconv.Atoi)
                # before it merges, so "81" and 81 are the same entry to it.
                target = portspec.go_atoi(item["target"])
                if target is not None:
                    item = {**item, "target": target}
                else:
                    sp = doc.span(path + ("target",))
                    raise ComposeError(
                        doc.path,
                        sp.line,
                        sp.column,
                        f"invalid port: target {item['target']!r} is not an integer",
                        "PL205",
                    )
            span, text, plain = doc.scalar_facts(path)
            if not isinstance(item, dict):
                # The entry as written, before interpolation (the data may have been
                # interpolated in place); a value no scalar holds, as Python prints it.
                raw = text
                if raw is None and item is not None:
                    raw = str(item)
            read = _names_in(doc, span) if "$" in doc.text else ()
            origin = Origin(doc.path, span, raw, plain, tuple(variables), read)
            wrapped.append(RawPort(item, origin))
        service["ports"] = wrapped


# -- canonical ports and repeats ------------------------------------------------------


def _services_with_ports(model: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, service mapping) of each service of ``model`` that has a ``ports`` list."""
    services = model.get("services")
    if not isinstance(services, dict):
        return
    for name, service in services.items():
        if isinstance(service, dict) and isinstance(service.get("ports"), list):
            yield name, service


def _canonical_ports(dict_: dict[str, Any]) -> None:
    for _, service in _services_with_ports(dict_):
        result: list[Any] = []
        for item in service["ports"]:
            if isinstance(item, CanonicalPort):
                result.append(item)
                continue
            assert isinstance(item, RawPort)
            result.extend(_canonical(item))
        service["ports"] = result


def _port_error(origin: Origin, message: str, stricter: str | None = None, *,
                quotes_value: bool = True) -> ComposeError:
    if quotes_value and (origin.read or origin.variables):
        # What the entry became holds the variables' values (a secret would go to the log,
        # the annotations and SARIF): name the variables, quote only the file's own text.
        names = ", ".join(dict.fromkeys(origin.read + origin.variables))
        written = repr(origin.raw) if origin.raw is not None else "the entry"
        message = (f"{written}: with the value of {names} it is not a valid port entry "
                   "(values are not shown)")
    return ComposeError(
        origin.file, origin.span.line, origin.span.column, f"invalid port: {message}", "PL205",
        stricter,
    )


def _canonical(item: RawPort) -> list[CanonicalPort]:
    value = item.value
    origin = item.origin
    if isinstance(value, bool) or value is None:
        raise _port_error(origin, f"{value!r} is not a port entry")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise _port_error(origin, f"{value} is outside 1-65535")
        return [CanonicalPort({"target": value}, origin)]
    if isinstance(value, str):
        try:
            return [CanonicalPort(f, origin) for f in portspec.parse_short(value)]
        except portspec.PortSpecError as e:
            raise _port_error(origin, f"{value!r}: {e}") from None
    if isinstance(value, dict):
        return [CanonicalPort(value, origin)]  # checked in the final model: _check_long
    raise _port_error(origin, f"{value!r} is not a port number, string or mapping")


def _check_long(model: dict[str, Any]) -> None:
    """Check the long-syntax entries of the final model: Compose decodes them (and
    refuses a bad ``host_ip``) only once every file is merged, so an entry a later
    file resets is no error; short syntax it parses file by file."""
    for _, service in _services_with_ports(model):
        for entry in service["ports"]:
            if isinstance(entry, CanonicalPort) and entry.origin.raw is None:
                try:
                    portspec.check_long(entry.fields)
                except portspec.PortSpecError as e:
                    raise _port_error(entry.origin, str(e), e.stricter) from None


def _enforce_unicity(dict_: dict[str, Any]) -> None:
    for _, service in _services_with_ports(dict_):
        seq: list[Any] = []
        keys: dict[str, int] = {}
        for entry in service["ports"]:
            value = entry.fields if isinstance(entry, CanonicalPort) else entry.value
            key = portspec.unicity_key(value)
            if key is None:
                raise _port_error(entry.origin, "long-syntax port has no target",
                                  quotes_value=False)
            if key in keys:
                seq[keys[key]] = entry
            else:
                keys[key] = len(seq)
                seq.append(entry)
        service["ports"] = seq


def _unique_items(dict_: dict[str, Any]) -> None:
    # Compose validates the merged model after removing repeats by its own key; the
    # schema's uniqueItems then refuses entries its key tells apart but its validator
    # holds equal (published 8081 and "8081").
    for _, service in _services_with_ports(dict_):
        seen: set[Any] = set()
        for entry in service["ports"]:
            value = entry.fields if isinstance(entry, CanonicalPort) else entry.value
            key = portspec.loose(value)
            if key in seen:
                raise _port_error(entry.origin, "the same port entry is written twice",
                                  quotes_value=False)
            seen.add(key)


# -- merging --------------------------------------------------------------------------


class _MergeConflict(Exception):
    """compose-go's "cannot override PATH": a mapping or sequence met another kind."""

    def __init__(self, path: tuple[Any, ...]) -> None:
        super().__init__(path)
        self.path = path


_SPECIAL_MERGES = frozenset({
    "annotations", "build", "command", "depends_on", "deploy", "dns", "dns_opt",
    "dns_search", "entrypoint", "env_file", "environment", "extra_hosts", "healthcheck",
    "label_file", "labels", "logging", "models", "networks", "sysctls", "tmpfs", "ulimits",
    "volumes",
})
"""Service keys compose-go merges by rules of their own (``override/merge.go``: a list
and a mapping of environment variables merge into one list, a string ``build`` and a
mapping merge...): never "cannot override" there."""


def _merge(base: Any, over: Any, path: tuple[Any, ...] = ()) -> Any:
    """compose-go ``override.Merge`` for what ports depend on: a null changes nothing,
    mappings merged key by key (``x-`` keys replaced), sequences appended, a mapping or
    sequence over another kind of value is an error, anything else replaced."""
    if over is None:
        return base
    if len(path) >= 3 and path[0] == "services" and path[2] in _SPECIAL_MERGES:
        if isinstance(base, dict) is not isinstance(over, dict) or isinstance(
            base, list
        ) is not isinstance(over, list):
            return over  # compose-go merges these its own way, whatever their forms
    elif len(path) == 3 and path[0] in ("networks", "volumes") and path[2] == "labels":
        if type(base) is not type(over):
            return over
    if isinstance(base, dict):
        if not isinstance(over, dict):
            raise _MergeConflict(path)
        for k, v in over.items():
            if k in base and not str(k).startswith("x-"):
                base[k] = _merge(base[k], v, path + (k,))
            else:
                base[k] = v
        return base
    if isinstance(base, list):
        if not isinstance(over, list):
            raise _MergeConflict(path)
        return base + over
    return over


def _merge_file(base: dict[str, Any], over: dict[str, Any], ctx: _Context,
                doc: yamlio.Document, at: tuple[Any, ...] = ()) -> dict[str, Any]:
    try:
        merged: dict[str, Any] = _merge(base, over, at)
    except _MergeConflict as e:
        where = ".".join(str(p) for p in e.path)
        raise _error_at(doc, e.path, f"cannot override {where}", "PL101") from None
    return merged


def _apply_tags(target: dict[str, Any], tagged: list[tuple[Any, ...]]) -> None:
    # compose-go names list items differently when it records a tag and when it looks
    # for them in what earlier files built, so a tag on (or below) a list item changes
    # only its own file: the earlier lists stay whole.
    for path in tagged:
        if not any(isinstance(p, int) for p in path):
            _delete_path(target, path)


# -- extends --------------------------------------------------------------------------


def _extends(
    name: str,
    services: dict[str, Any],
    file: _File,
    base_dir: str,
    ctx: _Context,
    environ: Mapping[str, str],
    stack: tuple[tuple[str, str], ...],
) -> Any:
    service = services.get(name)
    if not isinstance(service, dict) or "extends" not in service:
        return service
    spec = service["extends"]
    doc = file.doc
    here = ("services", name, "extends")
    if isinstance(spec, str):
        ref, other = spec, None
    elif isinstance(spec, dict) and isinstance(spec.get("service"), str):
        ref, other = spec["service"], spec.get("file")
    else:
        raise _error_at(doc, here, f"extends of service {name!r} needs a service name", "PL101")
    key = (doc.path, name)
    if key in stack:
        raise _error_at(doc, here, f"extends of service {name!r} is circular", "PL101")
    if other is not None:
        if not isinstance(other, str) or "://" in other or other.startswith("git@"):
            err = _error_at(doc, here, f"extends file {other!r} cannot be read locally", "PL101")
            err.stricter = "S6"
            raise err
        path = os.path.normpath(os.path.join(base_dir, other))
        if not ctx.inputs.is_file(path):
            raise _error_at(doc, here, f"extends file {other!r} not found", "PL101")
        base_file = _read_file(path, ctx, environ, validate=False)
        _canonical_ports(base_file.cfg)
        _enforce_unicity(base_file.cfg)
        base_services = base_file.cfg.get("services")
        if not isinstance(base_services, dict) or ref not in base_services:
            raise _error_at(
                doc, here, f"service {ref!r} not found in extends file {other!r}", "PL101"
            )
        base = _extends(
            ref,
            base_services,
            base_file,
            os.path.dirname(path) or ".",
            ctx,
            environ,
            stack + (key,),
        )
    else:
        if ref not in services:
            raise _error_at(
                doc, here, f"cannot extend service {name!r}: {ref!r} not found", "PL101"
            )
        base = _extends(ref, services, file, base_dir, ctx, environ, stack + (key,))
    if base is None:
        return service
    source = copy.deepcopy(base)
    if not isinstance(source, dict):
        raise _error_at(doc, here, f"service {ref!r} is not a mapping", "PL101")
    prefix = ("services", name)
    _apply_tags({"services": {name: source}}, [p for p in file.tagged if p[:2] == prefix])
    merged = _merge_file(source, {k: v for k, v in service.items()}, ctx, doc, prefix)
    merged.pop("extends", None)
    services[name] = merged
    return merged


# -- include --------------------------------------------------------------------------


def _include(file: _File, working_dir: str, ctx: _Context, environ: Mapping[str, str]) -> None:
    entries = file.cfg.pop("include", None)
    if entries is None:
        return
    doc = file.doc
    if not isinstance(entries, list):
        raise _error_at(doc, ("include",), "include must be a list", "PL101")
    for i, entry in enumerate(entries):
        here = ("include", i)
        if isinstance(entry, str):
            entry = {"path": entry}
        paths = entry.get("path")
        paths = [paths] if isinstance(paths, str) else list(paths or [])
        if not paths:
            raise _error_at(doc, here, "include entry has no path", "PL101")
        files = []
        for p in paths:
            if "://" in p or p.startswith("git@") or p.startswith("oci:"):
                err = _error_at(doc, here, f"remote include {p!r} is not supported", "PL101")
                err.stricter = "S6"
                raise err
            files.append(os.path.normpath(os.path.join(working_dir, p)))
        for f in files:
            if not ctx.inputs.is_file(f):
                raise _error_at(doc, here, f"included file {f!r} not found", "PL101")
        if files[0] in ctx.include_stack:
            raise _error_at(doc, here, f"include cycle through {files[0]!r}", "PL101")
        project_dir = entry.get("project_directory")
        if not project_dir:
            sub_dir = os.path.dirname(files[0]) or "."
        else:
            sub_dir = os.path.normpath(os.path.join(working_dir, project_dir))
        env_files = entry.get("env_file")
        if env_files is None:
            default = os.path.join(sub_dir, ".env")
            env_list = [default] if ctx.inputs.is_file(default) else []
        else:
            env_list = [env_files] if isinstance(env_files, str) else list(env_files)
            env_list = [os.path.normpath(os.path.join(working_dir, e)) for e in env_list]
        from_files: dict[str, str] = {}
        for env_file in env_list:
            from_files.update(read_env_file(env_file, {**from_files, **environ}, ctx.inputs))
        sub_env = {**from_files, **environ}  # the including project's variables win
        sub_ctx = _Context(sub_env, ctx.inputs, ctx.unset, ctx.files,
                           ctx.include_stack + (files[0],))
        imported = _load_files(files, sub_dir, sub_ctx)
        plain_imported = _plain_model(imported)
        plain_here = _plain_model(file.cfg)
        for key in ("services", "volumes", "networks", "secrets", "configs", "models"):
            resources = imported.get(key)
            if not isinstance(resources, dict):
                continue
            target = file.cfg.get(key)
            if not isinstance(target, dict):
                target = file.cfg[key] = {}
            for name, value in resources.items():
                if name in target and (plain_here.get(key) or {}).get(name) != (
                    plain_imported.get(key) or {}
                ).get(name):
                    raise _error_at(doc, here, f"{key}.{name} conflicts with an included "
                                    "resource", "PL101")
                target[name] = value


# -- project --------------------------------------------------------------------------


def _load_files(files: list[str], working_dir: str, ctx: _Context) -> dict[str, Any]:
    dict_: dict[str, Any] = {}
    first: yamlio.Document | None = None
    for path in files:
        file = _read_file(path, ctx, ctx.environ, validate=False)
        first = first or file.doc
        # compose-go's order: extends, the tags on what earlier files built, include
        # (so a service cannot extend one that only an include brings), merge.
        services = file.cfg.get("services")
        if isinstance(services, dict):
            for name in list(services):
                _extends(name, services, file, working_dir, ctx, ctx.environ, ())
        _apply_tags(dict_, file.tagged)
        _include(file, working_dir, ctx, ctx.environ)
        dict_ = _merge_file(dict_, file.cfg, ctx, file.doc)
        _enforce_unicity(dict_)
        # Compose validates the merged model, after each file (a later file's null
        # changes nothing; a value only a later file fixes is still an error).
        _validate(dict_, ctx, file.doc)
        _unique_items(dict_)
        _canonical_ports(dict_)
        _enforce_unicity(dict_)
    if not dict_ and first is not None:
        raise ComposeError(first.path, 1, 1, "empty compose file", "PL101")
    return dict_


@dataclass
class LoadedProject:
    """The merged model plus what loading it noticed."""

    model: dict[str, Any]
    files: list[str]
    unset: list[UnsetVariable]
    environ: dict[str, str]
    profiles: list[str]
    working_dir: str
    inputs: Inputs


def load(
    files: list[str] | None = None,
    project_directory: str | None = None,
    env_files: list[str] | None = None,
    profiles: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    fallback: Mapping[str, str] | None = None,
) -> LoadedProject:
    """Load and merge a compose project; raise :class:`ComposeError` where Compose fails.

    ``fallback`` gives values to variables that neither the environment nor the
    ``.env`` files set (portledger passes the ledger's exported ports).
    """
    os_env = dict(os.environ if environ is None else environ)
    inputs = Inputs(os_env)
    # As docker compose does: the .env of the folder known so far (the project
    # directory, the first -f file's or the current one), then COMPOSE_FILE or the
    # default files, then the .env of the project's folder if that is another one.
    # Earlier values win: the environment, then the first .env, then the second.
    if project_directory is not None:
        working_dir = project_directory
    elif files:
        working_dir = os.path.dirname(files[0]) or "."
    else:
        working_dir = "."
    read_env: list[str] = []
    from_files: dict[str, str] = {}

    def dotenv(folder: str) -> None:
        if env_files:
            env_list = list(env_files)
        else:
            default = os.path.join(folder, ".env")
            env_list = [default] if inputs.is_file(default) else []
        if any(os.path.abspath(f) in read_env for f in env_list):
            return  # the same files again
        this_pass: dict[str, str] = {}  # within one pass, a later file wins
        for env_file in env_list:
            read_env.append(os.path.abspath(env_file))
            if not inputs.is_file(env_file):
                raise ComposeError(env_file, 1, 1, "env file not found", "PL101")
            this_pass.update(
                read_env_file(env_file, {**from_files, **this_pass, **os_env}, inputs)
            )
        for k, v in this_pass.items():
            from_files.setdefault(k, v)

    dotenv(working_dir)
    env = {**(fallback or {}), **from_files, **os_env}
    if not files:
        inputs.looked_up(["COMPOSE_FILE"])
        compose_file = env.get("COMPOSE_FILE")
        if compose_file:
            inputs.looked_up(["COMPOSE_PATH_SEPARATOR"])
            sep = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
            # relative to the current folder, not to the project directory
            files = [os.path.normpath(f) for f in compose_file.split(sep) if f]
        else:
            files = _find_default_files(working_dir, inputs)
            if not files:
                raise ComposeError(
                    working_dir,
                    1,
                    1,
                    "no compose file found (compose.yaml, compose.yml, docker-compose.yml, "
                    "docker-compose.yaml)",
                    "PL101",
                )
        if project_directory is None and files:
            working_dir = os.path.dirname(files[0]) or "."
            dotenv(working_dir)
            env = {**(fallback or {}), **from_files, **os_env}
    for f in files:
        if not inputs.is_file(f):
            raise ComposeError(f, 1, 1, "no such compose file", "PL101")
    if profiles:
        active = list(profiles)
    else:
        inputs.looked_up(["COMPOSE_PROFILES"])
        active = [p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    ctx = _Context(env, inputs)
    model = _load_files(list(files), working_dir, ctx)
    _check_long(model)
    loaded = LoadedProject(model, ctx.files, ctx.unset, env, active, working_dir, inputs)
    check_consistency(loaded, ctx)
    return loaded


def _named_volume(entry: Any) -> str | None:
    """The named volume a service's volume entry mounts (None: a bind or anonymous)."""
    if isinstance(entry, dict):
        source = entry.get("source")
        kind = entry.get("type", "volume")
        return source if kind == "volume" and isinstance(source, str) and source else None
    if not isinstance(entry, str):
        return None
    source, sep, _ = entry.partition(":")
    if not sep or not source or source.startswith((".", "/", "~", "$")) or "/" in source:
        return None
    if len(source) == 1 and source.isalpha() and entry[2:3] in ("\\", "/"):
        return None  # a Windows drive letter
    return source


def _names(value: Any) -> list[str]:
    """The names of a list or mapping of references (depends_on, networks, secrets)."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, dict) and isinstance(v.get("source"), str):
                out.append(v["source"])
            elif isinstance(v, str):
                out.append(v)
        return out
    return []


def _dependencies(service: dict[str, Any]) -> list[str]:
    """compose-go's normalized ``depends_on``: its own entries, then ``links``,
    ``volumes_from`` and ``service:`` namespaces (network_mode, ipc, pid, uts, cgroup)."""
    names = _names(service.get("depends_on"))
    for link in service.get("links") or []:
        if isinstance(link, str):
            names.append(link.partition(":")[0])
    for source in service.get("volumes_from") or []:
        if isinstance(source, str) and not source.startswith("container:"):
            names.append(source.partition(":")[0])
    for namespace in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        ref = service.get(namespace)
        if isinstance(ref, str) and ref.startswith("service:"):
            names.append(ref[len("service:"):])
    return list(dict.fromkeys(names))


def check_consistency(loaded: LoadedProject, ctx: _Context) -> None:
    """compose-go's ``checkConsistency`` (and Compose's container name check) on the
    enabled services, as far as a project can fail it without running anything."""
    model = loaded.model
    services = model.get("services") or {}
    on = {n: s for n, s in services.items() if isinstance(s, dict) and enabled(s, loaded.profiles)}
    top = {k: (model.get(k) or {}) for k in ("networks", "volumes", "secrets", "configs")}
    containers: dict[str, str] = {}
    for name, s in on.items():
        here = ("services", name)
        if not s.get("image") and s.get("build") is None and s.get("provider") is None:
            raise _model_error(ctx, here, f"service {name!r} has neither an image nor a "
                               "build context specified")
        networks = s.get("networks")
        if s.get("network_mode") and networks:
            raise _model_error(ctx, here + ("network_mode",), f"service {name!r} declares "
                               "mutually exclusive network_mode and networks")
        for net in _names(networks):
            if net not in top["networks"] and net != "default":
                raise _model_error(ctx, here + ("networks",),
                                   f"service {name!r} refers to undefined network {net!r}")
        depends = s.get("depends_on")
        for dep in _dependencies(s):
            if dep in on:
                continue
            cfg = depends.get(dep) if isinstance(depends, dict) else None
            required = not isinstance(cfg, dict) or cfg.get("required", True) is not False
            if dep in services and not required:
                continue
            raise _model_error(ctx, here + ("depends_on",),
                               f"service {name!r} depends on undefined service {dep!r}")
        mode = s.get("network_mode")
        if isinstance(mode, str) and mode.startswith("service:") and mode[8:] not in on:
            raise _model_error(ctx, here + ("network_mode",),
                               f"service {mode[8:]!r} not found for network_mode {mode!r}")
        for volume in s.get("volumes") or []:
            vname = _named_volume(volume)
            if vname is not None and vname not in top["volumes"]:
                raise _model_error(ctx, here + ("volumes",),
                                   f"service {name!r} refers to undefined volume {vname!r}")
        for kind in ("secrets", "configs"):
            for ref in _names(s.get(kind)):
                if ref not in top[kind]:
                    raise _model_error(ctx, here + (kind,), f"service {name!r} refers to "
                                       f"undefined {kind[:-1]} {ref!r}")
        cname = s.get("container_name")
        if isinstance(cname, str) and cname:
            if cname in containers:
                raise _model_error(ctx, here + ("container_name",), f"container name "
                                   f"{cname!r} is already used by service {containers[cname]!r}")
            containers[cname] = name
    _check_cycles(on, ctx)


def _check_cycles(on: dict[str, dict[str, Any]], ctx: _Context) -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in _dependencies(on[name]):
            if dep not in on:
                continue
            if state.get(dep) == 1:
                cycle = " -> ".join([*path[path.index(dep):], dep])
                raise _model_error(ctx, ("services", name, "depends_on"),
                                   f"dependency cycle detected: {cycle}")
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in on:
        if name not in state:
            visit(name, [name])


def enabled(service: dict[str, Any], active: list[str]) -> bool:
    """Compose's profile rule: no profiles, or one of them active (``*`` enables all)."""
    own = service.get("profiles") or []
    if not own:
        return True
    return "*" in active or any(p in active for p in own)
