"""Writes that stay safe: the ledger's lock, plans tied to the bytes they were made on,
symbolic links, modes and owners, read-only files, journaled transactions that a kill
cannot tear, validation before the rename, a full disk.

Every test runs the real commands on real files (the fixtures of tests/fixes/).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portledger import check, cli, fixes
from portledger.errors import FatalError
from portledger.findings import Edit
from portledger.fixes import edits

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "fixes"


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(CASES / name / "before", work)
    monkeypatch.chdir(work)
    return work


def portledger(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "portledger", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- the lock -------------------------------------------------------------------------


def test_twenty_concurrent_writers_keep_every_service_and_pick_distinct_ports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    runs = [portledger("allocate", f"svc-{i:02}", "--category", "user-facing", "--write",
                       "--format", "json", cwd=work) for i in range(16)]
    runs += [portledger("check", "--fix", cwd=work) for _ in range(4)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    assert [r[0] for r in results[:16]] == [0] * 16, [r[2] for r in results]
    # Whichever --fix runs first fixes the compose file; the later ones find nothing.
    assert [r[0] for r in results[16:]] == [0] * 4, [r[2] for r in results[16:]]
    printed = [json.loads(r[1])["ports"][0]["port"] for r in results[:16]]
    assert len(set(printed)) == 16
    from portledger.ledger import model

    ledger = model.load_valid(work / "port-mapping.yml")
    assert sorted(ledger.services) == sorted(
        ["digi-core", "pcs-api", *(f"svc-{i:02}" for i in range(16))])
    written = sorted(a.start for s in ledger.services.values() for a in s.ports)
    assert len(written) == len(set(written)) == 18
    assert sorted(printed) == sorted(a.start for i in range(16)
                                     for a in ledger.services[f"svc-{i:02}"].ports)
    assert 'image: digi/pcs-api\n    ports:\n      - "8002:8000"' in (
        work / "compose.yaml").read_text()
    assert cli.main(["check"]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["compose.yaml", "port-mapping.yml"]


def test_a_lock_another_process_holds_is_waited_for(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom portledger.fixes import ledger_lock\n"
         "with ledger_lock('port-mapping.yml'):\n"
         "    print('held', flush=True); time.sleep(1.0)\n"],
        cwd=work, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    monkeypatch.setattr(edits, "LOCK_WAIT", 0.2)
    assert cli.main(["allocate", "x", "--category", "user-facing", "--write"]) == 2
    assert "another portledger run has held its lock (.port-mapping.yml.lock)" in \
        capsys.readouterr().err
    assert holder.wait(timeout=30) == 0
    monkeypatch.setattr(edits, "LOCK_WAIT", 30.0)
    assert cli.main(["allocate", "x", "--category", "user-facing", "--write"]) == 0
    assert not (work / ".port-mapping.yml.lock").exists()


def test_threads_of_one_process_take_the_lock_in_turn(tmp_path: Path) -> None:
    import threading
    import time

    ledger = tmp_path / "port-mapping.yml"
    ledger.write_text("0\n")

    def add_one() -> None:
        with fixes.ledger_lock(ledger):  # read, wait, write: lost updates if not exclusive
            n = int(ledger.read_text())
            time.sleep(0.005)
            ledger.write_text(f"{n + 1}\n")

    threads = [threading.Thread(target=add_one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert ledger.read_text() == "12\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["port-mapping.yml"]


# --- plans tied to their bytes ----------------------------------------------------------


def test_a_file_changed_between_plan_and_write_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = case("PL104-duplicate-allocation", tmp_path, monkeypatch)
    result = check.run(work / "port-mapping.yml", [], cache=False)
    fixable = [f for f in result.findings if f.edits]
    assert fixable and all(e.digest for f in fixable for e in f.edits)
    compose = Path(next(e.file for f in fixable for e in f.edits if "compose" in e.file))
    # Another editor inserts a line above the planned edit: its places are now wrong.
    compose.write_text("# edited meanwhile\n" + compose.read_text())
    before = files_of(work)
    with pytest.raises(FatalError, match="changed since the fix was planned; not writing"):
        fixes.apply(fixable, write=True, ledger=work / "port-mapping.yml")
    assert files_of(work) == before


# --- what is written where ------------------------------------------------------------


def test_a_symlinked_ledger_is_written_through_to_its_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    shared = tmp_path / "shared" / "ports.yml"
    shared.parent.mkdir()
    (work / "port-mapping.yml").rename(shared)
    (work / "port-mapping.yml").symlink_to(shared)
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write"]) == 0
    assert (work / "port-mapping.yml").is_symlink()
    assert "  reports:\n" in shared.read_text()
    assert sorted(p.name for p in shared.parent.iterdir()) == ["ports.yml"]


def test_mode_owner_and_group_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file another owner needs root")
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    compose = work / "compose.yaml"
    os.chown(compose, 4321, 8765)
    os.chmod(compose, 0o640)
    assert cli.main(["check", "--fix"]) == 0
    st = compose.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (4321, 8765, 0o640)
    assert '"8002:8000"' in compose.read_text()


def test_a_read_only_ledger_is_refused_unless_forced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    ledger = work / "port-mapping.yml"
    os.chmod(ledger, 0o444)
    before = ledger.read_bytes()
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write"]) == 2
    assert capsys.readouterr().err == (
        "portledger: port-mapping.yml: is read-only; not writing it (--force writes it "
        "anyway, keeping its mode)\n")
    assert ledger.read_bytes() == before
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write",
                     "--force"]) == 0
    assert "  reports:\n" in ledger.read_text()
    assert ledger.stat().st_mode & 0o777 == 0o444


def test_check_fix_refuses_a_read_only_compose_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    os.chmod(work / "compose.yaml", 0o444)
    before = files_of(work)
    assert cli.main(["check", "--fix"]) == 2
    assert "portledger: compose.yaml: is read-only; not writing it" in capsys.readouterr().err
    assert files_of(work) == before
    assert cli.main(["check", "--fix", "--force"]) == 0
    assert '"8002:8000"' in (work / "compose.yaml").read_text()


def test_hard_links_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file with other hard links is written in place: the other names see the new
    text, the inode (so owner, group and mode) stays, no temporary file is left. A
    rename gave it a new inode, and the other links kept the old ports."""
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    compose, ledger = work / "compose.yaml", work / "port-mapping.yml"
    other, other_ledger = tmp_path / "compose-link.yaml", tmp_path / "ledger-link.yml"
    os.link(compose, other)
    os.link(ledger, other_ledger)
    os.chmod(compose, 0o640)
    inodes = compose.stat().st_ino, ledger.stat().st_ino
    assert cli.main(["check", "--fix"]) == 0
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write"]) == 0
    assert (compose.stat().st_ino, ledger.stat().st_ino) == inodes
    assert other.read_bytes() == compose.read_bytes() == (
        CASES / "PL202-owner-mismatch" / "after" / "compose.yaml").read_bytes()
    assert other_ledger.read_text().endswith("  reports:\n    category: user-facing\n    "
                                             "ports:\n      http: {port: 8001}\n")
    assert other_ledger.read_bytes() == ledger.read_bytes()
    assert (compose.stat().st_nlink, compose.stat().st_mode & 0o7777) == (2, 0o640)
    assert sorted(p.name for p in work.iterdir()) == ["compose.yaml", "port-mapping.yml"]


def test_a_read_only_hard_linked_file_is_written_in_place_when_forced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    compose = work / "compose.yaml"
    os.link(compose, tmp_path / "link.yaml")
    os.chmod(compose, 0o444)
    assert cli.main(["check", "--fix"]) == 2
    assert cli.main(["check", "--fix", "--force"]) == 0
    assert '"8002:8000"' in (tmp_path / "link.yaml").read_text()
    assert (compose.stat().st_nlink, compose.stat().st_mode & 0o777) == (2, 0o444)


@pytest.mark.parametrize(("cut", "left"), [
    (0, "new"),      # killed before the in-place write began: the old bytes, completed
    (20, "new"),     # killed after 20 bytes: new bytes, then the old tail
    (None, "new"),   # written, not yet truncated (the new text is shorter)
    ("other", "other"),  # someone else's change since: left as it is
])
def test_an_interrupted_in_place_write_is_completed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], cut: int | str | None, left: str) -> None:
    """A commit journal of a hard-linked file and the file torn as a kill leaves it:
    the next writer completes it from the temporary copy, unless it is not a torn
    write of the new bytes over the old (kept beside it: .old.tmp)."""
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    compose = work / "compose.yaml"
    link = tmp_path / "link.yaml"
    os.link(compose, link)
    old = compose.read_bytes()
    new = (CASES / "PL202-owner-mismatch" / "after" / "compose.yaml").read_bytes()
    new = new.replace(b" # still on digi-core's port", b"")  # shorter: a truncation is due
    if cut == "other":
        torn = old.replace(b"digi/pcs-api", b"digi/pcs-api:2")
    elif cut is None:
        torn = new + old[len(new):]
    else:
        torn = new[:cut] + old[cut:]
    compose.write_bytes(torn)  # in place: the link sees it too
    tmp = work / ".compose.yaml.portledger-4242.tmp"
    tmp.write_bytes(new)
    (work / ".compose.yaml.portledger-4242.old.tmp").write_bytes(old)
    (work / ".port-mapping.yml.portledger-journal").write_text(json.dumps(
        {"state": "commit", "files": [{"target": str(compose), "tmp": str(tmp),
                                       "old": edits._digest(old), "new": edits._digest(new),
                                       "inplace": True}]}))
    with fixes.ledger_lock(work / "port-mapping.yml"):
        pass
    assert link.read_bytes() == compose.read_bytes() == (new if left == "new" else torn)
    assert sorted(p.name for p in work.iterdir()) == ["compose.yaml", "port-mapping.yml"]
    assert capsys.readouterr().err == (
        "portledger: compose.yaml: completed the interrupted --fix (written in place: it "
        "has other hard links)\n" if left == "new" else
        "portledger: compose.yaml: changed since the interrupted --fix; left as it is\n")


# --- temporary files and the journal ----------------------------------------------------


def test_stray_temporary_files_of_a_killed_run_are_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    (work / ".port-mapping.yml.portledger-999999.tmp").write_text("half a ledger")
    (work / ".port-mapping.yml.portledger-journal.portledger-999999.tmp").write_text("{")
    (work / ".other.yml.portledger-1.tmp").write_text("not this ledger's: kept")
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write"]) == 0
    assert sorted(p.name for p in work.iterdir()) == [
        ".other.yml.portledger-1.tmp", "compose.yaml", "port-mapping.yml"]


def test_a_prepared_journal_is_rolled_back_and_a_committed_one_completed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    compose = work / "compose.yaml"
    old = compose.read_bytes()
    new = (CASES / "PL202-owner-mismatch" / "after" / "compose.yaml").read_bytes()
    tmp = work / ".compose.yaml.portledger-4242.tmp"
    journal = work / ".port-mapping.yml.portledger-journal"
    record = {"files": [{"target": str(compose), "tmp": str(tmp),
                         "old": edits._digest(old), "new": edits._digest(new)}]}
    said = []
    for state, expected in (("prepare", old), ("commit", new)):
        tmp.write_bytes(new)
        journal.write_text(json.dumps({"state": state, **record}))
        cli.main(["check"])  # says so, and leaves it to the next writer
        assert capsys.readouterr().err == (
            "portledger: note: .port-mapping.yml.portledger-journal: an interrupted --fix; "
            "the next check --fix or allocate --write completes or rolls it back\n")
        assert journal.exists()
        with fixes.ledger_lock(work / "port-mapping.yml"):
            pass
        assert compose.read_bytes() == expected
        assert sorted(p.name for p in work.iterdir()) == ["compose.yaml", "port-mapping.yml"]
        said.append(capsys.readouterr().err)
    assert said == [
        "portledger: port-mapping.yml: rolled back an interrupted write (no file had "
        "changed)\n", "portledger: compose.yaml: completed the interrupted --fix\n"]


def test_a_journal_naming_other_files_is_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (work / ".port-mapping.yml.portledger-journal").write_text(json.dumps(
        {"state": "prepare", "files": [{"target": str(work / "compose.yaml"),
                                        "tmp": str(victim), "old": "", "new": ""}]}))
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write"]) == 2
    assert "not a temporary file of portledger's; remove the journal by hand" in \
        capsys.readouterr().err
    assert victim.read_text() == "keep me"


def _kill_fix() -> object:
    spec = importlib.util.spec_from_file_location("kill_fix", ROOT / "bench" / "kill_fix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigkill_at_fifty_moments_of_a_multi_file_fix_never_tears_it(tmp_path: Path) -> None:
    counts = _kill_fix().campaign(50, tmp_path, seed=21)  # type: ignore[attr-defined]
    # The kills landed on both sides of the commit point, and inside the transaction.
    assert counts["old"] > 0 and counts["fixed"] > 0 and counts["killed"] > 25


def test_sigkill_at_thirty_moments_of_a_fix_of_hard_linked_files(tmp_path: Path) -> None:
    """The same with every file of the fix hard-linked from outside the repository: a
    kill may leave one half-written, the next writer completes it, and the other links
    end with the same bytes as the names the fix wrote."""
    counts = _kill_fix().campaign(30, tmp_path, seed=22,  # type: ignore[attr-defined]
                                  hard_links=True)
    assert counts["old"] > 0 and counts["fixed"] > 0 and counts["killed"] > 15


# --- validated before the rename --------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "65536"], "allocate: --target 65536 is not a port (1-65535)"),
    (["--name", "BAD_Name"], "allocate: --name 'BAD_Name' is not a ledger name"),
    (["--service", "x: y"], "allocate: service name 'x: y' is not a ledger name"),
    (["--service", "a\nb"], "allocate: service name 'a\\nb' is not a ledger name"),
])
def test_allocate_refuses_what_the_schema_would(
        args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    before = files_of(work)
    service = args[1] if args[0] == "--service" else "reports"
    extra = [] if args[0] == "--service" else args
    assert cli.main(["allocate", service, "--category", "user-facing", "--write",
                     *extra]) == 2
    assert capsys.readouterr().err.startswith(f"portledger: {message}")
    assert files_of(work) == before


def test_an_edit_that_would_break_the_ledger_is_not_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = case("PL202-owner-mismatch", tmp_path, monkeypatch)
    ledger = work / "port-mapping.yml"
    source = edits.Source.read(str(ledger))
    before = files_of(work)
    for text, message in (("version: [\n", "would not parse"),
                          ("version: 2\n", "would fail its schema")):
        edit = Edit(str(ledger), 2, 1, 3, 1, text, source.digest)
        with pytest.raises(FatalError, match=message):
            fixes.apply([_finding_with(edit)], write=True, ledger=ledger)
        assert files_of(work) == before


def _finding_with(edit: Edit) -> object:
    from portledger.findings import Finding, Severity

    return Finding(edit.file, 1, 1, "PL104", "duplicate-allocation", Severity.ERROR, "x",
                   edits=(edit,))


# --- faults -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    """A 64 KiB tmpfs: a real full disk (needs root to mount; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    os.chdir(tmp_path)
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_during_fix_names_the_file_and_changes_nothing(
        small_disk: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work = small_disk / "repo"
    shutil.copytree(CASES / "PL202-owner-mismatch" / "before", work)
    monkeypatch.chdir(work)
    before = files_of(work)
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the disk, then free one page
    try:                                             # (for the journal)
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - 4096))
    assert cli.main(["check", "--fix"]) == 2
    err = capsys.readouterr().err
    assert err == ("portledger: compose.yaml: cannot write .compose.yaml.portledger-"
                   f"{os.getpid()}.tmp: No space left on device; no file was changed\n"), err
    assert files_of(work) == before
