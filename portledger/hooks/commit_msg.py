"""pre-commit hook ``portledger-commit-msg`` (stage ``commit-msg``): the commit message
documents every staged port change with a ``Port-Change`` trailer.

pre-commit passes the message file as the only file name. Runs the same code as
``portledger commit-msg FILE``, without going through the ``portledger`` command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from portledger.cli import run_command

    return run_command("commit-msg", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
