"""Health endpoints: ``GET http://LOOPBACK:PORT/PATH`` with a deadline, for running services."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from portledger.findings import Finding
from portledger.ledger.model import Allocation, Ledger
from portledger.probe.model import Observation, _addr
from portledger.probe.rules import _is_own, health_check_failed, holders

# --- health ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthTarget:
    allocation: Allocation
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


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
                "probe connects only to loopback"))
            continue
        targets.append(HealthTarget(a, host, a.start, path))
    return targets, notices


def _loopback_for(addresses: Iterable[str | None]) -> str | None:
    """127.0.0.1 or ::1, whichever reaches a port bound to ``addresses``."""
    best: str | None = None
    for a in addresses:
        if a in (None, "", "0.0.0.0", "::"):
            return "127.0.0.1"
        assert a is not None
        try:
            ip = ipaddress.ip_address(a.strip("[]"))
        except ValueError:
            continue
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if ip.is_loopback:
            best = str(ip) if ip.version == 4 else "::1"
    return best


def http_status(host: str, port: int, path: str, timeout: float) -> tuple[int | None, str]:
    """``GET path`` on loopback: (status, reason) or (None, what went wrong).

    One deadline covers connecting, sending and reading the status line, so a server
    that trickles bytes cannot hold the probe.
    """
    import socket

    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            host_header = f"[{host}]" if ":" in host else host
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}:{port}\r\n"
                         "User-Agent: portledger-probe\r\nAccept: */*\r\n"
                         "Connection: close\r\n\r\n".encode("ascii", "replace"))
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 16384:
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


def check_health(ledger: Ledger, targets: Sequence[HealthTarget], timeout: float) -> list[Finding]:
    """PL404 for every target that does not answer 2xx, asked in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    if not targets:
        return []

    def ask(t: HealthTarget) -> Finding | None:
        status, reason = http_status(t.host, t.port, t.path, timeout)
        if status is not None and 200 <= status < 300:
            return None
        problem = f"answered {status} {reason}".rstrip() if status is not None else reason
        return health_check_failed(ledger, t.allocation, f"GET {t.url}", problem)

    with ThreadPoolExecutor(max_workers=min(32, len(targets))) as pool:
        return [f for f in pool.map(ask, targets) if f is not None]
