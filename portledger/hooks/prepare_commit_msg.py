"""pre-commit hook ``portledger-prepare-commit-msg`` (stage ``prepare-commit-msg``): adds a
``Port-Change`` trailer for each staged port change to the message git is preparing.

pre-commit passes only the message file; git's SOURCE and SHA arrive in
``PRE_COMMIT_COMMIT_MSG_SOURCE`` and ``PRE_COMMIT_COMMIT_OBJECT_NAME``, which
``portledger prepare-commit-msg`` reads when they are not given as arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from portledger.cli import run_command

    return run_command("prepare-commit-msg", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
