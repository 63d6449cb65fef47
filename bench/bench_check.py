#!/usr/bin/env python3
"""Benchmark: `portledger check` over a synthetic monorepo, and its correctness.

Generates a repository with ../shared/bench/gen_monorepo.py (N compose files x M
services, K injected conflicts), converts the generator's provisional ledger into
portledger's format, runs the real CLI in a subprocess (best and median wall time of
--repeat runs, peak RSS of the child), and checks the findings against the generator's
answer key: every injected conflict found, and nothing else. Each repeat times a cold
check (empty compose cache), a warm one (the same check again, as a hook on the next
commit), one with a comment appended to one compose file (the two must say exactly what
the cold one said), and one with a port of that file moved (which must say what a check
with `--no-cache` says, and something else than the cold one).

    python bench/bench_check.py --files 1000 --services-per-file 10 --conflicts 20
    python bench/bench_check.py --files 1000 --services-per-file 10 --conflicts 20 --hosts 10

The converted ledger is block-style YAML, as people write one (``--ledger-style json``
writes it as JSON text instead, which YAML reads too).

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
import re
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


def convert(generated: Path, style: str = "yaml") -> None:
    """Rewrite the generator's ledger (ports as a list) in portledger's format (by name),
    as block-style YAML (as people write ledgers) or as JSON text (``style="json"``)."""
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
    if style == "json":  # JSON is YAML
        generated.write_text(json.dumps(ledger, indent=1) + "\n", encoding="utf-8")
        return
    import yaml

    generated.write_text(yaml.safe_dump(ledger, sort_keys=False, default_flow_style=False,
                                        width=1000), encoding="utf-8")


def add_hosts(repo: Path, count: int) -> int:
    """Give the ledger ``count`` hosts, one per domain folder; the number made."""
    domains = sorted(p.name for p in (repo / "services").iterdir() if p.is_dir())[:count]
    path = repo / "port-mapping.yml"
    text = path.read_text(encoding="utf-8")
    if text.startswith("{"):
        ledger = json.loads(text)
        ledger["hosts"] = {d: {"projects": [f"services/{d}/**"]} for d in domains}
        path.write_text(json.dumps(ledger, indent=1) + "\n", encoding="utf-8")
    else:
        path.write_text(text + "hosts:\n" + "".join(
            f"  {d}:\n    projects: ['services/{d}/**']\n" for d in domains), encoding="utf-8")
    return len(domains)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _pss_kib(pid: int) -> int:
    """The proportional set size of ``pid`` (forked workers share their parent's pages:
    PSS counts each shared page once over all of them, RSS once per process)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Samples the memory of a process and all its descendants together (every 50 ms;
    reading smaps costs the kernel time, so the timed runs are not sampled)."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                pids.append(p)
                todo += _children(p)
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in pids))
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


def floor_load(repo: Path) -> float:
    """PyYAML's CSafeLoader loading the same files (every compose file and the ledger) in
    one process: the floor the cold check is measured against."""
    code = (
        "import sys, time, pathlib, yaml\n"
        "root = pathlib.Path(sys.argv[1])\n"
        "t = time.perf_counter()\n"
        "files = sorted(root.rglob('*compose*.y*ml')) + [root / 'port-mapping.yml']\n"
        "for f in files:\n"
        "    yaml.load(f.read_bytes(), Loader=yaml.CSafeLoader)\n"
        "print(len(files))\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(repo)], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def run_check(repo: Path, cache_dir: Path, sample: bool = False,
              no_cache: bool = False) -> tuple[float, dict, int, int]:
    empty = repo / ".services-empty"
    empty.write_text("", encoding="utf-8")
    env = {**os.environ, "PORTLEDGER_SERVICES_FILE": str(empty),
           "PORTLEDGER_CACHE_DIR": str(cache_dir)}
    env.pop("GITHUB_ACTIONS", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "portledger", "check", "--format", "json",
         *(["--no-cache"] if no_cache else [])],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    memory = TreeMemory(child.pid) if sample else None
    out, err = child.communicate()
    elapsed = time.perf_counter() - start
    tree = memory.stop() if memory is not None else 0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if child.returncode not in (0, 1):
        raise SystemExit(f"check failed ({child.returncode}): {err.strip()}")
    return elapsed, json.loads(out), max(peak, before), tree


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
    parser.add_argument("--ledger-style", choices=("yaml", "json"), default="yaml",
                        help="write the converted ledger as block-style YAML (the default) "
                        "or as JSON text")
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
        convert(repo / "port-mapping.yml", args.ledger_style)
        hosts = add_hosts(repo, args.hosts) if args.hosts else 0
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "portledger")],
                       check=True, stdout=subprocess.DEVNULL)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed (codecache.py)
        cache_dir = Path(tmp) / "cache"
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")  # the cache's signing key
        cold: list[float] = []
        warm: list[float] = []
        changed: list[float] = []
        moved: list[float] = []
        floor: list[float] = []
        result: dict = {}
        peak = tree = 0
        composes = sorted(repo.rglob("*compose*.y*ml"))
        one_file = composes[len(composes) // 2]
        for i in range(args.repeat):
            # Interleaved: the floor (CSafeLoader loading the same files), a cold check
            # (an empty cache: a first check; it fills the cache), a warm one (nothing
            # changed: a hook on the next commit), and one with one compose file changed
            # (a comment appended: its digest changes, its ports do not).
            floor.append(floor_load(repo))
            shutil.rmtree(cache_dir, ignore_errors=True)
            elapsed, result, peak, _ = run_check(repo, cache_dir)
            cold.append(elapsed)
            elapsed, again, peak, _ = run_check(repo, cache_dir)
            warm.append(elapsed)
            if again != result:
                raise SystemExit("a check from the cache said something else")
            with one_file.open("a", encoding="utf-8") as f:
                f.write(f"# changed {i}\n")
            elapsed, again, peak, _ = run_check(repo, cache_dir)
            changed.append(elapsed)
            if again != result:
                raise SystemExit("a check with one file changed said something else")
            # One port moved: the verdict cannot stand, the check runs (every other
            # project from the compose cache, the ledger from its cache); it must say
            # what a check without caches says. Then the port is put back.
            text = one_file.read_text(encoding="utf-8")
            old = re.search(r'- "(\d+):', text)
            assert old is not None, one_file
            one_file.write_text(text.replace(old.group(0), '- "60999:', 1), encoding="utf-8")
            elapsed, again, peak, _ = run_check(repo, cache_dir)
            moved.append(elapsed)
            if again != run_check(repo, cache_dir, no_cache=True)[1]:
                raise SystemExit("a check with one port moved said something else than "
                                 "--no-cache")
            if again == result:
                raise SystemExit("moving a port changed no finding")
            one_file.write_text(text, encoding="utf-8")
        shutil.rmtree(cache_dir, ignore_errors=True)  # memory: one more cold run, sampled
        tree = run_check(repo, cache_dir, sample=True)[3]
        found, missed, extra = verify(repo, result)
        total = found + len(missed)
        print(f"files={args.files} services/file={args.services_per_file} "
              f"conflicts={total} compose files read={result['summary']['files'] - 1} "
              f"hosts={hosts}")
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for label, times in (("floor (CSafeLoader, same files, one process)", floor),
                             ("cold (empty cache)", cold), ("warm (nothing changed)", warm),
                             ("warm (one compose file changed)", changed),
                             ("warm (one port moved in one compose file)", moved)):
            print(f"{label}: best {min(times):.2f} s, median "
                  f"{statistics.median(times):.2f} s; runs "
                  + ", ".join(f"{t:.2f}" for t in times))
        cold_med = statistics.median(cold)
        print(f"ratios (medians): cold / floor {cold_med / statistics.median(floor):.2f}; "
              f"warm / cold {statistics.median(warm) / cold_med:.2f}; "
              f"one changed / cold {statistics.median(changed) / cold_med:.2f}; "
              f"one port moved / cold {statistics.median(moved) / cold_med:.2f}")
        print(f"largest peak RSS of a child process (ru_maxrss): {peak / 1024:.0f} MiB; "
              f"peak memory of a cold check's processes together (PSS, sampled every "
              f"50 ms): {tree / 1024:.0f} MiB")
        print(f"conflicts found: {found}/{total}; false positives: {len(extra)}")
        for m in missed:
            print(f"  MISSED {m}")
        for e in extra[:20]:
            print(f"  EXTRA  {e}")
        return 0 if not missed and not extra else 1


if __name__ == "__main__":
    raise SystemExit(main())
