"""``portledger check [PATH...]``: the ledger, then every compose project it names."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from portledger.commands import EXIT_CLEAN, EXIT_FINDINGS, add_mapping, mapping_path, rule_docs

if TYPE_CHECKING:
    from portledger import check


def add_arguments(check: argparse.ArgumentParser) -> None:
    add_mapping(check)
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
    check.add_argument("--profile", action="append", default=[], metavar="NAME",
                       help="check only the services Compose starts with this profile "
                       "(repeatable; default: every service of every profile)")
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
    check.add_argument("--force", action="store_true",
                       help="with --fix, write read-only files too (their mode is kept)")


def run(args: argparse.Namespace) -> int:
    from portledger import check
    from portledger.report import reporters

    if args.format is None:
        args.format = reporters.default_format(os.environ)
    select: set[str] | None = None
    ignore: set[str] = set()
    if args.select or args.ignore:
        # The catalogue imports every rule's module (the probe's, the commit gate's).
        from portledger import rules

        select = rules.resolve(args.select) if args.select else None
        ignore = rules.resolve(args.ignore)
    mapping = mapping_path(args)

    def run_check() -> check.Result:
        return check.run(mapping, args.paths, select=select, ignore=ignore,
                         compose=not args.no_compose, cache=not args.no_cache,
                         profiles=args.profile or None)

    if args.fix:
        # One writer per ledger at a time, from the first read to the last rename.
        from portledger.fixes import ledger_lock

        with ledger_lock(mapping):
            return _run(args, mapping, run_check)
    return _run(args, mapping, run_check)


def _run(args: argparse.Namespace, mapping: Path, run_check: Callable[[], check.Result]) -> int:
    from portledger.findings import Severity
    from portledger.report import reporters

    result = run_check()
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
            applied = fixes.apply(fixable, write=args.fix, ledger=mapping, force=args.force)
            if args.diff:
                diff_out.write("".join(applied.diffs))
                changed = bool(applied.diffs)
                break
            if not applied.changed:
                break
            changed = True
            result = run_check()
        if args.fix and changed:
            for path, old in sorted(originals.items()):
                new = fixes.Source.read(path).text
                diff_out.write(fixes.unified_diff(path, old, new))
    if not args.diff:
        reporters.report(args.format, result.findings, result.files, sys.stdout,
                      rules=rule_docs(args.format))
    threshold = Severity(args.fail_level).rank
    failed = any(f.severity.rank >= threshold for f in result.findings)
    if args.diff:
        failed = failed or changed
    return EXIT_FINDINGS if failed else EXIT_CLEAN
