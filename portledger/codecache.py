"""The compiled methods of portledger's dataclasses, kept between runs like ``.pyc`` files.

``@dataclass`` writes the source of each class's ``__init__``, ``__eq__``, ``__repr__``,
``__hash__``, ordering and frozen ``__setattr__`` methods and compiles it with ``exec``
every time the class is created: for the 40 or so dataclasses a ``check`` imports that is
about 90 million instructions, a sixth of the whole process on a small repository and
more than importing PyYAML. Python keeps no compiled copy of that source, so this module
does: :func:`install` (run by ``portledger/__init__.py``) lets the ``dataclasses``
module's ``exec`` look the source text up in a table of code objects read from
``portledger/__pycache__/dataclasses.<cache tag>.marshal``, and compile only text it does
not hold. The text itself is the key, so a hit runs exactly the code ``compile`` would
have made; the Python version is in the file's name (as in a ``.pyc``'s), and a file
that cannot be read or does not hold a table is no table.

Trust: the file sits next to the package's own bytecode, where whoever could write it
could already replace the ``.pyc`` files; it is written where Python writes bytecode
(not under ``PYTHONDONTWRITEBYTECODE`` / ``-B``, not when the folder is read-only),
atomically. Only classes of portledger's own modules use the table.

Why not a library: none caches dataclass code; attrs compiles its methods the same way.
"""

from __future__ import annotations

import atexit
import marshal
import os
import sys
from types import CodeType
from typing import Any

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__",
                     f"dataclasses.{sys.implementation.cache_tag}.marshal")
_MAX_ENTRIES = 2000
"""A table that grew past this (code changed many times) is written back with only the
entries of the run that wrote it."""

_codes: dict[str, CodeType] = {}
_used: set[str] = set()
_new = False
_installed = False


def _load() -> dict[str, CodeType]:
    try:
        with open(_PATH, "rb") as f:
            table = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items()
            if isinstance(k, str) and isinstance(v, CodeType)}


def _exec(source: Any, globals_: Any = None, locals_: Any = None, /) -> None:
    """``exec`` as the ``dataclasses`` module calls it, with compiled text looked up."""
    global _new
    if (isinstance(source, str) and isinstance(globals_, dict)
            and str(globals_.get("__name__", "")).startswith("portledger")):
        code = _codes.get(source)
        if code is None:
            code = compile(source, "<string>", "exec")
            _codes[source] = code
            _new = True
        _used.add(source)
        exec(code, globals_, locals_)  # noqa: S102 - dataclasses' own generated methods
        return
    exec(source, globals_, locals_)  # noqa: S102 - as dataclasses itself does


def install() -> None:
    """Route the ``dataclasses`` module's ``exec`` through the table (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    import dataclasses

    if getattr(dataclasses, "_create_fn", None) is None:  # pragma: no cover - 3.13+
        return  # a dataclasses module that does not compile method by method
    _codes.update(_load())
    dataclasses.exec = _exec  # type: ignore[attr-defined]
    atexit.register(save)


def save() -> None:
    """Write the table back when this run compiled text it did not hold (atomically;
    quietly not, where bytecode is not written)."""
    global _new
    if not _new or sys.dont_write_bytecode:
        return
    _new = False
    table = (_codes if len(_codes) <= _MAX_ENTRIES
             else {k: v for k, v in _codes.items() if k in _used})
    tmp = f"{_PATH}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(_PATH), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(marshal.dumps(table))
        os.replace(tmp, _PATH)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
