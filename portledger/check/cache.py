"""Caches for ``check``: a hook that runs on every commit reads again only the compose
projects whose inputs changed (:class:`ComposeCache`), and a ledger only when its bytes
changed (:class:`LedgerCache`).

A project's ports depend on the bytes of the files Compose reads for it (compose files,
their overrides, ``.env`` files, ``extends`` and ``include`` files), on which of the
files it looks for exist, and on the environment variables it reads. Loading records
each path it looked at with the SHA-256 of what it read there, or "no file", and each
variable it looked up with its value (:class:`portledger.compose.loader.Inputs`). An
entry is used only when every one of those paths still holds the same bytes (or still
no file) and every one of those variables still has the same value (or is still unset);
other variables may change freely. The whole cache is used only when the current folder
(paths are shown relative to it) and the code that loads (portledger's own files,
PyYAML, python-dotenv, the JSON Schema validators) are the same as when it was written.
Only projects that loaded without error are kept.

One file per ledger folder, ``compose-<hash>.jsonl`` in ``$PORTLEDGER_CACHE_DIR`` (or
``$XDG_CACHE_HOME/portledger``, ``~/.cache/portledger``): a first line with the key
described above, then one line per project (its spec, a tab, a JSON entry). JSON, not
pickle: a cache file someone else could write must not run code. Nor may it change a
verdict: every file is signed (:mod:`portledger.cachekey`: HMAC-SHA256, its first line)
with a key only this user holds, outside the cache folder, so an entry
planted in a shared cache folder, or in a CI cache restored from another branch's run,
is not trusted even when every digest in it matches: it is an empty cache. A missing,
unreadable, corrupt, unsigned or stale file is an empty cache; a cache that cannot be
written (or signed) is no cache.
Files that no check has written for 30 days are removed when another is written.
Nothing is printed about it either way: the cache changes how long a check takes, never
what it says.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portledger import yamlio
from portledger.cachekey import secret, sign, signed_body
from portledger.paths import cache_directory as directory
from portledger.paths import code_stamps

__all__ = ["directory", "secret", "sign", "signed_body"]  # as portledger.cachekey, .paths

if TYPE_CHECKING:
    from portledger.compose import PortBinding, Project

FORMAT = 2
"""Bumped whenever an entry's layout changes."""


@functools.lru_cache(maxsize=4)
def cache_key(cwd: str) -> str:
    """The key of every cache file (both caches of a check ask for it)."""
    return json.dumps([FORMAT, cwd, code_stamps()], separators=(",", ":"))


def spec_key(directory_: str, files: list[str] | None) -> str:
    return json.dumps([directory_, files], separators=(",", ":"))


def entry_line(project: Project) -> str | None:
    """The cache entry of a loaded :class:`portledger.compose.Project` (None when its
    inputs are not all known)."""
    if project.inputs is None:
        return None
    paths, variables = project.inputs
    return json.dumps({
        "inputs": list(paths.items()),
        "variables": list(variables.items()),
        "files": project.files,
        "unset": [u.name for u in project.unset_variables],
        "bindings": list(map(_BINDING_ROW, project.bindings)),
    }, separators=(",", ":"))


_BINDING_FIELDS = ("service", "host_ip", "published", "target", "protocol", "file", "line",
                   "column", "end_line", "end_column", "variables", "raw", "plain",
                   "host_network", "exposed")
"""A PortBinding's fields, in the order of a cache row."""
_BINDING_ROW = operator.attrgetter(*_BINDING_FIELDS)


def bindings_of(entry: dict[str, Any]) -> list[PortBinding]:
    """The PortBindings of a sound entry (:func:`valid_entry`)."""
    from portledger.compose import PortBinding

    bindings = []
    for row in entry["bindings"]:
        fields = dict(zip(_BINDING_FIELDS, row, strict=True))
        fields["variables"] = tuple(fields["variables"])
        bindings.append(PortBinding(**fields))
    return bindings


def _pairs(value: Any) -> list[tuple[str, str | None]] | None:
    """``value`` as [name, text or null] pairs, or None when it is not that."""
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and (item[1] is None or isinstance(item[1], str))):
            return None
        out.append((item[0], item[1]))
    return out


def unchanged(inputs: Any, variables: Any, environ: Mapping[str, str]) -> bool:
    """Whether every path holds the bytes (or still no file) and every variable the
    value (or is still unset) that a load recorded."""
    paths, names = _pairs(inputs), _pairs(variables)
    if paths is None or names is None:  # a damaged entry (an int is no path: it is a fd)
        return False
    for name, value in names:
        if environ.get(name) != value:
            return False
    for path, digest in paths:
        if digest is None:
            if os.path.isfile(path):
                return False
            continue
        try:
            data = yamlio.read_bytes(path)
        except OSError:
            return False
        if hashlib.sha256(data).hexdigest() != digest:
            return False
    return True


def write(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` atomically; False when it cannot be written."""
    import tempfile  # only when something changed: random and its seeding, per run

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".portledger-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    _prune(path.parent)
    return True


STALE_DAYS = 30
"""Cache files not written for this long (of folders checked no more) are removed."""


def _prune(folder: Path) -> None:
    """Remove this cache's files that nothing has written for ``STALE_DAYS`` (a file per
    ledger folder would otherwise pile up for every checkout and temporary folder)."""
    import time

    limit = time.time() - STALE_DAYS * 86400
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(("compose-", "ledger-", "verdict-", ".portledger-"))
                and name.endswith((".jsonl", ".json", ".tmp"))):
            continue  # not ours: a shared folder may hold other files
        try:
            if entry.stat().st_mtime < limit:
                os.unlink(entry.path)
        except OSError:
            pass


_TEXT_OR_NULL = (str, type(None))
_ROW_TYPES: tuple[Any, ...] = (str, _TEXT_OR_NULL, _TEXT_OR_NULL, int, str, str, int, int,
                               int, int, list, _TEXT_OR_NULL, bool, bool, bool)
"""The JSON types of a cache row's fields (in _BINDING_FIELDS' order)."""


def valid_entry(line: str, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The entry a cache line holds, when every input it read is unchanged and the line is
    sound (a damaged one is as good as absent: its fields are checked, not trusted)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not (isinstance(entry, dict) and _sound(entry)):
        return None
    if not unchanged(entry["inputs"], entry["variables"], environ):
        return None
    return entry


def _sound(entry: dict[str, Any]) -> bool:
    rows = entry.get("bindings")
    texts = [entry.get("files"), entry.get("unset")]
    return (
        isinstance(rows, list)
        and all(isinstance(row, list) and len(row) == len(_ROW_TYPES)
                and all(isinstance(v, t) for v, t in zip(row, _ROW_TYPES, strict=True))
                and all(isinstance(v, str) for v in row[10])
                for row in rows)
        and all(isinstance(t, list) and all(isinstance(v, str) for v in t) for t in texts)
    )


class ComposeCache:
    """The entries of one ledger folder's cache file, and the lines to write back."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.lines: dict[str, str] = {}
        self._read_text = ""
        self.secret: bytes | None = None

    @classmethod
    def open(cls, root: Path, environ: Mapping[str, str] | None = None,
             bound: str | None = None) -> ComposeCache:
        """The cache of the ledger folder ``root``, for loads that may read under
        ``bound`` only (another bound is another cache: a file read outside the new
        one must be refused, not remembered)."""
        name = hashlib.sha256(str(root).encode()).hexdigest()[:24]
        folder = directory(os.environ if environ is None else environ)
        key = cache_key(os.getcwd())
        if bound is not None:
            key = json.dumps([key, bound], separators=(",", ":"))
        cache = cls(folder / f"compose-{name}.jsonl", key)
        cache.secret = secret(environ)
        try:
            text = signed_body(cache.path.read_text(encoding="utf-8"), cache.secret)
        except (OSError, UnicodeDecodeError):
            return cache
        if text is None:
            return cache
        head, _, body = text.partition("\n")
        if head != cache.key:
            return cache
        cache._read_text = text
        for line in body.split("\n"):
            k, tab, v = line.partition("\t")
            if tab:
                cache.lines[k] = v
        return cache

    def save(self, lines: Mapping[str, str], keep_others: bool) -> None:
        """Write ``lines`` (with the entries of other projects when ``keep_others``),
        atomically; nothing when the file would not change or cannot be written."""
        merged = {**self.lines, **lines} if keep_others else dict(lines)
        text = "".join(
            [self.key, "\n", *(f"{k}\t{v}\n" for k, v in sorted(merged.items()))])
        if text == self._read_text or self.secret is None:
            return
        if write(self.path, sign(text, self.secret)):
            self._read_text = text


class LedgerCache:
    """The values of a ledger that loaded without a finding, by the SHA-256 of its bytes.

    Reading a large ledger is mostly YAML; a hook run on a commit that left the ledger
    alone takes its values from here (``ledger-<hash>.json``: the key line, the digest
    line, the values as JSON). Positions are then looked up in the ledger's text only when
    a finding needs one (:func:`portledger.yamlio.known`).
    """

    def __init__(self, path: Path, key: str, secret_: bytes | None = None) -> None:
        self.path = path
        self.key = key
        self.secret = secret_

    @classmethod
    def open(cls, ledger: Path, environ: Mapping[str, str] | None = None) -> LedgerCache:
        name = hashlib.sha256(str(ledger.resolve()).encode()).hexdigest()[:24]
        folder = directory(os.environ if environ is None else environ)
        return cls(folder / f"ledger-{name}.json", cache_key(os.getcwd()), secret(environ))

    def get(self, digest: str) -> Any:
        """The values stored for a ledger with these bytes (None: none stored)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                text = signed_body(f.read(), self.secret)
            if text is None:
                return None
            key, _, rest = text.partition("\n")
            stored, _, values = rest.partition("\n")
            if key != self.key or stored != digest:
                return None
            return json.loads(values)
        except (OSError, ValueError):
            return None

    def put(self, digest: str, values: Any) -> None:
        """Store ``values`` for the ledger with these bytes (quietly not, when it cannot)."""
        if self.secret is None:
            return
        try:
            text = json.dumps(values, separators=(",", ":"))
        except (TypeError, ValueError):
            return
        write(self.path, sign(f"{self.key}\n{digest}\n{text}", self.secret))
