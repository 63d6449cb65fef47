"""Start-up cost of a hook run (issue 22): what a warm ``check`` of the shipped ledger
imports, and the table of compiled dataclass methods (portledger/codecache.py).

Timings are in bench/bench_startup.py; these tests assert what is imported and what is
compiled, which does not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_fixtures import ROOT

from portledger import codecache

NOT_ON_A_WARM_CHECK = (
    "jsonschema", "jsonschema_rs", "git", "docker", "psutil", "importlib.resources",
    "shutil", "tempfile", "email", "decimal", "portledger.report.portmap",
    "portledger.fixes.planner",
)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PORTLEDGER_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _modules_after_check(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import sys, json, io, contextlib\n"
        "from portledger import cli, codecache\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = cli.main(['check'])\n"
        "print(json.dumps({'exit': code, 'output': out.getvalue(),\n"
        "                  'modules': sorted(sys.modules), 'compiled': codecache._new}))\n"
        "codecache.save()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_warm_check_of_the_shipped_ledger_imports_only_what_it_uses(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = _modules_after_check(env)  # fills the check's cache (and the dataclass table)
    warm = _modules_after_check(env)
    assert (first["exit"], first["output"]) == (0, "")
    assert (warm["exit"], warm["output"]) == (0, "")
    modules = warm["modules"]
    assert isinstance(modules, list)
    loaded = [m for m in NOT_ON_A_WARM_CHECK
              if any(x == m or x.startswith(m + ".") for x in modules)]
    assert loaded == []
    # Only the command asked for is imported: no other command's module.
    commands = sorted(m for m in modules if m.startswith("portledger.commands."))
    assert commands == ["portledger.commands.check"]
    # The second run compiled no dataclass method: every one came from the table.
    assert warm["compiled"] is False


def test_the_dataclass_table_holds_the_code_compile_makes(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _modules_after_check(env)
    table = codecache._load()
    assert table, "a check with bytecode writing on leaves a table"
    source, code = next(iter(table.items()))
    assert code.co_code == compile(source, "<string>", "exec").co_code
    # Classes made through the table behave as dataclasses do.
    from portledger.findings import Edit

    a, b = Edit("f", 1, 1, 1, 2, "x"), Edit("f", 1, 1, 1, 3, "x")
    assert (a < b, a == Edit("f", 1, 1, 1, 2, "x", digest="other"), hash(a) == hash(a)) == (
        True, True, True)
    assert repr(a) == ("Edit(file='f', line=1, column=1, end_line=1, end_column=2, text='x', "
                       "digest='')")


def test_a_damaged_table_is_no_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / "dataclasses.marshal"
    monkeypatch.setattr(codecache, "_PATH", str(damaged))
    assert codecache._load() == {}  # none yet
    for data in (b"", b"\x00garbage", b"\xe9" * 100, marshal.dumps([1, 2]),
                 marshal.dumps({"text": 3, 4: compile("x = 1", "<string>", "exec")})):
        damaged.write_bytes(data)
        assert codecache._load() == {}
