"""The ledger's ``settings``: one place that ``check``, the hooks, the action and the
commit gate all read, so that none of them needs flags repeated (options override them).

```yaml
settings:
  select: [PL1, PL2]             # rules to run (codes, prefixes or names)
  ignore: [well-known-port]
  fail_level: warning            # the lowest severity that fails
  per_path_ignores:              # globs relative to the ledger's folder
    "examples/**": [PL108]
  baseline: .portledger-baseline.json
  adopted: 3f2a9c1               # commits up to this one need no Port-Change trailers
  trailer_limit: 20              # prepare-commit-msg writes at most this many trailers
```

Also here: the rules of adoption itself, PL501-PL503 (suppressions and the baseline),
documented beside their codes like every rule; :mod:`portledger.check.suppress` and
:mod:`portledger.check.baseline` apply them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger.findings import Finding, make, rule, rule_of

BASELINE_NAME = ".portledger-baseline.json"
TRAILER_LIMIT = 20
"""prepare-commit-msg's default bound on the trailers it writes."""


@dataclass(frozen=True)
class Settings:
    """A ledger's settings (each None or empty when the ledger does not say)."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    fail_level: str | None = None
    per_path_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    baseline: str | None = None
    """As written: relative to the ledger's folder."""
    adopted: str | None = None
    trailer_limit: int = TRAILER_LIMIT

    def baseline_path(self, folder: Path) -> Path | None:
        """The baseline file, resolved against the ledger's folder."""
        return folder / self.baseline if self.baseline else None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def of(data: Any) -> Settings:
    """The settings of a ledger's data (its top-level mapping). Read leniently: the JSON
    Schema (PL100) reports what is malformed; this takes what is well-formed."""
    section = data.get("settings") if isinstance(data, Mapping) else None
    if not isinstance(section, Mapping):
        return Settings()
    per_path = section.get("per_path_ignores")
    pairs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if isinstance(per_path, Mapping):
        pairs = tuple((str(k), _strings(v)) for k, v in per_path.items())
    select = section.get("select")
    fail = section.get("fail_level")
    limit = section.get("trailer_limit")
    adopted = section.get("adopted")
    baseline = section.get("baseline")
    return Settings(
        select=_strings(select) if select is not None else None,
        ignore=_strings(section.get("ignore")),
        fail_level=fail if fail in ("error", "warning", "notice") else None,
        per_path_ignores=pairs,
        baseline=baseline if isinstance(baseline, str) and baseline else None,
        adopted=str(adopted) if isinstance(adopted, (str, int)) and adopted != "" else None,
        trailer_limit=limit if isinstance(limit, int) and not isinstance(limit, bool)
        and limit >= 0 else TRAILER_LIMIT,
    )


def read(path: str | Path) -> Settings:
    """The settings of the ledger file at ``path`` (defaults when it is missing or does
    not parse: the commands that need a valid ledger say so themselves)."""
    from portledger import yamlio

    try:
        return of(yamlio.load(path).data)
    except (OSError, yamlio.YamlError):
        return Settings()


# --- the rules of adoption ----------------------------------------------------------------


@rule("PL501", "suppression-without-reason", "warning",
      "an inline suppression gives no reason")
def suppression_without_reason(file: str, line: int, column: int, comment: str) -> Finding:
    """An inline ``# portledger: ignore[...]`` comment gives no reason.

    A suppression is a decision someone made; the next reader needs to know why, or
    it will never be removed. Write the reason after the bracket. The suppression still
    takes effect.

    Failing:

        services:
          legacy:
            ports: ["8090:80"]  # portledger: ignore[PL201]

    Passing:

        services:
          legacy:
            ports: ["8090:80"]  # portledger: ignore[PL201] retired in Q3, see OPS-112
    """
    this = suppression_without_reason.rule  # type: ignore[attr-defined]
    return make(this, file, line, column,
                f"{comment} gives no reason; add one after the bracket")


@rule("PL502", "unused-suppression", "notice",
      "an inline suppression suppresses nothing")
def unused_suppression(file: str, line: int, column: int, comment: str, why: str) -> Finding:
    """An inline suppression matches no finding (as ruff reports an unused ``noqa``).

    The problem it silenced was fixed, or it never matched (a typo in the code, the
    wrong line): remove it, so that it cannot hide a new problem later. Only rules
    that ran are considered: a suppression for a rule left out by ``--select`` or
    ``ignore`` is not reported.

    Failing:

        services:
          api:
            ports: ["8000:8000"]  # portledger: ignore[PL201] 8000 is in the ledger now

    Passing:

        services:
          api:
            ports: ["8000:8000"]
    """
    this = unused_suppression.rule  # type: ignore[attr-defined]
    return make(this, file, line, column, f"{comment} {why}; remove it")


@rule("PL503", "stale-baseline-entry", "notice",
      "a baseline entry no longer matches any finding")
def stale_baseline_entry(file: str, line: int, what: str, count: int) -> Finding:
    """An entry of the baseline file matches no current finding: it was fixed.

    A baseline (``portledger baseline``) records the findings a repository had when
    portledger was adopted, so that ``check`` reports only new ones. It should only
    shrink: run ``portledger baseline`` again to drop the entries that were fixed.

    Failing:

        # .portledger-baseline.json names PL201 for web 8090/tcp in a/compose.yaml,
        # and a/compose.yaml no longer publishes 8090

    Passing:

        # the baseline, written again by `portledger baseline`, no longer names it
    """
    this = stale_baseline_entry.rule  # type: ignore[attr-defined]
    times = "" if count == 1 else f" ({count} of them)"
    return make(this, file, line, 1,
                f"baseline entry {what} matches no finding now{times}; run "
                "`portledger baseline` to drop it")


ADOPTION_RULES = (suppression_without_reason, unused_suppression, stale_baseline_entry)
ADOPTION_CODES = frozenset(rule_of(f).code for f in ADOPTION_RULES)
"""Adoption's own findings are never suppressed nor baselined."""
