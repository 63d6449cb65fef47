"""``portledger probe``: what is really running, against the ledger (rules PL401-PL406).

Three sources, each optional:

* **containers**, through the Docker Engine API (the ``docker`` SDK): one
  ``/containers/json`` call lists every running, paused or restarting container with its
  published ports
  (IPv4 and IPv6 entries, each port of a range on its own). The engine is the one
  ``DOCKER_HOST`` names, else the Docker CLI context ``DOCKER_CONTEXT`` (or the CLI's
  current context), else the local socket; one that is not on this host (``ssh://``,
  ``tcp://`` to another address) is refused, since its ports are not this host's.
* **listening sockets**, through ``psutil``: TCP sockets in LISTEN and bound UDP
  sockets, with the process that holds each when it is visible (another user's
  processes are visible only to root; then the finding says so rather than guess).
* **health endpoints**: for each ledger port with a ``health`` path whose service is
  running, ``GET http(s)://127.0.0.1:PORT/PATH`` (``[::1]`` for a port bound to ``::`` or
  ``::1`` alone).

A container is a ledger service by its ``com.docker.compose.service`` label or its
name, each matched against the service names and their ``compose`` aliases (and, for a
service with ``compose_project``, only in that project). A ``docker-proxy`` (or rootless
``rootlessport``) listener is the container that the engine says publishes that port; a
process in a container's cgroup is that container (``network_mode: host``). A host
process is its service when the service's ``process:`` matcher matches it, or, with
none, when its name (less a daemon's ``-server`` or ``d`` ending) is the service's name
or one of its aliases.

Findings point at the ledger, the reference: the allocation's ``port:`` line (for PL403,
the container's ledger service, or the ``services:`` key), and their message names the
container or the process, and ends with what to do. Network calls go only to the local
engine socket and to loopback, each bounded by ``--timeout`` and all of them by the one
``--deadline`` (inspections and health requests run in parallel; what is not done by
then is a PL406 notice). ``docker`` and ``psutil`` are imported only
here, inside the functions that use them (``pip install 'portledger[probe]'``).

Rooms: :mod:`.model` (what was seen), :mod:`.engine` and :mod:`.sockets` (looking),
:mod:`.attribution` (who is who), :mod:`.rules` (PL401-PL403, PL405, PL406),
:mod:`.health` (PL404); this module runs them. The probe never imports
:mod:`portledger.git`, nor the command line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from portledger.errors import FatalError
from portledger.findings import Finding
from portledger.ledger.model import Allocation, Ledger
from portledger.probe.attribution import Attribution, _is_own, holders
from portledger.probe.engine import is_local_engine, list_containers, random_host_ports
from portledger.probe.health import HealthResult, check_health, health_targets, http_status
from portledger.probe.model import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    PROBE_EXTRA_HINT,
    Container,
    ContainerPort,
    EngineUnavailable,
    Holder,
    Listener,
    Observation,
)
from portledger.probe.rules import (
    PROBE_RULES,
    check_containers,
    check_sockets,
    deadline_notice,
)
from portledger.probe.sockets import list_listeners

__all__ = [
    "PROBE_RULES", "Availability", "Container", "ContainerPort", "EngineUnavailable",
    "HealthResult", "Holder",
    "Listener", "Observation", "availability", "check", "check_containers", "check_sockets",
    "holders_at", "http_status", "is_local_engine", "is_owner", "observe",
]


def observe(ledger: Ledger, *, docker: bool | None, sockets: bool, timeout: float,
            environ: Mapping[str, str] | None = None,
            deadline: float | None = None) -> Observation:
    """Look at the engine and the sockets.

    ``docker``: True, an engine must answer (else :class:`EngineUnavailable`); None, look
    when one answers (a note says when none does); False, do not look. ``deadline``: the
    monotonic time by which the whole probe ends (None: ``DEFAULT_DEADLINE`` from now);
    every engine call is bounded by it as well as by ``timeout``.
    """
    env = os.environ if environ is None else environ
    deadline = time.monotonic() + DEFAULT_DEADLINE if deadline is None else deadline
    obs = Observation(deadline=deadline)
    if docker is not False:
        try:
            _require("docker", "containers", optional=docker is None)
            call = max(0.05, min(timeout, deadline - time.monotonic()))
            containers, api = list_containers(env, call)
        except _Skipped as e:
            obs.notes.append(str(e))
        except EngineUnavailable as e:
            if docker:
                raise
            obs.notes.append(f"{e}; containers not checked (--docker requires an engine, "
                             "--no-docker skips it)")
        else:
            obs.containers = containers
            try:
                obs.random_ports, obs.uninspected, obs.failed_inspections = (
                    random_host_ports(env, api, ledger, containers, timeout, deadline))
            finally:
                api.close()
    if sockets:
        _require("psutil", "listening sockets", optional=False)
        obs.listeners = list_listeners(obs.notes)
    return obs


class _Skipped(Exception):
    """An optional source that cannot be looked at; its message is the note."""


def _require(module: str, what: str, *, optional: bool) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return
    message = f"the {module} package is not installed ({PROBE_EXTRA_HINT})"
    if optional:
        raise _Skipped(f"{message}; {what} not checked")
    raise FatalError(f"{message}; it is needed for {what}")


def check(ledger: Ledger, obs: Observation, *, health: bool = True,
          timeout: float = DEFAULT_TIMEOUT,
          health_log: list[HealthResult] | None = None) -> list[Finding]:
    """Every probe rule over what was observed: sorted findings. Health requests end by
    the observation's deadline; what the deadline left undone is a notice finding.
    ``health_log`` receives each health request's outcome."""
    findings: list[Finding] = []
    if obs.containers is not None:
        findings += check_containers(ledger, obs.containers, obs.random_ports)
        findings += [deadline_notice(ledger, f"container {c.name} was not inspected "
                                     "within the probe's deadline",
                                     "whether Docker chose its unrecorded ports itself is "
                                     "unknown (its PL403 stays an error)")
                     for c in obs.uninspected]
        findings += [deadline_notice(ledger, f"container {c.name} could not be inspected "
                                     f"({why})", "whether Docker chose its unrecorded ports "
                                     "itself is unknown (its PL403 stays an error)")
                     for c, why in obs.failed_inspections]
    if obs.listeners is not None:
        findings += check_sockets(ledger, obs)
    if health:
        targets, notices = health_targets(ledger, obs)
        findings += notices
        deadline = obs.deadline if obs.deadline is not None else (
            time.monotonic() + DEFAULT_DEADLINE)
        findings += check_health(ledger, targets, timeout, deadline, health_log)
    return sorted(set(findings))


# --- who --live -------------------------------------------------------------------------


def holders_at(obs: Observation, port: int, protocol: str) -> list[Holder]:
    """Everything holding ``port``/``protocol`` on this host, ledger or not: one
    :class:`Holder` per container and per process, with every address it holds it on."""
    attribution = Attribution(obs.containers or ())
    found: dict[tuple[str, object], Holder] = {}

    def add(h: Holder) -> None:
        key: tuple[str, object] = (("container", h.container.id) if h.container else
                                   (h.kind, h.listener.pid if h.listener else None))
        was = found.get(key)
        if was is None:
            found[key] = h
        elif not set(h.addresses) <= set(was.addresses):
            found[key] = Holder(was.kind, was.container, was.listener or h.listener,
                                tuple(dict.fromkeys(was.addresses + h.addresses)), was.ports)

    for listener in obs.listeners or ():
        if listener.port == port and listener.protocol == protocol:
            add(attribution.holder(listener))
    for c in obs.containers or ():
        for p in c.ports:
            if p.host_port == port and p.protocol == protocol:
                add(Holder("container", container=c, addresses=(p.host_ip,), ports=(port,)))
    return list(found.values())


def is_owner(ledger: Ledger, alloc: Allocation, holder: Holder) -> bool:
    """Whether ``holder`` is ``alloc``'s own service (its container or process)."""
    return _is_own(ledger, alloc, holder)


# --- --available ----------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    allocation: Allocation
    taken_by: tuple[Holder, ...]
    status: str
    """``free``; ``own`` (held by the service itself); ``taken``; ``unknown`` (nothing
    listens, but the engine was asked and did not answer)."""

    def as_dict(self) -> dict[str, Any]:
        a = self.allocation
        return {"service": a.service, "name": a.name, "port": a.label,
                "protocol": a.protocol, "host_ip": a.host_ip, "status": self.status,
                "free": self.status == "free",
                "taken_by": [h.as_dict() for h in self.taken_by]}


def availability(ledger: Ledger, services: Sequence[str], obs: Observation, *,
                 checked: bool = True) -> list[Availability]:
    """For each port of ``services``: who holds it now, and whether that is the service
    itself. ``checked``: containers were to be looked at (not ``--no-docker``), so a
    port nobody holds is ``unknown`` when no engine answered."""
    held = holders(ledger, obs)
    out = []
    for name in services:
        for a in ledger.services[name].ports:
            by = tuple(held.get(id(a), ()))
            if not by:
                status = "unknown" if checked and obs.containers is None else "free"
            elif all(_is_own(ledger, a, h) for h in by):
                status = "own"
            else:
                status = "taken"
            out.append(Availability(a, by, status))
    return out
