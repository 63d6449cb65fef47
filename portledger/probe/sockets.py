"""Listening sockets through ``psutil`` (imported only here), with the process that holds each."""

from __future__ import annotations

import os
from typing import Any

from portledger.probe.model import PROXY_PROCESSES, Listener


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
    names: dict[int, tuple[str | None, tuple[str, ...]]] = {}
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
        if pid is not None:
            if pid not in names:
                names[pid] = _process(psutil, pid)
            process, cmdline = names[pid]
        else:
            hidden += 1
        listeners.add(Listener(c.laddr.ip, c.laddr.port, protocol, pid, process, cmdline))
    if hidden and os.name == "posix" and os.geteuid() != 0:
        notes.append(f"{hidden} listening socket{'s' * (hidden != 1)} belong to processes not "
                     "visible without root; run as root to name them")
    return sorted(listeners, key=lambda x: (x.port, x.protocol, x.address, x.pid or 0))


def _process(psutil: Any, pid: int) -> tuple[str | None, tuple[str, ...]]:
    try:
        proc = psutil.Process(pid)
        name = proc.name()
        cmdline = tuple(proc.cmdline()) if name in PROXY_PROCESSES else ()
        return name, cmdline
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None, ()
