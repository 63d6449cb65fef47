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
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
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


def scratch(fallback: Path) -> Path:
    """A folder for the examples' work: on /dev/shm (a memory file system, where the
    writer's fsyncs cost nothing) when there is one, else ``fallback``. The caller
    removes it."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="fix-properties-", dir=shm))
    return fallback


@contextlib.contextmanager
def _one_parser_per_command() -> Any:
    """``cli.build_parser`` made once per command while the examples run: building
    argparse's tree (every command listed, gettext asked for each word) was half of an
    in-process call here. The parser is the same one each time, and argparse copies the
    defaults it appends to, so reusing it changes nothing but the time."""
    from portledger import cli

    build = cli.build_parser
    cli.build_parser = _parsers(build)  # type: ignore[assignment]
    try:
        yield
    finally:
        cli.build_parser = build  # type: ignore[assignment]


@functools.cache
def _parsers(build: Any) -> Any:
    """``build``, remembering the parser of each command (one cache for every run)."""
    return functools.cache(build)


def run(root: Path, *args: str) -> tuple[int, str]:
    """``portledger ARGS`` in ``root``, in this process (``cli.main``): (exit code,
    stdout)."""
    from portledger import cli

    out = io.StringIO()
    here = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), \
                _one_parser_per_command():
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


@dataclass
class Holdings:
    """What each service holds as its own before a fix, to find again after it."""

    ledger: set[tuple[str, str, int]] = field(default_factory=set)
    """(ledger service, protocol, port) of each ledger port held by that service alone."""
    compose: set[tuple[str, str, str, int]] = field(default_factory=set)
    """(project, compose service, protocol, host port) of each port a compose service
    publishes that is its own: the ledger gives it to its ledger service alone, or no
    ledger service has the port and no other compose service publishes it (the fix
    records it where it is)."""


def holdings(root: Path, ports: dict[str, Counter[tuple[Any, ...]]]) -> Holdings:
    """Every service's own ports, of every service in the repository."""
    from portledger.ledger import model

    ledger = model.load_valid(root / "port-mapping.yml")
    held = Holdings()
    for service in sorted(ledger.services.values(), key=lambda s: s.name):
        for a in service.ports:
            if a.start == a.end and {h.service for h in ledger.holders(
                    a.protocol, a.start)} == {service.name}:
                held.ledger.add((service.name, a.protocol, a.start))
    owners: dict[tuple[str, int], set[str]] = {}
    for bindings in ports.values():
        for name, _ip, port, _target, protocol in bindings:
            if port is not None and "-" not in str(port):
                s = ledger.service_for_compose_name(name)
                owners.setdefault((protocol, int(port)), set()).add(s.name if s else name)
    for folder, bindings in ports.items():
        for name, _ip, port, _target, protocol in bindings:
            if port is None or "-" in str(port):
                continue
            s = ledger.service_for_compose_name(name)
            if s is not None:
                mine = (s.name, protocol, int(port)) in held.ledger
            else:
                mine = not ledger.holders(protocol, int(port)) \
                    and owners[(protocol, int(port))] == {name}
            if mine:
                held.compose.add((folder, name, protocol, int(port)))
    return held


def violations(repo: Repo, work: Path) -> list[str]:
    """Run the fix on ``repo`` (written under ``work``) and say what went wrong."""
    shown, fixed = work / "diff", work / "fix"
    repo.write(shown)
    shutil.copytree(shown, fixed)
    wrong: list[str] = []
    before = published(fixed, repo)
    held = holdings(fixed, before)
    _, diff = run(shown, "check", "--diff", "--no-cache")
    _, out = run(fixed, "check", "--fix", "--no-cache")
    if diff:
        applied = subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=shown,
                                 capture_output=True)
        if applied.returncode != 0:
            wrong.append(f"git apply refused the diff: {applied.stderr}")
    once = files_of(fixed)
    if files_of(shown) != once:
        wrong.append("--diff is not what --fix wrote")
    # A second --fix, run for real: it must change nothing, and find nothing with an
    # automatic plan (the findings it hands to fixes.apply are those with edits).
    automatic, second = _second_fix(fixed)
    if automatic:
        wrong.append("after --fix, findings with an automatic plan: " + "; ".join(
            f"{f.file}:{f.line} {f.code} {f.fix}" for f in automatic))
    if second or files_of(fixed) != once:
        wrong.append(f"a second --fix changed files:\n{second}")
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
    wrong += _lost_holdings(fixed, held, after)
    return wrong


def _second_fix(root: Path) -> tuple[list[Any], str]:
    """``check --fix`` again: the findings it found with an automatic plan, and the
    diff it printed (what it changed)."""
    from portledger import fixes

    seen: list[Any] = []
    apply = fixes.apply

    def spy(findings: Any, **kwargs: Any) -> Any:
        seen.extend(findings)
        return apply(findings, **kwargs)

    fixes.apply = spy  # type: ignore[assignment]
    try:
        _, out = run(root, "check", "--fix", "--no-cache")
    finally:
        fixes.apply = apply  # type: ignore[assignment]
    return seen, out if "--- a/" in out else ""


def _lost_holdings(root: Path, held: Holdings,
                   after: dict[str, Counter[tuple[Any, ...]]]) -> list[str]:
    """Every service's own ports that the fix took from it."""
    from portledger.ledger import model

    ledger = model.load_valid(root / "port-mapping.yml")
    wrong = []
    for service, protocol, port in sorted(held.ledger):
        s = ledger.services.get(service)
        if s is None or not any(a.protocol == protocol and a.start == port == a.end
                                for a in s.ports):
            wrong.append(f"the ledger no longer gives {service} its own port "
                         f"{port}/{protocol}")
    for folder, name, protocol, port in sorted(held.compose):
        if not any(b[0] == name and str(b[2]) == str(port) and b[4] == protocol
                   for b in after[folder]):
            wrong.append(f"{folder}: {name} no longer publishes its own port "
                         f"{port}/{protocol}")
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
