"""``portledger init``: the first ledger from a repository's compose projects, then
``portledger check`` on the same repository (real compose files, real processes)."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from adoption_repo import generate

from portledger import cli

CORPUS = Path("/work/shared/corpus/awesome-compose")
PORTLEDGER = [sys.executable, "-m", "portledger.cli"]
ONE = 'services:\n  api:\n    image: a\n    ports: ["2001:80"]\n'


def portledger(cwd: Path, *args: str, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([*PORTLEDGER, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def check_json(cwd: Path) -> list[dict[str, object]]:
    done = portledger(cwd, "check", "--format", "json", "--no-cache")
    assert done.returncode in (0, 1), done.stderr
    findings: list[dict[str, object]] = json.loads(done.stdout)["findings"]
    return findings


def expected(repo_conflicts: list[tuple[str, int, str, int]]) -> set[tuple[str, str, int]]:
    """What check reports for the injected conflicts: the port stays with the web service
    (its name sorts first), so the intruder's line draws PL202 and the later of the two
    lines (by file) PL204."""
    out: set[tuple[str, str, int]] = set()
    for file, line, victim, victim_line in repo_conflicts:
        out.add(("PL202", file, line))
        out.add(("PL204", *max((file, line), (victim, victim_line))))
    return out


@pytest.mark.parametrize("projects, conflicts", [(10, 2), (100, 5)])
def test_init_then_check_reports_exactly_the_injected_conflicts(
        tmp_path: Path, projects: int, conflicts: int) -> None:
    repo = generate(tmp_path, projects, conflicts)
    done = portledger(tmp_path, "init", "--write")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("portledger: wrote port-mapping.yml: ")
    found = check_json(tmp_path)
    assert {(f["code"], f["file"], f["line"]) for f in found} == expected(repo.conflicts)
    # init printed the same findings check reports (check adds the plans).
    printed = [line for line in done.stdout.splitlines()[1:] if line[:1] not in (" ", "F")]
    assert printed == [f"{f['file']}:{f['line']}:{f['column']}: {f['code']} {f['rule']} "
                       f"{f['message']}" for f in found]
    ledger = (tmp_path / "port-mapping.yml").read_text()
    for file, line, _, _ in repo.conflicts:
        assert f"({file}:{line}) publishes" in ledger  # written as a comment


def test_a_thousand_projects(tmp_path: Path) -> None:
    repo = generate(tmp_path, 1000, 20)
    done = portledger(tmp_path, "init", "--write")
    assert done.returncode == 1, done.stderr
    found = check_json(tmp_path)
    assert {(f["code"], f["file"], f["line"]) for f in found} == expected(repo.conflicts)


def test_without_conflicts_check_is_clean_and_the_ledger_reads_as_written(
        tmp_path: Path) -> None:
    generate(tmp_path, 10)
    done = portledger(tmp_path, "init", "--write")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == ("portledger: wrote port-mapping.yml: 45 ports of 35 services "
                           "from 10 compose projects\n")
    check = portledger(tmp_path, "check", "--no-cache")
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    text = (tmp_path / "port-mapping.yml").read_text()
    # Standard ports with their well-known name, an alias for a name with capitals, a
    # variable's default, a port behind a profile, one entry for a shared service.
    assert ('      postgresql: {port: 5432, target: 5432, exception: '
            '"standard PostgreSQL port"}  # apps/app0000/compose.yaml:18') in text
    assert "  redis:\n    category: backup\n    ports:\n      redis: {port: 6379, target: 6379}" \
        in text  # its own registered port, in a range: no exception needed
    assert ('      http: {port: 80, target: 80, exception: "standard HTTP port"}'
            '  # apps/app0002/compose.yaml:18') in text
    assert "  app0003worker:\n    category: user-facing\n    compose: [\"App0003Worker\"]\n" \
        in text
    assert '{port: 20004, target: 8000, exception: "outside every range' in text
    assert '{port: 30004, host_ip: "127.0.0.1", target: 9229,' in text
    assert text.count("  gateway:\n") == 1
    assert ('      tcp-7000: {port: 7000, target: 7000, exception: "in the reserved range '
            'high-priority (7000-7999), as published when portledger was adopted"}'
            '  # apps/app0003/compose.yaml:22') in text


def test_init_is_deterministic_across_runs_and_hash_seeds(tmp_path: Path) -> None:
    generate(tmp_path, 30, 3)
    outputs = {portledger(tmp_path, "init", seed=seed).stdout for seed in ("0", "1", "4242")}
    assert len(outputs) == 1
    (tmp_path / "apps" / "app0000").rename(tmp_path / "apps" / "zzz-renamed")
    shutil.copytree(tmp_path / "apps" / "zzz-renamed", tmp_path / "apps" / "app0000")
    shutil.rmtree(tmp_path / "apps" / "zzz-renamed")
    assert portledger(tmp_path, "init", seed="7").stdout == outputs.pop()


def test_update_adds_exactly_a_new_projects_ports(tmp_path: Path) -> None:
    generate(tmp_path, 10)
    assert portledger(tmp_path, "init", "--write").returncode == 0
    before = (tmp_path / "port-mapping.yml").read_text()
    edited = before.replace("services:\n", "services:\n  # kept by hand\n", 1)
    (tmp_path / "port-mapping.yml").write_text(edited)
    new = tmp_path / "new"
    new.mkdir()
    (new / "compose.yaml").write_text(
        'services:\n  reports:\n    image: r\n    ports: ["8500:8000", "8501:9000/udp"]\n'
        '  app0001-web:\n    image: nginx\n    ports: ["8600:443"]\n')
    shown = portledger(tmp_path, "init", "--update")
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "port-mapping.yml").read_text() == edited  # printed, not written
    added = [line[1:] for line in shown.stdout.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    assert added == [
        '      https: {port: 8600, target: 443}  # new/compose.yaml:7',
        "  reports:",
        "    category: user-facing",
        "    ports:",
        "      tcp-8000: {port: 8500, target: 8000}  # new/compose.yaml:4",
        "      udp-9000: {port: 8501, protocol: udp, target: 9000}  # new/compose.yaml:4",
    ]
    done = portledger(tmp_path, "init", "--update", "--write")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("portledger: added to port-mapping.yml: 3 ports of 2 services "
                           "from 11 compose projects\n")
    after = (tmp_path / "port-mapping.yml").read_text()
    assert "  # kept by hand\n" in after
    diff = difflib.ndiff(edited.splitlines(), after.splitlines())
    assert [line[2:] for line in diff if line[:1] in "+-"] == added
    assert portledger(tmp_path, "check", "--no-cache").returncode == 0
    again = portledger(tmp_path, "init", "--update")
    assert (again.returncode, again.stdout) == (0, "")


def test_update_fills_an_empty_services_mapping(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(ONE)
    (tmp_path / "port-mapping.yml").write_text(
        "version: 1\nranges:\n  application: {start: 2000, end: 2999}\nservices: {}\n")
    done = portledger(tmp_path, "init", "--update", "--write")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "port-mapping.yml").read_text() == (
        "version: 1\nranges:\n  application: {start: 2000, end: 2999}\nservices:\n"
        "  api:\n    category: application\n    ports:\n"
        "      http: {port: 2001, target: 80}  # compose.yaml:4\n")
    assert portledger(tmp_path, "check", "--no-cache").returncode == 0


def test_refuses_to_overwrite_without_force(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text(ONE)
    (tmp_path / "port-mapping.yml").write_text("# mine\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--write"]) == 2
    assert capsys.readouterr().err == (
        "portledger: port-mapping.yml: already exists; not overwriting it (--update adds "
        "what it lacks, --force replaces it)\n")
    assert (tmp_path / "port-mapping.yml").read_text() == "# mine\n"
    assert cli.main(["init", "--write", "--force"]) == 0
    assert "  api:\n    category: application\n" in (tmp_path / "port-mapping.yml").read_text()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("args, message", [
    (["init"], "portledger: init: no compose project below . (no file matches the "
               "compose.files globs)\n"),
    (["init", "--force"], "portledger: init: --force goes with --write\n"),
    (["init", "--update"], "portledger: port-mapping.yml: no such file; --update adds to an "
                           "existing ledger (run `portledger init --write` first)\n"),
    (["init", "--ranges", "nope.yml"], "portledger: nope.yml:1:1: no such file\n"),
])
def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    if args[-1] == "nope.yml":
        (tmp_path / "compose.yaml").write_text(ONE)
    assert cli.main(args) == 2
    assert capsys.readouterr().err == message


def test_ranges_none_and_a_ranges_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compose.yaml").write_text(
        'services:\n  api:\n    image: a\n    ports: ["2001:80", "443:443"]\n')
    assert cli.main(["init", "--ranges", "none"]) == 0
    out = capsys.readouterr().out
    assert "ranges:\n  any:\n    start: 1\n    end: 65535\n" in out
    assert '      https: {port: 443, target: 443, exception: "standard HTTPS port"}' in out
    (tmp_path / "ranges.yml").write_text("web: {start: 2000, end: 2099}\n"
                                         "bad: {start: x, end: 3}\n")
    assert cli.main(["init", "--ranges", "ranges.yml"]) == 2
    assert capsys.readouterr().err == (
        "portledger: ranges.yml:2:1: range 'bad': expected a lower-case name with "
        "{start: PORT, end: PORT}\n")
    (tmp_path / "ranges.yml").write_text("ranges:\n  web: {start: 2000, end: 2099}\n")
    assert cli.main(["init", "--ranges", "ranges.yml"]) == 0
    out = capsys.readouterr().out
    assert "ranges:\n  web:\n    start: 2000\n    end: 2099\n\nservices:\n  api:\n" \
           "    category: web\n" in out


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is not on this machine")
def test_awesome_compose(tmp_path: Path) -> None:
    """39 real projects: the ledger init writes passes check apart from the conflicts
    that exist in the corpus today, which init reports as check does."""
    repo = tmp_path / "awesome-compose"
    shutil.copytree(CORPUS, repo, symlinks=True)
    done = portledger(repo, "init", "--write")
    assert done.returncode in (0, 1), done.stderr
    found = check_json(repo)
    errors = [f for f in found if f["severity"] == "error"]
    assert {f["code"] for f in errors} <= {"PL202", "PL204", "PL101", "PL205", "PL206"}
    printed = [line for line in done.stdout.splitlines()[1:] if line[:1] not in (" ", "F")]
    assert len(printed) == len(found)
    # Every conflict is a port two compose services really publish.
    ledger = (repo / "port-mapping.yml").read_text()
    for f in errors:
        if f["code"] == "PL202":
            assert f"({f['file']}:{f['line']}) publishes {f['port']}/" in ledger
