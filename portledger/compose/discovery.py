"""Which compose projects a repository has.

Projects come from two places. Declared projects (the ledger's ``compose.projects``)
name their ``-f`` files in order. The others are found: the ledger's ``compose.files``
globs, as written, relative to the ledger's folder, minus ``compose.exclude`` and minus
every declared project's files. A found folder's default files (``compose.yaml`` with its
``.override``, ...) form one project, resolved as ``docker compose`` resolves it in that
folder (``COMPOSE_FILE`` and ``COMPOSE_PROFILES`` of its ``.env`` included); any other
matching file in the folder (``compose.prod.yaml``) is a project of its own; an override
file with no base file beside it is reported (:attr:`Selection.orphans`), never skipped.

Walking: folders whose name matches ``compose.skip`` (hidden ones, ``vendor``,
``node_modules``, ...) and virtual environments are not entered unless a glob names the
folder literally, and no folder is entered that no glob can match below.

Every selection accounts for itself: globs that match nothing (:attr:`Selection.unmatched`),
declared files that do not exist (:attr:`Selection.missing`); a PATH given to ``check``
that yields no project is a :class:`FatalError` (exit 2).

May import the primitives only (it runs before any YAML is read).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from portledger.errors import FatalError

DEFAULT_NAMES = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
)
OVERRIDE_NAMES = tuple(n.replace(".y", ".override.y") for n in DEFAULT_NAMES)
DEFAULT_SKIP = (".*", "node_modules", "vendor", "venv", "__pycache__", "site-packages")
"""The same as ``ledger.model.DEFAULT_SKIP`` (this module may not import the ledger)."""
DEFAULT_GLOBS = ("**/compose*.y*ml", "**/docker-compose*.y*ml")
"""``ledger.model.DEFAULT_COMPOSE_FILES``: written out in a ledger, they need not match."""
SKIP_DIRS = {"node_modules", "vendor", "venv", "__pycache__", "site-packages"}
"""The literal names of :data:`DEFAULT_SKIP` (hidden folders aside)."""
_WILD = re.compile(r"[*?\[]")


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
    # DOTALL and \Z: a folder or file name may hold a newline (a folder the glob skipped
    # for it would be a gate bypass); "$" would also match before a final newline.
    return re.compile("^" + "".join(out) + r"\Z", re.DOTALL)


def _normal(pattern: str) -> str:
    return pattern[2:] if pattern.startswith("./") else pattern


def leaves_root(pattern: str) -> bool:
    """True for a glob that points outside the folder it is relative to."""
    return pattern.startswith("/") or ".." in _normal(pattern).split("/")


def _may_match_below(pattern: str, folder: tuple[str, ...]) -> bool:
    """True when some file below ``folder`` (its parts) could match ``pattern``."""
    parts = _normal(pattern).split("/")
    for i, name in enumerate(folder):
        if i >= len(parts) - 1:
            return False  # only the file name is left, and this is a folder
        seg = parts[i]
        if "**" in seg:
            return True
        if not glob_regex(seg).match(name):
            return False
    return True


def literal_folders(patterns: Iterable[str]) -> set[tuple[str, ...]]:
    """The folders the globs name literally (``.devcontainer`` of
    ``.devcontainer/compose.yml``): they are walked even when ``skip`` says not."""
    named: set[tuple[str, ...]] = set()
    for p in patterns:
        parts = _normal(p).split("/")[:-1]
        for i, seg in enumerate(parts):
            if _WILD.search(seg):
                break
            named.add(tuple(parts[:i + 1]))
    return named


def _skipped(name: str, path: str, skip: Sequence[str]) -> bool:
    if any(fnmatch.fnmatchcase(name, s) for s in skip):
        return True
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))  # a virtual environment


def walk(root: Path, patterns: Sequence[str], skip: Sequence[str] = DEFAULT_SKIP
         ) -> list[str]:
    """The files below ``root`` that match a glob, as '/'-separated relative paths."""
    usable = [_normal(p) for p in patterns if not leaves_root(p)]
    include = [glob_regex(p) for p in usable]
    named = literal_folders(usable)
    found: list[str] = []
    top = str(root)
    prefix = os.path.join(top, "")  # os.walk names each folder below as top + sep + ...
    for folder, dirs, files in os.walk(top):
        rel_folder = "" if folder == top else folder[len(prefix):].replace(os.sep, "/")
        here = tuple(rel_folder.split("/")) if rel_folder else ()
        keep = []
        for d in sorted(dirs):
            below = (*here, d)
            if not any(_may_match_below(p, below) for p in usable):
                continue
            if below not in named and _skipped(d, os.path.join(folder, d), skip):
                continue
            keep.append(d)
        dirs[:] = keep
        for name in files:
            rel = f"{rel_folder}/{name}" if rel_folder else name
            if any(r.match(rel) for r in include):
                found.append(rel)
    return sorted(found)


def discover(root: Path, patterns: Sequence[str], exclude: Sequence[str] = (),
             skip: Sequence[str] = DEFAULT_SKIP) -> list[Path]:
    """Compose files below ``root`` matching ``patterns`` and not ``exclude``, sorted."""
    leave = [glob_regex(_normal(p)) for p in exclude]
    return [root / rel for rel in walk(root, patterns, skip)
            if not any(r.match(rel) for r in leave)]


@dataclass(frozen=True)
class ProjectSpec:
    """One compose project to load: its folder, and its files (None: Compose's defaults).

    A declared project has a ``name`` and may have ``env_files`` and ``profiles``
    (None: every profile, unless the command line narrows them)."""

    directory: Path
    files: tuple[Path, ...] | None
    name: str | None = None
    env_files: tuple[Path, ...] | None = None
    profiles: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """How the project is named to people: its declared name, its folder (default
        files) or its one file."""
        if self.name is not None:
            return self.name
        if self.files is None:
            return _shown(self.directory)
        return _shown(self.files[0])

    def file_list(self) -> list[Path]:
        """The files named for it (for a folder's default files, those there now)."""
        if self.files is not None:
            return list(self.files)
        found = [self.directory / n for n in DEFAULT_NAMES if (self.directory / n).is_file()]
        found = found[:1]
        for n in OVERRIDE_NAMES:
            if (self.directory / n).is_file():
                found.append(self.directory / n)
                break
        return found


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Declared:
    """A declared project as discovery needs it (``ledger.model.DeclaredProject``)."""

    name: str
    files: tuple[str, ...]
    directory: str | None = None
    env_files: tuple[str, ...] | None = None
    profiles: tuple[str, ...] | None = None


@dataclass
class Selection:
    """What a check covers, and what it was asked to cover and could not."""

    specs: list[ProjectSpec] = field(default_factory=list)
    unmatched: list[tuple[int, str, str]] = field(default_factory=list)
    """``compose.files`` globs that select nothing: (index, glob, why)."""
    missing: list[tuple[str, int, str]] = field(default_factory=list)
    """Declared projects' files that do not exist: (project, index in its files, path)."""
    orphans: list[Path] = field(default_factory=list)
    """Override files with no base file beside them (Compose never reads them alone)."""


def _group(files: Sequence[Path]) -> tuple[list[ProjectSpec], list[Path]]:
    """Group found compose files into projects: a folder's default files are one
    project; override files with no base beside them are orphans."""
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for f in files:
        by_folder[f.parent].append(f)
    specs: list[ProjectSpec] = []
    orphans: list[Path] = []
    for folder in sorted(by_folder):
        names = {f.name for f in by_folder[folder]}
        has_default = any(n in names for n in DEFAULT_NAMES)
        overrides = sorted(f for f in by_folder[folder] if f.name in OVERRIDE_NAMES)
        if overrides and not has_default:
            # The override was selected and its base was not: Compose reads them together.
            has_default = any((folder / n).is_file() for n in DEFAULT_NAMES)
            if not has_default:
                orphans += overrides
        if has_default:
            specs.append(ProjectSpec(folder, None))
        for f in sorted(by_folder[folder]):
            if f.name not in DEFAULT_NAMES and f.name not in OVERRIDE_NAMES:
                specs.append(ProjectSpec(folder, (f,)))
    return specs, orphans


def projects(files: Sequence[Path]) -> list[ProjectSpec]:
    """Group compose files into projects: a folder's default files are one project."""
    return _group(files)[0]


def declared_spec(root: Path, d: Declared) -> ProjectSpec:
    files = tuple(root / f for f in d.files)
    directory = root / d.directory if d.directory is not None else files[0].parent
    env_files = tuple(root / f for f in d.env_files) if d.env_files is not None else None
    return ProjectSpec(_clean(directory), tuple(_clean(f) for f in files), d.name,
                       None if env_files is None else tuple(_clean(f) for f in env_files),
                       d.profiles)


def _clean(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def select(root: Path, patterns: Sequence[str], exclude: Sequence[str],
           paths: Sequence[str] = (), declared: Sequence[Declared] = (),
           skip: Sequence[str] = DEFAULT_SKIP, explicit: bool = True) -> Selection:
    """The projects to check: those under ``paths`` if given, else all the ledger names.

    ``explicit``: the globs are the ledger's own (each must then match something), not
    the defaults."""
    out = Selection()
    specs = []
    claimed: set[Path] = set()
    for d in declared:
        spec = declared_spec(root, d)
        absent = [(d.name, i, d.files[i]) for i, f in enumerate(spec.files or ())
                  if not f.is_file()]
        claimed.update(f.resolve() for f in spec.files or ())
        out.missing += absent
        if not absent:  # else PL208 says which file, once (it cannot load)
            specs.append(spec)
    leave = [glob_regex(_normal(p)) for p in exclude]
    found = walk(root, patterns, skip)
    kept = [rel for rel in found if not any(r.match(rel) for r in leave)]
    files = [root / rel for rel in kept
             if not claimed or (root / rel).resolve() not in claimed]
    if not paths:
        if explicit:
            for i, p in enumerate(patterns):
                if p in DEFAULT_GLOBS:
                    continue  # the defaults mean "whatever compose files there are"
                out.unmatched.extend((i, p, why) for why in _why_unmatched(p, found, kept))
        grouped, out.orphans = _group(files)
        out.specs = [*specs, *grouped]
        return out
    chosen: list[ProjectSpec] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            mine, orphans = _file_arg(raw, path, root, specs, claimed, exclude, leave)
            chosen += mine
            out.orphans += orphans
        elif path.is_dir():
            mine = [s for s in specs if any(_under(f, path) for f in s.files or ())]
            below = [f for f in files if _under(f, path)]
            if not below and not mine:
                below = discover(path, [f"**/{n}" for n in DEFAULT_NAMES + OVERRIDE_NAMES],
                                 skip=skip)
                below = [f for f in below if not _excluded(f, root, leave)
                         and f.resolve() not in claimed]
            grouped, orphans = _group(below)
            if not grouped and not mine and not orphans:
                raise FatalError(f"{raw}: no compose project here (neither the ledger's "
                                 "compose.files nor Compose's default file names match "
                                 "a file, after compose.exclude)")
            chosen += mine + grouped
            out.orphans += orphans
        else:
            raise FatalError(f"{raw}: no such file or folder")
    seen: set[ProjectSpec] = set()
    out.specs = [s for s in chosen if not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]
    return out


def _why_unmatched(pattern: str, found: list[str], kept: list[str]) -> list[str]:
    if leaves_root(pattern):
        return ["points outside the ledger's folder; globs are relative to it and cannot "
                "leave it (move the ledger up, or pass --mapping from above)"]
    regex = glob_regex(_normal(pattern))
    if any(regex.match(rel) for rel in kept):
        return []
    if any(regex.match(rel) for rel in found):
        return ["matches only files that compose.exclude leaves out"]
    return ["matches no file"]


def _excluded(f: Path, root: Path, leave: Sequence[re.Pattern[str]]) -> bool:
    try:
        rel = f.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return False
    return any(r.match(rel) for r in leave)


def _file_arg(raw: str, path: Path, root: Path, specs: list[ProjectSpec],
              claimed: set[Path], exclude: Sequence[str],
              leave: Sequence[re.Pattern[str]]) -> tuple[list[ProjectSpec], list[Path]]:
    if path.resolve() in claimed:
        return [s for s in specs if any(f.resolve() == path.resolve()
                                        for f in s.files or ())], []
    if _excluded(path, root, leave):
        raise FatalError(f"{raw}: left out by the ledger's compose.exclude "
                         f"({', '.join(exclude)}); nothing to check")
    return _group([path])
