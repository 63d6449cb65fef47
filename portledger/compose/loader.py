"""Load a compose project the way Docker Compose v2.40 (compose-go v2.9) loads it, as far
as published ports depend on it.

The environment is docker compose's: the OS environment, then the ``.env`` (or
``--env-file``) of the folder known first (project directory, first ``-f`` file's, or the
current one), then ``COMPOSE_FILE`` (relative to the current folder) or the default files,
then the ``.env`` of the project's own folder; earlier values win. ``.env`` files are read
by compose-go's rules (:class:`portledger.compose.dotenv._DotEnv`).

Pipeline, per file and in ``-f`` order (as compose-go's ``loadYamlFile``):

1. read the YAML (go-yaml v3 compatible: ``0022`` and ``0X1F`` are integers, duplicate
   keys, two ``<<`` keys and non-string keys are errors, a repeated anchor is allowed),
   note ``!reset`` / ``!override`` tags and drop the ``!reset`` values;
2. interpolate every string from the environment, remembering the unset variables each
   value read;
3. resolve ``extends`` (same file or another file); apply the tags to what earlier files
   built (``!reset`` and ``!override`` both remove the earlier value, except inside a
   list: compose-go does not find those);
4. ``include``: load each included project with its own project directory and ``.env``
   (the including project's variables win), import its resources;
5. merge into the project (mappings merged, sequences appended, scalars replaced, a null
   changes nothing), drop repeated port entries by compose-go's key (a later entry
   replaces an earlier one in place), validate the merged model against the compose-spec
   JSON Schema (``uniqueItems`` aside: Compose has removed repeats by then), expand short
   syntax into canonical records, drop repeats again.

Then services whose ``profiles`` are not enabled are left out, and the project is checked
for consistency as compose-go checks it (an image or a build, dependencies, networks,
volumes, secrets and configs that exist, no dependency cycle, unique container names).

Deliberate differences from Compose (each stricter, never laxer), all in one table in
``docs/compose-stricter.md``: long-syntax ports are checked (see
:mod:`portledger.compose.ports`). Besides that table: a ``.env`` file that is not UTF-8 is
an error (Compose passes its bytes on), and remote resources (git or OCI
``include``/``extends``) are not fetched: an error.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from portledger import yamlio
from portledger.compose.consistency import check_consistency, enabled
from portledger.compose.dotenv import read_env_file
from portledger.compose.goyaml import (
    _UPPER_PREFIX,
    _explicit_floats,
    _one_merge_key,
    _string_keys,
    _unique_anchors,
    _upper_go_ints,
)
from portledger.compose.merge import _apply_tags, _delete_path, _merge_file
from portledger.compose.model import (
    CanonicalPort,
    ComposeError,
    LoadedProject,
    Origin,
    RawPort,
    UnsetVariable,
    _Context,
    _error_at,
    _model_error,
)
from portledger.compose.portmodel import (
    _canonical_ports,
    _check_long,
    _enforce_unicity,
    _unique_items,
    _wrap_ports,
)
from portledger.compose.schema import not_compose
from portledger.compose.substitution import _interpolate, _interpolate_in_place
from portledger.paths import within

__all__ = [  # what other modules import from here (the pieces were moved out verbatim)
    "DEFAULT_FILES", "LOCAL_TAGS", "OVERRIDE_FILES", "READ_UNDER", "CanonicalPort",
    "ComposeError", "Inputs", "LoadedProject", "Origin", "RawPort", "UnsetVariable",
    "check_consistency", "enabled", "load", "read_env_file", "reading_under",
]

LOCAL_TAGS = frozenset({"!reset", "!override"})
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


class Inputs:
    """What a load depended on: every path it looked at, with what it found there (the
    SHA-256 of the bytes it read, in hex, or None where there was no file), and every
    environment variable it looked up, with its value in ``environ`` (None: unset). Two
    loads that find the same give the same project, which is what a cache needs to know.

    ``complete`` turns False when something was looked at but not read (a file that
    could not be opened): such a load says nothing reliable about its inputs.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = environ or {}
        self.seen: dict[str, str | None] = {}
        self.variables: dict[str, str | None] = {}
        self.complete = True

    def looked_up(self, names: Iterable[str]) -> None:
        """Note variables read (from the environment, or where it leaves them unset,
        from ``.env`` files, whose bytes are noted anyway)."""
        for name in names:
            if name not in self.variables:
                self.variables[name] = self.environ.get(name)

    def is_file(self, path: str) -> bool:
        """``os.path.isfile``, remembered (a file found must then be read to count)."""
        found = os.path.isfile(path)
        path = os.path.abspath(path)  # one name for a file however it was reached
        if path not in self.seen:
            self.seen[path] = _UNREAD if found else None
        return found

    def read(self, path: str) -> bytes | None:
        """``yamlio.read_bytes(path)`` (None when it cannot be read; the caller's own
        reading then reports why), their digest remembered. A file outside
        :data:`READ_UNDER` is refused (ComposeError naming it), never read."""
        if READ_UNDER is not None and not within(path, READ_UNDER):
            raise ComposeError(
                path, 1, 1, f"is outside {READ_UNDER} (the repository, or the ledger's folder "
                "without one), or a symbolic link to there: portledger reads only files under "
                "it, so it was not read",
                "PL101", stricter="S7")
        try:
            data = yamlio.read_bytes(path)
        except OSError:
            self.complete = False
            return None
        self.seen[os.path.abspath(path)] = hashlib.sha256(data).hexdigest()
        return data

    def digests(self) -> tuple[dict[str, str | None], dict[str, str | None]] | None:
        """(paths, variables) and what was found, or None when they do not tell the
        whole story."""
        if not self.complete or _UNREAD in self.seen.values():
            return None
        return dict(self.seen), dict(self.variables)


_UNREAD = "?"
"""A file found by a look-up but not (yet) read."""

READ_UNDER: str | None = None
"""When set (by ``check`` for its run, by ``diff`` for its private copy of a commit), the
folder every file a load reads must be under, through symbolic links: an ``include``,
``extends`` or ``env_file`` with an absolute or ``../`` path, or a symlinked compose file,
leading elsewhere is refused, not read."""


@contextlib.contextmanager
def reading_under(root: str | None) -> Iterator[None]:
    """:data:`READ_UNDER` set to ``root`` for the loads inside."""
    global READ_UNDER
    before, READ_UNDER = READ_UNDER, root
    try:
        yield
    finally:
        READ_UNDER = before



# -- files and environment ------------------------------------------------------------


def _find_default_files(start: str, inputs: Inputs) -> list[str]:
    """compose.yaml & co in ``start`` or the nearest parent folder that has one, plus the
    first override file found beside it (Compose picks it whatever the base's name)."""
    here = os.path.abspath(start)
    rel = start
    while True:
        for name in DEFAULT_FILES:
            candidate = os.path.join(here, name)
            if inputs.is_file(candidate):
                base = os.path.normpath(os.path.join(rel, name))
                found = [base]
                for over in OVERRIDE_FILES:
                    if inputs.is_file(os.path.join(here, over)):
                        found.append(os.path.normpath(os.path.join(rel, over)))
                        break
                return found
        parent = os.path.dirname(here)
        if parent == here:
            return []
        here = parent
        rel = os.path.join(rel, "..")


# -- one file -----------------------------------------------------------------------


@dataclass
class _File:
    doc: yamlio.Document
    cfg: dict[str, Any]
    tagged: list[tuple[Any, ...]]


def _read_file(path: str, ctx: _Context, environ: Mapping[str, str], *, validate: bool) -> _File:
    raw = ctx.inputs.read(path)
    try:
        doc = yamlio.load(path, data=raw, compat="goyaml", local_tags=LOCAL_TAGS)
    except yamlio.YamlError as e:
        renamed = _unique_anchors(path, raw) if e.message == "second occurrence" else None
        if renamed is None:
            raise ComposeError(e.path, e.line, e.column, e.message, "PL101") from None
        try:
            doc = yamlio.load(path, data=renamed, compat="goyaml", local_tags=LOCAL_TAGS)
        except yamlio.YamlError as e2:
            raise ComposeError(e2.path, e2.line, e2.column, e2.message, "PL101") from None
    if path not in ctx.files:
        ctx.files.append(path)
    ctx.docs.append(doc)
    if doc.duplicates:
        dup = doc.duplicates[0]
        raise ComposeError(
            path,
            dup.span.line,
            dup.span.column,
            f'mapping key "{dup.key}" already defined at line {dup.first.line}',
            "PL102",
        )
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise _error_at(doc, (), "a compose file must be a mapping at the top level", "PL101")
    alien = not_compose(data)  # before interpolation quotes any of its values
    if alien is not None:
        sp = doc.key_span(alien.path)
        raise ComposeError(path, sp.line, sp.column,
                           f"does not match the compose specification: {alien.message}", "PL101")
    if doc.text.count("<<") > 1:
        _one_merge_key(doc)
    _string_keys(data, (), doc)
    if _UPPER_PREFIX.search(doc.text):
        _upper_go_ints(data, (), doc)
    if "!!float" in doc.text:
        _explicit_floats(data, (), doc, doc.text.splitlines())
    if () in doc.tags:  # Compose crashes on it (a nil dereference in compose-go)
        raise _error_at(doc, (), f"{doc.tags[()]} on the whole document: Compose cannot "
                        "load it", "PL101")
    tagged = sorted(doc.tags, key=len)
    for p in sorted(
        (p for p, t in doc.tags.items() if t == "!reset"), key=lambda p: (len(p), p), reverse=True
    ):
        _delete_path(data, p)
    unset_by_path: dict[tuple[Any, ...], list[str]] = {}
    if tagged:
        cfg = _interpolate(data, (), doc, ctx, environ, unset_by_path)
    else:
        cfg = _interpolate_in_place(data, doc, ctx, environ, unset_by_path)
    if validate:
        _validate(cfg, ctx, doc)
    _wrap_ports(cfg, doc, unset_by_path)
    return _File(doc, cfg, tagged)


def _plain_model(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` with its port wrappers replaced by the values they hold (a view)."""
    services = model.get("services")
    if not isinstance(services, dict):
        return model
    view = dict(model)
    view["services"] = plain = dict(services)
    for name, service in services.items():
        if isinstance(service, dict) and isinstance(service.get("ports"), list):
            plain[name] = {**service, "ports": [
                p.fields if isinstance(p, CanonicalPort) else p.value if isinstance(p, RawPort)
                else p for p in service["ports"]]}
    return view


def _validate(model: dict[str, Any], ctx: _Context, doc: yamlio.Document) -> None:
    from portledger.compose.schema import first_error

    err = first_error(_plain_model(model), ctx.docs)
    if err is not None:
        epath = err.path
        code = (
            "PL205"
            if len(epath) >= 3 and epath[0] == "services" and epath[2] == "ports"
            else "PL101"
        )
        message = f"does not match the compose specification: {err.message}"
        for seen in reversed(ctx.docs) if err.at_key else ():  # at the key, not its value
            if epath in seen.key_spans:
                sp = seen.key_spans[epath]
                raise ComposeError(seen.path, sp.line, sp.column, message, code)
        raise _model_error(ctx, epath, message, code, doc)


# -- extends --------------------------------------------------------------------------


def _extends(
    name: str,
    services: dict[str, Any],
    file: _File,
    base_dir: str,
    ctx: _Context,
    environ: Mapping[str, str],
    stack: tuple[tuple[str, str], ...],
) -> Any:
    service = services.get(name)
    if not isinstance(service, dict) or "extends" not in service:
        return service
    spec = service["extends"]
    doc = file.doc
    here = ("services", name, "extends")
    if isinstance(spec, str):
        ref, other = spec, None
    elif isinstance(spec, dict) and isinstance(spec.get("service"), str):
        ref, other = spec["service"], spec.get("file")
    else:
        raise _error_at(doc, here, f"extends of service {name!r} needs a service name", "PL101")
    key = (doc.path, name)
    if key in stack:
        raise _error_at(doc, here, f"extends of service {name!r} is circular", "PL101")
    if other is not None:
        if not isinstance(other, str) or "://" in other or other.startswith("git@"):
            err = _error_at(doc, here, f"extends file {other!r} cannot be read locally", "PL101")
            err.stricter = "S6"
            raise err
        path = os.path.normpath(os.path.join(base_dir, other))
        if not ctx.inputs.is_file(path):
            raise _error_at(doc, here, f"extends file {other!r} not found", "PL101")
        base_file = _read_file(path, ctx, environ, validate=False)
        _canonical_ports(base_file.cfg)
        _enforce_unicity(base_file.cfg)
        base_services = base_file.cfg.get("services")
        if not isinstance(base_services, dict) or ref not in base_services:
            raise _error_at(
                doc, here, f"service {ref!r} not found in extends file {other!r}", "PL101"
            )
        base = _extends(
            ref,
            base_services,
            base_file,
            os.path.dirname(path) or ".",
            ctx,
            environ,
            stack + (key,),
        )
    else:
        if ref not in services:
            raise _error_at(
                doc, here, f"cannot extend service {name!r}: {ref!r} not found", "PL101"
            )
        base = _extends(ref, services, file, base_dir, ctx, environ, stack + (key,))
    if base is None:
        return service
    source = copy.deepcopy(base)
    if not isinstance(source, dict):
        raise _error_at(doc, here, f"service {ref!r} is not a mapping", "PL101")
    prefix = ("services", name)
    _apply_tags({"services": {name: source}}, [p for p in file.tagged if p[:2] == prefix])
    merged = _merge_file(source, {k: v for k, v in service.items()}, ctx, doc, prefix)
    merged.pop("extends", None)
    services[name] = merged
    return merged


# -- include --------------------------------------------------------------------------


def _include(file: _File, working_dir: str, ctx: _Context, environ: Mapping[str, str]) -> None:
    entries = file.cfg.pop("include", None)
    if entries is None:
        return
    doc = file.doc
    if not isinstance(entries, list):
        raise _error_at(doc, ("include",), "include must be a list", "PL101")
    for i, entry in enumerate(entries):
        here = ("include", i)
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict):  # before the schema, which runs after includes
            raise _error_at(doc, here, "an include entry must be a path or a mapping",
                            "PL101")
        paths = entry.get("path")
        paths = [paths] if isinstance(paths, str) else paths or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise _error_at(doc, here, "include path must be a path or a list of paths",
                            "PL101")
        if not paths:
            raise _error_at(doc, here, "include entry has no path", "PL101")
        files = []
        for p in paths:
            if "://" in p or p.startswith("git@") or p.startswith("oci:"):
                err = _error_at(doc, here, f"remote include {p!r} is not supported", "PL101")
                err.stricter = "S6"
                raise err
            files.append(os.path.normpath(os.path.join(working_dir, p)))
        for f in files:
            if not ctx.inputs.is_file(f):
                raise _error_at(doc, here, f"included file {f!r} not found", "PL101")
        if files[0] in ctx.include_stack:
            raise _error_at(doc, here, f"include cycle through {files[0]!r}", "PL101")
        project_dir = entry.get("project_directory")
        if not project_dir:
            sub_dir = os.path.dirname(files[0]) or "."
        else:
            sub_dir = os.path.normpath(os.path.join(working_dir, project_dir))
        env_files = entry.get("env_file")
        if env_files is None:
            default = os.path.join(sub_dir, ".env")
            env_list = [default] if ctx.inputs.is_file(default) else []
        else:
            env_list = [env_files] if isinstance(env_files, str) else list(env_files)
            env_list = [os.path.normpath(os.path.join(working_dir, e)) for e in env_list]
        from_files: dict[str, str] = {}
        for env_file in env_list:
            from_files.update(read_env_file(env_file, {**from_files, **environ}, ctx.inputs))
        sub_env = {**from_files, **environ}  # the including project's variables win
        sub_ctx = _Context(sub_env, ctx.inputs, ctx.unset, ctx.files,
                           ctx.include_stack + (files[0],))
        imported = _load_files(files, sub_dir, sub_ctx)
        plain_imported = _plain_model(imported)
        plain_here = _plain_model(file.cfg)
        for key in ("services", "volumes", "networks", "secrets", "configs", "models"):
            resources = imported.get(key)
            if not isinstance(resources, dict):
                continue
            target = file.cfg.get(key)
            if not isinstance(target, dict):
                target = file.cfg[key] = {}
            for name, value in resources.items():
                if name in target and (plain_here.get(key) or {}).get(name) != (
                    plain_imported.get(key) or {}
                ).get(name):
                    raise _error_at(doc, here, f"{key}.{name} conflicts with an included "
                                    "resource", "PL101")
                target[name] = value


# -- project --------------------------------------------------------------------------


def _load_files(files: list[str], working_dir: str, ctx: _Context) -> dict[str, Any]:
    dict_: dict[str, Any] = {}
    first: yamlio.Document | None = None
    for path in files:
        file = _read_file(path, ctx, ctx.environ, validate=False)
        first = first or file.doc
        # compose-go's order: extends, the tags on what earlier files built, include
        # (so a service cannot extend one that only an include brings), merge.
        services = file.cfg.get("services")
        if isinstance(services, dict):
            for name in list(services):
                _extends(name, services, file, working_dir, ctx, ctx.environ, ())
        _apply_tags(dict_, file.tagged)
        _include(file, working_dir, ctx, ctx.environ)
        dict_ = _merge_file(dict_, file.cfg, ctx, file.doc)
        _enforce_unicity(dict_)
        # Compose validates the merged model, after each file (a later file's null
        # changes nothing; a value only a later file fixes is still an error).
        _validate(dict_, ctx, file.doc)
        _unique_items(dict_)
        _canonical_ports(dict_)
        _enforce_unicity(dict_)
    if not dict_ and first is not None:
        raise ComposeError(first.path, 1, 1, "empty compose file", "PL101")
    return dict_


def load(
    files: list[str] | None = None,
    project_directory: str | None = None,
    env_files: list[str] | None = None,
    profiles: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    fallback: Mapping[str, str] | None = None,
) -> LoadedProject:
    """Load and merge a compose project; raise :class:`ComposeError` where Compose fails.

    ``fallback`` gives values to variables that neither the environment nor the
    ``.env`` files set (portledger passes the ledger's exported ports).
    """
    os_env = dict(os.environ if environ is None else environ)
    inputs = Inputs(os_env)
    # As docker compose does: the .env of the folder known so far (the project
    # directory, the first -f file's or the current one), then COMPOSE_FILE or the
    # default files, then the .env of the project's folder if that is another one.
    # Earlier values win: the environment, then the first .env, then the second.
    if project_directory is not None:
        working_dir = project_directory
    elif files:
        working_dir = os.path.dirname(files[0]) or "."
    else:
        working_dir = "."
    read_env: list[str] = []
    from_files: dict[str, str] = {}

    def dotenv(folder: str) -> None:
        if env_files:
            env_list = list(env_files)
        else:
            default = os.path.join(folder, ".env")
            env_list = [default] if inputs.is_file(default) else []
        if any(os.path.abspath(f) in read_env for f in env_list):
            return  # the same files again
        this_pass: dict[str, str] = {}  # within one pass, a later file wins
        for env_file in env_list:
            read_env.append(os.path.abspath(env_file))
            if not inputs.is_file(env_file):
                raise ComposeError(env_file, 1, 1, "env file not found", "PL101")
            this_pass.update(
                read_env_file(env_file, {**from_files, **this_pass, **os_env}, inputs)
            )
        for k, v in this_pass.items():
            from_files.setdefault(k, v)

    dotenv(working_dir)
    env = {**(fallback or {}), **from_files, **os_env}
    if not files:
        inputs.looked_up(["COMPOSE_FILE"])
        compose_file = env.get("COMPOSE_FILE")
        if compose_file:
            inputs.looked_up(["COMPOSE_PATH_SEPARATOR"])
            sep = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
            # relative to the current folder, not to the project directory
            files = [os.path.normpath(f) for f in compose_file.split(sep) if f]
        else:
            files = _find_default_files(working_dir, inputs)
            if not files:
                raise ComposeError(
                    working_dir,
                    1,
                    1,
                    "no compose file found (compose.yaml, compose.yml, docker-compose.yml, "
                    "docker-compose.yaml)",
                    "PL101",
                )
        if project_directory is None and files:
            working_dir = os.path.dirname(files[0]) or "."
            dotenv(working_dir)
            env = {**(fallback or {}), **from_files, **os_env}
    for f in files:
        if not inputs.is_file(f):
            raise ComposeError(f, 1, 1, "no such compose file", "PL101")
    if profiles:
        active = list(profiles)
    else:
        inputs.looked_up(["COMPOSE_PROFILES"])
        active = [p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    ctx = _Context(env, inputs)
    try:
        model = _load_files(list(files), working_dir, ctx)
        _check_long(model)
        loaded = LoadedProject(model, ctx.files, ctx.unset, env, active, working_dir, inputs)
        check_consistency(loaded, ctx)
    except ComposeError as e:
        raise _without_values(e, ctx.docs, {**from_files, **os_env}) from None
    return loaded


_NAMED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _without_values(error: ComposeError, docs: list[yamlio.Document],
                    environ: Mapping[str, str]) -> ComposeError:
    """``error`` with every value a variable gave the files replaced by its name.

    A message may quote what interpolation made (a service's ``network_mode``, an
    ``extends`` file, an included path): the value of a variable may be a secret, and
    the message goes to the log, annotations and SARIF. The messages that know the
    variables name them already (PL205, schema errors); this holds for the others. A
    value the files' own text also holds, or shorter than 4 characters, stays."""
    texts = [d.text for d in docs]
    message = error.message
    for name in dict.fromkeys(n for t in texts if "$" in t for n in _NAMED.findall(t)):
        value = environ.get(name)
        if value and len(value) >= 4 and value in message and not any(value in t
                                                                       for t in texts):
            message = message.replace(value, f"<the value of {name}>")
    if message == error.message:
        return error
    return ComposeError(error.file, error.line, error.column, message, error.code,
                        error.stricter)
