"""Compose projects against the ledger: rules PL201-PL211, given loaded projects.

The rules never load anything: :mod:`portledger.check` loads the projects (in workers,
through the cache) and hands each one's host-port bindings here as :class:`Published`.

Compose service to ledger service: the same name, or one of the ledger service's
``compose`` aliases. A binding's identity for PL204 is its ledger service when it has
one (one ledger service publishing its own port in several files is no conflict), and
otherwise the compose service in its own project.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from portledger.findings import Finding, Severity, make, rule
from portledger.ledger import overlap
from portledger.ledger.hosts import Placement, relative_paths, share
from portledger.ledger.model import Allocation, Ledger, Service
from portledger.paths import display_path

if TYPE_CHECKING:  # imported where used: the compose loader brings PyYAML
    from portledger.compose import PortBinding

@dataclass
class Published:
    """A host-port binding of one compose service, with where it is written."""

    project: str
    compose_service: str
    owner: str
    """The ledger service it belongs to, or ``project:compose-service`` without one."""
    start: int
    end: int
    protocol: str
    host_ip: str | None
    target: int
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    raw: str | None = None
    """The short-syntax entry as written (None for long syntax)."""
    variables: tuple[str, ...] = ()
    source: str = ""
    """The project as people name it (``discovery.ProjectSpec.label``)."""
    host_network: bool = False
    """``network_mode: host``: ``start`` is the container's own port, bound on the host."""
    hosts: Placement = None
    """The ledger's hosts its project runs on (None: every host); see :func:`place`."""

    @property
    def label(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    def binding(self) -> tuple[int, int, str, str | None]:
        return (self.start, self.end, self.protocol, self.host_ip)


# --- rules: each function documents its rule; checks happen in run() -----------------


@rule("PL201", "unmapped-port", "error",
      "a compose file publishes a host port the ledger does not have (on the project's hosts)")
def unmapped_port(p: Published, ledger: Ledger) -> Finding:
    """A compose file publishes a host port that no ledger entry has.

    Every published host port must be in the ledger, or the ledger stops being the
    list of who owns what. Container-only ports (``"8080"``) and ``expose:`` publish no
    host port and are not checked.

    Hosts: with a ``hosts`` section, a project is compared with the allocations that
    hold on its hosts (PL201-PL203 and PL210 alike): a port the ledger gives another
    service on another host only is unmapped here, not another's.

    Failing:

        # port-mapping.yml has no 8010
        services:
          reports:
            ports: ["8010:8000"]

    Passing:

        # port-mapping.yml: reports: {ports: {http: {port: 8010}}}
        services:
          reports:
            ports: ["8010:8000"]
    """
    this = unmapped_port.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol}, which "
                f"{ledger.path} does not allocate",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol, context=(p,))


@rule("PL202", "owner-mismatch", "error",
      "a compose service publishes a port the ledger gives to another service "
      "(on the project's hosts)")
def owner_mismatch(p: Published, other: Allocation, ledger: Ledger) -> Finding:
    """A compose service publishes a host port that the ledger gives to another service.

    This is the seed's Example 1: PCS publishing 8000, which belongs to digi-core. The
    two cannot start on one host.

    Failing:

        # port-mapping.yml: digi-core owns 8000, pcs-api owns 8002
        services:
          pcs-api:
            ports: ["8000:8000"]

    Passing:

        services:
          pcs-api:
            ports: ["8002:8000"]
    """
    this = owner_mismatch.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol}, which the ledger "
                f"gives to {other.service}.{other.name} ({ledger.path}:{other.span.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                context=(p, other))


@rule("PL203", "port-mismatch", "error",
      "the ledger's port for a service differs from what its compose file publishes")
def port_mismatch(p: Published, mine: Allocation, ledger: Ledger) -> Finding:
    """A service's compose file publishes another port than the ledger gives it.

    The ledger is the source of truth: the compose file says ``8000:8000`` where the
    ledger says pcs-api's http port is 8002. Matched by the container port (``target``)
    when the ledger names one.

    Failing:

        # port-mapping.yml: pcs-api: {ports: {http: {port: 8002, target: 8000}}}
        services:
          pcs-api:
            ports: ["8012:8000"]

    Passing:

        services:
          pcs-api:
            ports: ["8002:8000"]
    """
    this = port_mismatch.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol} for container port "
                f"{p.target}; the ledger gives {mine.service}.{mine.name} {mine.label}/"
                f"{mine.protocol} ({ledger.path}:{mine.span.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                context=(p, mine))


@rule("PL204", "duplicate-published-port", "error",
      "two compose services on one host publish the same host port "
      "(protocol and host address overlapping)")
def duplicate_published_port(p: Published, first: Published) -> Finding:
    """Two compose services publish the same host port.

    They collide when the protocol is the same, the ports overlap and the host
    addresses overlap (no address or ``0.0.0.0`` overlaps every IPv4 address and
    ``::``; ``127.0.0.1`` and ``127.0.0.2`` do not). One ledger service publishing its
    own port in several compose files (a dev and a prod variant) is no conflict.

    Hosts: with a ``hosts`` section, only projects that share a host are compared; the
    projects of a host with ``each`` are alternatives, each its own host, and never
    collide with one another.

    Failing:

        services:
          api:
            ports: ["8000:8000"]
          web:
            ports: ["8000:80"]

    Passing:

        services:
          api:
            ports: ["127.0.0.1:8000:8000"]
          web:
            ports: ["127.0.0.2:8000:80"]
    """
    this = duplicate_published_port.rule  # type: ignore[attr-defined]
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol}, already published by "
                f"{first.compose_service} ({first.file}:{first.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                context=(p, first))


@rule("PL205", "invalid-port", "error",
      "a port spec Compose would reject, or one outside 1-65535")
def invalid_port(file: str, line: int, column: int, message: str) -> Finding:
    """A port entry Docker Compose would refuse, so the project does not start.

    ``abc:80``, port 70000, ranges of different lengths (``8000-8001:80-82``), an empty
    entry, a float, misplaced IPv6 brackets, a long-syntax entry without ``target``.
    Where Compose is laxer than its own specification (``published: "abc"`` in long
    syntax), portledger follows the specification.

    Failing:

        services:
          api:
            ports: ["70000:80"]

    Passing:

        services:
          api:
            ports: ["8000:80"]
    """
    this = invalid_port.rule  # type: ignore[attr-defined]
    return make(this, file, line, column, message)


@rule("PL206", "unresolved-variable", "error",
      "${VAR:?} missing (error); ${VAR} unset, leaving a random host port (warning)")
def unresolved_variable(file: str, line: int, column: int, message: str,
                        *, required: bool) -> Finding:
    """A variable in a port entry has no value.

    ``${VAR:?message}`` with VAR unset stops Compose: an error. A plain ``${VAR}``
    that is unset becomes empty, and ``"${API_PORT}:8000"`` then publishes a random
    host port: a warning, never a silent pass. Values come from the environment and
    the project's ``.env``, as in Compose.

    Failing:

        services:
          api:
            ports: ["${API_PORT}:8000"]   # API_PORT set nowhere

    Passing:

        services:
          api:
            ports: ["${API_PORT:-8000}:8000"]
    """
    this = unresolved_variable.rule  # type: ignore[attr-defined]
    return make(this, file, line, column, message,
                severity=Severity.ERROR if required else Severity.WARNING)


@rule("PL207", "yaml11-port", "warning",
      "an unquoted port that YAML 1.1 tools read as base-60 or octal (22:22, 0022)")
def yaml11_port(file: str, line: int, column: int, text: str,
                end_line: int | None = None, end_column: int | None = None) -> Finding:
    """An unquoted port that YAML 1.1 readers turn into another number.

    Docker Compose reads YAML 1.2, where ``22:22`` is the string "22:22". PyYAML and
    other YAML 1.1 tools read it as the base-60 integer 1342, and ``0022`` as octal 18,
    so scripts and linters around the compose file see other ports. Quote it.

    Failing:

        services:
          ssh:
            ports:
              - 22:22

    Passing:

        services:
          ssh:
            ports:
              - "22:22"
    """
    this = yaml11_port.rule  # type: ignore[attr-defined]
    return make(this, file, line, column,
                f"unquoted port {text} is read as a number by YAML 1.1 tools; quote it: "
                f"\"{text}\"", end_line=end_line, end_column=end_column, context=(text,))


@rule("PL208", "compose-path-not-found", "error",
      "a compose.files glob, or a declared project's file, selects no file")
def compose_path_not_found(file: str, line: int, column: int, message: str) -> Finding:
    """A ``compose.files`` glob of the ledger matches no file, or a file of a declared
    project (``compose.projects``) does not exist.

    A typo in a glob (``**/compose*.yml`` where the files are ``.yaml``), a glob that
    points outside the ledger's folder (``../app/compose.yaml``: globs are relative to
    the ledger's folder and cannot leave it) or one whose every match ``compose.exclude``
    leaves out would otherwise check nothing and pass. Located at the glob in the ledger.

    Failing:

        compose:
          files: ["stacks/*.yml"]      # there is no stacks/ folder

    Passing:

        compose:
          files: ["deploy/*.yml"]      # deploy/app.yml exists
    """
    this = compose_path_not_found.rule  # type: ignore[attr-defined]
    return make(this, file, line, column, message)


@rule("PL209", "override-without-base", "error",
      "an override file with no base compose file beside it, so nothing reads it")
def override_without_base(file: str) -> Finding:
    """A ``compose.override.yaml`` (or ``docker-compose.override.yml``, ...) stands in a
    folder with no ``compose.yaml`` (or ``docker-compose.yml``, ...) beside it.

    Docker Compose reads an override file only together with a base file in the same
    folder, so on its own it is neither run nor checkable. Declare the project it
    belongs to in the ledger (``compose.projects``, its files in ``-f`` order), add the
    base file, or leave the folder out (``compose.exclude``).

    Failing:

        # services/api/ holds only compose.override.yaml

    Passing:

        compose:
          projects:
            api:
              files: [services/compose.yaml, services/api/compose.override.yaml]
    """
    this = override_without_base.rule  # type: ignore[attr-defined]
    return make(this, file, 1, 1,
                f"{PurePath(file).name} has no base compose file beside it "
                f"({', '.join(_BASE_NAMES)}), so Docker Compose never reads it and nothing "
                "is checked; declare its project in compose.projects, or exclude it",
                fix="declare the project in the ledger: compose: {projects: {NAME: "
                f"{{files: [BASE, {file}]}}}}}}")


_BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_EVERY_ADDRESS = (None, "", "0.0.0.0", "::", "[::]")


def wider(compose_ip: str | None, ledger_ip: str | None) -> bool:
    """True when a compose entry on ``compose_ip`` binds more addresses than a ledger
    allocation on ``ledger_ip`` allows (the two overlapping)."""
    if ledger_ip in _EVERY_ADDRESS or compose_ip == ledger_ip:
        return False
    return compose_ip in _EVERY_ADDRESS


def _with_host(host_ip: str, p: Published) -> str:
    host = f"[{host_ip}]" if ":" in host_ip else host_ip
    suffix = "" if p.protocol == "tcp" else f"/{p.protocol}"
    return f"{host}:{p.label}:{p.target}{suffix}"


@rule("PL210", "wider-host-address", "error",
      "a compose port bound to more host addresses than the ledger allows")
def wider_host_address(p: Published, mine: Allocation, ledger: Ledger) -> Finding:
    """A compose file publishes a port on every address where the ledger allows only
    one (ledger ``host_ip: 127.0.0.1``, compose ``"8000:8000"``; ledger ``::1``,
    compose ``[::]:8000:8000``).

    The ledger's address is a promise that the port is reachable only there (the
    loopback, one interface); an entry without an address exposes the service to the
    network. The fix binds the entry to the ledger's address.

    Failing:

        # port-mapping.yml: admin: {ports: {http: {port: 8090, host_ip: 127.0.0.1}}}
        services:
          admin:
            ports: ["8090:80"]

    Passing:

        services:
          admin:
            ports: ["127.0.0.1:8090:80"]
    """
    this = wider_host_address.rule  # type: ignore[attr-defined]
    where = "every address" if p.host_ip in _EVERY_ADDRESS[1:] or p.host_ip is None \
        else p.host_ip
    if p.host_ip in ("::", "[::]"):
        where = "every IPv6 address (::)"
    return make(this, p.file, p.line, p.column,
                f"{p.compose_service} publishes {p.label}/{p.protocol} on {where}; the "
                f"ledger allows {mine.service}.{mine.name} only on {mine.host_ip} "
                f"({ledger.path}:{mine.span.line})",
                end_line=p.end_line, end_column=p.end_column,
                service=p.compose_service, port=p.start, protocol=p.protocol,
                fix=f"bind it to the ledger's address: \"{_with_host(str(mine.host_ip), p)}\" "
                f"in {p.file}:{p.line}", context=(p, mine))


@rule("PL211", "host-network-ports", "warning",
      "ports: of a network_mode: host service, which Docker ignores")
def host_network_ports(file: str, line: int, column: int, service: str, target: int,
                       protocol: str) -> Finding:
    """A service with ``network_mode: host`` lists ``ports:``.

    Docker discards ``ports:`` for such a service: the container shares the host's
    network and binds its own ports there. portledger checks the ports it really binds
    (each entry's container port, and each ``expose:`` port, on every address); the
    warning is that the entry says something Docker does not do (``"8080:80"`` binds
    80, not 8080).

    Failing:

        services:
          proxy:
            network_mode: host
            ports: ["8080:80"]

    Passing:

        services:
          proxy:
            network_mode: host
            expose: ["80"]
    """
    this = host_network_ports.rule  # type: ignore[attr-defined]
    return make(this, file, line, column,
                f"{service} has network_mode: host, so Docker ignores this entry; the "
                f"container binds {target}/{protocol} on the host itself",
                service=service, port=target, protocol=protocol,
                fix="remove ports: (the container binds its own ports), or drop "
                "network_mode: host")


COMPOSE_RULES = (
    unmapped_port,
    owner_mismatch,
    port_mismatch,
    duplicate_published_port,
    invalid_port,
    unresolved_variable,
    yaml11_port,
    compose_path_not_found,
    override_without_base,
    wider_host_address,
    host_network_ports,
)

_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$")
_OCTAL = re.compile(r"^0[0-9]+$")


def yaml11_misread(text: str) -> bool:
    """True when YAML 1.1 reads this plain scalar as a base-60 or octal integer."""
    return bool(_SEXAGESIMAL.match(text) or _OCTAL.match(text))


# --- the check --------------------------------------------------------------------------


def place(p: Published, ledger: Ledger) -> None:
    """Set ``p.hosts``: the hosts of the ledger its compose project runs on (matched by
    its declared name, its folder and its file; see :mod:`portledger.ledger.hosts`)."""
    if not ledger.hosts:
        return
    cached: tuple[Path, set[str], dict[tuple[str, str], Placement]] | None = getattr(
        ledger, "_place_cache", None)
    if cached is None:
        cached = (ledger.root, {d.name for d in ledger.compose.projects}, {})
        ledger._place_cache = cached  # type: ignore[attr-defined]
    root, declared, known = cached
    key = (p.project, p.source)  # a project's bindings share it: paths worked out once
    if key not in known:
        name = p.source if p.source in declared else None
        paths = relative_paths(root, p.project, "" if name is not None else p.source)
        label = name or (relative_paths(root, p.source) or (p.source,))[0]
        known[key] = ledger.hosts.project(name, label, paths)
    p.hosts = known[key]


def on_hosts(p: Published, ledger: Ledger, a: Allocation) -> bool:
    """True when allocation ``a`` holds on a host ``p``'s project runs on."""
    return p.hosts is None or share(p.hosts, ledger.placement(a))


def compare(p: Published, ledger: Ledger, service: Service | None) -> Iterator[Finding]:
    """What the ledger says of ``p``; ``service`` is the ledger service it stands for.
    Only the allocations that hold on ``p``'s hosts are compared."""
    # The holders of a port have its protocol and include the port: of a collision
    # (overlap.collide), only the host addresses are left to compare.
    candidates: dict[int, Allocation] = {}
    for port in range(p.start, p.end + 1):
        for a in ledger.holders(p.protocol, port):
            if overlap.addresses_overlap(a.host_ip, p.host_ip) and on_hosts(p, ledger, a):
                candidates[id(a)] = a
    # Another service's allocation comes first: publishing on every address takes
    # 127.0.0.1 from whoever owns it there, even when the service owns 127.0.0.2.
    name = service.name if service is not None else None
    others = [a for a in candidates.values() if a.service != name]
    if others and service is not None:
        # Another service's allocation that collides with this service's own one is the
        # ledger's own conflict (PL104), reported there, not at every compose file.
        own = [a for a in candidates.values() if a.service == name]
        others = [a for a in others
                  if not any(overlap.collide(a.binding(), o.binding()) for o in own)]
    if others:
        yield owner_mismatch(p, others[0], ledger)
        return
    if candidates:
        mine = list(candidates.values())
        if all(wider(p.host_ip, a.host_ip) for a in mine):
            yield wider_host_address(p, mine[0], ledger)
        return
    ports = [] if service is None else [a for a in service.ports if on_hosts(p, ledger, a)]
    if ports:
        same_target = [a for a in ports if a.target == p.target
                       and a.protocol == p.protocol]
        if same_target:
            yield port_mismatch(p, same_target[0], ledger)
            return
        if len(ports) == 1 and ports[0].target is None:
            yield port_mismatch(p, ports[0], ledger)
            return
    yield unmapped_port(p, ledger)


def duplicates(published: list[Published]) -> Iterator[Finding]:
    by_port: dict[tuple[str, int], list[Published]] = defaultdict(list)
    for p in published:
        for port in range(p.start, p.end + 1):
            by_port[(p.protocol, port)].append(p)
    reported: set[tuple[str, int, int]] = set()
    for group in by_port.values():
        if len(group) < 2:
            continue
        # In the order of the files and places (stable: a range's records keep theirs).
        group = sorted(group, key=lambda p: (p.file, p.line, p.column))
        for i, later in enumerate(group):
            for earlier in group[:i]:
                if earlier.owner == later.owner:
                    continue
                if not overlap.collide(earlier.binding(), later.binding()):
                    continue
                if not share(earlier.hosts, later.hosts):
                    continue  # on different hosts (hosts:), never run together
                key = (later.file, later.line, later.column)
                if key not in reported:
                    reported.add(key)
                    yield duplicate_published_port(later, earlier)
                break


def load_error(e: object) -> Finding:
    from portledger.ledger import model as ledger_mod

    code = getattr(e, "code", "PL101")
    file = display_path(getattr(e, "file", "?"))
    line, column = getattr(e, "line", 1), getattr(e, "column", 1)
    message = getattr(e, "message", str(e))
    if code == "PL205":
        return invalid_port(file, line, column, message)
    if code == "PL206":
        return unresolved_variable(file, line, column, message, required=True)
    if code == "PL102":
        return make(ledger_mod.duplicate_keys.rule,  # type: ignore[attr-defined]
                    file, line, column, message)
    from portledger.yamlio import YamlError

    return ledger_mod.yaml_syntax(YamlError(file, line, column, message))


def binding_warnings(bindings: Sequence[PortBinding],
              shown: Callable[[str], str] = display_path) -> Iterator[Finding]:
    """PL206 (unset variable leaving a random port) and PL207 for a project's bindings."""
    for b in bindings:
        file = shown(b.file)
        if b.published is None and b.variables:
            names = ", ".join(f"${{{v}}}" for v in b.variables)
            yield unresolved_variable(
                file, b.line, b.column,
                f"{names} is not set, so {b.service} publishes container port {b.target} "
                "on a random host port", required=False)
        if b.plain and b.raw is not None and yaml11_misread(b.raw):
            yield yaml11_port(file, b.line, b.column, b.raw, b.end_line, b.end_column)
        if b.host_network and not b.exposed:
            yield host_network_ports(file, b.line, b.column, b.service, b.target, b.protocol)


def taken_by(published: Sequence[Published]) -> set[tuple[str, int]]:
    """(protocol, port) of every published compose port: what ``allocate``, ``who`` and
    the fix planner must not hand out (with the ledger's own allocations)."""
    return {(p.protocol, port) for p in published for port in range(p.start, p.end + 1)}
