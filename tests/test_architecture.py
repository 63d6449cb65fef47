"""The rooms' import contracts (pyproject's [tool.importlinter]) hold, and would catch a
break: an upward import or a cycle added to a copy of the package fails ``lint-imports``."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 600


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config",
                           str(tree / "pyproject.toml")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "portledger", tmp_path / "portledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_are_kept(copy: Path) -> None:
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


@pytest.mark.parametrize(("module", "line", "broken"), [
    # the ledger reaching up to the command line
    ("ledger/model.py", "import portledger.cli  # noqa", "Rooms are layered"),
    # a rule module importing the loader it is handed the results of
    ("compose/rules.py", "import portledger.compose.loader  # noqa", "never load"),
    # the probe and git importing each other
    ("probe/model.py", "import portledger.git.repo  # noqa", "Rooms are layered"),
    # a reporter importing the catalogue
    ("report/sarif.py", "import portledger.rules  # noqa", "never import the catalogue"),
])
def test_an_upward_import_breaks_a_contract(copy: Path, module: str, line: str,
                                            broken: str) -> None:
    append(copy / "portledger" / module, line)
    result = lint(copy)
    assert result.returncode == 1
    assert any(broken in ln and "BROKEN" in ln
               for ln in result.stdout.replace("\n", " ").split("KEPT")), result.stdout


def test_a_cycle_breaks_the_acyclic_contract(copy: Path) -> None:
    # Two rooms of one layer that import each other (neither is in any layers contract's
    # inner list): only the acyclic check can see it.
    (copy / "portledger" / "ledger" / "extra_a.py").write_text(
        "import portledger.ledger.extra_b  # noqa\n", encoding="utf-8")
    (copy / "portledger" / "ledger" / "extra_b.py").write_text(
        "import portledger.ledger.extra_a  # noqa\n", encoding="utf-8")
    result = lint(copy)
    assert result.returncode == 1
    assert "No import cycle anywhere in the package BROKEN" in " ".join(result.stdout.split())


def test_modules_are_small_or_say_why() -> None:
    """No module is over about 600 lines unless its docstring says why it is one piece."""
    too_long = []
    for path in sorted((ROOT / "portledger").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "one piece" not in doc:
            too_long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not too_long, too_long


def test_every_command_is_one_module_and_one_line_of_the_table() -> None:
    from portledger import cli

    modules = {p.stem for p in (ROOT / "portledger" / "commands").glob("*.py")} - {"__init__"}
    named = {m.rsplit(".", 1)[1] for m, _ in cli.COMMANDS.values()}
    assert named == modules
    parser = cli.build_parser(every=True)
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(cli.COMMANDS)  # type: ignore[arg-type]
