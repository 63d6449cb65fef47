"""Paths of the ledger fixtures, and the ``# expect:`` lines written in them.

A plain module rather than conftest.py, because test modules import it and another
folder's conftest.py would shadow ours under the module name ``conftest``.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
LEDGERS = TESTS / "ledger"
VALID = LEDGERS / "valid"
INVALID = LEDGERS / "invalid"
SERVICES_FILE = LEDGERS / "services"
SHIPPED_LEDGER = ROOT / "port-mapping.yml"

_EXPECT = re.compile(r"^# expect: (PL\d{3}) (\d+):(\d+)\s*$")


def expectations(path: Path) -> list[tuple[str, int, int]]:
    """The ``# expect: CODE LINE:COL`` lines of a fixture, sorted."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    found = []
    for line in text.splitlines():
        m = _EXPECT.match(line)
        if m:
            found.append((m.group(1), int(m.group(2)), int(m.group(3))))
    return sorted(found)
