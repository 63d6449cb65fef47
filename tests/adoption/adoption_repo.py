"""A generated brownfield repository: many compose projects and no ledger yet.

Each project ``apps/appNNNN`` has a ``compose.yaml`` (a web service, an API whose port is
a variable with a default, a service behind a profile) and a ``compose.override.yaml``
(another port of the web service). A few projects hold standard ports (PostgreSQL,
Redis, HTTP), a service that several projects share (``gateway``, one ledger service),
and a compose service name with capitals (a ``compose:`` alias). ``conflicts`` injected
projects each publish another project's web port: :attr:`Repo.conflicts` says where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Repo:
    root: Path
    projects: int
    conflicts: list[tuple[str, int, str, int]] = field(default_factory=list)
    """(intruder's file, line, the victim's file, line) for each injected conflict."""
    ports: int = 0
    """Host ports published in all (each counted once per service)."""


def project(i: int) -> tuple[str, str]:
    """The compose.yaml and compose.override.yaml of project ``i``."""
    n = f"{i:04d}"
    base = [
        "services:",
        f"  app{n}-web:",
        "    image: nginx",
        "    ports:",
        f'      - "{10000 + i}:80"',          # line 5
        f"  app{n}-api:",
        "    image: api",
        "    ports:",
        f'      - "${{APP{n}_API_PORT:-{20000 + i}}}:8000"',
        f"  app{n}-debug:",
        "    image: debug",
        "    profiles: [debug]",
        "    ports:",
        f'      - "127.0.0.1:{30000 + i}:9229"',
    ]
    if i % 7 == 3:
        base += [f"  App{n}Worker:", "    image: worker", "    ports:",
                 f'      - "{61000 + i}:9000/udp"']
    if i in (3, 4):
        base += ["  gateway:", "    image: gateway", "    ports:", '      - "7000:7000"']
    standard = {0: ("postgres", "5432:5432"), 1: ("redis", "6379:6379"),
                2: ("nginx", "80:80")}
    if i in standard:
        name, spec = standard[i]
        base += [f"  {name}:", f"    image: {name}", "    ports:", f'      - "{spec}"']
    override = [
        "services:",
        f"  app{n}-web:",
        "    ports:",
        f'      - "{8000 + i % 1000}:8080"',
    ]
    return "\n".join(base) + "\n", "\n".join(override) + "\n"


def ports_of(i: int) -> int:
    return 4 + (i % 7 == 3) + (i == 3) + (i in (0, 1, 2))


def generate(root: Path, projects: int, conflicts: int = 0) -> Repo:
    """Write the repository under ``root``; ``conflicts`` more projects each publish the
    web port of an earlier one (spread over the range)."""
    repo = Repo(root, projects)
    for i in range(projects):
        folder = root / "apps" / f"app{i:04d}"
        folder.mkdir(parents=True)
        base, override = project(i)
        (folder / "compose.yaml").write_text(base)
        (folder / "compose.override.yaml").write_text(override)
        repo.ports += ports_of(i)
    for j in range(conflicts):
        victim = (j * 37 + 5) % projects
        folder = root / "conflicts" / f"c{j:03d}"
        folder.mkdir(parents=True)
        (folder / "compose.yaml").write_text(
            f'services:\n  intruder{j:03d}:\n    image: x\n    ports:\n'
            f'      - "{10000 + victim}:80"\n')
        repo.conflicts.append((f"conflicts/c{j:03d}/compose.yaml", 5,
                               f"apps/app{victim:04d}/compose.yaml", 5))
    return repo
