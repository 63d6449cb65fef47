"""Loading many compose projects in forked workers gives what loading them here gives, and
the look-ahead at the ledger's compose globs never changes the verdict."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from portledger import check
from portledger.check import loading as compose_check
from portledger.compose import discovery
from portledger.ledger import model as ledger_mod

LEDGER = """version: 1
ranges:
  application: {start: 2000, end: 2999}
services:
%s
"""


def make_repo(root: Path, projects: int) -> Path:
    services = []
    for i in range(projects):
        folder = root / "svc" / f"p{i:03d}"
        folder.mkdir(parents=True)
        port = 2000 + i
        # Every tenth project publishes its neighbour's port: PL202 and PL204.
        published = port - 1 if i % 10 == 9 else port
        (folder / "compose.yaml").write_text(
            f'services:\n  s{i}:\n    image: x\n    ports:\n      - "{published}:80"\n'
        )
        services.append(
            f"  s{i}:\n    category: application\n    ports: {{http: {{port: {port}}}}}"
        )
    path = root / "port-mapping.yml"
    path.write_text(LEDGER % "\n".join(services))
    return path


def keys(result: check.Result) -> list[tuple[str, str, int, int]]:
    return [(f.code, f.file, f.line, f.column) for f in result.findings]


def test_workers_and_this_process_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger_path = make_repo(tmp_path, 80)
    monkeypatch.chdir(tmp_path)
    specs = discovery.select(tmp_path, ledger_mod.DEFAULT_COMPOSE_FILES, ()).specs
    assert len(specs) == 80 >= compose_check.PARALLEL_MIN
    parallel = check.run(ledger_path)
    monkeypatch.setattr(compose_check, "PARALLEL_MIN", 10_000)
    sequential = check.run(ledger_path)
    assert keys(parallel) == keys(sequential)
    assert sorted({k[0] for k in keys(parallel)}) == ["PL202", "PL204"]
    assert len([k for k in keys(parallel) if k[0] == "PL202"]) == 8
    assert parallel.files == sequential.files == 81


def test_no_worker_outlives_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker left running would keep the output pipe open (pre-commit would wait), and
    # the console entry ends with os._exit, which joins nothing.
    ledger_path = make_repo(tmp_path, 80)
    monkeypatch.chdir(tmp_path)
    loading = compose_check.start(tmp_path, ledger_mod.ComposeConfig())
    assert multiprocessing.active_children()  # the workers were started
    check.run(ledger_path)  # begins its own load, which it closes
    loading.close()
    assert multiprocessing.active_children() == []


def test_a_wrong_guess_at_the_globs_is_corrected(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ledger_path = make_repo(tmp_path, 12)
    # Flow style: the cheap look-ahead cannot read it and guesses the default globs,
    # which would find every project; the real ledger says only p000-p009.
    ledger_path.write_text(ledger_path.read_text()
                           + 'compose: {files: ["svc/p00?/compose.yaml"]}\n')
    assert ledger_mod.peek_compose(ledger_path) == ledger_mod.ComposeConfig()
    monkeypatch.chdir(tmp_path)
    result = check.run(ledger_path)
    assert result.files == 11
    assert [k[0] for k in keys(result)] == ["PL202", "PL204"]


def test_the_look_ahead_reads_a_block_section(tmp_path: Path) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text("version: 1\ncompose:  # which files\n  files:\n    - a/*.yaml\n"
                    "  exclude: [b/**]\n\nranges: {}\n")
    assert ledger_mod.peek_compose(path) == ledger_mod.ComposeConfig(
        ("a/*.yaml",), ("b/**",), explicit_files=True)


def test_workers_use_the_cache_and_see_changes(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from portledger import compose

    ledger_path = make_repo(tmp_path / "repo", 80)
    monkeypatch.chdir(tmp_path / "repo")
    log = tmp_path / "loads.log"
    real = compose.load_project

    def logged(*args: object, **kwargs: object) -> compose.Project:
        # Appended to a file: the loads happen in forked workers.
        with open(log, "a") as f:
            f.write(f"{Path(str(kwargs['project_directory'])).name}\n")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compose, "load_project", logged)

    def loads() -> list[str]:
        found = sorted(log.read_text().split()) if log.exists() else []
        log.unlink(missing_ok=True)
        return found

    cold = check.run(ledger_path, cache=True)
    assert len(loads()) == 80
    warm = check.run(ledger_path, cache=True)
    assert keys(warm) == keys(cold) and loads() == []
    (tmp_path / "repo" / "svc" / "p005" / "compose.yaml").write_text(
        'services:\n  s5:\n    image: x\n    ports:\n      - "2004:80"\n')
    changed = check.run(ledger_path, cache=True)
    assert loads() == ["p005"]
    assert ("PL202", "svc/p005/compose.yaml", 5, 9) in keys(changed)
    assert keys(changed) == keys(check.run(ledger_path))  # as without the cache
