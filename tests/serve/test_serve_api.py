"""The JSON API of ``portledger serve``, over real HTTP to a real server process: fifty
concurrent allocations, and each error (400, 401, 404, 405, 409, 413, 415)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from portledger.ledger.model import load_valid

Served = Any  # conftest.Served: a running server (its url, its process)

TOKEN = "s3cret-token-for-tests"


def call(served: Served, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(served.url + path, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def post(served: Served, doc: Any, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    code, _, answer = call(served, "POST", "/api/v1/allocations", json.dumps(doc).encode(),
                           headers)
    return code, answer


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "port-mapping.yml"
    path.write_text("version: 1\n"
                    "ranges:\n"
                    "  application: {start: 21000, end: 21999}\n"
                    "services:\n"
                    "  web:\n"
                    "    category: application  # the shop's front\n"
                    "    ports:\n"
                    "      http: {port: 21000, health: /health}\n", encoding="utf-8")
    return path


NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_fifty_concurrent_allocations_get_fifty_ports_and_a_ledger_check_passes(
        ledger: Path, serve: Callable[..., Served]) -> None:
    served = serve("--mapping", str(ledger), "--write", "--interval", "30",
                   env={**NO_ENGINE, "PORTLEDGER_TOKEN": TOKEN})
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: post(served, {"service": f"svc-{i:02d}",
                                                        "category": "application"}),
                                range(50)))
    assert {code for code, _ in answers} == {201}, answers[:3]
    ports = [a["ports"][0]["port"] for _, a in answers]
    assert len(set(ports)) == 50 and all(21001 <= p <= 21999 for p in ports)
    model = load_valid(ledger)
    assert {s: model.services[s].ports[0].start for s in model.services if s != "web"} == {
        a["service"]: a["ports"][0]["port"] for _, a in answers}
    assert "# the shop's front" in ledger.read_text()  # comments kept
    done = subprocess.run([sys.executable, "-m", "portledger", "check", "--mapping",
                           str(ledger)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_write_it_proposes_and_writes_nothing(
        ledger: Path, serve: Callable[..., Served]) -> None:
    before = ledger.read_text()
    served = serve("--mapping", str(ledger), "--interval", "30", env=NO_ENGINE)
    code, answer = post(served, {"service": "api", "category": "application"}, token=None)
    assert code == 200
    assert answer == {
        "service": "api", "category": "application",
        "ports": [{"name": "http", "port": 21001, "protocol": "tcp"}],
        "diff": (f"--- a/{ledger}\n+++ b/{ledger}\n@@ -6,3 +6,7 @@\n"
                 "     category: application  # the shop's front\n     ports:\n"
                 "       http: {port: 21000, health: /health}\n+  api:\n"
                 "+    category: application\n+    ports:\n+      http: {port: 21001}\n"),
        "written": False}
    assert ledger.read_text() == before


@pytest.mark.parametrize(("doc", "status", "message"), [
    ({"service": "api", "category": "application", "port": 21000}, 409,
     "21000/tcp is allocated to web.http"),
    ({"service": "api"}, 400, "category: a non-empty string is required"),
    ({"service": "API!", "category": "application"}, 400,
     "service: 'API!' is not a ledger name"),
    ({"service": "api", "category": "application", "count": 0}, 400,
     "count: 0 is not a whole number from 1 to 1024"),
    ({"service": "api", "category": "nope"}, 400,
     "category 'nope' is not a range of the ledger (application)"),
    ({"service": "api", "category": "application", "colour": "red"}, 400,
     "unknown field 'colour'"),
    ({"service": "api", "category": "application", "host": "elsewhere"}, 400,
     "host: 'elsewhere' is not this server's host ('test-host')"),
])
def test_bad_and_conflicting_requests(
        ledger: Path, serve: Callable[..., Served], doc: dict[str, Any], status: int,
        message: str) -> None:
    served = serve("--mapping", str(ledger), "--write", "--interval", "30",
                   "--host-label", "test-host",
                   env={**NO_ENGINE, "PORTLEDGER_TOKEN": TOKEN})
    code, answer = post(served, doc)
    assert code == status, answer
    assert answer["error"]["status"] == status
    assert answer["error"]["message"].startswith(message), answer
    if status == 409:
        assert answer["error"]["holder"] == {"kind": "ledger", "service": "web",
                                             "name": "http"}


def test_token_body_bound_and_json_errors(ledger: Path, serve: Callable[..., Served]) -> None:
    served = serve("--mapping", str(ledger), "--write", "--interval", "30",
                   env={**NO_ENGINE, "PORTLEDGER_TOKEN": TOKEN})
    doc = {"service": "api", "category": "application"}
    assert post(served, doc, token=None) == (401, {"error": {
        "status": 401, "message": "writing needs 'Authorization: Bearer TOKEN' with the token "
                                  "the server was started with (PORTLEDGER_TOKEN)"}})
    assert post(served, doc, token="wrong")[0] == 401
    big = json.dumps({**doc, "host": "x" * 70000}).encode()
    code, _, answer = call(served, "POST", "/api/v1/allocations", big,
                           {"Content-Type": "application/json",
                            "Authorization": f"Bearer {TOKEN}"})
    assert (code, answer["error"]["message"]) == (
        413, f"the body has {len(big)} bytes; at most 65536 are read")
    code, _, answer = call(served, "POST", "/api/v1/allocations", b'{"service": ',
                           {"Content-Type": "application/json",
                            "Authorization": f"Bearer {TOKEN}"})
    assert (code, answer["error"]["line"], answer["error"]["column"]) == (400, 1, 13)
    code, _, answer = call(served, "POST", "/api/v1/allocations", b"service=api",
                           {"Content-Type": "application/x-www-form-urlencoded",
                            "Authorization": f"Bearer {TOKEN}"})
    assert code == 415
    code, headers, answer = call(served, "GET", "/api/v1/nothing")
    assert (code, answer) == (404, {"error": {"status": 404,
                                              "message": "no such resource: /api/v1/nothing"}})
    assert "Access-Control-Allow-Origin" not in headers
    assert call(served, "DELETE", "/api/v1/ports")[0] == 405
    assert call(served, "GET", "/api/v1/ports/70000")[0] == 400
    code, _, answer = call(served, "GET", "/api/v1/services/nope")
    assert code == 404 and answer["error"]["message"].startswith("'nope' is not a service")


def test_read_endpoints_and_openapi(ledger: Path, serve: Callable[..., Served]) -> None:
    served = serve("--mapping", str(ledger), "--interval", "30", env=NO_ENGINE)
    code, _, doc = call(served, "GET", "/api/v1/ports")
    assert code == 200
    assert [(p["service"], p["name"], p["port"], p["live"]["up"]) for p in doc["ports"]] == [
        ("web", "http", "21000", False)]
    assert doc["probe"]["containers_checked"] is False
    code, _, one = call(served, "GET", "/api/v1/ports/21000")
    assert (code, [o["service"] for o in one["owners"]], one["range"]["name"]) == (
        200, ["web"], "application")
    code, _, svc = call(served, "GET", "/api/v1/services/web")
    assert (code, svc["category"], len(svc["ports"])) == (200, "application", 1)
    code, _, api = call(served, "GET", "/api/v1/openapi.json")
    assert code == 200 and api["openapi"] == "3.1.0"
    assert set(api["paths"]) == {"/api/v1/ports", "/api/v1/ports/{port}",
                                 "/api/v1/services/{name}", "/api/v1/allocations", "/metrics"}


def test_write_needs_a_token_to_start(ledger: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "portledger", "serve", "--mapping",
                           str(ledger), "--write"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("portledger: serve: --write needs a bearer token in "
                           "PORTLEDGER_TOKEN (requests must send 'Authorization: Bearer "
                           "TOKEN')\n")
