"""The run of ``portledger check``: the ledger's rules, then every compose project it
names (loaded in :mod:`.loading`, through :mod:`.cache`), then the resolution plans.

May import the rules, the readers and the fix planner; the command line is above it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portledger.findings import Finding
from portledger.ledger import model as ledger_mod
from portledger.ledger.model import Ledger
from portledger.ledger.rules import LEDGER_CHECKS
from portledger.ledger.settings import Settings
from portledger.paths import display_path


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    ledger: Ledger | None = None
    published: list[Any] = field(default_factory=list)
    """The compose bindings with a host port (compose.rules.Published)."""
    projects: list[Any] = field(default_factory=list)
    """The compose projects checked (compose.discovery.ProjectSpec)."""
    suppressed: int = 0
    """Findings left out by inline suppressions."""
    baselined: int = 0
    """Findings left out because the baseline holds them."""
    settings: Settings = field(default_factory=Settings)
    """The ledger's settings (defaults when they were not used)."""


def run(
    mapping: Path,
    paths: Sequence[str] = (),
    *,
    select: set[str] | None = None,
    ignore: set[str] = frozenset(),  # type: ignore[assignment]
    compose: bool = True,
    cache: bool = False,
    profiles: Sequence[str] | None = None,
    baseline: Path | bool = True,
    use_settings: bool = True,
    fix_strategy: str = "record",
    verdict: bool = False,
) -> Result:
    """Check the ledger at ``mapping`` (and compose projects); return sorted findings.

    With ``cache``, compose projects whose inputs are unchanged since an earlier check,
    and a ledger whose bytes are, are not read as YAML again (:mod:`portledger.cache`).
    Every profile of every project is checked unless ``profiles`` (``--profile``) narrow
    them. A PATH that selects no compose project raises FatalError (exit 2).
    ``select``/``ignore`` override the ledger's settings (unless ``use_settings`` is
    off); ``baseline``: the settings' baseline (True), none (False), or this file.
    With ``cache`` and ``verdict`` (a check that only reports: its findings' edits and
    context are not used again), a repository where nothing the check reads changed is
    answered from the last verdict (:mod:`.verdict`): findings and counts only, no
    ledger, projects or bindings in the result."""
    result = Result()
    loading = None
    store = None
    digest: str | None = None
    peeked = None
    if compose and mapping.is_file():
        from portledger.check import loading as loading_mod

        peeked = ledger_mod.peek_compose(mapping)
        root = mapping.resolve().parent
        selected = loading_mod.prepare(root, peeked, paths, profiles)
        if cache and verdict:
            import os

            from portledger.check import verdict as verdict_mod
            from portledger.compose import loader

            store = verdict_mod.Verdicts.open(mapping, [
                list(paths), sorted(select) if select is not None else None, sorted(ignore),
                list(profiles) if profiles is not None else None, str(baseline),
                use_settings, fix_strategy, loader.READ_UNDER])  # and what may be read
            digest = verdict_mod.ledger_digest(mapping)
            hit = store.lookup(digest, selected, os.environ) if digest else None
            if hit is not None and hit.changed:
                hit = store.settle(hit, selected, root, os.environ)
            if hit is not None:
                loading_mod.finish()
                counts = hit.counts
                return Result(hit.findings, counts["files"], suppressed=counts["suppressed"],
                              baselined=counts["baselined"],
                              settings=Settings(fail_level=counts["fail_level"]))
        # Compose files start loading (in workers, when many) while the ledger is read.
        loading = loading_mod.start(root, peeked, paths, cache=cache, profiles=profiles,
                                    chosen=selected,
                                    fresh=store.fresh if store is not None else None)
    composed = None
    try:
        stored = None
        if cache:
            from portledger.check.cache import LedgerCache

            stored = LedgerCache.open(mapping)
        ledger, findings = ledger_mod.load(display_path(mapping), stored)
        result.files = 1
        result.ledger = ledger
        if ledger is not None:
            for check in LEDGER_CHECKS:
                findings.extend(check(ledger))
            if compose:
                from portledger.check import loading as loading_mod

                composed = loading_mod.run(ledger, paths, loading, cache=cache,
                                           profiles=profiles)
                findings.extend(composed.findings)
                result.files += composed.files
                result.published = composed.published
                result.projects = composed.specs
    finally:
        if loading is not None:
            loading.close()

    # Options, else the ledger's settings; per-path ignores, inline suppressions and
    # the baseline (check.policy).
    from portledger.check import policy as policy_mod

    families = ("PL1", "PL5") if not compose or paths else policy_mod.CHECK_FAMILIES
    chosen_by = policy_mod.choose(result.ledger, mapping, select, ignore, use_settings,
                                  families if result.ledger is not None else ())
    result.settings = chosen_by.settings
    filtered = policy_mod.apply(chosen_by, findings, _files_of(result, mapping), baseline)
    chosen, result.suppressed, result.baselined = (filtered.findings, filtered.suppressed,
                                                  filtered.baselined)
    consulted: set[str] = set()
    if chosen and result.ledger is not None:
        from portledger.fixes import planner

        chosen = planner.attach(chosen, result.ledger, result.published, fix_strategy,
                                consulted)
    result.findings = chosen
    if (store is not None and composed is not None and result.ledger is not None
            and result.ledger.compose == peeked and composed.selection is not None
            and composed.lines and None not in composed.lines):
        _remember(store, digest, mapping, composed, result, chosen_by, baseline,
                  consulted, filtered.scanned)
    return result


def _remember(store: Any, before: str | None, mapping: Path, composed: Any, result: Result,
              chosen_by: Any, baseline: Path | bool, consulted: set[str],
              suppressions: dict[str, list[list[Any]]]) -> None:
    """Record this check's verdict: every project's inputs were known (each loaded, and
    the compose files were selected by the ledger's own globs as read ahead)."""
    import os

    from portledger.check import verdict as verdict_mod

    digest = verdict_mod.ledger_digest(mapping)
    if digest is None or digest != before:
        return  # the ledger changed while it was checked
    try:
        projects = [verdict_mod.split_entry(line) for line in composed.lines]
    except (ValueError, KeyError, TypeError):
        return
    path = (chosen_by.settings.baseline_path(chosen_by.root) if baseline is True
            else (baseline or None))
    store.store(digest, composed.selection, path, os.environ, projects, result.findings,
                {"files": result.files, "suppressed": result.suppressed,
                 "baselined": result.baselined, "fail_level": result.settings.fail_level},
                consulted, suppressions)


def _files_of(result: Result, mapping: Path) -> list[str]:
    """The files a suppression may stand in: the ledger and the compose files read."""
    return [display_path(mapping), *{p.file for p in result.published}]
