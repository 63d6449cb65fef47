"""The probe on a real engine in the situations an operator's host holds: IPv6-only
publication, host-network containers, native services, paused containers, two compose
projects with one service name, an engine that stalls after the list, hung health
endpoints, TLS settings that cannot work, and ``who --live``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from probe_engine import HEALTHY, HUNG, IMAGE, BusyBox, Engine, StallingProxy, free_port
from test_probe_engine import line_of, moved, run

from portledger import cli

Ledger = Callable[[str], Path]




def codes(doc: dict[str, Any]) -> list[tuple[str, str, str | None, int | None]]:
    return [(f["code"], f["severity"], f["service"], f["port"]) for f in doc["findings"]]


@pytest.fixture
def process() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """A Python process listening on HOST:PORT with a recognisable command line."""
    started: list[subprocess.Popen[str]] = []

    def start(host: str, port: int, *extra: str) -> subprocess.Popen[str]:
        code = ("import socket, sys, time\n"
                f"s = socket.socket(socket.AF_INET6 if ':' in {host!r} else socket.AF_INET)\n"
                f"s.bind(({host!r}, {port}))\n"
                "s.listen()\n"
                "print('ready', flush=True)\n"
                "while True:\n"
                "    c, _ = s.accept()\n"
                "    c.recv(4096)\n"
                "    c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n')\n"
                "    c.close()\n")
        proc = subprocess.Popen([sys.executable, "-c", code, *extra], stdout=subprocess.PIPE,
                                text=True)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


# 1. IPv6-only publication, and a process bound to ::1 only


def test_ipv6_only_ports_are_asked_on_ipv6_loopback(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str],
        process: Callable[..., subprocess.Popen[str]]) -> None:
    web, native = free_port(), free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {web}, health: {HEALTHY}}}}}
        native:
          category: application
          process: {{cmdline: "native-service"}}
          ports: {{http: {{port: {native}, health: /}}}}
    """)
    containers.run("web", {8080: ("::", web)})
    process("::1", native, "native-service")
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert (code, doc["findings"]) == (0, []), err
    # The same service with a failing path: asked on [::1], not "refused" on 127.0.0.1.
    ledger.write_text(ledger.read_text().replace(f"health: {HEALTHY}", "health: /nope"))
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert code == 1, err
    [f] = doc["findings"]
    assert f["message"] == (f"web.http (container web): GET http://[::1]:{web}/nope answered "
                            "404 Not Found; see its log: docker logs web")


# 2. Host-network containers; native services matched by process:


def test_a_host_network_container_is_its_service(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    own, other = free_port(), free_port()
    ledger = write_ledger(f"""
        hostnet:
          category: application
          ports: {{http: {{port: {own}, health: {HEALTHY}}}}}
        other:
          category: application
          ports: {{http: {{port: {other}}}}}
    """)
    cid = containers.run("hostnet", port=own, network_mode="host")
    time.sleep(0.3)
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert (code, doc["findings"]) == (0, []), err
    containers.run("intruder", port=other, network_mode="host")
    time.sleep(0.3)
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert code == 1, err
    [f] = doc["findings"]
    assert (f["code"], f["service"], f["port"], f["line"]) == (
        "PL402", "other", other, line_of(ledger, f"port: {other}"))
    assert f["message"] == (f"container intruder (host network, not in the ledger) listens on "
                            f"[::]:{other}/tcp, which the ledger gives to other.http; "
                            "to free it: docker stop intruder")
    assert (f["holder"]["kind"], f["holder"]["container"], f["holder"]["image"]) == (
        "container", "intruder", IMAGE)
    assert f["holder"]["container_id"] != cid and len(f["holder"]["container_id"]) == 64


def test_a_native_service_is_known_by_its_process_matcher(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str],
        process: Callable[..., subprocess.Popen[str]]) -> None:
    port = free_port()
    services = f"""
        digi-core:
          category: application
          {{matcher}}
          ports: {{{{http: {{{{port: {port}, health: /}}}}}}}}
    """
    ledger = write_ledger(services.format(matcher="process: {cmdline: 'digi_core[.]main'}"))
    proc = process("127.0.0.1", port, "digi_core.main:app")
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert (code, doc["findings"]) == (0, []), err
    # A matcher that names another command line: the same process is a stranger.
    write_ledger(services.format(matcher="process: {cmdline: 'uvicorn'}"))
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    assert code == 1, err
    [f] = doc["findings"]
    assert (f["code"], f["holder"]["pid"], f["holder"]["cmdline"][-1]) == (
        "PL401", proc.pid, "digi_core.main:app")
    assert f["message"].endswith(f"not by digi-core; to free it: kill {proc.pid}, or move "
                                 f"digi-core.http to {moved(ledger, 'digi-core')}")
    # A pattern that is not a regular expression: one located line, exit 2.
    write_ledger(services.format(matcher="process: {cmdline: 'digi_core('}"))
    assert cli.main(["probe", "--mapping", str(ledger), "--docker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"portledger: {ledger}:{line_of(ledger, 'process:')}:")
    assert "services.digi-core.process.cmdline: 'digi_core(' is not a regular expression" in err


# 3. Paused containers keep their ports


def test_a_paused_container_is_still_a_conflict(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {port}}}}}
    """)
    cid = containers.run("squatter", {8080: ("127.0.0.1", port)})
    containers.api.pause(cid)
    try:
        code, doc, err = run(capsys, "--mapping", str(ledger), "--docker")
    finally:
        containers.api.unpause(cid)
    assert code == 1, err
    [f] = doc["findings"]
    assert (f["code"], f["severity"]) == ("PL402", "error")
    assert f["message"] == (f"container squatter (paused, not in the ledger) publishes "
                            f"127.0.0.1:{port}/tcp, which the ledger gives to web.http; to "
                            "free it: docker stop squatter")
    assert f["holder"]["state"] == "paused"


# 4. The compose project is part of a container's identity


def test_another_projects_service_of_the_same_name_is_not_the_ledgers(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    db, stray = free_port(), free_port()
    ledger = write_ledger(f"""
        db:
          category: application
          compose_project: alpha
          ports: {{main: {{port: {db}}}}}
    """)

    def labels(project: str) -> dict[str, str]:
        return {"com.docker.compose.project": project, "com.docker.compose.service": "db",
                "com.docker.compose.project.config_files": f"/srv/{project}/compose.yaml"}

    containers.run("alpha-db-1", {8080: ("127.0.0.1", db)}, labels("alpha"))
    containers.run("beta-db-1", {8080: ("127.0.0.1", stray)}, labels("beta"))
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--no-sockets")
    assert code == 1, err
    [f] = doc["findings"]
    assert (f["code"], f["service"], f["port"], f["line"]) == (
        "PL403", "beta-db-1", stray, line_of(ledger, "services:"))
    assert f["message"] == (f"container beta-db-1 (project beta, compose service db, not in "
                            f"the ledger) publishes 127.0.0.1:{stray}/tcp, which the ledger "
                            "does not allocate; record it in the ledger (portledger "
                            "allocate), or stop it: docker stop beta-db-1")
    assert (f["holder"]["project"], f["holder"]["service"]) == ("beta", "db")


# 5. One deadline


def test_an_engine_that_stalls_after_the_list_is_bounded_by_the_deadline(
        containers: BusyBox, engine: Engine, write_ledger: Ledger, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {free_port()}}}}}
    """)
    strays = [free_port() for _ in range(4)]
    for i, port in enumerate(strays):
        containers.run(f"stray-{i}", {8080: ("127.0.0.1", port)})
    proxy = StallingProxy(engine, tmp_path, lambda path: "/containers/" in path
                          and path.split("?")[0].endswith("/json")
                          and not path.split("?")[0].endswith("/containers/json"))
    monkeypatch.setenv("DOCKER_HOST", proxy.url)
    try:
        started = time.monotonic()
        code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--no-sockets",
                             "--timeout", "30", "--deadline", "3")
        took = time.monotonic() - started
    finally:
        proxy.close()
    assert code == 1, err
    assert took < 3 + 1.5, took  # the deadline and a margin, not 4 x 30 s
    got = sorted(codes(doc))
    assert got == sorted([("PL403", "error", f"stray-{i}", p) for i, p in enumerate(strays)]
                         + [("PL406", "notice", None, None)] * 4)
    notices = sorted(f["message"] for f in doc["findings"] if f["code"] == "PL406")
    assert notices == [f"container stray-{i} was not inspected within the probe's deadline: "
                       "whether Docker chose its unrecorded ports itself is unknown (its "
                       "PL403 stays an error)" for i in range(4)]


def test_hung_health_endpoints_share_one_deadline(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    ports = [free_port() for _ in range(6)]
    ledger = write_ledger("\n".join(f"""
        svc-{i}:
          category: application
          ports: {{http: {{port: {p}, health: {HUNG}}}}}""" for i, p in enumerate(ports)))
    for i, p in enumerate(ports):
        containers.run(f"svc-{i}", {8080: ("127.0.0.1", p)})
    started = time.monotonic()
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--timeout", "30",
                         "--deadline", "3")
    took = time.monotonic() - started
    assert code == 0, err  # nothing failed: nothing answered in time, and it says so
    assert took < 3 + 1.5, took
    assert sorted(codes(doc)) == [("PL406", "notice", f"svc-{i}", p)
                                  for i, p in enumerate(ports)]
    assert doc["findings"][0]["message"] == (
        f"GET http://127.0.0.1:{ports[0]}{HUNG} was not answered within the probe's "
        "deadline: svc-0.http's health is unknown")
    # With a request timeout inside the deadline, a hung endpoint is a failure.
    code, doc, err = run(capsys, "--mapping", str(ledger), "--docker", "--timeout", "0.5",
                         "--deadline", "5")
    assert code == 1, err
    assert sorted(codes(doc)) == [("PL404", "error", f"svc-{i}", p)
                                  for i, p in enumerate(ports)]
    assert doc["findings"][0]["message"] == (
        f"svc-0.http (container svc-0): GET http://127.0.0.1:{ports[0]}{HUNG} did not answer "
        "within 0.5 s; see its log: docker logs svc-0")


# 6. TLS settings that cannot work


def test_tls_verify_without_certificates_is_one_line_and_keeps_the_socket_checks(
        containers: BusyBox, write_ledger: Ledger, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        process: Callable[..., subprocess.Popen[str]]) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {port}}}}}
    """)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path / "no-certs"))
    assert cli.main(["probe", "--mapping", str(ledger), "--docker"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("portledger: the TLS settings of DOCKER_HOST=tcp://127.0.0.1:2376 "
                          "cannot be used: ")
    assert err.endswith("(set DOCKER_CERT_PATH to a folder with ca.pem, cert.pem and "
                        "key.pem, or unset DOCKER_TLS_VERIFY)\n") and err.count("\n") == 1
    proc = process("127.0.0.1", port)
    code, doc, err = run(capsys, "--mapping", str(ledger))  # the engine is optional
    assert code == 1
    assert [(f["code"], f["holder"]["pid"]) for f in doc["findings"]] == [("PL401", proc.pid)]
    assert "the TLS settings of DOCKER_HOST" in err and "containers not checked" in err


# 8. --available: own containers, and an engine that does not answer


def test_available_says_own_and_unknown(
        containers: BusyBox, write_ledger: Ledger, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    http, admin = free_port(), free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports:
            http: {{port: {http}}}
            admin: {{port: {admin}}}
    """)
    containers.run("web", {8080: ("127.0.0.1", http)})
    assert cli.main(["probe", "--mapping", str(ledger), "--available", "web"]) == 0
    assert capsys.readouterr().out == (
        f"web.http {http}/tcp: already held by web itself (container web on 127.0.0.1)\n"
        f"web.admin {admin}/tcp: free\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert cli.main(["probe", "--mapping", str(ledger), "--available", "web",
                     "--no-sockets"]) == 1
    assert capsys.readouterr().out == (
        f"web.http {http}/tcp: unknown: no listener, but containers were not checked (no "
        "engine answered)\n"
        f"web.admin {admin}/tcp: unknown: no listener, but containers were not checked (no "
        "engine answered)\n")


# who --live


def test_who_live_names_the_holder_and_whether_it_owns_the_port(
        containers: BusyBox, write_ledger: Ledger, capsys: pytest.CaptureFixture[str],
        process: Callable[..., subprocess.Popen[str]]) -> None:
    web, api = free_port(), free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {web}}}}}
        api:
          category: application
          ports: {{http: {{port: {api}}}}}
    """)
    cid = containers.run("web-1", {8080: ("127.0.0.1", web)},
                         {"com.docker.compose.project": "shop",
                          "com.docker.compose.service": "web"})
    proc = process("127.0.0.1", api)
    assert cli.main(["who", "--mapping", str(ledger), str(web), "--live"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (f"{web}/tcp: web.http ({web}, active) {ledger}:"
                                   f"{line_of(ledger, f'port: {web}')}")
    assert out.splitlines()[-1] == (
        f"  live: container web-1 (project shop, compose service web, image {IMAGE}, id "
        f"{cid[:12]}) on 127.0.0.1: the owner, web")
    assert cli.main(["who", "--mapping", str(ledger), str(api), "--live"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("  live: python")
    assert last.endswith(f") on 127.0.0.1: not the owner (api); to free it: kill {proc.pid}")
    assert cli.main(["who", "--mapping", str(ledger), str(api), "--live", "--format",
                     "json"]) == 0
    live = json.loads(capsys.readouterr().out)["live"]
    assert live["owner_ok"] is False
    assert [(h["kind"], h["pid"]) for h in live["holders"]] == [("process", proc.pid)]
