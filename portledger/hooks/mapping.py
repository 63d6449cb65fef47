"""pre-commit hook ``portledger-mapping``: each staged ledger file passes its own rules.

pre-commit passes the ledger files that changed; each is checked alone (schema,
PL100-PL110), so this hook is safe to run in parallel batches.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from portledger.cli import run_command
from portledger.errors import exit_now
from portledger.report.reporters import FORMATS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portledger-mapping-hook")
    parser.add_argument("filenames", nargs="*", help="ledger files to check")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="as `portledger check --format` (github under GITHUB_ACTIONS)")
    parser.add_argument("--select", action="append", default=[])
    parser.add_argument("--ignore", action="append", default=[])
    parser.add_argument("--fail-level", choices=("error", "warning", "notice"), default="error")
    args = parser.parse_args(argv)
    options = ["--fail-level", args.fail_level]
    if args.format:
        options += ["--format", args.format]
    options += [f"--select={s}" for s in args.select] + [f"--ignore={s}" for s in args.ignore]
    status = 0
    for name in args.filenames:
        status = max(status, run_command("check", ["--mapping", name, "--no-compose", *options]))
    return status


def run() -> NoReturn:
    """The console script: :func:`main`, then a prompt exit (see ``errors.exit_now``)."""
    exit_now(main())


if __name__ == "__main__":
    run()
