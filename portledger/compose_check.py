"""Compose projects against the ledger: rules PL201-PL207.

Which files: the ledger's ``compose.files`` globs (relative to the ledger's folder),
minus ``compose.exclude``; hidden folders, ``node_modules`` and virtual environments are
never walked. A folder's default files (``compose.yaml`` with its ``.override``, ...)
form one project, resolved as ``docker compose`` resolves it in that folder; any other
matching file in the folder (``compose.prod.yaml``) is a project of its own.

Compose service to ledger service: the same name, or one of the ledger service's
``compose`` aliases. A binding's identity for PL204 is its ledger service when it has
one (one ledger service publishing its own port in several files is no conflict), and
otherwise the compose service in its own project.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portledger import overlap
from portledger.findings import Finding, Severity, make, rule
from portledger.ledger import Allocation, Ledger, Service

if TYPE_CHECKING:  # imported where used: the compose loader brings PyYAML
    from portledger.cache import ComposeCache
    from portledger.compose import PortBinding

DEFAULT_NAMES = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
)
OVERRIDE_NAMES = tuple(n.replace(".y", ".override.y") for n in DEFAULT_NAMES)
SKIP_DIRS = {"node_modules", "venv", "__pycache__", "site-packages"}


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression over '/'-separated relative paths.

    ``**/`` matches any number of folders (none included), ``*`` and ``?`` stay within
    one folder, ``[...]`` is a character class. (fnmatch lets ``*`` cross folders and
    ``glob.translate`` arrives only in Python 3.13.)
    """
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def discover(root: Path, patterns: Sequence[str], exclude: Sequence[str] = ()) -> list[Path]:
    """Compose files below ``root`` matching ``patterns`` and not ``exclude``, sorted."""
    include = [_glob_regex(p) for p in patterns]
    leave = [_glob_regex(p) for p in exclude]
    found: list[Path] = []
    top = str(root)
    prefix = os.path.join(top, "")  # os.walk names each folder below as top + sep + ...
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        rel_folder = "." if folder == top else folder[len(prefix):]
        for name in files:
            rel = name if rel_folder == "." else f"{rel_folder}/{name}".replace(os.sep, "/")
            if any(r.match(rel) for r in include) and not any(r.match(rel) for r in leave):
                found.append(Path(folder) / name)
    return sorted(found)


@dataclass(frozen=True)
class ProjectSpec:
    """One compose project to load: its folder, and its files (None: Compose's defaults)."""

    directory: Path
    files: tuple[Path, ...] | None


def projects(files: Sequence[Path]) -> list[ProjectSpec]:
    """Group compose files into projects: a folder's default files are one project."""
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for f in files:
        by_folder[f.parent].append(f)
    specs: list[ProjectSpec] = []
    for folder in sorted(by_folder):
        names = {f.name for f in by_folder[folder]}
        has_default = any(n in names for n in DEFAULT_NAMES)
        if has_default:
            specs.append(ProjectSpec(folder, None))
        for f in sorted(by_folder[folder]):
            if f.name in DEFAULT_NAMES or f.name in OVERRIDE_NAMES:
                if has_default or f.name in OVERRIDE_NAMES:
                    continue
            specs.append(ProjectSpec(folder, (f,)))
    return specs


@dataclass
class Published:
    """A host-port binding of one compose service, with where it is written."""

    project: str
    compose_service: str
    owner: str
    """The ledger service it belongs to, or ``project:compose-service`` without one."""
    start: int
    end: int
    protocol: str
    host_ip: str | None
    target: int
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    raw: str | None = None
    """The short-syntax entry as written (None for long syntax)."""
    variables: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    def binding(self) -> tuple[int, int, str, str | None]:
        return (self.start, self.end, self.protocol, self.host_ip)


def _display(path: str) -> str:
    from portledger.check import display_path

    return display_path(path)


# --- rules: each function documents its rule; checks happen in run() -----------------


@rule("PL201", "unmapped-port", "error",
      "a compose file publishes a host port the ledger does not have")
def unmapped_port(p: Published, ledger: Ledger) -> Finding:
    """A compose file publishes a host port that no ledger entry has.

    Every published host port must be in the ledger, or the ledger stops being the
    list of who owns what. Container-only ports (``"8080"``) and ``expose:`` publish no
    host port and are not checked.

    Failing:

        # port-mapping.yml has no 8010
        services:
          reports:
            ports: ["8010:8000"]

    Passing:

        # port-mapping.yml: reports: {ports: {http: {port: 8010}}}
        services:
          reports:
            ports: ["8010:8000"]
    """
    this = unmapped_port.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol}, which "
                f"{ledger.path} does not allocate",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol, context=(p,))


@rule("PL202", "owner-mismatch", "error",
      "a compose service publishes a port the ledger gives to another service")
def owner_mismatch(p: Published, other: Allocation, ledger: Ledger) -> Finding:
    """A compose service publishes a host port that the ledger gives to another service.

    This is the seed's Example 1: PCS publishing 8000, which belongs to digi-core. The
    two cannot start on one host.

    Failing:

        # port-mapping.yml: digi-core owns 8000, pcs-api owns 8002
        services:
          pcs-api:
            ports: ["8000:8000"]

    Passing:

        services:
          pcs-api:
            ports: ["8002:8000"]
    """
    this = owner_mismatch.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol}, which the ledger "
                f"gives to {other.service}.{other.name} ({ledger.path}:{other.span.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                context=(p, other))


@rule("PL203", "port-mismatch", "error",
      "the ledger's port for a service differs from what its compose file publishes")
def port_mismatch(p: Published, mine: Allocation, ledger: Ledger) -> Finding:
    """A service's compose file publishes another port than the ledger gives it.

    The ledger is the source of truth: the compose file says ``8000:8000`` where the
    ledger says pcs-api's http port is 8002. Matched by the container port (``target``)
    when the ledger names one.

    Failing:

        # port-mapping.yml: pcs-api: {ports: {http: {port: 8002, target: 8000}}}
        services:
          pcs-api:
            ports: ["8012:8000"]

    Passing:

        services:
          pcs-api:
            ports: ["8002:8000"]
    """
    this = port_mismatch.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol} for container port "
                f"{p.target}; the ledger gives {mine.service}.{mine.name} {mine.label}/"
                f"{mine.protocol} ({ledger.path}:{mine.span.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                context=(p, mine))


@rule("PL204", "duplicate-published-port", "error",
      "two compose services publish the same host port (protocol and host address overlapping)")
def duplicate_published_port(p: Published, first: Published) -> Finding:
    """Two compose services publish the same host port.

    They collide when the protocol is the same, the ports overlap and the host
    addresses overlap (no address or ``0.0.0.0`` overlaps every IPv4 address and
    ``::``; ``127.0.0.1`` and ``127.0.0.2`` do not). One ledger service publishing its
    own port in several compose files (a dev and a prod variant) is no conflict.

    Failing:

        services:
          api:
            ports: ["8000:8000"]
          web:
            ports: ["8000:80"]

    Passing:

        services:
          api:
            ports: ["127.0.0.1:8000:8000"]
          web:
            ports: ["127.0.0.2:8000:80"]
    """
    this = duplicate_published_port.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol}, already published by "
                f"{first.compose_service} ({first.file}:{first.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                context=(p, first))


@rule("PL205", "invalid-port", "error",
      "a port spec Compose would reject, or one outside 1-65535")
def invalid_port(file: str, line: int, column: int, message: str) -> Finding:
    """A port entry Docker Compose would refuse, so the project does not start.

    ``abc:80``, port 70000, ranges of different lengths (``8000-8001:80-82``), an empty
    entry, a float, misplaced IPv6 brackets, a long-syntax entry without ``target``.
    Where Compose is laxer than its own specification (``published: "abc"`` in long
    syntax), portledger follows the specification.

    Failing:

        services:
          api:
            ports: ["70000:80"]

    Passing:

        services:
          api:
            ports: ["8000:80"]
    """
    this = invalid_port.rule  # type: ignore[attr-defined]
    return make(this, file, line, column, message)


@rule("PL206", "unresolved-variable", "error",
      "${VAR:?} missing (error); ${VAR} unset, leaving a random host port (warning)")
def unresolved_variable(file: str, line: int, column: int, message: str,
                        *, required: bool) -> Finding:
    """A variable in a port entry has no value.

    ``${VAR:?message}`` with VAR unset stops Compose: an error. A plain ``${VAR}``
    that is unset becomes empty, and ``"${API_PORT}:8000"`` then publishes a random
    host port: a warning, never a silent pass. Values come from the environment and
    the project's ``.env``, as in Compose.

    Failing:

        services:
          api:
            ports: ["${API_PORT}:8000"]   # API_PORT set nowhere

    Passing:

        services:
          api:
            ports: ["${API_PORT:-8000}:8000"]
    """
    this = unresolved_variable.rule  # type: ignore[attr-defined]
    return make(this, file, line, column, message,
                severity=Severity.ERROR if required else Severity.WARNING)


@rule("PL207", "yaml11-port", "warning",
      "an unquoted port that YAML 1.1 tools read as base-60 or octal (22:22, 0022)")
def yaml11_port(file: str, line: int, column: int, text: str,
                end_line: int | None = None, end_column: int | None = None) -> Finding:
    """An unquoted port that YAML 1.1 readers turn into another number.

    Docker Compose reads YAML 1.2, where ``22:22`` is the string "22:22". PyYAML and
    other YAML 1.1 tools read it as the base-60 integer 1342, and ``0022`` as octal 18,
    so scripts and linters around the compose file see other ports. Quote it.

    Failing:

        services:
          ssh:
            ports:
              - 22:22

    Passing:

        services:
          ssh:
            ports:
              - "22:22"
    """
    this = yaml11_port.rule  # type: ignore[attr-defined]
    return make(this, file, line, column,
                f"unquoted port {text} is read as a number by YAML 1.1 tools; quote it: "
                f"\"{text}\"", end_line=end_line, end_column=end_column, context=(text,))


COMPOSE_RULES = (
    unmapped_port,
    owner_mismatch,
    port_mismatch,
    duplicate_published_port,
    invalid_port,
    unresolved_variable,
    yaml11_port,
)

_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$")
_OCTAL = re.compile(r"^0[0-9]+$")


def yaml11_misread(text: str) -> bool:
    """True when YAML 1.1 reads this plain scalar as a base-60 or octal integer."""
    return bool(_SEXAGESIMAL.match(text) or _OCTAL.match(text))


# --- the check --------------------------------------------------------------------------


def _compare(p: Published, ledger: Ledger, service: Service | None) -> Iterator[Finding]:
    """What the ledger says of ``p``; ``service`` is the ledger service it stands for."""
    # The holders of a port have its protocol and include the port: of a collision
    # (overlap.collide), only the host addresses are left to compare.
    candidates: dict[int, Allocation] = {}
    for port in range(p.start, p.end + 1):
        for a in ledger.holders(p.protocol, port):
            if overlap.addresses_overlap(a.host_ip, p.host_ip):
                candidates[id(a)] = a
    # Another service's allocation comes first: publishing on every address takes
    # 127.0.0.1 from whoever owns it there, even when the service owns 127.0.0.2.
    name = service.name if service is not None else None
    others = [a for a in candidates.values() if a.service != name]
    if others and service is not None:
        # Another service's allocation that collides with this service's own one is the
        # ledger's own conflict (PL104), reported there, not at every compose file.
        own = [a for a in candidates.values() if a.service == name]
        others = [a for a in others
                  if not any(overlap.collide(a.binding(), o.binding()) for o in own)]
    if others:
        yield owner_mismatch(p, others[0], ledger)
        return
    if candidates:
        return
    if service is not None and service.ports:
        same_target = [a for a in service.ports if a.target == p.target
                       and a.protocol == p.protocol]
        if same_target:
            yield port_mismatch(p, same_target[0], ledger)
            return
        if len(service.ports) == 1 and service.ports[0].target is None:
            yield port_mismatch(p, service.ports[0], ledger)
            return
    yield unmapped_port(p, ledger)


PARALLEL_MIN = 64
"""Below this many projects, loading in this process is faster than starting workers."""


@dataclass
class _Loaded:
    """A project as ``run`` needs it, prepared where it was loaded (maybe a worker)."""

    error: Any
    """The ComposeError that stopped loading, or None."""
    files: list[str]
    unset: list[str]
    """Variables read while unset (names)."""
    warnings: list[Finding]
    published: list[Published]
    """Its host-port bindings; ``owner`` is filled in by ``run``, which has the ledger."""
    cache_line: str | None = None
    """Its entry for the cache (portledger.cache), when one was asked for."""


def _digest(spec: ProjectSpec, bindings: Sequence[PortBinding], files: list[str],
            unset: list[str]) -> _Loaded:
    shown_paths: dict[str, str] = {}

    def shown(path: str) -> str:
        found = shown_paths.get(path)
        if found is None:
            found = shown_paths[path] = _display(path)
        return found

    project_name = str(spec.directory)
    published = []
    for b in bindings:
        if b.published is None:
            continue
        lo, _, hi = b.published.partition("-")
        published.append(Published(
            project=project_name, compose_service=b.service, owner="",
            start=int(lo), end=int(hi or lo), protocol=b.protocol, host_ip=b.host_ip,
            target=b.target, file=shown(b.file), line=b.line, column=b.column,
            end_line=b.end_line, end_column=b.end_column, raw=b.raw,
            variables=b.variables,
        ))
    return _Loaded(None, files, unset, list(_warnings(bindings, shown)), published)


def _load_one(spec: ProjectSpec, environ: Mapping[str, str] | None = None,
              fallback: Mapping[str, str] | None = None,
              cache_lines: Mapping[ProjectSpec, str] | None = None) -> _Loaded:
    """Load ``spec``. With ``cache_lines`` (the cache's entries by project), from its
    entry when every input of it is unchanged; else loaded, with a new entry."""
    from portledger import compose

    if cache_lines is not None:
        from portledger import cache

        line = cache_lines.get(spec)
        if line is not None:
            entry = cache.valid_entry(line, os.environ if environ is None else environ)
            hit = None if entry is None else _from_cache(spec, line, entry)
            if hit is not None:
                return hit
    try:
        project = compose.load_project(
            files=_spec_files(spec), project_directory=str(spec.directory),
            environ=environ, fallback=fallback,
        )
    except compose.ComposeError as e:
        return _Loaded(e, [], [], [], [])
    loaded = _digest(spec, project.bindings, project.files,
                     [u.name for u in project.unset_variables])
    if cache_lines is not None:
        from portledger import cache

        loaded.cache_line = cache.entry_line(project)
    return loaded


def _spec_files(spec: ProjectSpec) -> list[str] | None:
    return [str(f) for f in spec.files] if spec.files else None


def _load_chunk(specs: list[ProjectSpec],
                cache_lines: Mapping[ProjectSpec, str] | None = None) -> list[_Loaded]:
    # One copy of the environment for all the projects (os.environ decodes every
    # variable each time it is copied).
    environ = dict(os.environ)
    return [_load_one(s, environ, cache_lines=cache_lines) for s in specs]


def _from_cache(spec: ProjectSpec, line: str, entry: dict[str, Any]) -> _Loaded | None:
    """The project as its cache entry has it (None for an entry that does not fit)."""
    from portledger.cache import bindings_of

    try:
        loaded = _digest(spec, bindings_of(entry), entry["files"], entry["unset"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    loaded.cache_line = line
    return loaded


class Loading:
    """Compose projects being loaded, in worker processes when there are many.

    Parsing YAML is most of a large check; on a machine with several cores the projects
    are split among forked workers while this process goes on (with the ledger).
    """

    def __init__(self, specs: list[ProjectSpec], key: tuple[Any, ...] = (),
                 cache: ComposeCache | None = None) -> None:
        self.specs = specs
        self.key = key
        self.cache = cache
        self._futures: list[Any] = []
        self._executor: Any = None
        # Each project comes from its cache entry when all of its inputs are unchanged
        # (checked where it loads, in the workers too); the others load.
        self.keys: dict[ProjectSpec, str] = {}
        """Each project's key in the cache (when there is one)."""
        lines: dict[ProjectSpec, str] | None = None
        if cache is not None:
            self.keys = {s: _cache_key(s) for s in specs}
            lines = {s: cache.lines[k] for s, k in self.keys.items() if k in cache.lines}
        workers = min(os.cpu_count() or 1, 8)
        if len(specs) >= PARALLEL_MIN and workers > 1 and _can_fork():
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from portledger.compose import schema

            # Each worker imports and compiles the compose-spec validator as it starts,
            # while this process goes on (here it would hold up every worker).
            self._executor = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                initializer=schema.prepare,
            )
            size = max(1, len(specs) // (workers * 4))
            chunks = [specs[i:i + size] for i in range(0, len(specs), size)]
            self._futures = [self._executor.submit(_load_chunk, c, _lines_of(c, lines))
                             for c in chunks]
        self._lines = lines

    def results(self) -> Iterator[_Loaded]:
        """Each spec's loaded project, in spec order, as soon as it is there."""
        if self._executor is None:
            yield from _load_chunk(self.specs, self._lines)
            return
        done = 0
        try:
            for future in self._futures:
                chunk = future.result()
                done += len(chunk)
                yield from chunk
        except Exception:  # noqa: BLE001 - a broken worker: load the rest here instead
            yield from _load_chunk(self.specs[done:], self._lines)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the workers and wait for them: none outlives the command (a worker that
        kept the output pipe open would keep pre-commit waiting)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _lines_of(specs: list[ProjectSpec],
              lines: dict[ProjectSpec, str] | None) -> dict[ProjectSpec, str] | None:
    """The cache entries of ``specs`` (what a worker needs of the cache, not all of it)."""
    if lines is None:
        return None
    return {s: lines[s] for s in specs if s in lines}


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def select(root: Path, patterns: Sequence[str], exclude: Sequence[str],
           paths: Sequence[str] = ()) -> list[ProjectSpec]:
    """The projects to check: those under ``paths`` if given, else the ledger's globs."""
    if not paths:
        return projects(discover(root, patterns, exclude))
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += discover(path, patterns or ("**/*compose*.y*ml",))
        else:
            files.append(path)
    return projects(files)


def start(root: Path, patterns: Sequence[str], exclude: Sequence[str],
          paths: Sequence[str] = (), cache: bool = False) -> Loading:
    """Begin loading the projects ``select`` finds (in the background when many);
    with ``cache``, unchanged projects come from the cache of ``root``."""
    key = (str(root), tuple(patterns), tuple(exclude), tuple(paths), cache)
    store = None
    if cache:
        from portledger.cache import ComposeCache

        store = ComposeCache.open(root)
    return Loading(select(root, patterns, exclude, paths), key, store)


@dataclass
class ComposeResult:
    findings: list[Finding]
    files: int
    published: list[Published]


def _ledger_variables(spec: ProjectSpec, loaded: _Loaded, ledger: Ledger,
                      values: dict[str, str] | None) -> tuple[_Loaded, dict[str, str] | None]:
    """Reload a project that read a variable only the ledger sets.

    ``portledger export --format env`` writes ``DIGI_CORE_HTTP_PORT=8000``; a compose file
    may say ``"${DIGI_CORE_HTTP_PORT}:8000"``. Where neither the environment nor ``.env``
    sets such a variable, its value comes from the ledger, as after an export. A variable
    with an inline default (``${X:-8000}``) is not unset to Compose: its default stands.
    ``values`` are the ledger's exports (computed on first need and handed back).
    """
    error = loaded.error
    if not ((error is not None and error.code == "PL206") or loaded.unset):
        return loaded, values
    from portledger.allocate import exports

    if values is None:
        values = exports(ledger)
    if error is not None:
        names = {v for v in values if v in error.message}
    else:
        names = set(loaded.unset)
    if not names & values.keys():
        return loaded, values
    return _load_one(spec, fallback=values), values


def run(ledger: Ledger, paths: Sequence[str] = (),
        loading: Loading | None = None, cache: bool = False) -> ComposeResult:
    """Findings PL201-PL207 for the ledger's compose projects (or for ``paths``).

    ``loading`` is a load begun before the ledger was read (see :func:`start`); it is
    used when it was begun with the ledger's own globs, and thrown away otherwise.
    Projects are compared as they arrive, while workers still load the later ones.
    With ``cache``, unchanged projects come from the cache, which is then brought up to
    date (see :mod:`portledger.cache`).
    """
    args = (ledger.root, ledger.compose_files, ledger.compose_exclude, paths)
    key = (str(args[0]), tuple(args[1]), tuple(args[2]), tuple(paths), cache)
    if loading is None or loading.key != key:
        if loading is not None:
            loading.close()
        loading = start(*args, cache=cache)
    cache_lines: dict[str, str] = {}
    findings: list[Finding] = []
    published: list[Published] = []
    files_read: set[str] = set()
    owners: dict[str, Service | None] = {}
    values: dict[str, str] | None = None
    # Equal-length ranges arrive as one record per port; report an entry once.
    seen_entries: set[tuple[str, int, int, str]] = set()
    for spec, loaded in zip(loading.specs, loading.results(), strict=True):
        if loaded.cache_line is not None:
            cache_lines[loading.keys[spec]] = loaded.cache_line
        loaded, values = _ledger_variables(spec, loaded, ledger, values)
        if loaded.error is not None:
            findings.append(_load_error(loaded.error))
            continue
        files_read.update(loaded.files)
        findings.extend(loaded.warnings)
        for p in loaded.published:
            name = p.compose_service
            if name in owners:
                service = owners[name]
            else:
                service = owners[name] = ledger.service_for_compose_name(name)
            p.owner = service.name if service is not None else f"{p.project}:{name}"
            published.append(p)
            for f in _compare(p, ledger, service):
                key_ = (p.file, p.line, p.column, f.code)
                if key_ not in seen_entries:
                    seen_entries.add(key_)
                    findings.append(f)
    findings.extend(_duplicates(published))
    if loading.cache is not None:
        # A check of some paths leaves the other projects' entries as they were.
        loading.cache.save(cache_lines, keep_others=bool(paths))
    return ComposeResult(findings, len(files_read), published)


def _cache_key(spec: ProjectSpec) -> str:
    from portledger.cache import spec_key

    # Absolute: a check of some paths (maybe relative ones) finds the full check's entries.
    files = _spec_files(spec)
    return spec_key(os.path.abspath(spec.directory),
                    [os.path.abspath(f) for f in files] if files else None)


def _duplicates(published: list[Published]) -> Iterator[Finding]:
    by_port: dict[tuple[str, int], list[Published]] = defaultdict(list)
    for p in published:
        for port in range(p.start, p.end + 1):
            by_port[(p.protocol, port)].append(p)
    reported: set[tuple[str, int, int]] = set()
    for group in by_port.values():
        if len(group) < 2:
            continue
        # In the order of the files and places (stable: a range's records keep theirs).
        group = sorted(group, key=lambda p: (p.file, p.line, p.column))
        for i, later in enumerate(group):
            for earlier in group[:i]:
                if earlier.owner == later.owner:
                    continue
                if not overlap.collide(earlier.binding(), later.binding()):
                    continue
                key = (later.file, later.line, later.column)
                if key not in reported:
                    reported.add(key)
                    yield duplicate_published_port(later, earlier)
                break


def _load_error(e: object) -> Finding:
    from portledger import ledger as ledger_mod

    code = getattr(e, "code", "PL101")
    file = _display(getattr(e, "file", "?"))
    line, column = getattr(e, "line", 1), getattr(e, "column", 1)
    message = getattr(e, "message", str(e))
    if code == "PL205":
        return invalid_port(file, line, column, message)
    if code == "PL206":
        return unresolved_variable(file, line, column, message, required=True)
    if code == "PL102":
        return make(ledger_mod.duplicate_keys.rule,  # type: ignore[attr-defined]
                    file, line, column, message)
    from portledger.yamlio import YamlError

    return ledger_mod.yaml_syntax(YamlError(file, line, column, message))


def _warnings(bindings: Sequence[PortBinding],
              shown: Callable[[str], str] = _display) -> Iterator[Finding]:
    """PL206 (unset variable leaving a random port) and PL207 for a project's bindings."""
    for b in bindings:
        file = shown(b.file)
        if b.published is None and b.variables:
            names = ", ".join(f"${{{v}}}" for v in b.variables)
            yield unresolved_variable(
                file, b.line, b.column,
                f"{names} is not set, so {b.service} publishes container port {b.target} "
                "on a random host port", required=False)
        if b.plain and b.raw is not None and yaml11_misread(b.raw):
            yield yaml11_port(file, b.line, b.column, b.raw, b.end_line, b.end_column)
