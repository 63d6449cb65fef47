"""Resolution plans (:mod:`.planner`), text edits and the safe writer (:mod:`.edits`),
and applying the plans of a set of findings (``check --fix``/``--diff``).

May import the ledger and compose readers and the primitives; never the command line."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portledger import yamlio
from portledger.errors import FatalError
from portledger.findings import Edit, Finding
from portledger.fixes.edits import (
    Change,
    Source,
    apply_edits,
    ledger_lock,
    recover,
    unified_diff,
    write_files,
)
from portledger.paths import display_path

__all__ = ["FixResult", "Source", "apply", "ledger_lock", "recover", "unified_diff",
           "validate_written"]


@dataclass
class FixResult:
    diffs: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def validate_written(ledger: str | Path) -> Callable[[Change], None]:
    """A check for :func:`edits.write_files`: the new text of ``ledger`` must load and
    pass its schema, and every other file written must still parse as YAML; else the
    write is refused (FatalError naming the file, line and column), nothing written."""
    ledger_real = os.path.realpath(ledger)

    def check(change: Change) -> None:
        from portledger.ledger import model

        path = change.source.path
        data = change.source.encode(change.text)
        try:
            doc = yamlio.load(path, data=data)
        except yamlio.YamlError as e:
            raise FatalError(f"{e.path}:{e.line}:{e.column}: the edited file would not "
                             f"parse ({e.message}); not writing") from None
        if os.path.realpath(path) != ledger_real:
            return
        errors = model.duplicate_keys(doc) + model.validate(doc)
        if not errors:
            errors = [f for f in model.build(doc)[1] if f.severity.value == "error"]
        if errors:
            first = errors[0]
            raise FatalError(f"{display_path(first.file)}:{first.line}:{first.column}: the "
                             f"edited ledger would fail its schema ({first.code} "
                             f"{first.message}); not writing")

    return check


def apply(findings: Sequence[Finding], *, write: bool, ledger: str | Path | None = None,
          force: bool = False) -> FixResult:
    """Make (or, without ``write``, only show) the edits of the findings' plans.

    Writing is one transaction under ``ledger``'s lock (every file or none); an edit is
    made only on the bytes its plan was made from (``Edit.digest``): a file changed
    since is refused, and nothing written.
    """
    by_file: dict[str, list[Edit]] = {}
    for f in findings:
        for e in f.edits:
            by_file.setdefault(e.file, []).append(e)
    result = FixResult()
    changes: list[Change] = []
    for path in sorted(by_file):
        try:
            source = Source.read(path)
        except yamlio.YamlError as e:
            raise FatalError(f"{e.path}:{e.line}:{e.column}: cannot edit: {e.message}") from None
        except OSError as e:
            raise FatalError(f"{display_path(path)}: cannot read it to edit: "
                             f"{e.strerror or e}") from None
        planned = {e.digest for e in by_file[path]} - {""}
        if write and planned and planned != {source.digest}:
            raise FatalError(f"{display_path(path)}: changed since the fix was planned; "
                             "not writing any file (run again)")
        text, _ = apply_edits(source, by_file[path])
        if text == source.text:
            continue
        result.diffs.append(unified_diff(path, source.text, text))
        result.changed.append(path)
        changes.append(Change(source, text))
    if write and changes:
        target = ledger if ledger is not None else changes[0].source.path
        write_files(changes, ledger=target, force=force,
                    validate=validate_written(target))
    return result
