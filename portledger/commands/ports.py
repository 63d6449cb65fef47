"""``portledger ports``: the published ports of one compose project, as Compose sees them.

Usage::

    portledger ports [-f FILE]... [--project-directory DIR] [--env-file F]...
                     [--profile P]... [--format json|text]

Exit 0 and the ports on stdout; exit 1 with one located line on stderr
(``file:line:col: CODE message``) for a project that does not load; exit 2 (one line) for
a usage error. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portledger.compose import Project


DESCRIPTION = ("Print the published ports of a compose project exactly as Docker Compose v2 "
               "resolves them.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        metavar="FILE",
        help="compose file (repeat to merge, in order); default: compose.yaml & co",
    )
    parser.add_argument("--project-directory", metavar="DIR", help="project directory")
    parser.add_argument(
        "--env-file",
        dest="env_files",
        action="append",
        metavar="F",
        help="env file(s) instead of the project's .env",
    )
    parser.add_argument(
        "--profile",
        dest="profiles",
        action="append",
        metavar="P",
        help="enable a profile (repeatable; default: COMPOSE_PROFILES)",
    )
    parser.add_argument("--format", choices=("json", "text"), default="json")


def format_text(project: Project) -> str:
    """One line per binding: ``service host_ip:published->target/protocol  file:line:col``."""
    lines = []
    for b in project.bindings:
        if b.exposed:
            continue  # not a ports: entry (expose: of a network_mode: host service)
        host = f"{b.host_ip}:" if b.host_ip else ""
        published = b.published if b.published is not None else "(random)"
        lines.append(
            f"{b.service}\t{host}{published}->{b.target}/{b.protocol}\t{b.file}:{b.line}:{b.column}"
        )
    return "\n".join(lines) + ("\n" if lines else "")


def run(args: argparse.Namespace) -> int:
    """Run ``portledger ports`` with parsed arguments."""
    from portledger.compose import ComposeError, load_project, ports_json

    try:
        project = load_project(
            files=args.files,
            project_directory=args.project_directory,
            env_files=args.env_files,
            profiles=args.profiles,
        )
    except ComposeError as e:
        print(f"{e.file}:{e.line}:{e.column}: {e.code} {e.message}", file=sys.stderr)
        return 1
    except (OSError, RecursionError) as e:  # the last resort: still one located line
        print(f"portledger ports: {e}", file=sys.stderr)
        return 1
    if args.format == "json":
        sys.stdout.write(json.dumps(ports_json(project)) + "\n")
    else:
        sys.stdout.write(format_text(project))
    return 0
