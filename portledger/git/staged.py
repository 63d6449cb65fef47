"""The staged port diff of a commit, computed once: ``prepare-commit-msg`` leaves it in
portledger's cache and ``commit-msg`` reads it back, so one ``git commit`` loads the
ledger and the compose projects of its two states once, not twice.

What it holds (:class:`Staged`): the port changes from the base commit to the index, in
the few fields the gate reads (:class:`StagedChange`), the notes about projects that did
not load, and the trailers a commit creating the ledger needs not have. It is the whole
of what ``commit-msg`` takes from the repository's contents; the message, its trailers,
a merge in progress and the settings are read again by each hook.

The key (:func:`key`) names everything that decides that diff: the base commit, the
index (the SHA-256 of ``git ls-files --stage -z``: every staged path, mode, blob and
stage, so it is the tree ``git write-tree`` would write, read without writing any
object), the ledger as ``--mapping`` gives it (a ledger outside the repository by the
digest of its bytes), the folder the hook runs in (the nearest ledger is looked for
from there), and the code that computes the diff (Python, portledger's version and the
size and modification time of each of its files, PyYAML, python-dotenv and the schema
validators). An entry is used only when its key equals the key computed now and its body
is signed by this user (:mod:`portledger.cachekey`: HMAC-SHA256 with a key only this
user holds, the key the check's caches are signed with) and well-formed (each field of
the expected type); anything else, a missing, unreadable, damaged, stale, unsigned or
planted file, is no entry, and the diff is computed again and written back. JSON, never
pickle: a file someone else could write must not run code. Like the check's cache it
changes how long a hook takes, never what it says, and nothing is printed about it.

One file a repository (``staged-<hash of the git folder>.json``, so each worktree has
its own) in ``$PORTLEDGER_CACHE_DIR`` or ``$XDG_CACHE_HOME/portledger`` or
``~/.cache/portledger`` (:func:`portledger.paths.cache_directory`, the folder of
``check``'s cache); written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from portledger.findings import Finding
    from portledger.git.diff import PortChange
    from portledger.git.repo import Repository


FORMAT = 1
"""Bumped whenever an entry's layout changes."""


class StagedChange(NamedTuple):
    """One port change, as the gate needs it (see :class:`portledger.git.diff.PortChange`)."""

    kind: str
    source: str
    service: str
    file: str
    line: int
    column: int
    port: str
    """The port after the change (before it, for a removal): ``8000`` or ``9000-9002``."""
    protocol: str
    trailer: str

    @classmethod
    def of(cls, change: PortChange) -> StagedChange:
        port = change.current
        return cls(change.kind, change.source, change.service, change.file, change.line,
                   change.column, port.port, port.protocol, change.trailer)


_TYPES = tuple(str if name not in ("line", "column") else int
               for name in StagedChange._fields)


class Staged(NamedTuple):
    """The staged port diff: what ``commit-msg`` and ``prepare-commit-msg`` read."""

    changes: tuple[StagedChange, ...]
    notes: tuple[str, ...]
    excused: frozenset[str]
    """The trailers (normalized) a commit that creates the ledger needs not have."""
    findings: tuple[Finding, ...] = ()
    """PL101 for a project the diff would not read (:attr:`portledger.git.diff.Diff.findings`):
    a diff with any is never cached, so a cached one has none."""

    def trailers(self) -> list[str]:
        """Each change's trailer value once, in change order."""
        return list(dict.fromkeys(c.trailer for c in self.changes))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_stamp() -> str:
    """What identifies the code that computes a diff (see the module's key): the files
    :func:`portledger.paths.code_stamps` names, and portledger's version."""
    import portledger
    from portledger.paths import code_stamps

    return _digest(json.dumps([portledger.__version__, *code_stamps()]).encode())


def _ledger_identity(repo: Repository, mapping: str | None) -> list[Any]:
    """``--mapping`` as the reader takes it (:func:`portledger.git.reader.reader_for`): a
    path inside the repository is read from each state, so its name is enough; a ledger
    outside it is the same for both states, so its bytes count."""
    if mapping is None:
        return [None]
    path = Path(mapping)
    absolute = (path if path.is_absolute() else Path.cwd() / path).resolve()
    try:
        return ["inside", absolute.relative_to(repo.root).as_posix()]
    except ValueError:
        pass
    try:
        return ["outside", str(absolute), _digest(absolute.read_bytes())]
    except OSError:
        return ["outside", str(absolute), None]


def key(repo: Repository, base: str | None, listing: str, mapping: str | None) -> str:
    """The key of the staged diff from ``base`` to the index ``listing`` lists (``git
    ls-files --stage -z``'s output)."""
    return json.dumps([
        FORMAT, code_stamp(), str(repo.root), str(repo.git_dir), str(Path.cwd().resolve()),
        _ledger_identity(repo, mapping), base,
        _digest(listing.encode("utf-8", "surrogateescape")),
    ], separators=(",", ":"))


def cache_file(repo: Repository, environ: Mapping[str, str] | None = None) -> Path:
    from portledger.paths import cache_directory

    where = cache_directory(os.environ if environ is None else environ)
    return where / f"staged-{_digest(os.fsencode(repo.git_dir))[:16]}.json"


def _body(wanted: str, staged: Staged) -> str:
    return json.dumps({"key": wanted, "changes": [list(c) for c in staged.changes],
                       "notes": list(staged.notes), "excused": sorted(staged.excused)},
                      separators=(",", ":"))


def _sound(doc: Any) -> bool:
    """Whether a decoded entry has the expected shape (each field of its type)."""
    if not isinstance(doc, dict):
        return False
    changes, notes, excused = doc.get("changes"), doc.get("notes"), doc.get("excused")
    return (isinstance(changes, list) and isinstance(notes, list)
            and isinstance(excused, list)
            and all(isinstance(n, str) for n in [*notes, *excused])
            and all(isinstance(c, list) and len(c) == len(_TYPES)
                    and all(type(v) is t for v, t in zip(c, _TYPES, strict=True))
                    for c in changes))


def load(path: Path, wanted: str, environ: Mapping[str, str] | None = None) -> Staged | None:
    """The entry in ``path`` when this user signed it, its key is ``wanted`` and it is
    whole; else None."""
    from portledger import cachekey

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError:
        return None
    body = cachekey.signed_body(text, cachekey.secret(environ))
    if body is None:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not _sound(doc) or doc.get("key") != wanted:
        return None
    return Staged(tuple(StagedChange(*c) for c in doc["changes"]), tuple(doc["notes"]),
                  frozenset(doc["excused"]))


def save(path: Path, wanted: str, staged: Staged,
         environ: Mapping[str, str] | None = None) -> None:
    """Write the entry, signed (atomically; a cache that cannot be written or signed is
    no cache)."""
    from portledger import cachekey

    secret = cachekey.secret(environ)
    if secret is None or staged.findings:
        return
    text = cachekey.sign(_body(wanted, staged), secret)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
