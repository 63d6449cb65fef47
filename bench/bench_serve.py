#!/usr/bin/env python3
"""Benchmark: memory and CPU of `portledger serve` over a long run on a host with N
containers.

Starts a private Docker engine (tests/probe/probe_engine.py; needs root, Debian's
docker.io and busybox-static, see .ci/docker-engine), N busybox httpd containers each
publishing one port on 127.0.0.1 with a ledger of N services that all have a health path,
then `portledger serve --interval S` in a subprocess. Every 10 s it reads the server's
resident memory and CPU time (psutil) and scrapes /metrics once (as Prometheus would);
at the end it prints the memory at the first sample and at the end (growth is a leak),
the CPU time over the run as a share of one core, and the probe's duration from the
metrics.

    sudo python bench/bench_serve.py --containers 200 --interval 5 --minutes 10

Everything (server, containers, engine, bridge, folder) is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "probe"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_probe import free_window  # noqa: E402
from probe_engine import HEALTHY, BusyBox, Engine, EngineError  # noqa: E402


def main() -> int:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    try:
        engine = Engine.start(Path(tempfile.mkdtemp(prefix="pl-bench-serve-", dir="/tmp")))
    except EngineError as e:
        print(f"bench_serve: no Docker engine: {e}", file=sys.stderr)
        return 2
    server = None
    try:
        box = BusyBox(engine)
        box.build()
        n = args.containers
        base = free_window(n)
        ledger = Path(engine.root) / "port-mapping.yml"
        lines = ["version: 1", "ranges:", "  bench: {start: 20000, end: 30000}", "services:"]
        for i in range(n):
            lines += [f"  svc-{i:03d}:", "    category: bench",
                      f"    ports: {{http: {{port: {base + i}, health: {HEALTHY}}}}}"]
        ledger.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for i in range(n):
            box.run(f"svc-{i:03d}", {8080: ("127.0.0.1", base + i)})
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "DOCKER_HOST": engine.url}
        server = subprocess.Popen(
            [sys.executable, "-m", "portledger", "serve", "--mapping", str(ledger),
             "--listen", f"127.0.0.1:{port}", "--interval", f"{args.interval:g}"],
            env=env, stderr=subprocess.PIPE, text=True)
        assert server.stderr is not None
        print(server.stderr.readline().strip())
        proc = psutil.Process(server.pid)
        samples: list[tuple[float, float, float]] = []
        durations: list[float] = []
        started = time.monotonic()
        cpu0 = sum(proc.cpu_times()[:2])
        while time.monotonic() - started < args.minutes * 60:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            m = re.search(r"^portledger_probe_duration_seconds\{[^}]*\} (\S+)$", text, re.M)
            if m:
                durations.append(float(m.group(1)))
            up = len(re.findall(r"^portledger_port_up\{.*\} 1\.0$", text, re.M))
            samples.append((time.monotonic() - started, proc.memory_info().rss / 2**20,
                            sum(proc.cpu_times()[:2]) - cpu0))
            if len(samples) == 1:
                print(f"first sample: {up} of {n} ports up, rss {samples[0][1]:.1f} MiB")
            time.sleep(10)
        elapsed, rss_end, cpu = samples[-1]
        runs = re.search(r'portledger_probe_runs_total\{[^}]*result="ok"\} (\S+)', text)
        print(f"containers: {n}; interval {args.interval:g} s; run {elapsed / 60:.1f} min; "
              f"probes: {runs.group(1) if runs else '?'}")
        print(f"rss: first {samples[0][1]:.1f} MiB, max {max(s[1] for s in samples):.1f} MiB, "
              f"end {rss_end:.1f} MiB")
        print(f"cpu: {cpu:.1f} s over {elapsed:.0f} s = {100 * cpu / elapsed:.1f}% of one core")
        print(f"probe duration: median {statistics.median(durations):.2f} s, max "
              f"{max(durations):.2f} s")
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        engine.stop()


if __name__ == "__main__":
    raise SystemExit(main())
