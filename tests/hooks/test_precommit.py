"""The hooks as users run them: the real ``pre-commit`` command on a real git repository.

pre-commit builds the hook's virtual environment from this checkout (pip installs
portledger into it), so these tests also prove that the package installs and finds its
JSON Schema from an installed package. The checkout's files, committed or not, are
committed once in a throw-away repository (what ``pre-commit try-repo`` does;
``hook_snapshot`` in tests/conftest.py) and each test runs ``pre-commit run`` with a
config naming that repository at that revision and a home shared by the run: the
environment is built once, where ``try-repo`` built it in a new temporary store on every
call (12 s each). tests/test_release.py runs ``try-repo`` itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")

GOOD = (ROOT / "port-mapping.yml").read_text(encoding="utf-8").split("\ncompose:")[0] + "\n"

BAD = GOOD.replace("port: 8002", "port: 8000")


@dataclass(frozen=True)
class Hooks:
    """Where pre-commit installs the hooks from, and its home (environments, clones)."""

    home: Path
    source: Path
    rev: str


@pytest.fixture(scope="module")
def pre_commit_home(hook_snapshot: tuple[Path, str, Path]) -> Hooks:
    source, rev, home = hook_snapshot
    return Hooks(home, source, rev)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git(path, "add", "-A")
    return path


def try_repo(repo: Path, hook: str, hooks: Hooks) -> subprocess.CompletedProcess[str]:
    """``pre-commit run HOOK --all-files`` in ``repo``, the hook from this checkout."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(hooks.home), "PRE_COMMIT_COLOR": "never"}
    env.pop("GITHUB_ACTIONS", None)
    config = repo.parent / f".{repo.name}-pre-commit-config.yaml"  # outside the repository
    config.write_text(f"repos:\n- repo: {hooks.source}\n  rev: {hooks.rev}\n  hooks:\n"
                      f"  - id: {hook}\n", encoding="utf-8")
    return subprocess.run(
        [PRE_COMMIT, "run", hook, "--all-files", "--verbose", "-c", str(config)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )


def test_mapping_hook_passes_a_good_ledger(tmp_path: Path, pre_commit_home: Hooks) -> None:
    repo = make_repo(tmp_path / "good", {"port-mapping.yml": GOOD})
    result = try_repo(repo, "portledger-mapping", pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "portledger ledger" in result.stdout
    assert "Passed" in result.stdout


def test_mapping_hook_fails_a_broken_ledger(tmp_path: Path, pre_commit_home: Hooks) -> None:
    repo = make_repo(tmp_path / "bad", {"port-mapping.yml": BAD})
    result = try_repo(repo, "portledger-mapping", pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout
    line = next(i for i, t in enumerate(BAD.splitlines(), 1) if "port: 8000" in t
                and i > BAD.splitlines().index("  pcs-api:"))
    assert f"port-mapping.yml:{line}:15: PL104 duplicate-allocation" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_mapping_hook_skips_when_no_ledger_changed(tmp_path: Path, pre_commit_home: Hooks) -> None:
    repo = make_repo(tmp_path / "none", {"README.md": "no ports here\n"})
    result = try_repo(repo, "portledger-mapping", pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no files to check)Skipped" in result.stdout.replace(".", "")


DIGI = ROOT / "examples" / "digi"


def digi_files() -> dict[str, str]:
    files = {"port-mapping.yml": (ROOT / "port-mapping.yml").read_text(encoding="utf-8")}
    for path in sorted(DIGI.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return files


def test_compose_hook_passes_the_digi_ecosystem(tmp_path: Path, pre_commit_home: Hooks) -> None:
    repo = make_repo(tmp_path / "digi", digi_files())
    result = try_repo(repo, "portledger-compose", pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "portledger compose ports" in result.stdout and "Passed" in result.stdout


def test_compose_hook_fails_on_the_seeds_example_1(tmp_path: Path,
                                                  pre_commit_home: Hooks) -> None:
    files = digi_files()
    pcs = "examples/digi/pcs/compose.yaml"
    files[pcs] = files[pcs].replace('"8002:8000"', '"8000:8000"')
    repo = make_repo(tmp_path / "example1", files)
    result = try_repo(repo, "portledger-compose", pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(i for i, t in enumerate(files[pcs].splitlines(), 1) if '"8000:8000"' in t)
    assert f"{pcs}:{line}:9: PL202 owner-mismatch pcs-api publishes 8000/tcp" in result.stdout
    assert f"{pcs}:{line}:9: PL204 duplicate-published-port" in result.stdout
    assert "fix: digi-core keeps 8000" in result.stdout


def test_compose_hook_sees_each_change_through_its_cache(
        tmp_path: Path, pre_commit_home: Hooks, private_cache: Path) -> None:
    # The hook runs on every commit and keeps a cache of loaded projects (in the
    # test's own PORTLEDGER_CACHE_DIR): each run must still see what changed since.
    files = digi_files()
    repo = make_repo(tmp_path / "cached", files)
    pcs = "examples/digi/pcs/compose.yaml"
    assert try_repo(repo, "portledger-compose", pre_commit_home).returncode == 0
    assert sorted(p.name.split("-")[0] for p in private_cache.iterdir()) == [
        "compose", "ledger", "verdict"]
    (repo / pcs).write_text(files[pcs].replace('"8002:8000"', '"8000:8000"'))
    git(repo, "add", "-A")
    failed = try_repo(repo, "portledger-compose", pre_commit_home)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "PL202 owner-mismatch pcs-api publishes 8000/tcp" in failed.stdout
    (repo / pcs).write_text(files[pcs])
    git(repo, "add", "-A")
    assert try_repo(repo, "portledger-compose", pre_commit_home).returncode == 0
