#!/usr/bin/env python3
"""Benchmark: what portledger's hooks add to a `git commit`, as a ratio to pre-commit's floor.

Builds a small repository (the shipped `port-mapping.yml` and `examples/digi/`), then
times `git commit` of a one-line change to a compose file, --repeat times each, with:

* **git**: no hook at all;
* **floor**: pre-commit installed with one no-op hook (`entry: true`): what pre-commit
  itself costs on every commit;
* **floor3**: pre-commit with a no-op hook at each of the three stages portledger's hooks
  use (pre-commit, prepare-commit-msg, commit-msg), installed for the three: what
  pre-commit itself costs before any portledger code runs (portledger minus floor3 is
  what portledger's own processes cost);
* **portledger**: the four portledger hooks (mapping, compose, commit-msg,
  prepare-commit-msg), installed for their three stages as the README says;
* **no-cache**: the same, the two message hooks run with `--no-cache` (each computes the
  staged port diff; without it, commit-msg reads the one prepare-commit-msg left).

The hooks are `repo: local` hooks running this checkout's console scripts (the same entry
points `.pre-commit-hooks.yaml` names), so no hook environment is built during the
timing. Prints best and median wall time of each and the ratios to the floor; the goal
(issue 22) is portledger at most 1.5x the floor.

    python bench/bench_commit.py --repeat 9 [--instructions]

``--instructions`` also counts, with valgrind's callgrind, the instructions of one more
commit of each kind and of every process it starts (pre-commit, portledger's hooks, git),
by part: a figure that the machine's load does not move (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


STAGES = ("pre-commit", "commit-msg", "prepare-commit-msg")
KINDS = ("git", "floor", "floor3", "portledger", "no-cache")


def config(kind: str) -> str:
    if kind == "floor":
        return ("repos:\n  - repo: local\n    hooks:\n      - id: noop\n        name: noop\n"
                "        entry: 'true'\n        language: system\n")
    if kind == "floor3":
        hooks = [(f"noop-{stage}", "'true'", stage, None, True) for stage in STAGES]
    else:
        flag = " --no-cache" if kind == "no-cache" else ""
        hooks = [
            ("portledger-mapping", f"{BIN}/portledger-mapping-hook", "pre-commit",
             r"(^|/)port-mapping\.ya?ml$", True),
            ("portledger-compose", f"{BIN}/portledger-compose-hook", "pre-commit", None, False),
            ("portledger-commit-msg", f"{BIN}/python -m portledger.hooks.commit_msg{flag}",
             "commit-msg", None, True),
            ("portledger-prepare-commit-msg",
             f"{BIN}/python -m portledger.hooks.prepare_commit_msg{flag}",
             "prepare-commit-msg", None, True),
        ]
    lines = ["default_install_hook_types: [pre-commit, commit-msg, prepare-commit-msg]",
             "repos:", "  - repo: local", "    hooks:"]
    for hook_id, entry, stage, files, pass_names in hooks:
        lines += [f"      - id: {hook_id}", f"        name: {hook_id}",
                  f"        entry: {entry}", "        language: system",
                  f"        stages: [{stage}]"]
        if files:
            lines.append(f"        files: '{files}'")
        if not pass_names:
            lines += ["        pass_filenames: false", "        always_run: true"]
    return "\n".join(lines) + "\n"


def make_repo(base: Path, kind: str) -> Path:
    repo = base / kind
    repo.mkdir()
    shutil.copy(ROOT / "port-mapping.yml", repo / "port-mapping.yml")
    shutil.copytree(ROOT / "examples" / "digi", repo / "examples" / "digi")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "commit.gpgsign", "false")
    if kind != "git":
        (repo / ".pre-commit-config.yaml").write_text(config(kind), encoding="utf-8")
        types = ([a for stage in STAGES for a in ("--hook-type", stage)]
                 if kind != "floor" else [])
        subprocess.run([str(BIN / "pre-commit"), "install", *types], cwd=repo, check=True,
                       capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def time_commits(repo: Path, repeat: int) -> list[float]:
    target = next((repo / "examples" / "digi").rglob("compose*.y*ml"))
    times = []
    for i in range(repeat + 1):  # the first commit warms pre-commit's and portledger's caches
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"# bench {i}\n")
        git(repo, "add", str(target))
        start = time.perf_counter()
        result = subprocess.run(["git", "commit", "-q", "-m", f"change {i}"], cwd=repo,
                                capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"commit failed in {repo.name}:\n{result.stdout}{result.stderr}")
        if i:
            times.append(elapsed)
    return times


def _process(command: str) -> str:
    """Which part of a commit a traced process is, from callgrind's ``cmd:`` line (the
    repositories' folders are named after their kind, so the names looked for are the
    programs'). git commands that pre-commit or a hook runs count as git."""
    if "-mpre_commit" in command or "/pre-commit " in command:
        return "pre-commit"
    if "portledger.hooks." in command or "-hook" in command:
        return "portledger"
    return "git and the rest"


def count_commit(repo: Path, out: Path) -> dict[str, int]:
    """Instructions of one ``git commit`` and every process it starts (callgrind,
    ``--trace-children``), by part: pre-commit, portledger's hooks, git and the rest."""
    target = next((repo / "examples" / "digi").rglob("compose*.y*ml"))
    with target.open("a", encoding="utf-8") as fh:
        fh.write("# counted\n")
    git(repo, "add", str(target))
    out.mkdir()
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=yes",
         f"--callgrind-out-file={out}/cg.%p", "git", "commit", "-q", "-m", "counted"],
        cwd=repo, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if result.returncode != 0:
        raise SystemExit(f"counted commit failed in {repo.name}:\n{result.stderr[-2000:]}")
    parts: dict[str, int] = {}
    for f in out.iterdir():
        command, total = "", 0
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("cmd:"):
                command = line
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
        part = _process(command)
        parts[part] = parts.get(part, 0) + total
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions of one commit of each kind, every "
                        "process it starts included (valgrind's callgrind; slow)")
    args = parser.parse_args()
    # As an installed package runs: its bytecode (and the table of compiled dataclass
    # methods, portledger/codecache.py) written, not compiled again on every run.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "portledger")],
                   check=True, capture_output=True)
    env_cache = tempfile.mkdtemp(prefix="bench-commit-cache-")
    os.environ["PORTLEDGER_CACHE_DIR"] = env_cache
    os.environ.setdefault("PRE_COMMIT_HOME", tempfile.mkdtemp(prefix="bench-pre-commit-"))
    with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
        base = Path(tmp)
        results = {}
        repos = {kind: make_repo(base, kind) for kind in KINDS}
        # Interleaved rounds, so that the VM's drift touches every kind alike.
        samples: dict[str, list[float]] = {kind: [] for kind in repos}
        for _ in range(args.repeat):
            for kind, repo in repos.items():
                samples[kind] += time_commits(repo, 1)
        for kind, times in samples.items():
            results[kind] = (min(times), statistics.median(times))
        counts = {kind: count_commit(repo, base / f"cg-{kind}")
                  for kind, repo in repos.items() if kind != "git"} if args.instructions else {}
    shutil.rmtree(env_cache, ignore_errors=True)
    floor = results["floor"][1]
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for kind, (best, median) in results.items():
        print(f"{kind:<11} best {best * 1000:6.0f} ms  median {median * 1000:6.0f} ms  "
              f"{median / floor:4.2f}x the floor (medians)")
    three = results["floor3"][1]
    print(f"pre-commit's three starts (floor3) {three * 1000:.0f} ms; portledger's own "
          f"processes (portledger - floor3) {(results['portledger'][1] - three) * 1000:.0f} ms; "
          f"with --no-cache {(results['no-cache'][1] - three) * 1000:.0f} ms (medians)")
    if counts:
        floor_count = sum(counts["floor"].values())
        for kind, parts in counts.items():
            total = sum(parts.values())
            shares = ", ".join(f"{part} {n / 1e6:.0f} M" for part, n in sorted(parts.items()))
            print(f"{kind:<11} {total / 1e6:6.0f} M instructions  "
                  f"{total / floor_count:4.2f}x the floor  ({shares})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
