"""``portledger prepare-commit-msg FILE [SOURCE [SHA]]``: pre-fill Port-Change trailers.

SOURCE and SHA are git's hook arguments; under pre-commit, which passes only FILE,
they come from ``PRE_COMMIT_COMMIT_MSG_SOURCE`` and ``PRE_COMMIT_COMMIT_OBJECT_NAME``.
"""

from __future__ import annotations

import argparse
import os
import sys

from portledger.commands import EXIT_CLEAN, add_mapping, ledger_settings
from portledger.commands.diff import MAPPING_HELP

DESCRIPTION = ("add Port-Change trailers for the staged port changes to the commit message "
               "(a prepare-commit-msg hook)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mapping(parser, MAPPING_HELP)
    parser.add_argument("message_file", metavar="FILE", help="the commit message file")
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="message, template, merge, squash or commit (from git)")
    parser.add_argument("sha", nargs="?", metavar="SHA", help="the commit of SOURCE commit")
    parser.add_argument("--no-cache", action="store_true",
                        help="compute the staged port diff, neither reading nor writing the "
                        "cache (where it is left for the commit-msg hook)")


def run(args: argparse.Namespace) -> int:
    from portledger.git import gate
    from portledger.git import repo as git_repo
    from portledger.git.repo import Repository

    source = args.source or os.environ.get("PRE_COMMIT_COMMIT_MSG_SOURCE") or ""
    sha = args.sha or os.environ.get("PRE_COMMIT_COMMIT_OBJECT_NAME") or None
    if source == "merge":
        return EXIT_CLEAN
    repo = Repository.open()
    if repo.merge_heads():
        return EXIT_CLEAN
    gate.read_message(args.message_file)
    have = gate.port_trailers(repo.trailers_of_file(args.message_file))
    if source == "message" and have:
        return EXIT_CLEAN
    head = repo.head()
    # As commit-msg decides it: git's arguments (``--amend`` with -m/-F/-C too), or git
    # naming HEAD as the message's source commit.
    amend = head is not None and (git_repo.amending() is True or (
        source == "commit" and sha is not None and repo.try_resolve(sha) == head))
    base = gate.staged_base(repo, head, amend)
    # Left in the cache, where the commit-msg hook finds it (the same base and index).
    with gate.StagedDiffs(repo, args.mapping, cache=not args.no_cache) as diffs:
        diff = diffs.against(base)
    gate.print_notes(diff.notes)
    if amend and source == "commit" and have:
        # The amended commit's own trailers that name no change now (the change was
        # amended away or moved on): commit-msg would refuse them.
        real = gate.documented(diff.trailers())
        old = [v for v in have if gate.normalize(v) not in real and not gate.is_bulk(v)]
        if old:
            gate.drop_trailers(args.message_file, old)
            have = [v for v in have if v not in old]
    present = gate.documented(have) | diff.excused
    wanted = [t for t in diff.trailers() if gate.normalize(t) not in present]
    if not wanted or any(gate.is_bulk(v) for v in have):
        return EXIT_CLEAN
    if len(wanted) > ledger_settings(args)[0].trailer_limit:
        # Never hundreds of lines: one line says how to record a bulk change.
        sys.stderr.write(f"portledger: {gate.bulk_line(len(wanted))} (`portledger diff` "
                         "lists them)\n")
        return EXIT_CLEAN
    repo.add_trailers(args.message_file, wanted)
    return EXIT_CLEAN

