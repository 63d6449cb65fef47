"""``portledger serve``: the live port map, the allocation API and Prometheus metrics of
this machine (needs ``portledger[serve]``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from portledger.commands import mapping_path
from portledger.commands.probe import seconds
from portledger.errors import FatalError
from portledger.probe.model import DEFAULT_DEADLINE, DEFAULT_TIMEOUT

DEFAULT_LISTEN = "127.0.0.1:9177"
TOKEN_ENV = "PORTLEDGER_TOKEN"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mapping", metavar="FILE",
                   help="the ledger (default: port-mapping.yml in this folder or the nearest "
                   "above)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"where to serve (default: {DEFAULT_LISTEN}, loopback only)")
    p.add_argument("--interval", type=seconds("--interval"), default=15.0,
                   metavar="SECONDS", help="probe every so often (default: 15)")
    p.add_argument("--timeout", type=seconds("--timeout"), default=DEFAULT_TIMEOUT,
                   metavar="SECONDS", help="longest wait of one engine call or health request")
    p.add_argument("--deadline", type=seconds("--deadline"), default=DEFAULT_DEADLINE,
                   metavar="SECONDS", help="the whole probe ends by then")
    p.add_argument("--write", action="store_true",
                   help=f"let POST /api/v1/allocations write the ledger (needs a bearer token "
                   f"in {TOKEN_ENV})")
    p.add_argument("--cors-origin", metavar="ORIGIN",
                   help="send Access-Control-Allow-Origin: ORIGIN (default: no CORS header)")
    p.add_argument("--host-label", metavar="NAME",
                   help="the host label of the metrics (default: this machine's name)")
    p.add_argument("--host", metavar="H",
                   help="probe against host H of the ledger's hosts (default: the host named "
                   "as this machine, else every allocation)")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM (exit 0); 2 for usage errors."""
    from portledger.serve import make_server

    token = os.environ.get(TOKEN_ENV) or None
    if args.write and not token:
        raise FatalError(f"serve: --write needs a bearer token in {TOKEN_ENV} (requests must "
                         "send 'Authorization: Bearer TOKEN')")
    if args.interval < args.deadline:
        raise FatalError(f"serve: --interval {args.interval:g} is shorter than the probe's "
                         f"--deadline {args.deadline:g}")
    ledger_host = getattr(args, "host", None)
    if ledger_host is not None:
        from portledger.ledger.model import load_valid

        ledger = load_valid(mapping_path(args))
        ledger.hosts.require(ledger_host, "serve", ledger.path)
    server, monitor = make_server(
        mapping_path(args), listen=args.listen, interval=args.interval,
        timeout=args.timeout, deadline=args.deadline, write=args.write, token=token,
        cors_origin=args.cors_origin, host_label=args.host_label, ledger_host=ledger_host)
    monitor.start()
    host, port = server.effective_host, server.effective_port
    shown = f"[{host}]" if ":" in str(host) else host
    sys.stderr.write(f"portledger serve: http://{shown}:{port}/ (metrics /metrics, API "
                     f"/api/v1/openapi.json){', writes allowed' if args.write else ''}\n")
    sys.stderr.flush()

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt  # out of waitress's loop, in the main thread

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        monitor.stop()
        server.close()
    return 0
