"""``POST /api/v1/allocations``: the ports ``allocate`` would give, with the ledger's diff;
with ``--write``, added to the ledger under the lock ``allocate --write`` and ``--fix``
take (:func:`portledger.fixes.ledger_lock`), so concurrent requests never get one port.

Also what the API says of one port (``GET /api/v1/ports/{port}``): the ledger's owners,
its range, and whether ``allocate`` would give it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger.errors import FatalError
from portledger.serve.errors import HTTPError

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
"""The ledger schema's ``$defs.name`` pattern."""
PROTOCOLS = ("tcp", "udp", "sctp")


def parse_port(text: str) -> tuple[int, str]:
    """``8000``, ``8000/udp`` -> (port, protocol); a FatalError otherwise."""
    number, slash, proto = text.partition("/")
    proto = proto.lower() if slash else "tcp"
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= 65535:
        raise FatalError(f"{text!r} is not a port number from 1 to 65535")
    if proto not in PROTOCOLS:
        raise FatalError(f"protocol {proto!r} is not tcp, udp or sctp")
    return int(number), proto


def describe_port(ledger: Any, port: int, protocol: str) -> dict[str, Any]:
    from portledger.ledger import wellknown
    from portledger.ledger.allocation import refusal

    owners = [{"service": a.service, "name": a.name, "port": a.label, "protocol": a.protocol,
               "host_ip": a.host_ip, "status": ledger.services[a.service].status,
               "line": a.span.line}
              for a in ledger.allocations() if a.start <= port <= a.end
              and a.protocol == protocol]
    r = ledger.range_of(port)
    registered = wellknown.owner(port, protocol, ledger.well_known)
    why = ("allocated" if owners else "no range holds it" if r is None
           else refusal(ledger, port, protocol, [], r.name))
    return {"port": port, "protocol": protocol, "owners": owners,
            "range": ({"name": r.name, "start": r.start, "end": r.end,
                       "reserved": r.reserved} if r else None),
            "well_known": registered[0] if registered else None,
            "allocatable": why is None, "why_not": why}


@dataclass(frozen=True)
class Request:
    service: str
    category: str
    count: int = 1
    protocol: str = "tcp"
    name: str = "http"
    port: int | None = None
    """A port asked for by number (409 when it is taken)."""
    target: int | None = None
    host: str | None = None

    FIELDS = ("service", "category", "count", "protocol", "name", "port", "target", "host")

    @classmethod
    def parse(cls, body: Any) -> Request:
        """The request from its JSON body; 400 naming the field for anything else."""
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be a JSON object: {service, category, count, "
                            "protocol}", field=None)
        unknown = sorted(set(body) - set(cls.FIELDS))
        if unknown:
            raise HTTPError(400, f"unknown field {unknown[0]!r} (known: "
                            f"{', '.join(cls.FIELDS)})", field=unknown[0])
        for key in ("service", "category"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise HTTPError(400, f"{key}: a non-empty string is required", field=key)
        for key in ("service", "name"):
            value = body.get(key, "http")
            if not isinstance(value, str) or not _NAME.match(value):
                raise HTTPError(400, f"{key}: {value!r} is not a ledger name (lower-case "
                                "letters, digits, '-', '_' and '.', starting with a letter "
                                "or digit)", field=key)
        count = body.get("count", 1)
        if type(count) is not int or not 1 <= count <= 1024:
            raise HTTPError(400, f"count: {count!r} is not a whole number from 1 to 1024",
                            field="count")
        protocol = body.get("protocol", "tcp")
        if protocol not in PROTOCOLS:
            raise HTTPError(400, f"protocol: {protocol!r} is not tcp, udp or sctp",
                            field="protocol")
        for key in ("port", "target"):
            value = body.get(key)
            if value is not None and (type(value) is not int or not 1 <= value <= 65535):
                raise HTTPError(400, f"{key}: {value!r} is not a port (1-65535)", field=key)
        if body.get("port") is not None and count != 1:
            raise HTTPError(400, "port: a port asked for by number is one port (count 1)",
                            field="port")
        host = body.get("host")
        if host is not None and not isinstance(host, str):
            raise HTTPError(400, "host: a string is required", field="host")
        return cls(body["service"], body["category"], count, protocol,
                   body.get("name", "http"), body.get("port"), body.get("target"), host)


def allocate(mapping: Path, req: Request, snapshot: Any, *, write: bool) -> dict[str, Any]:
    """The proposal (ports and the ledger's unified diff); written when ``write``.

    A port is taken when the ledger allocates it, a compose project publishes it, or the
    last probe saw something holding it on this host."""
    if write:
        from portledger.fixes import ledger_lock

        try:
            with ledger_lock(mapping):
                return _allocate(mapping, req, snapshot, write=True)
        except FatalError as e:
            raise HTTPError(409 if "lock" in str(e) else 400, str(e)) from None
    return _allocate(mapping, req, snapshot, write=False)


def _allocate(mapping: Path, req: Request, snapshot: Any, *, write: bool) -> dict[str, Any]:
    from portledger.check import taken as taken_mod
    from portledger.fixes import validate_written
    from portledger.fixes.edits import Change, apply_edits, unified_diff, write_atomically
    from portledger.fixes.planner import Planner
    from portledger.ledger.allocation import allocate as pick
    from portledger.ledger.allocation import port_names, refusal

    try:
        taken = taken_mod.of(mapping)
    except FatalError as e:
        raise HTTPError(503, f"the ledger cannot be read: {e}") from None
    ledger = taken.ledger
    live = _live_taken(snapshot)
    busy = taken.ports() | set(live)
    if req.port is not None:
        owners = [a for a in ledger.holders(req.protocol, req.port)]
        if owners:
            a = owners[0]
            raise HTTPError(409, f"{req.port}/{req.protocol} is allocated to "
                            f"{a.service}.{a.name}", holder={"kind": "ledger",
                                                             "service": a.service,
                                                             "name": a.name})
        if (req.protocol, req.port) in live:
            raise HTTPError(409, f"{req.port}/{req.protocol} is held on this host by "
                            f"{live[(req.protocol, req.port)]['description']}",
                            holder=live[(req.protocol, req.port)])
        if (req.protocol, req.port) in busy:
            raise HTTPError(409, f"{req.port}/{req.protocol} is published by a compose "
                            "project", holder={"kind": "compose"})
        why = refusal(ledger, req.port, req.protocol, [req.service], req.category)
        if why is not None:
            raise HTTPError(409, f"{req.port}/{req.protocol}: {why}", holder=None)
        pairs = list(zip(port_names(req.name, 1), [req.port], strict=True))
    else:
        try:
            pairs = pick(ledger, req.service, req.category, name=req.name, count=req.count,
                         protocol=req.protocol, taken=busy)
        except FatalError as e:
            text = str(e).removeprefix("allocate: ")
            raise HTTPError(409 if text.startswith("no run of") else 400, text) from None
    target = req.target if req.count == 1 else None
    planner = Planner(ledger, [])
    entries = [(n, p, target, req.protocol) for n, p in pairs]
    if req.service in ledger.services:
        edit = planner.add_ports_edit(req.service, entries)
    else:
        edit = planner.add_service_with_ports_edit(req.service, req.category, entries)
    if edit is None:
        raise HTTPError(409, f"cannot add to {ledger.path} safely (its services or ports are "
                        "written in flow style); add the ports by hand")
    source = planner.source(ledger.path)
    text, _ = apply_edits(source, [edit])
    answer = {"service": req.service, "category": req.category,
              "ports": [{"name": n, "port": p, "protocol": req.protocol} for n, p in pairs],
              "diff": unified_diff(ledger.path, source.text, text), "written": False}
    if write:
        if source.text != ledger.doc.text:
            raise HTTPError(409, f"{ledger.path} changed while it was read; try again")
        try:
            validate_written(ledger.path)(Change(source, text))
            write_atomically(source, text, ledger=ledger.path)
        except FatalError as e:
            raise HTTPError(409, str(e)) from None
        answer["written"] = True
    return answer


def _live_taken(snapshot: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """(protocol, port) -> holder of every port the last probe saw held that the ledger
    allocates to nobody; ledger ports are the allocator's to know."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    if snapshot is None:
        return out
    for f in snapshot.findings:
        holder = dict(f.details).get("holder")
        if holder and f.port is not None and f.protocol and f.code in ("PL403", "PL405"):
            out[(f.protocol, f.port)] = holder
    return out
