"""The ``portledger`` command line: exit codes, rule selection, formats, hostile inputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_fixtures import INVALID, ROOT, SHIPPED_LEDGER, VALID

from portledger import check, cli
from portledger.rules import RULES

TWO_RULES = INVALID / "PL107-reserved-range-other-category.yml"  # PL105 and PL107
WARNS = INVALID / "PL105-out-of-range.yml"  # PL105 (error) and PL109 (warning)


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["check", "--no-compose", *args])
    out, err = capsys.readouterr()
    return code, out, err


def codes(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, list[str]]:
    code, out, _ = run_check(capsys, "--mapping", str(path), "--format", "json", *args)
    return code, [f["code"] for f in json.loads(out)["findings"]]


# -- exit codes ---------------------------------------------------------------------

def test_exit_0_on_a_clean_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_check(capsys, "--mapping", str(SHIPPED_LEDGER))
    assert (code, out, err) == (0, "", "")


def test_exit_1_on_findings(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(capsys, "--mapping", str(INVALID / "PL104-duplicate-allocation.yml"))[0] == 1


def test_exit_2_on_a_missing_ledger(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "port-mapping.yml"
    code, out, err = run_check(capsys, "--mapping", str(missing))
    assert (code, out) == (2, "")
    assert err == (f"portledger: {missing}: no such file (given by --mapping; `portledger init "
                   f"--write --mapping {missing}` writes one)\n")


def test_exit_2_when_no_ledger_is_found(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_check(capsys)
    assert (code, out) == (2, "")
    assert err == ("portledger: no port-mapping.yml in this folder or above it "
                   "(pass --mapping FILE, or write one with `portledger init --write`)\n")


def test_exit_2_on_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_check(capsys, "--format", "xml")
    assert (code, out) == (2, "")
    assert err.startswith("portledger: check: argument --format: invalid choice")
    assert err.count("\n") == 1


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: portledger")


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from portledger import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"portledger {__version__}\n"


def test_an_internal_error_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(check, "run", boom)
    code, out, err = run_check(capsys, "--mapping", str(SHIPPED_LEDGER))
    assert (code, out) == (2, "")
    assert err == ("portledger: internal error: RuntimeError: kaput "
                   "(please report it with the input that caused it)\n")


# -- --select / --ignore ------------------------------------------------------------

def test_without_selection_both_rules_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert codes(capsys, TWO_RULES) == (1, ["PL105", "PL107"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "PL105"], ["PL105"]),
        (["--select", "pl107"], ["PL107"]),
        (["--select", "out-of-range"], ["PL105"]),
        (["--select", "reserved-range"], ["PL107"]),
        (["--select", "PL10"], ["PL105", "PL107"]),
        (["--select", "PL1"], ["PL105", "PL107"]),
        (["--select", "PL105,reserved-range"], ["PL105", "PL107"]),
        (["--select", "PL105", "--select", "PL107"], ["PL105", "PL107"]),
        (["--select", "PL104"], []),
        (["--ignore", "PL105"], ["PL107"]),
        (["--ignore", "reserved-range"], ["PL105"]),
        (["--ignore", "PL10"], []),
        (["--ignore", "out-of-range,PL107"], []),
        (["--select", "PL10", "--ignore", "PL107"], ["PL105"]),
    ],
)
def test_select_and_ignore(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    code, got = codes(capsys, TWO_RULES, *args)
    assert got == expected
    assert code == (1 if expected else 0)


@pytest.mark.parametrize("word", ["nope", "PL9", "PL1000", "P", "105", "Out-Of-Range"])
@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_unknown_rule_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], option: str, word: str
) -> None:
    code, out, err = run_check(capsys, "--mapping", str(SHIPPED_LEDGER), option, word)
    assert (code, out) == (2, "")
    assert err == f"portledger: unknown rule {word!r} (see `portledger rules`)\n"


# -- --fail-level -------------------------------------------------------------------

def test_fail_level(capsys: pytest.CaptureFixture[str]) -> None:
    warn_only = INVALID / "PL109-well-known-port.yml"
    assert codes(capsys, warn_only) == (0, ["PL109"])
    assert codes(capsys, warn_only, "--fail-level", "warning") == (1, ["PL109"])
    assert codes(capsys, warn_only, "--fail-level", "notice") == (1, ["PL109"])
    assert codes(capsys, WARNS, "--fail-level", "error") == (1, ["PL105", "PL109"])
    assert codes(capsys, WARNS, "--ignore", "PL105") == (0, ["PL109"])


# -- formats ------------------------------------------------------------------------

def test_text_format(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run_check(capsys, "--mapping", WARNS.name)
    assert (code, err) == (1, "")
    assert out == (
        "PL105-out-of-range.yml:12:20: PL105 out-of-range prometheus.http 9090 is outside its "
        "category monitoring (3000-3999); move it into the range or add an exception with "
        "the reason\n"
        "    fix: prometheus.http belongs in monitoring; prometheus.http moves to 3000 (next "
        "free in monitoring): edit PL105-out-of-range.yml:12 port: 3000\n"
        "PL105-out-of-range.yml:12:20: PL109 well-known-port [warning] prometheus.http "
        "9090/tcp is registered to websm\n"
        "Found 1 error, 1 warning in 1 file.\n"
    )


def test_text_format_is_the_default_and_paths_are_relative(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run_check(capsys, "--mapping", str(INVALID / "PL103-range-overlap.yml"))
    assert code == 1
    assert out.splitlines()[0] == (
        "tests/ledger/invalid/PL103-range-overlap.yml:6:3: PL103 range-overlap range "
        "monitoring (2900-3999) overlaps range application (2000-2999) on 2900-2999"
    )


DESIGN_FINDING_KEYS = {
    "code", "rule", "severity", "file", "line", "column",
    "message", "service", "port", "protocol", "fix",
}
# Beyond DESIGN.md: where the finding ends, for annotations and SARIF regions.
EXTRA_FINDING_KEYS = {"end_line", "end_column"}


def test_json_format_shape(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run_check(capsys, "--mapping", "PL104-duplicate-allocation.yml",
                               "--format", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert set(doc) == {"findings", "summary"}
    assert doc["summary"] == {"errors": 1, "warnings": 0, "notices": 0, "files": 1,
                              "suppressed": 0, "baselined": 0}
    (finding,) = doc["findings"]
    assert set(finding) == DESIGN_FINDING_KEYS | EXTRA_FINDING_KEYS
    assert finding == {
        "code": "PL104",
        "rule": "duplicate-allocation",
        "severity": "error",
        "file": "PL104-duplicate-allocation.yml",
        "line": 14,
        "column": 20,
        "end_line": None,
        "end_column": None,
        "message": "pcs-api.http 8000/tcp is already allocated to digi-core.http "
                   "(8000/tcp, line 10)",
        "service": "pcs-api",
        "port": 8000,
        "protocol": "tcp",
        "fix": "digi-core keeps 8000 (same priority and status; the name that sorts first "
        "keeps it); pcs-api.http moves to 8001 (next free in user-facing): edit "
        "PL104-duplicate-allocation.yml:14 port: 8001",
    }


def test_json_summary_counts_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_check(capsys, "--mapping", str(WARNS), "--format", "json")
    assert json.loads(out)["summary"] == {"errors": 1, "warnings": 1, "notices": 0, "files": 1,
                                         "suppressed": 0, "baselined": 0}


def test_rules_command_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rules", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in listed] == [r.code for r in RULES]
    assert listed[4] == {"code": "PL104", "name": "duplicate-allocation", "severity": "error",
                         "summary": "two ledger services own the same port/protocol/host "
                                    "address on one host"}
    assert cli.main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(RULES)
    assert lines[8].split()[:3] == ["PL108", "ephemeral-port", "warning"]


# -- start-up cost ------------------------------------------------------------------

def test_importing_the_cli_imports_nothing_heavy() -> None:
    heavy = ("jsonschema", "git", "docker", "psutil")
    code = (
        "import portledger.cli, sys; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout == "[]\n"


# -- hostile inputs, through the real command in a subprocess ------------------------

LOCATED = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): ", re.MULTILINE)


def portledger(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portledger", *args],
        capture_output=True, text=True, timeout=10, cwd=cwd,
    )


def check_hostile(path: Path) -> tuple[int, int, str]:
    """Run ``check`` on ``path`` (from its folder, so that it is reported by its name);
    assert exit 1, no traceback, exactly one located message, and return the (line,
    column, text) of that message.
    """
    result = portledger("check", "--no-compose", "--mapping", str(path), cwd=path.parent)
    both = result.stdout + result.stderr
    assert "Traceback" not in both
    assert result.returncode == 1, both
    assert result.stderr == ""
    located = list(LOCATED.finditer(result.stdout))
    assert len(located) == 1, result.stdout
    (m,) = located
    assert m.group("file") == path.name
    message = result.stdout[m.start():].splitlines()[0]
    lines = result.stdout.splitlines(keepends=True)
    fix = lines[1] if len(lines) == 3 and lines[1].startswith("    fix: ") else ""
    assert result.stdout == message + "\n" + fix + "Found 1 error, 0 warnings in 1 file.\n"
    return int(m.group("line")), int(m.group("col")), message


def test_hostile_base60_trap() -> None:
    # A YAML 1.1 loader reads 22:22 as 1342, a port inside the range: it would pass.
    line, col, message = check_hostile(INVALID / "PL100-schema-base60-trap.yml")
    assert (line, col) == (11, 19)
    assert "PL100 schema services.gitea.ports.ssh.port: '22:22' is not valid" in message


def test_hostile_duplicate_keys() -> None:
    line, col, message = check_hostile(INVALID / "PL102-duplicate-key.yml")
    assert (line, col) == (10, 3)
    assert message.endswith(
        "PL102 duplicate-key services.pcs-api: key 'pcs-api' repeats the one on line 7; "
        "YAML loaders silently keep only the last"
    )


def test_hostile_alias_bomb() -> None:
    line, col, message = check_hostile(INVALID / "PL101-yaml-syntax-alias-bomb.yml")
    assert (line, col) == (3, 1)
    assert "PL101 yaml-syntax aliases expand this document to 490329064 nodes" in message


def test_hostile_invalid_utf8() -> None:
    line, col, message = check_hostile(INVALID / "PL101-yaml-syntax-invalid-utf8.yml")
    assert (line, col) == (1, 35)
    assert message.endswith("PL101 yaml-syntax invalid UTF-8 at byte offset 34 (byte 0xe9)")


def test_hostile_20_mb_file(tmp_path: Path) -> None:
    big = tmp_path / "port-mapping.yml"
    line = b"# " + b"x" * 97 + b"\n"
    with big.open("wb") as f:
        f.write(b"version: 1\n")
        f.write(line * (20 * 1024 * 1024 // len(line)))
    assert big.stat().st_size > 20_000_000
    assert check_hostile(big)[:2] == (1, 1)


@pytest.mark.parametrize("name", ["PL100-schema-root-list.yml", "PL100-schema-root-scalar.yml"])
def test_hostile_wrong_root(name: str) -> None:
    line, col, message = check_hostile(INVALID / name)
    assert (line, col) == (3, 1)
    assert "PL100 schema top level: expected mapping, got" in message


def test_hostile_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "port-mapping.yml"
    empty.write_bytes(b"")
    line, col, message = check_hostile(empty)
    assert (line, col) == (1, 1)
    assert message.endswith("PL100 schema the ledger is empty; expected a mapping")


def test_hostile_python_tag_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_text(
        "version: 1\n"
        f"ranges: !!python/object/apply:os.system [\"touch {marker}\"]\n"
        f"services: !!python/object/apply:pathlib.Path.touch [{str(marker)!r}]\n"
    )
    line, col, message = check_hostile(ledger)
    assert (line, col) == (2, 9)
    assert message.endswith("PL101 yaml-syntax unsupported tag '!!python/object/apply:os.system'")
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_hostile_unreadable_ledger(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "port-mapping.yml"
    if kind == "directory":
        path.mkdir()
    result = portledger("check", "--no-compose", "--mapping", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    # One line that names the file (there is no line or column in a file that is not there).
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"portledger: {path}: ")


def test_bom_and_crlf_ledger_is_valid(tmp_path: Path) -> None:
    text = SHIPPED_LEDGER.read_text(encoding="utf-8")
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    result = portledger("check", "--no-compose", "--mapping", str(ledger))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_bom_and_crlf_keep_locations(tmp_path: Path) -> None:
    text = (INVALID / "PL104-duplicate-allocation.yml").read_text(encoding="utf-8")
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert check_hostile(ledger)[:2] == (14, 20)


def test_valid_fixture_through_a_subprocess() -> None:
    result = portledger("check", "--no-compose", "--mapping", str(VALID / "PL100-schema.yml"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_console_entry_flushes_everything_before_its_quick_exit(tmp_path: Path) -> None:
    # `python -m portledger` ends through errors.exit_now (os._exit, no interpreter
    # teardown): every byte of a large report must still arrive, with the exit code.
    services = "\n".join(
        f"  s{i}:\n    category: application\n    ports: {{http: {{port: 2500}}}}"
        for i in range(600)
    )
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_text("version: 1\nranges:\n  application: {start: 2000, end: 2999}\n"
                      f"services:\n{services}\n")
    result = portledger("check", "--no-compose", "--format", "json", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "")
    assert len(result.stdout) > 200_000  # well beyond a pipe's buffer
    findings = json.loads(result.stdout)["findings"]
    assert len(findings) == 599
    assert {f["code"] for f in findings} == {"PL104"}


def test_the_quick_exit_survives_a_reader_that_went_away(tmp_path: Path) -> None:
    # `portledger check | head -1`: the reader closes the pipe; no traceback, no hang.
    proc = subprocess.Popen(
        [sys.executable, "-m", "portledger", "check", "--no-compose", "--mapping",
         str(INVALID / "PL105-out-of-range.yml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=10) in (0, 1)
    assert "Traceback" not in err


@pytest.mark.parametrize(("command", "prints"), [(["report", "--format", "markdown"], True),
                                                 (["check"], False)])
def test_output_to_a_fifo_writes_into_it_and_never_replaces_it(
        tmp_path: Path, command: list[str], prints: bool) -> None:
    """`-o` onto something that is not a regular file (here a FIFO; /dev/null as root was
    once replaced by a regular file this way) writes into it; the rename is only for
    regular files."""
    import os
    import stat
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    ledger = Path(__file__).resolve().parents[1] / "port-mapping.yml"
    code = cli.main([*command, "--mapping", str(ledger), "-o", str(fifo)])
    reader.join(timeout=30)
    assert code == 0
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and bool(got[0].strip()) is prints  # a clean check prints nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]


def test_output_to_a_regular_file_is_atomic_and_follows_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.md"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    ledger = Path(__file__).resolve().parents[1] / "port-mapping.yml"
    assert cli.main(["report", "--mapping", str(ledger), "-o", str(link)]) == 0
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8").startswith("# ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.md", "real.md"]
