"""One module per ``portledger`` subcommand.

Each gives ``add_arguments(parser)`` and ``run(args) -> int``; :data:`portledger.cli.COMMANDS`
names them, so adding a command is one module here and one line there. Commands may import
every room below the command line (check, fixes, report, the rules and the readers); no
room imports a command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from portledger.errors import FatalError

if TYPE_CHECKING:
    from portledger.findings import Rule
    from portledger.ledger.settings import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_FATAL = 0, 1, 2

MAPPING_HELP = "the ledger (default: port-mapping.yml in this folder or the nearest above)"


def add_mapping(parser: argparse.ArgumentParser, help: str = MAPPING_HELP) -> None:
    """The ``--mapping FILE`` option every command that reads the ledger takes."""
    parser.add_argument("--mapping", metavar="FILE", help=help)


def mapping_path(args: argparse.Namespace) -> Path:
    """The ledger ``--mapping`` names, else the nearest ``port-mapping.yml`` (or exit 2)."""
    from portledger.ledger.model import LEDGER_NAME, find_ledger

    if args.mapping:
        given = Path(args.mapping)
        if not given.exists():
            raise FatalError(f"{args.mapping}: no such file (given by --mapping; "
                             f"`portledger init --write --mapping {args.mapping}` writes one)")
        return given
    found = find_ledger()
    if found is None:
        raise FatalError(f"no {LEDGER_NAME} in this folder or above it (pass --mapping "
                         "FILE, or write one with `portledger init --write`)")
    return found


def ledger_settings(args: argparse.Namespace) -> tuple[Settings, Path | None]:
    """The ``settings`` of the ledger ``--mapping`` names, else of the nearest one (read
    leniently: defaults when there is none), and its path."""
    from portledger.ledger import settings as settings_mod
    from portledger.ledger.model import find_ledger

    path = Path(args.mapping) if getattr(args, "mapping", None) else find_ledger()
    return (settings_mod.read(path) if path is not None else settings_mod.Settings()), path


def rule_choice(args: argparse.Namespace) -> tuple[set[str] | None, set[str]]:
    """The rule codes ``--select`` and ``--ignore`` name (None: no --select)."""
    if not (args.select or args.ignore):
        return None, set()
    # The catalogue imports every rule's module (the probe's, the commit gate's).
    from portledger import rules

    return (rules.resolve(args.select) if args.select else None), rules.resolve(args.ignore)


def rule_docs(fmt: str) -> Sequence[Rule]:
    """The rules a report in ``fmt`` describes: the catalogue for SARIF, else none (the
    catalogue imports every rule module, the probe's too: only SARIF pays for that)."""
    if fmt != "sarif":
        return ()
    from portledger.rules import RULES

    return RULES


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, ``--exit-zero`` and ``-o/--output FILE``, as ruff, yamllint and
    hadolint take them, on every command that prints a report of findings."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print the findings only, without the count line")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when there are findings (2 still means a usage "
                        "or configuration error)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the report to FILE instead of standard output")


@contextmanager
def report_output(args: argparse.Namespace) -> Iterator[TextIO]:
    """Where the report goes: ``--output FILE`` (written whole, atomically), else stdout."""
    path = getattr(args, "output", None)
    if not path:
        yield sys.stdout
        return
    import io

    buffer = io.StringIO()
    yield buffer
    write_output(path, buffer.getvalue())


def write_output(path: str, text: str) -> None:
    """Write a report to ``path``: a regular file (or a new one) atomically, through a
    synced temporary file renamed over it (a link is followed, the link kept); anything
    else (``/dev/null``, ``/dev/stdout``, a FIFO) is opened and written, never replaced."""
    import os
    import stat
    import tempfile

    target = Path(os.path.realpath(path))
    try:
        try:
            special = not stat.S_ISREG(target.stat().st_mode)
        except FileNotFoundError:
            special = False
        if special:
            with open(target, "w", encoding="utf-8", newline="\n") as out:
                out.write(text)
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise FatalError(f"{path}: cannot write the report: {e.strerror or e}") from None


def create_file(path: Path, text: str, *, ledger: Path) -> None:
    """Write a new file atomically, under the ledger's lock: a synced temporary file
    beside it, hard-linked to the name (which fails if a file of that name appeared
    meanwhile: nothing is ever clobbered), then the folder synced."""
    from portledger.fixes import edits

    with edits.ledger_lock(ledger):
        _link_new(path, text)


def _link_new(path: Path, text: str) -> None:
    import os

    from portledger.fixes import edits

    tmp = path.with_name(f".{path.name}{edits.TMP_MARK}{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        raise FatalError(f"{path}: already exists; not overwriting it") from None
    except OSError as e:
        raise FatalError(f"{path}: cannot write it: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
