"""The ``portledger`` command line: a thin shell over plain functions.

Exit codes (documented in the README): 0 clean, 1 findings at the fail level (or, for
``who``, a free port), 2 usage or configuration error. No input, however broken, reaches
the user as a traceback: :class:`FatalError` prints one line; anything unexpected is
reported as an internal error on one line, also with exit 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from portledger import __version__
from portledger.errors import FatalError, exit_now, guarded

EXIT_CLEAN, EXIT_FINDINGS, EXIT_FATAL = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise FatalError(f"{self.prog}: {message}")


def _add_mapping(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mapping",
        metavar="FILE",
        help="the ledger (default: port-mapping.yml in this folder or the nearest above)",
    )


def _mapping(args: argparse.Namespace) -> Path:
    from portledger.ledger import LEDGER_NAME, find_ledger

    if args.mapping:
        return Path(args.mapping)
    found = find_ledger()
    if found is None:
        raise FatalError(
            f"no {LEDGER_NAME} in this folder or above it (pass --mapping FILE)"
        )
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="portledger",
        description="One ledger for every host port: checks port-mapping.yml and "
        "docker-compose files against each other.",
    )
    parser.add_argument("--version", action="version", version=f"portledger {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser("check", help="validate the ledger and the compose projects it names")
    _add_mapping(check)
    check.add_argument("paths", nargs="*", metavar="PATH",
                       help="compose files or folders to check instead of the ledger's globs")
    check.add_argument("--format", choices=("text", "json", "github", "sarif", "markdown"),
                       help="text (the default), json, github (the default when "
                       "GITHUB_ACTIONS=true), sarif or markdown")
    check.add_argument("--select", action="append", default=[], metavar="RULES",
                       help="only these rules (codes, code prefixes or names; comma-separated)")
    check.add_argument("--ignore", action="append", default=[], metavar="RULES",
                       help="leave out these rules (codes, code prefixes or names)")
    check.add_argument("--fail-level", choices=("error", "warning", "notice"), default="error",
                       help="lowest severity that makes the exit code 1 (default: error)")
    check.add_argument("--no-compose", action="store_true",
                       help="check the ledger alone, not the compose projects")
    check.add_argument("--no-cache", action="store_true",
                       help="read every compose project again, even those whose files are "
                       "unchanged since the last check (cache: $PORTLEDGER_CACHE_DIR, "
                       "else ~/.cache/portledger)")
    fixing = check.add_mutually_exclusive_group()
    fixing.add_argument("--fix", action="store_true",
                        help="apply the resolution plans to the ledger and compose files")
    fixing.add_argument("--diff", action="store_true",
                        help="show the edits --fix would make, as a unified diff; write nothing")

    who = sub.add_parser("who", help="who owns a port, and what range it falls in")
    _add_mapping(who)
    who.add_argument("port", metavar="PORT", help="a port number, optionally with /udp or /sctp")
    who.add_argument("--format", choices=("text", "json"), default="text")

    allocate = sub.add_parser("allocate", help="the next free port(s) for a service")
    _add_mapping(allocate)
    allocate.add_argument("service", metavar="SERVICE")
    allocate.add_argument("--category", required=True, metavar="C",
                          help="the range to allocate in (a key of the ledger's ranges)")
    allocate.add_argument("--name", default="http", metavar="N",
                          help="the port's name (default: http; with --count, N-1, N-2, ...)")
    allocate.add_argument("--count", type=int, default=1, metavar="K",
                          help="how many ports, as one contiguous block (default: 1)")
    allocate.add_argument("--protocol", choices=("tcp", "udp", "sctp"), default="tcp")
    allocate.add_argument("--target", type=int, metavar="PORT",
                          help="the container port to record with a single port")
    allocate.add_argument("--write", action="store_true",
                          help="add the ports to the ledger (comments and formatting kept)")
    allocate.add_argument("--format", choices=("text", "json"), default="text")

    export = sub.add_parser("export", help="the ledger's ports as environment variables")
    _add_mapping(export)
    export.add_argument("--format", choices=("env", "json"), default="env")

    # Parsed by their own modules (see PASSTHROUGH); listed here for --help.
    for name, text in (
        ("ports", "the published ports of one compose project, as Docker Compose resolves "
                  "them"),
        ("diff", "port changes between two revisions (default: HEAD and the index)"),
        ("commit-msg", "the commit-msg gate: every staged port change documented"),
        ("prepare-commit-msg", "pre-fill Port-Change trailers for the staged changes"),
        ("check-commits", "every commit of BASE..HEAD documents its port changes"),
        ("probe", "check running containers, listening sockets and health endpoints "
                  "against the ledger"),
    ):
        sub.add_parser(name, add_help=False, help=f"{text} ({name} --help)")

    from portledger import report as report_mod

    report = sub.add_parser("report", help="the port map for people: Markdown tables or HTML")
    report_mod.add_arguments(report)

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def cmd_check(args: argparse.Namespace) -> int:
    from portledger import check, reporters
    from portledger.findings import Severity

    if args.format is None:
        args.format = reporters.default_format(os.environ)
    select: set[str] | None = None
    ignore: set[str] = set()
    if args.select or args.ignore:
        # The catalogue imports every rule's module (the probe's, the commit gate's).
        from portledger import rules

        select = rules.resolve(args.select) if args.select else None
        ignore = rules.resolve(args.ignore)
    mapping = _mapping(args)

    def run() -> check.Result:
        return check.run(mapping, args.paths, select=select, ignore=ignore,
                         compose=not args.no_compose, cache=not args.no_cache)

    result = run()
    changed = False
    if args.fix or args.diff:
        from portledger import fixes

        diff_out = sys.stdout if args.format == "text" else sys.stderr
        originals: dict[str, str] = {}
        # A fix can reveal another (a port moved into the range now needs a ledger
        # entry): apply plans until nothing more can be fixed.
        for _ in range(1 if args.diff else 5):
            fixable = [f for f in result.findings if f.edits]
            if not fixable:
                break
            for path in sorted({e.file for f in fixable for e in f.edits}):
                originals.setdefault(path, fixes.Source.read(path).text)
            applied = fixes.apply(fixable, write=args.fix)
            if args.diff:
                diff_out.write("".join(applied.diffs))
                changed = bool(applied.diffs)
                break
            if not applied.changed:
                break
            changed = True
            result = run()
        if args.fix and changed:
            for path, old in sorted(originals.items()):
                new = fixes.Source.read(path).text
                diff_out.write(fixes.unified_diff(path, old, new))
    if not args.diff:
        reporters.report(args.format, result.findings, result.files, sys.stdout)
    threshold = Severity(args.fail_level).rank
    failed = any(f.severity.rank >= threshold for f in result.findings)
    if args.diff:
        failed = failed or changed
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def cmd_allocate(args: argparse.Namespace) -> int:
    from portledger import allocate

    return allocate.main(_mapping(args), args, sys.stdout)


def cmd_export(args: argparse.Namespace) -> int:
    from portledger import allocate
    from portledger import ledger as ledger_mod

    ledger = ledger_mod.load_valid(_mapping(args))
    values = allocate.exports(ledger)
    if args.format == "json":
        json.dump(values, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for name, value in values.items():
            sys.stdout.write(f"{name}={value}\n")
    return EXIT_CLEAN


def cmd_who(args: argparse.Namespace) -> int:
    from portledger import who

    return who.main(_mapping(args), args.port, args.format, sys.stdout)


def cmd_report(args: argparse.Namespace) -> int:
    from portledger import report

    return report.run(args)


def cmd_rules(args: argparse.Namespace) -> int:
    from portledger.rules import RULES

    if args.format == "json":
        json.dump([{"code": r.code, "name": r.name, "severity": r.severity.value,
                    "summary": r.summary} for r in RULES], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for r in RULES:
            sys.stdout.write(f"{r.code}  {r.name:<28} {r.severity.value:<8} {r.summary}\n")
    return EXIT_CLEAN


PASSTHROUGH = {
    # Commands that parse their own options (listed in build_parser for --help).
    "ports": ("portledger.compose.cli", "run_ports"),
    "probe": ("portledger.probe", "run_probe"),
    "diff": ("portledger.portdiff", "run_diff"),
    "commit-msg": ("portledger.commits", "run_commit_msg"),
    "prepare-commit-msg": ("portledger.commits", "run_prepare_commit_msg"),
    "check-commits": ("portledger.commits", "run_check_commits"),
}

COMMANDS = {
    "check": cmd_check,
    "who": cmd_who,
    "allocate": cmd_allocate,
    "export": cmd_export,
    "report": cmd_report,
    "rules": cmd_rules,
}


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
    return guarded(_dispatch, sys.argv[1:] if argv is None else argv)


def _dispatch(words: list[str]) -> int:
    if words[:1] and words[0] in PASSTHROUGH:
        import importlib

        module, function = PASSTHROUGH[words[0]]
        run: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
        return run(words[1:])
    args = build_parser().parse_args(words)
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return EXIT_FATAL
    return COMMANDS[args.command](args)


def run() -> NoReturn:
    """The ``portledger`` console script: :func:`main`, then a prompt exit."""
    exit_now(main())


if __name__ == "__main__":
    run()
