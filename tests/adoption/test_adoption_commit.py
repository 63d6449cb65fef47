"""Adopting portledger in a repository with history: the real ``pre-commit`` hooks and
a real ``git commit``. The commit that adds the ledger (from ``init``) and the baseline
passes every hook with no hand-written trailer; the history before it needs none once
the adoption boundary is set; a change of too many ports takes one bulk trailer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from adoption_repo import generate
from hooks.test_commit_hooks import PRE_COMMIT, git_commit
from hooks.test_commit_hooks import hook_repo as hook_repo  # the fixture, shared
from test_portdiff import GitRepo

PORTLEDGER = [sys.executable, "-m", "portledger.cli"]
HOOKS = ("portledger-mapping", "portledger-compose", "portledger-commit-msg",
         "portledger-prepare-commit-msg")


def portledger(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PORTLEDGER, *args], cwd=repo.path, env=repo.env,
                          capture_output=True, text=True, timeout=600)


def message(repo: GitRepo) -> str:
    return repo.git("log", "-1", "--format=%B").rstrip("\n")


@pytest.fixture
def brownfield(tmp_path: Path,
               hook_repo: tuple[Path, str, dict[str, str]]) -> GitRepo:  # noqa: F811
    """A repository whose compose projects grew over three commits, without portledger;
    then the hooks installed (as a team adopting portledger does)."""
    source, sha, env = hook_repo
    repo = GitRepo(tmp_path / "brownfield", env)
    generate(repo.path, 6, conflicts=1)
    repo.git("add", "apps/app0000", "apps/app0001")
    repo.git("commit", "-q", "-m", "First services")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "More services")
    (repo.path / "legacy").mkdir()
    (repo.path / "legacy" / "compose.yaml").write_text(
        "services:\n" + "".join(f'  old{i:02d}:\n    image: old\n    ports: ["{2500 + i}:80"]\n'
                                for i in range(25)))
    config = (f"repos:\n- repo: {source}\n  rev: {sha}\n  hooks:\n"
              + "".join(f"  - id: {h}\n" for h in HOOKS))
    repo.write({".pre-commit-config.yaml": config})
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "Legacy stack")
    subprocess.run([PRE_COMMIT, "install", "--hook-type", "pre-commit", "--hook-type",
                    "commit-msg", "--hook-type", "prepare-commit-msg"], cwd=repo.path,
                   env=env, check=True, capture_output=True)
    return repo


def test_the_adoption_commit_passes_every_hook_without_trailers(brownfield: GitRepo) -> None:
    repo = brownfield
    done = portledger(repo, "init", "--write")
    assert done.returncode == 1, done.stderr  # the one injected conflict, reported
    assert portledger(repo, "baseline").returncode == 0
    repo.git("add", "port-mapping.yml", ".portledger-baseline.json")
    commit = git_commit(repo, "-m", "Adopt portledger")
    assert commit.returncode == 0, commit.stdout + commit.stderr
    for name in ("portledger ledger", "portledger compose ports",
                 "portledger port changes documented", "portledger port-change trailers"):
        assert any(line.startswith(name) and line.endswith("Passed")  # not "Skipped"
                   for line in commit.stderr.splitlines()), (name, commit.stderr)
    assert message(repo) == "Adopt portledger"
    adoption = repo.git("rev-parse", "HEAD").strip()
    root = repo.git("rev-list", "--max-parents=0", "HEAD").strip()

    # The history before it documented no port: check-commits says so, unless told
    # where portledger was adopted (--since, or the ledger's settings).
    history = portledger(repo, "check-commits", f"{root}..HEAD", "--format", "json")
    assert history.returncode == 1
    failing = [c["subject"] for c in json.loads(history.stdout)["commits"]]
    assert failing == ["More services", "Legacy stack"]
    since = portledger(repo, "check-commits", f"{root}..HEAD", "--since", adoption)
    assert (since.returncode, since.stdout) == (0, ""), since.stdout + since.stderr
    ledger = (repo.path / "port-mapping.yml").read_text()
    (repo.path / "port-mapping.yml").write_text(
        ledger.replace("settings:\n", f"settings:\n  adopted: {adoption}\n", 1))
    repo.git("add", "port-mapping.yml")
    commit = git_commit(repo, "-m", "Record where portledger was adopted")
    assert commit.returncode == 0, commit.stdout + commit.stderr
    checked = portledger(repo, "check-commits", f"{root}..HEAD")
    assert (checked.returncode, checked.stdout) == (0, ""), checked.stdout + checked.stderr
    bad = portledger(repo, "check-commits", f"{root}..HEAD", "--since", "nope")
    assert (bad.returncode, bad.stderr) == (
        2, "portledger: --since: 'nope' names no commit of this repository\n")

    # After adoption a port change needs its trailer; prepare-commit-msg writes it.
    compose = repo.path / "legacy" / "compose.yaml"
    compose.write_text(compose.read_text().replace('"2500:80"', '"2599:80"'))
    ledger_file = repo.path / "port-mapping.yml"
    ledger_file.write_text(ledger_file.read_text().replace("port: 2500,", "port: 2599,"))
    repo.git("add", "legacy/compose.yaml", "port-mapping.yml")
    commit = git_commit(repo, "-m", "Move old00")
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert message(repo) == "Move old00\n\nPort-Change: old00 http 2500 -> 2599 (tcp)"


def test_a_bulk_change_takes_one_trailer(brownfield: GitRepo) -> None:
    repo = brownfield
    assert portledger(repo, "init", "--write").returncode == 1
    assert portledger(repo, "baseline").returncode == 0
    repo.git("add", "-A")
    assert git_commit(repo, "-m", "Adopt portledger").returncode == 0
    compose = repo.path / "legacy" / "compose.yaml"
    compose.write_text(compose.read_text().replace('"25', '"26'))  # 25 ports renumbered
    ledger_file = repo.path / "port-mapping.yml"
    ledger_file.write_text(ledger_file.read_text().replace("port: 25", "port: 26"))
    repo.git("add", "legacy/compose.yaml", "port-mapping.yml")
    refused = git_commit(repo, "-m", "Renumber the legacy stack")
    assert refused.returncode != 0
    assert refused.stderr.endswith(
        "Found 50 errors, 0 warnings in 2 files.\n\n25 port changes: document them with one "
        "line, 'Port-Change: bulk REASON' (what changed and why), instead of one a change\n\n")
    assert "Add these lines" not in refused.stderr  # not 25 lines to paste
    done = git_commit(repo, "-m", "Renumber the legacy stack\n\n"
                      "Port-Change: bulk legacy stack moved from 25xx to 26xx")
    assert done.returncode == 0, done.stdout + done.stderr
    assert message(repo) == ("Renumber the legacy stack\n\n"
                             "Port-Change: bulk legacy stack moved from 25xx to 26xx")
