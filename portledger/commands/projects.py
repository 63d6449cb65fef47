"""``portledger projects [PATH...]``: the compose projects ``check`` covers, each with the
``-f`` files, project directory and profiles it is loaded with and every file it reads,
so that a user can see what the gate checks (and what it was asked to and cannot)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from portledger.commands import EXIT_CLEAN, EXIT_FINDINGS, add_mapping, mapping_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mapping(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="compose files or folders, as `check` takes them")
    parser.add_argument("--profile", action="append", default=[], metavar="NAME",
                        help="as `check --profile` (default: every profile)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    return main(mapping_path(args), args.paths, args.profile or None, args.format,
                sys.stdout)


def _rel(path: str | Path) -> str:
    from portledger.paths import display_path

    return display_path(str(path))


def describe(mapping: Path, paths: list[str], profiles: list[str] | None
             ) -> dict[str, Any]:
    """The projects and what the selection could not cover (as ``check`` reports it)."""
    from portledger import compose
    from portledger.check import loading
    from portledger.ledger import model as ledger_mod

    ledger = ledger_mod.load_valid(mapping)
    chosen = loading.selection(ledger.root, ledger.compose, paths, profiles)
    out: list[dict[str, Any]] = []
    environ = dict(os.environ)
    for spec in chosen.specs:
        entry: dict[str, Any] = {
            "name": spec.label,
            "declared": spec.name is not None,
            "directory": _rel(spec.directory),
            "files": None if spec.files is None else [_rel(f) for f in spec.files],
            "env_files": None if spec.env_files is None else [_rel(f) for f in spec.env_files],
            "profiles": list(spec.profiles) if spec.profiles is not None else ["*"],
        }
        try:
            project = compose.load_project(
                files=[str(f) for f in spec.files] if spec.files else None,
                project_directory=str(spec.directory),
                env_files=[str(f) for f in spec.env_files] if spec.env_files else None,
                profiles=entry["profiles"], environ=environ)
        except compose.ComposeError as e:
            entry["reads"] = []
            entry["services"] = []
            entry["error"] = f"{_rel(e.file)}:{e.line}:{e.column}: {e.message}"
        else:
            entry["reads"] = sorted({_rel(f) for f in project.files})
            entry["services"] = project.services
            entry["error"] = None
        out.append(entry)
    problems = [f.as_dict() for f in loading.selection_findings(chosen, ledger)]
    return {"projects": out, "problems": problems}


def main(mapping: Path, paths: list[str], profiles: list[str] | None, fmt: str,
         out: TextIO) -> int:
    info = describe(mapping, paths, profiles)
    if fmt == "json":
        json.dump(info, out, indent=2)
        out.write("\n")
    else:
        for p in info["projects"]:
            how = "declared in the ledger" if p["declared"] else "found"
            out.write(f"{p['name']} ({how})\n")
            flags = " ".join(f"-f {f}" for f in p["files"]) if p["files"] else \
                "(Compose's default files)"
            env = "".join(f" --env-file {f}" for f in p["env_files"] or ())
            prof = " ".join(f"--profile {x}" for x in p["profiles"])
            out.write(f"  docker compose --project-directory {p['directory']} {flags}"
                      f"{env} {prof}\n")
            if p["error"]:
                out.write(f"  does not load: {p['error']}\n")
            else:
                out.write(f"  reads: {', '.join(p['reads'])}\n")
                out.write(f"  services: {', '.join(p['services']) or '(none)'}\n")
        for f in info["problems"]:
            out.write(f"{f['file']}:{f['line']}:{f['column']}: {f['code']} {f['rule']} "
                      f"{f['message']}\n")
        n = len(info["projects"])
        out.write(f"{n} compose project{'s' * (n != 1)}")
        if info["problems"]:
            out.write(f", {len(info['problems'])} not covered (see above)")
        out.write(".\n")
    return EXIT_FINDINGS if info["problems"] else EXIT_CLEAN
