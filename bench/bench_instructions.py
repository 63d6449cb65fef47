#!/usr/bin/env python3
"""Benchmark: instructions executed per compose project and for the ledger (callgrind).

Wall time on a shared 2-core VM varies by a third from one minute to the next, so a
change of a few percent cannot be seen in it. Instruction counts can: valgrind's
callgrind counts them exactly, and with a fixed hash seed two runs of the same code give
the same count to within a fraction of a percent. This script generates the monorepo of
bench_check.py, then runs, under callgrind, a small driver that loads N compose projects
(or the ledger) after a warm-up, and once more with nothing to load; the difference is
the work itself.

    python bench/bench_instructions.py --projects 100      # needs valgrind (apt)

Slow (callgrind runs Python about fifty times slower): a minute or two.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_check  # noqa: E402

DRIVER = """
import gc, sys
from pathlib import Path
gc.disable()
from portledger.check import loading as compose_check
from portledger.compose.discovery import select
from portledger.ledger import model as ledger
from portledger.compose import schema
from portledger.ledger.rules import LEDGER_CHECKS
schema.prepare()
what, count = sys.argv[1], int(sys.argv[2])
specs = select(Path('.').resolve(),
                             *ledger.peek_compose_globs(Path('port-mapping.yml')))
compose_check._load_chunk(specs[-5:])  # warm-up: imports, caches
if what == 'compose':
    compose_check._load_chunk(specs[:count])
elif count:
    found, findings = ledger.load('port-mapping.yml')
    for check in LEDGER_CHECKS:
        findings.extend(check(found))
"""


def instructions(repo: Path, what: str, count: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PORTLEDGER_SERVICES_FILE": str(repo / ".services-empty")}
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", DRIVER, what, str(count)],
        cwd=repo, env=env, capture_output=True, text=True, check=True,
    )
    for line in proc.stderr.splitlines():
        if "Collected" in line:
            return int(line.split()[-1])
    raise SystemExit(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100,
                        help="compose projects to load under callgrind (default 100)")
    parser.add_argument("--files", type=int, default=1000,
                        help="size of the generated monorepo (its ledger has 10 services "
                             "a file)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "monorepo"
        subprocess.run(
            [sys.executable, str(bench_check.GENERATOR), "--files", str(args.files),
             "--services-per-file", "10", "--conflicts", "20", "-q", str(repo)],
            check=True,
        )
        bench_check.convert(repo / "port-mapping.yml")
        (repo / ".services-empty").write_text("", encoding="utf-8")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "portledger")],
                       check=True, stdout=subprocess.DEVNULL)
        base = instructions(repo, "compose", 0)
        compose = instructions(repo, "compose", args.projects) - base
        ledger_base = instructions(repo, "ledger", 0)
        ledger = instructions(repo, "ledger", 1) - ledger_base
        print(f"compose: {compose / args.projects / 1e6:.2f} M instructions a project "
              f"({args.projects} projects, 10 services each)")
        print(f"ledger ({args.files * 10} services): load and rules {ledger / 1e6:.0f} M "
              "instructions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
