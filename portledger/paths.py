"""How paths are shown to users: relative to the current folder when below it.

A primitive every room may use (findings, reporters and commands all name files)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


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
