"""When two port bindings collide: the address / port / protocol matrix (Linux bind())."""

from __future__ import annotations

import pytest

from portledger.ledger.overlap import addresses_overlap, collide, ranges_overlap

ANY = None  # no host_ip: Docker publishes on 0.0.0.0 and ::

# (a, b, overlap?) -- checked both ways round.
ADDRESS_MATRIX = [
    (ANY, ANY, True),
    (ANY, "", True),
    (ANY, "0.0.0.0", True),
    (ANY, "::", True),
    (ANY, "127.0.0.1", True),
    (ANY, "::1", True),
    (ANY, "192.168.1.10", True),
    ("0.0.0.0", "0.0.0.0", True),
    ("0.0.0.0", "::", True),  # dual-stack :: takes IPv4 too (bindv6only=0)
    ("0.0.0.0", "127.0.0.1", True),
    ("0.0.0.0", "10.0.0.1", True),
    ("0.0.0.0", "::1", False),  # 0.0.0.0 is IPv4 only
    ("0.0.0.0", "fe80::1", False),
    ("::", "::", True),
    ("::", "127.0.0.1", True),
    ("::", "::1", True),
    ("::", "[::]", True),
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.1", "127.0.0.2", False),
    ("127.0.0.1", "10.0.0.1", False),
    ("127.0.0.1", "::1", False),
    ("::1", "::1", True),
    ("::1", "[::1]", True),
    ("::1", "0:0:0:0:0:0:0:1", True),  # the same address, written out
    ("::1", "fe80::1", False),
    ("::ffff:127.0.0.1", "127.0.0.1", True),  # IPv4-mapped is the IPv4 address
    ("::ffff:127.0.0.1", "127.0.0.2", False),
    ("localhost", "localhost", True),  # not an IP: compared as text
    ("localhost", "db.internal", False),
    ("localhost", ANY, True),
    ("localhost", "127.0.0.1", True),  # unknown against an IP: assume the worst
]


@pytest.mark.parametrize(("a", "b", "expected"), ADDRESS_MATRIX)
def test_addresses_overlap(a: str | None, b: str | None, expected: bool) -> None:
    assert addresses_overlap(a, b) is expected
    assert addresses_overlap(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((8000, 8000), (8000, 8000), True),
        ((8000, 8000), (8001, 8001), False),
        ((8000, 8010), (8010, 8010), True),  # inclusive at the end
        ((8000, 8010), (8000, 8000), True),  # inclusive at the start
        ((8000, 8010), (8011, 8020), False),  # adjacent
        ((8000, 8010), (7990, 7999), False),
        ((8000, 8010), (8005, 8005), True),
        ((8000, 8010), (8005, 8100), True),
        ((8000, 8010), (7000, 9000), True),  # containing
        ((1, 65535), (65535, 65535), True),
    ],
)
def test_ranges_overlap(a: tuple[int, int], b: tuple[int, int], expected: bool) -> None:
    assert ranges_overlap(*a, *b) is expected
    assert ranges_overlap(*b, *a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((8000, 8000, "tcp", None), (8000, 8000, "tcp", None), True),
        ((8000, 8000, "tcp", None), (8000, 8000, "udp", None), False),
        ((8000, 8000, "tcp", None), (8000, 8000, "sctp", None), False),
        ((8000, 8000, "udp", "0.0.0.0"), (8000, 8000, "udp", "::"), True),
        ((8000, 8000, "tcp", "127.0.0.1"), (8000, 8000, "tcp", "127.0.0.2"), False),
        ((8000, 8000, "tcp", None), (8000, 8000, "tcp", "127.0.0.1"), True),
        ((8000, 8010, "tcp", None), (8005, 8005, "tcp", "127.0.0.1"), True),
        ((8000, 8010, "tcp", None), (8011, 8011, "tcp", None), False),
        ((8000, 8010, "tcp", "0.0.0.0"), (8005, 8005, "tcp", "::1"), False),
        ((8000, 8010, "udp", None), (8005, 8005, "tcp", None), False),
    ],
)
def test_collide(
    a: tuple[int, int, str, str | None], b: tuple[int, int, str, str | None], expected: bool
) -> None:
    assert collide(a, b) is expected
    assert collide(b, a) is expected
