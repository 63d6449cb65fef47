#!/usr/bin/env python3
"""The properties of ``check --fix`` (issue 17) over more generated repositories than the
suite runs (tests/test_fix_properties.py runs 300): deterministic under several
``PYTHONHASHSEED`` values, ``--diff`` is ``--fix`` (through ``git apply``), one run
converges (a second ``--fix``, run, changes nothing and finds nothing automatic), no
published port lost, merged or widened, every service keeps its own ports (ledger and
compose). The generator is tests/fix_repos.py. Prints each failing repository (its
files; with ``--keep DIR`` also written there) and ``N examples, M failed``; exit 0 when
none failed.

    .venv/bin/python bench/fuzz_fixes.py --examples 2000
    .venv/bin/python bench/fuzz_fixes.py --examples 500 --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fix_repos import Repo, diffs_under_seeds, repositories, scratch, violations  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2",
                        help="PYTHONHASHSEED values to compare (comma-separated)")
    parser.add_argument("--seeded", type=int, default=200,
                        help="how many examples the hash-seed comparison runs again")
    parser.add_argument("--random", action="store_true",
                        help="a new random draw each run (default: derandomized)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write each failing repository to DIR/failed-N (to rerun "
                             "check --fix there by hand)")
    args = parser.parse_args()
    os.environ.setdefault("PORTLEDGER_SERVICES_FILE", str(ROOT / "tests/ledger/services"))
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-fixes-"))
    os.environ.setdefault("PORTLEDGER_CACHE_DIR", str(tmp / "cache"))
    failed: list[tuple[list[str], Repo]] = []
    kept: list[Path] = []
    count = 0
    started = time.monotonic()

    @settings(max_examples=args.examples, deadline=None, database=None,
              derandomize=not args.random, suppress_health_check=list(HealthCheck))
    @given(repositories())
    def one(repo: Repo) -> None:
        nonlocal count
        count += 1
        work = Path(tempfile.mkdtemp(dir=work_root))
        problems = violations(repo, work)
        shutil.rmtree(work, ignore_errors=True)
        if problems:
            failed.append((problems, repo))
        elif len(kept) < args.seeded:
            folder = tmp / f"seeded-{len(kept)}"
            repo.write(folder)
            kept.append(folder)

    work_root = scratch(tmp)
    try:
        one()
    finally:
        if work_root != tmp:
            shutil.rmtree(work_root, ignore_errors=True)
    for n, (problems, repo) in enumerate(failed):
        print("=" * 72)
        if args.keep is not None:
            repo.write(args.keep / f"failed-{n}")
            print(f"written to {args.keep / f'failed-{n}'}")
        print("\n".join(problems))
        for name, text in sorted(repo.files.items()):
            print(f"--- {name}\n{text}", end="")
    seeds = tuple(args.seeds.split(","))
    outputs = diffs_under_seeds(kept, seeds)
    differ = len(set(outputs.values())) > 1
    if differ:
        print(f"the diffs of {len(kept)} repositories differ between PYTHONHASHSEED "
              f"values {', '.join(seeds)}")
        parts = {seed: out.split("== ")[1:] for seed, out in outputs.items()}
        for i, folder in enumerate(kept):
            if len({p[i] if i < len(p) else "" for p in parts.values()}) > 1:
                print(f"  differ: {folder.name}")
                if args.keep is not None:
                    shutil.copytree(folder, args.keep / f"seeds-{folder.name}")
                    print(f"  written to {args.keep / f'seeds-{folder.name}'}")
    print(f"{count} examples, {len(failed)} failed; {len(kept)} compared under "
          f"PYTHONHASHSEED {', '.join(seeds)}: {'different' if differ else 'identical'}; "
          f"{time.monotonic() - started:.0f} s")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed or differ else 0


if __name__ == "__main__":
    sys.exit(main())
