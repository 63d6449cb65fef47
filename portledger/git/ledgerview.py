"""A host port of one state of the repository (:class:`Port`), and the ledger as that state
holds it, read from its bytes: its services, their aliases and ports, the compose
section's files and the hosts (for :mod:`portledger.git.reader`)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from portledger import yamlio
from portledger.errors import FatalError
from portledger.ledger.hosts import HostMap, hosts_config, shown
from portledger.ledger.model import DEFAULT_COMPOSE_FILES, DEFAULT_SKIP


@dataclass(frozen=True)
class Port:
    """One host port of one state: a ledger allocation or a compose published port."""

    source: str
    """``ledger`` or ``compose``."""
    service: str
    """The owner: the ledger service (a compose service through its name or alias), or
    the compose service's own name when the ledger does not know it."""
    name: str | None
    """The ledger's name for the port (``http``), when known."""
    port: str
    """``"8000"`` or a range ``"9000-9002"``."""
    protocol: str
    host_ip: str | None
    target: int | None
    file: str
    line: int
    column: int
    compose_service: str | None = None
    project: str | None = None
    hosts: str | None = None
    """The ledger's hosts it is on (``edge, batch``), named only when the ledger has more
    than one host; None otherwise, and for a port on every host."""

    def address(self, with_host: bool) -> str:
        if not with_host or not self.host_ip:
            return self.port
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "name": self.name,
            "port": self.port,
            "protocol": self.protocol,
            "host_ip": self.host_ip,
            "target": self.target,
            "compose_service": self.compose_service,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }




@dataclass
class _LedgerView:
    path: str | None
    ports: list[Port]
    aliases: dict[str, str]
    allocations: dict[str, list[tuple[str, int, int, str, int | None]]]
    globs: tuple[str, ...]
    exclude: tuple[str, ...]
    declared: tuple[Any, ...] = ()
    """The ledger's ``compose.projects`` (``compose.discovery.Declared``)."""
    skip: tuple[str, ...] = DEFAULT_SKIP
    hosts: HostMap = HostMap()
    """The ledger's hosts, when it has more than one (trailers then name them)."""

    def project_hosts(self, name: str | None, folder: str, first: str | None) -> str | None:
        """The hosts of a compose project, as a trailer names them (None: unnamed)."""
        if not self.hosts:
            return None
        base = self.folder

        def rel(path: str) -> str:
            return posixpath.relpath(path or ".", base or ".")

        paths = tuple(dict.fromkeys(
            [rel(folder), *([rel(first)] if first and name is None else [])]))
        label = name or (rel(first) if first else rel(folder))
        return shown(self.hosts.project(name, label, paths)) or None

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path) if self.path else ""

    def owner(self, compose_service: str) -> str:
        return self.aliases.get(compose_service, compose_service)

    def name_of(self, service: str, published: str, target: int, protocol: str) -> str | None:
        """The ledger's name for a compose binding of ``service``."""
        mine = self.allocations.get(service) or []
        start = int(published.partition("-")[0])
        for name, lo, hi, proto, _ in mine:
            if lo <= start <= hi and proto == protocol:
                return name
        for name, _, _, proto, tgt in mine:
            if tgt == target and proto == protocol:
                return name
        if len(mine) == 1:
            return mine[0][0]
        return None


_NO_LEDGER = _LedgerView(None, [], {}, {}, DEFAULT_COMPOSE_FILES, ())


def _port_bounds(value: Any) -> tuple[int, int] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, str):
        lo, sep, hi = value.partition("-")
        if lo.strip().isdigit() and (not sep or hi.strip().isdigit()):
            return (int(lo), int(hi or lo))
    return None


def _strings(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return default


def _declared(value: Any) -> tuple[Any, ...]:
    """The ledger's declared compose projects, read leniently (as ``check`` reads them
    when they are valid; an invalid one is ``check``'s to report)."""
    from portledger.compose.discovery import Declared

    if not isinstance(value, dict):
        return ()
    found = []
    for name, body in value.items():
        if not isinstance(body, dict):
            continue
        files = _strings(body.get("files"), ())
        if not files:
            continue
        directory = body.get("directory")
        env = body.get("env_files")
        profiles = body.get("profiles")
        found.append(Declared(
            str(name), files, directory if isinstance(directory, str) else None,
            _strings(env, ()) if env is not None else None,
            _strings(profiles, ("*",)) if profiles is not None else None))
    return tuple(found)


def read_ledger(path: str, data: bytes, where: str) -> _LedgerView:
    """The ports of a ledger's bytes, read leniently (schema errors are ``check``'s)."""
    try:
        doc = yamlio.load(path, data=data)
    except yamlio.YamlError as e:
        raise FatalError(
            f"{e.path}:{e.line}:{e.column}: {e.message} (the ledger {where}); "
            "its port changes cannot be told"
        ) from None
    root = doc.data if isinstance(doc.data, dict) else {}
    compose = root.get("compose") if isinstance(root.get("compose"), dict) else {}
    assert isinstance(compose, dict)
    view = _LedgerView(path, [], {}, {},
                       _strings(compose.get("files"), DEFAULT_COMPOSE_FILES),
                       _strings(compose.get("exclude"), ()),
                       _declared(compose.get("projects")),
                       _strings(compose.get("skip"), DEFAULT_SKIP))
    try:
        hosts = hosts_config(root.get("hosts"))
    except (TypeError, AttributeError):
        hosts = HostMap()  # not a valid section: check says why
    if len(hosts.hosts) > 1:
        view.hosts = hosts
    services = root.get("services")
    if not isinstance(services, dict):
        return view
    for service, body in services.items():
        if not isinstance(body, dict):
            continue
        view.aliases.setdefault(str(service), str(service))
        ports = body.get("ports")
        if not isinstance(ports, dict):
            continue
        allocations = view.allocations.setdefault(str(service), [])
        for name, entry in ports.items():
            if not isinstance(entry, dict):
                continue
            bounds = _port_bounds(entry.get("port"))
            if bounds is None:
                continue
            protocol = entry.get("protocol", "tcp")
            host_ip = entry.get("host_ip")
            target = entry.get("target")
            if not isinstance(protocol, str):
                continue
            host = host_ip if isinstance(host_ip, str) else None
            tgt = target if isinstance(target, int) and not isinstance(target, bool) else None
            lo, hi = bounds
            label = str(lo) if lo == hi else f"{lo}-{hi}"
            span = doc.span(("services", service, "ports", name, "port"))
            limited = entry.get("hosts")
            on = shown(view.hosts.allocation(str(service), tuple(
                str(h) for h in limited) if isinstance(limited, list) else ())) or None \
                if view.hosts else None
            view.ports.append(Port("ledger", str(service), str(name), label, protocol.lower(),
                                   host, tgt, path, span.line, span.column, hosts=on))
            allocations.append((str(name), lo, hi, protocol.lower(), tgt))
    for service, body in services.items():
        aliases = body.get("compose") if isinstance(body, dict) else None
        if isinstance(aliases, list):
            for alias in aliases:
                if isinstance(alias, str):
                    view.aliases.setdefault(alias, str(service))
    return view
