"""Well-known ports: IANA's registry, bundled, by default; the machine's
``/etc/services`` only when the ledger asks (``settings.well_known: system``).

The default is the bundled list so that a ledger is checked and fixed alike on every
machine (a laptop's netbase version and CI's differ). It is IANA's Service Name and
Transport Protocol Port Number Registry (every assigned TCP and UDP port from 1 to
49151; its date and source are in the file's header), made by tools/iana_services.py
in a compact form of its own: ``PORT NAME [NAMES...]`` for both protocols, ``PORT/tcp``
or ``PORT/udp`` for one, in port order. It is read when a port is first looked up, and
looked up by bisection on its lines, never parsed whole (six thousand lines; a check
asks about its ledger's ports only).

Rules and plans (PL109, a recorded port's ``exception``, ``allocate`` skipping
registered ports) use only the ports of its first block, marked ``*``, those compose
services commonly collide with (:func:`owner`): against every registration they would
flag most ports above 1024 (8000 is irdmi's, 3000 hbci's). ``who`` shows any
registration (:func:`registration`). /etc/services, when the ledger asks for it, serves both.
``PORTLEDGER_SERVICES_FILE`` names another file, in the format of /etc/services, and
overrides both (tests use it).
"""

from __future__ import annotations

import bisect
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TypeAlias

    Registry: TypeAlias = "dict[tuple[int, str], tuple[str, ...]] | Bundled"
    """(port, protocol) -> (service name, aliases...)."""

SYSTEM_FILE = Path("/etc/services")
BUNDLED_FILE = Path(__file__).resolve().parent.parent / "data" / "services"
"""The package's own folder, not importlib.resources (30 M instructions to import, on
every hook run): portledger is installed as files, never zipped."""


def _port_of(line: str) -> int:
    head = line[:line.find(" ")]
    return int(head[:head.find("/")] if "/" in head else head)


class Bundled:
    """The bundled registry (the format above), looked up by bisection on its lines:
    every registration, or (``common``) the first block's alone (read up to its end).
    A read-only mapping; not a ``Mapping`` subclass, whose making (ABCMeta) tripled
    the import of this module, which every check imports."""

    def __init__(self, text: str, common: bool = False) -> None:
        if common:
            start = text.find("\n*") + 1
            end = text.find("\n", text.rfind("\n*") + 1)
            self._lines = [line[1:] for line in text[start:end].split("\n")] if start else []
        else:
            self._lines = [line for line in text.splitlines()
                           if line and line[0] not in "#*"]

    def get(self, key: tuple[int, str],
            default: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self.get(key) is not None

    def __getitem__(self, key: tuple[int, str]) -> tuple[str, ...]:
        port, protocol = key
        lines = self._lines
        i = bisect.bisect_left(lines, port, key=_port_of)
        while i < len(lines) and _port_of(lines[i]) == port:
            head, *names = lines[i].split()
            if "/" not in head or head.partition("/")[2] == protocol:
                return tuple(names)
            i += 1
        raise KeyError(key)

    def _keys(self) -> Iterator[tuple[int, str]]:
        for line in self._lines:
            head = line[:line.find(" ")]
            port, _, protocol = head.partition("/")
            yield from ((int(port), p) for p in ((protocol,) if protocol else ("tcp", "udp")))

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self._keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())


def parse(text: str) -> dict[tuple[int, str], tuple[str, ...]]:
    """Parse the ``/etc/services`` format: ``name port/proto [aliases...] [# comment]``."""
    registry: dict[tuple[int, str], tuple[str, ...]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split()
        if len(line) < 2 or "/" not in line[1]:
            continue
        port_text, _, proto = line[1].partition("/")
        if not port_text.isdigit():
            continue
        registry.setdefault((int(port_text), proto.lower()), (line[0], *line[2:]))
    return registry


@lru_cache(maxsize=4)
def _load(source: str) -> Registry:
    if source in ("bundled", "bundled-every"):
        return Bundled(_bundled_text(), common=source == "bundled")
    try:
        return parse(Path(source).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return _load("bundled")


@lru_cache(maxsize=1)
def _bundled_text() -> str:
    return BUNDLED_FILE.read_text(encoding="utf-8")


SETTINGS = ("bundled", "system")
"""The values of the ledger's ``settings.well_known``."""


def registry(setting: str = "bundled", every: bool = False) -> Registry:
    """The well-known ports in use: the override file, else (when ``setting`` is
    "system") /etc/services, else the bundled list (its common ports; with ``every``,
    every registration)."""
    override = os.environ.get("PORTLEDGER_SERVICES_FILE")
    if override:
        return _load(override)
    if setting == "system" and SYSTEM_FILE.is_file():
        return _load(str(SYSTEM_FILE))
    return _load("bundled-every" if every else "bundled")


def source_name(setting: str = "bundled") -> str:
    """Where the registrations come from, in words (for messages)."""
    override = os.environ.get("PORTLEDGER_SERVICES_FILE")
    if override:
        return override
    if setting == "system" and SYSTEM_FILE.is_file():
        return str(SYSTEM_FILE)
    return "the bundled IANA list"


def owner(port: int, protocol: str, setting: str = "bundled") -> tuple[str, ...] | None:
    """The well-known service ``port/protocol`` belongs to (name first, then aliases),
    if any: what rules and plans go by."""
    return registry(setting).get((port, protocol))


def registration(port: int, protocol: str,
                 setting: str = "bundled") -> tuple[str, ...] | None:
    """Whoever ``port/protocol`` is registered to, well known or not (``who``)."""
    return registry(setting, every=True).get((port, protocol))


def belongs_to(names: tuple[str, ...], candidates: list[str]) -> bool:
    """True when a registered name or alias is one of the service's own names.

    ``postgres`` matches the ledger service ``postgresql`` and the compose service
    ``digi-postgres``: a name matches when one contains the other as a whole word part.
    """
    wanted = {n.lower() for n in names}
    for candidate in candidates:
        c = candidate.lower()
        parts = set(c.replace("_", "-").split("-")) | {c}
        for w in wanted:
            if w in parts or any(p.startswith(w) or w.startswith(p) for p in parts if len(p) > 3):
                return True
    return False
