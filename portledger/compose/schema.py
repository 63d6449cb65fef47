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
    from portledger.paths import schemas_folder

    found = schemas_folder() / SCHEMA_NAME
    if found.is_file():
        return found
    return Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME


def _without_unique_items(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_unique_items(v) for k, v in node.items() if k != "uniqueItems"}
    if isinstance(node, list):
        return [_without_unique_items(v) for v in node]
    return node


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    # Compose removes repeated list items by its own keys (environment, labels, dns,
    # tmpfs, sysctls, build.args, ports...) before it validates, so ``uniqueItems``
    # never fails there for a list it knows; the loader checks ports itself.
    schema: dict[str, Any] = _without_unique_items(json.loads(_schema_text()))
    # The shipped file names draft 7 "https://json-schema.org/draft-07/schema", which
    # jsonschema-rs does not take for its bundled draft: it fetched it (a DNS query per
    # load). Named as both validators bundle it; neither retrieves anything remote.
    schema["$schema"] = DRAFT_07
    return schema


DRAFT_07 = "http://json-schema.org/draft-07/schema#"


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema
    from referencing import Registry

    from portledger.schemacheck import refuse_remote

    schema = _schema()
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, registry=Registry(retrieve=refuse_remote))  # type: ignore[call-arg]


@functools.lru_cache(maxsize=1)
def _fast_validator() -> Any:
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        from portledger.schemacheck import refuse_remote

        return jsonschema_rs.validator_for(_schema(), validate_formats=False,
                                           retriever=refuse_remote)
    except Exception:  # noqa: BLE001 - an unsupported schema only loses the fast path
        return None


def _surely_valid(data: Any) -> bool:
    validator = _fast_validator()
    if validator is None:
        return False
    try:
        return bool(validator.is_valid(data))
    except Exception:  # noqa: BLE001 - e.g. a value it cannot convert: ask jsonschema
        return False


def prepare() -> None:
    """Compile the fast validator now (before forking workers, so that they share it)."""
    _surely_valid({})


def first_error(data: Any) -> tuple[tuple[Any, ...], str] | None:
    """The clearest schema error in ``data`` as (path, message), or None if it is valid.

    ``uniqueItems`` is not enforced here: Compose removes repeated entries (by its own
    keys) before it validates, so a list that repeats ``"8080:80"`` is valid to it.
    """
    if _surely_valid(data):
        return None
    validator = _validator()
    if validator.is_valid(data):
        return None
    import jsonschema

    errors = list(validator.iter_errors(data))
    best = jsonschema.exceptions.best_match(errors)
    path = tuple(best.absolute_path)
    where = ".".join(str(p) for p in path) or "top level"
    return path, f"{where}: {best.message}"
