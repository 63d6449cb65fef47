"""``portledger probe`` against a real Docker engine (the session's private dockerd)."""

from __future__ import annotations

import getpass
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from probe_engine import HEALTHY, IMAGE, BusyBox, Engine, free_port

from portledger import cli

Ledger = Callable[[str], Path]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = cli.main(["probe", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


@pytest.fixture
def listener() -> Iterator[Callable[[int], subprocess.Popen[str]]]:
    """A plain Python process listening on 127.0.0.1:PORT, stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int) -> subprocess.Popen[str]:
        code = ("import socket, time\n"
                "s = socket.socket()\n"
                f"s.bind(('127.0.0.1', {port}))\n"
                "s.listen()\n"
                "print('ready', flush=True)\n"
                "time.sleep(120)\n")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def test_container_on_another_services_port_is_pl402(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    core, pcs = free_port(), free_port()
    ledger = write_ledger(f"""
        digi-core:
          category: application
          ports: {{http: {{port: {core}, target: 8080}}}}
        pcs-api:
          category: application
          ports: {{http: {{port: {pcs}, target: 8080}}}}
    """)
    containers.run("pcs-api", {8080: ("127.0.0.1", core)})
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--no-health")
    assert code == 1, err
    [f] = [f for f in doc["findings"] if f["code"] == "PL402"]
    assert f["rule"] == "container-port-conflict"
    assert (f["file"], f["line"]) == (str(ledger), line_of(ledger, f"port: {core}"))
    assert f["message"] == (f"container pcs-api publishes 127.0.0.1:{core}/tcp, which the "
                            "ledger gives to digi-core.http; to free it: docker stop pcs-api")
    assert f["fix"] == f"publish pcs-api on {pcs} (pcs-api.http in the ledger)"
    # Its docker-proxy is that container, reported once as PL402, not again as PL401.
    assert [x["code"] for x in doc["findings"]] == ["PL402"]


def test_compose_label_and_alias_map_a_container_to_its_service(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        digi-core:
          category: application
          compose: [digi-core-app]
          ports: {{http: {{port: {port}, health: {HEALTHY}}}}}
    """)
    containers.run("proj-digi-core-app-1", {8080: ("127.0.0.1", port)},
                   labels={"com.docker.compose.service": "digi-core-app",
                           "com.docker.compose.project": "proj"})
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert (code, doc["findings"]) == (0, []), err


def test_unmapped_published_port_is_pl403(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    mine, stray = free_port(), free_port()
    ledger = write_ledger(f"""
        reports:
          category: application
          ports: {{http: {{port: {mine}}}}}
    """)
    containers.run("reports", {8080: ("127.0.0.1", mine), 8081: ("127.0.0.1", stray)})
    containers.run("adhoc", {8080: None})  # Docker picks the host port
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--no-health")
    assert code == 1, err
    found = {f["service"]: f for f in doc["findings"]}
    assert set(found) == {"reports", "adhoc"}, doc
    f = found["reports"]
    assert (f["code"], f["severity"], f["port"]) == ("PL403", "error", stray)
    assert f["line"] == line_of(ledger, "reports:")
    assert f["message"] == (f"container reports publishes 127.0.0.1:{stray}/tcp, which the "
                            "ledger does not allocate; record it in the ledger under reports, "
                            "or stop it: docker stop reports")
    g = found["adhoc"]
    assert (g["code"], g["severity"], g["line"]) == ("PL403", "warning", line_of(ledger,
                                                                                 "services:"))
    assert "container adhoc (not in the ledger)" in g["message"]
    assert "Docker chose it at random" in g["message"]


def test_python_listener_on_an_allocated_port_is_pl401_naming_its_pid(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str],
        listener: Callable[[int], subprocess.Popen[str]]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        digi-core:
          category: application
          ports: {{http: {{port: {port}, health: /health}}}}
    """)
    proc = listener(port)
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert code == 1, err
    [f] = doc["findings"]  # digi-core is not running: its health is not asked
    assert (f["code"], f["rule"], f["severity"]) == ("PL401", "port-in-use", "error")
    assert f["line"] == line_of(ledger, f"port: {port}")
    assert f["message"] == (
        f"{port}/tcp (digi-core.http) is held by {process_label(proc.pid)} on 127.0.0.1, not "
        f"by digi-core; to free it: kill {proc.pid}, or move digi-core.http to "
        f"{moved(ledger, 'digi-core')}")
    assert f["holder"] == {
        "kind": "process", "pid": proc.pid, "process": psutil.Process(proc.pid).name(),
        "user": getpass.getuser(), "cmdline": psutil.Process(proc.pid).cmdline(),
        "container": None, "container_id": None, "image": None, "project": None,
        "service": None, "state": None, "addresses": ["127.0.0.1"],
        "description": f["message"].split(" is held by ", 1)[1].split(" on 127.0.0.1")[0]}


def test_text_output_names_file_line_and_pid(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str],
        listener: Callable[[int], subprocess.Popen[str]]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {port}}}}}
    """)
    proc = listener(port)
    assert cli.main(["probe", "--mapping", str(ledger), "--docker"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{ledger}:{line_of(ledger, f'port: {port}')}:")
    assert out[0].endswith(f"PL401 port-in-use {port}/tcp (web.http) is held by "
                           f"{process_label(proc.pid)} on 127.0.0.1, not by web; to free "
                           f"it: kill {proc.pid}, or move web.http to {moved(ledger, 'web')}")
    assert out[-1] == "Found 1 error, 0 warnings in 1 file."


def test_healthy_and_unhealthy_health_paths(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, stopped = free_port(), free_port(), free_port()
    ledger = write_ledger(f"""
        good:
          category: application
          ports: {{http: {{port: {good}, health: {HEALTHY}}}}}
        bad:
          category: application
          ports: {{http: {{port: {bad}, health: /missing}}}}
        stopped:
          category: application
          ports: {{http: {{port: {stopped}, health: /health}}}}
    """)
    containers.run("good", {8080: ("127.0.0.1", good)})
    containers.run("bad", {8080: ("127.0.0.1", bad)})
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--timeout", "5")
    assert code == 1, err
    [f] = doc["findings"]
    assert (f["code"], f["rule"], f["service"]) == ("PL404", "health-check-failed", "bad")
    assert f["line"] == line_of(ledger, f"port: {bad}")
    assert f["message"] == (f"bad.http (container bad): GET http://127.0.0.1:{bad}/missing "
                            "answered 404 Not Found; see its log: docker logs bad")
    assert (f["holder"]["kind"], f["holder"]["container"], f["holder"]["image"]) == (
        "container", "bad", IMAGE)
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--no-health")
    assert (code, doc["findings"]) == (0, []), err


def test_available_before_and_after(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str],
        listener: Callable[[int], subprocess.Popen[str]]) -> None:
    http, admin = free_port(), free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports:
            http: {{port: {http}}}
            admin: {{port: {admin}}}
    """)
    args = ["--mapping", str(ledger), "--available", "web"]
    assert cli.main(["probe", *args]) == 0
    assert capsys.readouterr().out == f"web.http {http}/tcp: free\nweb.admin {admin}/tcp: free\n"

    containers.run("blocker", {8080: ("127.0.0.1", http)})
    proc = listener(admin)
    assert cli.main(["probe", *args]) == 1
    out = capsys.readouterr().out
    assert out == (f"web.http {http}/tcp: taken by container blocker on 127.0.0.1\n"
                   f"web.admin {admin}/tcp: taken by {process_label(proc.pid)} "
                   "on 127.0.0.1\n")

    code, doc, _ = run(capsys, *args)
    assert code == 1
    rows = {r["name"]: r for r in doc["available"]}
    assert rows["http"]["taken_by"][0]["kind"] == "container"
    assert rows["http"]["taken_by"][0]["container"] == "blocker"
    assert rows["admin"]["taken_by"][0]["pid"] == proc.pid


def moved(ledger: Path, service: str) -> str:
    """The port ``allocate`` gives ``service`` that nothing listens on (what PL401 suggests
    moving it to)."""
    from portledger.ledger.allocation import Allocator
    from portledger.ledger.model import load_valid

    model = load_valid(ledger)
    listening = {("tcp" if c.type == 1 else "udp", c.laddr.port)
                 for c in psutil.net_connections("inet") if c.laddr}
    block = Allocator(model, listening).block(model.services[service].category, 1, "tcp",
                                              [service])
    assert block
    return str(block[0])


def process_label(pid: int) -> str:
    """How a finding names a process: ``python3 (pid N, user U, command "...")``, the
    command line's words joined by single spaces and cut at 80 characters."""
    proc = psutil.Process(pid)
    command = " ".join(" ".join(proc.cmdline()).split())
    command = command if len(command) <= 80 else command[:77] + "..."
    return f'{proc.name()} (pid {pid}, user {getpass.getuser()}, command "{command}")'


def test_no_docker_leaves_proxies_as_notices(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {port}}}}}
    """)
    containers.run("web", {8080: ("127.0.0.1", port)})
    code, doc, err = run(capsys, "--mapping", str(ledger), "--no-docker")
    assert code == 0, err
    [f] = doc["findings"]
    assert (f["code"], f["severity"]) == ("PL401", "notice")
    assert "docker-proxy (pid" in f["message"] and "needs --docker" in f["message"]


def test_docker_context_is_honoured(
        containers: BusyBox, engine: Engine, write_ledger: Ledger, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {free_port()}}}}}
    """)
    containers.run("stray", {8080: ("127.0.0.1", port)})
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"private").hexdigest()
    meta.mkdir(parents=True)
    # No config.json: the CLI finds the context all the same (the SDK alone would not).
    (meta / "meta.json").write_text(json.dumps({
        "Name": "private", "Metadata": {},
        "Endpoints": {"docker": {"Host": engine.url, "SkipTLSVerify": False}}}))
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("DOCKER_CONTEXT", "private")
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--no-sockets")
    assert code == 1, err
    assert [(f["code"], f["port"]) for f in doc["findings"]] == [("PL403", port)]

    monkeypatch.setenv("DOCKER_CONTEXT", "nonesuch")
    assert cli.main(["probe", "--mapping", str(ledger), "--docker"]) == 2
    assert "nonesuch" in capsys.readouterr().err


def test_the_cli_runs_as_a_process(containers: BusyBox, write_ledger: Ledger) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {port}, health: {HEALTHY}}}}}
    """)
    containers.run("web", {8080: ("127.0.0.1", port)})
    done = subprocess.run([sys.executable, "-m", "portledger", "probe", "--mapping", str(ledger),
                           "--docker"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
