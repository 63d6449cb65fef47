"""``portledger allocate SERVICE --category C``: the next free port(s) for a service;
``--write`` adds them to the ledger through the fixes' writer."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from portledger.commands import add_mapping, mapping_path
from portledger.errors import FatalError

if TYPE_CHECKING:
    from portledger.ledger.model import Ledger


def add_arguments(allocate: argparse.ArgumentParser) -> None:
    add_mapping(allocate)
    allocate.add_argument("service", metavar="SERVICE")
    allocate.add_argument("--category", required=True, metavar="C",
                          help="the range to allocate in (a key of the ledger's ranges)")
    allocate.add_argument("--name", default="http", metavar="N",
                          help="the port's name (default: http; with --count, N-1, N-2, ...)")
    allocate.add_argument("--count", type=int, default=1, metavar="K",
                          help="how many ports, as one contiguous block (default: 1)")
    allocate.add_argument("--protocol", choices=("tcp", "udp", "sctp"), default="tcp")
    allocate.add_argument("--target", type=int, metavar="PORT",
                          help="the container port to record with a single port")
    allocate.add_argument("--host", metavar="H",
                          help="ports free on host H of the ledger's hosts, recorded as "
                          "limited to it (hosts: [H])")
    allocate.add_argument("--write", action="store_true",
                          help="add the ports to the ledger (comments and formatting kept)")
    allocate.add_argument("--format", choices=("text", "json"), default="text")
    allocate.add_argument("--force", action="store_true",
                          help="with --write, write a read-only ledger too (its mode is kept)")


def _check_names(args: argparse.Namespace) -> None:
    """Refuse (exit 2, before anything is written) what the ledger's schema would refuse:
    names its ``name`` pattern does not match, a target that is not a port."""
    import re

    from portledger.ledger.model import schema_path

    pattern = json.loads(schema_path().read_text(encoding="utf-8"))["$defs"]["name"]["pattern"]
    for what, value in (("service name", args.service), ("--name", args.name)):
        if not re.fullmatch(pattern, value):
            raise FatalError(f"allocate: {what} {value!r} is not a ledger name (lower-case "
                             "letters, digits, '-', '_' and '.', starting with a letter or digit)")
    if args.target is not None and not 1 <= args.target <= 65535:
        raise FatalError(f"allocate: --target {args.target} is not a port (1-65535)")


def _check_host(ledger: Ledger, service: str, host: str | None) -> None:
    """Refuse (exit 2) a ``--host`` that is not one of the ledger's hosts, or one the
    service does not run on."""
    ledger.hosts.require(host, "allocate", ledger.path)
    if host is None:
        return
    if ":" in host:
        raise FatalError(f"allocate: --host {host}: a port is limited to a host of the "
                         f"ledger ({host.split(':', 1)[0]}), not one of its projects")
    runs = ledger.hosts.service(service)
    if runs is not None and host not in runs:
        raise FatalError(f"allocate: {service} does not run on {host} (hosts.{host}.services "
                         f"does not name it; it runs on {', '.join(sorted(runs))})")


def run(args: argparse.Namespace) -> int:
    """``portledger allocate``: print the ports; with ``--write``, add them to the ledger."""
    if args.count < 1:
        raise FatalError("allocate: --count must be 1 or more")
    _check_names(args)
    if args.write:
        # The ledger's lock from the read that picks the ports to the rename: two runs
        # at once get distinct ports and both services are kept.
        from portledger.fixes import ledger_lock

        with ledger_lock(mapping_path(args)):
            return _allocate(args)
    return _allocate(args)


def _allocate(args: argparse.Namespace) -> int:
    from portledger.check import taken as taken_mod
    from portledger.fixes import validate_written
    from portledger.fixes.edits import Change, apply_edits, unified_diff, write_atomically
    from portledger.fixes.planner import Planner
    from portledger.ledger.allocation import allocate

    # Not a port any compose project publishes (every profile), recorded or not.
    taken = taken_mod.of(mapping_path(args))
    ledger = taken.ledger
    host = getattr(args, "host", None)
    _check_host(ledger, args.service, host)
    pairs = allocate(ledger, args.service, args.category, name=args.name,
                     count=args.count, protocol=args.protocol, taken=taken.ports(host),
                     host=host)
    target = args.target if args.count == 1 else None
    if args.format == "json":
        json.dump({"service": args.service, "category": args.category,
                   **({"host": host} if host else {}),
                   "ports": [{"name": n, "port": p, "protocol": args.protocol}
                             for n, p in pairs]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        on = f" on {host}" if host else ""
        for n, p in pairs:
            sys.stdout.write(f"{args.service}.{n} {p}/{args.protocol}{on}\n")
    if not args.write:
        return 0
    planner = Planner(ledger, [])
    entries = [(n, p, target, args.protocol) for n, p in pairs]
    hosts = (host,) if host else ()
    if args.service in ledger.services:
        edit = planner.add_ports_edit(args.service, entries, hosts)
    else:
        edit = planner.add_service_with_ports_edit(args.service, args.category, entries, hosts)
    if edit is None:
        raise FatalError(
            f"allocate: cannot add to {ledger.path} safely (its services or ports are written "
            "in flow style); add the lines above by hand"
        )
    source = planner.source(ledger.path)
    if source.text != ledger.doc.text:
        raise FatalError(f"{ledger.path}: changed while it was read; not writing (run again)")
    text, _ = apply_edits(source, [edit])
    validate_written(ledger.path)(Change(source, text))
    write_atomically(source, text, ledger=ledger.path, force=args.force)
    if args.format == "text":
        sys.stdout.write(unified_diff(ledger.path, source.text, text))
    return 0
