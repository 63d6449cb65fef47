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
that comparison on both sides, with a note: ``check`` reports the error itself.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portledger import yamlio
from portledger.errors import FatalError
from portledger.gitrepo import SUBMODULE, SYMLINK, Repository, Snapshot
from portledger.ledger import DEFAULT_COMPOSE_FILES, LEDGER_NAME

KINDS = ("added", "removed", "moved", "owner", "protocol", "host")


@dataclass(frozen=True)
class Port:
    """One host port of one state: a ledger allocation or a compose published port."""

    source: str
    """``ledger`` or ``compose``."""
    service: str
    """The owner: the ledger service (a compose service through its name or alias), or
    the compose service's own name when the ledger does not know it."""
    name: str | None
    """The ledger's name for the port (``http``), when known."""
    port: str
    """``"8000"`` or a range ``"9000-9002"``."""
    protocol: str
    host_ip: str | None
    target: int | None
    file: str
    line: int
    column: int
    compose_service: str | None = None
    project: str | None = None

    def address(self, with_host: bool) -> str:
        if not with_host or not self.host_ip:
            return self.port
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "name": self.name,
            "port": self.port,
            "protocol": self.protocol,
            "host_ip": self.host_ip,
            "target": self.target,
            "compose_service": self.compose_service,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


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
    side has one; a protocol change is written ``(tcp -> udp)``.
    """
    old, new = change.old, change.new
    if change.kind == "owner":
        assert old is not None and new is not None
        return f"{new.address(True)} ({new.protocol}) owner {old.service} -> {new.service}"
    who = change.service + (f" {change.name}" if change.name else "")
    with_host = bool((old and old.host_ip) or (new and new.host_ip))
    before = old.address(with_host) if old else "none"
    after = new.address(with_host) if new else "none"
    if old and new and old.protocol != new.protocol:
        protocol = f"{old.protocol} -> {new.protocol}"
    else:
        protocol = change.current.protocol
    return f"{who} {before} -> {after} ({protocol})"


@dataclass
class Diff:
    """The port changes between two states, and notes about what could not be read."""

    changes: list[PortChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def trailers(self) -> list[str]:
        """Each change's trailer value once, in change order."""
        return list(dict.fromkeys(c.trailer for c in self.changes))


# -- one state's ports -------------------------------------------------------------------


@dataclass
class _LedgerView:
    path: str | None
    ports: list[Port]
    aliases: dict[str, str]
    allocations: dict[str, list[tuple[str, int, int, str, int | None]]]
    globs: tuple[str, ...]
    exclude: tuple[str, ...]

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path) if self.path else ""

    def owner(self, compose_service: str) -> str:
        return self.aliases.get(compose_service, compose_service)

    def name_of(self, service: str, published: str, target: int, protocol: str) -> str | None:
        """The ledger's name for a compose binding of ``service``."""
        mine = self.allocations.get(service) or []
        start = int(published.partition("-")[0])
        for name, lo, hi, proto, _ in mine:
            if lo <= start <= hi and proto == protocol:
                return name
        for name, _, _, proto, tgt in mine:
            if tgt == target and proto == protocol:
                return name
        if len(mine) == 1:
            return mine[0][0]
        return None


_NO_LEDGER = _LedgerView(None, [], {}, {}, DEFAULT_COMPOSE_FILES, ())


def _port_bounds(value: Any) -> tuple[int, int] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, str):
        lo, sep, hi = value.partition("-")
        if lo.strip().isdigit() and (not sep or hi.strip().isdigit()):
            return (int(lo), int(hi or lo))
    return None


def _strings(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return default


def read_ledger(path: str, data: bytes, where: str) -> _LedgerView:
    """The ports of a ledger's bytes, read leniently (schema errors are ``check``'s)."""
    try:
        doc = yamlio.load(path, data=data)
    except yamlio.YamlError as e:
        raise FatalError(
            f"{e.path}:{e.line}:{e.column}: {e.message} (the ledger {where}); "
            "its port changes cannot be told"
        ) from None
    root = doc.data if isinstance(doc.data, dict) else {}
    compose = root.get("compose") if isinstance(root.get("compose"), dict) else {}
    assert isinstance(compose, dict)
    view = _LedgerView(path, [], {}, {},
                       _strings(compose.get("files"), DEFAULT_COMPOSE_FILES),
                       _strings(compose.get("exclude"), ()))
    services = root.get("services")
    if not isinstance(services, dict):
        return view
    for service, body in services.items():
        if not isinstance(body, dict):
            continue
        view.aliases.setdefault(str(service), str(service))
        ports = body.get("ports")
        if not isinstance(ports, dict):
            continue
        allocations = view.allocations.setdefault(str(service), [])
        for name, entry in ports.items():
            if not isinstance(entry, dict):
                continue
            bounds = _port_bounds(entry.get("port"))
            if bounds is None:
                continue
            protocol = entry.get("protocol", "tcp")
            host_ip = entry.get("host_ip")
            target = entry.get("target")
            if not isinstance(protocol, str):
                continue
            host = host_ip if isinstance(host_ip, str) else None
            tgt = target if isinstance(target, int) and not isinstance(target, bool) else None
            lo, hi = bounds
            label = str(lo) if lo == hi else f"{lo}-{hi}"
            span = doc.span(("services", service, "ports", name, "port"))
            view.ports.append(Port("ledger", str(service), str(name), label, protocol.lower(),
                                   host, tgt, path, span.line, span.column))
            allocations.append((str(name), lo, hi, protocol.lower(), tgt))
    for service, body in services.items():
        aliases = body.get("compose") if isinstance(body, dict) else None
        if isinstance(aliases, list):
            for alias in aliases:
                if isinstance(alias, str):
                    view.aliases.setdefault(alias, str(service))
    return view


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
                self._write(p, entry)
        self._state = key

    def _remove(self, path: str) -> None:
        target = self.root / path
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        del self._have[path]

    def _write(self, path: str, entry: tuple[str, str]) -> None:
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
            os.symlink(os.fsdecode(data), target)
        else:
            target.write_bytes(data)
        self._have[path] = entry

    def relative(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path


@dataclass
class _Loaded:
    ports: list[Port]
    error: str | None
    folders: frozenset[str]


@dataclass
class _State:
    ports: list[Port]
    broken: dict[str, str]
    """project -> why it did not load"""


def _in_skipped_folder(path: str) -> bool:
    from portledger.compose_check import SKIP_DIRS

    parts = path.split("/")[:-1]
    return any(p.startswith(".") or p in SKIP_DIRS for p in parts)


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
        self._projects: dict[tuple[str, tuple[str, ...] | None], list[tuple[
            tuple[tuple[str, str], ...], _Loaded]]] = defaultdict(list)
        self._states: dict[tuple[tuple[str, str], ...], _State] = {}
        self._serial = 0
        self._matches: dict[tuple[str, tuple[str, ...], tuple[str, ...]], dict[str, bool]] = {}

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
        key = (("", ledger.path or ""), *relevant)
        found = self._states.get(key)
        if found is not None:
            return found
        state = _State(list(ledger.ports), {})
        self._serial += 1
        by_folder: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for path, entry in snapshot.items():
            by_folder[posixpath.dirname(path)].append((path, entry[1]))
        from portledger import compose_check

        specs = compose_check.projects([Path(p) for p in compose_files])
        for spec in specs:
            folder = spec.directory.as_posix()
            folder = "" if folder == "." else folder
            files = tuple(f.as_posix() for f in spec.files) if spec.files else None
            project = folder or "."
            if files is not None:
                project = files[0]
            loaded = self._project(snapshot, compose_files, by_folder, folder, files,
                                   self._serial)
            if loaded.error is not None:
                state.broken[project] = loaded.error
                continue
            for p in loaded.ports:
                assert p.compose_service is not None
                owner = ledger.owner(p.compose_service)
                name = ledger.name_of(owner, p.port, p.target or 0, p.protocol)
                state.ports.append(Port("compose", owner, name, p.port, p.protocol, p.host_ip,
                                        p.target, p.file, p.line, p.column, p.compose_service,
                                        project))
        self._states[key] = state
        return state

    def _compose_files(self, snapshot: Snapshot, ledger: _LedgerView) -> list[str]:
        # A ledger outside the repository names compose files from the repository's root.
        base = "" if ledger is self._external else ledger.folder
        key = (base, ledger.globs, ledger.exclude)
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
        return sorted(found)

    @staticmethod
    def _is_compose(path: str, base: str, globs: tuple[str, ...],
                    exclude: tuple[str, ...]) -> bool:
        from portledger.compose_check import _glob_regex

        prefix = base + "/" if base else ""
        if not path.startswith(prefix):
            return False
        rel = path[len(prefix):]
        if _in_skipped_folder(rel):
            return False
        return (any(_glob_regex(g).match(rel) for g in globs)
                and not any(_glob_regex(g).match(rel) for g in exclude))

    def _fingerprint(self, folders: Iterable[str],
                     by_folder: dict[str, list[tuple[str, str]]]) -> tuple[tuple[str, str], ...]:
        if EVERY_FOLDER in folders:
            folders = by_folder
        return tuple(sorted(e for f in folders for e in by_folder.get(f, ())))

    def _project(self, snapshot: Snapshot, compose_files: list[str],
                 by_folder: dict[str, list[tuple[str, str]]], folder: str,
                 files: tuple[str, ...] | None, state_key: int) -> _Loaded:
        cache = self._projects[(folder, files)]
        for fingerprint, loaded in cache:
            if self._fingerprint(loaded.folders, by_folder) == fingerprint:
                return loaded
        if self._mirror is None:
            self._mirror = _Mirror(self.repo)
        mirror = self._mirror
        mirror.sync(snapshot, compose_files, state_key)
        loaded = self._load(mirror, folder, files)
        if loaded.error is not None and not mirror.full:
            # An include env_file or a -f file with an unusual name: mirror every file.
            mirror.full = True
            mirror.sync(snapshot, compose_files, state_key, force=True)
            loaded = self._load(mirror, folder, files)
        cache.insert(0, (self._fingerprint(loaded.folders, by_folder), loaded))
        del cache[8:]
        return loaded

    def _load(self, mirror: _Mirror, folder: str, files: tuple[str, ...] | None) -> _Loaded:
        from portledger import compose

        directory = mirror.root / folder if folder else mirror.root
        try:
            project = compose.load_project(
                files=[str(mirror.root / f) for f in files] if files else None,
                project_directory=str(directory),
                profiles=["*"],
                environ={},
            )
        except compose.ComposeError as e:
            where = mirror.relative(e.file)
            # What a broken project would have read is unknown: any change may mend it.
            return _Loaded([], f"{where}:{e.line}:{e.column}: {e.message}",
                           frozenset({EVERY_FOLDER}))
        read = {mirror.relative(f) for f in project.files}
        folders = frozenset({folder, *(posixpath.dirname(f) for f in read)})
        ports = []
        for b in project.bindings:
            if b.published is None:
                continue
            ports.append(Port("compose", b.service, None, b.published, b.protocol, b.host_ip,
                              b.target, mirror.relative(b.file), b.line, b.column, b.service))
        return _Loaded(ports, None, folders)


# -- comparing two states ------------------------------------------------------------------


def _identity(p: Port) -> tuple[Any, ...]:
    return (p.source, p.service, p.name if p.source == "ledger" else None, p.port, p.protocol,
            p.host_ip)


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
        result.notes.append(
            f"{why} (compose project {project} does not load at {side}; its ports are "
            "left out of this comparison)"
        )
    old_ports = [p for p in before.ports if p.project not in broken]
    new_ports = [p for p in after.ports if p.project not in broken]
    result.changes = compare(old_ports, new_ports)
    return result


# -- the command -----------------------------------------------------------------------------


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
    return "".join(f"{c.file}:{c.line}:{c.column}: {c.kind} {c.trailer}\n"
                   for c in diff.changes)


def render_json(diff: Diff, ends: Endpoints) -> str:
    import json

    doc = {
        "base": ends.old_sha,
        "head": ends.new_sha,
        "changes": [c.as_dict() for c in diff.changes],
        "trailers": [f"Port-Change: {t}" for t in diff.trailers()],
        "notes": diff.notes,
    }
    return json.dumps(doc, indent=2) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: Diff) -> str:
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


def run_diff(argv: Sequence[str]) -> int:
    """``portledger diff [BASE [HEAD]] [--format text|json|markdown] [--mapping FILE]``."""
    import argparse
    import sys

    parser = _parser("portledger diff", "port changes between two states of the repository "
                     "(default: HEAD and the index)")
    parser.add_argument("base", nargs="?", metavar="BASE",
                        help="a revision (or BASE..HEAD, BASE...HEAD); default HEAD")
    parser.add_argument("head", nargs="?", metavar="HEAD",
                        help="a revision; default the index (what is staged)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    args: argparse.Namespace = parser.parse_args(list(argv))
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
    return 0


def _parser(prog: str, description: str) -> Any:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise FatalError(f"{self.prog}: {message}")

    parser = Parser(prog=prog, description=description)
    parser.add_argument("--mapping", metavar="FILE",
                        help="the ledger (default: port-mapping.yml in this folder or the "
                        "nearest above, in each revision)")
    return parser
