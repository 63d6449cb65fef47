"""``portledger serve``: the live port map, the allocation API and Prometheus metrics of
one machine (``pip install 'portledger[serve]'``).

One process per machine. A :class:`~portledger.serve.monitor.Monitor` runs the whole
probe every interval and keeps the last result; the WSGI application
(:mod:`portledger.serve.app`) serves it as the page ``/`` (:mod:`.page`), the JSON API
under ``/api/v1`` (:mod:`.openapi`, :mod:`.allocations`) and ``/metrics``
(:mod:`.metrics`, through the official ``prometheus-client``).

The HTTP server is ``waitress``: a well-kept, pure-Python production WSGI server with
no dependencies of its own, a bounded thread pool, and limits on headers and bodies;
for a small service on loopback that a scraper and a few people ask, an ASGI stack
(an event loop, an app framework and a server) would add three dependencies and
nothing this server uses. ``prometheus-client`` and ``waitress`` are imported only
when the server starts, so ``portledger check`` never loads them.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from portledger.errors import FatalError

SERVE_EXTRA_HINT = "pip install 'portledger[serve]'"


def require() -> None:
    import importlib.util

    for module, package in (("waitress", "waitress"), ("prometheus_client",
                                                         "prometheus-client")):
        if importlib.util.find_spec(module) is None:
            raise FatalError(f"portledger serve needs {package} ({SERVE_EXTRA_HINT})")


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:9177``, ``[::1]:9177``, ``:9177`` (loopback) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise FatalError(f"serve: --listen {text!r} is not HOST:PORT (127.0.0.1:9177)")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def make_server(mapping: Path, *, listen: str, interval: float, timeout: float,
                deadline: float, write: bool, token: str | None, cors_origin: str | None,
                host_label: str | None = None,
                ledger_host: str | None = None) -> tuple[Any, Any]:
    """The waitress server (not yet serving) and the monitor (its first probe done)."""
    require()
    import waitress.server  # type: ignore[import-untyped, unused-ignore]

    from portledger.serve.app import MAX_BODY, App, Settings
    from portledger.serve.monitor import Monitor

    host, port = parse_listen(listen)
    monitor = Monitor(mapping, host_label or socket.gethostname(), interval=interval,
                      timeout=timeout, deadline=deadline, ledger_host=ledger_host)
    monitor.probe_now()
    app = App(monitor, Settings(mapping, write=write, token=token, cors_origin=cors_origin,
                                interval=interval))
    try:
        server = waitress.server.create_server(
            app, host=host, port=port, threads=8, ident="portledger",
            max_request_body_size=4 * MAX_BODY, max_request_header_size=65536,
            channel_timeout=30, clear_untrusted_proxy_headers=True)
    except OSError as e:
        raise FatalError(f"serve: cannot listen on {listen}: {e.strerror or e}") from None
    return server, monitor
