"""``portledger export``: the ledger's ports as environment variables (or JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from portledger.commands import EXIT_CLEAN, add_mapping, mapping_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mapping(parser)
    parser.add_argument("--format", choices=("env", "json"), default="env")


def run(args: argparse.Namespace) -> int:
    from portledger.ledger import model as ledger_mod
    from portledger.ledger.allocation import exports

    ledger = ledger_mod.load_valid(mapping_path(args))
    values = exports(ledger)
    if args.format == "json":
        json.dump(values, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for name, value in values.items():
            sys.stdout.write(f"{name}={value}\n")
    return EXIT_CLEAN
