#!/usr/bin/env python3
"""Benchmark: `portledger probe` on a host with N running containers, and its correctness.

Starts a private Docker engine (tests/probe/probe_engine.py: its own socket, data root
and bridge; needs root, Debian's docker.io and busybox-static, see .ci/docker-engine),
starts N busybox httpd containers in a loop, each publishing one port on 127.0.0.1, and
writes a ledger of N + 10 services that all have a health path. Of the containers, N - 10
are their service on its own port, 5 publish a port the ledger gives to another service
(PL402) and 5 publish a port the ledger does not have (PL403); of the first, --hung (50)
have a health path that accepts the connection and never answers (PL404 after --timeout),
the others answer 200. The real command runs in a subprocess (interpreter start and
imports included); the best and median of --repeat runs are printed, with and without
each source, and the findings are checked against that answer key: every injected
conflict found, and nothing else. The full probe must end within its --deadline (plus
the interpreter's start), hung endpoints and all.

    sudo python bench/bench_probe.py --containers 200 --hung 50

Everything (containers, engine, bridge, folder) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "probe"))
from probe_engine import HEALTHY, HUNG, BusyBox, Engine, EngineError  # noqa: E402

INJECTED = 5
"""Containers per kind of injected conflict (PL402, PL403)."""


def free_window(width: int, start: int = 20000, stop: int = 30000) -> int:
    """The first port of ``width`` consecutive ports that nothing holds."""
    base = start
    while base + width < stop:
        for port in range(base, base + width):
            try:
                with socket.socket() as s:
                    s.bind(("0.0.0.0", port))
            except OSError:
                base = port + 1
                break
        else:
            return base
    raise SystemExit(f"no {width} free consecutive ports in {start}-{stop}")


def write_ledger(path: Path, base: int, services: int, hung: int) -> None:
    lines = ["version: 1", "ranges:", "  bench: {start: 20000, end: 30000}", "services:"]
    for i in range(services):
        health = HUNG if i < hung else HEALTHY
        lines += [f"  svc-{i:03d}:", "    category: bench",
                  f"    ports: {{http: {{port: {base + i}, target: 8080, health: {health}}}}}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_containers(box: BusyBox, n: int, base: int, hung: int) -> dict[str, set[int]]:
    """N containers; returns the answer key: code -> host ports expected in findings."""
    expected: dict[str, set[int]] = {"PL402": set(), "PL403": set(),
                                     "PL404": {base + i for i in range(hung)}}
    healthy = n - 2 * INJECTED
    for i in range(n):
        if i < healthy:
            name, port = f"svc-{i:03d}", base + i
        elif i < healthy + INJECTED:  # a stranger on another service's port
            k = i - healthy
            name, port = f"rogue-{k}", base + n + k
            expected["PL402"].add(port)
        else:  # its own service, on a port the ledger does not have
            name, port = f"svc-{i:03d}", base + n + 100 + (i - healthy - INJECTED)
            expected["PL403"].add(port)
        box.run(name, {8080: ("127.0.0.1", port)})
    return expected


def run_probe(ledger: Path, env: dict[str, str], *flags: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "portledger", "probe", "--mapping", str(ledger), "--format",
         "json", *flags], env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"probe failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, json.loads(done.stdout)


def verify(result: dict, expected: dict[str, set[int]]) -> tuple[list[str], list[str]]:
    """(missed, extra) findings against the answer key."""
    found: dict[str, set[int]] = {code: set() for code in expected}
    extra = []
    for f in result["findings"]:
        code = f["code"]
        # PL402 is reported at the owner's allocation: its port is the container's port.
        if code in found and f["port"] in expected[code]:
            found[code].add(f["port"])
        else:
            extra.append(f"{f['file']}:{f['line']}: {code} {f['message']}")
    missed = [f"{code} {port}" for code, ports in expected.items()
              for port in sorted(ports - found[code])]
    return missed, extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--hung", type=int, default=50,
                        help="containers whose health endpoint never answers")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=5.0,
                        help="the probe's --deadline")
    parser.add_argument("--margin", type=float, default=1.5,
                        help="seconds over the deadline a run may take (interpreter start, "
                        "imports; exit 1 otherwise)")
    args = parser.parse_args()
    if args.containers <= 2 * INJECTED:
        raise SystemExit(f"--containers must be above {2 * INJECTED}")
    try:
        engine = Engine.start(Path(tempfile.mkdtemp(prefix="pl-bench-", dir="/tmp")))
    except EngineError as e:
        print(f"bench_probe: no Docker engine: {e}", file=sys.stderr)
        return 2
    try:
        box = BusyBox(engine)
        box.build()
        n = args.containers
        base = free_window(n + 110)
        ledger = Path(engine.root) / "port-mapping.yml"
        hung = min(args.hung, n - 2 * INJECTED)
        write_ledger(ledger, base, n + INJECTED, hung)
        started = time.perf_counter()
        expected = start_containers(box, n, base, hung)
        setup = time.perf_counter() - started
        env = {**os.environ, "DOCKER_HOST": engine.url}
        env.pop("DOCKER_CONTEXT", None)
        env.pop("GITHUB_ACTIONS", None)
        running = len(box.api.containers())
        print(f"containers running: {running} (started in a loop in {setup:.1f} s, "
              f"{setup / n * 1000:.0f} ms each); ledger services: {n + INJECTED}; "
              f"health endpoints asked: {n - 2 * INJECTED}, of which hung: {hung}")
        deadline = ("--deadline", f"{args.deadline:g}")
        variants = [("probe (containers + sockets + health)", ("--docker", *deadline)),
                    ("--no-health", ("--docker", "--no-health")),
                    ("--no-sockets --no-health", ("--docker", "--no-sockets", "--no-health")),
                    ("--no-docker --no-health", ("--no-docker", "--no-health"))]
        full: list[float] = []
        result: dict = {}
        for label, flags in variants:
            times = []
            for _ in range(args.repeat):
                elapsed, out = run_probe(ledger, env, *flags)
                times.append(elapsed)
            if not full:
                full, result = times, out
            print(f"{label:<40} best {min(times):.2f} s, median "
                  f"{statistics.median(times):.2f} s, runs "
                  + ", ".join(f"{t:.2f}" for t in times))
        missed, extra = verify(result, expected)
        total = sum(len(v) for v in expected.values())
        print(f"injected conflicts found: {total - len(missed)}/{total}; "
              f"false positives: {len(extra)}")
        for m in missed:
            print(f"  MISSED {m}")
        for e in extra[:20]:
            print(f"  EXTRA  {e}")
        budget = args.deadline + args.margin
        slow = max(full) >= budget
        if slow:
            print(f"SLOW: the full probe took {max(full):.2f} s (deadline {args.deadline:g} s "
                  f"+ {args.margin:g} s)")
        return 1 if missed or extra or slow else 0
    finally:
        started = time.perf_counter()
        engine.stop()
        print(f"teardown (containers, engine, bridge): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main())
