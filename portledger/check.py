"""``portledger check``: the ledger's rules, then every compose project it names."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from portledger import ledger as ledger_mod
from portledger.findings import Finding
from portledger.ledger import Ledger
from portledger.ledger_rules import LEDGER_CHECKS


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    ledger: Ledger | None = None
    published: list[Any] = field(default_factory=list)
    """The compose bindings with a host port (compose_check.Published)."""


def display_path(path: str | Path) -> str:
    """A path as users see it: relative to the current folder when below it."""
    return _display_path(str(path), os.getcwd())


@lru_cache(maxsize=8192)
def _display_path(path: str, cwd: str) -> str:
    try:
        # As written first (the current folder is a physical path, and the paths found
        # below it usually are); through symbolic links only when that leads outside.
        rel = os.path.relpath(os.path.abspath(path), cwd)
        if rel.startswith(".."):
            rel = os.path.relpath(os.path.realpath(path), _realpath(cwd))
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


@lru_cache(maxsize=8)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


def run(
    mapping: Path,
    paths: Sequence[str] = (),
    *,
    select: set[str] | None = None,
    ignore: set[str] = frozenset(),  # type: ignore[assignment]
    compose: bool = True,
    cache: bool = False,
) -> Result:
    """Check the ledger at ``mapping`` (and compose projects); return sorted findings.

    With ``cache``, compose projects whose inputs are unchanged since an earlier check,
    and a ledger whose bytes are, are not read as YAML again (:mod:`portledger.cache`)."""
    result = Result()
    loading = None
    if compose and mapping.is_file():
        from portledger import compose_check

        # Compose files start loading (in workers, when many) while the ledger is read.
        globs, exclude = ledger_mod.peek_compose_globs(mapping)
        loading = compose_check.start(mapping.resolve().parent, globs, exclude, paths,
                                      cache=cache)
    try:
        stored = None
        if cache:
            from portledger.cache import LedgerCache

            stored = LedgerCache.open(mapping)
        ledger, findings = ledger_mod.load(display_path(mapping), stored)
        result.files = 1
        result.ledger = ledger
        if ledger is not None:
            for check in LEDGER_CHECKS:
                findings.extend(check(ledger))
            if compose:
                from portledger import compose_check

                composed = compose_check.run(ledger, paths, loading, cache=cache)
                findings.extend(composed.findings)
                result.files += composed.files
                result.published = composed.published
    finally:
        if loading is not None:
            loading.close()

    def wanted(f: Finding) -> bool:
        return (select is None or f.code in select) and f.code not in ignore

    chosen = sorted({f for f in findings if wanted(f)})
    if chosen and result.ledger is not None:
        from portledger import fixes

        chosen = fixes.attach(chosen, result.ledger, result.published)
    result.findings = chosen
    return result
