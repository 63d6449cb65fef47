"""Guards on the rule catalogue: codes, names, documentation and fixtures."""

from __future__ import annotations

import re

import pytest
from ledger_fixtures import INVALID, VALID

from portledger import rules
from portledger.findings import CODE_RE, NAME_RE, Rule
from portledger.ledger import rules as ledger_rules

LEDGER_CODES = [f"PL{n}" for n in range(100, 111)]


def test_codes_are_unique_and_well_formed() -> None:
    codes = [r.code for r in rules.RULES]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert re.fullmatch(r"PL\d{3}", code), code
        assert CODE_RE.match(code)


def test_names_are_unique_kebab_case() -> None:
    names = [r.name for r in rules.RULES]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert NAME_RE.match(name)


def test_catalogue_is_sorted_and_indexed() -> None:
    assert [r.code for r in rules.RULES] == sorted(r.code for r in rules.RULES)
    assert rules.BY_CODE == {r.code: r for r in rules.RULES}
    assert rules.BY_NAME == {r.name: r for r in rules.RULES}


def test_ledger_rules_are_the_design_table() -> None:
    """PL100-PL110 exactly as DESIGN.md names them (names are a public interface)."""
    table = {
        "PL100": ("schema", "error"),
        "PL101": ("yaml-syntax", "error"),
        "PL102": ("duplicate-key", "error"),
        "PL103": ("range-overlap", "error"),
        "PL104": ("duplicate-allocation", "error"),
        "PL105": ("out-of-range", "error"),
        "PL106": ("system-port", "error"),
        "PL107": ("reserved-range", "error"),
        "PL108": ("ephemeral-port", "warning"),
        "PL109": ("well-known-port", "warning"),
        "PL110": ("unknown-reference", "error"),
    }
    got = {code: (rules.BY_CODE[code].name, rules.BY_CODE[code].severity.value)
           for code in LEDGER_CODES}
    assert got == table


def test_every_ledger_check_is_registered_once() -> None:
    registered = [f.rule.code for f in ledger_rules.LEDGER_CHECKS]  # type: ignore[attr-defined]
    assert registered == [f"PL{n}" for n in range(103, 111)]
    assert len(rules.DOCUMENTED) == len({id(f) for f in rules.DOCUMENTED})


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.code)
def test_every_rule_is_documented_with_examples(rule: Rule) -> None:
    doc = rule.doc
    assert rule.summary
    assert doc, f"{rule.code} has no docstring"
    assert "Failing:" in doc and "Passing:" in doc
    failing = doc.split("Failing:", 1)[1].split("Passing:", 1)[0]
    passing = doc.split("Passing:", 1)[1]
    assert failing.strip() and passing.strip()
    assert doc.index("Failing:") < doc.index("Passing:")
    # The prose comes first, before the examples.
    assert doc.split("Failing:", 1)[0].strip()


@pytest.mark.parametrize("code", LEDGER_CODES)
def test_every_ledger_rule_has_valid_and_invalid_fixtures(code: str) -> None:
    rule = rules.BY_CODE[code]
    stem = f"{rule.code}-{rule.name}"
    assert list(INVALID.glob(f"{stem}*.yml")), f"no tests/ledger/invalid/{stem}*.yml"
    assert list(VALID.glob(f"{stem}*.yml")), f"no tests/ledger/valid/{stem}*.yml"


def test_every_fixture_is_named_after_its_rule() -> None:
    for path in [*INVALID.glob("*.yml"), *VALID.glob("*.yml")]:
        code = path.name[:5]
        assert code in rules.BY_CODE, path.name
        stem = f"{code}-{rules.BY_CODE[code].name}"
        assert path.stem == stem or path.stem.startswith(stem + "-"), path.name
