"""``portledger check [PATH...]``: the ledger, then every compose project it names."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from portledger.commands import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    add_mapping,
    add_report_options,
    mapping_path,
    report_output,
    rule_choice,
    rule_docs,
)

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
    check.add_argument("--fail-level", choices=("error", "warning", "notice"), default=None,
                       help="lowest severity that makes the exit code 1 (default: the "
                       "ledger's settings.fail_level, else error)")
    add_report_options(check)
    baseline = check.add_mutually_exclusive_group()
    baseline.add_argument("--baseline", metavar="FILE",
                          help="report only findings this baseline does not hold (default: "
                          "the one the ledger's settings.baseline names)")
    baseline.add_argument("--no-baseline", action="store_true",
                          help="report every finding, even those the baseline holds")
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
    check.add_argument("--fix-strategy", choices=("record", "move"), default="record",
                       help="what --fix does with a port the ledger lacks: record it where "
                       "it is (the default), or move it into its category's range; a port "
                       "someone else owns always moves")
    check.add_argument("--force", action="store_true",
                       help="with --fix, write read-only files too (their mode is kept)")


def run(args: argparse.Namespace) -> int:
    from portledger import check
    from portledger.report import reporters

    if args.format is None:
        args.format = reporters.default_format(os.environ)
    select, ignore = rule_choice(args)
    mapping = mapping_path(args)

    baseline: Path | bool = Path(args.baseline) if args.baseline else not args.no_baseline

    def run_check() -> check.Result:
        return check.run(mapping, args.paths, select=select, ignore=ignore,
                         compose=not args.no_compose, cache=not args.no_cache,
                         profiles=args.profile or None, baseline=baseline,
                         fix_strategy=args.fix_strategy,
                         verdict=not (args.fix or args.diff))

    if args.fix:
        # One writer per ledger at a time, from the first read to the last rename.
        from portledger.fixes import ledger_lock

        with ledger_lock(mapping):
            return _run(args, mapping, run_check)
    from portledger.paths import display_path, journal_path

    if journal_path(mapping).exists():  # what this check reads may be half a fix
        sys.stderr.write(f"portledger: note: {display_path(journal_path(mapping))}: an "
                         "interrupted --fix; the next check --fix or allocate --write "
                         "completes or rolls it back\n")
    return _run(args, mapping, run_check)


def _run(args: argparse.Namespace, mapping: Path, run_check: Callable[[], check.Result]) -> int:
    from portledger.findings import Severity
    from portledger.report import reporters

    result = run_check()
    changed = False
    if args.fix or args.diff:
        from portledger import fixes

        diff_out = sys.stdout if args.format == "text" else sys.stderr
        # One plan over every finding, made in one pass (the planner sees every change
        # together, so nothing is left for a second): what --diff prints is exactly what
        # --fix writes.
        fixable = [f for f in result.findings if f.edits]
        if fixable:
            applied = fixes.apply(fixable, write=args.fix, ledger=mapping, force=args.force)
            diff_out.write("".join(applied.diffs))
            changed = bool(applied.diffs)
        if args.fix and changed:
            result = run_check()
    if not args.diff:
        with report_output(args) as out:
            reporters.report(args.format, result.findings, result.files, out,
                             rules=rule_docs(args.format), suppressed=result.suppressed,
                             baselined=result.baselined, quiet=args.quiet)
    threshold = Severity(args.fail_level or result.settings.fail_level or "error").rank
    failed = any(f.severity.rank >= threshold for f in result.findings)
    if args.diff:
        failed = failed or changed
    return EXIT_FINDINGS if failed and not args.exit_zero else EXIT_CLEAN
