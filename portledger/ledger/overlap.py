"""When two port bindings collide, by Linux's rules.

Two bindings collide when the protocol is the same, the port ranges overlap and the host
addresses overlap. Addresses, as the Linux kernel sees them for ``bind()``:

* no address (Docker publishes on ``0.0.0.0`` and ``::``) overlaps every address;
* ``0.0.0.0`` overlaps every IPv4 address and the dual-stack wildcard ``::``
  (``net.ipv6.bindv6only=0``, Linux's default), but not a specific IPv6 address;
* ``::`` overlaps every address, IPv4 included (dual stack);
* two specific addresses overlap only when equal: 127.0.0.1 and 127.0.0.2 can both
  hold port 8000.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=1024)
def _addr(host_ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if host_ip is None or host_ip == "":
        return None
    try:
        return ipaddress.ip_address(host_ip.strip("[]"))
    except ValueError:
        return None


def addresses_overlap(a: str | None, b: str | None) -> bool:
    """True when binding the same port on ``a`` and on ``b`` would conflict."""
    if a == b or not a or not b:
        return True  # the same text, or "every address" on one side (the common cases)
    x, y = _addr(a), _addr(b)
    if x is None or y is None:
        # None is "every address"; an address we cannot parse is compared as text.
        if (a not in (None, "") and x is None) and (b not in (None, "") and y is None):
            return a == b
        return True
    if x == y:
        return True
    for p, q in ((x, y), (y, x)):
        if p.is_unspecified:
            if p.version == 6:
                return True  # dual-stack "::" takes IPv4 and IPv6 alike
            if q.version == 4:
                return True
            if q.version == 6 and q.is_unspecified:
                return True
    # IPv4-mapped IPv6 (::ffff:127.0.0.1) is the same socket address as its IPv4 form.
    if x.version != y.version:
        mapped_x = getattr(x, "ipv4_mapped", None)
        mapped_y = getattr(y, "ipv4_mapped", None)
        return (mapped_x is not None and mapped_x == y) or (mapped_y is not None and mapped_y == x)
    return False


def ranges_overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Inclusive ranges ``[a_start, a_end]`` and ``[b_start, b_end]`` share a port."""
    return a_start <= b_end and b_start <= a_end


def collide(
    a: tuple[int, int, str, str | None],
    b: tuple[int, int, str, str | None],
) -> bool:
    """``(start, end, protocol, host_ip)`` bindings that the kernel would not both allow."""
    return (
        a[2] == b[2]
        and ranges_overlap(a[0], a[1], b[0], b[1])
        and addresses_overlap(a[3], b[3])
    )
