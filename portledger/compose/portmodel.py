"""A compose model's ports: wrapped with where each entry was written, made canonical,
repeats dropped by compose-go's key (for :mod:`portledger.compose.loader`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from portledger import yamlio
from portledger.compose import ports as portspec
from portledger.compose.model import CanonicalPort, ComposeError, Origin, RawPort

_NAME = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _names_in(doc: yamlio.Document, span: yamlio.Span) -> tuple[str, ...]:
    """The variable names written in ``doc``'s text between the places of ``span``."""
    lines = doc.lines
    if not 1 <= span.line <= span.end_line <= len(lines):
        return ()
    if span.line == span.end_line:
        part = lines[span.line - 1][span.column - 1:span.end_column - 1]
    else:
        part = "\n".join([lines[span.line - 1][span.column - 1:],
                          *lines[span.line:span.end_line - 1],
                          lines[span.end_line - 1][:span.end_column - 1]])
    return tuple(dict.fromkeys(_NAME.findall(part)))


def _wrap_ports(
    cfg: dict[str, Any], doc: yamlio.Document, unset_by_path: dict[tuple[Any, ...], list[str]]
) -> None:
    for name, service in _services_with_ports(cfg):
        wrapped = []
        for i, item in enumerate(service["ports"]):
            path = ("services", name, "ports", i)
            variables: list[str] = []
            for p, names in unset_by_path.items():
                if p[: len(path)] == path:
                    variables.extend(n for n in names if n not in variables)
            raw: str | None = None
            if isinstance(item, dict) and isinstance(item.get("target"), str):
                # compose-go casts an interpolated target to an integer (strconv.Atoi)
                # before it merges, so "81" and 81 are the same entry to it.
                target = portspec.go_atoi(item["target"])
                if target is not None:
                    item = {**item, "target": target}
                else:
                    from portledger.compose.schema import as_written

                    sp, written, _ = doc.scalar_facts(path + ("target",))
                    raise ComposeError(  # the text as written: never a variable's value
                        doc.path,
                        sp.line,
                        sp.column,
                        f"invalid port: target {as_written(written)} is not an integer",
                        "PL205",
                    )
            span, text, plain = doc.scalar_facts(path)
            if not isinstance(item, dict):
                # The entry as written, before interpolation (the data may have been
                # interpolated in place); a value no scalar holds, as Python prints it.
                raw = text
                if raw is None and item is not None:
                    raw = str(item)
            read = _names_in(doc, span) if "$" in doc.text else ()
            origin = Origin(doc.path, span, raw, plain, tuple(variables), read)
            wrapped.append(RawPort(item, origin))
        service["ports"] = wrapped


# -- canonical ports and repeats ------------------------------------------------------


def _services_with_ports(model: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, service mapping) of each service of ``model`` that has a ``ports`` list."""
    services = model.get("services")
    if not isinstance(services, dict):
        return
    for name, service in services.items():
        if isinstance(service, dict) and isinstance(service.get("ports"), list):
            yield name, service


def _canonical_ports(dict_: dict[str, Any]) -> None:
    for _, service in _services_with_ports(dict_):
        result: list[Any] = []
        for item in service["ports"]:
            if isinstance(item, CanonicalPort):
                result.append(item)
                continue
            assert isinstance(item, RawPort)
            result.extend(_canonical(item))
        service["ports"] = result


def _port_error(origin: Origin, message: str, stricter: str | None = None, *,
                quotes_value: bool = True) -> ComposeError:
    if quotes_value and (origin.read or origin.variables):
        # What the entry became holds the variables' values (a secret would go to the log,
        # the annotations and SARIF): name the variables, quote only the file's own text.
        names = ", ".join(dict.fromkeys(origin.read + origin.variables))
        written = repr(origin.raw) if origin.raw is not None else "the entry"
        message = (f"{written}: with the value of {names} it is not a valid port entry "
                   "(values are not shown)")
    return ComposeError(
        origin.file, origin.span.line, origin.span.column, f"invalid port: {message}", "PL205",
        stricter,
    )


def _canonical(item: RawPort) -> list[CanonicalPort]:
    value = item.value
    origin = item.origin
    if isinstance(value, bool) or value is None:
        raise _port_error(origin, f"{value!r} is not a port entry")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise _port_error(origin, f"{value} is outside 1-65535")
        return [CanonicalPort({"target": value}, origin)]
    if isinstance(value, str):
        try:
            return [CanonicalPort(f, origin) for f in portspec.parse_short(value)]
        except portspec.PortSpecError as e:
            raise _port_error(origin, f"{value!r}: {e}") from None
    if isinstance(value, dict):
        return [CanonicalPort(value, origin)]  # checked in the final model: _check_long
    raise _port_error(origin, f"{value!r} is not a port number, string or mapping")


def _check_long(model: dict[str, Any]) -> None:
    """Check the long-syntax entries of the final model: Compose decodes them (and
    refuses a bad ``host_ip``) only once every file is merged, so an entry a later
    file resets is no error; short syntax it parses file by file."""
    for _, service in _services_with_ports(model):
        for entry in service["ports"]:
            if isinstance(entry, CanonicalPort) and entry.origin.raw is None:
                try:
                    portspec.check_long(entry.fields)
                except portspec.PortSpecError as e:
                    raise _port_error(entry.origin, str(e), e.stricter) from None


def _enforce_unicity(dict_: dict[str, Any]) -> None:
    for _, service in _services_with_ports(dict_):
        seq: list[Any] = []
        keys: dict[str, int] = {}
        for entry in service["ports"]:
            value = entry.fields if isinstance(entry, CanonicalPort) else entry.value
            key = portspec.unicity_key(value)
            if key is None:
                raise _port_error(entry.origin, "long-syntax port has no target",
                                  quotes_value=False)
            if key in keys:
                seq[keys[key]] = entry
            else:
                keys[key] = len(seq)
                seq.append(entry)
        service["ports"] = seq


def _unique_items(dict_: dict[str, Any]) -> None:
    # Compose validates the merged model after removing repeats by its own key; the
    # schema's uniqueItems then refuses entries its key tells apart but its validator
    # holds equal (published 8081 and "8081").
    for _, service in _services_with_ports(dict_):
        seen: set[Any] = set()
        for entry in service["ports"]:
            value = entry.fields if isinstance(entry, CanonicalPort) else entry.value
            key = portspec.loose(value)
            if key in seen:
                raise _port_error(entry.origin, "the same port entry is written twice",
                                  quotes_value=False)
            seen.add(key)
