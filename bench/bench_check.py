#!/usr/bin/env python3
"""Benchmark: `portledger check` over a synthetic monorepo, and its correctness.

Generates a repository with ../shared/bench/gen_monorepo.py (N compose files x M
services, K injected conflicts), converts the generator's provisional ledger into
portledger's format, runs the real CLI in a subprocess (best and median wall time of
--repeat runs, peak RSS of the child), and checks the findings against the generator's
answer key: every injected conflict found, and nothing else. Each repeat times a cold
check (empty compose cache) and then a warm one (the same check again, as a hook on the
next commit), which must say exactly the same.

    python bench/bench_check.py --files 1000 --services-per-file 10 --conflicts 20
    python bench/bench_check.py --files 1000 --services-per-file 10 --conflicts 20 --hosts 10

With ``--hosts N`` the ledger gains a ``hosts`` section of N hosts, one for each of the
first N domain folders (``services/DOMAIN/**``); the ledger's services are named by none,
so they hold on every host, and the injected conflicts stay what they are: the run
measures what placing every project on its host and comparing within hosts costs.

The package's bytecode is compiled first, as it is in an installed package (pip compiles
it at install time): without it, every run compiles portledger's modules again (about
0.3 s on the development VM, and always when PYTHONDONTWRITEBYTECODE is set).

The synthetic ports lie in 10000-59999, inside Linux's ephemeral range, and some of
them are registered in /etc/services; the converted ledger declares the hosts'
ephemeral range as 61000-65535 and the run uses an empty well-known list, so that
PL108/PL109 (true, but not what the generator injects) do not count as false positives.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT.parent / "shared" / "bench" / "gen_monorepo.py"

sys.path.insert(0, str(ROOT))
from portledger import yamlio  # noqa: E402


def convert(generated: Path) -> None:
    """Rewrite the generator's ledger (ports as a list) in portledger's format (by name)."""
    doc = yamlio.load(generated).data
    services = {}
    for name, s in doc["services"].items():
        ports = {}
        for p in s["ports"]:
            ports[p["name"]] = {"port": p["port"], "protocol": p["protocol"]}
        services[name] = {"category": s["category"], "ports": ports}
    ledger = {
        "version": 1,
        "settings": {"ephemeral": {"start": 61000, "end": 65535}},
        "ranges": doc["ranges"],
        "services": services,
    }
    # JSON is YAML: the converted ledger is written as JSON text.
    generated.write_text(json.dumps(ledger, indent=1) + "\n", encoding="utf-8")


def add_hosts(repo: Path, count: int) -> int:
    """Give the ledger ``count`` hosts, one per domain folder; the number made."""
    domains = sorted(p.name for p in (repo / "services").iterdir() if p.is_dir())[:count]
    path = repo / "port-mapping.yml"
    ledger = json.loads(path.read_text(encoding="utf-8"))
    ledger["hosts"] = {d: {"projects": [f"services/{d}/**"]} for d in domains}
    path.write_text(json.dumps(ledger, indent=1) + "\n", encoding="utf-8")
    return len(domains)


def run_check(repo: Path, cache_dir: Path) -> tuple[float, dict, int]:
    empty = repo / ".services-empty"
    empty.write_text("", encoding="utf-8")
    env = {**os.environ, "PORTLEDGER_SERVICES_FILE": str(empty),
           "PORTLEDGER_CACHE_DIR": str(cache_dir)}
    env.pop("GITHUB_ACTIONS", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "portledger", "check", "--format", "json"],
        cwd=repo, env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, json.loads(proc.stdout), max(peak, before)


def verify(repo: Path, result: dict) -> tuple[int, list[str], list[str]]:
    """(found, missed conflicts, false positives) against expected-conflicts.json."""
    expected = json.loads((repo / "expected-conflicts.json").read_text())["conflicts"]
    findings = result["findings"]
    matched: set[int] = set()
    missed = []
    for c in expected:
        places = {(c["file"], c["port"])}
        if c.get("other_file"):
            places.add((c["other_file"], c["port"]))
        hits = [i for i, f in enumerate(findings) if (f["file"], f["port"]) in places]
        if hits:
            matched.update(hits)
        else:
            missed.append(f"{c['kind']} {c['port']} in {c['file']}")
    extra = [f"{f['file']}:{f['line']}: {f['code']} {f['message']}"
             for i, f in enumerate(findings) if i not in matched]
    return len(expected) - len(missed), missed, extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--services-per-file", type=int, default=10)
    parser.add_argument("--conflicts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=0,
                        help="give the ledger this many hosts (one per domain folder)")
    args = parser.parse_args()
    if not GENERATOR.is_file():
        raise SystemExit(f"generator not found: {GENERATOR} (../shared must be beside the repo)")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "monorepo"
        subprocess.run(
            [sys.executable, str(GENERATOR), "--files", str(args.files),
             "--services-per-file", str(args.services_per_file),
             "--conflicts", str(args.conflicts), "-q", str(repo)],
            check=True,
        )
        convert(repo / "port-mapping.yml")
        hosts = add_hosts(repo, args.hosts) if args.hosts else 0
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "portledger")],
                       check=True, stdout=subprocess.DEVNULL)
        cache_dir = Path(tmp) / "cache"
        cold: list[float] = []
        warm: list[float] = []
        result: dict = {}
        peak = 0
        for _ in range(args.repeat):
            # Cold: an empty cache (a first check; it fills the cache). Warm: the same
            # check again, nothing changed (a hook on the next commit).
            shutil.rmtree(cache_dir, ignore_errors=True)
            elapsed, result, peak = run_check(repo, cache_dir)
            cold.append(elapsed)
            elapsed, again, peak = run_check(repo, cache_dir)
            warm.append(elapsed)
            if again != result:
                raise SystemExit("a check from the cache said something else")
        found, missed, extra = verify(repo, result)
        total = found + len(missed)
        print(f"files={args.files} services/file={args.services_per_file} "
              f"conflicts={total} compose files read={result['summary']['files'] - 1} "
              f"hosts={hosts}")
        for label, times in (("cold (empty cache)", cold), ("warm (nothing changed)", warm)):
            print(f"check wall time, {label}: best {min(times):.2f} s, median "
                  f"{statistics.median(times):.2f} s; runs "
                  + ", ".join(f"{t:.2f}" for t in times))
        print(f"peak RSS of a check process: {peak / 1024:.0f} MiB")
        print(f"conflicts found: {found}/{total}; false positives: {len(extra)}")
        for m in missed:
            print(f"  MISSED {m}")
        for e in extra[:20]:
            print(f"  EXTRA  {e}")
        return 0 if not missed and not extra else 1


if __name__ == "__main__":
    raise SystemExit(main())
