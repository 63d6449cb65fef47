"""Interpolating a compose file's data from the environment, noting the unset variables
each value read (for :mod:`portledger.compose.loader`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portledger import yamlio
from portledger.compose.goyaml import _child
from portledger.compose.interpolate import Interpolator, TemplateError
from portledger.compose.model import UnsetVariable, _Context, _error_at


def _interpolate(
    value: Any,
    path: tuple[Any, ...],
    doc: yamlio.Document,
    ctx: _Context,
    environ: Mapping[str, str],
    unset_by_path: dict[tuple[Any, ...], list[str]],
) -> Any:
    if isinstance(value, str):
        if "$" not in value:  # nothing to substitute: most values of a compose file
            return value
        interp = Interpolator(environ)
        try:
            result = interp.substitute(value)
        except TemplateError as e:
            if e.variable is not None:
                raise _error_at(doc, path, e.message, "PL206") from None
            where = ".".join(str(p) for p in path)
            err = _error_at(doc, path, f"{e.message} in {where} (write $$ for a literal $)",
                            "PL101")
            err.stricter = e.stricter
            raise err from None
        finally:
            ctx.inputs.looked_up(interp.read)
        if interp.unset:
            unset_by_path[path] = interp.unset
            sp = doc.span(path)
            for name in interp.unset:
                ctx.unset.append(UnsetVariable(name, doc.path, sp.line, sp.column, path))
        return result
    if isinstance(value, dict):
        return {
            k: _interpolate(v, path + (k,), doc, ctx, environ, unset_by_path)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, path + (i,), doc, ctx, environ, unset_by_path)
            for i, v in enumerate(value)
        ]
    return value


def _interpolate_in_place(
    data: dict[str, Any],
    doc: yamlio.Document,
    ctx: _Context,
    environ: Mapping[str, str],
    unset_by_path: dict[tuple[Any, ...], list[str]],
) -> dict[str, Any]:
    """:func:`_interpolate`, visiting only the strings that contain ``$``.

    The YAML module lists them while it builds the data (which it builds fresh for
    every file, so changing it in place is safe); a file's other values are left as
    they are instead of being copied. Used when no ``!reset`` removed anything first.
    """
    for path in doc.dollars:
        # A path may name nothing now: a merge key (<<) source's string that the
        # mapping itself overrides was listed too.
        parent: Any = data
        for key in path[:-1]:
            parent = _child(parent, key)
        value = _child(parent, path[-1])
        if isinstance(value, str):
            parent[path[-1]] = _interpolate(value, path, doc, ctx, environ, unset_by_path)
    return data
