"""The ledger's ``compose`` section (which compose projects ``check`` reads), and a
cheap look-ahead at it: compose files start loading while the whole ledger is parsed.

Its own module so that the ledger's model stays one readable piece; the model re-exports
every name here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger import yamlio

DEFAULT_COMPOSE_FILES = ("**/compose*.y*ml", "**/docker-compose*.y*ml")
DEFAULT_SKIP = (".*", "node_modules", "vendor", "venv", "__pycache__", "site-packages")
"""Folder names discovery does not walk into (``compose.skip``): hidden folders, package
trees of other ecosystems; virtual environments (a folder with ``pyvenv.cfg``) too."""


@dataclass(frozen=True)
class DeclaredProject:
    """A compose project the ledger declares (``compose.projects``): its ``-f`` files in
    order, its project directory, env files and profiles, all relative to the ledger's
    folder. None means Compose's default (the first file's folder; that folder's
    ``.env``; every profile, as ``check`` sees every profile)."""

    name: str
    files: tuple[str, ...]
    directory: str | None = None
    env_files: tuple[str, ...] | None = None
    profiles: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ComposeConfig:
    """The ledger's ``compose`` section: which compose projects ``check`` reads."""

    files: tuple[str, ...] = DEFAULT_COMPOSE_FILES
    exclude: tuple[str, ...] = ()
    projects: tuple[DeclaredProject, ...] = ()
    skip: tuple[str, ...] = DEFAULT_SKIP
    explicit_files: bool = False
    """True when the ledger writes ``files`` itself (each glob must then match)."""


def compose_config(section: Any) -> ComposeConfig:
    """The :class:`ComposeConfig` of a (schema-valid) ``compose`` mapping."""
    if not isinstance(section, dict):
        return ComposeConfig()
    projects = []
    for name, body in (section.get("projects") or {}).items():
        if not (isinstance(body, dict) and body.get("files")):
            continue  # invalid (PL100's to say): peek_compose reads unvalidated text
        env_files, profiles = body.get("env_files"), body.get("profiles")
        projects.append(DeclaredProject(
            str(name), tuple(body.get("files") or ()), body.get("directory"),
            None if env_files is None else tuple(env_files),
            None if profiles is None else tuple(profiles)))
    return ComposeConfig(
        files=tuple(section.get("files", DEFAULT_COMPOSE_FILES)),
        exclude=tuple(section.get("exclude", ())),
        projects=tuple(projects),
        skip=tuple(section.get("skip", DEFAULT_SKIP)),
        explicit_files="files" in section,
    )


_COMPOSE_SECTION = re.compile(r"^compose:[ \t]*(?:#.*)?\n((?:[ \t#].*\n|\n)*)", re.MULTILINE)


def _compose_section(text: str) -> re.Match[str] | None:
    """``_COMPOSE_SECTION.search(text)``, tried only where a line starts with
    ``compose:`` (a regular-expression search of a large ledger tries every position)."""
    at = text.find("compose:")
    while at != -1:
        if at == 0 or text[at - 1] == "\n":
            match = _COMPOSE_SECTION.match(text, at)
            if match:
                return match
        at = text.find("compose:", at + 1)
    return None


def peek_compose(path: Path) -> ComposeConfig:
    """The ledger's ``compose`` section, read ahead cheaply.

    Only a guess (the top-level block ``compose:`` read alone), so that compose files
    can start loading while the whole ledger is parsed; :func:`check.loading.run`
    compares it with the real ledger and starts over when they differ.
    """
    try:
        text = yamlio.read_text(path)
    except yamlio.YamlError:
        return ComposeConfig()
    match = _compose_section(text)
    if not match:
        return ComposeConfig()
    try:
        data = yamlio.load(path, data=match.group(0).encode("utf-8")).data
        config = compose_config(data["compose"] or {})
    except (yamlio.YamlError, AttributeError, TypeError, KeyError, ValueError):
        return ComposeConfig()
    texts = [*config.files, *config.exclude, *config.skip]
    for d in config.projects:
        texts += [*d.files, *(d.env_files or ()), *(d.profiles or ()), d.directory or "."]
    if not all(isinstance(t, str) and t for t in texts):
        return ComposeConfig()  # not a valid section: the real ledger's check says why
    return config
