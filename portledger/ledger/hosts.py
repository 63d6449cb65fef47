"""The ledger's ``hosts`` section: port spaces, the things that run together on one
machine. Ports conflict only between things that share a host.

A *placement* says where something runs: ``None`` for every host (what no host names,
and everything in a ledger without ``hosts``), else a frozenset of host tokens. A token is
a host's name (``edge``), or for a host with ``each`` (alternatives), ``HOST:PROJECT`` for
one of its projects; the bare name of such a host stands for every one of its projects
(the services and projects it shares with all of them).

Its own module so that the ledger's model stays one readable piece; the model re-exports
its names.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

Placement = frozenset[str] | None
"""Where something runs: None (every host), or host tokens (see the module's text)."""


@dataclass(frozen=True)
class Host:
    """One entry of ``hosts``."""

    name: str
    projects: tuple[str, ...] = ()
    each: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    description: str = ""


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    """A path glob: ``**`` any number of folders (``a/**`` matches ``a`` too), ``*`` and
    ``?`` within one folder. Written here: fnmatch's ``*`` crosses folders and
    pathlib's ``match`` has no ``**`` before Python 3.13."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(pattern: str, names: tuple[str, ...]) -> bool:
    """True when ``pattern`` (a declared name or a path glob) matches one of ``names``."""
    stripped = pattern.rstrip("/").removeprefix("./") or "."
    rx = _glob(stripped)
    return any(n == pattern or rx.match(n) for n in names)


@dataclass(frozen=True)
class HostMap:
    """The ``hosts`` section: which host each ledger service, port and compose project
    is on. Empty: one implicit host holding everything."""

    hosts: tuple[Host, ...] = ()
    _projects: dict[tuple[str, str, str], Placement] = field(
        default_factory=dict, compare=False, repr=False)
    _services: dict[str, Placement] = field(default_factory=dict, compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def get(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def service(self, name: str) -> Placement:
        """The hosts a ledger service runs on (None: every host)."""
        if not self.hosts:
            return None
        try:
            return self._services[name]
        except KeyError:
            found = self._services[name] = frozenset(
                h.name for h in self.hosts if name in h.services) or None
            return found

    def allocation(self, service: str, hosts: tuple[str, ...]) -> Placement:
        """The hosts on which a ledger port (of ``service``, limited to ``hosts``) holds."""
        if hosts:
            return frozenset(hosts)
        return self.service(service) if self.hosts else None

    def project(self, name: str | None, label: str, paths: tuple[str, ...]) -> Placement:
        """The hosts of a compose project: ``name`` its declared name (or None),
        ``label`` how it is named in ``HOST:PROJECT`` (its declared name, folder or
        file), ``paths`` its folder and files relative to the ledger's folder."""
        if not self.hosts:
            return None
        key = (name or "", label, "\0".join(paths))
        found = self._projects.get(key, False)
        if found is not False:
            return found  # type: ignore[return-value]
        names: tuple[str, ...] = (name, *paths) if name is not None else paths
        tokens = set()
        for h in self.hosts:
            if any(matches(p, names) for p in h.projects):
                tokens.add(h.name)
            if any(matches(p, names) for p in h.each):
                tokens.add(f"{h.name}:{label}")
        placed = frozenset(tokens) or None
        self._projects[key] = placed
        return placed

    def of_machine(self, hostname: str) -> str | None:
        """The host named as a machine called ``hostname`` is (in full, or its first
        label), or None."""
        name = hostname.lower()
        for candidate in (name, name.split(".", 1)[0]):
            if self.get(candidate) is not None:
                return candidate
        return None

    def require(self, host: str | None, command: str, ledger: str) -> None:
        """Refuse (a FatalError, exit 2) a ``--host`` that is not one of these hosts (nor
        ``HOST:PROJECT`` of one with ``each``); ``ledger`` names the ledger's file."""
        if host is None:
            return
        from portledger.errors import FatalError
        from portledger.paths import display_path

        if not self.hosts:
            raise FatalError(f"{command}: --host {host}: {display_path(ledger)} has no hosts "
                             "section (it is one port space)")
        family = host.split(":", 1)[0]
        found = self.get(family)
        if found is None or (family != host and not found.each):
            raise FatalError(f"{command}: --host {host}: no such host in "
                             f"{display_path(ledger)} (hosts: {', '.join(self.names())})")

    def unknown(self, services: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        """(YAML path, message) for each ledger service a host names that the ledger
        lacks, and each port limited to a host that is not there or that its service
        does not run on (``services``: the model's services by name)."""
        out: list[tuple[tuple[Any, ...], str]] = []
        for h in self.hosts:
            for i, s in enumerate(h.services):
                if s not in services:
                    out.append((("hosts", h.name, "services", i),
                                f"hosts.{h.name}.services: no ledger service {s!r}"))
        known = set(self.names())
        for name, service in services.items():
            for a in service.ports:
                if not a.hosts:
                    continue
                runs = self.service(name)
                for i, host in enumerate(a.hosts):
                    where = f"services.{name}.ports.{a.name}.hosts"
                    family, colon, _ = host.partition(":")
                    if colon and family in known and not self.get(family).each:  # type: ignore[union-attr]
                        out.append((("services", name, "ports", a.name, "hosts", i),
                                    f"{where}: {host!r}: host {family!r} has no `each`, so "
                                    "it has no projects of its own to name"))
                        continue
                    if colon and family in known:
                        host = family
                    if host not in known:
                        hint = difflib.get_close_matches(host, sorted(known), n=1)
                        did = f"; did you mean {hint[0]!r}?" if hint else ""
                        out.append((("services", name, "ports", a.name, "hosts", i),
                                    f"{where}: no host {host!r} in hosts{did}"))
                    elif runs is not None and host not in runs:
                        out.append((("services", name, "ports", a.name, "hosts", i),
                                    f"{where}: {name} does not run on {host!r} "
                                    f"(hosts.{host}.services does not name it)"))
        return out


def share(a: Placement, b: Placement) -> bool:
    """True when two placements have a host in common (so their ports can collide)."""
    if a is None or b is None:
        return True
    if a & b:
        return True
    # A family token (an `each` host's bare name) shares every one of its projects.
    return any(":" in x and x.split(":", 1)[0] in b for x in a) or \
        any(":" in y and y.split(":", 1)[0] in a for y in b)


def on(placement: Placement, host: str | None) -> bool:
    """True when something placed so runs on ``host`` (None: the implicit host, every)."""
    return host is None or share(placement, frozenset((host,)))


def shown(placement: Placement) -> str:
    """A placement for people: ``edge, batch`` (empty for every host)."""
    return "" if placement is None else ", ".join(sorted(placement))


def hosts_config(section: Any) -> HostMap:
    """The :class:`HostMap` of a (schema-valid) ``hosts`` mapping."""
    if not isinstance(section, dict):
        return HostMap()
    return HostMap(tuple(
        Host(str(name), tuple(body.get("projects", ())), tuple(body.get("each", ())),
             tuple(body.get("services", ())), body.get("description", ""))
        for name, body in section.items() if isinstance(body, dict)))


def relative_paths(root: Path, *paths: str) -> tuple[str, ...]:
    """``paths`` (absolute, or relative to the current folder) relative to ``root``, in
    POSIX form, leaving out any outside it. Below ``root`` by string prefix (a check asks
    for every compose project), through ``os.path.relpath`` otherwise."""
    out = []
    base = str(root)
    cwd = os.getcwd()
    for p in paths:
        if not p:
            continue
        full = p if os.path.isabs(p) else os.path.join(cwd, p)
        if full == base:
            rel = "."
        elif full.startswith(base + os.sep) and f"{os.sep}.." not in full:
            rel = full[len(base) + 1:]
        else:
            try:
                rel = os.path.relpath(os.path.abspath(p), base)
            except ValueError:
                continue
            if rel.startswith(".."):
                continue
        out.append(rel.replace(os.sep, "/") if os.sep != "/" else rel)
    return tuple(dict.fromkeys(out))
