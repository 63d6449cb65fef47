"""All of portledger's git access: revisions, trees, the index, blobs, trailers.

Nothing else in portledger runs git. It runs the ``git`` command itself (plumbing:
``rev-parse``, ``ls-files``, ``ls-tree``, ``log``, one persistent ``cat-file --batch``),
not GitPython: importing GitPython cost 270 million instructions, more than the rest of
a commit-msg hook run, and portledger used it only to start these same commands. File
contents at a revision are read from the object database, never by checking anything
out: portledger does not change the index, the working tree or any ref.

A state of the repository is a :data:`Snapshot`, a flat mapping of every path to its
``(mode, blob sha)``: the tree of a commit, the empty tree (before the first commit), or
the index (``git ls-files --stage``, so ``GIT_INDEX_FILE`` as set by ``git commit -a`` is
honoured). Trees are content-addressed, so each tree object is read and flattened once
per run however many commits share it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from portledger.errors import FatalError

Snapshot = dict[str, tuple[str, str]]
"""path (``/``-separated, relative to the repository root) -> (mode, blob sha)."""

TRAILER_KEY = "Port-Change"
SUBMODULE = "160000"
SYMLINK = "120000"
TREE = "40000"


@dataclass(frozen=True)
class CommitInfo:
    """One commit of a range: its parents, tree, subject, ``Port-Change`` trailers and
    the files it changed against its first parent (None for a merge: read its tree)."""

    sha: str
    parents: tuple[str, ...]
    tree: str
    subject: str
    trailers: tuple[str, ...]
    changes: tuple[tuple[str, str, str | None], ...] | None = None
    """(path, mode, blob sha or None when deleted)"""


class GitError(FatalError):
    """git refused a command (an unknown revision, not a repository): exit 2."""


class Repository:
    """One git repository, read through the ``git`` command."""

    def __init__(self, root: str | Path, git_dir: str | Path) -> None:
        self.root = Path(root).resolve()
        self.git_dir = Path(git_dir).resolve()
        self._flat: dict[str, Snapshot] = {}
        self._blobs: dict[str, bytes] = {}
        self._trees: dict[str, str] = {}
        self._commits: dict[str, Snapshot] = {}
        self._batch: subprocess.Popen[bytes] | None = None

    @classmethod
    def open(cls, path: str | Path = ".") -> Repository:
        """The repository containing ``path`` (a :class:`GitError` when there is none)."""
        where = Path(path)
        if not where.exists():
            raise GitError(f"{where.resolve()}: not inside a git repository")
        done = subprocess.run(
            ["git", "rev-parse", "--is-bare-repository", "--absolute-git-dir",
             "--show-toplevel"],
            cwd=where if where.is_dir() else where.parent, capture_output=True, check=False)
        lines = os.fsdecode(done.stdout).splitlines()
        if done.returncode != 0 and lines[:1] == ["true"] and len(lines) >= 2:
            raise GitError(f"{lines[1]}: a bare repository has no working tree")
        if done.returncode != 0 or len(lines) < 2:
            raise GitError(f"{where.resolve()}: not inside a git repository")
        if lines[0] == "true" or len(lines) < 3:
            raise GitError(f"{lines[1]}: a bare repository has no working tree")
        return cls(lines[2], lines[1])

    # -- commands -------------------------------------------------------------------------

    def run(self, *args: str) -> str:
        """``git ARGS`` in the working tree; its stdout (trailing newline kept)."""
        done = subprocess.run(["git", *args], cwd=self.root, capture_output=True,
                              check=False)
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().replace("\n", " ")
            raise GitError(f"git {args[0]}: {detail or 'failed'}")
        return done.stdout.decode("utf-8", "surrogateescape")

    def resolve(self, rev: str) -> str:
        """The commit sha ``rev`` names; :class:`GitError` when it names none."""
        sha = self.try_resolve(rev)
        if sha is None:
            raise GitError(f"unknown revision {rev!r}")
        return sha

    def try_resolve(self, rev: str) -> str | None:
        if rev.startswith("-"):
            return None
        try:
            out = self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                           f"{rev}^{{commit}}")
        except GitError:
            return None
        return out.strip() or None

    def head(self) -> str | None:
        """HEAD's commit, also when detached; None before the first commit."""
        return self.try_resolve("HEAD")

    def merge_heads(self) -> list[str]:
        """The commits being merged while a merge is in progress (``.git/MERGE_HEAD``)."""
        path = self.git_dir / "MERGE_HEAD"
        try:
            text = path.read_text(encoding="ascii")
        except OSError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            out = self.run("merge-base", a, b)
        except GitError:  # unrelated histories
            return None
        return out.strip() or None

    def parents(self, sha: str) -> tuple[str, ...]:
        out = self.run("rev-list", "--parents", "-n", "1", sha).split()
        return tuple(out[1:])

    def tree_of(self, commit: str) -> str:
        tree = self._trees.get(commit)
        if tree is None:
            tree = self.run("rev-parse", f"{commit}^{{tree}}").strip()
            self._trees[commit] = tree
        return tree

    def commits(self, base: str, head: str) -> list[CommitInfo]:
        """The commits of ``base..head``, parents before children, each with its trailers
        and the files it changed.

        One ``git log`` for the whole range: ``%(trailers)`` is git's own trailer parser
        (the one ``git interpret-trailers --parse`` uses), and ``--raw`` lists each
        commit's changed blobs, so no tree needs reading but a merge's.
        """
        fmt = (f"%x1e%H%x1f%P%x1f%T%x1f%(trailers:key={TRAILER_KEY},valueonly,"
               "separator=%x1d)%x1f%s")
        out = self.run("log", "--topo-order", "--reverse", "--root", "--no-renames", "--raw",
                       "-z", "--no-abbrev", f"--format={fmt}", f"{base}..{head}", "--")
        result = []
        for record in out.split("\x1e"):
            if not record:
                continue
            header, _, raw = record.partition("\0")
            sha, parents, tree, trailers, subject = header.split("\x1f", 4)
            values = tuple(t.strip() for t in trailers.split("\x1d") if t.strip())
            self._trees[sha] = tree
            parent_list = tuple(parents.split())
            changes: list[tuple[str, str, str | None]] | None = None
            if len(parent_list) <= 1:
                changes = []
                tokens = raw.lstrip("\n").split("\0")
                for meta, path in zip(tokens[0::2], tokens[1::2], strict=False):
                    if not meta.startswith(":"):
                        continue
                    _, new_mode, _, new_sha, status = meta[1:].split(" ", 4)
                    if status.startswith("D"):
                        changes.append((path, new_mode, None))
                    else:
                        changes.append((path, new_mode, new_sha))
            result.append(CommitInfo(sha, parent_list, tree, subject.strip(), values,
                                     None if changes is None else tuple(changes)))
        return result

    def config(self, key: str) -> str | None:
        try:
            return self.run("config", "--get", key).strip() or None
        except GitError:
            return None

    # -- trailers -------------------------------------------------------------------------

    def trailers_of_file(self, path: str | Path) -> list[tuple[str, str]]:
        """The trailers of a commit message file, as git parses them (comment lines and
        everything below a ``git commit -v`` scissors line are left out)."""
        out = self.run("interpret-trailers", "--parse", "--", str(path))
        found = []
        for line in out.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                found.append((key.strip(), value.strip()))
        return found

    def add_trailers(self, path: str | Path, values: Sequence[str]) -> None:
        """Append ``Port-Change: VALUE`` trailers to a message file, where git puts
        trailers (the last paragraph, above the comments)."""
        args = ["interpret-trailers", "--in-place", "--if-exists", "addIfDifferent",
                "--if-missing", "add", "--where", "end"]
        for value in values:
            args += ["--trailer", f"{TRAILER_KEY}: {value}"]
        self.run(*args, "--", str(path))

    # -- contents -------------------------------------------------------------------------

    def _object(self, sha: str) -> bytes:
        """An object's bytes, from one ``git cat-file --batch`` kept for the run."""
        if self._batch is None:
            self._batch = subprocess.Popen(
                ["git", "cat-file", "--batch"], cwd=self.root, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        batch = self._batch
        assert batch.stdin is not None and batch.stdout is not None
        batch.stdin.write(sha.encode("ascii") + b"\n")
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if len(header) != 3:
            raise GitError(f"git cat-file: object {sha} is missing")
        size = int(header[2])
        data = batch.stdout.read(size)
        batch.stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        """End the ``cat-file`` process (also done when the repository is collected)."""
        batch, self._batch = self._batch, None
        if batch is not None:
            assert batch.stdin is not None
            batch.stdin.close()
            batch.wait()
            if batch.stdout is not None:
                batch.stdout.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def blob(self, sha: str) -> bytes:
        """A blob's bytes (cached: blobs are content-addressed)."""
        data = self._blobs.get(sha)
        if data is None:
            data = self._object(sha)
            if len(data) <= 1 << 20:
                self._blobs[sha] = data
        return data

    def tree_snapshot(self, tree: str) -> Snapshot:
        """Every file of a tree, flattened (the result is shared: do not modify it)."""
        found = self._flat.get(tree)
        if found is not None:
            return found
        flat: Snapshot = {}
        for octal, name, sha in _tree_entries(self._object(tree), len(tree) // 2):
            if octal == TREE:
                prefix = name + "/"
                for sub, entry in self.tree_snapshot(sha).items():
                    flat[prefix + sub] = entry
            else:
                flat[name] = (octal, sha)
        self._flat[tree] = flat
        return flat

    def commit_snapshot(self, commit: str | None) -> Snapshot:
        """A commit's files; the empty snapshot for None (before the first commit).

        One ``git ls-tree -r`` (a single process, faster than reading each tree object
        for one commit); cached by commit.
        """
        if commit is None:
            return {}
        found = self._commits.get(commit)
        if found is None:
            found = {}
            for record in self.run("ls-tree", "-r", "--full-tree", "-z", commit).split("\0"):
                if record:
                    meta, _, path = record.partition("\t")
                    mode, kind, sha = meta.split()
                    found[path] = (mode, sha)
            self._commits[commit] = found
        return found

    def index_listing(self) -> str:
        """``git ls-files --stage -z``: every staged path, mode, blob and stage (what
        :meth:`index_snapshot` reads; the staged diff's cache key digests it)."""
        return self.run("ls-files", "--stage", "-z")

    def index_snapshot(self, listing: str | None = None) -> Snapshot:
        """The files staged in the index (``GIT_INDEX_FILE`` when git set it), from
        ``listing`` when it was read already (:meth:`index_listing`)."""
        out = self.index_listing() if listing is None else listing
        flat: Snapshot = {}
        conflicted: Snapshot = {}
        for record in out.split("\0"):
            if not record:
                continue
            meta, _, path = record.partition("\t")
            mode, sha, stage = meta.split()
            if stage == "0":
                flat[path] = (mode, sha)
            elif stage == "2":  # an unresolved conflict: our side
                conflicted[path] = (mode, sha)
        for path, entry in conflicted.items():
            flat.setdefault(path, entry)
        return flat


def _tree_entries(data: bytes, width: int) -> Iterator[tuple[str, str, str]]:
    """(mode, name, sha) of each entry of a tree object: ``MODE NAME\\0`` and the raw
    object id (``width`` bytes: 20 for SHA-1, 32 for SHA-256), repeated. git writes the
    mode without leading zeros (``40000`` for a tree)."""
    i = 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        mode = data[i:space].decode("ascii").lstrip("0") or "0"
        name = data[space + 1:nul].decode("utf-8", "surrogateescape")
        yield mode, name, data[nul + 1:nul + 1 + width].hex()
        i = nul + 1 + width


def amending(max_depth: int = 12) -> bool | None:
    """True when an ancestor process is ``git commit --amend``; None where that cannot
    be seen (no ``/proc``: not Linux).

    A commit-msg hook is told only the message file; whether the commit replaces HEAD
    (``--amend``, so its parent is HEAD's parent) is visible only in git's arguments.
    """
    if not os.path.isdir("/proc/self"):
        return None
    pid = os.getppid()
    for _ in range(max_depth):
        if pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            return False
        if argv and os.path.basename(argv[0]) == "git" and "--amend" in _options(argv[1:]):
            return True
        try:
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (IndexError, ValueError):
            return False
    return False


def _options(args: Iterable[str]) -> list[str]:
    out = []
    for a in args:
        if a == "--":
            break
        out.append(a)
    return out
