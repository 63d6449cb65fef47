"""``portledger check-commits BASE..HEAD [--squash --message-file F]``: every commit of a
range documents its own port changes."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, TextIO

from portledger.commands import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    add_mapping,
    add_report_options,
    ledger_settings,
    report_output,
    rule_docs,
)
from portledger.commands.diff import MAPPING_HELP
from portledger.errors import FatalError

if TYPE_CHECKING:
    from portledger.findings import Finding
    from portledger.git.repo import Repository

DESCRIPTION = "every commit of a range documents its own port changes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portledger.report.reporters import FORMATS

    add_mapping(parser, MAPPING_HELP)
    parser.add_argument("range", metavar="BASE..HEAD")
    parser.add_argument("--squash", action="store_true",
                        help="check the range's net change against one message (--message-file)")
    parser.add_argument("--message-file", metavar="FILE",
                        help="with --squash: the message (a pull request's title and body)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    add_report_options(parser)
    parser.add_argument("--since", metavar="REV",
                        help="the commit that introduced portledger: it and the commits "
                        "before it need no trailers (default: the ledger's settings.adopted)")


def run(args: argparse.Namespace) -> int:
    from portledger.git import gate
    from portledger.git.reader import reader_for
    from portledger.git.repo import Repository

    if args.squash and not args.message_file:
        raise FatalError("check-commits: --squash needs --message-file FILE")
    if args.message_file and not args.squash:
        raise FatalError("check-commits: --message-file goes with --squash")
    repo = Repository.open()
    base, head = gate.parse_range(args.range, repo)
    with reader_for(repo, args.mapping) as reader:
        if args.squash:
            text = gate.read_message(args.message_file)
            findings, values, notes = gate.check_squash(repo, reader, base, head, args.message_file)
            by_commit = {"": (gate.subject(text, "#"), values)} if values else {}
            count = 1
        else:
            findings, by_commit, notes, count = gate.check_range(
                repo, reader, base, head, _adopted(repo, args))
    gate.print_notes(notes)
    with report_output(args) as out:
        _report(args, out, findings, by_commit, f"{base}..{head}", count)
    return EXIT_FINDINGS if findings and not args.exit_zero else EXIT_CLEAN


def _report(args: argparse.Namespace, out: TextIO, findings: list[Finding],
            by_commit: dict[str, tuple[str, list[str]]], span: str, count: int) -> None:
    from portledger.git import gate
    from portledger.git.repo import TRAILER_KEY
    from portledger.report import reporters

    if args.format == "json":
        # check's JSON, and what the GitHub Action's summary lists: each failing commit
        # (sha null: the squash message) with the trailer lines it needs.
        doc = {"findings": [f.as_dict() for f in findings],
               "summary": reporters.summary(findings, len({f.file for f in findings})),
               "range": span, "squash": bool(args.squash), "checked": count,
               "result": "failed" if findings else "passed",
               "commits": [{"sha": sha or None, "subject": subject, "trailers": values}
                           for sha, (subject, values) in by_commit.items()]}
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    reporters.report(args.format, findings, len({f.file for f in findings}), out,
                     rules=rule_docs(args.format), quiet=args.quiet)
    if args.quiet:
        return
    # (a finding without trailers to add: a project it could not read)
    if by_commit and args.format == "text" and args.squash:
        out.write("\n" + gate.paste_block(by_commit[""][1], "the squashed commit's message"))
    elif by_commit and args.format == "text":
        out.write(f"\n{len(by_commit)} commit{'s' * (len(by_commit) != 1)} "
                  "change ports without saying so; the lines each message needs:\n")
        for sha, (_subject, values) in by_commit.items():
            out.write(f"\n{sha[:7]}\n")
            out.write("".join(f"    {TRAILER_KEY}: {v}\n" for v in values))


def _adopted(repo: Repository, args: argparse.Namespace) -> str | None:
    """The adoption boundary: ``--since``, else the ledger's ``settings.adopted`` (the
    ledger of the working tree), resolved to a commit; a name that resolves to none is
    a usage error."""
    rev = args.since
    where = "--since"
    if rev is None:
        settings, ledger = ledger_settings(args)
        rev = settings.adopted
        where = f"{ledger}: settings.adopted"
    if rev is None:
        return None
    sha = repo.try_resolve(rev)
    if sha is None:
        raise FatalError(f"{where}: {rev!r} names no commit of this repository")
    return str(sha)
