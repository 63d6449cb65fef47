"""``portledger rules``: the rule table."""

from __future__ import annotations

import argparse
import json
import sys

from portledger.commands import EXIT_CLEAN


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from portledger.rules import RULES

    if args.format == "json":
        json.dump([{"code": r.code, "name": r.name, "severity": r.severity.value,
                    "summary": r.summary} for r in RULES], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for r in RULES:
            sys.stdout.write(f"{r.code}  {r.name:<28} {r.severity.value:<8} {r.summary}\n")
    return EXIT_CLEAN
