"""The README stays true: its set-up commands are what CI runs, its worked examples are
the tool's real output, and every hook and rule it should list is there."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # noqa: F401 - only to make sure the test environment has PyYAML

from portledger.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_exactly_the_two_readme_commands() -> None:
    first, second = bash_blocks(README)[:2]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci.splitlines()]
    assert first in ci_lines
    assert second in ci_lines
    assert "portledger check" in first
    assert "pytest" in second


def test_every_hook_is_documented() -> None:
    hooks = re.findall(r"^- id: (\S+)", (ROOT / ".pre-commit-hooks.yaml").read_text(), re.M)
    assert hooks
    for hook in hooks:
        assert f"`{hook}`" in README, hook


def test_every_rule_is_in_the_rule_table() -> None:
    for r in RULES:
        assert re.search(rf"^\| {r.code} \| `{r.name}` \| ", README, re.M), r.code


def console_examples() -> list[tuple[str, str, str]]:
    """(folder, command, expected output) of each ``$ cd DIR && portledger ...`` block."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        lines = block.splitlines()
        folder = None
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.startswith("$ "):
                i += 1
                continue
            command = line[2:]
            m = re.match(r"cd (\S+) && (.*)", command)
            if m:
                folder, command = m.group(1), m.group(2)
            output = []
            i += 1
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            if folder and output:
                found.append((folder, command, "\n".join(output) + "\n"))
    return found


@pytest.mark.parametrize(("folder", "command", "expected"), console_examples(),
                         ids=lambda v: v if isinstance(v, str) and "\n" not in v else "")
def test_worked_examples_are_real_output(folder: str, command: str, expected: str,
                                         tmp_path: Path) -> None:
    import shutil

    work = tmp_path / Path(folder).name
    shutil.copytree(ROOT / folder, work)
    # Earlier commands of the same block ran first (check before check --fix).
    argv = shlex.split(command)
    assert argv[0] == "portledger"
    result = subprocess.run([sys.executable, "-m", "portledger", *argv[1:]], cwd=work,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout == expected


def test_there_are_worked_examples() -> None:
    assert len(console_examples()) >= 3
