"""Generated repositories for the properties of ``check --fix`` (issue 17), shared by
tests/test_fix_properties.py (a few hundred examples) and bench/fuzz_fixes.py (more).

A repository is a ledger (block or flow style, or ``services: {}``) with up to three
services, priorities, statuses and ledger conflicts, and one to three compose projects
(a folder each, sometimes with an override file) whose services publish ports in short
and long syntax, on an address or every one, through a variable, in a profile or not:
conflicts, unmapped ports, extra ports of overrides. :func:`violations` runs the fix on
one and returns what went wrong, in words.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

NAMES = ("api", "db", "ui", "web", "worker")
RANGES = (
    "ranges:\n"
    "  application: {start: 2000, end: 2999}\n"
    "  future: {start: 5000, end: 5999, reserved: true}\n"
    "  user-facing: {start: 8000, end: 8999}\n"
)
LEDGER_PORTS = {"application": (2000, 2001, 2002), "user-facing": (8000, 8001, 8002, 8080)}
HOST_PORTS = (2000, 2001, 2002, 2500, 8000, 8001, 8002, 8080, 8500, 900, 5001, 3100)
TARGETS = (80, 443, 8000, 9000)
PROFILE = "debug"


@dataclass
class Repo:
    files: dict[str, str] = field(default_factory=dict)
    projects: dict[str, list[str]] = field(default_factory=dict)
    """Project folder -> its compose files, in -f order."""

    def write(self, root: Path) -> None:
        for name, text in self.files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


@st.composite
def _ledger(draw: Any) -> tuple[str, dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
    services: dict[str, Any] = {}
    for name in sorted(names):
        category = draw(st.sampled_from(sorted(LEDGER_PORTS)))
        ports = {}
        for pname in draw(st.lists(st.sampled_from(("http", "admin")), unique=True,
                                   min_size=1, max_size=2)):
            entry = {"port": draw(st.sampled_from(LEDGER_PORTS[category]))}
            target = draw(st.sampled_from((None, *TARGETS)))
            if target is not None:
                entry["target"] = target
            ports[pname] = entry
        services[name] = {"category": category, "ports": ports,
                          "priority": draw(st.sampled_from((None, 1, 2))),
                          "status": draw(st.sampled_from(("active", "planned")))}
    style = draw(st.sampled_from(("block", "flow"))) if services else "flow"
    return style, services


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()
                               if v is not None) + "}"
    return str(value)


def ledger_text(style: str, services: dict[str, Any]) -> str:
    head = "# generated ledger\nversion: 1\n" + RANGES
    if not services:
        return head + "services: {}  # nothing yet\n"
    if style == "flow":
        return head + "services: " + _flow(services) + "  # flow\n"
    lines = ["services:"]
    for name, s in services.items():
        lines += [f"  {name}:  # {name}", f"    category: {s['category']}"]
        if s["priority"] is not None:
            lines.append(f"    priority: {s['priority']}")
        lines.append(f"    status: {s['status']}")
        lines.append("    ports:")
        for pname, entry in s["ports"].items():
            lines += [f"      {pname}:", *(f"        {k}: {v}" for k, v in entry.items())]
    return head + "\n".join(lines) + "\n# end\n"


@st.composite
def _entry(draw: Any, used: set[tuple[str | None, int]]) -> str | None:
    host = draw(st.sampled_from(HOST_PORTS))
    ip = draw(st.sampled_from((None, None, None, "127.0.0.1")))
    if (ip, host) in used or (None, host) in used or (ip is None and any(
            h == host for _, h in used)):
        return None
    used.add((ip, host))
    target = draw(st.sampled_from(TARGETS))
    kind = draw(st.sampled_from(("short", "short", "variable", "long", "plain")))
    prefix = f"{ip}:" if ip else ""
    if kind == "variable":
        return f'- "{prefix}${{PORT_{host}:-{host}}}:{target}"'
    if kind == "long":
        lines = [f"- target: {target}", f'  published: "{host}"']
        if ip:
            lines.append(f"  host_ip: {ip}")
        return "\n".join(lines)
    if kind == "plain" and not ip:
        return f"- {host}:{target}"  # YAML 1.1 reads it as base 60 (PL207)
    return f'- "{prefix}{host}:{target}"'


def _service_text(name: str, entries: list[str], profile: bool, image: bool = True) -> str:
    lines = [f"  {name}:"]
    if image:
        lines.append("    image: x")
    if profile:
        lines.append(f"    profiles: [{PROFILE}]")
    lines.append("    ports:")
    for entry in entries:
        lines += ["      " + part for part in entry.split("\n")]
    return "\n".join(lines)


@st.composite
def repositories(draw: Any) -> Repo:
    style, services = draw(_ledger())
    repo = Repo()
    repo.files["port-mapping.yml"] = ledger_text(style, services)
    for i in range(draw(st.integers(1, 3))):
        folder = f"p{i}"
        names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=3))
        base, used_by = [], {}
        for name in sorted(names):
            used: set[tuple[str | None, int]] = set()
            entries = [e for e in (draw(_entry(used)) for _ in range(draw(st.integers(1, 2))))
                       if e is not None]
            used_by[name] = used
            if entries:
                base.append(_service_text(name, entries, draw(st.booleans())))
        if not base:
            continue
        repo.files[f"{folder}/compose.yaml"] = "services:\n" + "\n".join(base) + "\n"
        repo.projects[folder] = ["compose.yaml"]
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(n for n in names if used_by[n])
                                        or [None]))
            if name is None:
                continue
            extra = draw(_entry(used_by[name]))
            if extra is not None:
                repo.files[f"{folder}/compose.override.yaml"] = (
                    "services:\n" + _service_text(name, [extra], False, image=False) + "\n")
                repo.projects[folder].append("compose.override.yaml")
    return repo


# -- running portledger in this process -------------------------------------------------


def run(root: Path, *args: str) -> tuple[int, str]:
    """``portledger ARGS`` in ``root``: (exit code, stdout)."""
    from portledger import cli

    out = io.StringIO()
    here = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(list(args))
    finally:
        os.chdir(here)
    return code, out.getvalue()


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def published(root: Path, repo: Repo) -> dict[str, Counter[tuple[Any, ...]]]:
    """Per project, ``portledger ports`` (every profile): its bindings with their host
    ports (a Counter of (service, host_ip, published, target, protocol))."""
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for folder, names in sorted(repo.projects.items()):
        args = ["ports", "--project-directory", folder, "--profile", PROFILE,
                "--format", "json"]
        for name in names:
            args += ["-f", f"{folder}/{name}"]
        code, text = run(root, *args)
        assert code == 0, text
        out[folder] = Counter((b["service"], b["host_ip"], b["published"], b["target"],
                               b["protocol"]) for b in json.loads(text)["published"])
    return out


def _own_ports(root: Path, ports: dict[str, Counter[tuple[Any, ...]]]) -> set[tuple[Any, ...]]:
    """(project, service, host port) of each port a compose service publishes that its
    ledger service alone holds (no other ledger service's entry on it)."""
    from portledger.ledger import model

    ledger = model.load_valid(root / "port-mapping.yml")
    own = set()
    for folder, bindings in ports.items():
        for service, _ip, port, _target, protocol in bindings:
            s = ledger.service_for_compose_name(service)
            if s is None or port is None or "-" in str(port):
                continue
            holders = {a.service for a in ledger.holders(protocol, int(port))}
            if holders == {s.name}:
                own.add((folder, service, port))
    return own


def violations(repo: Repo, work: Path) -> list[str]:
    """Run the fix on ``repo`` (written under ``work``) and say what went wrong."""
    shown, fixed = work / "diff", work / "fix"
    repo.write(shown)
    shutil.copytree(shown, fixed)
    wrong: list[str] = []
    before = published(fixed, repo)
    own = _own_ports(fixed, before)
    _, diff = run(shown, "check", "--diff", "--no-cache")
    _, out = run(fixed, "check", "--fix", "--no-cache")
    if diff:
        applied = subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=shown,
                                 capture_output=True)
        if applied.returncode != 0:
            wrong.append(f"git apply refused the diff: {applied.stderr}")
    if files_of(shown) != files_of(fixed):
        wrong.append("--diff is not what --fix wrote")
    from portledger import check

    # A second --fix makes the edits of the findings that have some: none, when this
    # holds (tests/test_fixes.py runs a second --fix on every fixture).

    result = check.run(fixed / "port-mapping.yml", cache=False)
    automatic = [f for f in result.findings if f.edits]
    if automatic:
        wrong.append("after --fix (a second --fix would change files), findings with an "
                     "automatic plan: " + "; ".join(
            f"{f.file}:{f.line} {f.code} {f.fix}" for f in automatic))
    after = published(fixed, repo)
    for folder in before:
        lost = _without_host_port(before[folder]) - _without_host_port(after[folder])
        if lost:
            wrong.append(f"{folder}: bindings lost or widened: {sorted(lost)}")
        for service in {b[0] for b in before[folder]}:
            count = len({b[2] for b in before[folder] if b[0] == service})
            now = len({b[2] for b in after[folder] if b[0] == service})
            if now < count:
                wrong.append(f"{folder}: {service} published {count} host ports, now {now}")
    for folder, service, port in sorted(own):
        if not any(b[0] == service and b[2] == port for b in after[folder]):
            wrong.append(f"{folder}: {service} no longer publishes its own ledger port {port}")
    return wrong


def _without_host_port(bindings: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """The bindings as (service, host_ip, target, protocol): what a move keeps."""
    return Counter({(s, ip, t, p): n for (s, ip, _, t, p), n in bindings.items()})


DIFF_ALL = """
import contextlib, io, os, sys
from portledger import cli
for folder in sys.argv[1:]:
    os.chdir(folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["check", "--diff", "--no-cache"])
    sys.stdout.write(f"== {os.path.basename(folder)}\\n{out.getvalue()}")
"""


def diffs_under_seeds(folders: list[Path], seeds: tuple[str, ...]) -> dict[str, str]:
    """``check --diff`` of every folder, in one process per ``PYTHONHASHSEED``."""
    outputs = {}
    for seed in seeds:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", DIFF_ALL, *map(str, folders)],
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        outputs[seed] = result.stdout
    return outputs
