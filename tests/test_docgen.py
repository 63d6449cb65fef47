"""docs/rules.md is generated from the rules' docstrings and must not go stale."""

from __future__ import annotations

from pathlib import Path

from portledger.report import docgen
from portledger.rules import DOCUMENTED, RULES

ROOT = Path(__file__).resolve().parents[1]


def test_rules_md_is_current() -> None:
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == docgen.render(DOCUMENTED), \
        "docs/rules.md is stale: run python -m portledger.report.docgen"


def test_every_rule_has_a_section_with_both_examples() -> None:
    text = docgen.render(DOCUMENTED)
    for r in RULES:
        section = text.split(f"\n## {r.code} {r.name}\n", 1)[1].split("\n## ", 1)[0]
        assert "**Failing**" in section and "**Passing**" in section, r.code
        assert section.count("```yaml") == 2, r.code
