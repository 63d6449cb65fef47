"""Loading a repository's compose projects for ``check``: in workers when there are
many, each from the cache when all of its inputs are unchanged.

The rules (:mod:`portledger.compose.rules`) are handed what was loaded; they never load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portledger.compose.discovery import Declared, ProjectSpec, Selection, select
from portledger.compose.rules import (
    Published,
    binding_warnings,
    compare,
    compose_path_not_found,
    duplicates,
    load_error,
    override_without_base,
    place,
)
from portledger.findings import Finding
from portledger.ledger.model import ComposeConfig, Ledger, Service
from portledger.paths import display_path

if TYPE_CHECKING:  # imported where used: the compose loader brings PyYAML
    from portledger.check.cache import ComposeCache
    from portledger.compose import PortBinding


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
            found = shown_paths[path] = display_path(path)
        return found

    project_name = str(spec.directory)
    label = spec.label
    published = []
    for b in bindings:
        if b.host_network and not b.exposed:
            # Docker discards ports: here; the container binds its own port (PL211).
            lo, hi, host_ip = str(b.target), "", None
        elif b.published is None:
            continue
        else:
            lo, _, hi = b.published.partition("-")
            host_ip = b.host_ip
        published.append(Published(
            project=project_name, compose_service=b.service, owner="",
            start=int(lo), end=int(hi or lo), protocol=b.protocol, host_ip=host_ip,
            target=b.target, file=shown(b.file), line=b.line, column=b.column,
            end_line=b.end_line, end_column=b.end_column, raw=b.raw,
            variables=b.variables, source=label, host_network=b.host_network,
        ))
    return _Loaded(None, files, unset, list(binding_warnings(bindings, shown)), published)


def _load_one(spec: ProjectSpec, environ: Mapping[str, str] | None = None,
              fallback: Mapping[str, str] | None = None,
              cache_lines: Mapping[ProjectSpec, str] | None = None) -> _Loaded:
    """Load ``spec``. With ``cache_lines`` (the cache's entries by project), from its
    entry when every input of it is unchanged; else loaded, with a new entry."""
    from portledger import compose

    if cache_lines is not None:
        from portledger.check import cache

        line = cache_lines.get(spec)
        if line is not None:
            entry = cache.valid_entry(line, os.environ if environ is None else environ)
            hit = None if entry is None else _from_cache(spec, line, entry)
            if hit is not None:
                return hit
    try:
        project = compose.load_project(
            files=_spec_files(spec), project_directory=str(spec.directory),
            env_files=[str(f) for f in spec.env_files] if spec.env_files is not None
            else None,
            profiles=list(spec.profiles) if spec.profiles is not None else ["*"],
            environ=environ, fallback=fallback,
        )
    except compose.ComposeError as e:
        return _Loaded(e, [], [], [], [])
    loaded = _digest(spec, project.bindings, project.files,
                     [u.name for u in project.unset_variables])
    if cache_lines is not None:
        from portledger.check import cache

        loaded.cache_line = cache.entry_line(project)
    return loaded


def load_fresh(spec: ProjectSpec, environ: Mapping[str, str]) -> _Loaded:
    """``spec`` loaded from its files (not the cache), with its cache entry."""
    return _load_one(spec, environ, cache_lines={})


def cache_key_of(spec: ProjectSpec) -> str:
    """The key of ``spec``'s entry in the compose cache."""
    return _cache_key(spec)


def _spec_files(spec: ProjectSpec) -> list[str] | None:
    return [str(f) for f in spec.files] if spec.files else None


def _load_chunk(specs: list[ProjectSpec],
                cache_lines: Mapping[ProjectSpec, str] | None = None) -> list[_Loaded]:
    # One copy of the environment for all the projects (os.environ decodes every
    # variable each time it is copied).
    environ = dict(os.environ)
    loaded = [_load_one(s, environ, cache_lines=cache_lines) for s in specs]
    if _IN_WORKER:
        # The cyclic collector is off during a run (cli.main); a worker loading hundreds
        # of projects would keep every load's cyclic garbage (its PSS grew to 118 MiB
        # over 500 projects, 41 MiB with this). Only what this worker made is scanned.
        import gc

        gc.collect()
    return loaded


_IN_WORKER = False
"""True in a worker process (:func:`_worker_start`)."""


def _worker_start() -> None:
    """Each worker, as it starts: what it inherited is frozen (never scanned by the
    collector again)."""
    import gc

    global _IN_WORKER
    _IN_WORKER = True
    gc.freeze()


def _from_cache(spec: ProjectSpec, line: str, entry: dict[str, Any]) -> _Loaded | None:
    """The project as its cache entry has it (None for an entry that does not fit)."""
    from portledger.check.cache import bindings_of

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
                 cache: ComposeCache | None = None,
                 selection: Selection | None = None) -> None:
        self.specs = specs
        self.selection = selection or Selection(specs)
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

            # The compose-spec validator (5 MiB of compiled schema) is compiled here,
            # before forking, when most projects will load from their files: the
            # workers share it instead of each compiling its own, at the cost of
            # compiling it before they start. When most come from the cache, a worker
            # compiles it if it meets a project that needs it.
            if len(specs) - len(lines or ()) > len(specs) // 4:
                from portledger.compose import schema

                schema.prepare()
            self._executor = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_start,
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
        finish()


def _lines_of(specs: list[ProjectSpec],
              lines: dict[ProjectSpec, str] | None) -> dict[ProjectSpec, str] | None:
    """The cache entries of ``specs`` (what a worker needs of the cache, not all of it)."""
    if lines is None:
        return None
    return {s: lines[s] for s in specs if s in lines}


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def selection(root: Path, config: ComposeConfig, paths: Sequence[str] = (),
              profiles: Sequence[str] | None = None) -> Selection:
    """The projects ``check`` covers (see :mod:`portledger.compose.discovery`);
    ``profiles`` (``--profile``) replace every project's own."""
    declared = [Declared(d.name, d.files, d.directory, d.env_files, d.profiles)
                for d in config.projects]
    chosen = select(root, config.files, config.exclude, paths, declared, config.skip,
                    explicit=config.explicit_files)
    if profiles:
        chosen.specs = [replace(s, profiles=tuple(profiles)) for s in chosen.specs]
    return chosen


def prepare(root: Path, config: ComposeConfig, paths: Sequence[str] = (),
            profiles: Sequence[str] | None = None) -> Selection:
    """The projects :func:`selection` finds, with reading bounded to the repository
    (nothing outside it is read, forked workers included, until :func:`finish`)."""
    from portledger.compose import loader
    from portledger.paths import boundary

    loader.READ_UNDER = boundary(root)
    return selection(root, config, paths, profiles)


def finish() -> None:
    """Lift :func:`prepare`'s bound."""
    from portledger.compose import loader

    loader.READ_UNDER = None


def start(root: Path, config: ComposeConfig, paths: Sequence[str] = (),
          cache: bool = False, profiles: Sequence[str] | None = None,
          chosen: Selection | None = None,
          fresh: Mapping[str, str] | None = None) -> Loading:
    """Begin loading the projects :func:`selection` finds (``chosen``, when
    :func:`prepare` found them already), in the background when many; with ``cache``,
    unchanged projects come from the cache of ``root``, or from ``fresh`` (entries just
    made, by key; checked like the others)."""
    key = (str(root), config, tuple(paths), cache, tuple(profiles or ()))
    if chosen is None:
        chosen = prepare(root, config, paths, profiles)
    store = None
    if cache:
        from portledger.check.cache import ComposeCache
        from portledger.compose import loader

        store = ComposeCache.open(root, bound=loader.READ_UNDER)
        store.lines.update(fresh or {})
    return Loading(chosen.specs, key, store, chosen)


@dataclass
class ComposeResult:
    findings: list[Finding]
    files: int
    published: list[Published]
    specs: list[ProjectSpec] = field(default_factory=list)
    """The projects checked."""
    lines: list[str | None] = field(default_factory=list)
    """Each project's cache entry (None: it has none), in ``specs`` order."""
    selection: Selection | None = None
    """What was selected (``specs`` among it)."""


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
    from portledger.ledger.allocation import exports

    if values is None:
        values = exports(ledger)
    if error is not None:
        names = {v for v in values if v in error.message}
    else:
        names = set(loaded.unset)
    if not names & values.keys():
        return loaded, values
    return _load_one(spec, fallback=values), values


def selection_findings(chosen: Selection, ledger: Ledger) -> Iterator[Finding]:
    """PL208 for each glob and declared file that selects nothing, PL209 for orphans."""
    for i, pattern, why in chosen.unmatched:
        span = ledger.doc.span(("compose", "files", i))
        yield compose_path_not_found(ledger.path, span.line, span.column,
                                     f"compose.files glob {pattern!r} {why}")
    for name, i, path in chosen.missing:
        span = ledger.doc.span(("compose", "projects", name, "files", i))
        yield compose_path_not_found(ledger.path, span.line, span.column,
                                     f"compose.projects.{name}: no such file {path!r}")
    for f in chosen.orphans:
        yield override_without_base(display_path(f))


def run(ledger: Ledger, paths: Sequence[str] = (),
        loading: Loading | None = None, cache: bool = False,
        profiles: Sequence[str] | None = None) -> ComposeResult:
    """Findings PL201-PL207 for the ledger's compose projects (or for ``paths``).

    ``loading`` is a load begun before the ledger was read (see :func:`start`); it is
    used when it was begun with the ledger's own globs, and thrown away otherwise.
    Projects are compared as they arrive, while workers still load the later ones.
    With ``cache``, unchanged projects come from the cache, which is then brought up to
    date (see :mod:`portledger.cache`).
    """
    key = (str(ledger.root), ledger.compose, tuple(paths), cache, tuple(profiles or ()))
    if loading is None or loading.key != key:
        if loading is not None:
            loading.close()
        loading = start(ledger.root, ledger.compose, paths, cache=cache, profiles=profiles)
    cache_lines: dict[str, str] = {}
    findings: list[Finding] = list(selection_findings(loading.selection, ledger))
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
            findings.append(load_error(loaded.error))
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
            place(p, ledger)
            published.append(p)
            for f in compare(p, ledger, service):
                key_ = (p.file, p.line, p.column, f.code)
                if key_ not in seen_entries:
                    seen_entries.add(key_)
                    findings.append(f)
    findings.extend(duplicates(published))
    if loading.cache is not None:
        # A check of some paths (or profiles) leaves the other entries as they were.
        loading.cache.save(cache_lines, keep_others=bool(paths) or bool(profiles))
    lines = [cache_lines.get(loading.keys[s]) for s in loading.specs] if loading.keys else []
    return ComposeResult(findings, len(files_read), published, loading.specs, lines,
                         loading.selection)


def _cache_key(spec: ProjectSpec) -> str:
    from portledger.check.cache import spec_key

    # Absolute: a check of some paths (maybe relative ones) finds the full check's entries.
    files = _spec_files(spec)
    key = spec_key(os.path.abspath(spec.directory),
                   [os.path.abspath(f) for f in files] if files else None)
    if spec.env_files is None and spec.profiles is None:
        return key  # every profile, Compose's .env: the key of earlier caches
    return json.dumps([key, [os.path.abspath(f) for f in spec.env_files or ()]
                       if spec.env_files is not None else None,
                       list(spec.profiles) if spec.profiles is not None else None],
                      separators=(",", ":"))
