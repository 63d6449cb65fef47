"""One state's ports: the ledger and every compose project of a snapshot of the repository,
read from git's object store (through a mirror of the files a load needs), never by
checking out.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger.errors import FatalError
from portledger.git.ledgerview import _NO_LEDGER, Port, _LedgerView, read_ledger
from portledger.git.repo import SUBMODULE, SYMLINK, Repository, Snapshot
from portledger.ledger.model import DEFAULT_SKIP, LEDGER_NAME

# -- one state's ports -------------------------------------------------------------------


_ENV_LIKE = (".yml", ".yaml", ".env")
EVERY_FOLDER = "\0every folder"


_READABLE: dict[str, bool] = {}


def _readable(path: str) -> bool:
    """Files a compose project commonly reads: YAML files and env files."""
    found = _READABLE.get(path)
    if found is None:
        name = posixpath.basename(path).lower()
        found = _READABLE[path] = name.endswith(_ENV_LIKE) or name.startswith(".env")
    return found


class _Mirror:
    """A private folder holding one state's files, updated file by file."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.root = Path(tempfile.mkdtemp(prefix="portledger-diff-")).resolve()
        self.full = False
        self._have: dict[str, tuple[str, str]] = {}
        self._state: int | None = None
        self.links: dict[str, str] = {}
        """Committed symbolic links that lead to no committed file, by path: their
        targets, never created here (a link would read the local disk, not the object
        store)."""
        self.resolved: dict[str, str] = {}
        """Committed symbolic links that lead to a committed file: that file's path (its
        blob is written at the link's place)."""

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def sync(self, snapshot: Snapshot, extra: Iterable[str], key: int,
             force: bool = False) -> None:
        if self._state == key and not force:
            return
        wanted = {p: e for p, e in snapshot.items()
                  if e[0] != SUBMODULE and (self.full or _readable(p))}
        for p in extra:
            if p in snapshot and snapshot[p][0] != SUBMODULE:
                wanted[p] = snapshot[p]
        for p in [p for p in self._have if self._have[p] != wanted.get(p)]:
            self._remove(p)
        for p, entry in wanted.items():
            if p not in self._have:
                self._write(p, entry, snapshot)
        self._state = key

    def _remove(self, path: str) -> None:
        self.links.pop(path, None)
        self.resolved.pop(path, None)
        target = self.root / path
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        del self._have[path]

    def _write(self, path: str, entry: tuple[str, str], snapshot: Snapshot) -> None:
        mode, sha = entry
        target = self.root / path
        # A folder in one state can be a file in the next, and the other way round.
        for parent in reversed(target.relative_to(self.root).parents[:-1]):
            folder = self.root / parent
            if folder.is_symlink() or folder.is_file():
                folder.unlink()
                self._have.pop(parent.as_posix(), None)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
            for p in [p for p in self._have if p.startswith(path + "/")]:
                del self._have[p]
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.repo.blob(sha)
        if mode == SYMLINK:
            leads_to = _committed_target(self.repo, path, snapshot)
            if leads_to is None:  # an empty file in its place: the load names it
                self.links[path] = os.fsdecode(data)
                target.write_bytes(b"")
            else:  # the committed file it leads to, from the object store
                self.resolved[path] = leads_to
                target.write_bytes(self.repo.blob(snapshot[leads_to][1]))
                entry = (mode, f"{sha}:{snapshot[leads_to][1]}")  # rewritten if either moves
        else:
            target.write_bytes(data)
        self._have[path] = entry

    def link_error(self, path: str) -> Unloaded:
        return Unloaded(path, 1, 1, f"a symbolic link in the commit (to {self.links[path]!r}) "
                        "that leads to no committed file; not followed: diff and "
                        "check-commits read only what is committed", stricter="S8")

    def relative(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path


def _committed_target(repo: Repository, path: str, snapshot: Snapshot) -> str | None:
    """The committed regular file the committed symbolic link ``path`` leads to (through
    other committed links), or None: a target outside the commit (absolute, or above
    its root), missing, a folder, a submodule, or a loop."""
    seen: set[str] = set()
    while True:
        mode, sha = snapshot[path]
        if mode != SYMLINK:
            return None if mode == SUBMODULE else path
        if path in seen:
            return None
        seen.add(path)
        target = os.fsdecode(repo.blob(sha))
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if target.startswith("/") or joined == ".." or joined.startswith("../") \
                or joined not in snapshot:
            return None
        path = joined


@dataclass(frozen=True)
class Unloaded:
    """Why a project did not load at a state: where, and the code ``check`` gives it."""

    file: str
    line: int
    column: int
    message: str
    code: str = "PL101"
    stricter: str | None = None
    """``S7``/``S8`` of docs/compose-stricter.md: a file portledger did not read on
    purpose (outside the commit, a committed link to no committed file), which Compose
    would have read: diff and check-commits report it, as they cannot tell its ports."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class _Loaded:
    ports: list[Port]
    error: Unloaded | None
    folders: frozenset[str]


@dataclass
class _State:
    ports: list[Port]
    broken: dict[str, Unloaded]
    """project -> why it did not load"""


def _in_skipped_folder(path: str, skip: tuple[str, ...] = DEFAULT_SKIP,
                       globs: tuple[str, ...] = ()) -> bool:
    """As discovery walks: a folder ``skip`` names is not entered unless a glob names it
    literally."""
    import fnmatch

    from portledger.compose.discovery import literal_folders

    parts = path.split("/")[:-1]
    named = literal_folders(globs)
    return any(any(fnmatch.fnmatchcase(p, s) for s in skip)
               and tuple(parts[:i + 1]) not in named for i, p in enumerate(parts))


class PortReader:
    """Reads the ports of repository states; one reader serves a whole run (caches)."""

    def __init__(self, repo: Repository, mapping: str | None = None,
                 external_ledger: Path | None = None, start: str = "") -> None:
        """``mapping``: the ledger's path in the repository (None: ``port-mapping.yml``
        in ``start`` or the nearest folder above it, in each state); ``external_ledger``:
        a ledger outside the repository, the same for every state."""
        self.repo = repo
        self.mapping = mapping
        self.start = start.strip("/")
        self._external: _LedgerView | None = None
        if external_ledger is not None:
            try:
                data = external_ledger.read_bytes()
            except OSError as e:
                raise FatalError(f"{external_ledger}: {e.strerror or e}") from None
            self._external = read_ledger(str(external_ledger), data, "given by --mapping")
        self._ledgers: dict[tuple[str, str], _LedgerView] = {}
        self._mirror: _Mirror | None = None
        self._projects: dict[tuple[Any, ...], list[tuple[
            tuple[tuple[str, str], ...], _Loaded]]] = defaultdict(list)
        self._states: dict[tuple[tuple[str, str], ...], _State] = {}
        self._serial = 0
        self._matches: dict[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]],
                            dict[str, bool]] = {}

    def close(self) -> None:
        if self._mirror is not None:
            self._mirror.close()
            self._mirror = None

    def __enter__(self) -> PortReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the ledger ---------------------------------------------------------------------

    def _ledger_path(self, snapshot: Snapshot) -> str | None:
        if self.mapping is not None:
            return self.mapping if self.mapping in snapshot else None
        folder = self.start
        while True:
            candidate = f"{folder}/{LEDGER_NAME}" if folder else LEDGER_NAME
            if candidate in snapshot:
                return candidate
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def ledger(self, snapshot: Snapshot, where: str) -> _LedgerView:
        if self._external is not None:
            return self._external
        path = self._ledger_path(snapshot)
        if path is None:
            return _NO_LEDGER
        sha = snapshot[path][1]
        found = self._ledgers.get((path, sha))
        if found is None:
            found = read_ledger(path, self.repo.blob(sha), where)
            self._ledgers[(path, sha)] = found
        return found

    # -- a state ------------------------------------------------------------------------

    def may_change_ports(self, old: Snapshot, new: Snapshot, old_name: str = "",
                         new_name: str = "") -> bool:
        """False when no file that can hold a port differs between the states (most
        commits): then neither state needs loading."""
        if old is new:
            return False
        changed = [p for p in old.keys() | new.keys() if old.get(p) != new.get(p)]
        if any(_readable(p) or posixpath.basename(p) == LEDGER_NAME or p == self.mapping
               for p in changed):
            return True
        if changed and any(e[0] == SYMLINK for s in (old, new) for e in s.values()):
            return True  # a linked file's target may have changed: its name tells nothing
        for ledger in (self.ledger(old, f"at {old_name}"), self.ledger(new, f"at {new_name}")):
            base = "" if ledger is self._external else ledger.folder
            if any(self._is_compose(p, base, ledger.globs, ledger.exclude) for p in changed):
                return True
        return False

    def ports(self, snapshot: Snapshot, where: str = "") -> _State:
        """Every port of one state (cached by the contents of the files that matter)."""
        ledger = self.ledger(snapshot, where)
        compose_files = self._compose_files(snapshot, ledger)
        relevant = tuple(sorted(
            (p, e[1]) for p, e in snapshot.items()
            if _readable(p) or p in compose_files
        ))
        targets = [_committed_target(self.repo, p, snapshot) for p, e in snapshot.items()
                   if e[0] == SYMLINK and (_readable(p) or p in compose_files)]
        relevant += tuple(sorted((t, snapshot[t][1]) for t in targets if t is not None))
        key = (("", ledger.path or ""), *relevant)
        found = self._states.get(key)
        if found is not None:
            return found
        state = _State(list(ledger.ports), {})
        self._serial += 1
        by_folder: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for path, entry in snapshot.items():
            by_folder[posixpath.dirname(path)].append((path, entry[1]))
        from portledger.compose import discovery

        # As check selects them: declared projects, then the others, every profile.
        # A ledger outside the repository names its files from the repository's root.
        root = Path("." if ledger is self._external else ledger.folder or ".")
        declared = [discovery.declared_spec(root, d) for d in ledger.declared]
        claimed = {f for d in declared for f in d.files or ()}
        specs = declared + discovery.projects(
            [Path(p) for p in compose_files if Path(p) not in claimed])
        for spec in specs:
            folder = spec.directory.as_posix()
            folder = "" if folder == "." else folder
            files = tuple(f.as_posix() for f in spec.files) if spec.files else None
            project = folder or "."
            if files is not None:
                project = files[0]
            if spec.name is not None:
                project = spec.name
            extra = (None if spec.env_files is None
                     else tuple(f.as_posix() for f in spec.env_files), spec.profiles)
            loaded = self._project(snapshot, compose_files, by_folder, folder, files,
                                   self._serial, extra)
            if loaded.error is not None:
                state.broken[project] = loaded.error
                continue
            for p in loaded.ports:
                assert p.compose_service is not None
                owner = ledger.owner(p.compose_service)
                name = ledger.name_of(owner, p.port, p.target or 0, p.protocol)
                state.ports.append(Port("compose", owner, name, p.port, p.protocol, p.host_ip,
                                        p.target, p.file, p.line, p.column, p.compose_service,
                                        project, ledger.project_hosts(
                                            spec.name, folder, files[0] if files else None)))
        self._states[key] = state
        return state

    def _compose_files(self, snapshot: Snapshot, ledger: _LedgerView) -> list[str]:
        # A ledger outside the repository names compose files from the repository's root.
        base = "" if ledger is self._external else ledger.folder
        key = (base, ledger.globs, ledger.exclude, ledger.skip)
        matches = self._matches.get(key)
        if matches is None:
            matches = self._matches[key] = {}
        found = []
        for path, (mode, _) in snapshot.items():
            hit = matches.get(path)
            if hit is None:
                hit = matches[path] = self._is_compose(path, *key)
            if hit and mode != SUBMODULE:
                found.append(path)
        # A declared project's files are its own, whatever the globs say.
        for d in ledger.declared:
            for f in d.files:
                path = posixpath.normpath(posixpath.join(base, f)) if base else \
                    posixpath.normpath(f)
                if path in snapshot and path not in found:
                    found.append(path)
        return sorted(found)

    @staticmethod
    def _is_compose(path: str, base: str, globs: tuple[str, ...],
                    exclude: tuple[str, ...], skip: tuple[str, ...] = DEFAULT_SKIP) -> bool:
        from portledger.compose.discovery import glob_regex

        prefix = base + "/" if base else ""
        if not path.startswith(prefix):
            return False
        rel = path[len(prefix):]
        if _in_skipped_folder(rel, skip, globs):
            return False
        return (any(glob_regex(g).match(rel) for g in globs)
                and not any(glob_regex(g).match(rel) for g in exclude))

    def _fingerprint(self, folders: Iterable[str],
                     by_folder: dict[str, list[tuple[str, str]]]) -> tuple[tuple[str, str], ...]:
        if EVERY_FOLDER in folders:
            folders = by_folder
        return tuple(sorted(e for f in folders for e in by_folder.get(f, ())))

    def _project(self, snapshot: Snapshot, compose_files: list[str],
                 by_folder: dict[str, list[tuple[str, str]]], folder: str,
                 files: tuple[str, ...] | None, state_key: int,
                 extra: tuple[Any, ...] = (None, None)) -> _Loaded:
        cache = self._projects[(folder, files) + tuple(extra)]
        for fingerprint, loaded in cache:
            if self._fingerprint(loaded.folders, by_folder) == fingerprint:
                return loaded
        if self._mirror is None:
            self._mirror = _Mirror(self.repo)
        mirror = self._mirror
        mirror.sync(snapshot, compose_files, state_key)
        loaded = self._load(mirror, folder, files, extra)
        if loaded.error is not None and not mirror.full:
            # An include env_file or a -f file with an unusual name: mirror every file.
            mirror.full = True
            mirror.sync(snapshot, compose_files, state_key, force=True)
            loaded = self._load(mirror, folder, files, extra)
        cache.insert(0, (self._fingerprint(loaded.folders, by_folder), loaded))
        del cache[8:]
        return loaded

    def _load(self, mirror: _Mirror, folder: str, files: tuple[str, ...] | None,
              extra: tuple[Any, ...] = (None, None)) -> _Loaded:
        from portledger import compose
        from portledger.compose.loader import reading_under

        directory = mirror.root / folder if folder else mirror.root
        env_files, profiles = extra
        try:
            # Only the commit's own files: an include of ../../x would read the local disk.
            with reading_under(str(mirror.root)):
                project = compose.load_project(
                    files=[str(mirror.root / f) for f in files] if files else None,
                    project_directory=str(directory),
                    env_files=[str(mirror.root / f) for f in env_files]
                    if env_files is not None else None,
                    profiles=list(profiles) if profiles is not None else ["*"],
                    environ={},
                )
        except compose.ComposeError as e:
            where = mirror.relative(e.file)
            # What a broken project would have read is unknown: any change may mend it.
            # The mirror is a temporary folder: its name is the commit's root to people.
            why = (mirror.link_error(where) if where in mirror.links
                   else Unloaded(where, e.line, e.column,
                                 e.message.replace(str(mirror.root), "the commit's root"),
                                 e.code, e.stricter))
            return _Loaded([], why, frozenset({EVERY_FOLDER}))
        read = {mirror.relative(f) for f in project.files}
        # A link's file is read at the link's place: a change of either changes the project.
        folders = frozenset({folder, *(posixpath.dirname(f) for f in read),
                             *(posixpath.dirname(mirror.resolved[f]) for f in read
                               if f in mirror.resolved)})
        linked = sorted(p for p in mirror.links if posixpath.dirname(p) in folders)
        if linked:  # e.g. a .env that is a link: absent here, so not read at all
            return _Loaded([], mirror.link_error(linked[0]), frozenset({EVERY_FOLDER}))
        ports = []
        for b in project.bindings:
            if b.host_network and not b.exposed:
                # Docker ignores ports: here; the container binds its own port (as check).
                ports.append(Port("compose", b.service, None, str(b.target), b.protocol,
                                  None, b.target, mirror.relative(b.file), b.line, b.column,
                                  b.service))
                continue
            if b.published is None:
                continue
            ports.append(Port("compose", b.service, None, b.published, b.protocol, b.host_ip,
                              b.target, mirror.relative(b.file), b.line, b.column, b.service))
        return _Loaded(ports, None, folders)


def reader_for(repo: Repository, mapping: str | None) -> PortReader:
    """A :class:`PortReader` for ``--mapping`` as given on the command line (or None)."""
    cwd = Path.cwd().resolve()
    try:
        start = cwd.relative_to(repo.root).as_posix()
    except ValueError:
        start = ""
    start = "" if start == "." else start
    if mapping is None:
        return PortReader(repo, None, start=start)
    path = Path(mapping)
    absolute = (path if path.is_absolute() else cwd / path).resolve()
    try:
        inside = absolute.relative_to(repo.root).as_posix()
    except ValueError:
        if not absolute.is_file():
            raise FatalError(f"{mapping}: no such file") from None
        return PortReader(repo, None, external_ledger=absolute, start=start)
    return PortReader(repo, inside, start=start)
