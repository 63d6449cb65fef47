"""Run one generated project through portledger and through Docker Compose; compare.

A verdict is agreement when both refuse the project, when both accept it with the same
port records, or when portledger refuses, with a documented stricter choice
(``docs/compose-stricter.md``), a project Compose accepts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compose_reference import compose_args, compose_records, controlled_env
from generate import Case

from portledger.compose import ComposeError, load_project, ports_json

ROOT = Path(__file__).resolve().parents[2]
STRICTER_DOC = ROOT / "docs" / "compose-stricter.md"
_ROW = re.compile(r"^\|\s*`(S\d+)`\s*\|")


def stricter_ids(doc: Path = STRICTER_DOC) -> frozenset[str]:
    """The ids (``S1``, ``S2``...) of the table of stricter choices."""
    return frozenset(m.group(1) for line in doc.read_text().splitlines()
                     if (m := _ROW.match(line)))


@dataclass
class Result:
    """What one side made of a project: its records, or why it refused."""

    ok: bool
    records: list[dict[str, Any]] | None = None
    error: str = ""
    stricter: str | None = None
    internal: bool = False


@dataclass
class Verdict:
    seed: int
    agree: bool
    kind: str  # "same", "both-refuse", "stricter", "validity", "records", "internal"
    ours: Result
    theirs: Result

    def describe(self) -> str:
        def side(r: Result) -> str:
            if r.ok:
                return json.dumps(r.records)
            return "refused: " + r.error.strip().splitlines()[-1][:300] if r.error else "refused"
        return (f"seed {self.seed}: {self.kind}\n  portledger: {side(self.ours)}\n"
                f"  compose:    {side(self.theirs)}")


def run_theirs(binary: Path, root: Path, case: Case, home: Path, timeout: float = 60) -> Result:
    cj = case.case_json()
    try:
        proc = subprocess.run(
            [str(binary), *compose_args(cj), "config", "--format", "json"],
            cwd=root / case.cwd, env=controlled_env(cj, home),
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Result(False, error="compose timed out", internal=True)
    if proc.returncode != 0:
        return Result(False, error=proc.stderr)
    return Result(True, compose_records(json.loads(proc.stdout)))


def run_ours(root: Path, case: Case) -> Result:
    """portledger in this process (it changes the working folder, and restores it)."""
    before = os.getcwd()
    os.chdir(root / case.cwd)
    try:
        project = load_project(
            files=case.compose_files, project_directory=case.project_directory,
            env_files=case.env_files, profiles=case.profiles, environ=case.env,
        )
        return Result(True, ports_json(project)["published"])
    except ComposeError as e:
        return Result(False, error=str(e), stricter=getattr(e, "stricter", None))
    except Exception:  # noqa: BLE001 - an internal error is what we are looking for
        return Result(False, error=traceback.format_exc(), internal=True)
    finally:
        os.chdir(before)


def compare(seed: int, ours: Result, theirs: Result, stricter: frozenset[str]) -> Verdict:
    if ours.internal:
        return Verdict(seed, False, "internal", ours, theirs)
    if ours.ok and theirs.ok:
        same = ours.records == theirs.records
        return Verdict(seed, same, "same" if same else "records", ours, theirs)
    if not ours.ok and not theirs.ok:
        return Verdict(seed, True, "both-refuse", ours, theirs)
    if not ours.ok and ours.stricter in stricter:
        return Verdict(seed, True, "stricter", ours, theirs)
    return Verdict(seed, False, "validity", ours, theirs)
