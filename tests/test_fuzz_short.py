"""The fuzz campaign's short run (about a minute), in the test command: every reader fed
hostile input, no internal error, no hang, exit codes 0/1/2, every error located.
The long run and its figure: the README's "Hardening" section (bench/fuzz.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("yaml", "ledger", "compose", "dotenv", "interpolation", "ports", "commit-msg",
           "arguments", "render")


def test_a_minute_of_fuzzing_breaks_no_promise(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--seconds", "55", "--seed", "21",
         "--out", str(tmp_path / "failures")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    for target in TARGETS:
        # Every reader was fed, and nothing failed.
        inputs = int(re.search(r"(\d+) inputs", lines[target]).group(1))  # type: ignore[union-attr]
        assert inputs > 0 and "failures: none" in lines[target], lines[target]
    assert list((tmp_path / "failures").iterdir()) == []
