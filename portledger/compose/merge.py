"""Merging compose files as compose-go merges them, and applying ``!reset`` /
``!override`` tags (for :mod:`portledger.compose.loader`)."""

from __future__ import annotations

from typing import Any

from portledger import yamlio
from portledger.compose.model import _Context, _error_at


def _delete_path(data: Any, path: tuple[Any, ...]) -> None:
    node = data
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        del node[last]


# -- merging --------------------------------------------------------------------------


class _MergeConflict(Exception):
    """compose-go's "cannot override PATH": a mapping or sequence met another kind."""

    def __init__(self, path: tuple[Any, ...]) -> None:
        super().__init__(path)
        self.path = path


_SPECIAL_MERGES = frozenset({
    "annotations", "build", "command", "depends_on", "deploy", "dns", "dns_opt",
    "dns_search", "entrypoint", "env_file", "environment", "extra_hosts", "healthcheck",
    "label_file", "labels", "logging", "models", "networks", "sysctls", "tmpfs", "ulimits",
    "volumes",
})
"""Service keys compose-go merges by rules of their own (``override/merge.go``: a list
and a mapping of environment variables merge into one list, a string ``build`` and a
mapping merge...): never "cannot override" there."""


def _merge(base: Any, over: Any, path: tuple[Any, ...] = ()) -> Any:
    """compose-go ``override.Merge`` for what ports depend on: a null changes nothing,
    mappings merged key by key (``x-`` keys replaced), sequences appended, a mapping or
    sequence over another kind of value is an error, anything else replaced."""
    if over is None:
        return base
    if len(path) >= 3 and path[0] == "services" and path[2] in _SPECIAL_MERGES:
        if isinstance(base, dict) is not isinstance(over, dict) or isinstance(
            base, list
        ) is not isinstance(over, list):
            return over  # compose-go merges these its own way, whatever their forms
    elif len(path) == 3 and path[0] in ("networks", "volumes") and path[2] == "labels":
        if type(base) is not type(over):
            return over
    if isinstance(base, dict):
        if not isinstance(over, dict):
            raise _MergeConflict(path)
        for k, v in over.items():
            if k in base and not str(k).startswith("x-"):
                base[k] = _merge(base[k], v, path + (k,))
            else:
                base[k] = v
        return base
    if isinstance(base, list):
        if not isinstance(over, list):
            raise _MergeConflict(path)
        return base + over
    return over


def _merge_file(base: dict[str, Any], over: dict[str, Any], ctx: _Context,
                doc: yamlio.Document, at: tuple[Any, ...] = ()) -> dict[str, Any]:
    try:
        merged: dict[str, Any] = _merge(base, over, at)
    except _MergeConflict as e:
        where = ".".join(str(p) for p in e.path)
        raise _error_at(doc, e.path, f"cannot override {where}", "PL101") from None
    return merged


def _apply_tags(target: dict[str, Any], tagged: list[tuple[Any, ...]]) -> None:
    # compose-go names list items differently when it records a tag and when it looks
    # for them in what earlier files built, so a tag on (or below) a list item changes
    # only its own file: the earlier lists stay whole.
    for path in tagged:
        if not any(isinstance(p, int) for p in path):
            _delete_path(target, path)
