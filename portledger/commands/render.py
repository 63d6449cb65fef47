"""``portledger render --format F [--input JSON] [--changes JSON] [-o FILE]``: the JSON
output of ``portledger check`` in another format (the GitHub Action renders one check's
findings as annotations, SARIF and the job summary)."""

from __future__ import annotations

import argparse
import json
import sys

from portledger.commands import rule_docs

DESCRIPTION = "Render the JSON output of `portledger check` in another format."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portledger.report.reporters import FORMATS

    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--input", metavar="FILE", help="check's JSON output (default: stdin)")
    parser.add_argument("--changes", metavar="FILE", help="port-change rows (JSON), for markdown")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")


def run(args: argparse.Namespace) -> int:
    from portledger.report import reporters

    try:
        if args.input:
            with open(args.input, encoding="utf-8") as fh:
                doc = json.load(fh)
        else:
            doc = json.load(sys.stdin)
        findings, files = reporters.findings_from_json(doc)
        changes = None
        if args.changes:
            with open(args.changes, encoding="utf-8") as fh:
                changes = reporters.changes_from_json(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.stderr.write(f"portledger render: cannot read the input: {e}\n")
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as out:
            reporters.report(args.format, findings, files, out, changes=changes,
                             rules=rule_docs(args.format))
    else:
        reporters.report(args.format, findings, files, sys.stdout, changes=changes,
                             rules=rule_docs(args.format))
    return 0
