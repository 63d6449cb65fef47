"""The probe's plain functions, its rules' catalogue entries and its failures, without an
engine: synthetic containers and listeners, local HTTP servers, a silent engine socket."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from probe_engine import free_port

from portledger import cli, probe
from portledger.findings import CODE_RE, NAME_RE, rule_of
from portledger.ledger.model import Ledger, load

Write = Callable[[str], Path]

DESIGN = {
    "PL401": ("port-in-use", "error"),
    "PL402": ("container-port-conflict", "error"),
    "PL403": ("unmapped-container-port", "error"),
    "PL404": ("health-check-failed", "error"),
    "PL405": ("unrecorded-listener", "notice"),
    "PL406": ("probe-incomplete", "notice"),
}


def model(path: Path) -> Ledger:
    ledger, findings = load(path)
    assert ledger is not None and not findings, findings
    return ledger


@pytest.fixture
def two(write_ledger: Write) -> Ledger:
    return model(write_ledger("""
        digi-core:
          category: application
          compose: [digi-core-app]
          ports: {http: {port: 18000, target: 8000, health: /health}}
        pcs-api:
          category: application
          ports: {http: {port: 18002, target: 8000}}
        redis:
          category: application
          ports: {main: {port: 18379}}
        batch:
          category: application
          ports: {range: {port: "18100-18109", host_ip: 127.0.0.1}}
    """))


def container(name: str, *ports: tuple[str | None, int, int], service: str | None = None,
              ) -> probe.Container:
    return probe.Container(id=f"id-{name}", name=name, compose_service=service,
                           ports=tuple(probe.ContainerPort(ip, host, target, "tcp")
                                       for ip, host, target in ports))


# -- the catalogue -------------------------------------------------------------------


def test_rules_are_the_design_table() -> None:
    got = {rule_of(f).code: (rule_of(f).name, rule_of(f).severity.value)
           for f in probe.PROBE_RULES}
    assert got == DESIGN
    for f in probe.PROBE_RULES:
        r = rule_of(f)
        assert CODE_RE.match(r.code) and NAME_RE.match(r.name)


@pytest.mark.parametrize("func", probe.PROBE_RULES, ids=lambda f: rule_of(f).code)
def test_every_rule_is_documented_with_examples(func: Callable[..., object]) -> None:
    doc = rule_of(func).doc
    prose, rest = doc.split("Failing:", 1)
    failing, passing = rest.split("Passing:", 1)
    assert prose.strip() and failing.strip() and passing.strip()


def test_importing_the_probe_imports_neither_docker_nor_psutil() -> None:
    code = ("import sys, portledger.probe, portledger.cli\n"
            "heavy = [m for m in ('docker', 'psutil', 'requests') if m in sys.modules]\n"
            "print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, ""), done.stderr


# -- containers: PL402, PL403 ----------------------------------------------------------


def test_own_port_on_ipv4_and_ipv6_is_clean(two: Ledger) -> None:
    c = container("digi", ("0.0.0.0", 18000, 8000), ("::", 18000, 8000), service="digi-core-app")
    assert probe.check_containers(two, [c]) == []


def test_conflict_folds_the_ipv6_twin_and_names_the_fix(two: Ledger) -> None:
    c = container("pcs-api", ("0.0.0.0", 18000, 8000), ("::", 18000, 8000))
    [f] = probe.check_containers(two, [c])
    assert f.code == "PL402"
    assert f.message == ("container pcs-api publishes 0.0.0.0:18000/tcp, which the ledger "
                         "gives to digi-core.http; to free it: docker stop pcs-api")
    holder = dict(f.details)["holder"]
    assert (holder["kind"], holder["container"], holder["container_id"]) == (
        "container", "pcs-api", "id-pcs-api")
    assert f.fix == "publish pcs-api on 18002 (pcs-api.http in the ledger)"
    assert (f.service, f.port, f.line) == ("digi-core", 18000, 8)


def test_addresses_that_do_not_overlap_do_not_conflict(two: Ledger) -> None:
    # batch owns 18100-18109 on 127.0.0.1 only; 127.0.0.2 can hold the same ports.
    c = container("other", ("127.0.0.2", 18105, 80))
    [f] = probe.check_containers(two, [c])
    assert f.code == "PL403"


def test_a_published_range_is_one_finding(two: Ledger) -> None:
    c = container("gen", *[("127.0.0.1", p, p) for p in (18200, 18201, 18202, 18210)])
    [f] = probe.check_containers(two, [c])
    assert f.code == "PL403"
    assert "publishes 127.0.0.1:18200-18202/tcp, 127.0.0.1:18210/tcp," in f.message
    assert f.line == 4  # services:


def test_random_host_ports_are_warnings(two: Ledger) -> None:
    c = container("adhoc", ("0.0.0.0", 40001, 80))
    [f] = probe.check_containers(two, [c], {"id-adhoc": {(40001, "tcp")}})
    assert (f.code, f.severity.value) == ("PL403", "warning")


# -- sockets: PL401 --------------------------------------------------------------------


def test_listeners_are_attributed(two: Ledger) -> None:
    pcs = container("pcs-api", ("0.0.0.0", 18002, 8000))
    obs = probe.Observation(containers=[pcs], listeners=[
        # pcs-api's own proxy, on both families: fine
        probe.Listener("0.0.0.0", 18002, "tcp", 10, "docker-proxy"),
        probe.Listener("::", 18002, "tcp", 11, "docker-proxy"),
        # redis natively, as redis-server: its own
        probe.Listener("127.0.0.1", 18379, "tcp", 20, "redis-server"),
        # someone else on digi-core's port, twice
        probe.Listener("0.0.0.0", 18000, "tcp", 30, "node"),
        probe.Listener("::", 18000, "tcp", 30, "node"),
        # invisible owner on batch's range
        probe.Listener("127.0.0.1", 18104, "tcp", None, None),
    ])
    found = {(f.service, f.severity.value): f.message for f in probe.check_sockets(two, obs)}
    assert found == {
        ("digi-core", "error"):
            "18000/tcp (digi-core.http) is held by node (pid 30) on 0.0.0.0 and [::], "
            "not by digi-core; to free it: kill 30, or move digi-core.http to 18001",
        ("batch", "warning"):
            "18104/tcp (batch.range 18100-18109) is held by a process not visible without "
            "root (run as root to name it) on 127.0.0.1; it may or may not be batch; to free "
            "it: sudo ss -lntup 'sport = :18104', or move batch.range to 18003-18012",
    }


def test_a_udp_listener_does_not_hold_a_tcp_port(two: Ledger) -> None:
    obs = probe.Observation(listeners=[probe.Listener("0.0.0.0", 18000, "udp", 5, "x")])
    # Not digi-core's 18000/tcp: a port of the range the ledger does not have (PL405).
    [f] = probe.check_sockets(two, obs)
    assert (f.code, f.severity.value, f.line, f.port, f.protocol) == (
        "PL405", "notice", 3, 18000, "udp")
    assert f.message == ("18000/udp in range application is held by x (pid 5) on 0.0.0.0, "
                         "and the ledger does not have it; record it, or free it: kill 5")


def test_availability_rows(two: Ledger) -> None:
    obs = probe.Observation(containers=[], listeners=[
        probe.Listener("127.0.0.1", 18379, "tcp", 20, "python3")])
    rows = probe.availability(two, ["redis", "pcs-api"], obs)
    assert [(r.allocation.service, [h.label for h in r.taken_by]) for r in rows] == [
        ("redis", ["python3 (pid 20)"]), ("pcs-api", [])]


# -- health: PL404 ---------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/by-name":  # a server that routes by Host
            status = 204 if self.headers.get("Host") == "api.digi.local" else 421
        else:
            status = {"/health": 200, "/sick": 503, "/moved": 302}.get(self.path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/health")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("path", "expected"), [
    ("/health", (200, "OK")),
    ("/sick", (503, "Service Unavailable")),
    ("/moved", (302, "Found (redirect to /health, not followed)")),
])
def test_http_status(server: int, path: str, expected: tuple[int, str]) -> None:
    assert probe.http_status("127.0.0.1", server, path, 5) == expected


def test_http_status_refused_and_silent() -> None:
    port = free_port()
    assert probe.http_status("127.0.0.1", port, "/", 1) == (None, "refused the connection")
    with socket.socket() as s:  # accepts (backlog), never answers
        s.bind(("127.0.0.1", port))
        s.listen()
        started = time.monotonic()
        assert probe.http_status("127.0.0.1", port, "/", 0.3) == (
            None, "did not answer within 0.3 s")
        # Not a speed test: it proves the 0.3 s deadline ends the wait (a hang would
        # last as long as the server keeps the socket open), with a wide margin.
        assert time.monotonic() - started < 10


def test_health_asks_only_running_services(write_ledger: Write, server: int) -> None:
    ledger = model(write_ledger(f"""
        up:
          category: application
          ports: {{http: {{port: {server}, health: /sick}}}}
        down:
          category: application
          ports: {{http: {{port: {free_port()}, health: /health}}}}
        elsewhere:
          category: application
          ports: {{http: {{port: {free_port()}, health: /health}}}}
    """))
    obs = probe.Observation(
        containers=[container("elsewhere", ("192.0.2.7", ledger.services["elsewhere"]
                                            .ports[0].start, 80))],
        listeners=[probe.Listener("127.0.0.1", server, "tcp", 1, "up")])
    found = probe.check(ledger, obs, timeout=5)
    assert [(f.service, f.severity.value) for f in found] == [
        ("up", "error"), ("elsewhere", "notice")]
    assert found[0].message == (f"up.http (up (pid 1)): GET http://127.0.0.1:{server}/sick "
                                "answered 503 Service Unavailable; see the process: "
                                "ps -o pid,user,args -p 1")
    assert "probe connects only to loopback" in found[1].message


def test_health_options_status_host_and_scheme(write_ledger: Write, server: int,
                                               tmp_path: Path) -> None:
    ledger = model(write_ledger(f"""
        named:
          category: application
          ports: {{http: {{port: {server}, health: /by-name, health_host: api.digi.local,
                          health_status: [204]}}}}
    """))
    obs = probe.Observation(listeners=[probe.Listener("127.0.0.1", server, "tcp", 1, "named")])
    assert probe.check(ledger, obs, timeout=5) == []
    # A redirect is reported, not followed, unless the ledger lists it as healthy.
    ledger = model(write_ledger(f"""
        moved:
          category: application
          ports: {{http: {{port: {server}, health: /moved}}}}
    """))
    obs = probe.Observation(listeners=[probe.Listener("127.0.0.1", server, "tcp", 1, "moved")])
    [f] = probe.check(ledger, obs, timeout=5)
    assert f.message == (f"moved.http (moved (pid 1)): GET http://127.0.0.1:{server}/moved "
                         "answered 302 Found (redirect to /health, not followed); see the "
                         "process: ps -o pid,user,args -p 1")


def test_https_health_is_asked_over_tls(tmp_path: Path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    try:
        assert probe.http_status("127.0.0.1", port, "/health", 5, scheme="https") == (200, "OK")
        # Plain HTTP to a TLS port is not an answer.
        assert probe.http_status("127.0.0.1", port, "/health", 5)[0] is None
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_one_deadline_over_parallel_work() -> None:
    from portledger.probe.model import run_within

    started = time.monotonic()
    done, late = run_within(lambda x: time.sleep(x) or x, [0.01, 30, 0.02, 30],
                            time.monotonic() + 0.5)
    assert (done, late) == ({0: 0.01, 2: 0.02}, [1, 3])
    assert time.monotonic() - started < 5  # the deadline, not 30 s: a wide margin


# -- the engine: where, and when it does not answer --------------------------------------


@pytest.mark.parametrize(("url", "local"), [
    ("unix:///var/run/docker.sock", True), ("npipe:////./pipe/docker_engine", True),
    ("tcp://127.0.0.1:2375", True), ("tcp://localhost:2375", True), ("tcp://[::1]:2376", True),
    ("tcp://10.0.0.5:2375", False), ("ssh://me@host", False), ("tcp://docker.example:2375", False),
])
def test_only_this_hosts_engine(url: str, local: bool) -> None:
    assert probe.is_local_engine(url) is local


@pytest.fixture
def ledger_file(write_ledger: Write) -> Path:
    return write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {free_port()}}}}}
    """)


def test_no_engine_is_exit_2_with_one_line(
        ledger_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sock = tmp_path / "none.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    assert cli.main(["probe", "--mapping", str(ledger_file), "--docker"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"portledger: no Docker engine answers at unix://{sock} "
                   f"(DOCKER_HOST=unix://{sock}): no such socket\n")
    # Without --docker the probe goes on without containers, and says so.
    assert cli.main(["probe", "--mapping", str(ledger_file), "--no-sockets"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "containers not checked" in err


def test_a_silent_engine_cannot_hang_the_probe(
        ledger_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sock = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    server.listen()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    started = time.monotonic()
    try:
        code = cli.main(["probe", "--mapping", str(ledger_file), "--docker", "--timeout", "0.5"])
    finally:
        server.close()
    assert code == 2
    # Not a speed test: without the --timeout the SDK would wait 60 s; a wide margin.
    assert time.monotonic() - started < 20
    assert "no answer in time" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "message"), [
    ("notaurl", "portledger: DOCKER_HOST=notaurl is not a Docker engine address "
                "(unix:///path/docker.sock or tcp://127.0.0.1:2375)\n"),
    ("tcp://127.0.0.1:{port}", "portledger: no Docker engine answers at "
                               "tcp://127.0.0.1:{port} (DOCKER_HOST=tcp://127.0.0.1:{port}): "
                               "connection refused (is dockerd running and listening "
                               "there?)\n"),
])
def test_engine_settings_that_name_no_engine_are_one_line(
        ledger_file: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], host: str, message: str) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("DOCKER_HOST", host.format(port=port))
    assert cli.main(["probe", "--mapping", str(ledger_file), "--docker"]) == 2
    assert capsys.readouterr() == ("", message.format(port=port))


def test_a_remote_engine_is_refused(ledger_file: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.1:2375")
    assert cli.main(["probe", "--mapping", str(ledger_file), "--docker"]) == 2
    assert "is not on this host" in capsys.readouterr().err


# -- usage -----------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--available", "wbe"], "'wbe' is not a service in"),
    (["--timeout", "0"], "argument --timeout: '0' is not a positive, finite number"),
    (["--timeout", "inf"], "argument --timeout: 'inf' is not a positive, finite number"),
    (["--deadline", "nan"], "argument --deadline: 'nan' is not a positive, finite number"),
    (["--deadline", "5h"], "argument --deadline: '5h' is not a positive, finite number"),
    (["--available", "web", "--format", "sarif"], "--available writes text or json, not "
                                                  "--format sarif"),
    (["--available", "web", "--no-docker", "--no-sockets"], "--available needs"),
    (["--format", "yaml"], "invalid choice: 'yaml'"),
])
def test_usage_errors_are_fatal(ledger_file: Path, args: list[str], message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "--mapping", str(ledger_file), "--no-docker", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portledger: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(("text", "seconds"), [
    ("2", 2.0), ("2.5s", 2.5), ("500ms", 0.5), ("1m", 60.0), ("15s", 15.0)])
def test_seconds_take_a_unit(text: str, seconds: float) -> None:
    from portledger.commands.probe import seconds as parse

    assert parse("--deadline")(text) == seconds


def test_an_invalid_ledger_is_its_findings(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "port-mapping.yml"
    bad.write_text("version: 1\nranges: {}\nservices: {web: {category: x, portz: {}}}\n")
    assert cli.main(["probe", "--mapping", str(bad), "--no-docker", "--format", "json"]) == 1
    assert {f["code"] for f in json.loads(capsys.readouterr().out)["findings"]} == {"PL100"}


def test_missing_ledger_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "--mapping", str(tmp_path / "nope.yml")]) == 2
    assert "no such file" in capsys.readouterr().err


def _formats() -> tuple[str, ...]:
    from portledger.report import reporters

    return tuple(reporters.FORMATS)


@pytest.mark.parametrize("fmt", _formats())
def test_every_format_carries_the_findings(
        write_ledger: Write, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        ledger = write_ledger(f"""
            web:
              category: application
              ports: {{http: {{port: {port}}}}}
        """)
        code = cli.main(["probe", "--mapping", str(ledger), "--no-docker", "--format", fmt])
    out = capsys.readouterr().out
    assert code == 1
    assert "PL401" in out and str(port) in out


def test_a_restarted_holder_keeps_its_sarif_fingerprint_and_json_holder(two: Ledger) -> None:
    from portledger.report.sarif import document, fingerprints

    def finding(pid: int) -> object:
        obs = probe.Observation(listeners=[probe.Listener("0.0.0.0", 18000, "tcp", pid, "node",
                                                          ("node", "server.js"), "alice")])
        [f] = probe.check_sockets(two, obs)
        return f

    before, after = finding(30), finding(4242)
    assert before.message != after.message  # the pid is in the message...
    assert fingerprints([before]) == fingerprints([after])  # ...not in the fingerprint
    assert dict(after.details)["holder"] == {
        "kind": "process", "pid": 4242, "process": "node", "user": "alice",
        "cmdline": ["node", "server.js"], "container": None, "container_id": None,
        "image": None, "project": None, "service": None, "state": None,
        "addresses": ["0.0.0.0"],
        "description": 'node (pid 4242, user alice, command "node server.js")'}
    [result] = document([after], 1)["runs"][0]["results"]
    assert result["properties"]["holder"]["pid"] == 4242
