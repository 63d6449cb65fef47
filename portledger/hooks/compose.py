"""pre-commit hook ``portledger-compose``: every compose project against the ledger.

Duplicates span files, and pre-commit splits file lists into parallel batches, so this
hook takes no file names (``pass_filenames: false``): it loads the ledger found from the
repository root and every compose project the ledger names, whatever changed. It runs on
every commit (``always_run``): a project also reads ``extends:``, ``include:`` and
``env_file:`` targets and files of the ledger's own globs, which no fixed file pattern
can name; the cache makes an unchanged repository cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from portledger.cli import run_command
from portledger.errors import exit_now


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("check", sys.argv[1:] if argv is None else argv)


def run() -> NoReturn:
    """The console script: :func:`main`, then a prompt exit (see ``errors.exit_now``)."""
    exit_now(main())


if __name__ == "__main__":
    run()
