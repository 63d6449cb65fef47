"""Fixtures shared by every test."""

from __future__ import annotations

from pathlib import Path

import pytest

SERVICES_FILE = Path(__file__).resolve().parent / "ledger" / "services"


@pytest.fixture(autouse=True)
def fixed_services_file(monkeypatch: pytest.MonkeyPatch) -> Path:
    """PL109 reads tests/ledger/services, not the machine's /etc/services, so results do
    not depend on its netbase version (subprocesses inherit the variable)."""
    monkeypatch.setenv("PORTLEDGER_SERVICES_FILE", str(SERVICES_FILE))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)  # keep the default text format
    return SERVICES_FILE


@pytest.fixture(autouse=True)
def private_cache(monkeypatch: pytest.MonkeyPatch,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each test has a compose cache of its own (``check`` caches by default), never the
    user's ~/.cache/portledger (subprocesses inherit the variable)."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("PORTLEDGER_CACHE_DIR", str(folder))
    # The key that signs cache files: the test's own too (check.cache.secret).
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    return folder


@pytest.fixture(scope="session")
def hook_snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """(this checkout's files, committed or not, committed in a throw-away repository,
    as ``pre-commit try-repo`` takes them; that commit; a PRE_COMMIT_HOME for the whole
    run). pre-commit installs hooks from a repository at a revision and builds their
    environment (pip installing portledger) once per revision in its home: one snapshot
    and one home for every test that runs the real hooks, where each module (and each
    ``try-repo`` call) built its own (12 s each)."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    base = tmp_path_factory.mktemp("hook-snapshot")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
    source = base / "portledger"
    source.mkdir()
    for name in filter(None, listed):
        if (root / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, source / name)
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev",
           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"],
                 ["commit", "-q", "--no-verify", "-m", "snapshot of the checkout"]):
        subprocess.run([*git, *args], cwd=source, check=True, capture_output=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], cwd=source, capture_output=True,
                         text=True, check=True).stdout.strip()
    return source, sha, base / "pre-commit-home"
