"""Health endpoints: ``GET http(s)://LOOPBACK:PORT/PATH`` within the probe's deadline, for
running services.

The request is written here on a plain socket rather than with ``http.client`` or
``urllib``: those follow no deadline across connect, TLS handshake and a trickled
status line (each read has its own timeout), and the probe must end by its deadline
whatever a server does. It reads the status line and headers only (at most 16 KiB, no
body), never follows a redirect, and reports it.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from portledger.findings import Finding
from portledger.ledger.model import Allocation, Ledger
from portledger.probe.attribution import _is_own, holders
from portledger.probe.model import Holder, Observation, _addr, run_within
from portledger.probe.rules import deadline_notice, health_check_failed

# --- health ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthTarget:
    allocation: Allocation
    host: str
    port: int
    path: str
    holder: Holder | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.allocation.health_scheme}://{host}:{self.port}{self.path}"


def health_targets(ledger: Ledger, obs: Observation) -> tuple[list[HealthTarget], list[Finding]]:
    """The health endpoints to ask (of services seen running), and notices for those
    that cannot be asked on loopback."""
    held = holders(ledger, obs)
    everything = obs.containers is None and obs.listeners is None
    targets: list[HealthTarget] = []
    notices: list[Finding] = []
    for a in ledger.allocations():
        if not a.health:
            continue
        own = [h for h in held.get(id(a), ()) if _is_own(ledger, a, h)]
        if not own and not everything:
            continue
        addresses = [x for h in own for x in h.addresses] or [a.host_ip]
        host = _loopback_for(addresses)
        path = a.health if a.health.startswith("/") else "/" + a.health
        if host is None:
            shown = ", ".join(sorted({_addr(x) for x in addresses}))
            notices.append(health_check_failed(
                ledger, a, f"GET {path} on {shown}",
                "not checked: the port is bound to another address of this host, and the "
                "probe connects only to loopback", own[0] if own else None))
            continue
        port = min((p for h in own for p in h.ports if a.start <= p <= a.end),
                   default=a.start)
        targets.append(HealthTarget(a, host, port, path, own[0] if own else None))
    return targets, notices


def _loopback_for(addresses: Iterable[str | None]) -> str | None:
    """127.0.0.1 or ::1, whichever reaches a port bound to ``addresses``: an IPv4
    address (or every address) is asked on 127.0.0.1, ``::`` or ``::1`` alone on ``::1``
    (which also reaches a dual-stack socket)."""
    v4 = v6 = False
    for a in addresses:
        if a in (None, "", "0.0.0.0"):
            v4 = True
            continue
        assert a is not None
        if a.strip("[]") == "::":
            v6 = True
            continue
        try:
            ip = ipaddress.ip_address(a.strip("[]"))
        except ValueError:
            continue
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if ip.is_loopback:
            if ip.version == 4:
                v4 = True
            else:
                v6 = True
    return "127.0.0.1" if v4 else "::1" if v6 else None


HEAD_LIMIT = 16384
"""Bytes of status line and headers read at most (the body is never read)."""


def http_status(host: str, port: int, path: str, timeout: float, *, scheme: str = "http",
                host_header: str | None = None) -> tuple[int | None, str]:
    """``GET path`` on loopback: (status, reason) or (None, what went wrong).

    One deadline covers connecting, the TLS handshake, sending and reading the status
    line, so a server that trickles bytes cannot hold the probe. For ``https`` the
    certificate is not verified (the probe asks this host by its loopback address).
    """
    import socket
    import ssl

    deadline = time.monotonic() + timeout
    data = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock: socket.socket = raw
            if scheme == "https":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=host_header or None)
            shown = host_header or (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {shown}\r\n"
                         "User-Agent: portledger-probe\r\nAccept: */*\r\n"
                         "Connection: close\r\n\r\n".encode("ascii", "replace"))
            while b"\r\n\r\n" not in data and len(data) < HEAD_LIMIT:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except ConnectionRefusedError:
        return None, "refused the connection"
    except TimeoutError:
        return None, f"did not answer within {timeout:g} s"
    except ssl.SSLError as e:
        return None, f"failed TLS: {e.reason or e}"
    except OSError as e:
        return None, f"failed: {e.strerror or e}"
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None, "did not answer HTTP" if data else "closed the connection without an answer"
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "location" and 300 <= status < 400:
            reason += f" (redirect to {value.strip()}, not followed)"
    return status, reason


def healthy(alloc: Allocation, status: int) -> bool:
    """The ledger's ``health_status`` list, else any 2xx."""
    return status in alloc.health_status if alloc.health_status else 200 <= status < 300


@dataclass(frozen=True)
class HealthResult:
    """One health request's outcome: ``ok`` None when the deadline left it unanswered."""

    target: HealthTarget
    ok: bool | None
    status: int | None
    reason: str
    seconds: float | None


def check_health(ledger: Ledger, targets: Sequence[HealthTarget], timeout: float,
                 deadline: float, log: list[HealthResult] | None = None) -> list[Finding]:
    """PL404 for every target that does not answer as healthy, all asked in parallel by
    the monotonic ``deadline``; PL406 for each not answered by then. ``log`` receives
    every request's :class:`HealthResult` (``portledger serve`` makes metrics of them)."""
    if not targets:
        return []

    def ask(t: HealthTarget) -> tuple[int | None, str, bool, float]:
        started = time.monotonic()
        left = deadline - started
        cut = left < timeout
        status, reason = http_status(t.host, t.port, t.path, max(0.05, min(timeout, left)),
                                     scheme=t.allocation.health_scheme,
                                     host_header=t.allocation.health_host)
        return status, reason, cut, time.monotonic() - started

    # Enough threads that hung endpoints wait side by side, not in waves.
    done, late = run_within(ask, targets, deadline, workers=256)
    findings = []
    for i, (status, reason, cut, seconds) in done.items():
        t = targets[i]
        ok = status is not None and healthy(t.allocation, status)
        if log is not None and not (status is None and cut):
            log.append(HealthResult(t, ok, status, reason, seconds))
        if ok:
            continue
        if status is None and cut and reason.startswith("did not answer within"):
            late.append(i)  # cut short by the probe's deadline, not by its own timeout
            continue
        problem = f"answered {status} {reason}".rstrip() if status is not None else reason
        expected = ""
        if status is not None and t.allocation.health_status:
            expected = f" (healthy: {', '.join(map(str, t.allocation.health_status))})"
        findings.append(health_check_failed(ledger, t.allocation, f"GET {t.url}",
                                            problem + expected, t.holder))
    for i in sorted(late):
        t = targets[i]
        if log is not None:
            log.append(HealthResult(t, None, None, "not answered within the deadline", None))
        findings.append(deadline_notice(
            ledger, f"GET {t.url} was not answered within the probe's deadline",
            f"{t.allocation.service}.{t.allocation.name}'s health is unknown", t.allocation))
    return findings
