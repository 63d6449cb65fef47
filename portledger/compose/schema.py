"""Validation of one compose file against the official compose-spec JSON Schema.

The schema ships as package data of ``portledger.schemas`` (``schemas/compose-spec.json``
at the top of the repository). jsonschema is imported, and the validator compiled, on
first use only: importing it costs about 60 ms, which a pre-commit hook that never
reads a compose file should not pay.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from portledger.yamlio import Document

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


class Violation(NamedTuple):
    """The clearest schema error: where it is and what is wrong, quoting no value."""

    path: tuple[Any, ...]
    """Where in the model; for a key that is not allowed, the path to that key."""
    message: str
    at_key: bool
    """Whether ``path`` ends in the offending key (locate the key, not its value)."""


def first_error(data: Any, docs: Sequence[Document] = ()) -> Violation | None:
    """The clearest schema error in ``data`` (jsonschema's ``best_match``), or None.

    ``uniqueItems`` is not enforced here: Compose removes repeated entries (by its own
    keys) before it validates, so a list that repeats ``"8080:80"`` is valid to it.

    The message names the key path and the kind of violation, never jsonschema's own
    message: that quotes the offending value, which may hold an interpolated secret
    (``pull_policy: ${AWS_SECRET_ACCESS_KEY}``) or, for a file that is not a compose file
    at all, its content (the top-level keys of an ``/etc/shadow`` are its lines). A value
    is quoted only as the file's own text (from ``docs``, the files read, latest last),
    short and on one line; a value that read variables names them instead.
    """
    if _surely_valid(data):
        return None
    validator = _validator()
    if validator.is_valid(data):
        return None
    import jsonschema

    from portledger.schemacheck import shown_key

    best = jsonschema.exceptions.best_match(validator.iter_errors(data))
    path = tuple(best.absolute_path)
    keyword, rule = best.validator, None
    if keyword == "additionalProperties" and isinstance(best.instance, dict):
        extra = _extra_keys(best.instance, best.schema)
        if extra:
            key = extra[0]
            rule = f"key {shown_key(key)} is not allowed here"
            if "^x-" in best.schema.get("patternProperties", {}):
                rule += _EXTENSIONS
            if not path and not any(k in best.schema.get("properties", {})
                                    for k in best.instance):
                rule += _NOT_COMPOSE
            return Violation(path + (key,), f"{_where(path)}: {rule}", True)
    if keyword == "required" and isinstance(best.instance, dict):
        missing = [k for k in best.validator_value if k not in best.instance]
        if missing:
            return Violation(path, f"{_where(path)}: needs the key {missing[0]!r}", False)
    rule = _rule(keyword, best.validator_value, best.instance)
    return Violation(path, f"{_where(path)}: {_subject(path, docs)} {rule}", False)


def not_compose(data: dict[str, Any]) -> Violation | None:
    """The violation of a mapping none of whose keys Compose knows at the top level (a
    YAML file that is not a compose file), found before interpolation reads its values:
    an interpolation error would quote them, and they are not the project's text."""
    known = _schema().get("properties", {})
    if not data or any(isinstance(k, str) and (k in known or k.startswith("x-"))
                       for k in data):
        return None
    from portledger.schemacheck import shown_key

    key = next(iter(data))
    return Violation((key,), f"top level: key {shown_key(key)} is not allowed here"
                     f"{_EXTENSIONS}{_NOT_COMPOSE}", True)


_EXTENSIONS = " (only the specification's keys and x- extensions are)"
_NOT_COMPOSE = "; this is not a compose file"


_KINDS = {"string": "a string", "number": "a number", "integer": "an integer",
          "boolean": "a boolean", "object": "a mapping", "array": "a list", "null": "null"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a mapping" if isinstance(value, dict) else "a list"


def _rule(keyword: str, expected: Any, instance: Any) -> str:
    """What ``instance`` breaks, in words that quote only the schema."""
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        return (f"must be {' or '.join(_KINDS.get(w, w) for w in wanted)}, "
                f"not {_kind(instance)}")
    if keyword == "enum":
        return "must be one of " + ", ".join(repr(v) for v in expected)
    if keyword == "pattern":
        return f"must match the pattern {expected!r}"
    if keyword in ("minimum", "maximum"):
        return f"must be at {'least' if keyword == 'minimum' else 'most'} {expected}"
    if keyword == "oneOf":
        return f"({_kind(instance)}) matches none of the forms the specification allows"
    return f"breaks the specification's {keyword!r} rule"


def _extra_keys(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]


def _where(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "top level"


def _subject(path: tuple[Any, ...], docs: Sequence[Document]) -> str:
    """How the message names the value at ``path`` (see :func:`as_written`)."""
    for doc in reversed(docs):
        if path in doc.spans:
            return as_written(doc.scalar_facts(path)[1])
    return "the value"


def as_written(text: str | None) -> str:
    """How a message names a value: ``text``, the file's own text of it (None for a
    collection), quoted when short and on one line, followed by the variables it reads
    (``'${SECRET}': with the value of SECRET it``); else "the value". Never what the
    variables gave: that may be a secret, and goes to logs, annotations and SARIF."""
    if text is None:
        return "the value"
    from portledger.schemacheck import shown_value

    shown = shown_value(text)
    names = _variables(text) if "$" in text else []
    if names:
        return f"{shown or 'the value'}: with the value of {', '.join(names)} it"
    return shown or "the value"


def _variables(text: str) -> list[str]:
    """The variables ``text`` reads (read with none set: only the names are wanted)."""
    from portledger.compose.interpolate import Interpolator, TemplateError

    interp = Interpolator({})
    try:
        interp.substitute(text)
    except TemplateError:
        pass
    return list(dict.fromkeys(interp.read))
