"""Fixtures of the probe tests: a private Docker engine for the session, free ports,
ledgers in tmp folders.

The engine tests need a real ``dockerd`` (Debian's docker.io), root, and a static busybox
(busybox-static); ``.ci/docker-engine install`` provides them. Where the engine cannot
start they are skipped with the reason, or fail when ``PORTLEDGER_REQUIRE_ENGINE=1``
(CI sets it, so a missing engine can never pass as green).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from probe_engine import BusyBox, Engine, EngineError, unavailable_reason


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A private dockerd for the whole session, torn down (containers, engine, bridge,
    folder) at its end."""
    required = os.environ.get("PORTLEDGER_REQUIRE_ENGINE") == "1"
    reason = unavailable_reason()
    started: Engine | None = None
    if reason is None:
        try:
            started = Engine.start()
        except EngineError as e:
            reason = f"dockerd cannot start: {e}"
    if started is None:
        message = f"no Docker engine for the probe tests: {reason}"
        if required:
            pytest.fail(message + " (PORTLEDGER_REQUIRE_ENGINE=1)", pytrace=False)
        pytest.skip(message)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def busybox(engine: Engine) -> BusyBox:
    box = BusyBox(engine)
    box.build()
    return box


@pytest.fixture
def containers(busybox: BusyBox, engine: Engine,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[BusyBox]:
    """The test's engine as DOCKER_HOST; every container is removed after the test."""
    monkeypatch.setenv("DOCKER_HOST", engine.url)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    yield busybox
    engine.remove_containers()


@pytest.fixture
def write_ledger(tmp_path: Path) -> Callable[[str], Path]:
    """Write a ledger (services block only, indented YAML) into the test's tmp folder."""

    def write(services: str) -> Path:
        path = tmp_path / "port-mapping.yml"
        path.write_text(
            "version: 1\n"
            "ranges:\n"
            "  application: {start: 18000, end: 19999}\n"
            "services:\n" + textwrap.indent(textwrap.dedent(services).strip("\n"), "  ")
            + "\n",
            encoding="utf-8",
        )
        return path

    return write
