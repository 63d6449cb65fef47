"""The live state ``portledger serve`` keeps: the last probe's result, per ledger port.

A daemon thread runs the whole probe (the deadline-bounded one of ``portledger probe``)
every interval, reading the ledger afresh each time (so a new revision is seen), and
swaps in a :class:`Snapshot`. Readers (the metrics, the API, the page) take the current
snapshot and never wait for a probe.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portledger.errors import FatalError
from portledger.findings import Finding, Severity


@dataclass
class PortState:
    """One ledger port (allocation) and what holds it now."""

    service: str
    name: str
    port: str
    start: int
    end: int
    protocol: str
    host_ip: str | None
    category: str
    status: str
    health: str | None
    line: int
    up: bool = False
    owner_ok: bool = True
    holders: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    health_ok: bool | None = None
    """None: not asked (not running, no path, or the deadline passed)."""
    health_status: int | None = None
    health_reason: str | None = None
    health_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "name": self.name, "port": self.port,
            "start": self.start, "end": self.end, "protocol": self.protocol,
            "host_ip": self.host_ip, "category": self.category, "status": self.status,
            "health_path": self.health, "line": self.line,
            "live": {"up": self.up, "owner_ok": self.owner_ok, "holders": self.holders,
                     "findings": self.findings,
                     "health": None if self.health_ok is None and self.health_reason is None
                     else {"ok": self.health_ok, "status": self.health_status,
                           "reason": self.health_reason, "seconds": self.health_seconds}},
        }


@dataclass
class Snapshot:
    """One probe's result, as the server shows it."""

    ledger_path: str
    revision: str
    """The first 12 hex digits of the SHA-256 of the ledger's bytes."""
    host: str
    started: float
    """Wall-clock time (seconds since the epoch) the probe started."""
    duration: float
    ok: bool
    error: str | None
    ports: list[PortState]
    findings: list[Finding]
    notes: list[str]
    containers_checked: bool
    ledger: Any = None
    """The :class:`~portledger.ledger.model.Ledger` the probe read (None after an error)."""

    def summary(self) -> dict[str, Any]:
        return {"ledger": self.ledger_path, "revision": self.revision, "host": self.host,
                "probed_at": self.started, "duration_seconds": round(self.duration, 4),
                "ok": self.ok, "error": self.error, "notes": self.notes,
                "containers_checked": self.containers_checked,
                "findings": {s.value: sum(f.severity is s for f in self.findings)
                             for s in Severity}}


def revision_of(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "unreadable"


def probe_once(mapping: Path, host: str, *, timeout: float, deadline: float,
               environ: Mapping[str, str] | None = None,
               ledger_host: str | None = None) -> Snapshot:
    """Run the whole probe once; never raises for what the probe reports (an engine
    that does not answer is a note, a bad ledger is the snapshot's error). With
    ``ledger_host`` (else the ledger's host named as this machine, if any), against
    that host's allocations only (``hosts`` in the ledger)."""
    from portledger.ledger.model import load
    from portledger.paths import display_path
    from portledger.probe import check, holders, is_owner, observe
    from portledger.probe.health import HealthResult

    started_wall, started = time.time(), time.monotonic()
    revision = revision_of(mapping)
    shown = display_path(mapping)
    try:
        ledger, load_findings = load(shown)
        if ledger is None:
            first = load_findings[0] if load_findings else None
            where = (f"{first.file}:{first.line}:{first.column}: {first.message}"
                     if first else "cannot be read")
            raise FatalError(f"the ledger {where}")
        on = ledger_host or ledger.hosts.of_machine(socket.gethostname())
        if on is not None:
            ledger.hosts.require(on, "serve", ledger.path)
            ledger = ledger.on_host(on)
        obs = observe(ledger, docker=None, sockets=True, timeout=timeout,
                      environ=environ, deadline=started + deadline)
        log: list[HealthResult] = []
        findings = check(ledger, obs, timeout=timeout, health_log=log)
    except (FatalError, OSError) as e:
        return Snapshot(shown, revision, host, started_wall, time.monotonic() - started,
                        False, str(e), [], [], [], False)
    held = holders(ledger, obs)
    health = {id(r.target.allocation): r for r in log}
    ports = []
    for a in ledger.allocations():
        mine = held.get(id(a), [])
        owners = [is_owner(ledger, a, h) for h in mine]
        state = PortState(
            a.service, a.name, a.label, a.start, a.end, a.protocol, a.host_ip,
            ledger.services[a.service].category, ledger.services[a.service].status,
            a.health, a.span.line, up=bool(mine), owner_ok=all(owners),
            holders=[{**h.as_dict(), "owner": own} for h, own in zip(mine, owners,
                                                                       strict=True)],
            findings=[{"code": f.code, "rule": f.rule, "severity": f.severity.value,
                       "message": f.message} for f in findings
                      if f.service == a.service and f.port is not None
                      and a.start <= f.port <= a.end and f.protocol == a.protocol])
        r = health.get(id(a))
        if r is not None:
            state.health_ok, state.health_status = r.ok, r.status
            state.health_reason = r.reason
            state.health_seconds = None if r.seconds is None else round(r.seconds, 4)
        ports.append(state)
    return Snapshot(shown, revision, host, started_wall, time.monotonic() - started, True,
                    None, ports, findings, list(obs.notes), obs.containers is not None,
                    ledger)


class Monitor:
    """Probes every ``interval`` seconds in a daemon thread; :attr:`snapshot` is the last
    result, :attr:`last_success` the wall-clock time of the last probe that ran."""

    def __init__(self, mapping: Path, host: str, *, interval: float, timeout: float,
                 deadline: float, ledger_host: str | None = None) -> None:
        self.mapping, self.host, self.ledger_host = mapping, host, ledger_host
        self.interval, self.timeout, self.deadline = interval, timeout, deadline
        self.snapshot: Snapshot | None = None
        self.last_success: float | None = None
        self.runs = {"ok": 0, "error": 0}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def probe_now(self) -> Snapshot:
        """One probe, its snapshot made the current one."""
        snap = probe_once(self.mapping, self.host, timeout=self.timeout,
                          deadline=self.deadline, ledger_host=self.ledger_host)
        with self._lock:
            self.snapshot = snap
            self.runs["ok" if snap.ok else "error"] += 1
            if snap.ok:
                self.last_success = snap.started + snap.duration
        return snap

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="portledger-serve-probe")
        self._thread.start()

    def refresh(self) -> None:
        """Probe again soon (after a write to the ledger)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.probe_now()
            except Exception as e:  # noqa: BLE001 - a probe bug must not end the server
                with self._lock:
                    self.runs["error"] += 1
                    if self.snapshot is not None:
                        self.snapshot.ok, self.snapshot.error = False, f"internal error: {e}"
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - began)))
            self._wake.clear()
