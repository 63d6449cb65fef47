"""A headless Chromium driven over the DevTools protocol on a pipe: load a page, collect
its console and log messages, read its text, take a full-page screenshot.

A plain module (not conftest.py) that tests import; no dependency beyond the browser.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

STDERR = subprocess.DEVNULL

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
)


def find_browser() -> str | None:
    """$PORTLEDGER_CHROMIUM, else the first of :data:`BROWSERS` on PATH."""
    explicit = os.environ.get("PORTLEDGER_CHROMIUM")
    if explicit:
        return explicit
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageRun:
    text: str
    screenshot: bytes
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Console calls, uncaught exceptions and browser log entries, as the protocol sent them."""
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for (the page itself included)."""
    value: Any = None
    """What ``load``'s ``evaluate`` expression returned (by value), after the load."""

    def errors(self) -> list[str]:
        """Every message at error or warning level, as one line each."""
        out = []
        for m in self.messages:
            method, p = m["method"], m["params"]
            if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: "
                           + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['source']}: {p['entry']['text']}")
        return out


class _Pipe:
    def __init__(self, browser: str, user_data_dir: Path, width: int) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4; bash puts the
        # pipe ends there (moved above 10 first, so the two redirections cannot clash).
        r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-', "sh", browser, *FLAGS,
             f"--user-data-dir={user_data_dir}", f"--window-size={width},900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=STDERR,
            pass_fds=(r, w),
        )
        os.close(r)
        os.close(w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for m in self.events:
            if m.get("method") == method:
                return m
        return self._wait(lambda m: m.get("method") == method, timeout)

    def _wait(self, done: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                m = json.loads(raw)
                if "method" in m:
                    self.events.append(m)
                if done(m):
                    return dict(m)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser closed the DevTools pipe")
                self._buf += chunk

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def load(browser: str, url: str, user_data_dir: Path, width: int = 1280,
         evaluate: str | None = None) -> PageRun:
    """Open ``url``, wait for its load event and a moment more, and report; ``evaluate``,
    a JavaScript expression, is run at the ``width`` before the screenshot."""
    pipe = _Pipe(browser, user_data_dir, width)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.events.clear()
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        pipe.send("Page.navigate", {"url": url}, session=session)
        pipe.wait_event("Page.loadEventFired")
        time.sleep(0.3)  # late console messages
        text = pipe.send("Runtime.evaluate", {"expression": "document.body.innerText",
                                              "returnByValue": True}, session=session)
        value = None
        if evaluate is not None:
            value = pipe.send("Runtime.evaluate", {"expression": evaluate,
                                                   "returnByValue": True},
                              session=session)["result"].get("value")
        metrics = pipe.send("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = int(size["height"]) + 1
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        # Drain what arrived meanwhile.
        pipe.send("Runtime.evaluate", {"expression": "1"}, session=session)
        interesting = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")
        return PageRun(
            text=str(text["result"].get("value", "")),
            screenshot=base64.b64decode(shot["data"]),
            messages=[m for m in pipe.events if m["method"] in interesting],
            requests=[m["params"]["request"]["url"] for m in pipe.events
                      if m["method"] == "Network.requestWillBeSent"],
            value=value,
        )
    finally:
        pipe.close()
