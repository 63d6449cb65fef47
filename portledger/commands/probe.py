"""``portledger probe``: running containers, listening sockets and health endpoints
against the ledger (needs ``portledger[probe]``)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from portledger.commands import mapping_path, rule_docs
from portledger.errors import FatalError
from portledger.findings import Severity
from portledger.probe.model import DEFAULT_DEADLINE, DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from portledger.ledger.model import Allocation, Ledger
    from portledger.probe import Availability

DESCRIPTION = ("Check what is really running on this host against the ledger: containers "
               "(PL402, PL403), listening sockets (PL401), health (PL404).")


def _formats() -> tuple[str, ...]:
    from portledger.report import reporters

    return tuple(reporters.FORMATS)


def seconds(option: str) -> Callable[[str], float]:
    """An argparse type: a positive, finite number of seconds, optionally with a unit
    (``2``, ``2.5s``, ``500ms``, ``1m``); ``inf`` and ``nan`` are usage errors, not a probe
    that never ends."""

    def parse(text: str) -> float:
        number, scale = text.strip(), 1.0
        for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
            if number.endswith(unit) and number[:-len(unit)][-1:].isdigit():
                number, scale = number[:-len(unit)], factor
                break
        try:
            value = float(number) * scale
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a positive, finite number of seconds")
        return value

    parse.__name__ = option
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mapping", metavar="FILE",
                   help="the ledger (default: port-mapping.yml in this folder or the nearest "
                   "above)")
    p.add_argument("--docker", action=argparse.BooleanOptionalAction, default=None,
                   help="check running containers (default: when an engine answers; with "
                   "--docker, no engine is exit 2)")
    p.add_argument("--sockets", action=argparse.BooleanOptionalAction, default=True,
                   help="check listening sockets (default: on)")
    p.add_argument("--health", action=argparse.BooleanOptionalAction, default=True,
                   help="ask running services' health endpoints (default: on)")
    p.add_argument("--available", nargs="+", metavar="SERVICE",
                   help="say which ports of these ledger services are taken, and by what "
                   "(exit 1 when any is)")
    p.add_argument("--timeout", type=seconds("--timeout"), default=DEFAULT_TIMEOUT,
                   metavar="SECONDS",
                   help=f"longest wait of each engine call and health request "
                   f"(default: {DEFAULT_TIMEOUT:g})")
    p.add_argument("--deadline", type=seconds("--deadline"), default=DEFAULT_DEADLINE,
                   metavar="SECONDS",
                   help="the whole probe ends by then: inspections and health requests run "
                   "in parallel, and what is not done in time is a PL406 notice "
                   f"(default: {DEFAULT_DEADLINE:g})")
    p.add_argument("--host", metavar="H",
                   help="check this machine against host H of the ledger's hosts (default: "
                   "the host named as this machine is, else every allocation)")
    default = "github" if (os.environ.get("GITHUB_ACTIONS") == "true"
                           and "github" in _formats()) else "text"
    p.add_argument("--format", choices=_formats(), default=default)


def run(args: argparse.Namespace, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    """``portledger probe``: 0 clean, 1 findings at error severity (or, with
    ``--available``, a port taken). Raises :class:`FatalError` (exit 2) for usage errors
    and, when ``--docker`` was asked, for an engine that does not answer."""
    import difflib

    from portledger.ledger.model import load
    from portledger.paths import display_path
    from portledger.probe import availability, check, observe
    from portledger.probe.attribution import bad_patterns
    from portledger.report import reporters

    out = out or sys.stdout
    err = err or sys.stderr
    deadline = time.monotonic() + args.deadline
    if args.available and args.format not in ("text", "json"):
        raise FatalError(f"probe: --available writes text or json, not "
                         f"--format {args.format} (a format for findings: run the probe "
                         "without --available)")
    if args.available and args.docker is False and not args.sockets:
        raise FatalError("probe: --available needs --docker or --sockets to look")
    ledger, load_findings = load(display_path(mapping_path(args)))
    if ledger is None:
        reporters.report(args.format, sorted(load_findings), 1, out,
                      rules=rule_docs(args.format))
        return 1
    bad = bad_patterns(ledger)
    if bad:
        raise FatalError(bad[0])
    whole = ledger
    ledger, host = this_host(ledger, getattr(args, "host", None), "probe")
    if args.available:
        for name in args.available:
            if name not in ledger.services:
                hint = difflib.get_close_matches(name, list(ledger.services), n=1)
                did = f"; did you mean {hint[0]!r}?" if hint else ""
                raise FatalError(f"probe: --available: {name!r} is not a service "
                                 f"in {ledger.path}{did}")
            if whole.services[name].ports and not ledger.services[name].ports:
                err.write(f"portledger: note: {name} holds no port on host {host}\n")
        obs = observe(ledger, docker=args.docker, sockets=args.sockets,
                      timeout=args.timeout, deadline=deadline)
        for note in obs.notes:
            err.write(f"portledger: note: {note}\n")
        rows = availability(ledger, args.available, obs, checked=args.docker is not False)
        _report_availability(rows, args.format, out)
        return 1 if any(r.status not in ("free", "own") for r in rows) else 0
    obs = observe(ledger, docker=args.docker, sockets=args.sockets, timeout=args.timeout,
                  deadline=deadline)
    for note in obs.notes:
        err.write(f"portledger: note: {note}\n")
    findings = check(ledger, obs, health=args.health, timeout=args.timeout)
    findings = sorted(set(load_findings) | set(findings))
    reporters.report(args.format, findings, 1, out,
                      rules=rule_docs(args.format))
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0


def this_host(ledger: Ledger, host: str | None, command: str) -> tuple[Ledger, str | None]:
    """The ledger as host ``host`` sees it (``--host``), and that host; without one, as
    the host named like this machine (its hostname, or the part before the first dot)
    sees it; else the ledger whole (one port space, or no host of that name)."""
    import socket

    if host is None and ledger.hosts:
        host = ledger.hosts.of_machine(socket.gethostname())
    if host is None:
        return ledger, None
    ledger.hosts.require(host, command, ledger.path)
    return ledger.on_host(host), host


def _report_availability(rows: Sequence[Availability], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump({"available": [r.as_dict() for r in rows]}, out, indent=2)
        out.write("\n")
        return
    for r in rows:
        a = r.allocation
        where = f"{a.label}/{a.protocol}" + (f" on {a.host_ip}" if a.host_ip else "")
        by = "; ".join(f"{h.label} on {h.on}" for h in r.taken_by)
        if r.status == "free":
            out.write(f"{a.service}.{a.name} {where}: free\n")
        elif r.status == "unknown":
            out.write(f"{a.service}.{a.name} {where}: unknown: no listener, but containers "
                      "were not checked (no engine answered)\n")
        elif r.status == "own":
            out.write(f"{a.service}.{a.name} {where}: already held by {a.service} "
                      f"itself ({by})\n")
        else:
            out.write(f"{a.service}.{a.name} {where}: taken by {by}\n")


# --- who --live: what holds one port now -------------------------------------------------


def live(ledger: Ledger, port: int, protocol: str, owners: Sequence[Allocation], *,
         timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE,
         ) -> tuple[dict[str, Any], list[str]]:
    """``who PORT --live``: what holds ``port`` on this host now and whether it is the
    ledger's owner; the JSON object and the text lines (``  live: ...``)."""
    from portledger.probe import holders_at, is_owner, observe

    obs = observe(ledger, docker=None, sockets=True, timeout=timeout,
                  deadline=time.monotonic() + deadline)
    held = holders_at(obs, port, protocol)
    owner_names = ", ".join(sorted({a.service for a in owners}))
    rows, lines = [], [f"  note: {note}" for note in obs.notes]
    for h in held:
        own = [a for a in owners if is_owner(ledger, a, h)]
        rows.append({**h.as_dict(), "owner": bool(own)})
        if own:
            verdict = f"the owner, {own[0].service}"
        elif owners:
            verdict = f"not the owner ({owner_names}); to free it: {h.action(port)}"
        else:
            verdict = f"not in the ledger; to free it: {h.action(port)}"
        lines.append(f"  live: {h.detail} on {h.on}: {verdict}")
    if not held:
        unchecked = " (containers not checked: no engine answered)" if (
            obs.containers is None) else ""
        lines.append(f"  live: nothing holds it on this host{unchecked}")
    owner_ok = (all(r["owner"] for r in rows) if rows else None) if owners else None
    return ({"holders": rows, "owner_ok": owner_ok, "containers_checked":
             obs.containers is not None, "notes": obs.notes}, lines)
