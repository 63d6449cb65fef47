"""Which findings ``check`` reports: the rules chosen (options, else the ledger's
``settings``), per-path ignores, inline suppressions (:mod:`.suppress`) and the
baseline (:mod:`.baseline`), applied in that order where :func:`portledger.check.run`
selects its findings.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portledger.errors import FatalError
from portledger.findings import Finding
from portledger.ledger import settings as settings_mod
from portledger.ledger.model import Ledger
from portledger.ledger.settings import Settings

CHECK_FAMILIES = ("PL1", "PL2", "PL5")
"""The rules ``check`` runs (ledger, compose, adoption); a suppression or baseline entry
for another rule (the commit gate's, the probe's) is never called unused by ``check``."""


@dataclass
class Policy:
    settings: Settings
    root: Path
    select: set[str] | None
    ignore: set[str]
    per_path: list[tuple[str, set[str]]] = field(default_factory=list)
    families: tuple[str, ...] = CHECK_FAMILIES
    """The rule families that ran over everything (see :meth:`ran`)."""

    def wanted(self, f: Finding) -> bool:
        if (self.select is not None and f.code not in self.select) or f.code in self.ignore:
            return False
        if self.per_path:
            from portledger.compose.discovery import glob_regex

            rel = os.path.relpath(os.path.abspath(f.file), self.root).replace(os.sep, "/")
            return not any(f.code in codes and glob_regex(glob).match(rel)
                           for glob, codes in self.per_path)
        return True

    def ran(self, code: str) -> bool:
        """Whether rule ``code`` ran over the whole repository: only then can a
        suppression or a baseline entry of it be said to match nothing."""
        return (code.startswith(self.families) and (self.select is None or code in self.select)
                and code not in self.ignore)


def _resolve(words: Sequence[str], ledger: Ledger | None, path: tuple[str, ...]) -> set[str]:
    from portledger import rules

    try:
        return rules.resolve(words)
    except FatalError as e:
        if ledger is None:
            raise
        span = ledger.doc.span(("settings", *path))
        raise FatalError(f"{ledger.path}:{span.line}:{span.column}: settings."
                         f"{'.'.join(path)}: {e}") from None


def choose(ledger: Ledger | None, mapping: Path, select: set[str] | None,
           ignore: Collection[str], use_settings: bool = True,
           families: tuple[str, ...] = CHECK_FAMILIES) -> Policy:
    """The rules to report: the options', else the settings' (options override them).
    ``families``: the rule families that ran over the whole repository (none for an
    invalid ledger, the ledger's alone for ``--no-compose`` or some PATHs)."""
    conf = Settings()
    if use_settings:
        conf = settings_mod.of(ledger.doc.data) if ledger is not None \
            else settings_mod.read(mapping)
    root = mapping.resolve().parent
    if select is None and conf.select is not None:
        select = _resolve(conf.select, ledger, ("select",))
    chosen_ignore = set(ignore)
    if not chosen_ignore and conf.ignore:
        chosen_ignore = _resolve(conf.ignore, ledger, ("ignore",))
    per_path = [(glob, _resolve(codes, ledger, ("per_path_ignores", glob)))
                for glob, codes in conf.per_path_ignores]
    return Policy(conf, root, select, chosen_ignore, per_path, families)


@dataclass
class Filtered:
    findings: list[Finding]
    suppressed: int = 0
    baselined: int = 0
    scanned: dict[str, list[list[Any]]] = field(default_factory=dict)
    """The suppression comments looked at (:attr:`.suppress.Outcome.scanned`)."""


def apply(policy: Policy, findings: Iterable[Finding], other_files: Iterable[str],
          baseline: Path | bool = True) -> Filtered:
    """The findings ``policy`` wants, less those suppressed inline and those in the
    baseline (``True``: the one the settings name, if any; ``False``: none; a path)."""
    from portledger.check import suppress

    chosen = sorted({f for f in findings if policy.wanted(f)})

    def resolve(words: Sequence[str]) -> set[str]:
        from portledger import rules

        return rules.resolve(words)

    outcome = suppress.apply(chosen, other_files, resolve, policy.ran)
    result = Filtered([f for f in outcome.findings if policy.wanted(f)], outcome.suppressed,
                      scanned=outcome.scanned)
    path = policy.settings.baseline_path(policy.root) if baseline is True \
        else (baseline or None)
    if path is not None:
        from portledger.check import baseline as baseline_mod

        done = baseline_mod.apply(result.findings, Path(path), policy.root, policy.ran)
        result.findings = [f for f in done.findings if policy.wanted(f)]
        result.baselined = done.baselined
    return result
