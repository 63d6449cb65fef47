"""The one fatal-error type: caught at the top of the CLI, printed as one line, exit 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from portledger import codecache


class FatalError(Exception):
    """A usage or configuration error: no findings can be produced (exit code 2)."""

    exit_code = 2


def guarded(command: Callable[[list[str]], int], argv: Sequence[str]) -> int:
    """Run a command so that no failure reaches the user as a traceback.

    A :class:`FatalError` is one line on stderr and its exit code (2); an OSError about a
    path is one line naming it, exit 2; an unexpected exception is one line, "internal
    error", and exit 2; Ctrl-C exits 130; a closed
    stdout (``| head``) ends quietly. The CLI and the hook modules all run through here.
    """
    try:
        return command(list(argv))
    except FatalError as e:
        # One line, whatever the message quotes (an argument holding a newline).
        sys.stderr.write(f"portledger: {_one_line(str(e))}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("portledger: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        if e.filename is None:
            return _internal(e)
        # A path the system refuses before any reader could say so at a line (a name
        # longer than the file-name limit, a folder that is not readable): the path and
        # the system's reason, as every other fatal error.
        sys.stderr.write(f"portledger: {_shown(e.filename)}: {e.strerror or e}\n")
        return FatalError.exit_code
    except Exception as e:  # noqa: BLE001 - the promise is: never a traceback
        return _internal(e)


def _internal(e: BaseException) -> int:
    sys.stderr.write(
        f"portledger: internal error: {type(e).__name__}: {_one_line(str(e))} "
        "(please report it with the input that caused it)\n"
    )
    return FatalError.exit_code


def _one_line(text: str) -> str:
    """``text`` with control characters (newlines, escape sequences) escaped, and
    surrogate escapes of non-UTF-8 bytes written ``\\xff``."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _shown(filename: object) -> str:
    """A path as an error names it: shown as the user gave it, with control characters
    escaped, shortened in the middle when longer than a line."""
    text = _one_line(os.fsdecode(filename) if isinstance(filename, (str, bytes))
                     else str(filename))
    if len(text) > 120:
        text = f"{text[:60]}...{text[-40:]} ({len(text)} characters)"
    return text


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once output is flushed, skipping interpreter teardown.

    A check of a large repository leaves millions of small objects behind (YAML nodes);
    a normal exit frees them one by one, a tenth of a second in which the user only
    waits (mypy ends the same way). Only the console entry points call this, after their
    command returned: its files are closed and its worker processes joined by then.
    Tests call the ``main`` functions, which return.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head) or a closed stream
            pass
    codecache.save()  # os._exit runs no atexit function
    os._exit(code)
