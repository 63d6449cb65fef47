"""Validation of one compose file against the official compose-spec JSON Schema.

The schema ships as package data of ``portledger.schemas`` (``schemas/compose-spec.json``
at the top of the repository). jsonschema is imported, and the validator compiled, on
first use only: importing it costs about 60 ms, which a pre-commit hook that never
reads a compose file should not pay.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_NAME = "compose-spec.json"


def _schema_text() -> str:
    try:
        from importlib.resources import files

        return (files("portledger.schemas") / SCHEMA_NAME).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        # A checkout that has not been (re)installed yet: read it from the repository.
        return (Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME).read_text(
            encoding="utf-8"
        )


@functools.lru_cache(maxsize=1)
def _schema_path() -> Path:
    """The schema as a file, for the fast validator's cache."""
    try:
        from importlib.resources import files

        found = Path(str(files("portledger.schemas") / SCHEMA_NAME))
        if found.is_file():
            return found
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(_schema_text())
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def prepare() -> None:
    """Compile the fast validator now (before forking workers, so that they share it)."""
    from portledger import schemacheck

    schemacheck.surely_valid(_schema_path(), {})


def first_error(data: Any) -> tuple[tuple[Any, ...], str] | None:
    """The clearest schema error in ``data`` as (path, message), or None if it is valid.

    ``uniqueItems`` is not enforced here: Compose removes repeated entries (by its own
    keys) before it validates, so a list that repeats ``"8080:80"`` is valid to it.
    """
    from portledger import schemacheck

    if schemacheck.surely_valid(_schema_path(), data):
        return None
    validator = _validator()
    if validator.is_valid(data):
        return None
    import jsonschema

    errors = [e for e in validator.iter_errors(data) if e.validator != "uniqueItems"]
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    path = tuple(best.absolute_path)
    where = ".".join(str(p) for p in path) or "top level"
    return path, f"{where}: {best.message}"
