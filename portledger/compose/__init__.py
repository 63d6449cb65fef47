"""Compose projects resolved as Docker Compose v2 resolves them: their published ports.

Public API::

    load_project(files=None, project_directory=None, env_files=None, profiles=None,
                 environ=None) -> Project
    ports_json(project) -> {"published": [...]}          # DESIGN.md's `ports` JSON
    PortBinding, Project, ComposeError

``load_project`` takes the same inputs as ``docker compose [-f FILE]...
[--project-directory DIR] [--env-file F]... [--profile P]...`` plus the environment
(``os.environ`` when None). It raises :class:`ComposeError` (file, line, column, message,
code) for a project Compose refuses, and a few it accepts that cannot publish a port
(see :mod:`portledger.compose.ports` and :mod:`portledger.compose.loader` for every
deliberate difference from Compose).

The reference is the real binary: the differential tests in ``tests/compose`` compare
:func:`ports_json` with ``docker compose config --format json`` (Compose v2.40.3) on the
awesome-compose corpus and on fixtures for every feature.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portledger.compose import ports as _ports
from portledger.compose.loader import CanonicalPort, ComposeError, UnsetVariable, enabled, load
from portledger.findings import Finding, Severity

__all__ = [
    "ComposeError",
    "PortBinding",
    "Project",
    "UnsetVariable",
    "load_project",
    "ports_json",
    "sort_key",
]


@dataclass(unsafe_hash=True)  # by value, as if frozen, but quicker to make (ledger.Allocation)
class PortBinding:
    """One published (or container-only) port of one service, as Compose resolves it.

    ``published`` is a string: ``"8080"``, a host range ``"9000-9002"`` against one
    container port, or None when Docker picks a random host port. ``host_ip`` is None
    when the entry names no address. ``file``/``line``/``column`` (1-based) point at the
    entry as written; ``raw`` is the short-syntax text as written (None for long syntax),
    ``plain`` is True when that entry was an unquoted YAML scalar (``22:22`` unquoted is a
    base-60 number to YAML 1.1 tools), ``variables`` the unset variables the entry read.
    """

    service: str
    host_ip: str | None
    published: str | None
    target: int
    protocol: str
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    variables: tuple[str, ...] = ()
    raw: str | None = None
    plain: bool = False
    host_network: bool = False
    """The service has ``network_mode: host``: Docker discards its ``ports:`` and the
    container binds its own ports (the entry's target) on the host."""
    exposed: bool = False
    """An ``expose:`` entry of a ``network_mode: host`` service (a port it binds on the
    host; not a ``ports:`` entry, so not in :func:`ports_json`)."""

    def as_dict(self) -> dict[str, Any]:
        """The record of DESIGN.md's ``ports`` JSON."""
        return {
            "service": self.service,
            "host_ip": self.host_ip,
            "published": self.published,
            "target": self.target,
            "protocol": self.protocol,
        }


_LEADING_NUMBER = re.compile(r"^[0-9]+")


def sort_key(b: PortBinding) -> tuple[Any, ...]:
    """DESIGN.md's order: service, published (null first, then by leading number, then as
    text), target, protocol, host_ip (null first)."""
    if b.published is None:
        published: tuple[Any, ...] = (0, 0, "")
    else:
        m = _LEADING_NUMBER.match(b.published)
        published = (1, int(m.group(0)) if m else -1, b.published)
    return (
        b.service,
        published,
        b.target,
        b.protocol,
        (b.host_ip is not None, b.host_ip or ""),
    )


@dataclass
class Project:
    """A loaded compose project: its bindings (sorted), the files read, and warnings."""

    bindings: list[PortBinding]
    files: list[str]
    warnings: list[Finding] = field(default_factory=list)
    unset_variables: list[UnsetVariable] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    """The enabled services, in name order (also those that publish nothing)."""
    inputs: tuple[dict[str, str | None], dict[str, str | None]] | None = None
    """What loading depended on (``compose.loader.Inputs``): every path it looked at,
    with the SHA-256 of the bytes read there or None where there was no file, and every
    environment variable it looked up, with its value or None (None as a whole when
    loading could not account for them)."""


def _binding(service: str, port: CanonicalPort, host_network: bool = False) -> PortBinding:
    fields = port.fields
    origin = port.origin
    host_ip = fields.get("host_ip") or None
    protocol = fields.get("protocol") or "tcp"
    return PortBinding(
        service=service,
        host_ip=host_ip,
        published=_ports.published_of(fields),
        target=_ports.target_of(fields),
        protocol=str(protocol).lower(),
        file=origin.file,
        line=origin.span.line,
        column=origin.span.column,
        end_line=origin.span.end_line,
        end_column=origin.span.end_column,
        variables=origin.variables,
        raw=origin.raw,
        plain=origin.plain,
        host_network=host_network,
    )


def load_project(
    files: list[str] | None = None,
    project_directory: str | None = None,
    env_files: list[str] | None = None,
    profiles: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    fallback: Mapping[str, str] | None = None,
) -> Project:
    """Load one compose project; raise :class:`ComposeError` where Compose would fail.

    ``fallback`` sets variables that the environment and ``.env`` leave unset.
    """
    loaded = load(files, project_directory, env_files, profiles, environ, fallback)
    services = loaded.model.get("services") or {}
    bindings: list[PortBinding] = []
    names: list[str] = []
    for name, service in services.items():
        if not isinstance(service, dict) or not enabled(service, loaded.profiles):
            continue
        names.append(name)
        host_network = service.get("network_mode") == "host"
        for port in service.get("ports") or []:
            bindings.append(_binding(name, port, host_network))
        if host_network and service.get("expose"):
            bindings += _exposed(name, service["expose"], loaded.files)
    bindings.sort(key=sort_key)
    warnings = []
    seen: set[tuple[str, int, int, str]] = set()
    for b in bindings:
        for var in b.variables:
            key = (b.file, b.line, b.column, var)
            if key in seen:
                continue
            seen.add(key)
            if b.published is None:
                effect = "Docker will publish a random host port"
            else:
                effect = f"the entry resolves to {b.published}:{b.target}"
            warnings.append(
                Finding(
                    file=b.file,
                    line=b.line,
                    column=b.column,
                    code="PL206",
                    rule="unresolved-variable",
                    severity=Severity.WARNING,
                    message=f"variable {var} is not set; {effect}",
                    end_line=b.end_line,
                    end_column=b.end_column,
                    service=b.service,
                    port=b.target,
                    protocol=b.protocol,
                    fix=f"set {var} in the environment or the project's .env file",
                )
            )
    return Project(
        bindings=bindings,
        files=loaded.files,
        warnings=warnings,
        unset_variables=loaded.unset,
        profiles=loaded.profiles,
        services=sorted(names),
        inputs=loaded.inputs.digests(),
    )


def ports_json(project: Project) -> dict[str, Any]:
    """DESIGN.md's ``portledger ports --format json`` document."""
    return {"published": [b.as_dict() for b in sorted(project.bindings, key=sort_key)
                          if not b.exposed]}


def _exposed(service: str, entries: list[Any], files: list[str]) -> list[PortBinding]:
    """The ports a ``network_mode: host`` service binds by its ``expose:`` entries
    (``"3000"``, ``"8000-8002"``, ``"53/udp"``), each located where it was last written
    (the files are read again for their positions: only for such services)."""
    from portledger import yamlio

    docs = []
    for f in reversed(files):
        try:
            docs.append(yamlio.load(f))
        except (yamlio.YamlError, OSError):
            continue
    out = []
    for i, entry in enumerate(entries):
        text = str(entry)
        number, _, protocol = text.partition("/")
        lo, _, hi = number.partition("-")
        if not (lo.isdigit() and (not hi or hi.isdigit())):
            continue  # Compose's own check refuses it before this
        where = (files[0] if files else ".", yamlio.Span(1, 1, 1, 1))
        for doc in docs:
            span = doc.spans.get(("services", service, "expose", i))
            if span is not None:
                where = (doc.path, span)
                break
        file, span = where
        # One record an entry, as a host range against one port ("9050-9051").
        out.append(PortBinding(
            service=service, host_ip=None, published=f"{int(lo)}-{int(hi)}" if hi
            else str(int(lo)), target=int(lo), protocol=(protocol or "tcp").lower(),
            file=file, line=span.line, column=span.column, end_line=span.end_line,
            end_column=span.end_column, host_network=True, exposed=True))
    return out
