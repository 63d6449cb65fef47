#!/usr/bin/env python3
"""Make portledger/data/services, the bundled well-known ports, from IANA's Service Name
and Transport Protocol Port Number Registry (service-names-port-numbers.csv).

    python3 tools/iana_services.py service-names-port-numbers.csv \\
        --source "URL or where the copy came from" > portledger/data/services

Every assigned TCP and UDP port from 1 to 49151 that has a service name, a range
expanded to its ports; the first name of a port first, its other names after it (as
/etc/services lists aliases). The format is portledger's own, read by
portledger/ledger/wellknown.py: ``PORT NAME [NAMES...]`` for tcp and udp alike, or
``PORT/tcp ...`` and ``PORT/udp ...`` where only one is assigned or their names differ;
lines in port order; first, each marked ``*``, the ports of :data:`COMMON`, those
compose services commonly collide with, which rules and plans use (PL109, exceptions,
``allocate`` skipping registered ports): with every registration they would flag most
ports above 1024 (8000 is irdmi's, 3000 hbci's). The registry's date is the latest
registration or modification date in it (the CSV carries no other).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+*/-]*")
COMMON = frozenset({
    (21, "tcp"), (22, "tcp"), (23, "tcp"), (25, "tcp"), (53, "tcp"), (53, "udp"),
    (80, "tcp"), (88, "tcp"), (110, "tcp"), (123, "udp"), (143, "tcp"), (161, "udp"),
    (389, "tcp"), (443, "tcp"), (465, "tcp"), (514, "udp"), (587, "tcp"), (636, "tcp"),
    (993, "tcp"), (995, "tcp"), (1080, "tcp"), (1194, "tcp"), (1194, "udp"),
    (1433, "tcp"), (1883, "tcp"), (2049, "tcp"), (2049, "udp"), (3306, "tcp"),
    (3389, "tcp"), (4369, "tcp"), (5432, "tcp"), (5672, "tcp"), (6000, "tcp"),
    (6379, "tcp"), (8080, "tcp"), (11211, "tcp"), (27017, "tcp"),
})
"""The well-known ports of portledger's rules: the selection it bundled before the whole
registry (kafka's 9092 and zookeeper's 2181 left out: IANA gives them to others)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--source", required=True,
                        help="where this copy of the registry came from (for the header)")
    args = parser.parse_args()
    names: dict[tuple[int, str], list[str]] = defaultdict(list)
    dates: set[str] = set()
    with open(args.csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            dates |= {d for d in (row["Registration Date"], row["Modification Date"]) if d}
            name, number, proto = (row["Service Name"].strip(), row["Port Number"].strip(),
                                   row["Transport Protocol"].strip().lower())
            if not name or not number or proto not in ("tcp", "udp"):
                continue
            if not NAME.fullmatch(name):
                raise SystemExit(f"{args.csv}: a service name portledger cannot list: {name!r}")
            low, _, high = number.partition("-")
            for port in range(int(low), int(high or low) + 1):
                if 1 <= port <= 49151 and name not in names[(port, proto)]:
                    names[(port, proto)].append(name)
    out = sys.stdout
    out.write(
        "# The well-known ports portledger uses by default (the ledger's settings.well_known:\n"
        "# system reads the machine's /etc/services instead), so that a ledger is checked\n"
        "# and fixed alike on every machine.\n"
        "#\n"
        "# IANA's Service Name and Transport Protocol Port Number Registry, every assigned\n"
        "# TCP and UDP port from 1 to 49151 with a service name (ranges expanded), as of\n"
        f"# {max(dates)} (its latest registration or modification date).\n"
        "# Registry: https://www.iana.org/assignments/service-names-port-numbers/\n"
        f"# This copy: {args.source}\n"
        "# Made by tools/iana_services.py. Format: PORT NAME [NAMES...] for tcp and udp\n"
        "# alike, PORT/tcp or PORT/udp where only one protocol has the names; port order.\n"
        "# First, marked *, the ports compose services commonly collide with, which\n"
        "# portledger's rules use (PL109, a recorded port's exception, allocate); then\n"
        "# every registration (`who` shows any).\n")
    missing = sorted(COMMON - set(names))
    if missing:
        raise SystemExit(f"{args.csv}: no registration of {missing}")
    for port, proto in sorted(COMMON):
        out.write(f"*{port}/{proto} {' '.join(names[(port, proto)])}\n")
    for port in sorted({p for p, _ in names}):
        tcp, udp = names.get((port, "tcp")), names.get((port, "udp"))
        if tcp == udp:
            out.write(f"{port} {' '.join(tcp or [])}\n")
            continue
        for proto, listed in (("tcp", tcp), ("udp", udp)):
            if listed:
                out.write(f"{port}/{proto} {' '.join(listed)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
