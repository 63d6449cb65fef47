"""The WSGI application of ``portledger serve``: the page, the JSON API, ``/metrics``.

A plain WSGI callable with a handful of routes, served by ``waitress`` (see
:mod:`portledger.serve`). Every error is a JSON object ``{"error": {"status", "message"}}``
(never a traceback); request bodies are bounded; no CORS header is sent unless
``--cors-origin`` names an origin; writes need ``--write`` and the bearer token.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger.errors import FatalError
from portledger.serve.errors import HTTPError

MAX_BODY = 64 * 1024
"""Bytes a request body may have (413 beyond)."""

StartResponse = Callable[..., Any]


REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           411: "Length Required", 413: "Content Too Large", 415: "Unsupported Media Type",
           500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Settings:
    mapping: Path
    write: bool = False
    token: str | None = None
    cors_origin: str | None = None
    interval: float = 15.0


class App:
    """The routes over a :class:`~portledger.serve.monitor.Monitor`."""

    def __init__(self, monitor: Any, settings: Settings) -> None:
        from portledger.findings import rule_of
        from portledger.probe import PROBE_RULES
        from portledger.serve.metrics import registry

        self.monitor, self.settings = monitor, settings
        self.registry = registry(monitor, [rule_of(f) for f in PROBE_RULES])
        self._write_lock = threading.Lock()
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(r"/"), self.page),
            ("GET", re.compile(r"/static/live\.js"), self.script),
            ("GET", re.compile(r"/metrics"), self.metrics),
            ("GET", re.compile(r"/healthz"), self.healthz),
            ("GET", re.compile(r"/api/v1/openapi\.json"), self.openapi),
            ("GET", re.compile(r"/api/v1/state"), self.state),
            ("GET", re.compile(r"/api/v1/ports"), self.ports),
            ("GET", re.compile(r"/api/v1/ports/(?P<port>[^/]+)"), self.port),
            ("GET", re.compile(r"/api/v1/services/(?P<name>[^/]+)"), self.service),
            ("POST", re.compile(r"/api/v1/allocations"), self.allocations),
        ]

    # --- WSGI -------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse,
                 ) -> Iterable[bytes]:
        try:
            status, headers, body = self.dispatch(environ)
        except HTTPError as e:
            status, headers, body = self.error(e.status, e.message, **e.extra)
        except Exception as e:  # noqa: BLE001 - a handler's bug is a JSON 500, not a trace
            status, headers, body = self.error(500, f"internal error: {type(e).__name__}: "
                                               f"{e}")
        headers = [*headers, ("Content-Length", str(len(body))),
                   ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]
        if self.settings.cors_origin:
            headers.append(("Access-Control-Allow-Origin", self.settings.cors_origin))
        start_response(f"{status} {REASONS.get(status, '')}".rstrip(), headers)
        return [body]

    def dispatch(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        allowed = []
        for verb, pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if verb == method or (verb == "GET" and method == "HEAD"):
                return handler(environ, **m.groupdict())
            allowed.append(verb)
        if allowed:
            raise HTTPError(405, f"{method} is not allowed on {path} (allowed: "
                            f"{', '.join(sorted(set(allowed)))})")
        raise HTTPError(404, f"no such resource: {path}")

    def error(self, status: int, message: str, **extra: Any,
              ) -> tuple[int, list[tuple[str, str]], bytes]:
        return _json(status, {"error": {"status": status, "message": message, **extra}})

    # --- handlers ---------------------------------------------------------------------

    def snapshot(self) -> Any:
        snap = self.monitor.snapshot
        if snap is None:
            raise HTTPError(503, "the first probe has not finished yet; try again shortly")
        return snap

    def page(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        from portledger.serve.page import CSP, html

        body = html(self.snapshot(), self.settings.interval).encode("utf-8")
        return 200, [("Content-Type", "text/html; charset=utf-8"),
                     ("Content-Security-Policy", CSP)], body

    def script(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        from portledger.serve.page import LIVE_JS

        return 200, [("Content-Type", "text/javascript; charset=utf-8")], LIVE_JS.encode()

    def metrics(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        from portledger.serve.metrics import exposition

        body, kind = exposition(self.registry)
        return 200, [("Content-Type", kind)], body

    def healthz(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        snap = self.monitor.snapshot
        return _json(200 if snap is not None and snap.ok else 503,
                     {"ok": bool(snap and snap.ok)})

    def openapi(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        from portledger.serve.openapi import document

        return _json(200, document())

    def state(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        snap = self.snapshot()
        return _json(200, {"probe": snap.summary(), "ports": [p.as_dict() for p in snap.ports],
                           "findings": [f.as_dict() for f in snap.findings]})

    def ports(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        snap = self.snapshot()
        return _json(200, {"probe": snap.summary(),
                           "ports": [p.as_dict() for p in snap.ports]})

    def port(self, environ: dict[str, Any], port: str,
             ) -> tuple[int, list[tuple[str, str]], bytes]:
        from portledger.serve.allocations import describe_port, parse_port

        snap = self.snapshot()
        text = port.replace("%2F", "/").replace("%2f", "/")
        query = environ.get("QUERY_STRING", "")
        if "protocol=" in query:
            text += "/" + query.split("protocol=", 1)[1].split("&", 1)[0]
        try:
            number, protocol = parse_port(text)
        except FatalError as e:
            raise HTTPError(400, str(e)) from None
        if snap.ledger is None:
            raise HTTPError(503, f"the ledger cannot be read: {snap.error}")
        info = describe_port(snap.ledger, number, protocol)
        info["live"] = [p.as_dict() for p in snap.ports
                        if p.start <= number <= p.end and p.protocol == protocol]
        return _json(200, info)

    def service(self, environ: dict[str, Any], name: str,
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        snap = self.snapshot()
        if snap.ledger is None:
            raise HTTPError(503, f"the ledger cannot be read: {snap.error}")
        s = snap.ledger.services.get(name)
        if s is None:
            raise HTTPError(404, f"{name!r} is not a service of {snap.ledger_path}")
        return _json(200, {"service": s.name, "category": s.category, "status": s.status,
                           "owner": s.owner, "description": s.description,
                           "compose": s.compose, "depends_on": s.depends_on,
                           "ports": [p.as_dict() for p in snap.ports if p.service == name]})

    def allocations(self, environ: dict[str, Any],
                    ) -> tuple[int, list[tuple[str, str]], bytes]:
        from portledger.serve.allocations import Request, allocate

        write = self.settings.write
        if write:
            self._authorize(environ)
        body = _body(environ)
        request = Request.parse(body)
        if request.host is not None and request.host != self.monitor.host:
            raise HTTPError(400, f"host: {request.host!r} is not this server's host "
                            f"({self.monitor.host!r}); a ledger of several hosts is not "
                            "supported yet", field="host")
        with self._write_lock:  # the ledger's flock is per process: one writer thread
            answer = allocate(self.settings.mapping, request, self.monitor.snapshot,
                              write=write)
        if answer.get("written"):
            self.monitor.refresh()
        return _json(201 if answer.get("written") else 200, answer)

    def _authorize(self, environ: dict[str, Any]) -> None:
        token = self.settings.token
        given = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = given.partition(" ")
        if not token or scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), token.encode()):
            raise HTTPError(401, "writing needs 'Authorization: Bearer TOKEN' with the token "
                            "the server was started with (PORTLEDGER_TOKEN)")


def _json(status: int, doc: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return status, [("Content-Type", "application/json")], body


def _body(environ: dict[str, Any]) -> Any:
    """The request's JSON body, bounded by :data:`MAX_BODY`."""
    kind = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise HTTPError(415, f"the body must be application/json, not {kind or 'untyped'}")
    length_text = environ.get("CONTENT_LENGTH") or ""
    if not length_text.isdigit():
        raise HTTPError(411, "a Content-Length is needed")
    length = int(length_text)
    if length > MAX_BODY:
        raise HTTPError(413, f"the body has {length} bytes; at most {MAX_BODY} are read")
    raw = environ["wsgi.input"].read(length)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise HTTPError(400, f"the body is not UTF-8 (byte {e.start + 1})") from None
    except json.JSONDecodeError as e:
        raise HTTPError(400, f"the body is not JSON: line {e.lineno}, column {e.colno}: "
                        f"{e.msg}", line=e.lineno, column=e.colno) from None
