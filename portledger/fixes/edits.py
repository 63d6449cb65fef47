"""Text edits on a file's own text, and the atomic writer.

Edits are made by the places the YAML loader recorded (not by re-dumping YAML), so
comments, key order, quoting and indentation outside the edited values stay as they
were. Writes are transactions under the ledger's lock (journal, temporary files,
fsync, rename; see :func:`write_files`), refused when a file changed after it was read.
``allocate --write`` uses this writer, not the planner.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import operator
import os
import re
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate, chain
from pathlib import Path

from portledger import yamlio
from portledger.errors import FatalError
from portledger.findings import Edit
from portledger.paths import display_path, escaped, journal_path

# --- the text of files ---------------------------------------------------------------


_LINE_BREAK = re.compile("(\r\n|[\r\n\x85\u2028\u2029])")
"""Where libyaml starts a new line (its marks count lines this way); captured, so that
``split`` keeps each break and the pieces' lengths add up to the lines' offsets."""
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
_NEWLINE = re.compile("\n")
_END = operator.methodcaller("end")
"""The line breaks besides "\n" (each looked for with ``in``: a regular expression's
search of a large ledger took longer than reading it)."""


@dataclass
class Source:
    """A file as read for editing: its bytes, its text, and where its lines start."""

    path: str
    data: bytes
    text: str
    bom: bool
    newline: str
    starts: Sequence[int] = field(default_factory=list)

    encoding: str = "utf-8"
    """How the file is encoded: "utf-8", or "utf-16" (its byte-order mark kept)."""

    @classmethod
    def read(cls, path: str) -> Source:
        """The file at ``path``; a YamlError (located) when it is not text portledger
        reads, an OSError when it cannot be read."""
        data = yamlio.read_bytes(path)
        text = yamlio.read_text(path, data)  # the decoding the loaders' marks count in
        bom = data.startswith(b"\xef\xbb\xbf")
        encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
        newline = "\r\n" if "\r\n" in text else "\n"
        return cls(path, data, text, bom, newline, _line_starts(text), encoding)

    def with_text(self, text: str) -> Source:
        """The same file with another text (the planner's steps on a ledger it has not
        written yet): offsets count in ``text``, encoding and newline are this one's."""
        return Source(self.path, self.encode(text), text, self.bom, self.newline,
                      _line_starts(text), self.encoding)

    @property
    def digest(self) -> str:
        """The SHA-256 of the bytes read: what an :class:`Edit` planned on them carries."""
        return hashlib.sha256(self.data).hexdigest()

    def offset(self, line: int, column: int) -> int:
        if line - 1 >= len(self.starts):
            return len(self.text)
        return min(self.starts[line - 1] + column - 1, len(self.text))

    def slice(self, line: int, column: int, end_line: int, end_column: int) -> str:
        return self.text[self.offset(line, column):self.offset(end_line, end_column)]

    def line_text(self, line: int) -> str:
        start = self.offset(line, 1)
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end].rstrip("\r")

    def encode(self, text: str) -> bytes:
        if self.encoding == "utf-16":  # the byte order the file had, its mark first
            order = "utf-16-le" if self.data.startswith(b"\xff\xfe") else "utf-16-be"
            return self.data[:2] + text.encode(order)
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")


def _line_starts(text: str) -> Sequence[int]:
    """Where each line of ``text`` starts, as libyaml counts lines: an array of machine
    integers, made without a list of the lines (a large ledger has 100,000 lines: their
    strings and a list of Python integers were 7 MiB, with a check's plans at its
    largest)."""
    if not any(b in text for b in _OTHER_BREAKS):  # "\n" only
        return array("q", chain((0,), map(_END, _NEWLINE.finditer(text))))
    # text and breaks alternate; each break ends where the next line starts
    ends = list(accumulate(map(len, _LINE_BREAK.split(text))))
    return array("q", [0, *ends[1::2]])


def apply_edits(source: Source, edits: Iterable[Edit]) -> tuple[str, list[Edit]]:
    """The text with ``edits`` made (later ones first), and the edits that overlapped
    an earlier one and were left out."""
    chosen: list[tuple[int, int, Edit]] = []
    skipped: list[Edit] = []
    for e in sorted(set(edits), key=lambda e: (e.line, e.column, e.end_line, e.end_column)):
        start = source.offset(e.line, e.column)
        end = source.offset(e.end_line, e.end_column)
        if chosen and start < chosen[-1][1]:
            skipped.append(e)
            continue
        if chosen and start == chosen[-1][0] == chosen[-1][1] == end:
            skipped.append(e)  # two insertions at one place: one per pass
            continue
        chosen.append((start, end, e))
    text = source.text
    for start, end, e in reversed(chosen):
        text = text[:start] + e.text.replace("\n", source.newline) + text[end:]
    return text, skipped


def _replace(src: str, dst: str) -> None:
    """The rename that makes a write visible (a seam for the fault-injection test)."""
    os.replace(src, dst)


# --- safe writes: the ledger's lock, a journal, temporary names ------------------------
#
# Every write portledger makes (``check --fix``, ``allocate --write``) is one
# *transaction* under the ledger's lock:
#   1. the journal ``.<ledger>.portledger-journal`` is written (state "prepare"), naming
#      each file, its temporary file, and the SHA-256 of its old and new bytes;
#   2. each temporary file is written and synced beside its target;
#   3. the journal is rewritten with state "commit" (the commit point);
#   4. each temporary file is renamed over its target; the journal is removed.
# The next run that takes the lock (:func:`recover`) rolls a "prepare" journal back
# (removes the temporary files) and a "commit" journal forward (renames the rest), so a
# kill at any moment leaves every file fully old or fully new, and no stray file.
#
# A file with more than one hard link is not renamed over (a new inode would leave the
# other names with the old text): in step 4 its new bytes are written into it in place
# (``"inplace": true`` in the journal), from offset 0, then truncated and synced. The
# temporary file, synced before the commit point, keeps the new bytes until then, so a
# kill mid-write leaves a file the next run completes: its bytes are the new ones up to
# some offset and the old ones after it (:func:`_torn`), which it tells from another
# editor's change. Such a file can be seen half-written by a reader during the write.

TMP_MARK = ".portledger-"
"""In every temporary name (``.<name>.portledger-<pid>.tmp``), so that a later run
recognises the files a killed one left and removes them."""
LOCK_SUFFIX = ".lock"
LOCK_WAIT = 120.0
"""Seconds to wait for another portledger run's lock on the same ledger."""

_thread = threading.local()
"""``held``: the locks this thread holds, lock path -> (file descriptor, depth). Per
thread: another thread of the process (``serve``'s) opens its own descriptor, and
``flock`` makes it wait as it makes another process wait."""


def _held() -> dict[str, tuple[int, int]]:
    held: dict[str, tuple[int, int]] | None = getattr(_thread, "held", None)
    if held is None:
        held = _thread.held = {}
    return held


def _real(path: str | Path) -> Path:
    """The file a path names, through symbolic links (writes go to the link's target)."""
    return Path(os.path.realpath(path))


def _lock_path(ledger: str | Path) -> Path:
    real = _real(ledger)
    return real.with_name(f".{real.name}{LOCK_SUFFIX}")


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}.tmp")


@contextmanager
def ledger_lock(ledger: str | Path) -> Iterator[None]:
    """Hold the ledger's lock (``flock`` on ``.<ledger>.lock`` beside it) from the read
    that plans a write to the rename that ends it; re-entrant within one process.

    Taking it first finishes what an interrupted run left (:func:`recover`)."""
    lock = str(_lock_path(ledger))
    held = _held()
    if lock in held:
        fd, depth = held[lock]
        held[lock] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = held[lock]
            held[lock] = (fd, depth - 1)
        return
    fd = _acquire(lock, ledger)
    held[lock] = (fd, 1)
    try:
        recover(ledger)
        yield
    finally:
        del held[lock]
        # Removed while still held (a run that opened it meanwhile sees, once it holds
        # it, that the name no longer leads to its file, and tries again): no lock file
        # stays beside the ledger.
        _unlink(lock)
        os.close(fd)


def _acquire(lock: str, ledger: str | Path) -> int:
    """A descriptor of ``lock`` holding its ``flock``, the file still at that name."""
    import fcntl

    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise FatalError(f"{display_path(lock)}: cannot create the ledger's lock file: "
                             f"{e.strerror or e}") from None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise FatalError(
                        f"{display_path(ledger)}: another portledger run has held its lock "
                        f"({display_path(lock)}) for {LOCK_WAIT:.0f} s; not writing"
                    ) from None
                time.sleep(0.005)
        held = os.fstat(fd)
        try:
            now = os.stat(lock)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # the holder before us removed it: lock the new one


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _current_digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return _digest(f.read())
    except OSError:
        return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink(path: Path | str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_journal(journal: Path, state: str, entries: list[dict[str, str | bool]]) -> None:
    tmp = _tmp_name(journal)
    data = json.dumps({"state": state, "files": entries}, indent=1).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, journal)
    _fsync_dir(journal.parent)


def recover(ledger: str | Path) -> list[str]:
    """Complete or roll back the transaction an interrupted run left, and remove the
    temporary files it left beside the ledger. Call only with the ledger's lock held.

    Returns what it did, one line per file (also written to stderr)."""
    journal = journal_path(ledger)
    done: list[str] = []
    try:
        raw = journal.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as e:
        raise FatalError(f"{display_path(journal)}: cannot read: {e.strerror or e}") from None
    if raw is not None:
        try:
            record = json.loads(raw)
            state = record["state"]
            entries = [(Path(e["target"]), Path(e["tmp"]), e["old"], e["new"],
                        e.get("inplace") is True) for e in record["files"]]
            if state not in ("prepare", "commit"):
                raise ValueError(state)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise FatalError(
                f"{display_path(journal)}: not a journal portledger can read; look at the "
                "files it names, then remove it"
            ) from None
        for target, tmp, old, new, inplace in entries:
            mine = tmp.name.startswith(f".{target.name}{TMP_MARK}")
            if not (mine and tmp.parent == target.parent):
                raise FatalError(f"{display_path(journal)}: names {tmp}, not a temporary "
                                 "file of portledger's; remove the journal by hand")
            if state == "commit" and inplace and tmp.exists():
                done.extend(_complete_in_place(target, tmp, old, new))
            elif state == "commit" and tmp.exists():
                current = _current_digest(target)
                if current == old and _current_digest(tmp) == new:
                    _replace(str(tmp), str(target))
                    _fsync_dir(target.parent)
                    done.append(f"{display_path(target)}: completed the interrupted --fix")
                    continue
                if current != new:
                    done.append(f"{display_path(target)}: changed since the interrupted "
                                "--fix; left as it is")
            _unlink(tmp)
            _unlink(_backup_name(tmp))
        _unlink(journal)
        _fsync_dir(journal.parent)
        if state == "prepare":
            done.append(f"{display_path(ledger)}: rolled back an interrupted write "
                        "(no file had changed)")
    # Temporary files of this ledger's own folder a killed run left (the journal's own
    # temporary file, or any written before the journal named it): never renamed.
    real = _real(ledger)
    for name in (real.name, journal.name):
        for stray in real.parent.glob(f".{_glob_escape(name)}{TMP_MARK}*.tmp"):
            _unlink(stray)
    for line in done:
        sys.stderr.write(f"portledger: {line}\n")
    return done


def _complete_in_place(target: Path, tmp: Path, old: str, new: str) -> list[str]:
    """Finish an interrupted in-place write of a hard-linked file from its temporary
    copy of the new bytes, unless the file holds something else than the old bytes,
    the new ones, or a write of the new ones stopped midway (a change by someone else)."""
    backup = _backup_name(tmp)
    try:
        data, before, current = tmp.read_bytes(), backup.read_bytes(), target.read_bytes()
    except OSError:
        return []
    if _digest(data) != new or _digest(before) != old or current == data:
        return []
    shown = display_path(target)
    if not _torn(current, data, before):
        return [f"{shown}: changed since the interrupted --fix; left as it is"]
    _write_in_place(target, data)
    return [f"{shown}: completed the interrupted --fix (written in place: it has other "
            "hard links)"]


def _torn(current: bytes, new: bytes, old: bytes) -> bool:
    """Whether ``current`` is what writing ``new`` over ``old`` in place leaves when it
    stops midway: the new bytes up to some offset, the old ones after it (the write
    goes from offset 0 and truncates last), or either whole."""
    same = len(os.path.commonprefix([current, new]))
    return current[same:] == old[same:] or current == new


def _backup_name(tmp: Path) -> Path:
    """Where an in-place write keeps the old bytes (a temporary name, as ``tmp``)."""
    return tmp.with_name(tmp.name.removesuffix(".tmp") + ".old.tmp")


def _write_in_place(target: Path, data: bytes) -> None:
    """``data`` into ``target``'s own inode (its hard links, owner and mode kept): from
    offset 0, then truncated to its length, then synced; never truncated first, so that
    a write stopped midway is one :func:`_torn` recognises."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
    except PermissionError:  # read-only, written with --force: the owner may open it
        mode = os.stat(target).st_mode & 0o7777
        os.chmod(target, mode | 0o200)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
        finally:
            os.chmod(target, mode)
    try:
        done = 0
        view = memoryview(data)
        while done < len(data):
            done += os.pwrite(fd, view[done:], done)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def _glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


@dataclass
class Change:
    """One file a transaction writes: as it was read, and its new text."""

    source: Source
    text: str


def _check_writable(target: Path, shown: str, force: bool) -> os.stat_result:
    try:
        st = target.stat()
    except OSError as e:
        raise FatalError(f"{shown}: cannot write: {e.strerror or e}") from None
    if not force and (st.st_mode & 0o222 == 0 or not os.access(target, os.W_OK)):
        raise FatalError(f"{shown}: is read-only; not writing it (--force writes it anyway, "
                         "keeping its mode)")
    return st


def _keep_attributes(fd: int, st: os.stat_result) -> None:
    """The new file gets the old one's mode, and its owner and group where allowed."""
    os.fchmod(fd, st.st_mode & 0o7777)
    if (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid()):
        return
    for uid, gid in ((st.st_uid, st.st_gid), (-1, st.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            break
        except OSError:  # not root: only a group the user is in can be given
            continue
    os.fchmod(fd, st.st_mode & 0o7777)  # chown clears set-id bits


def write_files(changes: Sequence[Change], *, ledger: str | Path,
                force: bool = False, validate: Callable[[Change], None] | None = None) -> None:
    """Write every change as one transaction under the ledger's lock (see above).

    Refuses (FatalError, nothing written) when a file's bytes are no longer those it was
    read with, when it is read-only (unless ``force``), when ``validate`` refuses a new
    text, or when a temporary file cannot be written (a full disk: the file is named).
    """
    if not changes:
        return
    with ledger_lock(ledger):
        plan: list[tuple[Change, Path, Path, os.stat_result, bytes]] = []
        for change in changes:
            source = change.source
            shown = display_path(source.path)
            target = _real(source.path)
            try:
                current = yamlio.read_bytes(target)
            except OSError as e:
                raise FatalError(f"{shown}: cannot read it again before writing: "
                                 f"{e.strerror or e}") from None
            if current != source.data:
                raise FatalError(f"{shown}: changed since it was read; not writing (run again)")
            st = _check_writable(target, shown, force)
            if st.st_nlink > 1 and not os.access(target, os.W_OK) and st.st_uid != os.geteuid():
                raise FatalError(f"{shown}: has {st.st_nlink} hard links, so it is written in "
                                 "place, and it is not writable; not writing it")
            if validate is not None:
                validate(change)
            plan.append((change, target, _tmp_name(target), st, source.encode(change.text)))
        journal = journal_path(ledger)
        entries: list[dict[str, str | bool]] = [
            {"target": str(target), "tmp": str(tmp), "old": _digest(c.source.data),
             "new": _digest(data), **({"inplace": True} if st.st_nlink > 1 else {})}
            for c, target, tmp, st, data in plan]
        try:
            _write_journal(journal, "prepare", entries)
        except OSError as e:
            _unlink(_tmp_name(journal))
            raise FatalError(f"{display_path(journal)}: cannot write the journal: "
                             f"{e.strerror or e}; no file was changed") from None
        try:
            for change, _target, tmp, st, data in plan:
                # A hard-linked file keeps its old bytes beside it until the end: what
                # tells a write stopped midway from someone else's change (_torn).
                extra = [(_backup_name(tmp), change.source.data)] if st.st_nlink > 1 else []
                for path, content in [(tmp, data), *extra]:
                    try:
                        _write_new(path, content, st)
                    except OSError as e:
                        raise FatalError(f"{display_path(change.source.path)}: cannot write "
                                         f"{display_path(path)}: {e.strerror or e}; no file "
                                         "was changed") from None
            _write_journal(journal, "commit", entries)
        except BaseException:
            for _, _, tmp, _, _ in plan:
                _unlink(tmp)
                _unlink(_backup_name(tmp))
            _unlink(journal)
            raise
        for _, target, tmp, st, data in plan:
            if st.st_nlink > 1:  # the other links see the new text too
                _write_in_place(target, data)
            else:
                _replace(str(tmp), str(target))
        for _, _, tmp, st, _ in plan:
            if st.st_nlink > 1:  # before the journal that names them goes
                _unlink(tmp)
                _unlink(_backup_name(tmp))
        for folder in {target.parent for _, target, _, _, _ in plan}:
            _fsync_dir(folder)
        _unlink(journal)
        _fsync_dir(journal.parent)


def _write_new(path: Path, data: bytes, st: os.stat_result) -> None:
    """A new file at ``path`` holding ``data``, with ``st``'s mode, owner and group,
    synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        _keep_attributes(fd, st)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(source: Source, text: str, *, ledger: str | Path | None = None,
                     force: bool = False) -> None:
    """Write ``text`` over ``source.path`` as a transaction of one file (see
    :func:`write_files`; the lock is the ledger's, else the file's own)."""
    write_files([Change(source, text)], ledger=ledger or source.path, force=force)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"a/{escaped(path)}", tofile=f"b/{escaped(path)}",  # a name on one line
    ))


# --- YAML scalars ---------------------------------------------------------------------

_PLAIN_SAFE = re.compile(r"^[A-Za-z][A-Za-z0-9 ._()/+-]*$")


def yaml_scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when unambiguous, else double-quoted."""
    if _PLAIN_SAFE.match(text) and not text.endswith(" ") and text.lower() not in (
        "true", "false", "yes", "no", "on", "off", "null", "y", "n"
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


def _requote(original: str, inner: str) -> str:
    """``inner`` quoted as ``original`` was (double quotes if it was plain)."""
    if original[:1] in ("'", '"'):
        return f"{original[0]}{inner}{original[0]}"
    return f'"{inner}"'


def short_with_host(raw: str, new_host: str) -> str | None:
    """A short-syntax port with its host port replaced, or None when that is unsafe."""
    body, slash, proto = raw.partition("/")
    left, colon, container = body.rpartition(":")
    if not colon:
        return None
    ip, colon2, host = left.rpartition(":")
    if "$" in host or "-" in host or not host.strip().isdigit():
        return None
    prefix = f"{ip}:" if colon2 else ""
    return f"{prefix}{new_host}:{container}{slash}{proto}"


# --- the planner ----------------------------------------------------------------------
