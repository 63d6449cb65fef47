"""Projects Compose refuses are refused here too, with a located message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compose_reference import FIXTURES, case_of, run_compose

from portledger.cli import main as cli_main
from portledger.compose import ComposeError, load_project

INVALID = sorted(p for p in (FIXTURES / "invalid").iterdir() if p.is_dir())


@pytest.mark.parametrize("project", INVALID, ids=lambda p: p.name)
def test_invalid_fixture(
    binary: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = json.loads((project / "expected.json").read_text())
    rc, _, err = run_compose(binary, project, case_of(project), tmp_path)
    assert rc != 0, f"Docker Compose accepts {project.name}"
    monkeypatch.chdir(project)
    with pytest.raises(ComposeError) as info:
        load_project(environ=case_of(project).get("env", {}))
    e = info.value
    assert (e.code, e.file, e.line, e.column) == (
        expected["code"],
        expected["file"],
        expected["line"],
        expected["column"],
    )


@pytest.mark.parametrize("project", INVALID, ids=lambda p: p.name)
def test_cli_one_located_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = json.loads((project / "expected.json").read_text())
    monkeypatch.chdir(project)
    for key in list(__import__("os").environ):
        if key.startswith("COMPOSE_") or key == "PORT":
            monkeypatch.delenv(key)
    assert cli_main(["ports"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    prefix = f"{expected['file']}:{expected['line']}:{expected['column']}: {expected['code']} "
    assert lines[0].startswith(prefix)
    assert "Traceback" not in err
