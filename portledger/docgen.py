"""Render docs/rules.md from the rules' own docstrings, so the reference cannot drift.

``python -m portledger.docgen`` rewrites docs/rules.md; a test fails when it is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from portledger.findings import rule_of
from portledger.rules import DOCUMENTED

HEADER = """# Rule reference

Generated from each rule's docstring by `python -m portledger.docgen`; do not edit by
hand. Rule names and codes are a public interface: use either in `--select` and
`--ignore` (`--ignore PL108,well-known-port`). Codes group by source: PL1xx the ledger,
PL2xx compose files, PL3xx commits, PL4xx the live probe.

| code | name | severity | catches |
|---|---|---|---|
"""


def _body(doc: str) -> str:
    """Docstring prose as Markdown: ``Failing:``/``Passing:`` blocks become YAML fences."""
    out: list[str] = []
    lines = doc.splitlines()[1:]
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(Failing|Passing):$", line.strip())
        if m:
            out.append(f"**{m.group(1)}**")
            out.append("")
            out.append("```yaml")
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                out.append(lines[i][4:])
                i += 1
            while out and not out[-1].strip():
                out.pop()
            out.append("```")
            out.append("")
            continue
        out.append(line.replace("``", "`"))
        i += 1
    return "\n".join(out).strip() + "\n"


def render() -> str:
    funcs = sorted(DOCUMENTED, key=lambda f: rule_of(f).code)
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
        parts.append("\n" + _body(r.doc))
    return "".join(parts)


def main() -> int:
    target = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    target.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
