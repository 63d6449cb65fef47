"""The one fatal-error type: caught at the top of the CLI, printed as one line, exit 2."""

from __future__ import annotations


class FatalError(Exception):
    """A usage or configuration error: no findings can be produced (exit code 2)."""

    exit_code = 2
