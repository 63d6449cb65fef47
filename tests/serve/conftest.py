"""Fixtures of the serve tests: the probe tests' private Docker engine and busybox image
(tests/probe/conftest.py, loaded from there), and a running ``portledger serve``."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[1] / "probe"
sys.path.insert(0, str(PROBE))
_spec = importlib.util.spec_from_file_location("probe_fixtures", PROBE / "conftest.py")
assert _spec is not None and _spec.loader is not None
_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_probe)
engine, busybox, containers, write_ledger = (_probe.engine, _probe.busybox, _probe.containers,
                                             _probe.write_ledger)

from probe_engine import free_port  # noqa: E402


class Served:
    """A ``portledger serve`` process on a loopback port."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start ``portledger serve ARGS`` (its environment: this one plus ``env``); it is
    stopped with SIGTERM after the test, and must exit 0."""
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "portledger", "serve", "--listen", f"127.0.0.1:{port}",
             *args], env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        served = Served(proc, port)
        started.append(served)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return served
            except OSError:
                time.sleep(0.05)
        raise AssertionError("serve did not listen within 60 s")

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.terminate()
        try:
            code = s.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            raise
        assert code == 0, s.proc.stderr.read() if s.proc.stderr else ""
