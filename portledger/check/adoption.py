"""``portledger init``: the first ledger of a repository, made from its compose projects.

The projects are the ones ``check`` will check: they are selected and loaded by
:mod:`portledger.check.loading` (the same discovery, the same loader), so the ledger
records exactly what the gate then compares. Every published host port is recorded under
its compose service (one ledger service for a compose service name, wherever it
appears; ``compose:`` aliases when that name is not a valid ledger name). Conflicts that
exist today are not resolved: the port stays with the service the allocation policy's
:func:`~portledger.ledger.allocation.keeper` prefers (no priorities yet: the name that
sorts first), and the other claim is written as a comment. The text is then checked
here, in memory, by the same rules as ``check``, so the findings ``init`` prints are the
ones ``check`` will report.

The ledger text is written by hand, not dumped by a YAML library, so that it reads like
a ledger a person wrote (ranges first, one service a block, ports in flow style,
comments where a human must decide) and is byte-identical from run to run.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portledger import yamlio
from portledger.compose.rules import Published, compare, duplicates, place
from portledger.errors import FatalError
from portledger.findings import Finding
from portledger.ledger import model as ledger_mod
from portledger.ledger import overlap, wellknown
from portledger.ledger.model import ComposeConfig, Ledger
from portledger.ledger.rules import LEDGER_CHECKS

if TYPE_CHECKING:
    from portledger.compose.discovery import Selection

SEED_RANGES: tuple[tuple[str, int, int, str, bool], ...] = (
    # The eight ranges of the port management system portledger grew from.
    ("core-infrastructure", 1000, 1999,
     "Core infrastructure services (databases, caches, queues)", False),
    ("application", 2000, 2999, "Application services (internal APIs and workers)", False),
    ("monitoring", 3000, 3999, "Monitoring and observability", False),
    ("development", 4000, 4999, "Development and testing services", False),
    ("future", 5000, 5999, "Reserved for future services", True),
    ("backup", 6000, 6999, "Backup and maintenance services", False),
    ("high-priority", 7000, 7999, "Reserved for high-priority services", True),
    ("user-facing", 8000, 8999, "User-facing applications", False),
)
NO_RANGES: tuple[tuple[str, int, int, str, bool], ...] = (
    ("any", 1, 65535, "Every port: no ranges (portledger init --ranges none)", False),
)
"""``--ranges none``: the schema wants a category for each service, so one range holds
every port; only the port-level rules (system ports, well-known ports) then apply."""

_PRETTY = {
    "postgresql": "PostgreSQL", "mysql": "MySQL", "redis": "Redis", "mongodb": "MongoDB",
    "http": "HTTP", "https": "HTTPS", "http-alt": "HTTP alternate", "amqp": "AMQP",
    "ldap": "LDAP", "domain": "DNS", "ssh": "SSH", "smtp": "SMTP", "ftp": "FTP",
    "imap2": "IMAP", "pop3": "POP3", "ms-sql-s": "Microsoft SQL Server", "mqtt": "MQTT",
    "memcache": "memcached", "kafka": "Kafka", "zookeeper": "ZooKeeper", "ntp": "NTP",
}
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class RangeSpec:
    name: str
    start: int
    end: int
    description: str
    reserved: bool


def seed_ranges() -> list[RangeSpec]:
    return [RangeSpec(*r) for r in SEED_RANGES]


def ranges_from_file(path: str) -> list[RangeSpec]:
    """The ranges of a YAML file: a ledger's ``ranges:`` mapping, or that mapping alone."""
    try:
        doc = yamlio.load(path)
    except yamlio.YamlError as e:
        raise FatalError(f"{e.path}:{e.line}:{e.column}: {e.message}") from None
    except OSError as e:
        raise FatalError(f"{path}: {e.strerror or e}") from None
    data = doc.data
    where: tuple[Any, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("ranges"), dict):
        data, where = data["ranges"], ("ranges",)
    if not isinstance(data, dict) or not data:
        raise FatalError(f"{path}:1:1: expected a mapping of ranges (name: {{start, end}})")
    found = []
    for name, body in data.items():
        s = doc.key_span((*where, name))
        ok = (isinstance(body, dict) and all(isinstance(body.get(k), int)
                                             and not isinstance(body.get(k), bool)
                                             for k in ("start", "end")))
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) or not ok:
            raise FatalError(f"{path}:{s.line}:{s.column}: range {name!r}: expected a "
                             "lower-case name with {start: PORT, end: PORT}")
        found.append(RangeSpec(name, body["start"], body["end"],
                               str(body.get("description", "")), bool(body.get("reserved"))))
    return found


@dataclass
class Entry:
    """One port of a ledger service, as init records it."""

    start: int
    end: int
    protocol: str
    host_ip: str | None
    target: int
    where: Published
    name: str = ""
    exception: str | None = None


@dataclass
class Plan:
    """What init found and will write."""

    services: dict[str, list[Entry]] = field(default_factory=dict)
    aliases: dict[str, set[str]] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    """One comment line each: a claim not recorded because another service has the port."""
    unresolved: list[str] = field(default_factory=list)
    """Ports with a variable and no default: listed, not recorded."""
    load_findings: list[Finding] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)
    selection: Selection | None = None
    projects: int = 0
    files: int = 0


def ledger_name(compose_service: str) -> str:
    """The ledger's name for a compose service (ledger names are lower-case)."""
    name = _NOT_NAME.sub("-", compose_service.lower()).strip("-._") or "service"
    return name if name[0].isalnum() else f"s{name}"


@dataclass
class Loaded:
    """The compose projects ``check`` selects, as loaded for init."""

    published: list[Published]
    findings: list[Finding]
    """Met while loading (load errors, PL206 and PL207 warnings)."""
    selection: Selection
    files: int


def load_projects(root: Path, config: ComposeConfig | None = None) -> Loaded:
    """Every host-port binding of the projects ``check`` selects under ``root`` (with the
    ledger's ``compose`` settings ``config``, or the defaults), loaded as check loads them."""
    from portledger.check import loading as loading_mod
    from portledger.compose.rules import load_error

    loading = loading_mod.start(root, config or ComposeConfig())
    published: list[Published] = []
    findings: list[Finding] = []
    files: set[str] = set()
    try:
        for loaded in loading.results():
            if loaded.error is not None:
                findings.append(load_error(loaded.error))
                continue
            files.update(loaded.files)
            findings.extend(loaded.warnings)
            published.extend(loaded.published)
    finally:
        loading.close()
    return Loaded(published, findings, loading.selection, len(files))


def plan(loaded: Loaded, ranges: Sequence[RangeSpec], existing: Ledger | None = None) -> Plan:
    """Which ledger service gets which port; conflicts kept aside. With ``existing``,
    only what that ledger lacks (its services and ports stay as they are)."""
    published = loaded.published
    result = Plan(load_findings=loaded.findings, selection=loaded.selection,
                  projects=len(loaded.selection.specs), files=loaded.files,
                  unresolved=unresolved(loaded.findings))
    claims: dict[str, list[Published]] = defaultdict(list)
    for p in published:
        owner = None
        if existing is not None:
            found = existing.service_for_compose_name(p.compose_service)
            owner = found.name if found is not None else None
        if owner is None:
            owner = ledger_name(p.compose_service)
            if owner != p.compose_service:
                result.aliases.setdefault(owner, set()).add(p.compose_service)
        p.owner = owner
        claims[owner].append(p)
    # Who has each port already: (protocol, port) -> [(service, binding)].
    taken: dict[tuple[str, int], list[tuple[str, tuple[int, int, str, str | None]]]] = \
        defaultdict(list)

    def take(owner: str, b: tuple[int, int, str, str | None]) -> None:
        for port in range(b[0], b[1] + 1):
            taken[(b[2], port)].append((owner, b))

    if existing is not None:
        for a in existing.allocations():
            take(a.service, a.binding())
    # Services by name (the policy's tie-break: no priorities yet), each one's ports in
    # the order of their files, so the outcome never depends on the order of discovery.
    for owner in sorted(claims):
        entries: list[Entry] = []
        mine: dict[tuple[int, int, str], Entry] = {}
        for p in sorted(claims[owner], key=lambda p: (p.start, p.end, p.protocol,
                                                       p.host_ip or "", p.file, p.line)):
            if existing is not None and _recorded(existing, owner, p):
                continue
            clash = next((who for port in range(p.start, p.end + 1)
                          for who, b in taken.get((p.protocol, port), ())
                          if who != owner and overlap.collide(b, p.binding())), None)
            if clash is not None:
                result.conflicts.append(
                    f"{p.compose_service} ({p.file}:{p.line}) publishes {p.label}/{p.protocol}"
                    f", which {clash} has: not recorded; resolve it, then run "
                    "`portledger init --update`")
                continue
            same = mine.get((p.start, p.end, p.protocol))
            if same is not None:
                if same.host_ip != p.host_ip:
                    same.host_ip = None  # published on several addresses: every address
                continue
            entries.append(Entry(p.start, p.end, p.protocol, p.host_ip, p.target, p))
            mine[(p.start, p.end, p.protocol)] = entries[-1]
            take(owner, p.binding())
        if entries:
            result.services[owner] = entries
    result.published = list(published)
    _name_and_place(result, ranges, existing)
    return result


def _recorded(ledger: Ledger, owner: str, p: Published) -> bool:
    service = ledger.services.get(owner)
    return service is not None and any(
        a.protocol == p.protocol and a.start <= p.start and p.end <= a.end
        and overlap.addresses_overlap(a.host_ip, p.host_ip) for a in service.ports)


def _range_of(port: int, ranges: Sequence[RangeSpec]) -> RangeSpec | None:
    return next((r for r in ranges if r.start <= port <= r.end), None)


def _category(entries: Sequence[Entry], ranges: Sequence[RangeSpec]) -> str:
    """The range holding most of the service's ports (an unreserved one first; ties:
    the lower range); for ports outside every range, the nearest unreserved range."""
    held = [r for e in entries if (r := _range_of(e.start, ranges)) is not None]
    for pool in ([r for r in held if not r.reserved], held):
        if pool:
            counts = Counter(r.name for r in pool)
            return min(counts, key=lambda n: (-counts[n], next(
                r.start for r in ranges if r.name == n)))
    port = entries[0].start
    open_ = [r for r in ranges if not r.reserved] or list(ranges)
    return min(open_, key=lambda r: (min(abs(port - r.start), abs(port - r.end)), r.start)).name


def _pretty(name: str) -> str:
    return _PRETTY.get(name, name)


def exception_for(entry: Entry, names: list[str], category: RangeSpec,
                  ranges: Sequence[RangeSpec], well_known: str = "bundled") -> str | None:
    """The reason a port may stand where it is (as PL105, PL106, PL107 and PL109 ask),
    or None when it needs none: a registered port is its "standard PostgreSQL port"
    (the well-known name), another says where it lies. ``well_known`` is the ledger's
    ``settings.well_known`` (a new ledger has the default)."""
    lo, hi = entry.start, entry.end
    reasons = []
    reserved = next((r for r in ranges if r.reserved and overlap.ranges_overlap(
        lo, hi, r.start, r.end)), None)
    where = _range_of(lo, ranges)
    if reserved is not None:
        reasons.append(f"in the reserved range {reserved.name} "
                       f"({reserved.start}-{reserved.end})")
    elif not (category.start <= lo and hi <= category.end):
        reasons.append(f"in the {where.name} range, not its category {category.name}"
                       if where is not None else "outside every range")
    if lo < 1024:
        reasons.append("a system port (below 1024)")
    standard = None
    if hi - lo <= 1000:
        for port in range(lo, hi + 1):
            registered = wellknown.owner(port, entry.protocol, well_known)
            if registered is None:
                continue
            # The port's registered name, whoever uses it: PL109 asks for a reason
            # when the service's own names are not that name.
            standard = standard or registered[0]
            if not wellknown.belongs_to(registered, names):
                reasons.append(f"registered to {registered[0]} "
                               f"({wellknown.source_name(well_known)})")
            break
    if not reasons:
        return None
    if standard is not None:
        return f"standard {_pretty(standard)} port"
    return "; ".join(reasons) + ", as published when portledger was adopted"


def _name_and_place(result: Plan, ranges: Sequence[RangeSpec],
                    existing: Ledger | None) -> None:
    by_name = {r.name: r for r in ranges}
    well_known = existing.well_known if existing is not None else "bundled"
    for owner, entries in result.services.items():
        old = existing.services.get(owner) if existing is not None else None
        if old is not None:
            category = old.category
            used = {a.name for a in old.ports}
            names = [owner, *old.compose]
        else:
            category = _category(entries, ranges)
            used = set()
            names = [owner, *sorted(result.aliases.get(owner, ()))]
        result.categories[owner] = category
        for e in entries:
            registered = wellknown.owner(e.target, e.protocol, well_known)
            base = (_NOT_NAME.sub("-", registered[0].lower()).strip("-._")
                    if registered else "") or f"{e.protocol}-{e.target}"
            name = base if base not in used else f"{base}-{e.start}"
            while name in used:
                name += "-2"
            used.add(name)
            e.name = name
            r = by_name.get(category)
            if r is not None:
                e.exception = exception_for(e, names, r, ranges, well_known)


# --- the text ---------------------------------------------------------------------------


def _scalar(text: str) -> str:
    from portledger.fixes.edits import yaml_scalar

    return yaml_scalar(text)


def _flow_entry(e: Entry) -> str:
    port = str(e.start) if e.start == e.end else f'"{e.start}-{e.end}"'
    parts = [f"port: {port}"]
    if e.protocol != "tcp":
        parts.append(f"protocol: {e.protocol}")
    if e.host_ip:
        parts.append(f"host_ip: {json.dumps(e.host_ip)}")
    if e.start == e.end:
        parts.append(f"target: {e.target}")
    if e.exception:
        parts.append(f"exception: {json.dumps(e.exception, ensure_ascii=False)}")
    return "{" + ", ".join(parts) + "}"


def service_block(name: str, category: str, aliases: Sequence[str], entries: Sequence[Entry],
                  indent: str = "  ") -> list[str]:
    """The lines of one new service (without the services: key)."""
    lines = [f"{indent}{name}:", f"{indent}  category: {category}"]
    if aliases:
        lines.append(f"{indent}  compose: [{', '.join(json.dumps(a) for a in aliases)}]")
    lines.append(f"{indent}  ports:")
    lines += port_lines(entries, indent + "    ")
    return lines


def port_lines(entries: Sequence[Entry], indent: str) -> list[str]:
    lines = []
    for e in entries:
        w = e.where
        lines.append(f"{indent}{e.name}: {_flow_entry(e)}  # {w.file}:{w.line}")
    return lines


def comment_lines(result: Plan, indent: str = "  ") -> list[str]:
    lines = []
    if result.conflicts:
        lines.append(f"{indent}# CONFLICTS today, not recorded (check reports them):")
        lines += [f"{indent}#   {c}" for c in result.conflicts]
    if result.unresolved:
        lines.append(f"{indent}# Ports with a variable and no default (not recorded):")
        lines += [f"{indent}#   {u}" for u in result.unresolved]
    return lines


def render(result: Plan, ranges: Sequence[RangeSpec]) -> str:
    """The whole ledger text."""
    out = [
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/portledger/"
        "portledger/main/schemas/port-mapping.schema.json",
        "#",
        "# The port ledger: every host port, who owns it, and why. Written by",
        f"# `portledger init` from {result.projects} compose project"
        f"{'s' * (result.projects != 1)}; review it and commit it.",
        "version: 1",
        "",
        "ranges:",
    ]
    for r in ranges:
        out += [f"  {r.name}:", f"    start: {r.start}", f"    end: {r.end}"]
        if r.description:
            out.append(f"    description: {_scalar(r.description)}")
        if r.reserved:
            out.append("    reserved: true")
    out += ["", "services:" if result.services else "services: {}"]
    for name in sorted(result.services):
        out += service_block(name, result.categories[name],
                             sorted(result.aliases.get(name, ())), result.services[name])
    out += comment_lines(result)
    out += ["", "# Which compose projects `check` reads: by default every compose file below",
            "# this folder. Declare or narrow them here (see the README):",
            "# compose:",
            '#   files: ["**/compose*.y*ml", "**/docker-compose*.y*ml"]']
    return "\n".join(out) + "\n"


def unresolved(findings: Sequence[Finding]) -> list[str]:
    return [f"{f.file}:{f.line}: {f.message}" for f in findings if f.code == "PL206"]


def verify(text: str, path: str, published: Sequence[Published],
           selection: Selection | None = None) -> list[Finding]:
    """The findings ``check`` reports for the ledger ``text`` and these bindings.

    Built in memory from the text (nothing is written), with the same rules in the same
    way as :func:`portledger.check.loading.run`."""
    try:
        doc = yamlio.load(path, data=text.encode("utf-8"))
    except yamlio.YamlError as e:
        return [ledger_mod.yaml_syntax(e)]
    findings = ledger_mod.duplicate_keys(doc) + ledger_mod.validate(doc)
    if findings:
        return sorted(findings)
    ledger, more = ledger_mod.build(doc)
    findings += more
    for check in LEDGER_CHECKS:
        findings.extend(check(ledger))
    shown: list[Published] = []
    seen: set[tuple[str, int, int, str]] = set()
    for p in published:
        service = ledger.service_for_compose_name(p.compose_service)
        q = Published(**{**p.__dict__, "owner": service.name if service is not None
                         else f"{p.project}:{p.compose_service}"})
        place(q, ledger)
        shown.append(q)
        for f in compare(q, ledger, service):
            key = (q.file, q.line, q.column, f.code)
            if key not in seen:
                seen.add(key)
                findings.append(f)
    findings.extend(duplicates(shown))
    if selection is not None:
        from portledger.check.loading import selection_findings

        findings.extend(selection_findings(selection, ledger))
    return sorted(set(findings))
