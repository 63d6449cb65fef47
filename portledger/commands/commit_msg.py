"""``portledger commit-msg FILE``: the commit-msg gate, every staged port change documented."""

from __future__ import annotations

import argparse
import sys

from portledger.commands import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    add_mapping,
    ledger_settings,
    rule_docs,
)
from portledger.commands.diff import MAPPING_HELP

DESCRIPTION = ("fail when the commit message does not document every staged port change "
               "(a commit-msg hook)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portledger.report.reporters import FORMATS

    add_mapping(parser, MAPPING_HELP)
    parser.add_argument("message_file", metavar="FILE", help="the commit message file")
    parser.add_argument("--base", metavar="REV",
                        help="compare the index with REV (default: HEAD, or HEAD's parent "
                        "when git runs with --amend)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--no-cache", action="store_true",
                        help="compute the staged port diff, neither reading nor writing the "
                        "one prepare-commit-msg left in the cache")


def run(args: argparse.Namespace) -> int:
    from portledger.git import gate
    from portledger.git import repo as git_repo
    from portledger.git.repo import Repository

    repo = Repository.open()
    text = gate.read_message(args.message_file)
    comment = gate.comment_char(repo)
    if gate.subject(text, comment).startswith(gate.AUTOSQUASH_PREFIXES):
        return EXIT_CLEAN
    head = repo.head()
    base: str | None
    amend: bool | None = False
    if args.base is not None:
        base = repo.resolve(args.base)
        merging: list[str] = []
    else:
        amend = git_repo.amending() if head is not None else False
        base = gate.staged_base(repo, head, bool(amend))
        merging = [] if amend else repo.merge_heads()
    with gate.StagedDiffs(repo, args.mapping, cache=not args.no_cache) as diffs:
        findings, values, notes = gate.check_message(repo, diffs, args.message_file, base, merging)
        if findings and amend is None and head is not None and not merging:
            # Not Linux, so --amend cannot be seen: a message right for the amended
            # commit's parent is accepted as well.
            parent = gate.staged_base(repo, head, True)
            if not gate.check_message(repo, diffs, args.message_file, parent, [])[0]:
                return EXIT_CLEAN
    gate.print_notes(notes)
    if not findings:
        return EXIT_CLEAN
    from portledger.report import reporters

    reporters.report(args.format, findings, len({f.file for f in findings}), sys.stdout,
                      rules=rule_docs(args.format))
    if args.format == "text" and values:
        if len(values) > ledger_settings(args)[0].trailer_limit:
            sys.stdout.write(f"\n{gate.bulk_line(len(values))}\n")
        else:
            sys.stdout.write("\n" + gate.paste_block(values, "the commit message"))
    return EXIT_FINDINGS
