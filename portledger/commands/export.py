"""``portledger export``: the ledger's ports as environment variables (or JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from portledger.commands import EXIT_CLEAN, add_mapping, mapping_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mapping(parser)
    parser.add_argument("--format", choices=("env", "json", "compose-env",
                                              "prometheus-file-sd", "consul"), default="env",
                        help="env, json; compose-env (a .env for compose projects), "
                        "prometheus-file-sd (file_sd_configs targets), consul (service "
                        "definitions with HTTP checks)")
    parser.add_argument("--address", metavar="HOST",
                        help="prometheus-file-sd and consul: the address targets are reached "
                        "at (default: each port's host_ip, else 127.0.0.1)")
    parser.add_argument("--host", metavar="H",
                        help="only the ports that hold on host H of the ledger's hosts "
                        "(default: every port)")


def run(args: argparse.Namespace) -> int:
    from portledger.ledger import model as ledger_mod
    from portledger.ledger.allocation import exports

    ledger = ledger_mod.load_valid(mapping_path(args))
    host = getattr(args, "host", None)
    if host is not None:
        ledger.hosts.require(host, "export", ledger.path)
        ledger = ledger.on_host(host)
    if args.format in ("compose-env", "prometheus-file-sd", "consul"):
        from portledger.serve import discovery

        if args.format == "compose-env":
            sys.stdout.write(discovery.compose_env(ledger, ledger.path))
            return EXIT_CLEAN
        doc = (discovery.prometheus_file_sd(ledger, args.address)
               if args.format == "prometheus-file-sd" else discovery.consul(ledger, args.address))
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_CLEAN
    values = exports(ledger)
    if args.format == "json":
        json.dump(values, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for name, value in values.items():
            sys.stdout.write(f"{name}={value}\n")
    return EXIT_CLEAN
