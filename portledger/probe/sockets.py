"""Listening sockets through ``psutil`` (imported only here), with the process that holds each."""

from __future__ import annotations

import os
import re
from typing import Any

from portledger.probe.model import Listener


def list_listeners(notes: list[str]) -> list[Listener]:
    """Listening TCP sockets and bound UDP sockets on this host, with their processes."""
    import socket

    import psutil  # type: ignore[import-untyped, unused-ignore]

    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        notes.append("listening sockets cannot be listed without root on this system; "
                     "run as root, or pass --no-sockets")
        return []
    names: dict[int, tuple[str | None, tuple[str, ...], str | None, str | None]] = {}
    listeners: set[Listener] = set()
    hidden = 0
    for c in conns:
        if c.type == socket.SOCK_STREAM:
            if c.status != psutil.CONN_LISTEN:
                continue
            protocol = "tcp"
        elif c.type == socket.SOCK_DGRAM:
            if c.raddr:
                continue
            protocol = "udp"
        else:
            continue
        if not c.laddr:
            continue
        pid = c.pid
        process: str | None = None
        cmdline: tuple[str, ...] = ()
        user = container = None
        if pid is not None:
            if pid not in names:
                names[pid] = _process(psutil, pid)
            process, cmdline, user, container = names[pid]
        else:
            hidden += 1
        listeners.add(Listener(c.laddr.ip, c.laddr.port, protocol, pid, process, cmdline,
                               user, container))
    if hidden and os.name == "posix" and os.geteuid() != 0:
        notes.append(f"{hidden} listening socket{'s' * (hidden != 1)} belong to processes not "
                     "visible without root; run as root to name them")
    return sorted(listeners, key=lambda x: (x.port, x.protocol, x.address, x.pid or 0))


def _process(psutil: Any, pid: int,
             ) -> tuple[str | None, tuple[str, ...], str | None, str | None]:
    """Name, command line, user and container id (from its cgroup) of a process."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = proc.name()
            try:
                cmdline = tuple(proc.cmdline())
            except psutil.AccessDenied:
                cmdline = ()
            try:
                user = proc.username()
            except (psutil.AccessDenied, KeyError):
                user = None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None, (), None, None
    return name, cmdline, user, container_of(pid)


_CONTAINER_ID = re.compile(r"(?:docker[-/]|/)([0-9a-f]{64})(?:\.scope)?(?:/|$)")


def container_of(pid: int, proc: str = "/proc") -> str | None:
    """The container id a process's cgroup names (``/proc/PID/cgroup``: cgroup v2
    ``0::/system.slice/docker-ID.scope`` or ``/docker/ID``, cgroup v1 ``…:/docker/ID``),
    or None for a process of the host. A docker-proxy runs in the host's cgroup: it is
    named by what the engine publishes instead."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    for line in text.splitlines():
        m = _CONTAINER_ID.search(line.rsplit(":", 1)[-1])
        if m:
            return m.group(1)
    return None
