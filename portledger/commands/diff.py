"""``portledger diff [BASE [HEAD]]``: port changes between two states of the repository."""

from __future__ import annotations

import argparse
import sys

from portledger.commands import add_mapping

DESCRIPTION = "port changes between two states of the repository (default: HEAD and the index)"
MAPPING_HELP = ("the ledger (default: port-mapping.yml in this folder or the "
                "nearest above, in each revision)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mapping(parser, MAPPING_HELP)
    parser.add_argument("base", nargs="?", metavar="BASE",
                        help="a revision (or BASE..HEAD, BASE...HEAD); default HEAD")
    parser.add_argument("head", nargs="?", metavar="HEAD",
                        help="a revision; default the index (what is staged)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")


def run(args: argparse.Namespace) -> int:
    from portledger.git.diff import (
        diff_states,
        endpoints,
        render_json,
        render_markdown,
        render_text,
    )
    from portledger.git.reader import reader_for
    from portledger.git.repo import Repository

    repo = Repository.open()
    with reader_for(repo, args.mapping) as reader:
        ends = endpoints(repo, args.base, args.head)
        diff = diff_states(reader, ends.old, ends.new, ends.old_name, ends.new_name)
    for note in diff.notes:
        sys.stderr.write(f"portledger: note: {note}\n")
    if args.format == "json":
        sys.stdout.write(render_json(diff, ends))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(diff))
    else:
        sys.stdout.write(render_text(diff))
    return 1 if diff.findings else 0  # a project it could not read: not a clean diff
