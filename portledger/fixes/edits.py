"""Text edits on a file's own text, and the atomic writer.

Edits are made by the places the YAML loader recorded (not by re-dumping YAML), so
comments, key order, quoting and indentation outside the edited values stay as they
were. Writes are atomic (temporary file, fsync, rename) and refused when a file changed
after it was read. ``allocate --write`` uses this writer, not the planner.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from portledger.errors import FatalError
from portledger.findings import Edit

# --- the text of files ---------------------------------------------------------------


_LINE_BREAK = re.compile("(\r\n|[\r\n\x85\u2028\u2029])")
"""Where libyaml starts a new line (its marks count lines this way); captured, so that
``split`` keeps each break and the pieces' lengths add up to the lines' offsets."""
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
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
    starts: list[int] = field(default_factory=list)

    @classmethod
    def read(cls, path: str) -> Source:
        data = Path(path).read_bytes()
        bom = data.startswith(b"\xef\xbb\xbf")
        text = data.decode("utf-8-sig")
        newline = "\r\n" if "\r\n" in text else "\n"
        # C-level sums of the lines' lengths (a large ledger has 100,000 lines).
        if not any(b in text for b in _OTHER_BREAKS):  # "\n" only: split is faster
            lengths = map(len, text.split("\n")[:-1])
            starts = list(accumulate(map((1).__add__, lengths), initial=0))
        else:  # text and breaks alternate; each break ends where the next line starts
            ends = list(accumulate(map(len, _LINE_BREAK.split(text))))
            starts = [0, *ends[1::2]]
        return cls(path, data, text, bom, newline, starts)

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
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")


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


def write_atomically(source: Source, text: str) -> None:
    """Write ``text`` over ``source.path``: temporary file, fsync, rename, fsync folder.

    Refuses (FatalError) when the file on disk is no longer what was read.
    """
    path = Path(source.path)
    try:
        current = path.read_bytes()
    except OSError as e:
        raise FatalError(f"{source.path}: cannot read it again before writing: {e}") from None
    if current != source.data:
        raise FatalError(f"{source.path}: changed since it was read; not writing (run again)")
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(source.encode(text))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        _replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}",
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
