"""``portledger report``: the port map for people, Markdown tables or one HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from portledger.commands import write_output
from portledger.errors import FatalError

DESCRIPTION = "The port map for people: Markdown tables or an HTML page."
FORMATS = ("markdown", "html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``portledger report``."""
    parser.add_argument("--format", choices=FORMATS, default="markdown",
                        help="markdown tables (default) or one self-contained HTML page")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    parser.add_argument("--mapping", metavar="FILE",
                        help="the ledger (default: port-mapping.yml here or the nearest above)")


def run(args: argparse.Namespace) -> int:
    """``portledger report`` with parsed arguments; :class:`FatalError` on bad input."""
    from portledger import check
    from portledger.ledger.model import LEDGER_NAME, find_ledger
    from portledger.paths import display_path
    from portledger.report.portmap import build, write

    if args.mapping:
        mapping = Path(args.mapping)
    else:
        found = find_ledger()
        if found is None:
            raise FatalError(f"no {LEDGER_NAME} in this folder or above it (pass --mapping FILE)")
        mapping = Path(display_path(found))
    pm = build(check.run(mapping))
    if args.output:
        import io

        buffer = io.StringIO()
        write(pm, args.format, buffer)
        write_output(args.output, buffer.getvalue())
    else:
        write(pm, args.format, sys.stdout)
    return 0
