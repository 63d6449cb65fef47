"""The semantic port diff: what a change between two repository states does to ports.

Two states (two commits, a commit and the index, or the empty tree) are compared by
their *ports*, not their lines: the ledger's allocations and every compose project's
published host ports. A change is one of

``added`` / ``removed``
    a port that was not there before / is no longer there;
``moved``
    the same service (and ledger port name, or compose container port) on another port;
``owner``
    the same port (protocol, host address) now belonging to another service;
``protocol`` / ``host``
    the same service and port with another protocol / host address.

Each change names its service, file and line, and renders as one ``Port-Change`` trailer
(:attr:`PortChange.trailer`). A ledger change and a compose change describing the same
event (PCS moving from 8000 to 8002 in both) render the same trailer, so one line
documents both. Renaming or moving a compose file, reordering entries or editing a
comment changes no port: ports are matched by what they are, not where they are written.

How a state is read
-------------------
File contents come from git's object database (:mod:`portledger.gitrepo`), never from a
checkout. The ledger is parsed from its blob (``yamlio.load(path, data=...)``), leniently:
the diff reads every well-formed port entry and leaves schema errors to ``check``. Compose
projects are loaded by the real compose loader (:func:`portledger.compose.load_project`),
so override files, ``.env``, ``extends``, ``include``, ``COMPOSE_FILE`` and interpolation
resolve exactly as ``portledger check`` resolves them: the files a project can read
(``*.yml``, ``*.yaml``, ``.env*``, ``*.env`` and the compose files the ledger's globs
match; every file, after a project fails to load with that subset) are written to a
private temporary folder that mirrors the state, updated file by file as the diff moves
from one state to the next. Two deliberate choices keep a diff the same on every
machine: projects load with an empty process environment (only ``.env`` files and
defaults in the files count: a developer's exported ``PCS_PORT`` does not), and with every
profile enabled (a port behind a profile is a port too).

A loaded project is reused for a later state while every file in the folders it read
from is unchanged (compared by blob sha), so a history of a thousand commits loads each
project only as often as it changes.

A project that does not load in one of the two states (a syntax error, say) is left out of
that comparison on both sides, with a note: ``check`` reports the error itself. One that
does not load because portledger would not read a file of it (a committed symbolic link
to no committed file, an ``include`` above the commit's root: ``S7``/``S8`` of
docs/compose-stricter.md) is a finding instead (:attr:`Diff.findings`, PL101 at the
file): ``check`` of a working tree cannot see what a commit links to, and a gate that
passed a commit whose ports it could not read would have checked nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from portledger.errors import FatalError
from portledger.findings import Finding
from portledger.git.reader import Port, PortReader, Unloaded
from portledger.git.repo import Repository, Snapshot

KINDS = ("added", "removed", "moved", "owner", "protocol", "host")


@dataclass(frozen=True)
class PortChange:
    """One port change between two states."""

    kind: str
    source: str
    old: Port | None
    new: Port | None

    @property
    def current(self) -> Port:
        """The port as it is after the change (before it, for a removal)."""
        port = self.new or self.old
        assert port is not None
        return port

    @property
    def service(self) -> str:
        return self.current.service

    @property
    def name(self) -> str | None:
        if self.new is not None and self.new.name:
            return self.new.name
        return self.old.name if self.old is not None else None

    @property
    def file(self) -> str:
        return self.current.file

    @property
    def line(self) -> int:
        return self.current.line

    @property
    def column(self) -> int:
        return self.current.column

    @property
    def trailer(self) -> str:
        """The value of this change's ``Port-Change`` trailer (see :func:`trailer_of`)."""
        return trailer_of(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "service": self.service,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "old": self.old.as_dict() if self.old else None,
            "new": self.new.as_dict() if self.new else None,
            "trailer": self.trailer,
        }


def trailer_of(change: PortChange) -> str:
    """``SERVICE [NAME] OLD -> NEW (PROTOCOL)``, or ``PORT (PROTOCOL) owner OLD -> NEW``.

    OLD and NEW are ``[HOST:]PORT`` or ``none``; the host address is written when either
    side has one; a protocol change is written ``(tcp -> udp)``. In a ledger with more
    than one host (``hosts``), `` on HOST`` follows for a port limited to some hosts.
    """
    old, new = change.old, change.new
    on = f" on {change.current.hosts}" if change.current.hosts else ""
    if change.kind == "owner":
        assert old is not None and new is not None
        return (f"{new.address(True)} ({new.protocol}) owner {old.service} -> "
                f"{new.service}{on}")
    who = change.service + (f" {change.name}" if change.name else "")
    with_host = bool((old and old.host_ip) or (new and new.host_ip))
    before = old.address(with_host) if old else "none"
    after = new.address(with_host) if new else "none"
    if old and new and old.protocol != new.protocol:
        protocol = f"{old.protocol} -> {new.protocol}"
    else:
        protocol = change.current.protocol
    return f"{who} {before} -> {after} ({protocol}){on}"


@dataclass
class Diff:
    """The port changes between two states, and notes about what could not be read."""

    changes: list[PortChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """A project whose ports could not be read because portledger would not read one
    of its files (see the module's docstring): an error, the command exits 1."""

    def trailers(self) -> list[str]:
        """Each change's trailer value once, in change order."""
        return list(dict.fromkeys(c.trailer for c in self.changes))


# -- comparing two states ------------------------------------------------------------------


def _identity(p: Port) -> tuple[Any, ...]:
    return (p.source, p.service, p.name if p.source == "ledger" else None, p.port, p.protocol,
            p.host_ip, p.hosts)


def _order(p: Port) -> tuple[Any, ...]:
    return (p.file, p.line, p.column, p.port)


Key = Callable[[Port], tuple[Any, ...]]

_PAIRINGS: dict[str, tuple[Key, ...]] = {
    "ledger": (
        lambda p: (p.service, p.name),
        lambda p: (p.service, p.port, p.protocol, p.host_ip),  # a renamed port name
    ),
    "compose": (
        lambda p: (p.service, p.compose_service, p.target, p.protocol, p.host_ip),
        lambda p: (p.service, p.compose_service, p.target, p.protocol),
        lambda p: (p.service, p.compose_service, p.target),
        lambda p: (p.service, p.compose_service),
    ),
}


def _kind(old: Port, new: Port) -> str | None:
    if old.port != new.port:
        return "moved"
    if old.protocol != new.protocol:
        return "protocol"
    if old.host_ip != new.host_ip:
        return "host"
    return None


def compare(old: Sequence[Port], new: Sequence[Port]) -> list[PortChange]:
    """The changes that turn the ports ``old`` into ``new`` (see the module's kinds)."""
    changes: list[PortChange] = []
    for source in ("ledger", "compose"):
        before = sorted((p for p in old if p.source == source), key=_order)
        after = sorted((p for p in new if p.source == source), key=_order)
        # Equal ports cancel, wherever they are written: a renamed file changes nothing.
        common = Counter(map(_identity, before)) & Counter(map(_identity, after))
        left, right = common.copy(), common.copy()
        before = [p for p in before if not _take(left, _identity(p))]
        after = [p for p in after if not _take(right, _identity(p))]
        for key in _PAIRINGS[source]:
            before, after = _pair(before, after, key, changes, source, same_owner=True)
        before, after = _pair(before, after, lambda p: (p.port, p.protocol, p.host_ip),
                              changes, source, same_owner=False)
        changes.extend(PortChange("removed", source, p, None) for p in before)
        changes.extend(PortChange("added", source, None, p) for p in after)
    changes.sort(key=lambda c: (c.source != "ledger", c.file, c.line, c.column, c.trailer))
    return changes


def _take(counter: Counter[tuple[Any, ...]], key: tuple[Any, ...]) -> bool:
    if counter[key] > 0:
        counter[key] -= 1
        return True
    return False


def _pair(before: list[Port], after: list[Port], key: Key, changes: list[PortChange],
          source: str, *, same_owner: bool) -> tuple[list[Port], list[Port]]:
    waiting: dict[tuple[Any, ...], list[Port]] = defaultdict(list)
    for p in after:
        waiting[key(p)].append(p)
    used: set[int] = set()
    rest_before = []
    for p in before:
        candidates = [q for q in waiting.get(key(p), ()) if id(q) not in used
                      and (q.service == p.service) == same_owner]
        if not candidates:
            rest_before.append(p)
            continue
        q = candidates[0]
        used.add(id(q))
        kind = _kind(p, q) if same_owner else "owner"
        if kind is not None:
            changes.append(PortChange(kind, source, p, q))
    return rest_before, [q for q in after if id(q) not in used]


def diff_states(reader: PortReader, old: Snapshot, new: Snapshot,
                old_name: str = "the base", new_name: str = "the head") -> Diff:
    """The port changes from state ``old`` to state ``new``."""
    if not reader.may_change_ports(old, new, old_name, new_name):
        return Diff()
    before = reader.ports(old, f"at {old_name}")
    after = reader.ports(new, f"at {new_name}")
    broken = set(before.broken) | set(after.broken)
    result = Diff()
    for project in sorted(broken):
        why = after.broken.get(project) or before.broken[project]
        side = new_name if project in after.broken else old_name
        if why.stricter in REFUSED:
            result.findings.append(_unread(why, project, side))
            continue
        result.notes.append(
            f"{why} (compose project {project} does not load at {side}; its ports are "
            "left out of this comparison)"
        )
    old_ports = [p for p in before.ports if p.project not in broken]
    new_ports = [p for p in after.ports if p.project not in broken]
    result.changes = compare(old_ports, new_ports)
    return result


REFUSED = ("S7", "S8")
"""The rows of docs/compose-stricter.md of files portledger does not read on purpose."""


def _unread(why: Unloaded, project: str, side: str) -> Finding:
    from dataclasses import replace

    from portledger.compose.rules import load_error

    finding = load_error(why)
    return replace(finding, message=f"{finding.message} (compose project {project} at "
                   f"{side}: its port changes cannot be told)")


# -- the command -----------------------------------------------------------------------------


@dataclass
class Endpoints:
    """The two states a command compares, with names for people."""

    old: Snapshot
    new: Snapshot
    old_name: str
    new_name: str
    old_sha: str | None
    new_sha: str | None


def endpoints(repo: Repository, base: str | None, head: str | None) -> Endpoints:
    """``diff``'s states: HEAD and the index by default; ``A..B`` and ``A...B`` (from the
    merge base) are accepted as one argument; BASE alone is compared with the index."""
    if base is not None and head is None and ".." in base:
        three = "..." in base
        base, _, head = base.partition("..." if three else "..")
        base, head = base or "HEAD", head or "HEAD"
        if three:
            base_sha = repo.merge_base(repo.resolve(base), repo.resolve(head))
            if base_sha is None:
                raise FatalError(f"{base} and {head} have no common ancestor")
            base = base_sha
    if base is None:
        sha = repo.head()
        return Endpoints(repo.commit_snapshot(sha), repo.index_snapshot(),
                         "HEAD" if sha else "the empty tree", "the index", sha, None)
    base_sha = repo.resolve(base)
    if head is None:
        return Endpoints(repo.commit_snapshot(base_sha), repo.index_snapshot(), base,
                         "the index", base_sha, None)
    head_sha = repo.resolve(head)
    return Endpoints(repo.commit_snapshot(base_sha), repo.commit_snapshot(head_sha), base, head,
                     base_sha, head_sha)


def render_text(diff: Diff) -> str:
    return "".join([*(f"{c.file}:{c.line}:{c.column}: {c.kind} {c.trailer}\n"
                      for c in diff.changes),
                    *(f"{f.file}:{f.line}:{f.column}: {f.code} {f.rule} {f.message}\n"
                      for f in diff.findings)])


def render_json(diff: Diff, ends: Endpoints) -> str:
    import json

    doc = {
        "base": ends.old_sha,
        "head": ends.new_sha,
        "changes": [c.as_dict() for c in diff.changes],
        "trailers": [f"Port-Change: {t}" for t in diff.trailers()],
        "notes": diff.notes,
        "findings": [f.as_dict() for f in diff.findings],
    }
    return json.dumps(doc, indent=2) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: Diff) -> str:
    unread = "".join(f"\n**{f.code} {f.rule}** `{_cell(f.file)}:{f.line}`: {_cell(f.message)}\n"
                     for f in diff.findings)
    if unread and not diff.changes:
        return "No port changes in the projects that could be read.\n" + unread
    return _changes_markdown(diff) + unread


def _changes_markdown(diff: Diff) -> str:
    if not diff.changes:
        return "No port changes.\n"
    rows = ["| change | service | port | protocol | file |", "|---|---|---|---|---|"]
    for c in diff.changes:
        who = c.service + (f" {c.name}" if c.name else "")
        if c.kind == "owner":
            assert c.old is not None
            who = f"{c.old.service} → {c.service}"
        with_host = bool((c.old and c.old.host_ip) or (c.new and c.new.host_ip))
        before = c.old.address(with_host) if c.old else "none"
        after = c.new.address(with_host) if c.new else "none"
        port = before if before == after else f"{before} → {after}"
        protocol = c.current.protocol
        if c.old and c.new and c.old.protocol != c.new.protocol:
            protocol = f"{c.old.protocol} → {c.new.protocol}"
        rows.append(f"| {c.kind} | {_cell(who)} | {_cell(port)} | {protocol} | "
                    f"`{_cell(c.file)}:{c.line}` |")
    return "\n".join(rows) + "\n"


# -- the lines a change touched (the action's ``filter: changed``) -------------------------


def changed_lines(repo: Repository, base: str, head: str) -> dict[str, list[tuple[int, int]]]:
    """The lines of ``head`` that ``base..head`` added or changed, by file (relative to
    the repository's root): ``git diff -U0``'s new-side hunks, first and last line."""
    import re

    out = repo.run("-c", "core.quotePath=false", "diff", "-U0", "--no-color", "--no-ext-diff",
                   "--find-renames", base, head)
    hunk = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
    lines: dict[str, list[tuple[int, int]]] = {}
    current: list[tuple[int, int]] | None = None
    for text in out.splitlines():
        if text.startswith("+++ "):
            path = text[4:]
            current = None if path == "/dev/null" else lines.setdefault(path[2:], [])
        elif text.startswith("@@") and current is not None:
            m = hunk.match(text)
            if m:
                first, count = int(m.group(1)), int(m.group(2) or "1")
                if count:
                    current.append((first, first + count - 1))
    return lines
