#!/usr/bin/env python3
"""Benchmark: `portledger check` of the shipped ledger as a whole process, as a ratio to
`python -c "import yaml"` started the same way (issue 22: at most 2x).

Both are run --repeat times, interleaved (so a busy minute slows both), from the
repository's root, after compiling the package's bytecode and one priming run (an
installed package has its bytecode; see `portledger/codecache.py` for the dataclass
methods kept the same way). `check` runs warm (its cache filled by the priming run, as
a hook on the second commit) and, separately, with `--no-cache`. With valgrind present,
`--instructions` also counts each command's instructions once (exact, whatever the load).

    python bench/bench_startup.py --repeat 15 --instructions
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def commands() -> dict[str, list[str]]:
    return {
        "import yaml": [sys.executable, "-c", "import yaml"],
        "check (warm)": [str(BIN / "portledger"), "check"],
        "check --no-cache": [str(BIN / "portledger"), "check", "--no-cache"],
    }


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr.decode()}")
    return elapsed


def instructions(cmd: list[str], env: dict[str, str]) -> int:
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--instructions", action="store_true",
                    help="also count instructions with callgrind (needs valgrind)")
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "portledger")],
                   check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PORTLEDGER_CACHE_DIR"] = cache
        cmds = commands()
        for cmd in cmds.values():  # priming: bytecode, the dataclass table, the cache
            run(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.repeat):
            for name, cmd in cmds.items():
                times[name].append(run(cmd, env))
        floor = statistics.median(times["import yaml"])
        best_floor = min(times["import yaml"])
        print(f"{args.repeat} runs each, interleaved; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"  {name:18} median {med * 1000:6.0f} ms  best {min(values) * 1000:6.0f} ms"
                  f"  ratio to import yaml: median {med / floor:.2f}x,"
                  f" best {min(values) / best_floor:.2f}x")
        if args.instructions:
            if shutil.which("valgrind") is None:
                print("--instructions: valgrind is not installed")
                return 1
            counts = {name: instructions(cmd, env) for name, cmd in cmds.items()}
            base = counts["import yaml"]
            for name, n in counts.items():
                print(f"  {name:18} {n / 1e6:7.1f} M instructions  {n / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
