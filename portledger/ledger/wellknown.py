"""Well-known ports: a bundled list of IANA registrations by default, the machine's
``/etc/services`` only when the ledger asks (``settings.well_known: system``).

The default is the bundled list so that a ledger is checked and fixed alike on every
machine (a laptop's netbase version and CI's differ). ``PORTLEDGER_SERVICES_FILE`` names
another file in the same format and overrides both (tests use it).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

SYSTEM_FILE = Path("/etc/services")

Registry = dict[tuple[int, str], tuple[str, ...]]
"""(port, protocol) -> (service name, aliases...)."""


def parse(text: str) -> Registry:
    """Parse the ``/etc/services`` format: ``name port/proto [aliases...] [# comment]``."""
    registry: Registry = {}
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
    if source == "bundled":
        # The package's own folder, not importlib.resources (30 M instructions to import,
        # on every hook run): portledger is installed as files, never zipped.
        bundled = Path(__file__).resolve().parent.parent / "data" / "services"
        return parse(bundled.read_text(encoding="utf-8"))
    try:
        return parse(Path(source).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return _load("bundled")


SETTINGS = ("bundled", "system")
"""The values of the ledger's ``settings.well_known``."""


def registry(setting: str = "bundled") -> Registry:
    """The well-known ports in use: the override file, else the bundled list, else (when
    ``setting`` is "system") /etc/services, the bundled list when it is absent."""
    override = os.environ.get("PORTLEDGER_SERVICES_FILE")
    if override:
        return _load(override)
    if setting == "system" and SYSTEM_FILE.is_file():
        return _load(str(SYSTEM_FILE))
    return _load("bundled")


def source_name(setting: str = "bundled") -> str:
    """Where the registrations come from, in words (for messages)."""
    override = os.environ.get("PORTLEDGER_SERVICES_FILE")
    if override:
        return override
    if setting == "system" and SYSTEM_FILE.is_file():
        return str(SYSTEM_FILE)
    return "the bundled IANA list"


def owner(port: int, protocol: str, setting: str = "bundled") -> tuple[str, ...] | None:
    """Who ``port/protocol`` is registered to (name first, then aliases), if anyone."""
    return registry(setting).get((port, protocol))


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
