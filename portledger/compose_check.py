"""Compose projects against the ledger (rules PL201-PL207); filled in with the compose loader."""

from __future__ import annotations

from collections.abc import Sequence

from portledger.findings import Finding
from portledger.ledger import Ledger


def run(ledger: Ledger, paths: Sequence[str]) -> tuple[list[Finding], int]:
    return [], 0
