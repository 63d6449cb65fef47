"""Every port change documented: the commit-msg gate, its pre-fill helper, check-commits.

The message format is one git trailer per port change (:func:`portdiff.trailer_of`)::

    Move PCS off digi-core's port

    Port-Change: pcs-api http 8000 -> 8002 (tcp)

A change is documented when the message has a ``Port-Change`` trailer (as git parses
trailers: the last paragraph, comments and a ``git commit -v`` diff left out) whose value
equals the change's, ignoring case and runs of spaces. Commands:

``commit-msg FILE``
    the staged changes against HEAD (HEAD's parent for ``git commit --amend``, nothing
    before the first commit). Exit 1 naming each undocumented change and printing the
    trailer lines to paste. Passes untouched: a commit changing no port; ``fixup!``,
    ``squash!`` and ``amend!`` messages (autosquash decides their final message); in a
    merge, the changes the merged branches made themselves (their own commits document
    them), so only a change made while resolving the merge needs a trailer.
``prepare-commit-msg FILE [SOURCE [SHA]]``
    adds the missing trailers for the staged changes; leaves merge messages alone, and
    ``-m``/``-F`` messages that already have a ``Port-Change`` trailer.
``check-commits BASE..HEAD``
    each commit of the range against its first parent (merges as above); with
    ``--squash --message-file F``, the range's net change (from the merge base) against
    one message, for teams that squash-merge.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence

from portledger import portdiff
from portledger.errors import FatalError
from portledger.findings import Finding, make, rule
from portledger.gitrepo import TRAILER_KEY, CommitInfo, Repository, Snapshot, amending
from portledger.portdiff import PortChange, PortReader

AUTOSQUASH_PREFIXES = ("fixup! ", "squash! ", "amend! ")
EXIT_CLEAN, EXIT_FINDINGS = 0, 1


@rule("PL301", "undocumented-port-change", "error",
      "a commit changes ports without saying so in its message")
def undocumented_port_change(change: PortChange, commit: CommitInfo | None = None) -> Finding:
    """A commit changes a port without a ``Port-Change`` trailer that says so.

    A port change is the ledger or a compose file adding, removing or moving a host port,
    or giving it another owner, protocol or host address; a renamed compose file or a
    reordered entry is none. Reviewers and the people running the services learn of a
    moved port from the history, so each change is one git trailer, which ``git log``,
    ``git interpret-trailers`` and release tools can read; ``portledger
    prepare-commit-msg`` writes the lines, and ``commit-msg`` prints the ones missing.
    The finding points at the port in the file that changed it.

    Failing:

        # services/pcs/compose.yaml: ports: ["8000:8000"] -> ["8002:8000"]
        Move PCS off digi-core's port

    Passing:

        # services/pcs/compose.yaml: ports: ["8000:8000"] -> ["8002:8000"]
        Move PCS off digi-core's port

        Port-Change: pcs-api http 8000 -> 8002 (tcp)
    """
    this = undocumented_port_change.rule  # type: ignore[attr-defined]
    line = f"{TRAILER_KEY}: {change.trailer}"
    message = f"port change ({change.kind}) not in the message: {line}"
    if commit is None:
        fix = f"add the line '{line}' at the end of the commit message"
    else:
        message = f"commit {commit.sha[:7]} ({commit.subject}): {message}"
        fix = f"add the line '{line}' to the message of commit {commit.sha[:7]}"
    port = change.current
    return make(this, change.file, change.line, change.column, message,
                service=change.service, port=int(port.port.partition("-")[0]),
                protocol=port.protocol, fix=fix)


def normalize(value: str) -> str:
    """A trailer value as compared: case and runs of whitespace do not matter."""
    return " ".join(value.split()).lower()


def documented(values: Iterable[str]) -> set[str]:
    return {normalize(v) for v in values}


def undocumented(changes: Iterable[PortChange], trailers: set[str],
                 excused: set[str] = frozenset()) -> list[PortChange]:  # type: ignore[assignment]
    """The changes whose trailer is neither in the message nor excused (normalized)."""
    return [c for c in changes
            if normalize(c.trailer) not in trailers and normalize(c.trailer) not in excused]


def port_trailers(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The values of the ``Port-Change`` trailers among git's parsed (key, value) pairs."""
    return [v for k, v in pairs if k.lower() == TRAILER_KEY.lower()]


def _subject(text: str, comment: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith(comment):
            return line
    return ""


def _comment_char(repo: Repository) -> str:
    value = repo.config("core.commentChar")
    return "#" if value is None or value == "auto" else value[:1]


def _snapshot(repo: Repository, sha: str | None) -> Snapshot:
    return repo.commit_snapshot(sha)


def merged_trailers(repo: Repository, reader: PortReader, first: str | None,
                    others: Sequence[str]) -> set[str]:
    """Trailers (normalized) of the changes each merged branch made since it forked from
    ``first``: those are documented by the branch's own commits."""
    excused: set[str] = set()
    for other in others:
        base = repo.merge_base(first, other) if first else None
        diff = portdiff.diff_states(reader, _snapshot(repo, base), _snapshot(repo, other))
        excused |= documented(diff.trailers())
    return excused


def _read_message(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        raise FatalError(f"{path}: {e.strerror or e}") from None


def _notes(notes: Iterable[str]) -> None:
    for note in notes:
        sys.stderr.write(f"portledger: note: {note}\n")


def _paste_block(values: Sequence[str], out: str) -> str:
    lines = "".join(f"{TRAILER_KEY}: {v}\n" for v in values)
    return (f"Port changes must be documented in {out}. Add these lines at its end, "
            f"after a blank line:\n\n{lines}")


def staged_base(repo: Repository, head: str | None, amend: bool) -> str | None:
    """The commit the staged changes will be committed on top of."""
    if head is None:
        return None
    if amend:
        parents = repo.parents(head)
        return parents[0] if parents else None
    return head


# -- commit-msg --------------------------------------------------------------------------------


def check_message(repo: Repository, reader: PortReader, message_file: str,
                  base: str | None, merge_heads: Sequence[str]) -> tuple[list[Finding], list[str],
                                                                         list[str]]:
    """PL301 findings for the staged changes against ``base`` and the message's trailers;
    also the trailer lines to add, and notes."""
    diff = portdiff.diff_states(reader, _snapshot(repo, base), repo.index_snapshot(),
                                base[:7] if base else "the empty tree", "the index")
    if not diff.changes:
        return [], [], diff.notes
    have = documented(port_trailers(repo.trailers_of_file(message_file)))
    excused = merged_trailers(repo, reader, base, merge_heads) if merge_heads else set()
    missing = undocumented(diff.changes, have, excused)
    findings = sorted(undocumented_port_change(c) for c in missing)
    values = list(dict.fromkeys(c.trailer for c in missing))
    return findings, values, diff.notes


def run_commit_msg(argv: Sequence[str]) -> int:
    """``portledger commit-msg FILE [--base REV] [--format text|json] [--mapping FILE]``."""
    from portledger import reporters

    parser = portdiff._parser("portledger commit-msg",
                              "fail when the commit message does not document every staged "
                              "port change (a commit-msg hook)")
    parser.add_argument("message_file", metavar="FILE", help="the commit message file")
    parser.add_argument("--base", metavar="REV",
                        help="compare the index with REV (default: HEAD, or HEAD's parent "
                        "when git runs with --amend)")
    parser.add_argument("--format", choices=reporters.FORMATS, default="text")
    args = parser.parse_args(list(argv))
    repo = Repository.open()
    text = _read_message(args.message_file)
    comment = _comment_char(repo)
    if _subject(text, comment).startswith(AUTOSQUASH_PREFIXES):
        return EXIT_CLEAN
    head = repo.head()
    base: str | None
    amend: bool | None = False
    if args.base is not None:
        base = repo.resolve(args.base)
        merging: list[str] = []
    else:
        amend = amending() if head is not None else False
        base = staged_base(repo, head, bool(amend))
        merging = [] if amend else repo.merge_heads()
    with portdiff.reader_for(repo, args.mapping) as reader:
        findings, values, notes = check_message(repo, reader, args.message_file, base, merging)
        if findings and amend is None and head is not None and not merging:
            # Not Linux, so --amend cannot be seen: a message right for the amended
            # commit's parent is accepted as well.
            parent = staged_base(repo, head, True)
            if not check_message(repo, reader, args.message_file, parent, [])[0]:
                return EXIT_CLEAN
    _notes(notes)
    if not findings:
        return EXIT_CLEAN
    reporters.report(args.format, findings, len({f.file for f in findings}), sys.stdout)
    if args.format == "text":
        sys.stdout.write("\n" + _paste_block(values, "the commit message"))
    return EXIT_FINDINGS


# -- prepare-commit-msg ------------------------------------------------------------------------


def run_prepare_commit_msg(argv: Sequence[str]) -> int:
    """``portledger prepare-commit-msg FILE [SOURCE [SHA]] [--mapping FILE]``.

    SOURCE and SHA are git's hook arguments; under pre-commit, which passes only FILE,
    they come from ``PRE_COMMIT_COMMIT_MSG_SOURCE`` and ``PRE_COMMIT_COMMIT_OBJECT_NAME``.
    """
    parser = portdiff._parser("portledger prepare-commit-msg",
                              "add Port-Change trailers for the staged port changes to the "
                              "commit message (a prepare-commit-msg hook)")
    parser.add_argument("message_file", metavar="FILE", help="the commit message file")
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="message, template, merge, squash or commit (from git)")
    parser.add_argument("sha", nargs="?", metavar="SHA", help="the commit of SOURCE commit")
    args = parser.parse_args(list(argv))
    source = args.source or os.environ.get("PRE_COMMIT_COMMIT_MSG_SOURCE") or ""
    sha = args.sha or os.environ.get("PRE_COMMIT_COMMIT_OBJECT_NAME") or None
    if source == "merge":
        return EXIT_CLEAN
    repo = Repository.open()
    if repo.merge_heads():
        return EXIT_CLEAN
    _read_message(args.message_file)
    have = port_trailers(repo.trailers_of_file(args.message_file))
    if source == "message" and have:
        return EXIT_CLEAN
    head = repo.head()
    amend = source == "commit" and head is not None and sha is not None \
        and repo.try_resolve(sha) == head
    base = staged_base(repo, head, amend)
    with portdiff.reader_for(repo, args.mapping) as reader:
        diff = portdiff.diff_states(reader, _snapshot(repo, base), repo.index_snapshot(),
                                    base[:7] if base else "the empty tree", "the index")
    _notes(diff.notes)
    present = documented(have)
    wanted = [t for t in diff.trailers() if normalize(t) not in present]
    if wanted:
        repo.add_trailers(args.message_file, wanted)
    return EXIT_CLEAN


# -- check-commits -----------------------------------------------------------------------------


def check_range(repo: Repository, reader: PortReader, base: str,
                head: str) -> tuple[list[Finding], dict[str, list[str]], list[str], int]:
    """PL301 findings for every commit of ``base..head``; also the missing trailer values
    by commit, notes, and the number of commits checked."""
    findings: list[Finding] = []
    missing_by_commit: dict[str, list[str]] = {}
    notes: list[str] = []
    commits = repo.commits(base, head)
    # Each commit's files are its first parent's plus its own changes (from git log
    # --raw); kept only while a child in the range still needs them.
    children: dict[str, int] = {}
    for commit in commits:
        for parent in commit.parents[:1]:
            children[parent] = children.get(parent, 0) + 1
    snapshots: dict[str, Snapshot] = {}
    for commit in commits:
        first = commit.parents[0] if commit.parents else None
        old = snapshots.get(first) if first else {}
        if old is None:
            old = _snapshot(repo, first)
        if commit.changes is None:
            new = repo.tree_snapshot(commit.tree)
        else:
            new = dict(old)
            for path, mode, sha in commit.changes:
                if sha is None:
                    new.pop(path, None)
                else:
                    new[path] = (mode, sha)
        if children.get(commit.sha):
            snapshots[commit.sha] = new
        if first is not None and first in children:
            children[first] -= 1
            if not children[first]:
                snapshots.pop(first, None)
        diff = portdiff.diff_states(reader, old, new,
                                    first[:7] if first else "the empty tree", commit.sha[:7])
        notes.extend(diff.notes)
        if not diff.changes:
            continue
        excused = merged_trailers(repo, reader, first, commit.parents[1:])
        missing = undocumented(diff.changes, documented(commit.trailers), excused)
        if missing:
            findings.extend(undocumented_port_change(c, commit) for c in missing)
            missing_by_commit[commit.sha] = list(dict.fromkeys(c.trailer for c in missing))
    return findings, missing_by_commit, list(dict.fromkeys(notes)), len(commits)


def check_squash(repo: Repository, reader: PortReader, base: str, head: str,
                 message_file: str) -> tuple[list[Finding], list[str], list[str]]:
    """PL301 findings for the net change of ``base...head`` against one message file."""
    start = repo.merge_base(base, head)
    diff = portdiff.diff_states(reader, _snapshot(repo, start), _snapshot(repo, head),
                                start[:7] if start else "the empty tree", head[:7])
    have = documented(port_trailers(repo.trailers_of_file(message_file)))
    missing = undocumented(diff.changes, have)
    findings = sorted(undocumented_port_change(c) for c in missing)
    return findings, list(dict.fromkeys(c.trailer for c in missing)), diff.notes


def _range(spec: str, repo: Repository) -> tuple[str, str]:
    base, sep, head = spec.partition("...")
    if not sep:
        base, sep, head = spec.partition("..")
    if not sep:
        raise FatalError(f"check-commits takes a range BASE..HEAD, not {spec!r}")
    return repo.resolve(base or "HEAD"), repo.resolve(head or "HEAD")


def run_check_commits(argv: Sequence[str]) -> int:
    """``portledger check-commits BASE..HEAD [--squash --message-file F]
    [--format text|json] [--mapping FILE]``."""
    from portledger import reporters

    parser = portdiff._parser("portledger check-commits",
                              "every commit of a range documents its own port changes")
    parser.add_argument("range", metavar="BASE..HEAD")
    parser.add_argument("--squash", action="store_true",
                        help="check the range's net change against one message (--message-file)")
    parser.add_argument("--message-file", metavar="FILE",
                        help="with --squash: the message (a pull request's title and body)")
    parser.add_argument("--format", choices=reporters.FORMATS, default="text")
    args: argparse.Namespace = parser.parse_args(list(argv))
    if args.squash and not args.message_file:
        raise FatalError("portledger check-commits: --squash needs --message-file FILE")
    if args.message_file and not args.squash:
        raise FatalError("portledger check-commits: --message-file goes with --squash")
    repo = Repository.open()
    base, head = _range(args.range, repo)
    out = sys.stdout
    with portdiff.reader_for(repo, args.mapping) as reader:
        if args.squash:
            _read_message(args.message_file)
            findings, values, notes = check_squash(repo, reader, base, head, args.message_file)
            _notes(notes)
            reporters.report(args.format, findings, len({f.file for f in findings}), out)
            if findings and args.format == "text":
                out.write("\n" + _paste_block(values, "the squashed commit's message"))
            return EXIT_FINDINGS if findings else EXIT_CLEAN
        findings, by_commit, notes, _count = check_range(repo, reader, base, head)
    _notes(notes)
    reporters.report(args.format, findings, len({f.file for f in findings}), out)
    if findings and args.format == "text":
        out.write(f"\n{len(by_commit)} commit{'s' * (len(by_commit) != 1)} "
                  "change ports without saying so; the lines each message needs:\n")
        for sha, values in by_commit.items():
            out.write(f"\n{sha[:7]}\n")
            out.write("".join(f"    {TRAILER_KEY}: {v}\n" for v in values))
    return EXIT_FINDINGS if findings else EXIT_CLEAN
