"""portledger's published ports equal Docker Compose v2.40.3's, project by project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compose_reference import CORPUS, FIXTURES, case_of, compose_records, run_compose

from portledger.compose import load_project, ports_json

VALID = sorted(p for p in (FIXTURES / "valid").iterdir() if p.is_dir())
CORPUS_PROJECTS = sorted(p for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []


def _ours(project: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    case = case_of(project)
    monkeypatch.chdir(project)
    loaded = load_project(
        files=case.get("files"),
        project_directory=case.get("project_directory"),
        env_files=case.get("env_files"),
        profiles=case.get("profiles"),
        environ=case.get("env", {}),
    )
    return ports_json(loaded)["published"]


def _check(binary: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, out, err = run_compose(binary, project, case_of(project), tmp_path)
    assert rc == 0, f"Docker Compose refused {project.name}: {err}"
    expected = compose_records(json.loads(out))
    assert _ours(project, monkeypatch) == expected


@pytest.mark.skipif(not CORPUS_PROJECTS, reason="../shared/corpus/awesome-compose is absent")
@pytest.mark.parametrize("project", CORPUS_PROJECTS, ids=lambda p: p.name)
def test_corpus_project(
    binary: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check(binary, project, tmp_path, monkeypatch)


def test_corpus_is_complete() -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus/awesome-compose is absent")
    assert len(CORPUS_PROJECTS) == 39


@pytest.mark.parametrize("project", VALID, ids=lambda p: p.name)
def test_valid_fixture(
    binary: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check(binary, project, tmp_path, monkeypatch)


def test_valid_fixtures_publish_something(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixture whose ports all vanish would pass the differential test vacuously.
    for project in VALID:
        assert _ours(project, monkeypatch), project.name
