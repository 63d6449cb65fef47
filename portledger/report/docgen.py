"""Render docs/rules.md from the rules' own docstrings, so the reference cannot drift.

``python -m portledger.report.docgen`` rewrites docs/rules.md; a test fails when it is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from portledger.findings import rule_of
from portledger.report.ruledoc import markdown_body

HEADER = """# Rule reference

Generated from each rule's docstring by `python -m portledger.report.docgen`; do not edit by
hand. Rule names and codes are a public interface: use either in `--select` and
`--ignore` (`--ignore PL108,well-known-port`). Codes group by source: PL1xx the ledger,
PL2xx compose files, PL3xx commits, PL4xx the live probe, PL5xx adoption (inline
suppressions and the baseline).

| code | name | severity | catches |
|---|---|---|---|
"""


def render(documented: Sequence[Callable[..., Any]]) -> str:
    """docs/rules.md for the rule functions ``documented`` (the catalogue's DOCUMENTED)."""
    funcs = sorted(documented, key=lambda f: rule_of(f).code)
    parts = [HEADER]
    for f in funcs:
        r = rule_of(f)
        parts.append(f"| [{r.code}](#{r.code.lower()}-{r.name}) | `{r.name}` | {r.severity.value}"
                     f" | {r.summary} |\n")
    for f in funcs:
        r = rule_of(f)
        first = r.doc.splitlines()[0] if r.doc else r.summary
        first = first.replace("``", "`")
        parts.append(f"\n## {r.code} {r.name}\n\nSeverity: {r.severity.value}. {first}\n")
        parts.append("\n" + markdown_body(r.doc))
    return "".join(parts)


def main() -> int:
    from portledger.rules import DOCUMENTED

    target = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    target.write_text(render(DOCUMENTED), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
