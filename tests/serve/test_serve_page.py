"""The live page of ``portledger serve`` in headless Chromium (tests/cdp.py): it shows the
live state, refreshes it in place when a container stops, logs no console error and asks
no other host; without JavaScript it is the same page, rendered by the server."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from probe_engine import HEALTHY, BusyBox, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cdp import PageRun, _Pipe, find_browser  # noqa: E402

BROWSER = find_browser()


def state(pipe: _Pipe, session: str, service: str) -> Any:
    expr = (f"(function () {{ var r = document.getElementById('live-{service}-http');"
            " return r && [r.querySelector('.state').textContent,"
            " r.querySelector('.held').textContent, r.querySelector('.health').textContent]; })()")
    return pipe.send("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                     session=session)["result"].get("value")


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (Debian: apt-get install -y "
                    "chromium; or set PORTLEDGER_CHROMIUM)")
def test_the_page_follows_a_container_that_stops(
        containers: BusyBox, write_ledger: Callable[[str], Path], serve: Any,
        tmp_path: Path) -> None:
    port = free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {port}, health: {HEALTHY}}}}}
    """)
    cid = containers.run("web", {8080: ("127.0.0.1", port)})
    # A generous deadline: on a loaded CI machine a short one leaves health unknown.
    served = serve("--mapping", str(ledger), "--interval", "10", "--deadline", "10")
    # Without JavaScript: the server's own rendering of the last probe.
    with urllib.request.urlopen(served.url + "/", timeout=10) as r:
        html = r.read().decode()
        csp = r.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "script-src 'self'" in csp
    assert '<tr id="live-web-http" class="">' in html
    assert '<td class="state state-up">up</td>' in html
    assert '<td class="health">ok (200)</td>' in html

    assert BROWSER is not None
    pipe = _Pipe(BROWSER, tmp_path / "profile", 1280)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.events.clear()
        pipe.send("Page.navigate", {"url": served.url + "/"}, session=session)
        pipe.wait_event("Page.loadEventFired")
        first = state(pipe, session, "web")
        assert first[0] == "up" and first[2] == "ok (200)", first
        assert first[1].startswith("container web") and "(not the owner)" not in first[1]
        containers.api.stop(cid, timeout=1)
        deadline = time.monotonic() + 60
        now = first
        while time.monotonic() < deadline:
            now = state(pipe, session, "web")
            if now[0] == "down":
                break
            time.sleep(0.3)
        assert now == ["down", "nothing", "not asked"], now
        pipe.send("Runtime.evaluate", {"expression": "1"}, session=session)
        interesting = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")
        run = PageRun(text="", screenshot=b"",
                      messages=[m for m in pipe.events if m["method"] in interesting],
                      requests=[m["params"]["request"]["url"] for m in pipe.events
                                if m["method"] == "Network.requestWillBeSent"])
    finally:
        pipe.close()
    assert run.errors() == []
    assert {u.split("?")[0] for u in run.requests} >= {served.url + "/",
                                                       served.url + "/static/live.js",
                                                       served.url + "/api/v1/ports"}
    assert all(u.startswith(served.url + "/") for u in run.requests), run.requests
