"""A brownfield repository adopting portledger: the baseline, inline suppressions, the
ledger's settings, and the command-line habits of linters (real files, cli.main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adoption_repo import generate

from portledger import cli

LEGACY = 50


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["check", "--no-cache", *args])
    out, err = capsys.readouterr()
    return code, out, err


def legacy(count: int, skip: int | None = None, lead: str = "") -> str:
    """A compose file of ``count`` services publishing ports the ledger lacks."""
    lines = [lead + "services:"]
    for i in range(count):
        if i == skip:
            continue
        lines += [f"  old{i:02d}:", "    image: old", f'    ports: ["{2500 + i}:80"]']
    return "\n".join(lines) + "\n"


@pytest.fixture
def brownfield(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> Path:
    """A repository with a ledger from init, then 50 unmapped ports (50 PL201)."""
    generate(tmp_path, 5)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--write"]) == 0
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "compose.yaml").write_text(legacy(LEGACY))
    capsys.readouterr()
    return tmp_path


def test_baseline_then_only_new_findings(brownfield: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys)
    assert code == 1 and out.endswith(f"Found {LEGACY} errors, 0 warnings in 12 files.\n")
    assert cli.main(["baseline"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"portledger: wrote .portledger-baseline.json: {LEGACY} findings\n"
                          "--- a/port-mapping.yml\n")
    assert "+settings:\n+  baseline: .portledger-baseline.json\n" in out
    doc = json.loads((brownfield / ".portledger-baseline.json").read_text())
    assert doc["findings"][0] == {"code": "PL201", "file": "legacy/compose.yaml",
                                  "service": "old00", "port": 2500, "protocol": "tcp",
                                  "count": 1, "rule": "unmapped-port"}
    assert check(capsys) == (0, f"Found 0 errors, 0 warnings in 12 files ({LEGACY} in the "
                                "baseline).\n", "")
    code, out, _ = check(capsys, "--format", "json")
    assert json.loads(out)["summary"] == {"errors": 0, "warnings": 0, "notices": 0,
                                          "files": 12, "suppressed": 0, "baselined": LEGACY}

    # Lines moved (a comment and blank lines on top): still matched.
    compose = brownfield / "legacy" / "compose.yaml"
    compose.write_text(legacy(LEGACY, lead="# legacy stack\n\n\n"))
    assert check(capsys)[0] == 0

    # A new conflict fails, alone.
    (brownfield / "new").mkdir()
    (brownfield / "new" / "compose.yaml").write_text(
        'services:\n  newcomer:\n    image: n\n    ports: ["2510:80"]\n')
    assert findings(capsys) == (1, [
        ("new/compose.yaml", 4, 13, "PL201", "newcomer publishes 2510/tcp, which "
         "port-mapping.yml does not allocate"),
        ("new/compose.yaml", 4, 13, "PL204", "newcomer publishes 2510/tcp, already published "
         "by old10 (legacy/compose.yaml:37)"),
    ])
    (brownfield / "new" / "compose.yaml").unlink()

    # A baselined finding fixed: a notice that names the entry; the exit stays 0.
    compose.write_text(legacy(LEGACY, skip=7, lead="# legacy stack\n\n\n"))
    code, out, _ = check(capsys)
    assert (code, out) == (0, (
        ".portledger-baseline.json:11:1: PL503 stale-baseline-entry [notice] baseline entry "
        "PL201 legacy/compose.yaml old07 2507/tcp matches no finding now; run `portledger "
        "baseline` to drop it\n"
        f"Found 0 errors, 0 warnings in 12 files ({LEGACY - 1} in the baseline).\n"))
    assert cli.main(["baseline"]) == 0
    assert capsys.readouterr().out == (
        f"portledger: wrote .portledger-baseline.json: {LEGACY - 1} findings\n")
    assert check(capsys)[:2] == (0, f"Found 0 errors, 0 warnings in 12 files ({LEGACY - 1} "
                                    "in the baseline).\n")
    assert check(capsys, "--no-baseline")[0] == 1


def test_a_broken_baseline_is_a_located_usage_error(
        brownfield: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (brownfield / "b.json").write_text('{"version": 1,\n "findings": [}\n')
    assert check(capsys, "--baseline", "b.json") == (
        2, "", "portledger: b.json:2:15: not JSON: Expecting value\n")
    (brownfield / "b.json").write_text('{"version": 1, "findings": [\n  {"code": 1}\n]}\n')
    assert check(capsys, "--baseline", "b.json") == (
        2, "", 'portledger: b.json:2:1: baseline entry 1: expected {"code", "file", '
               '"service", "port", "protocol", "count"}\n')
    assert check(capsys, "--baseline", "none.json") == (
        2, "", "portledger: none.json: no such baseline file (write one with `portledger "
               "baseline`)\n")


COMPOSE = """\
# portledger: ignore-file[PL206] ports set by the deploy tool
services:
  metrics:
    image: m
    ports:
      - "2601:80"  # portledger: ignore[PL201] scraped by the old Nagios, gone in Q3
      - "2602:80"  # portledger: ignore[unmapped-port]
      - "2603:80"
      - "${NOPE}:81"
  other:
    image: o
    ports: ["2604:80"]  # portledger: ignore[PL202] nothing to suppress here
"""

LEDGER = """\
version: 1
ranges:
  edge: {start: 1, end: 1023}
  application: {start: 2000, end: 2999}
services:
  http:
    category: edge  # portledger: ignore[PL110] nothing to suppress
    ports:
      http: {port: 80}  # portledger: ignore[PL106] the public entry point
      https: {port: 443}  # portledger: ignore[system-port]
  other:
    category: application
    ports: {http: {port: 2604}}
"""


def findings(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[tuple[object,
                                                                                 ...]]]:
    """check's exit code and its findings as (file, line, column, code, message)."""
    code, out, _ = check(capsys, "--format", "json", *args)
    return code, [(f["file"], f["line"], f["column"], f["code"], f["message"])
                  for f in json.loads(out)["findings"]]


def test_suppressions_each_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "port-mapping.yml").write_text(LEDGER)
    assert findings(capsys) == (1, [
        ("compose.yaml", 7, 20, "PL501", "portledger: ignore[unmapped-port] gives no reason; "
         "add one after the bracket"),
        ("compose.yaml", 8, 9, "PL201", "metrics publishes 2603/tcp, which port-mapping.yml "
         "does not allocate"),
        ("compose.yaml", 12, 25, "PL502", "portledger: ignore[PL202] suppresses nothing on "
         "this line; remove it"),
        ("port-mapping.yml", 7, 21, "PL502", "portledger: ignore[PL110] suppresses nothing on "
         "this line; remove it"),
        ("port-mapping.yml", 10, 27, "PL501", "portledger: ignore[system-port] gives no "
         "reason; add one after the bracket"),
    ])
    code, out, _ = check(capsys, "--format", "json")
    summary = json.loads(out)["summary"]
    assert summary == {"errors": 1, "warnings": 2, "notices": 2, "files": 2,
                       "suppressed": 5, "baselined": 0}
    assert check(capsys)[1].endswith("Found 1 error, 2 warnings in 2 files (5 suppressed).\n")
    # A rule left out: its suppression is not called unused.
    code, found = findings(capsys, "--ignore", "PL110,PL202")
    assert [f[3] for f in found] == ["PL501", "PL201", "PL501"]


def test_suppression_naming_no_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compose.yaml").write_text(
        'services:\n  a:\n    image: a\n    ports: ["2001:80"]  # portledger: ignore[PL999] x\n')
    (tmp_path / "port-mapping.yml").write_text(
        "version: 1\nranges:\n  application: {start: 2000, end: 2999}\nservices:\n"
        "  a: {category: application, ports: {http: {port: 2001}}}\n")
    assert check(capsys, "-q") == (0, (
        "compose.yaml:4:25: PL502 unused-suppression [notice] portledger: ignore[PL999] "
        "names no rule; remove it\n"), "")


SETTINGS_LEDGER = """\
version: 1
settings:
  ignore: [PL109]
  fail_level: warning
  per_path_ignores:
    "examples/**": [PL201]
ranges:
  application: {start: 2000, end: 2999}
services:
  api:
    category: application
    ports: {http: {port: 2001}}
"""


def test_settings_in_one_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "port-mapping.yml").write_text(SETTINGS_LEDGER)
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "compose.yaml").write_text(
        'services:\n  api:\n    image: a\n    ports: ["2001:80", "${P}:81"]\n')
    (tmp_path / "examples" / "demo").mkdir(parents=True)
    (tmp_path / "examples" / "demo" / "compose.yaml").write_text(
        'services:\n  demo:\n    image: d\n    ports: ["2999:80"]\n')
    # fail_level: warning from the settings: the PL206 warning fails; PL201 under
    # examples/ is not reported.
    code, out, _ = check(capsys, "-q")
    assert (code, out) == (1, "api/compose.yaml:4:24: PL206 unresolved-variable [warning] "
                              "${P} is not set, so api publishes container port 81 on a "
                              "random host port\n")
    # Options override the settings.
    assert check(capsys, "-q", "--fail-level", "error")[0] == 0
    assert findings(capsys, "--ignore", "PL206") == (0, [])
    # Without the per-path ignore, the example's port is reported.
    (tmp_path / "port-mapping.yml").write_text(SETTINGS_LEDGER.replace(
        '  per_path_ignores:\n    "examples/**": [PL201]\n', ""))
    assert findings(capsys, "--ignore", "PL206") == (1, [
        ("examples/demo/compose.yaml", 4, 13, "PL201",
         "demo publishes 2999/tcp, which port-mapping.yml does not allocate")])
    assert check(capsys, "--exit-zero")[0] == 0
    # The mapping hook (the ledger alone) reads the same settings.
    (tmp_path / "port-mapping.yml").write_text(SETTINGS_LEDGER.replace("ignore: [PL109]",
                                                                       "ignore: [nope]"))
    code, out, err = check(capsys)
    assert (code, out) == (2, "")
    assert err == ("portledger: port-mapping.yml:3:11: settings.ignore: unknown rule 'nope' "
                   "(see `portledger rules`)\n")


def test_output_file_and_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "port-mapping.yml").write_text(SETTINGS_LEDGER)
    (tmp_path / "compose.yaml").write_text(
        'services:\n  x:\n    image: a\n    ports: ["2002:80"]\n')
    assert check(capsys, "-o", "report.json", "--format", "json") == (1, "", "")
    assert json.loads((tmp_path / "report.json").read_text())["findings"][0]["code"] == "PL201"
    assert check(capsys, "-o", "report.txt", "-q") == (1, "", "")
    report = (tmp_path / "report.txt").read_text()
    assert report.startswith("compose.yaml:4:13: PL201 unmapped-port x publishes 2002/tcp, "
                             "which port-mapping.yml does not allocate\n    fix: ")
    assert report.count("\n") == 2  # the finding and its plan, no count line (-q)
    assert check(capsys, "-o", "nowhere/report.txt")[0] == 2


def test_error_messages_are_prefixed_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--bogus"]) == 2
    assert capsys.readouterr().err == "portledger: unrecognized arguments: --bogus\n"
    assert cli.main(["check", "--format", "nope"]) == 2
    assert capsys.readouterr().err.startswith(
        "portledger: check: argument --format: invalid choice: 'nope'")


def test_file_suppressions_without_reason_and_unused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compose.yaml").write_text(
        "# portledger: ignore-file[PL204] nothing is published twice here\n"
        'services:\n  a:\n    image: a\n    ports: ["2001:80"]\n')
    (tmp_path / "port-mapping.yml").write_text(
        "# portledger: ignore-file[PL106]\n"
        "version: 1\nranges:\n  application: {start: 2000, end: 2999}\nservices:\n"
        "  a:\n    category: application\n    ports:\n"
        "      http: {port: 2001}\n"
        "      low: {port: 80, exception: outside on purpose}\n")
    assert findings(capsys) == (0, [
        ("compose.yaml", 1, 1, "PL502", "portledger: ignore-file[PL204] suppresses nothing "
         "in this file; remove it"),
        ("port-mapping.yml", 1, 1, "PL501", "portledger: ignore-file[PL106] gives no reason; "
         "add one after the bracket"),
        ("port-mapping.yml", 1, 1, "PL502", "portledger: ignore-file[PL106] suppresses "
         "nothing in this file; remove it"),
    ])
    # The ledger's file suppression at work once the exception is gone.
    text = (tmp_path / "port-mapping.yml").read_text()
    (tmp_path / "port-mapping.yml").write_text(text.replace(", exception: outside on purpose",
                                                            ""))
    code, found = findings(capsys)
    assert [(f[0], f[1], f[3]) for f in found] == [
        ("compose.yaml", 1, "PL502"), ("port-mapping.yml", 1, "PL501"),
        ("port-mapping.yml", 10, "PL105"), ("port-mapping.yml", 10, "PL109")]  # not PL106
    assert code == 1
