"""JSON Schema validation: a fast verdict first, jsonschema's messages only on failure.

python-jsonschema gives the clearest messages (``best_match``) but takes milliseconds per
compose file; a repository of a thousand compose files would spend seconds on it. When
the Rust-backed ``jsonschema-rs`` is installed (a dependency on CPython), it says "valid"
in microseconds and python-jsonschema runs only for documents it rejects, so messages
are always python-jsonschema's. Both are imported on first use, never at start-up.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any


@cache
def load_schema(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def _rust_validator(path: Path, formats: bool) -> Any:
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        return jsonschema_rs.validator_for(load_schema(path), validate_formats=formats,
                                           retriever=refuse_remote)
    except Exception:  # noqa: BLE001 - an unsupported schema only loses the fast path
        return None


def refuse_remote(uri: str) -> Any:
    """A validator's retriever that retrieves nothing: no check sends a request anywhere
    (a schema's remote reference is an error, not a fetch)."""
    raise ValueError(f"{uri}: portledger does not retrieve remote schema references")


def surely_valid(path: Path, data: Any, *, formats: bool = False) -> bool:
    """True when the fast validator accepts ``data``; False means "ask jsonschema"."""
    validator = _rust_validator(path, formats)
    if validator is None:
        return False
    try:
        return bool(validator.is_valid(data))
    except Exception:  # noqa: BLE001 - e.g. a value it cannot convert (NaN): ask jsonschema
        return False


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def shown_value(value: object) -> str | None:
    """A scalar as a schema message may quote it: short and on one line (a file's own
    text, but not a page of it), else None."""
    text = repr(value)
    return text if len(text) <= 80 and text.isprintable() else None


def shown_key(key: object) -> str:
    """How a schema message names a key that is not allowed: quoted when it is a name
    as a schema's own keys are, else "(not quoted)". A file that is not what it
    is checked as (an ``/etc/shadow`` read as a compose file or ledger) has its lines
    for keys: they must not reach the log, the annotations or SARIF."""
    return repr(key) if isinstance(key, str) and _NAME.fullmatch(key) else "(not quoted)"
