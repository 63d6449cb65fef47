"""The rule catalogue: one explicit table of every rule portledger knows.

It imports every rule module (the ledger's, compose's, the commit gate's, the probe's);
no rule module and no reporter imports it: reporters are handed the rules they describe."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from portledger import probe
from portledger.compose import rules as compose_rules
from portledger.errors import FatalError
from portledger.findings import Rule, rule_of
from portledger.git import gate
from portledger.ledger import model as ledger
from portledger.ledger import rules as ledger_rules
from portledger.ledger import settings as ledger_settings

DOCUMENTED: tuple[Callable[..., Any], ...] = (
    ledger.validate,
    ledger.yaml_syntax,
    ledger.duplicate_keys,
    *ledger_rules.LEDGER_CHECKS,
    *compose_rules.COMPOSE_RULES,
    gate.undocumented_port_change,
    gate.stale_port_change_trailer,
    *probe.PROBE_RULES,
    *ledger_settings.ADOPTION_RULES,
)
"""Every function that carries a rule, in code order; its docstring documents the rule."""

RULES: tuple[Rule, ...] = tuple(sorted((rule_of(f) for f in DOCUMENTED), key=lambda r: r.code))

BY_CODE = {r.code: r for r in RULES}
BY_NAME = {r.name: r for r in RULES}


def resolve(spec: Iterable[str]) -> set[str]:
    """Rule codes for ``--select``/``--ignore`` words: codes, code prefixes or names."""
    codes: set[str] = set()
    for word in spec:
        for item in word.split(","):
            item = item.strip()
            if not item:
                continue
            if item in BY_NAME:
                codes.add(BY_NAME[item].code)
                continue
            matched = {c for c in BY_CODE if c.startswith(item.upper())}
            if not matched or not item.upper().startswith("PL"):
                raise FatalError(f"unknown rule {item!r} (see `portledger rules`)")
            codes |= matched
    return codes
