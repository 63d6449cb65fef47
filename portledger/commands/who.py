"""``portledger who PORT``: who owns a port, and what range and reservations it is in."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from portledger.commands import add_mapping, mapping_path
from portledger.errors import FatalError
from portledger.ledger import model as ledger_mod
from portledger.ledger import wellknown
from portledger.paths import display_path

if TYPE_CHECKING:
    from portledger.check.taken import Taken


def parse_port(text: str) -> tuple[int, str]:
    """``8000``, ``8000/udp`` -> (port, protocol); a usage error otherwise."""
    number, slash, proto = text.partition("/")
    proto = proto.lower() if slash else "tcp"
    # isdigit() alone would take other scripts' digits ("٣٠٠٠") as a port.
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= 65535:
        raise FatalError(f"who: {text!r} is not a port number from 1 to 65535")
    if proto not in ("tcp", "udp", "sctp"):
        raise FatalError(f"who: protocol {proto!r} is not tcp, udp or sctp")
    return int(number), proto


def describe(ledger: ledger_mod.Ledger, port: int, protocol: str,
             taken: Taken | None = None, host: str | None = None) -> dict[str, Any]:
    """What ``who`` says of a port; ``taken`` adds the compose projects publishing it;
    with ``host``, what holds it on that host (see ``hosts`` in the ledger)."""
    from portledger.ledger.hosts import on

    owners = [
        {
            "service": a.service,
            "name": a.name,
            "port": a.label,
            "protocol": a.protocol,
            "host_ip": a.host_ip,
            "status": ledger.services[a.service].status,
            "line": a.span.line,
            **({"hosts": sorted(placed) if (placed := ledger.placement(a)) else None}
               if ledger.hosts else {}),
        }
        for a in ledger.allocations()
        if a.start <= port <= a.end and a.protocol == protocol
        and (host is None or on(ledger.placement(a), host))
    ]
    publishers = taken.publishers(port, protocol, host) if taken is not None else []
    r = ledger.range_of(port)
    registered = wellknown.registration(port, protocol, ledger.well_known)
    lo, hi = ledger.ephemeral
    return {
        "port": port,
        "protocol": protocol,
        **({"host": host} if ledger.hosts else {}),
        "owners": owners,
        "range": (
            {"name": r.name, "start": r.start, "end": r.end, "reserved": r.reserved}
            if r else None
        ),
        "system": port < 1024,
        "ephemeral": lo <= port <= hi,
        "well_known": registered[0] if registered else None,
        "well_known_source": wellknown.source_name(ledger.well_known) if registered else None,
        "published": [p.as_dict() for p in publishers],
        **_allocatable(ledger, port, protocol, r.name if r else None, bool(owners),
                       taken.ports(host) if taken is not None else frozenset(), host),
    }


def _allocatable(ledger: ledger_mod.Ledger, port: int, protocol: str, category: str | None,
                 owned: bool, published: Collection[tuple[str, int]] = frozenset(),
                 host: str | None = None) -> dict[str, Any]:
    """Whether ``allocate`` would hand out this port, and if not, why."""
    from portledger.ledger.allocation import refusal

    if owned:
        return {"allocatable": False, "why_not": "allocated"}
    if category is None:
        return {"allocatable": False, "why_not": "no range holds it"}
    why = refusal(ledger, port, protocol, [], category, published, host)
    return {"allocatable": why is None, "why_not": why}




def add_arguments(who: argparse.ArgumentParser) -> None:
    add_mapping(who)
    who.add_argument("port", metavar="PORT", help="a port number, optionally with /udp or /sctp")
    who.add_argument("--format", choices=("text", "json"), default="text")
    who.add_argument("--host", metavar="H",
                     help="what holds the port on host H of the ledger's hosts (default: "
                     "every host, one line each)")
    who.add_argument("--live", action="store_true",
                     help="also say what holds the port on this host now (container or "
                     "process) and whether it is the owner (needs portledger[probe])")


def run(args: argparse.Namespace) -> int:
    return main(mapping_path(args), args.port, args.format, sys.stdout,
                live=getattr(args, "live", False), host=getattr(args, "host", None))


def main(mapping: Path, port_text: str, fmt: str, out: TextIO, live: bool = False,
         host: str | None = None) -> int:
    from portledger.check import taken as taken_mod

    port, protocol = parse_port(port_text)
    taken = taken_mod.of(mapping)
    ledger = taken.ledger
    ledger.hosts.require(host, "who", ledger.path)
    info = describe(ledger, port, protocol, taken, host)
    live_lines: list[str] = []
    if live:
        from portledger.commands.probe import live as live_state

        owners = [a for a in ledger.allocations()
                  if a.start <= port <= a.end and a.protocol == protocol
                  and a in ledger.holders_on(protocol, port, host)]
        info["live"], live_lines = live_state(ledger, port, protocol, owners)
    if fmt == "json":
        json.dump(info, out, indent=2)
        out.write("\n")
    else:
        where = display_path(mapping)
        if ledger.hosts and host is None:
            for h in ledger.hosts.names():
                _holders(describe(ledger, port, protocol, taken, h), f" on {h}", where, out)
        else:
            _holders(info, f" on {host}" if host else "", where, out)
        r = info["range"]
        if r:
            reserved = ", reserved" if r["reserved"] else ""
            out.write(f"  range: {r['name']} ({r['start']}-{r['end']}{reserved})\n")
        else:
            out.write("  range: none\n")
        if info["system"]:
            out.write("  system port (below 1024)\n")
        if info["ephemeral"]:
            out.write(f"  in the ephemeral range {ledger.ephemeral[0]}-{ledger.ephemeral[1]}\n")
        if info["well_known"]:
            out.write(f"  registered to {info['well_known']} ({info['well_known_source']})\n")
        for p in info["published"]:
            if p["recorded"]:
                on = f", on {', '.join(p['hosts'])}" if p.get("hosts") else ""
                out.write(f"  published by {p['service']} (compose project {p['project']}"
                          f"{on}) {p['file']}:{p['line']}\n")
        if not info["owners"]:
            if info["allocatable"]:
                out.write(f"  allocate would give it (category {r['name']})\n")
            else:
                out.write(f"  allocate would not give it: {info['why_not']}\n")
        out.writelines(line + "\n" for line in live_lines)
    return 0 if info["owners"] or info["published"] else 1


def _holders(info: dict[str, Any], on: str, where: str, out: TextIO) -> None:
    """The lines of the port's owners and unrecorded publishers (``on``: `` on HOST``)."""
    head = f"{info['port']}/{info['protocol']}{on}"
    for o in info["owners"]:
        addr = f" on {o['host_ip']}" if o["host_ip"] else ""
        out.write(f"{head}: {o['service']}.{o['name']} ({o['port']}{addr}, "
                  f"{o['status']}) {where}:{o['line']}\n")
    for p in info["published"]:
        if p["recorded"]:
            continue
        addr = f" on {p['host_ip']}" if p["host_ip"] else ""
        out.write(f"{head}: published by {p['service']}{addr} (compose "
                  f"project {p['project']}), not in the ledger {p['file']}:{p['line']}\n")
    if not info["owners"] and not info["published"]:
        out.write(f"{head}: free in {where}\n")
