#!/usr/bin/env python3
"""Benchmark: the port diff over a long history (issue 5: 1,000 commits, 200 files, < 10 s).

Builds a repository with ``git fast-import`` (fast, and no hooks run): a ledger, COMPOSE
compose projects (some with a ``.env``, an override file, or ``extends`` of a shared
file) and source files, FILES files in all; then COMMITS commits, each editing one to
three files: every 7th commit moves a published port (through the compose file, its
``.env`` or the ledger), every 50th renames a project folder, the rest touch source and
docs. About one port change in five lacks its trailer: the answer key.

Measured, each in a fresh process (the real start-up cost, GitPython's import included),
best of --repeat runs:

* ``check-commits FIRST..HEAD``: a diff per commit, 1,000 of them (the heavy case);
* ``diff FIRST HEAD``: the net change over the whole history;
* ``diff``: HEAD against the index (what the commit-msg hook does on every commit).

and checks that check-commits names exactly the commits the generator left undocumented.

    python bench/bench_diff.py --commits 1000 --files 200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNNER = """
import sys
from portledger.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def ledger_text(ports: dict[str, int]) -> str:
    lines = ["version: 1", "ranges:", "  application: {start: 20000, end: 29999}", "services:"]
    for name, port in sorted(ports.items()):
        lines += [f"  {name}:", "    category: application", "    ports:",
                  f"      http: {{port: {port}, target: 8000}}"]
    lines += ["compose:", '  files: ["services/**/compose*.y*ml"]']
    return "\n".join(lines) + "\n"


def compose_text(name: str, published: str, target: int = 8000) -> str:
    return (f"name: {name}\nservices:\n  {name}:\n    image: example/{name}:1\n"
            f"    ports:\n      - \"{published}:{target}\"\n")


class History:
    """The synthetic repository's files and commits, written as a fast-import stream."""

    def __init__(self, files: int, compose: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.files: dict[str, str] = {}
        self.port: dict[str, int] = {}
        self.folder: dict[str, str] = {}
        self.env: set[str] = set()
        for i in range(compose):
            name = f"svc{i:03d}"
            self.port[name] = 20000 + 10 * i
            self.folder[name] = f"services/{name}"
            if i % 5 == 0:  # interpolated from the project's .env
                self.env.add(name)
                self.files[f"services/{name}/.env"] = f"PORT={self.port[name]}\n"
                self.files[f"services/{name}/compose.yaml"] = compose_text(name, "${PORT}")
            elif i % 5 == 1:  # extends a shared base, published in an override file
                self.files[f"services/{name}/compose.yaml"] = (
                    f"services:\n  {name}:\n    extends: {{file: ../../common/base.yml, "
                    "service: base}\n")
                self.files[f"services/{name}/compose.override.yaml"] = (
                    f"services:\n  {name}:\n    ports: [\"{self.port[name]}:8000\"]\n")
            else:
                self.files[f"services/{name}/compose.yaml"] = compose_text(
                    name, str(self.port[name]))
        self.files["common/base.yml"] = "services:\n  base:\n    image: example/base:1\n"
        self.files["port-mapping.yml"] = ledger_text(self.port)
        n = 0
        while len(self.files) < files:
            self.files[f"src/pkg{n % 10}/module{n:03d}.py"] = f"VALUE = {n}\n"
            n += 1
        self.sources = sorted(p for p in self.files if p.startswith("src/"))
        self.undocumented: list[int] = []

    def _compose_path(self, name: str) -> str:
        return f"{self.folder[name]}/compose.yaml"

    def step(self, i: int) -> tuple[str, dict[str, str | None]]:
        """Commit ``i``'s message and changed files (None: deleted)."""
        rng = self.rng
        if i % 7 == 3:
            name = f"svc{rng.randrange(len(self.port)):03d}"
            old, new = self.port[name], self.port[name] + 1 + rng.randrange(5)
            self.port[name] = new
            changes: dict[str, str | None] = {"port-mapping.yml": ledger_text(self.port)}
            folder = self.folder[name]
            if name in self.env:
                changes[f"{folder}/.env"] = f"PORT={new}\n"
            elif f"{folder}/compose.override.yaml" in self.files:
                changes[f"{folder}/compose.override.yaml"] = (
                    f"services:\n  {name}:\n    ports: [\"{new}:8000\"]\n")
            else:
                changes[self._compose_path(name)] = compose_text(name, str(new))
            message = f"Move {name} to {new}"
            if rng.random() < 0.2:
                self.undocumented.append(i)
            else:
                message += f"\n\nPort-Change: {name} http {old} -> {new} (tcp)"
            return message, changes
        if i % 50 == 10:  # a renamed project folder: no port change
            name = f"svc{rng.randrange(len(self.port)):03d}"
            old_folder = self.folder[name]
            new_folder = f"services/moved{i}/{name}"
            changes = {}
            for path in [p for p in self.files if p.startswith(old_folder + "/")]:
                changes[path] = None
                changes[new_folder + path[len(old_folder):]] = self.files[path]
            extends = "../../common/base.yml"
            for path, text in list(changes.items()):
                if text is not None and extends in text:
                    changes[path] = text.replace(extends, "../../../common/base.yml")
            self.folder[name] = new_folder
            return f"Move {name}'s folder", changes
        picked = rng.sample(self.sources, rng.randrange(1, 4))
        return f"Work {i}", {p: f"VALUE = {i}\n" for p in picked}

    def apply(self, changes: dict[str, str | None]) -> None:
        for path, text in changes.items():
            if text is None:
                self.files.pop(path, None)
            else:
                self.files[path] = text


def fast_import_stream(history: History, commits: int) -> bytes:
    out: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        out.append(b"data %d\n" % len(raw) + raw + b"\n")

    when = 1_700_000_000
    for i in range(commits):
        if i == 0:
            message, changes = "Initial import", dict(history.files)
        else:
            message, changes = history.step(i)
            history.apply(changes)
        out.append(b"commit refs/heads/main\n")
        out.append(b"mark :%d\n" % (i + 1))
        out.append(b"committer Bench <bench@example.com> %d +0000\n" % (when + i))
        data(message)
        if i:
            out.append(b"from :%d\n" % i)
        for path, text in sorted(changes.items()):
            if text is None:
                out.append(f"D {path}\n".encode())
            else:
                out.append(f"M 100644 inline {path}\n".encode())
                data(text)
    return b"".join(out)


def build(folder: Path, files: int, compose: int, commits: int, seed: int) -> History:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, env=env)
    history = History(files, compose, seed)
    stream = fast_import_stream(history, commits)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=folder, input=stream, check=True,
                   env=env)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=folder, check=True, env=env)
    return history


def timed(folder: Path, argv: list[str],
          repeat: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    best = float("inf")
    result: subprocess.CompletedProcess[str] | None = None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", RUNNER, *argv], cwd=folder, env=env,
                                capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--compose", type=int, default=40, help="compose projects")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portledger-bench-diff-") as tmp:
        folder = Path(tmp) / "repo"
        start = time.perf_counter()
        history = build(folder, args.files, args.compose, args.commits, args.seed)
        built = time.perf_counter() - start
        tracked = subprocess.run(["git", "ls-files"], cwd=folder, capture_output=True,
                                 text=True, check=True).stdout.count("\n")
        first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=folder,
                               capture_output=True, text=True, check=True).stdout.strip()
        print(f"repository: {args.commits} commits, {tracked} files, {args.compose} compose "
              f"projects (built in {built:.1f} s)")

        seconds, result = timed(folder, ["check-commits", f"{first}..HEAD", "--format", "json"],
                                args.repeat)
        found = json.loads(result.stdout)["findings"]
        flagged = sorted({f["message"].split(" ")[1] for f in found})
        log = subprocess.run(["git", "log", "--reverse", "--format=%h", "--abbrev=7"],
                             cwd=folder, capture_output=True, text=True, check=True)
        order = log.stdout.split()
        expected = sorted(order[i] for i in history.undocumented)
        verdict = "exactly the undocumented commits" if flagged == expected else (
            f"MISMATCH: flagged {len(flagged)}, expected {len(expected)}")
        print(f"check-commits over {args.commits - 1} commits: {seconds:.2f} s "
              f"({1000 * seconds / (args.commits - 1):.1f} ms a commit); "
              f"{len(flagged)} commits flagged, {verdict}")

        seconds, result = timed(folder, ["diff", first, "HEAD", "--format", "json"], args.repeat)
        changes = json.loads(result.stdout)["changes"]
        print(f"diff {first[:7]} HEAD (net change of the history): {seconds:.2f} s, "
              f"{len(changes)} changes")

        subprocess.run(["git", "rm", "-q", "--cached", "src/pkg0/module000.py"], cwd=folder,
                       check=True)
        seconds, result = timed(folder, ["diff"], args.repeat)
        print(f"diff (HEAD vs the index, as the commit-msg hook runs it): {seconds:.2f} s")
        return 0 if flagged == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
