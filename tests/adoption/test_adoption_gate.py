"""The commit gate at adoption, on real repositories (real git, the gate's commands):
the commit that creates the ledger documents itself, a port the same commit adds does
not, a squash merge that adopts passes, and prepare-commit-msg stays bounded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_portdiff import GitRepo, git_env

PORTLEDGER = [sys.executable, "-m", "portledger.cli"]
WEB = 'services:\n  web:\n    image: w\n    ports: ["2001:80", "2002:81"]\n'


def run(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PORTLEDGER, *args], cwd=repo.path, env=repo.env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo", git_env(tmp_path))
    repo.commit("Web", {"web/compose.yaml": WEB})
    assert run(repo, "init", "--write").returncode == 0
    return repo


def test_the_ledgers_creation_needs_no_trailer(repo: GitRepo) -> None:
    repo.git("add", "port-mapping.yml")
    (repo.path / "MSG").write_text("Adopt portledger\n")
    done = run(repo, "prepare-commit-msg", "MSG", "message")
    assert (done.returncode, done.stderr) == (0, "")
    assert (repo.path / "MSG").read_text() == "Adopt portledger\n"
    done = run(repo, "commit-msg", "MSG")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_port_added_with_the_ledger_still_needs_its_trailer(repo: GitRepo) -> None:
    repo.write({"api/compose.yaml": 'services:\n  api:\n    image: a\n    ports: ["2003:80"]\n'})
    assert run(repo, "init", "--write", "--force").returncode == 0
    repo.git("add", "-A")
    (repo.path / "MSG").write_text("Adopt portledger, add the API\n")
    done = run(repo, "commit-msg", "MSG")
    assert done.returncode == 1
    assert done.stdout.startswith(
        "api/compose.yaml:4:13: PL301 undocumented-port-change port change (added) not in the "
        "message: Port-Change: api http none -> 2003 (tcp)\n")
    # The ledger's entry for it is the same event (one trailer); web's ports need none.
    assert done.stdout.count("PL301") == 2 and "web" not in done.stdout
    assert done.stdout.endswith("after a blank line:\n\nPort-Change: api http none -> 2003 "
                                "(tcp)\n")
    assert run(repo, "prepare-commit-msg", "MSG").returncode == 0
    assert (repo.path / "MSG").read_text() == (
        "Adopt portledger, add the API\n\nPort-Change: api http none -> 2003 (tcp)\n")
    assert run(repo, "commit-msg", "MSG").returncode == 0


def test_a_squash_merge_that_adopts(repo: GitRepo) -> None:
    base = repo.git("rev-parse", "HEAD").strip()
    repo.commit("Adopt portledger")
    (repo.path / "PR").write_text("Adopt portledger\n")
    done = run(repo, "check-commits", f"{base}..HEAD", "--squash", "--message-file", "PR")
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_prepare_commit_msg_is_bounded(repo: GitRepo) -> None:
    repo.commit("Adopt portledger")
    many = "".join(f'  s{i:02d}:\n    image: s\n    ports: ["{2100 + i}:80"]\n'
                   for i in range(21))
    repo.stage({"many/compose.yaml": "services:\n" + many})
    (repo.path / "MSG").write_text("Add 21 services\n")
    done = run(repo, "prepare-commit-msg", "MSG")
    assert (done.returncode, done.stderr) == (0, (
        "portledger: 21 port changes: document them with one line, 'Port-Change: bulk "
        "REASON' (what changed and why), instead of one a change (`portledger diff` lists "
        "them)\n"))
    assert (repo.path / "MSG").read_text() == "Add 21 services\n"
    # The limit is a setting.
    ledger = (repo.path / "port-mapping.yml").read_text()
    repo.stage({"port-mapping.yml": ledger.replace("version: 1\n",
                                                   "version: 1\nsettings:\n  trailer_limit: 40\n")})
    assert run(repo, "prepare-commit-msg", "MSG").returncode == 0
    assert (repo.path / "MSG").read_text().count("Port-Change: ") == 21
