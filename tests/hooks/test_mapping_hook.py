"""The hook modules' own argument handling (pre-commit passes args, then file names)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portledger.hooks import compose as compose_hook
from portledger.hooks import mapping

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PORT = ROOT / "examples" / "conflicts" / "system-port" / "port-mapping.yml"


def test_no_files_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert mapping.main([]) == 0
    assert capsys.readouterr().out == ""


def test_each_ledger_is_checked_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert mapping.main(["--format", "json", str(ROOT / "port-mapping.yml"),
                         str(SYSTEM_PORT)]) == 1
    out = capsys.readouterr().out
    first, second = out.split("\n}\n{")
    assert json.loads(first + "\n}")["findings"] == []
    codes = [f["code"] for f in json.loads("{" + second)["findings"]]
    assert codes == ["PL105", "PL106", "PL109"]


def test_select_ignore_and_fail_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert mapping.main(["--ignore", "PL105,PL106", str(SYSTEM_PORT)]) == 0
    assert mapping.main(["--ignore", "PL105,PL106", "--fail-level", "warning",
                         str(SYSTEM_PORT)]) == 1
    assert mapping.main(["--select", "system-port", "--format", "github",
                         str(SYSTEM_PORT)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("::error file=")
    assert ",title=PL106 system-port::" in out[-1]


def test_compose_hook_runs_the_whole_check(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(SYSTEM_PORT.parent)
    assert compose_hook.main(["--select", "PL2"]) == 0
    assert compose_hook.main([]) == 1
    assert "PL106 system-port" in capsys.readouterr().out
