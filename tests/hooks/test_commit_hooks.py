"""The commit hooks as users install them: ``pre-commit install --hook-type commit-msg
--hook-type prepare-commit-msg`` in a real repository, then real ``git commit``.

pre-commit installs hooks from a repository at a revision, so a fixture copies this
checkout's files (committed or not, as ``pre-commit try-repo`` does) into a throw-away
repository and commits them there, once a run (``hook_snapshot``, tests/conftest.py);
this checkout is only read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_portdiff import GitRepo, git_env, ledger, pcs_compose

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
TRAILER = "Port-Change: pcs-api http 8000 -> 8002 (tcp)"


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory,
              hook_snapshot: tuple[Path, str, Path]) -> tuple[Path, str, dict[str, str]]:
    """(a snapshot of this checkout as a repository, its commit, a git environment with
    the run's shared PRE_COMMIT_HOME): see ``hook_snapshot`` in tests/conftest.py."""
    source, sha, home = hook_snapshot
    env = git_env(tmp_path_factory.mktemp("commit-hooks"))
    env["PRE_COMMIT_HOME"] = str(home)
    env["PRE_COMMIT_COLOR"] = "never"
    return source, sha, env


def project(path: Path, hook_repo: tuple[Path, str, dict[str, str]],
            hook_types: tuple[str, ...]) -> GitRepo:
    source, sha, env = hook_repo
    repo = GitRepo(path, env)
    config = (f"repos:\n- repo: {source}\n  rev: {sha}\n  hooks:\n"
              "  - id: portledger-commit-msg\n  - id: portledger-prepare-commit-msg\n")
    repo.write({".pre-commit-config.yaml": config, "port-mapping.yml": ledger(8000),
                "pcs/compose.yaml": pcs_compose(8000)})
    repo.commit("init")
    args = [a for t in hook_types for a in ("--hook-type", t)]
    subprocess.run([PRE_COMMIT, "install", *args], cwd=repo.path, env=env, check=True,
                   capture_output=True)
    return repo


def git_commit(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", *args], cwd=repo.path, env=repo.env,
                          capture_output=True, text=True, timeout=600)


def test_commit_msg_refuses_then_prefilled_message_goes_through(
        tmp_path: Path, hook_repo: tuple[Path, str, dict[str, str]]) -> None:
    repo = project(tmp_path / "gate", hook_repo, ("commit-msg",))
    repo.stage({"port-mapping.yml": ledger(8002), "pcs/compose.yaml": pcs_compose(8002)})
    refused = git_commit(repo, "-m", "Move PCS to 8002")
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "portledger port changes documented" in output and "Failed" in output
    assert ("pcs/compose.yaml:5:9: PL301 undocumented-port-change port change (moved) not in "
            f"the message: {TRAILER}\n") in output
    assert output.endswith("Add these lines at its end, after a blank line:\n\n"
                           f"{TRAILER}\n\n")
    assert "Traceback" not in output
    assert repo.git("rev-list", "--count", "HEAD") == "1\n"

    # The same commit once the prepare-commit-msg hook is installed: pre-filled, accepted.
    subprocess.run([PRE_COMMIT, "install", "--hook-type", "prepare-commit-msg"], cwd=repo.path,
                   env=repo.env, check=True, capture_output=True)
    done = git_commit(repo, "-m", "Move PCS to 8002")
    assert done.returncode == 0, done.stdout + done.stderr
    assert repo.git("log", "-1", "--format=%B") == f"Move PCS to 8002\n\n{TRAILER}\n\n"
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], cwd=repo.path,
                            env=repo.env, input=repo.git("log", "-1", "--format=%B"),
                            capture_output=True, text=True, check=True)
    assert parsed.stdout == f"{TRAILER}\n"


def test_commit_without_port_changes_is_untouched(
        tmp_path: Path, hook_repo: tuple[Path, str, dict[str, str]]) -> None:
    repo = project(tmp_path / "docs", hook_repo, ("commit-msg", "prepare-commit-msg"))
    repo.stage({"README.md": "Ports live in port-mapping.yml.\n"})
    done = git_commit(repo, "-m", "Docs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert repo.git("log", "-1", "--format=%B") == "Docs\n\n"
    output = done.stdout + done.stderr
    assert "portledger port-change trailers" in output
    assert "portledger port changes documented" in output
