"""The ``portledger-compose`` hook as users install it (``pre-commit install``), through
real ``git commit``s: it runs on every commit, so a change to a file a compose project
reads that no file pattern names (an ``extends:`` target, an ``env_file``, a file matched
by the ledger's own globs) is checked before it is committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_portdiff import GitRepo

from hooks.test_commit_hooks import PRE_COMMIT, git_commit, hook_repo  # noqa: F401 (a fixture)

LEDGER = """version: 1
ranges:
  application: {start: 9000, end: 9099}
services:
  web:
    category: application
    ports: {http: {port: 9000, target: 80}}
compose:
  files: ["stacks/*.yml"]
"""
STACK = "services:\n  web:\n    extends: {file: ../shared/common.yml, service: base}\n"
COMMON = 'services:\n  base:\n    image: x\n    ports:\n      - "PORT:80"\n'


@pytest.fixture
def project(tmp_path: Path, hook_repo: tuple[Path, str, dict[str, str]]  # noqa: F811
            ) -> GitRepo:
    source, sha, env = hook_repo
    repo = GitRepo(tmp_path / "app", env)
    repo.write({".pre-commit-config.yaml": f"repos:\n- repo: {source}\n  rev: {sha}\n"
                "  hooks:\n  - id: portledger-compose\n",
                "port-mapping.yml": LEDGER, "stacks/web.yml": STACK,
                "shared/common.yml": COMMON.replace("PORT", "9000")})
    repo.commit("init")
    subprocess.run([PRE_COMMIT, "install"], cwd=repo.path, env=env, check=True,
                   capture_output=True)
    return repo


def test_a_change_to_an_extends_target_is_checked_at_commit(project: GitRepo) -> None:
    project.stage({"shared/common.yml": COMMON.replace("PORT", "9005")})
    refused = git_commit(project, "-m", "Move web")
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "portledger compose ports" in output and "Failed" in output
    assert ("shared/common.yml:5:9: PL203 port-mismatch web publishes 9005/tcp for container "
            "port 80; the ledger gives web.http 9000/tcp (port-mapping.yml:7)") in output
    assert project.git("rev-list", "--count", "HEAD") == "1\n"


def test_a_commit_touching_no_compose_file_still_runs_the_check(project: GitRepo) -> None:
    project.stage({"README.md": "ports\n"})
    done = git_commit(project, "-m", "Docs")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "portledger compose ports" in output and "Passed" in output
    assert "Skipped" not in output
