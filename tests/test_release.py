"""The release as users pin it: a clone of this repository with the annotated tag
``vVERSION`` (made here, on the clone, as the release workflow makes it on GitHub), used
by the real ``pre-commit`` through ``repo:``/``rev:`` and through ``try-repo --ref``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                    re.M).group(1)  # type: ignore[union-attr]
TAG = f"v{VERSION}"

LEDGER = """\
version: 1
ranges:
  user-facing: {start: 8000, end: 8999}
services:
  web:
    category: user-facing
    ports:
      http: {port: 8500, target: 80}
compose:
  files: ["**/compose*.y*ml"]
"""
WEB = 'services:\n  web:\n    image: web\n    ports:\n      - "8500:80"\n'


# No user or system git configuration leaks in (a path that is not there; not /dev/null,
# which a misbehaving process on a shared machine can turn into a regular file).
NO_CONFIG = str(Path(__file__).resolve().parent / "data" / "no-such-gitconfig")


def env(home: Path) -> dict[str, str]:
    e = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never",
         "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": NO_CONFIG,
         "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
         "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    e.pop("GITHUB_ACTIONS", None)
    return e


def run(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, env=env(home), capture_output=True, text=True,
                          check=False, timeout=900)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clone of this repository's HEAD with the annotated release tag, and a
    PRE_COMMIT_HOME shared by the tests (one hook environment)."""
    base = tmp_path_factory.mktemp("release")
    home = base / "pre-commit-home"
    clone = base / "portledger"
    done = run(base, home, "git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone))
    assert done.returncode == 0, done.stderr
    if run(clone, home, "git", "rev-parse", "-q", "--verify", f"refs/tags/{TAG}").returncode:
        assert run(clone, home, "git", "tag", "-a", TAG, "-m", f"portledger {VERSION}"
                   ).returncode == 0
    assert run(clone, home, "git", "cat-file", "-t", TAG).stdout == "tag\n"  # annotated
    return clone, home


def user_repo(path: Path, home: Path, config: str) -> Path:
    path.mkdir()
    run(path, home, "git", "init", "-q", "-b", "main")
    for name, text in {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB,
                       ".pre-commit-config.yaml": config}.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    run(path, home, "git", "add", "-A")
    return path


def test_a_rev_pinned_install_runs_every_hook_at_its_own_stage(
        released: tuple[Path, Path], tmp_path: Path) -> None:
    clone, home = released
    config = (f"default_install_hook_types: [pre-commit, commit-msg, prepare-commit-msg]\n"
              f"repos:\n  - repo: {clone}\n    rev: {TAG}\n    hooks:\n"
              "      - id: portledger-mapping\n      - id: portledger-compose\n"
              "      - id: portledger-commit-msg\n      - id: portledger-prepare-commit-msg\n")
    repo = user_repo(tmp_path / "user", home, config)
    done = run(repo, home, PRE_COMMIT, "install")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(repo, home, "git", "commit", "-q", "-m", "Add web")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("[INFO] ")]
    # One line a hook, each at its own stage: no "(no files to check) Skipped" from the
    # file hooks in the message stages.
    assert [re.sub(r"\.{2,}", " ", ln) for ln in lines] == [
        "portledger ledger Passed", "portledger compose ports Passed",
        "portledger port-change trailers Passed", "portledger port changes documented Passed"]
    # The commit that creates the ledger needs no trailer for the ledger's entries, but
    # the compose port it adds is a port change: prepare-commit-msg pre-fills its line.
    assert run(repo, home, "git", "log", "-1", "--format=%B").stdout == (
        "Add web\n\nPort-Change: web http none -> 8500 (tcp)\n\n")
    for name, text in {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB}.items():
        (repo / name).write_text(text.replace("8500", "8510"), encoding="utf-8")
    done = run(repo, home, "git", "commit", "-q", "-a", "-m", "Move web")
    assert done.returncode == 0, done.stdout + done.stderr
    message = run(repo, home, "git", "log", "-1", "--format=%B").stdout
    assert message == "Move web\n\nPort-Change: web http 8500 -> 8510 (tcp)\n\n"


def test_try_repo_at_the_tag(released: tuple[Path, Path], tmp_path: Path) -> None:
    clone, home = released
    repo = user_repo(tmp_path / "user", home, "repos: []\n")
    done = run(repo, home, PRE_COMMIT, "try-repo", str(clone), "portledger-mapping", "--ref",
               TAG, "--all-files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^portledger ledger\.+Passed$", done.stdout, re.M), done.stdout


def test_autoupdate_moves_a_pin_to_the_tag(released: tuple[Path, Path], tmp_path: Path) -> None:
    """With an annotated tag, ``pre-commit autoupdate`` writes ``rev: vX.Y.Z``, not a raw
    commit SHA (what it did while no tag existed)."""
    clone, home = released
    older = run(clone, home, "git", "rev-parse", "HEAD~1").stdout.strip()
    config = (f"repos:\n  - repo: {clone}\n    rev: {older}\n    hooks:\n"
              "      - id: portledger-mapping\n")
    repo = user_repo(tmp_path / "user", home, config)
    done = run(repo, home, PRE_COMMIT, "autoupdate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / ".pre-commit-config.yaml").read_text(encoding="utf-8") == config.replace(
        f"rev: {older}", f"rev: {TAG}")
