"""The JSON that ``portledger render`` reads (``check``, ``check-commits`` and ``diff``
output), checked before any reporter sees it.

The GitHub Action pipes portledger's own output here, but the file can be anything a
workflow hands over: every value a reporter uses is checked for its type here, and the
first that is wrong is one :class:`InputError` naming the file and the JSON path
(``findings[3].line``), never a traceback from deep inside a reporter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import IO, Any

from portledger.findings import Finding, Severity

MAX_BYTES = 64 * 1024 * 1024


class InputError(ValueError):
    """Input ``render`` cannot use: the message names the file and the place."""


def load(stream: IO[bytes], name: str) -> Any:
    """The JSON document in ``stream``: UTF-8, strict JSON (no NaN or Infinity), bounded
    in size and depth; else an InputError naming ``name`` (and the line and column)."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{name}: not UTF-8 (byte offset {e.start})") from None

    def constant(word: str) -> Any:
        raise InputError(f"{name}: {word} is not JSON")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise InputError(f"{name}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"{name}: nested too deeply") from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise InputError(f"{name}: {e}") from None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


class _At:
    """A place in the document, for messages."""

    def __init__(self, name: str, path: str = "") -> None:
        self.name, self.path = name, path

    def __getitem__(self, key: str | int) -> _At:
        step = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.path else key)
        return _At(self.name, self.path + step)

    def fail(self, expected: str, value: Any) -> InputError:
        where = self.path or "the top level"
        return InputError(f"{self.name}: {where}: expected {expected}, got {_show(value)}")


def _mapping(value: Any, at: _At) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise at.fail("an object", value)
    return value


def _list(value: Any, at: _At) -> list[Any]:
    if not isinstance(value, list):
        raise at.fail("a list", value)
    return value


def _str(value: Any, at: _At, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise at.fail("a string" + (" or null" if optional else ""), value)
    return value


def _int(value: Any, at: _At, *, least: int = 0, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise at.fail(f"an integer of at least {least}" + (" or null" if optional else ""),
                      value)
    return value


def _severity(value: Any, at: _At) -> Severity:
    if value not in {s.value for s in Severity}:
        raise at.fail("error, warning or notice", value)
    return Severity(value)


def findings(doc: Any, name: str) -> tuple[list[Finding], int]:
    """The findings and file count of ``check --format json`` (or ``check-commits``)."""
    top = _At(name)
    doc = _mapping(doc, top)
    out = []
    for i, d in enumerate(_list(doc.get("findings"), top["findings"])):
        at = top["findings"][i]
        d = _mapping(d, at)
        out.append(Finding(
            file=_str(d.get("file"), at["file"]),
            line=_int(d.get("line"), at["line"], least=1),
            column=_int(d.get("column"), at["column"], least=1),
            code=_str(d.get("code"), at["code"]),
            rule=_str(d.get("rule"), at["rule"]),
            severity=_severity(d.get("severity"), at["severity"]),
            message=_str(d.get("message"), at["message"]),
            end_line=_int(d.get("end_line"), at["end_line"], least=1, optional=True),
            end_column=_int(d.get("end_column"), at["end_column"], least=1, optional=True),
            service=_str(d.get("service"), at["service"], optional=True),
            port=_int(d.get("port"), at["port"], optional=True),
            protocol=_str(d.get("protocol"), at["protocol"], optional=True),
            fix=_str(d.get("fix"), at["fix"], optional=True),
        ))
    summary = doc.get("summary", {})
    files = _mapping(summary, top["summary"]).get("files", 0)
    return out, _int(files, top["summary"]["files"])


def commits(doc: Any, name: str) -> tuple[str, int, tuple[Mapping[str, Any], ...]]:
    """``check-commits --format json``: its result, how many commits it checked, and the
    undocumented ones (``sha``, ``subject``, ``trailers``)."""
    top = _At(name)
    doc = _mapping(doc, top)
    result = _str(doc.get("result"), top["result"])
    checked = _int(doc.get("checked"), top["checked"])
    rows = []
    for i, c in enumerate(_list(doc.get("commits", []), top["commits"])):
        at = top["commits"][i]
        c = _mapping(c, at)
        _str(c.get("sha"), at["sha"], optional=True)
        _str(c.get("subject"), at["subject"], optional=True)
        for j, t in enumerate(_list(c.get("trailers", []), at["trailers"])):
            _str(t, at["trailers"][j])
        rows.append(c)
    return result, checked, tuple(rows)


def _port_value(value: Any, at: _At) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, int) and not isinstance(value, bool):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    record = _mapping(value, at)
    for key, v in record.items():
        if not (v is None or isinstance(v, (str, int, float))):
            raise at[key].fail("a string, number or null", v)


def changes(doc: Any, name: str) -> list[Mapping[str, Any]]:
    """Port-change rows (``diff --format json``): a list, or ``{"changes": [...]}``."""
    top = _At(name)
    rows = doc.get("changes", []) if isinstance(doc, Mapping) else doc
    at_rows = top["changes"] if isinstance(doc, Mapping) else top
    out = []
    for i, c in enumerate(_list(rows, at_rows)):
        at = at_rows[i]
        c = _mapping(c, at)
        for key in ("kind", "service", "name", "protocol", "trailer", "source", "file"):
            _str(c.get(key), at[key], optional=True)
        _int(c.get("line"), at["line"], least=1, optional=True)
        _port_value(c.get("old"), at["old"])
        _port_value(c.get("new"), at["new"])
        out.append(c)
    return out
