"""Rules PL201-PL207: compose projects against a ledger, asserted by code, line and column.

Each fixture folder under tests/compose_check/{valid,invalid}/ is checked alone against
tests/compose_check/port-mapping.yml; the expected findings are written in the compose
files themselves as ``# expect: CODE line:col[, CODE line:col]`` comments.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portledger import cli
from portledger.compose.discovery import discover, projects
from portledger.compose.discovery import glob_regex as _glob_regex
from portledger.compose.rules import yaml11_misread

HERE = Path(__file__).resolve().parent / "compose_check"
LEDGER = HERE / "port-mapping.yml"
EXPECT = re.compile(r"#\s*expect:\s*(.+)$")


def expectations(case: Path) -> set[tuple[str, str, int, int]]:
    found = set()
    for f in sorted(case.rglob("*.yaml")):
        for text in f.read_text(encoding="utf-8").splitlines():
            m = EXPECT.search(text)
            if not m:
                continue
            for item in m.group(1).split(","):
                code, where = item.split()
                line, col = where.split(":")
                found.add((str(f.relative_to(HERE)), code, int(line), int(col)))
    return found


def run_check(case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              *extra: str) -> tuple[int, list[dict]]:
    monkeypatch.chdir(HERE)
    monkeypatch.delenv("PORTLEDGER_TEST_UNSET_PORT", raising=False)
    code = cli.main(["check", "--mapping", str(LEDGER), "--format", "json", *extra,
                     str(case.relative_to(HERE))])
    out = capsys.readouterr().out
    return code, json.loads(out)["findings"]


CASES = sorted(p for p in (HERE / "invalid").iterdir()) + sorted((HERE / "valid").iterdir())


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(case: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, findings = run_check(case, capsys, monkeypatch)
    got = {(f["file"], f["code"], f["line"], f["column"]) for f in findings}
    want = expectations(case)
    assert got == want
    if case.parent.name == "valid":
        assert code == 0
    else:
        assert want, "an invalid fixture must expect something"
        errors = [f for f in findings if f["severity"] == "error"]
        assert code == (1 if errors else 0)


def test_unset_variable_is_a_warning_and_required_is_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, warn = run_check(HERE / "invalid" / "unset-variable", capsys, monkeypatch)
    assert [(f["code"], f["severity"]) for f in warn] == [("PL206", "warning")]
    assert "random host port" in warn[0]["message"]
    _, err = run_check(HERE / "invalid" / "required-variable", capsys, monkeypatch)
    assert [(f["code"], f["severity"]) for f in err] == [("PL206", "error")]


def test_owner_mismatch_names_the_owner(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, findings = run_check(HERE / "invalid" / "owner-mismatch", capsys, monkeypatch)
    assert findings[0]["message"] == (
        "pcs-api publishes 8000/tcp, which the ledger gives to digi-core.http "
        "(port-mapping.yml:12)"
    )
    assert (findings[0]["service"], findings[0]["port"], findings[0]["protocol"]) == (
        "pcs-api", 8000, "tcp")


def test_the_ledger_globs_find_every_fixture(tmp_path: Path) -> None:
    files = discover(HERE, ["**/compose*.y*ml", "**/docker-compose*.y*ml"], ["valid/**"])
    rel = {str(f.relative_to(HERE)) for f in files}
    assert "invalid/unmapped-port/compose.yaml" in rel
    assert not any(r.startswith("valid/") for r in rel)


def test_discover_skips_hidden_and_vendored_folders(tmp_path: Path) -> None:
    for d in (".git", "node_modules", "svc"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "compose.yaml").write_text("services: {}\n")
    assert discover(tmp_path, ["**/compose.yaml"]) == [tmp_path / "svc" / "compose.yaml"]


def test_a_folder_with_default_and_override_files_is_one_project(tmp_path: Path) -> None:
    names = ["compose.yaml", "compose.override.yaml", "compose.prod.yaml"]
    specs = projects([tmp_path / n for n in names])
    assert [(s.directory, s.files) for s in specs] == [
        (tmp_path, None), (tmp_path, (tmp_path / "compose.prod.yaml",))]


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("**/compose*.y*ml", "compose.yaml", True),
    ("**/compose*.y*ml", "a/b/compose.override.yml", True),
    ("examples/*/compose.yaml", "examples/a/b/compose.yaml", False),
    ("examples/**/compose.yaml", "examples/a/b/compose.yaml", True),
    ("svc/[ab]/compose.yaml", "svc/c/compose.yaml", False),
])
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert bool(_glob_regex(pattern).match(path)) is matches


@pytest.mark.parametrize(("text", "misread"), [
    ("22:22", True), ("2222:22", True), ("8000:8000", False), ("0022", True),
    ("8080", False), ("127.0.0.1:22:22", False), ("1:2:3", True),
])
def test_yaml11_misread(text: str, misread: bool) -> None:
    assert yaml11_misread(text) is misread
