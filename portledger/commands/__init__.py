"""One module per ``portledger`` subcommand.

Each gives ``add_arguments(parser)`` and ``run(args) -> int``; :data:`portledger.cli.COMMANDS`
names them, so adding a command is one module here and one line there. Commands may import
every room below the command line (check, fixes, report, the rules and the readers); no
room imports a command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from portledger.errors import FatalError

if TYPE_CHECKING:
    from portledger.findings import Rule

EXIT_CLEAN, EXIT_FINDINGS, EXIT_FATAL = 0, 1, 2

MAPPING_HELP = "the ledger (default: port-mapping.yml in this folder or the nearest above)"


def add_mapping(parser: argparse.ArgumentParser, help: str = MAPPING_HELP) -> None:
    """The ``--mapping FILE`` option every command that reads the ledger takes."""
    parser.add_argument("--mapping", metavar="FILE", help=help)


def mapping_path(args: argparse.Namespace) -> Path:
    """The ledger ``--mapping`` names, else the nearest ``port-mapping.yml`` (or exit 2)."""
    from portledger.ledger.model import LEDGER_NAME, find_ledger

    if args.mapping:
        return Path(args.mapping)
    found = find_ledger()
    if found is None:
        raise FatalError(f"no {LEDGER_NAME} in this folder or above it (pass --mapping FILE)")
    return found


def rule_docs(fmt: str) -> Sequence[Rule]:
    """The rules a report in ``fmt`` describes: the catalogue for SARIF, else none (the
    catalogue imports every rule module, the probe's too: only SARIF pays for that)."""
    if fmt != "sarif":
        return ()
    from portledger.rules import RULES

    return RULES
