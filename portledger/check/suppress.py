"""Inline suppressions in compose files and the ledger, as ruff's ``# noqa: CODE`` and
yamllint's ``# yamllint disable-line`` work:

``# portledger: ignore[PL201] reason``
    at the end of a line: the findings of those rules that start on this line;
``# portledger: ignore-file[PL2] reason``
    on a comment line of its own (by convention at the top): every finding of those rules
    in this file.

Inside the brackets: rule codes, code prefixes or names, comma-separated, as
``--ignore`` takes them. A suppression without a reason is PL501 (it still works); one
that suppresses nothing is PL502, as long as its rules ran. Only YAML comments count: a
``#`` at the start of a line or after a space.

The comments are found with a regular expression over each file's lines, not by the YAML
parser: libyaml drops comments, and a suppression must work in a file that does not even
parse (a PL101 on its line).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from portledger import yamlio
from portledger.errors import FatalError
from portledger.findings import Finding
from portledger.ledger import settings as settings_mod

_COMMENT = re.compile(
    r"(?:^|(?<=\s))#\s*portledger:\s*(ignore|ignore-file)\[([^\]]*)\][ \t]*(.*?)\s*$")
_MARK = b"portledger:"


@dataclass
class Suppression:
    file: str
    line: int
    column: int
    whole_file: bool
    words: str
    reason: str
    codes: frozenset[str] | None = None
    """The rules it names (None: it names no rule)."""
    used: int = 0

    @property
    def comment(self) -> str:
        kind = "ignore-file" if self.whole_file else "ignore"
        return f"portledger: {kind}[{self.words}]"


def scan(path: str) -> list[Suppression]:
    """The suppression comments of one file (none when it cannot be read)."""
    try:
        data = yamlio.read_bytes(path)
    except (OSError, ValueError):  # ValueError: a name holding NUL (COMPOSE_FILE in .env)
        return []
    if _MARK not in data:
        return []
    found = []
    for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if "portledger:" not in text:
            continue
        m = _COMMENT.search(text)
        if m is None:
            continue
        whole = m.group(1) == "ignore-file"
        if whole and text[:m.start()].strip():
            continue  # ignore-file stands on a comment line of its own
        found.append(Suppression(path, number, m.start() + 1, whole, m.group(2).strip(),
                                 m.group(3)))
    return found


@dataclass
class Outcome:
    findings: list[Finding]
    """The findings kept, and PL501/PL502 for the suppressions."""
    suppressed: int
    scanned: dict[str, list[list[Any]]] = field(default_factory=dict)
    """The suppression comments of every file looked in that has any, as rows (line,
    column, whole file, words, reason): what the outcome depends on besides findings."""


def rows(found: Sequence[Suppression]) -> list[list[Any]]:
    """Suppressions as JSON rows, as :attr:`Outcome.scanned` holds them."""
    return [[s.line, s.column, s.whole_file, s.words, s.reason] for s in found]


def apply(findings: Sequence[Finding], files: Iterable[str],
          resolve: Callable[[Sequence[str]], set[str]],
          ran: Callable[[str], bool]) -> Outcome:
    """Leave out the findings a suppression in their file names; ``files`` are the other
    files to look in (for unused suppressions); ``ran`` tells whether a rule ran."""
    by_file: dict[str, list[Suppression]] = {}
    for path in sorted({f.file for f in findings} | set(files)):
        found = scan(path)
        if found:
            by_file[path] = found
    scanned = {path: rows(found) for path, found in by_file.items()}
    if not by_file:
        return Outcome(list(findings), 0)
    for group in by_file.values():
        for s in group:
            try:
                s.codes = frozenset(resolve([s.words])) if s.words else None
            except FatalError:
                s.codes = None
    kept: list[Finding] = []
    suppressed = 0
    for f in findings:
        hit = _match(f, by_file.get(f.file, ()))
        if hit is None:
            kept.append(f)
        else:
            hit.used += 1
            suppressed += 1
    for group in by_file.values():
        for s in group:
            kept.extend(_report(s, ran))
    return Outcome(sorted(kept), suppressed, scanned)


def _match(f: Finding, group: Collection[Suppression]) -> Suppression | None:
    if f.code in settings_mod.ADOPTION_CODES:
        return None
    for s in group:
        if s.codes is not None and f.code in s.codes and (s.whole_file or s.line == f.line):
            return s
    return None


def _report(s: Suppression, ran: Callable[[str], bool]) -> list[Finding]:
    out = []
    if not s.reason:
        out.append(settings_mod.suppression_without_reason(s.file, s.line, s.column,
                                                           s.comment))
    if s.codes is None:
        why = "names no rule" if s.words else "names no rule (the brackets are empty)"
        out.append(settings_mod.unused_suppression(s.file, s.line, s.column, s.comment, why))
    elif not s.used and any(ran(c) for c in s.codes):
        where = "in this file" if s.whole_file else "on this line"
        out.append(settings_mod.unused_suppression(s.file, s.line, s.column, s.comment,
                                                   f"suppresses nothing {where}"))
    return out
