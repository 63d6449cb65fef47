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
    trailer lines to paste, and each trailer that names no staged change (PL302, with a
    "did you mean" for a near miss). Passes untouched: a commit changing no port; ``fixup!``,
    ``squash!`` and ``amend!`` messages (autosquash decides their final message); in a
    merge, the changes the merged branches made themselves (their own commits document
    them), so only a change made while resolving the merge needs a trailer.
``prepare-commit-msg FILE [SOURCE [SHA]]``
    adds the missing trailers for the staged changes; leaves merge messages alone, and
    ``-m``/``-F`` messages that already have a ``Port-Change`` trailer. For an amend
    (seen as commit-msg sees it) it compares with HEAD's parent, and drops the amended
    commit's trailers that no longer name a change.
``check-commits BASE..HEAD``
    each commit of the range against its first parent (merges as above); with
    ``--squash --message-file F``, the range's net change (from the merge base) against
    one message, for teams that squash-merge.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from portledger.errors import FatalError
from portledger.findings import Finding, make, rule
from portledger.git import staged as staged_cache
from portledger.git.repo import TRAILER_KEY, CommitInfo, Repository, Snapshot
from portledger.git.staged import Staged, StagedChange

if TYPE_CHECKING:
    from portledger.git.diff import PortChange
    from portledger.git.reader import PortReader

AUTOSQUASH_PREFIXES = ("fixup! ", "squash! ", "amend! ")
EXIT_CLEAN, EXIT_FINDINGS = 0, 1


@rule("PL301", "undocumented-port-change", "error",
      "a commit changes ports without saying so in its message")
def undocumented_port_change(change: StagedChange, commit: CommitInfo | None = None) -> Finding:
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
    return make(this, change.file, change.line, change.column, message,
                service=change.service, port=int(change.port.partition("-")[0]),
                protocol=change.protocol, fix=fix)


@rule("PL302", "stale-port-change-trailer", "error",
      "a Port-Change trailer names a port change the commit does not make")
def stale_port_change_trailer(value: str, file: str, line: int,
                              hint: str | None = None) -> Finding:
    """A ``Port-Change`` trailer says a port changed, and the staged changes do not change it.

    A history that says a port moved when it did not misleads as much as one that says
    nothing: the trailer was copied from another commit, left over after a change was
    unstaged or amended away, or mistyped. A near miss (the protocol left out, a digit
    wrong) is named with the line it should be; the finding points at the trailer's line
    in the message.

    Failing:

        # nothing staged changes a port
        Tidy the README

        Port-Change: pcs-api http 8000 -> 8002 (tcp)

    Passing:

        # services/pcs/compose.yaml: ports: ["8000:8000"] -> ["8002:8000"]
        Move PCS off digi-core's port

        Port-Change: pcs-api http 8000 -> 8002 (tcp)
    """
    this = stale_port_change_trailer.rule  # type: ignore[attr-defined]
    line_text = f"{TRAILER_KEY}: {value}"
    message = f"'{line_text}' names no port change of this commit"
    if hint:
        message += f"; did you mean '{TRAILER_KEY}: {hint}'?"
        fix = f"replace the line with '{TRAILER_KEY}: {hint}'"
    else:
        fix = f"remove the line '{line_text}', or stage the change it names"
    return make(this, file, line, 1, message, fix=fix)


def near_miss(value: str, candidates: Sequence[str]) -> str | None:
    """The candidate trailer ``value`` was most likely meant to be, if one is close."""
    import difflib

    by_norm = {normalize(c): c for c in candidates}
    close = difflib.get_close_matches(normalize(value), list(by_norm), n=1, cutoff=0.75)
    return by_norm[close[0]] if close else None


def stale(values: Sequence[str], changes: Sequence[StagedChange], excused: set[str],
          message_file: str) -> list[Finding]:
    """PL302 for each trailer value that names none of ``changes`` (nor an excused one)."""
    real = documented(c.trailer for c in changes) | excused
    missing = [c.trailer for c in changes if normalize(c.trailer) not in documented(values)]
    lines = read_message(message_file).splitlines()
    found = []
    for value in dict.fromkeys(values):
        if normalize(value) in real or is_bulk(value):
            continue
        where = next((i + 1 for i, text in enumerate(lines)
                      if text.partition(":")[0].strip().lower() == TRAILER_KEY.lower()
                      and normalize(text.partition(":")[2]) == normalize(value)), 1)
        found.append(stale_port_change_trailer(value, message_file, where,
                                               near_miss(value, missing)))
    return found


def normalize(value: str) -> str:
    """A trailer value as compared: case and runs of whitespace do not matter."""
    return " ".join(value.split()).lower()


def documented(values: Iterable[str]) -> set[str]:
    return {normalize(v) for v in values}


BULK = "bulk"
"""``Port-Change: bulk REASON``: one trailer that documents every change of a commit too
large to list (an import, a renumbering); prepare-commit-msg suggests it past
``settings.trailer_limit`` trailers."""


def is_bulk(value: str) -> bool:
    """Whether a trailer value (as written, or normalized) is a bulk change."""
    word = normalize(value).partition(" ")[0]
    return word in (BULK, f"{BULK}:")


def bulk_line(count: int) -> str:
    """What to write instead of ``count`` trailers."""
    return (f"{count} port changes: document them with one line, "
            f"'{TRAILER_KEY}: {BULK} REASON' (what changed and why), instead of one a change")


def adoption_excused(reader: PortReader, old: Snapshot, new: Snapshot,
                     changes: Iterable[PortChange]) -> set[str]:
    """The trailers (normalized) a commit that creates the ledger needs not have.

    Adding the ledger to a repository that already has compose projects records ports
    that exist; it moves none. So the ledger's own entries, and compose ports that now
    have a ledger owner, document themselves; a compose port the commit adds or moves
    still needs its trailer."""
    if reader.ledger(old, "before").path is not None or reader.ledger(new, "after").path is None:
        return set()
    changes = list(changes)
    # A ledger entry and a compose change of one event share a trailer: the compose
    # change is real, so its trailer is not excused by the ledger's.
    real = {normalize(c.trailer) for c in changes if c.source == "compose" and c.kind != "owner"}
    return {normalize(c.trailer) for c in changes
            if c.source == "ledger" or c.kind == "owner"} - real


def undocumented(changes: Iterable[StagedChange], trailers: set[str],
                 excused: Collection[str] = frozenset()) -> list[StagedChange]:
    """The changes whose trailer is neither in the message nor excused (normalized); none
    when the message has a bulk trailer."""
    if any(is_bulk(t) for t in trailers):
        return []
    return [c for c in changes
            if normalize(c.trailer) not in trailers and normalize(c.trailer) not in excused]


def port_trailers(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The values of the ``Port-Change`` trailers among git's parsed (key, value) pairs."""
    return [v for k, v in pairs if k.lower() == TRAILER_KEY.lower()]


def subject(text: str, comment: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith(comment):
            return line
    return ""


def comment_char(repo: Repository) -> str:
    value = repo.config("core.commentChar")
    return "#" if value is None or value == "auto" else value[:1]


def snapshot(repo: Repository, sha: str | None) -> Snapshot:
    return repo.commit_snapshot(sha)


def merged_trailers(repo: Repository, reader: PortReader, first: str | None,
                    others: Sequence[str]) -> set[str]:
    """Trailers (normalized) of the changes each merged branch made since it forked from
    ``first``: those are documented by the branch's own commits."""
    from portledger.git import diff as portdiff

    excused: set[str] = set()
    for other in others:
        base = repo.merge_base(first, other) if first else None
        diff = portdiff.diff_states(reader, snapshot(repo, base), snapshot(repo, other))
        excused |= documented(diff.trailers())
    return excused


def read_message(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        raise FatalError(f"{path}: {e.strerror or e}") from None


def print_notes(notes: Iterable[str]) -> None:
    for note in notes:
        sys.stderr.write(f"portledger: note: {note}\n")


def drop_trailers(path: str, values: Sequence[str]) -> None:
    """Remove the ``Port-Change: VALUE`` lines for ``values`` (normalized) from a message."""
    gone = documented(values)
    text = read_message(path)
    kept = [line for line in text.splitlines(keepends=True)
            if not (line.partition(":")[0].strip().lower() == TRAILER_KEY.lower()
                    and normalize(line.partition(":")[2]) in gone)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(kept))


def paste_block(values: Sequence[str], out: str) -> str:
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


def staged_diff(reader: PortReader, old: Snapshot, new: Snapshot, base: str | None) -> Staged:
    """The port changes from ``old`` (the commit ``base``) to ``new`` (the index), as
    the message hooks read them."""
    from portledger.git import diff as portdiff

    diff = portdiff.diff_states(reader, old, new,
                                base[:7] if base else "the empty tree", "the index")
    excused = adoption_excused(reader, old, new, diff.changes) if diff.changes else set()
    return Staged(tuple(map(StagedChange.of, diff.changes)), tuple(diff.notes),
                  frozenset(excused), tuple(diff.findings))


class StagedDiffs:
    """The staged diff against a base commit, for the message hooks: the cached one when
    its key matches (:mod:`portledger.git.staged`), else computed and left in the cache.
    The reader (the ledger, YAML, the compose loader) is made only when one is computed;
    ``close`` ends it."""

    def __init__(self, repo: Repository, mapping: str | None, cache: bool = True) -> None:
        self.repo = repo
        self.mapping = mapping
        self.cache = cache
        self._reader: PortReader | None = None
        self._listing: str | None = None

    def reader(self) -> PortReader:
        if self._reader is None:
            from portledger.git.reader import reader_for

            self._reader = reader_for(self.repo, self.mapping)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> StagedDiffs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def against(self, base: str | None) -> Staged:
        """The changes from the commit ``base`` (None: the empty tree) to the index."""
        if self._listing is None:
            self._listing = self.repo.index_listing()
        listing = self._listing
        if not self.cache:
            return self._compute(base, listing)
        wanted = staged_cache.key(self.repo, base, listing, self.mapping)
        path = staged_cache.cache_file(self.repo)
        found = staged_cache.load(path, wanted)
        if found is None:
            found = self._compute(base, listing)
            staged_cache.save(path, wanted, found)
        return found

    def _compute(self, base: str | None, listing: str) -> Staged:
        return staged_diff(self.reader(), snapshot(self.repo, base),
                           self.repo.index_snapshot(listing), base)


def check_message(repo: Repository, diffs: StagedDiffs, message_file: str,
                  base: str | None, merge_heads: Sequence[str]) -> tuple[list[Finding], list[str],
                                                                         list[str]]:
    """PL301 findings for the staged changes against ``base`` and the message's trailers;
    also the trailer lines to add, and notes."""
    diff = diffs.against(base)
    given = port_trailers(repo.trailers_of_file(message_file))
    if not diff.changes and not given and not diff.findings:
        return [], [], list(diff.notes)
    have = documented(given)
    excused = (merged_trailers(repo, diffs.reader(), base, merge_heads) if merge_heads
               else set())
    excused |= diff.excused
    missing = undocumented(diff.changes, have, excused)
    # and a project it could not read (S7/S8): its port changes cannot be told
    findings = sorted([*(undocumented_port_change(c) for c in missing),
                       *stale(given, diff.changes, excused, message_file), *diff.findings])
    values = list(dict.fromkeys(c.trailer for c in missing))
    return findings, values, list(diff.notes)


# -- check-commits -----------------------------------------------------------------------------


def check_range(repo: Repository, reader: PortReader, base: str, head: str,
                since: str | None = None,
                ) -> tuple[list[Finding], dict[str, tuple[str, list[str]]], list[str], int]:
    """PL301 findings for every commit of ``base..head``; also the subject and missing
    trailer values by commit, notes, and the number of commits checked. ``since``: the
    adoption boundary (``settings.adopted``): it and the commits before it are not asked
    for trailers."""
    from portledger.git import diff as portdiff

    findings: list[Finding] = []
    missing_by_commit: dict[str, tuple[str, list[str]]] = {}
    notes: list[str] = []
    commits = repo.commits(base, head)
    # Each commit's files are its first parent's plus its own changes (from git log
    # --raw); kept only while a child in the range still needs them.
    children: dict[str, int] = {}
    for commit in commits:
        for parent in commit.parents[:1]:
            children[parent] = children.get(parent, 0) + 1
    snapshots: dict[str, Snapshot] = {}
    before = set(repo.run("rev-list", since, f"^{base}").split()) if since else set()
    for commit in commits:
        first = commit.parents[0] if commit.parents else None
        old = snapshots.get(first) if first else {}
        if old is None:
            old = snapshot(repo, first)
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
        if commit.sha in before:
            continue  # before portledger was adopted
        diff = portdiff.diff_states(reader, old, new,
                                    first[:7] if first else "the empty tree", commit.sha[:7])
        notes.extend(diff.notes)
        findings.extend(diff.findings)  # a project it could not read (S7/S8)
        if not diff.changes:
            continue
        excused = merged_trailers(repo, reader, first, commit.parents[1:])
        excused |= adoption_excused(reader, old, new, diff.changes)
        missing = undocumented(map(StagedChange.of, diff.changes), documented(commit.trailers),
                               excused)
        if missing:
            findings.extend(undocumented_port_change(c, commit) for c in missing)
            missing_by_commit[commit.sha] = (
                commit.subject, list(dict.fromkeys(c.trailer for c in missing)))
    return findings, missing_by_commit, list(dict.fromkeys(notes)), len(commits)


def check_squash(repo: Repository, reader: PortReader, base: str, head: str,
                 message_file: str) -> tuple[list[Finding], list[str], list[str]]:
    """PL301 findings for the net change of ``base...head`` against one message file."""
    from portledger.git import diff as portdiff

    start = repo.merge_base(base, head)
    old, new = snapshot(repo, start), snapshot(repo, head)
    diff = portdiff.diff_states(reader, old, new,
                                start[:7] if start else "the empty tree", head[:7])
    have = documented(port_trailers(repo.trailers_of_file(message_file)))
    missing = undocumented(map(StagedChange.of, diff.changes), have,
                           adoption_excused(reader, old, new, diff.changes))
    findings = sorted([*(undocumented_port_change(c) for c in missing), *diff.findings])
    return findings, list(dict.fromkeys(c.trailer for c in missing)), diff.notes


def parse_range(spec: str, repo: Repository) -> tuple[str, str]:
    base, sep, head = spec.partition("...")
    if not sep:
        base, sep, head = spec.partition("..")
    if not sep:
        raise FatalError(f"check-commits takes a range BASE..HEAD, not {spec!r}")
    return repo.resolve(base or "HEAD"), repo.resolve(head or "HEAD")
