"""How paths are shown to users: relative to the current folder when below it.

A primitive every room may use (findings, reporters and commands all name files)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from portledger.findings import Finding


def display_path(path: str | Path) -> str:
    """A path as users see it: relative to the current folder when below it."""
    return _display_path(str(path), os.getcwd())


@lru_cache(maxsize=8192)
def _display_path(path: str, cwd: str) -> str:
    try:
        # As written first (the current folder is a physical path, and the paths found
        # below it usually are); through symbolic links only when that leads outside.
        rel = os.path.relpath(os.path.abspath(path), cwd)
        if rel.startswith(".."):
            rel = os.path.relpath(os.path.realpath(path), _realpath(cwd))
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


@lru_cache(maxsize=8)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


def unsurrogated(text: str) -> str:
    """``text`` with the bytes a file name held that were not UTF-8 (Python's surrogate
    escapes, as ``os.listdir`` gives them) written ``\\xff``: every output format is UTF-8,
    and a lone surrogate cannot be encoded in it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escaped(text: str) -> str:
    """``text`` on one line, nothing in it a terminal or a CI log would act on: control
    characters (newlines, escape sequences) written as ``\\n``, ``\\x1b``; surrogate
    escapes as :func:`unsurrogated`."""
    text = unsurrogated(text)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def actions_safe(path: str) -> str:
    """A path for a GitHub Actions job log: :func:`escaped`, and ``./`` before one that
    starts with ``::`` (the runner executes a line that starts so as a workflow command,
    ``::add-mask::`` or ``::stop-commands::``); ``./x`` names the same file as ``x``."""
    path = escaped(path)
    return f"./{path}" if path.lstrip().startswith("::") else path


def for_output(f: Finding, *, file: bool = True, actions: bool = False) -> Finding:
    """``f`` with its file, message and plan fit for UTF-8 output: surrogate escapes of
    non-UTF-8 file names written ``\\xff`` (the file only when ``file``: SARIF encodes the
    original bytes in its URI); with ``actions`` (text read by the GitHub Actions runner)
    control characters escaped too and a path starting with ``::`` written ``./::``."""
    clean = escaped if actions else unsurrogated
    new_file = (actions_safe(f.file) if actions else unsurrogated(f.file)) if file else f.file
    message = clean(f.message)
    fix = clean(f.fix) if f.fix is not None else None
    if (new_file, message, fix) == (f.file, f.message, f.fix):
        return f
    return replace(f, file=new_file, message=message, fix=fix)


JOURNAL_SUFFIX = ".portledger-journal"


def journal_path(ledger: str | Path) -> Path:
    """The journal an interrupted ``--fix`` of ``ledger`` leaves (``.<name>`` plus
    :data:`JOURNAL_SUFFIX`, beside the file it names through symbolic links). Here, not
    in ``fixes.edits``, so that a check that only looks for one imports no writer."""
    real = Path(os.path.realpath(ledger))
    return real.with_name(f".{real.name}{JOURNAL_SUFFIX}")


def boundary(ledger_folder: str | Path) -> str:
    """The folder compose loading may read under: the repository's root (the nearest
    folder at or above the ledger's holding ``.git``), else the ledger's own folder;
    through symbolic links."""
    start = Path(os.path.realpath(ledger_folder))
    for folder in (start, *start.parents):
        if os.path.lexists(folder / ".git"):
            return str(folder)
    return str(start)


def within(path: str | Path, root: str) -> bool:
    """Whether ``path``, through symbolic links, is ``root`` or below it."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def schemas_folder() -> Path:
    """The folder of the shipped JSON Schemas (the ``portledger.schemas`` package), found
    without importing ``importlib.resources`` (30 M instructions, on every hook run):
    portledger is installed as files, never zipped."""
    import importlib.util

    spec = importlib.util.find_spec("portledger.schemas")
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if locations:
        return Path(locations[0])
    # A checkout that has not been (re)installed yet: the repository's own folder.
    return Path(__file__).resolve().parents[1] / "schemas"


def cache_directory(environ: Mapping[str, str]) -> Path:
    """portledger's cache folder: ``$PORTLEDGER_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/portledger``, else ``~/.cache/portledger``."""
    explicit = environ.get("PORTLEDGER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "portledger"


def _stamp(path: str) -> list[Any]:
    try:
        st = os.stat(path)
    except OSError:
        return [path, None]
    return [path, st.st_size, st.st_mtime_ns]


def code_stamps() -> list[Any]:
    """Size and modification time of every file that decides what portledger computes:
    its own files (modules and data: the well-known list too), the shipped JSON Schemas,
    and the modules of PyYAML, python-dotenv and both JSON Schema validators (found
    without importing them). A cache keyed by these is one per version of the code."""
    import importlib.util
    import sys

    stamps: list[Any] = [sys.version]
    package = os.path.dirname(os.path.abspath(__file__))  # all of portledger/
    for folder in (package, str(schemas_folder())):
        for where, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            stamps += [_stamp(os.path.join(where, f)) for f in sorted(files)
                       if not f.endswith((".pyc", ".marshal"))]
    for module in ("yaml", "dotenv", "jsonschema_rs", "jsonschema"):
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec is not None else None
        if origin is None:
            stamps.append([module, None])
            continue
        where = os.path.dirname(origin)
        stamps += [_stamp(os.path.join(where, f)) for f in sorted(os.listdir(where))
                   if f.endswith((".py", ".so", ".pyd"))]
    return stamps
