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
