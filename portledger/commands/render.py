"""``portledger render --format F [--input JSON] [--commits JSON] [--changes JSON] [-o FILE]``:
the JSON output of ``portledger check`` (and ``check-commits``) in another format. The
GitHub Action checks once and renders the findings as annotations (within GitHub's
budget), SARIF and the job summary, with its verdict (``--fail-reason``), links to the
files (``--link``), paths from the repository's root (``--prefix``) and, for ``filter:
changed``, annotations only on the lines a change touched (``--annotate-changed``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from portledger.commands import rule_docs

DESCRIPTION = "Render the JSON output of `portledger check` in another format."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portledger.report.reporters import FORMATS

    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--input", metavar="FILE", help="check's JSON output (default: stdin)")
    parser.add_argument("--commits", metavar="FILE",
                        help="check-commits' JSON output: its PL301 findings join the "
                        "report, its commits the summary")
    parser.add_argument("--commits-skipped", metavar="REASON",
                        help="the commit check did not run, for this reason (the summary "
                        "says so)")
    parser.add_argument("--changes", metavar="FILE",
                        help="port changes (portledger diff --format json), for markdown")
    parser.add_argument("--prefix", metavar="DIR", default="",
                        help="the folder check ran in, relative to the repository's root: "
                        "prefixed to --input's relative paths")
    parser.add_argument("--fail-reason", action="append", default=[], metavar="TEXT",
                        help="why the run fails (an error annotation that always gets a "
                        "place, and the summary's verdict); repeatable")
    parser.add_argument("--link", metavar="URL",
                        help="markdown: files become links to URL + path + #Lline")
    parser.add_argument("--annotate-changed", metavar="BASE..HEAD",
                        help="github: annotate only findings on lines BASE..HEAD added or "
                        "changed (every finding is still listed in the log and the summary)")
    parser.add_argument("--category", metavar="NAME",
                        help="sarif: the run's automationDetails.id (upload-sarif's category)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")


def _read(path: str | None) -> Any:
    from portledger.report import json_input

    if path:
        with open(path, "rb") as fh:
            return json_input.load(fh, path)
    return json_input.load(sys.stdin.buffer, "<stdin>")


def _prefixed(prefix: str, path: str) -> str:
    import posixpath

    if not prefix or prefix in (".", "./") or posixpath.isabs(path):
        return path
    return posixpath.normpath(posixpath.join(prefix, path.replace("\\", "/")))


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from portledger.report import json_input, reporters

    try:
        findings, files = json_input.findings(_read(args.input), args.input or "<stdin>")
        findings = [dataclasses.replace(f, file=_prefixed(args.prefix, f.file))
                    for f in findings]
        commits = None
        if args.commits:
            doc = _read(args.commits)
            more, _ = json_input.findings(doc, args.commits)
            findings = sorted({*findings, *more})
            files = len({f.file for f in findings}) if not files else files
            result, checked, undocumented = json_input.commits(doc, args.commits)
            commits = reporters.Commits(result, checked, undocumented=undocumented)
        elif args.commits_skipped:
            commits = reporters.Commits("skipped", reason=args.commits_skipped)
        changes = None
        if args.changes:
            changes = json_input.changes(_read(args.changes), args.changes)
    except (json_input.InputError, OSError) as e:
        sys.stderr.write(f"portledger render: cannot read the input: {e}\n")
        return 2
    annotate = None
    if args.annotate_changed:
        annotate = _changed_filter(args.annotate_changed)
    run_ = reporters.Run(reasons=tuple(args.fail_reason), commits=commits, link=args.link,
                         annotate=annotate, category=args.category)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as out:
            reporters.report(args.format, findings, files, out, changes=changes,
                             rules=rule_docs(args.format), run=run_)
    else:
        reporters.report(args.format, findings, files, sys.stdout, changes=changes,
                         rules=rule_docs(args.format), run=run_)
    return 0


def _changed_filter(spec: str) -> Any:
    """A predicate: the finding's lines overlap a line ``BASE..HEAD`` added or changed."""
    from portledger.git.diff import changed_lines
    from portledger.git.repo import Repository
    from portledger.report.sarif import span

    repo = Repository.open()
    base, _, head = spec.partition("..")
    touched = changed_lines(repo, repo.resolve(base), repo.resolve(head or "HEAD"))

    def on_changed_line(f: Any) -> bool:
        end = span(f)[0] or f.line
        return any(first <= end and f.line <= last for first, last in touched.get(f.file, ()))

    return on_changed_line
