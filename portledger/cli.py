"""The ``portledger`` command line: one table of commands, each a module of
:mod:`portledger.commands` with ``add_arguments(parser)`` and ``run(args) -> int``.

Only the module of the command being run is imported (and only its options are built),
so that a hook's start-up stays small; ``portledger --help`` lists every command from the
table alone.

Exit codes (documented in the README): 0 clean, 1 findings at the fail level (or, for
``who``, a free port), 2 usage or configuration error. No input, however broken, reaches
the user as a traceback: :class:`FatalError` prints one line; anything unexpected is
reported as an internal error on one line, also with exit 2.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from portledger import __version__
from portledger.errors import FatalError, exit_now, guarded

EXIT_CLEAN, EXIT_FINDINGS, EXIT_FATAL = 0, 1, 2

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one line for --help). Adding a command: its module, and one line here.
    "check": ("portledger.commands.check",
              "validate the ledger and the compose projects it names"),
    "who": ("portledger.commands.who", "who owns a port, and what range it falls in"),
    "allocate": ("portledger.commands.allocate", "the next free port(s) for a service"),
    "export": ("portledger.commands.export", "the ledger's ports as environment variables"),
    "ports": ("portledger.commands.ports",
              "the published ports of one compose project, as Docker Compose resolves them"),
    "diff": ("portledger.commands.diff",
             "port changes between two revisions (default: HEAD and the index)"),
    "commit-msg": ("portledger.commands.commit_msg",
                   "the commit-msg gate: every staged port change documented"),
    "prepare-commit-msg": ("portledger.commands.prepare_commit_msg",
                           "pre-fill Port-Change trailers for the staged changes"),
    "check-commits": ("portledger.commands.check_commits",
                      "every commit of BASE..HEAD documents its port changes"),
    "probe": ("portledger.commands.probe",
              "check running containers, listening sockets and health endpoints against "
              "the ledger"),
    "serve": ("portledger.commands.serve",
              "the live port map, an allocation API and Prometheus metrics (serve extra)"),
    "report": ("portledger.commands.report",
               "the port map for people: Markdown tables or HTML"),
    "init": ("portledger.commands.init",
             "write the first port-mapping.yml from the compose projects as they are"),
    "projects": ("portledger.commands.projects",
                 "the compose projects `check` covers, with the files each reads"),
    "baseline": ("portledger.commands.baseline",
                 "record today's findings, so that check reports only new ones"),
    "rules": ("portledger.commands.rules", "list the rules"),
    "render": ("portledger.commands.render",
               "render the JSON output of `portledger check` in another format"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # guarded() prefixes "portledger: " once; a subcommand's own name follows it.
        command = self.prog.removeprefix("portledger").strip()
        raise FatalError(f"{command}: {message}" if command else message)

    # argparse makes a help formatter for every add_argument (to test the metavar), and a
    # formatter asks the terminal's width, importing shutil (with zlib, bz2 and lzma):
    # on a hook's start-up, for text nobody reads. Help itself still gets the real width.
    _building = False

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        self._building = True
        try:
            return super().add_argument(*args, **kwargs)
        finally:
            self._building = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        if self._building:
            return argparse.HelpFormatter(prog=self.prog, width=80)
        return super()._get_formatter()


def build_parser(only: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The parser of ``portledger``: every command listed, the options of ``only`` (or,
    with ``every``, of every command) built."""
    parser = _Parser(
        prog="portledger",
        description="One ledger for every host port: checks port-mapping.yml and "
        "docker-compose files against each other.",
    )
    parser.add_argument("--version", action="version", version=f"portledger {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                prog=parser.prog)  # given: argparse would format a usage
    for name, (module_name, text) in COMMANDS.items():
        if every or name == only:
            module = importlib.import_module(module_name)
            p = sub.add_parser(name, help=text,
                               description=getattr(module, "DESCRIPTION", None))
            module.add_arguments(p)
            p.set_defaults(run=module.run)
        else:
            sub.add_parser(name, help=text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A short-lived command that builds large trees of small objects (YAML nodes) and
    # makes almost no reference cycles: the cyclic collector only re-walks those trees
    # (a third of the run time on a thousand compose files), so it is off while we run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if gc_was_enabled:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    return guarded(_dispatch, list(sys.argv[1:] if argv is None else argv))


def run_command(name: str, argv: Sequence[str]) -> int:
    """``portledger NAME ARGV``, with only NAME's parser built (not the table of every
    command, a tenth of a cached commit-msg hook): how the hook modules start their
    command. The same options, errors and exit codes as :func:`main`."""

    def dispatch(words: list[str]) -> int:
        module = importlib.import_module(COMMANDS[name][0])
        parser = _Parser(prog=f"portledger {name}",
                         description=getattr(module, "DESCRIPTION", None))
        module.add_arguments(parser)
        result: int = module.run(parser.parse_args(words))
        return result

    gc_was_enabled = gc.isenabled()
    gc.disable()  # as main() does
    try:
        return guarded(dispatch, list(argv))
    finally:
        if gc_was_enabled:
            gc.enable()


def _dispatch(words: list[str]) -> int:
    # The command is the first word that is not an option (only --version and --help
    # come before it).
    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_FATAL
    result: int = args.run(args)
    return result


def run() -> NoReturn:
    """The ``portledger`` console script: :func:`main`, then a prompt exit."""
    exit_now(main())


if __name__ == "__main__":
    run()
