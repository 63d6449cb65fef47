"""Which compose projects a repository has.

Which files: the ledger's ``compose.files`` globs (relative to the ledger's folder),
minus ``compose.exclude``; hidden folders, ``node_modules`` and virtual environments are
never walked. A folder's default files (``compose.yaml`` with its ``.override``, ...)
form one project, resolved as ``docker compose`` resolves it in that folder; any other
matching file in the folder (``compose.prod.yaml``) is a project of its own.

May import the primitives only (it runs before any YAML is read).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_NAMES = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
)
OVERRIDE_NAMES = tuple(n.replace(".y", ".override.y") for n in DEFAULT_NAMES)
SKIP_DIRS = {"node_modules", "venv", "__pycache__", "site-packages"}


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
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
    include = [glob_regex(p) for p in patterns]
    leave = [glob_regex(p) for p in exclude]
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
