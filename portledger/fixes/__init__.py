"""Resolution plans (:mod:`.planner`), text edits and the atomic writer (:mod:`.edits`),
and applying the plans of a set of findings (``check --fix``/``--diff``).

May import the ledger and compose readers and the primitives; never the command line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from portledger.findings import Edit, Finding
from portledger.fixes.edits import Source, apply_edits, unified_diff, write_atomically

__all__ = ["FixResult", "Source", "apply", "unified_diff"]


@dataclass
class FixResult:
    diffs: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def apply(findings: Sequence[Finding], *, write: bool) -> FixResult:
    """Make (or, without ``write``, only show) the edits of the findings' plans."""
    by_file: dict[str, list[Edit]] = {}
    for f in findings:
        for e in f.edits:
            by_file.setdefault(e.file, []).append(e)
    result = FixResult()
    for path in sorted(by_file):
        source = Source.read(path)
        text, _ = apply_edits(source, by_file[path])
        if text == source.text:
            continue
        result.diffs.append(unified_diff(path, source.text, text))
        result.changed.append(path)
        if write:
            write_atomically(source, text)
    return result
