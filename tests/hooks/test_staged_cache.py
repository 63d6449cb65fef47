"""The staged port diff computed once a commit (``portledger.git.staged``): prepare-commit-msg
leaves it in the cache, commit-msg reads it when the key (base commit, index, ledger,
folder, code) matches, and computes it again otherwise. Real repositories and real git
commits; the hooks are the modules pre-commit runs (``python -m portledger.hooks.X``),
installed as plain git hooks so that no hook environment has to be built.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_portdiff import GitRepo, ledger, make_repo, pcs_compose, portledger_cmd

from portledger import cachekey
from portledger.git import gate, staged
from portledger.git.repo import Repository

TRAILER = "Port-Change: pcs-api http 8000 -> 8002 (tcp)"
REFUSED = (
    "pcs/compose.yaml:5:9: PL301 undocumented-port-change port change (moved) not in the "
    f"message: {TRAILER}\n"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    r = make_repo(tmp_path, monkeypatch)
    r.commit("init", {"port-mapping.yml": ledger(8000), "pcs/compose.yaml": pcs_compose(8000)})
    return r


def cache_file(r: GitRepo) -> Path:
    return staged.cache_file(Repository.open(r.path))


def message(r: GitRepo, text: str = "Move PCS\n") -> str:
    path = r.path / ".git" / "COMMIT_EDITMSG"
    path.write_text(text, encoding="utf-8")
    return str(path)


class Computed:
    """Counts the staged diffs computed (not read from the cache) in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = gate.staged_diff

        def counting(*args: object) -> staged.Staged:
            self.count += 1
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(gate, "staged_diff", counting)


def test_commit_msg_reads_what_prepare_commit_msg_left(
        repo: GitRepo, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo.stage({"port-mapping.yml": ledger(8002), "pcs/compose.yaml": pcs_compose(8002)})
    computed = Computed(monkeypatch)
    msg = message(repo)
    assert portledger_cmd("prepare-commit-msg", [msg], capsys) == (0, "", "")
    assert Path(msg).read_text(encoding="utf-8") == f"Move PCS\n\n{TRAILER}\n"
    assert computed.count == 1
    assert cache_file(repo).read_text(encoding="utf-8").startswith("hmac-sha256 ")
    assert sorted(_entry(cache_file(repo))) == ["changes", "excused", "key", "notes"]
    # The hit: the same base and index, no diff computed, and the same verdicts.
    assert portledger_cmd("commit-msg", [msg], capsys) == (0, "", "")
    bare = message(repo, "Move PCS\n")
    code, out, err = portledger_cmd("commit-msg", [bare], capsys)
    assert computed.count == 1
    assert (code, err) == (1, "")
    assert out == (
        REFUSED + f"    fix: add the line '{TRAILER}' at the end of the commit message\n"
        "port-mapping.yml:13:20: PL301 undocumented-port-change port change (moved) not in "
        f"the message: {TRAILER}\n"
        f"    fix: add the line '{TRAILER}' at the end of the commit message\n"
        "Found 2 errors, 0 warnings in 2 files.\n\n"
        "Port changes must be documented in the commit message. Add these lines at its end, "
        f"after a blank line:\n\n{TRAILER}\n")
    assert (code, out, err) == portledger_cmd("commit-msg", ["--no-cache", bare], capsys)
    assert computed.count == 2


def test_a_hit_reads_neither_yaml_nor_compose_files(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    msg = message(repo)
    assert portledger_cmd("prepare-commit-msg", [msg], capsys)[0] == 0
    heavy = ("yaml", "jsonschema_rs", "portledger.compose", "portledger.ledger",
             "portledger.git.reader")
    code = ("import sys; from portledger.hooks import commit_msg; "
            "status = commit_msg.main(sys.argv[1:]); "
            f"print(status, [m for m in {heavy!r} if m in sys.modules])")

    def hook(*args: str) -> str:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=repo.path,
                              capture_output=True, text=True, check=True, timeout=120).stdout

    assert hook(msg) == "0 []\n"
    assert hook("--no-cache", msg) == f"0 {list(heavy)}\n"


def test_a_changed_index_or_base_is_computed_again(
        repo: GitRepo, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    msg = message(repo)
    assert portledger_cmd("prepare-commit-msg", [msg], capsys)[0] == 0
    computed = Computed(monkeypatch)
    # Staged again after the message was prepared: the entry's index is not this one.
    repo.stage({"pcs/compose.yaml": pcs_compose(8004)})
    code, out, err = portledger_cmd("commit-msg", [msg], capsys)
    assert computed.count == 1
    assert code == 1
    moved = "Port-Change: pcs-api http 8000 -> 8004 (tcp)"
    assert out == (
        f"{msg}:3:1: PL302 stale-port-change-trailer '{TRAILER}' names no port change of "
        f"this commit; did you mean '{moved}'?\n"
        f"    fix: replace the line with '{moved}'\n"
        "pcs/compose.yaml:5:9: PL301 undocumented-port-change port change (moved) not in the "
        f"message: {moved}\n"
        f"    fix: add the line '{moved}' at the end of the commit message\n"
        "Found 2 errors, 0 warnings in 2 files.\n\n"
        "Port changes must be documented in the commit message. Add these lines at its end, "
        f"after a blank line:\n\n{moved}\n")
    assert (code, out, err) == portledger_cmd("commit-msg", ["--no-cache", msg], capsys)
    # Another base (HEAD moved on): computed again, then read from the cache.
    repo.commit("elsewhere (and 8004)", {"README.md": "hello\n"})
    repo.stage({"pcs/compose.yaml": pcs_compose(8006)})
    with gate.StagedDiffs(Repository.open(repo.path), None) as diffs:
        head = diffs.repo.head()
        first = diffs.against(head)
        assert computed.count == 3
        assert [c.trailer for c in first.changes] == ["pcs-api http 8004 -> 8006 (tcp)"]
        assert diffs.against(head) == first
        assert computed.count == 3
        assert diffs.against(None) != first  # the empty tree: every port added
        assert computed.count == 4


def _entry(path: Path) -> dict[str, Any]:
    body = cachekey.signed_body(path.read_text(encoding="utf-8"), cachekey.secret())
    assert body is not None
    doc: dict[str, Any] = json.loads(body)
    return doc


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _plant(path: Path, doc: dict[str, Any], key: bytes | None = None) -> None:
    """Write ``doc`` as an entry, signed with ``key`` (default: this user's)."""
    secret = cachekey.secret() if key is None else key
    assert secret is not None
    path.write_text(cachekey.sign(json.dumps(doc), secret), encoding="utf-8")


@pytest.mark.parametrize("plant", [
    # this user's entry of another index (as if left by another commit): nothing changed
    "other-index",
    # this entry's key, saying nothing changed, signed with another key (someone else's
    # file in a shared cache folder) or not signed at all
    "other-signer",
    "unsigned",
    # this entry, one byte of its body changed after it was signed
    "damaged",
    # this user's signature and the right key, a body of the wrong shape
    "wrong-types",
    "not-json",
])
def test_a_planted_or_damaged_entry_is_not_trusted(
        repo: GitRepo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        plant: str) -> None:
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    msg = message(repo)
    assert portledger_cmd("prepare-commit-msg", [msg], capsys)[0] == 0
    path = cache_file(repo)
    doc = _entry(path)
    nothing = {**doc, "changes": [], "notes": [], "excused": []}
    if plant == "other-index":
        key = json.loads(doc["key"])
        key[-1] = _digest("another index")
        _plant(path, {**nothing, "key": json.dumps(key, separators=(",", ":"))})
    elif plant == "other-signer":
        _plant(path, nothing, key=b"k" * 32)
    elif plant == "unsigned":
        path.write_text(json.dumps(nothing), encoding="utf-8")
    elif plant == "damaged":
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"8002"', '"8003"'), encoding="utf-8")
    elif plant == "wrong-types":
        doc["changes"][0][4] = str(doc["changes"][0][4])
        _plant(path, doc)
    else:
        secret = cachekey.secret()
        assert secret is not None
        path.write_text(cachekey.sign('{"key": ', secret), encoding="utf-8")
    computed = Computed(monkeypatch)
    bare = message(repo, "Move PCS\n")
    code, out, err = portledger_cmd("commit-msg", [bare], capsys)
    assert computed.count == 1
    assert (code, err) == (1, "")
    assert out.startswith(REFUSED)
    assert (code, out, err) == portledger_cmd("commit-msg", ["--no-cache", bare], capsys)
    # ... and the entry computed again replaced it.
    assert portledger_cmd("commit-msg", [bare], capsys)[0] == 1
    assert computed.count == 2


def test_no_signing_key_no_cache(repo: GitRepo, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "shared-state"
    (state / "portledger").mkdir(parents=True)
    (state / "portledger" / "cache-key").write_bytes(b"k" * 32)
    (state / "portledger" / "cache-key").chmod(0o644)  # readable by others: not a secret
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    msg = message(repo)
    computed = Computed(monkeypatch)
    assert portledger_cmd("prepare-commit-msg", [msg], capsys) == (0, "", "")
    assert Path(msg).read_text(encoding="utf-8") == f"Move PCS\n\n{TRAILER}\n"
    assert not cache_file(repo).exists()
    assert portledger_cmd("commit-msg", [msg], capsys) == (0, "", "")
    assert computed.count == 2


def test_a_project_the_diff_would_not_read_fails_the_gate_and_is_not_cached(
        repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "outside.yaml").write_text(pcs_compose(8009), encoding="utf-8")
    (repo.path / "app").mkdir()
    (repo.path / "app" / "compose.yaml").symlink_to("../../outside.yaml")
    repo.git("add", "-A")
    msg = message(repo)
    computed = Computed(monkeypatch)
    assert portledger_cmd("prepare-commit-msg", [msg], capsys) == (0, "", "")
    assert Path(msg).read_text(encoding="utf-8") == "Move PCS\n"
    assert not cache_file(repo).exists()
    code, out, err = portledger_cmd("commit-msg", [msg], capsys)
    assert computed.count == 2
    assert (code, err) == (1, "")
    assert out == (
        "app/compose.yaml:1:1: PL101 yaml-syntax a symbolic link in the commit (to "
        "'../../outside.yaml') that leads to no committed file; not followed: diff and "
        "check-commits read only what is committed (compose project app at the index: its "
        "port changes cannot be told)\n"
        "Found 1 error, 0 warnings in 1 file.\n")
    assert (code, out, err) == portledger_cmd("commit-msg", ["--no-cache", msg], capsys)


def test_a_ledger_outside_the_repository_is_part_of_the_key(
        repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "ledger.yml"
    outside.write_text(ledger(8000), encoding="utf-8")
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    msg = message(repo)
    assert portledger_cmd("prepare-commit-msg", ["--mapping", str(outside), msg], capsys)[0] == 0
    assert Path(msg).read_text(encoding="utf-8") == f"Move PCS\n\n{TRAILER}\n"
    computed = Computed(monkeypatch)
    # The outside ledger now gives 8002 to someone else: the cached diff is not this one.
    outside.write_text(ledger(8000).replace("digi-core-app]", "digi-core-app, pcs-api]"),
                       encoding="utf-8")
    code, out, err = portledger_cmd("commit-msg", ["--mapping", str(outside), msg], capsys)
    assert computed.count == 1
    assert (code, out, err) == portledger_cmd(
        "commit-msg", ["--no-cache", "--mapping", str(outside), msg], capsys)


def _install(r: GitRepo, stage: str, module: str) -> None:
    hook = r.path / ".git" / "hooks" / stage
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m portledger.hooks.{module} \"$1\"\n",
                    encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def test_real_commits_with_the_message_hooks(repo: GitRepo) -> None:
    env = {**repo.env, "PORTLEDGER_CACHE_DIR": os.environ["PORTLEDGER_CACHE_DIR"]}

    def commit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "commit", *args], cwd=repo.path, env=env,
                              capture_output=True, text=True, timeout=300)

    _install(repo, "prepare-commit-msg", "prepare_commit_msg")
    _install(repo, "commit-msg", "commit_msg")
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    base = repo.git("rev-parse", "HEAD").strip()
    done = commit("-m", "Move PCS")
    assert done.returncode == 0, done.stdout + done.stderr
    assert repo.git("log", "-1", "--format=%B") == f"Move PCS\n\n{TRAILER}\n\n"
    doc = _entry(cache_file(repo))
    key = json.loads(doc["key"])
    assert key[-2] == base  # left by prepare-commit-msg, for the commit on top of base

    # Only the gate installed, and an entry planted for this base and another index,
    # saying that nothing changed: the gate computes the diff and refuses the commit.
    (repo.path / ".git" / "hooks" / "prepare-commit-msg").unlink()
    repo.stage({"pcs/compose.yaml": pcs_compose(8004)})
    key[-2] = repo.git("rev-parse", "HEAD").strip()
    key[-1] = _digest("another index")
    _plant(cache_file(repo), {"key": json.dumps(key, separators=(",", ":")), "changes": [],
                              "notes": [], "excused": []})
    refused = commit("-m", "Move PCS again")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "pcs/compose.yaml:5:9: PL301 undocumented-port-change port change (moved) not in the "
        "message: Port-Change: pcs-api http 8002 -> 8004 (tcp)\n"), refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert repo.git("log", "-1", "--format=%s") == "Move PCS\n"
