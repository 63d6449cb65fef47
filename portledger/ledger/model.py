"""The port ledger (``port-mapping.yml``): loading, schema validation, and its model."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portledger import yamlio
from portledger.errors import FatalError
from portledger.findings import Finding, make, rule
from portledger.ledger.composeconfig import (  # noqa: F401 (the model's names too)
    DEFAULT_COMPOSE_FILES,
    DEFAULT_SKIP,
    ComposeConfig,
    DeclaredProject,
    compose_config,
    peek_compose,
)
from portledger.ledger.hosts import HostMap, Placement, hosts_config, on  # noqa: F401

if TYPE_CHECKING:
    from portledger.check.cache import LedgerCache

LEDGER_NAME = "port-mapping.yml"
DEFAULT_EPHEMERAL = (32768, 60999)
WIDE_RANGE = 1024
"""Allocations spanning more ports than this are scanned, not indexed port by port."""


@dataclass(frozen=True)
class Range:
    name: str
    start: int
    end: int
    description: str
    reserved: bool
    doc: yamlio.Document = field(compare=False, repr=False)

    @property
    def span(self) -> yamlio.Span:
        """Where the range's key stands (looked up when asked)."""
        return self.doc.key_span(("ranges", self.name))


@dataclass(unsafe_hash=True)
class Allocation:
    """One named port (or port range) of a ledger service.

    Compared and hashed by value like a frozen dataclass, but not frozen: a frozen one
    sets each field through ``object.__setattr__``, five times slower to make, and a
    large ledger makes tens of thousands. Nothing changes one after it is built.
    """

    service: str
    name: str
    start: int
    end: int
    protocol: str
    host_ip: str | None
    target: int | None
    health: str | None
    exception: str | None
    doc: yamlio.Document = field(compare=False, repr=False)
    order: int = 0
    """Its place in the ledger: allocations sort in document order by it."""
    health_scheme: str = field(default="http", compare=False)
    health_status: tuple[int, ...] = field(default=(), compare=False)
    """The statuses that count as healthy (empty: any 2xx)."""
    health_host: str | None = field(default=None, compare=False)
    hosts: tuple[str, ...] = field(default=(), compare=False)
    """``hosts:``: the hosts it is limited to (empty: every host of its service)."""

    @property
    def span(self) -> yamlio.Span:
        """Where the ``port:`` value stands (looked up when asked: most are never)."""
        return self.doc.span(("services", self.service, "ports", self.name, "port"))

    @property
    def label(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    def binding(self) -> tuple[int, int, str, str | None]:
        return (self.start, self.end, self.protocol, self.host_ip)


@dataclass
class Service:
    name: str
    category: str
    description: str
    owner: str | None
    status: str
    priority: int | None
    depends_on: list[str]
    compose: list[str]
    ports: list[Allocation]
    doc: yamlio.Document = field(compare=False, repr=False)
    compose_project: str | None = None
    process_name: str | None = None
    """``process:`` (or its ``name``): the process name of the service run natively."""
    process_cmdline: str | None = None
    """``process.cmdline``: a regular expression searched in the process's command line."""

    @property
    def span(self) -> yamlio.Span:
        """Where the service's key stands."""
        return self.doc.key_span(("services", self.name))


@dataclass
class Ledger:
    path: str
    doc: yamlio.Document
    ranges: dict[str, Range] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    ephemeral: tuple[int, int] = DEFAULT_EPHEMERAL
    compose: ComposeConfig = ComposeConfig()
    well_known: str = "bundled"
    """``settings.well_known``: "bundled" (the IANA list shipped) or "system"
    (/etc/services); see :mod:`portledger.ledger.wellknown`."""
    hosts: HostMap = field(default_factory=HostMap)
    """The ``hosts`` section (empty: one port space); see :mod:`portledger.ledger.hosts`."""

    def placement(self, a: Allocation) -> Placement:
        """The hosts on which allocation ``a`` holds (None: every host)."""
        return self.hosts.allocation(a.service, a.hosts)

    @property
    def compose_files(self) -> tuple[str, ...]:
        return self.compose.files

    @property
    def compose_exclude(self) -> tuple[str, ...]:
        return self.compose.exclude

    @property
    def root(self) -> Path:
        return Path(self.path).resolve().parent

    def allocations(self) -> Iterator[Allocation]:
        for service in self.services.values():
            yield from service.ports

    def holders(self, protocol: str, port: int) -> Sequence[Allocation]:
        """The allocations whose ports include ``port``/``protocol`` (on any host
        address), in document order. Indexed on first use: rules and plans ask per port.
        Read-only: the sequence may be the index's own."""
        index: dict[tuple[str, int], list[Allocation]] | None = getattr(
            self, "_holders_cache", None)
        if index is None:
            index = defaultdict(list)
            wide: list[Allocation] = []
            for a in self.allocations():
                if a.end - a.start >= WIDE_RANGE:
                    wide.append(a)  # not one index entry per port of a huge range
                else:
                    for p in range(a.start, a.end + 1):
                        index[(a.protocol, p)].append(a)
            self._holders_cache = index
            self._wide_cache = wide
        found = index.get((protocol, port), ())
        if not self._wide_cache:
            return found
        wide = [a for a in self._wide_cache
                if a.protocol == protocol and a.start <= port <= a.end]
        if wide:
            return sorted([*found, *wide], key=lambda a: a.order)
        return found

    def holders_on(self, protocol: str, port: int, host: str | None) -> Sequence[Allocation]:
        """:meth:`holders` that hold on ``host`` (None: on any host)."""
        found = self.holders(protocol, port)
        if host is None or not self.hosts:
            return found
        return [a for a in found if on(self.placement(a), host)]

    def on_host(self, host: str) -> Ledger:
        """This ledger as host ``host`` sees it: only the allocations that hold there (for
        ``probe --host``); its services, ranges and settings as they are."""
        services = {name: replace(s, ports=[a for a in s.ports if on(self.placement(a), host)])
                    for name, s in self.services.items()}
        return replace(self, services=services)

    def range_of(self, port: int) -> Range | None:
        for r in self.ranges.values():
            if r.start <= port <= r.end:
                return r
        return None

    def service_for_compose_name(self, name: str) -> Service | None:
        """The ledger service a compose service name stands for (its name or an alias)."""
        return self._aliases().get(name)

    def _aliases(self) -> dict[str, Service]:
        cached: dict[str, Service] | None = getattr(self, "_alias_cache", None)
        if cached is None:
            cached = {}
            for s in self.services.values():
                cached.setdefault(s.name, s)
            for s in self.services.values():
                for alias in s.compose:
                    cached.setdefault(alias, s)
            self._alias_cache = cached
        return cached


def find_ledger(start: Path | None = None) -> Path | None:
    """``port-mapping.yml`` in ``start`` or the nearest folder above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / LEDGER_NAME
        if candidate.is_file():
            return candidate
    return None


def schema_path() -> Path:
    """The shipped JSON Schema of the ledger."""
    return _schema_dir() / "port-mapping.schema.json"


def _schema_dir() -> Path:
    from portledger.paths import schemas_folder

    return schemas_folder()


@cache
def _validator() -> Any:
    import jsonschema  # heavy: imported only when a ledger is validated

    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    # JSON Schema counts 2000.0 as an integer; the ledger does not (a port written
    # `2000.0` or `9e3` is a located schema error, not a float handed to the model).
    strict = cls.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
    cls = jsonschema.validators.extend(cls, type_checker=strict)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) if path else "top level"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "mapping", list: "list", str: "string", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _schema_message(error: Any) -> tuple[tuple[Any, ...], bool, str]:
    """A readable message for one jsonschema error: (path, point at key?, message).

    A value is quoted only when short and on one line, a key only when it is a name: the
    file may not be a ledger at all (a line of /etc/shadow would be a key)."""
    from portledger.schemacheck import shown_key, shown_value

    path = tuple(error.absolute_path)
    where = _dotted(path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else ""
        import difflib  # only for an unknown key (not on every hook run)

        hint = difflib.get_close_matches(str(key), allowed, n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else f" (allowed: {', '.join(allowed)})"
        return path + (key,), True, f"{where}: unknown key {shown_key(key)}{did}"
    if kind == "required":
        return path, True, f"{where}: {error.message.replace(' property', ' key')}"
    if kind == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = " or ".join(expected)
        expected = {"object": "mapping", "array": "list"}.get(str(expected), expected)
        got = _type_name(error.instance)
        value = None if isinstance(error.instance, (dict, list)) else shown_value(error.instance)
        shown = f" {value}" if value else ""
        return path, False, f"{where}: expected {expected}, got {got}{shown}"
    if kind == "propertyNames":
        return path, True, f"{where}: {error.message}"
    if kind == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        value = shown_value(error.instance) or "the value"
        return path, False, f"{where}: {value} is not one of: {options}"
    message = error.message  # jsonschema's quotes the value: a long one, or a mapping, not
    if isinstance(error.instance, (dict, list)) or shown_value(error.instance) is None:
        message = message.replace(repr(error.instance), "the value")
    return path, False, f"{where}: {message}"


@rule("PL100", "schema", "error", "ledger does not match the JSON Schema (located by line)")
def validate(doc: yamlio.Document) -> list[Finding]:
    """The ledger does not match its JSON Schema (``schemas/port-mapping.schema.json``).

    Unknown keys are errors, not silently ignored: a typo such as ``protcol`` would
    otherwise leave the default in force. Each error names its YAML path and points at
    the offending key or value; of several explanations for one error, the clearest is
    shown (jsonschema's ``best_match``). The ledger's other rules run only on a ledger
    that matches the schema.

    Failing:

        services:
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002, protcol: udp}}

    Passing:

        services:
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002, protocol: udp}}
    """
    from portledger import schemacheck

    if doc.data is None:
        return [make(SCHEMA_RULE, doc.path, 1, 1, "the ledger is empty; expected a mapping")]
    if not doc.floats and schemacheck.surely_valid(schema_path(), doc.data, formats=True):
        return []
    # jsonschema (a tenth of a second to import) only for a ledger it must explain.
    from jsonschema.exceptions import best_match

    from portledger.schemacheck import shown_key, shown_value

    findings: list[Finding] = []
    seen: set[tuple[Any, ...]] = set()
    for error in _validator().iter_errors(doc.data):
        best = best_match([error])
        path, at_key, message = _schema_message(best)
        if "propertyNames" in best.schema_path:
            # jsonschema reports a bad key at its mapping; point at the key itself.
            key = best.instance
            path = tuple(best.absolute_path) + (key,)
            message = (
                f"{_dotted(tuple(best.absolute_path))}: name {shown_key(key)} must be "
                "lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
            )
            at_key = True
        elif best.validator in ("pattern", "anyOf", "oneOf", "format"):
            description = error.schema.get("description") if isinstance(error.schema, dict) else ""
            if description:
                description = description[0].lower() + description[1:].rstrip(".")
                value = shown_value(best.instance) or "the value"
                message = f"{_dotted(path)}: {value} is not valid; expected {description}"
        if (path, message) in seen:
            continue
        seen.add((path, message))
        span = doc.key_span(path) if at_key else doc.span(path)
        findings.append(
            make(SCHEMA_RULE, doc.path, span.line, span.column, message,
                 end_line=span.end_line, end_column=span.end_column)
        )
    return sorted(findings)


SCHEMA_RULE = validate.rule  # type: ignore[attr-defined]


def _port_span(text: Any) -> tuple[int, int] | None:
    if isinstance(text, int) and not isinstance(text, bool):
        return (text, text)
    if isinstance(text, str) and "-" in text:
        a, b = text.split("-", 1)
        return (int(a), int(b))
    return None


def build(doc: yamlio.Document) -> tuple[Ledger, list[Finding]]:
    """The model of a schema-valid ledger document, and PL100 findings for what the
    schema cannot say (a port range written backwards or beyond 65535)."""
    data = doc.data
    ledger = Ledger(doc.path, doc)
    findings: list[Finding] = []
    settings = data.get("settings") or {}
    if "ephemeral" in settings:
        e = settings["ephemeral"]
        ledger.ephemeral = (e["start"], e["end"])
    ledger.well_known = settings.get("well_known", "bundled")
    ledger.compose = compose_config(data.get("compose") or {})
    for name, r in data["ranges"].items():
        if r["start"] > r["end"]:
            s = doc.span(("ranges", name, "end"))
            findings.append(make(SCHEMA_RULE, doc.path, s.line, s.column,
                                 f"ranges.{name}: end {r['end']} is below start {r['start']}"))
        ledger.ranges[name] = Range(
            name, r["start"], r["end"], r.get("description", ""), bool(r.get("reserved")), doc
        )
    order = 0
    for name, s in data["services"].items():
        allocations = []
        for pname, p in (s.get("ports") or {}).items():
            bounds = _port_span(p["port"])
            assert bounds is not None  # the schema allows only these two forms
            start, end = bounds
            if not (1 <= start <= 65535 and 1 <= end <= 65535) or start > end:
                pspan = doc.span(("services", name, "ports", pname, "port"))
                findings.append(make(SCHEMA_RULE, doc.path, pspan.line, pspan.column,
                                     f"services.{name}.ports.{pname}.port: {p['port']!r} is not "
                                     "a range of ports from 1 to 65535, low to high"))
                continue
            allocations.append(
                Allocation(
                    service=name,
                    name=pname,
                    start=start,
                    end=end,
                    protocol=p.get("protocol", "tcp"),
                    host_ip=p.get("host_ip"),
                    target=p.get("target"),
                    health=p.get("health"),
                    exception=p.get("exception"),
                    doc=doc,
                    order=order,
                    health_scheme=p.get("health_scheme", "http"),
                    health_status=tuple(p.get("health_status", ())),
                    health_host=p.get("health_host"),
                    hosts=tuple(p.get("hosts", ())),
                )
            )
            order += 1
        ledger.services[name] = Service(
            name=name,
            category=s["category"],
            description=s.get("description", ""),
            owner=s.get("owner"),
            status=s.get("status", "active"),
            priority=s.get("priority"),
            depends_on=list(s.get("depends_on", [])),
            compose=list(s.get("compose", [])),
            ports=allocations,
            doc=doc,
            compose_project=s.get("compose_project"),
            process_name=(process if isinstance(process := s.get("process"), str)
                          else (process or {}).get("name")),
            process_cmdline=None if isinstance(process, str) else (process or {}).get("cmdline"),
        )
    ledger.hosts = hosts_config(data.get("hosts"))
    for path, message in ledger.hosts.unknown(ledger.services):
        s = doc.span(path)
        findings.append(make(SCHEMA_RULE, doc.path, s.line, s.column, message))
    return ledger, findings


@rule("PL101", "yaml-syntax", "error", "a file is not parseable YAML (ledger or compose)")
def yaml_syntax(error: yamlio.YamlError) -> Finding:
    """A file cannot be read as YAML.

    Besides syntax errors this covers what portledger refuses to read: invalid UTF-8
    (the byte offset is given), a file over 8 MiB, more than one document, tags other
    than YAML's standard ones (``!!python/object`` is never executed), and aliases that
    would expand a small file into millions of nodes ("billion laughs"). For a compose
    project it is also what stops it loading as Docker Compose would refuse it, and what
    portledger does not read on purpose (docs/compose-stricter.md ``S7``-``S9``): a file
    outside the repository's root, named but not read or quoted; in ``diff`` and
    ``check-commits``, a committed symbolic link that leads to no committed file (there
    a finding at the link, where a project that merely fails to load is a note).

    Failing:

        services:
          pcs-api: {category: user-facing, ports: {http: {port: 8002}}

    Passing:

        services:
          pcs-api: {category: user-facing, ports: {http: {port: 8002}}}
    """
    return make(yaml_syntax.rule, error.path, error.line, error.column,  # type: ignore[attr-defined]
                error.message)


@rule("PL102", "duplicate-key", "error",
      "a mapping key repeated (YAML loaders silently keep the last)")
def duplicate_keys(doc: yamlio.Document) -> list[Finding]:
    """A mapping has the same key twice.

    Most YAML loaders keep the last value without a word, so a service written twice
    silently loses its first ports. Docker Compose refuses such a file.

    Failing:

        services:
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002}}
          pcs-api:
            category: user-facing
            ports: {http: {port: 8003}}

    Passing:

        services:
          pcs-api:
            category: user-facing
            ports: {http: {port: 8002}, admin: {port: 8003}}
    """
    this = duplicate_keys.rule  # type: ignore[attr-defined]
    seen: set[yamlio.Span] = set()
    findings = []
    for d in doc.duplicates:
        if d.span in seen:  # a key met again through a merge (<<) of its mapping
            continue
        seen.add(d.span)
        findings.append(
            make(this, doc.path, d.span.line, d.span.column,
                 f"{_dotted(d.path)}: key {d.key!r} repeats the one on line {d.first.line}; "
                 "YAML loaders silently keep only the last",
                 end_line=d.span.end_line, end_column=d.span.end_column)
        )
    return findings


def load(path: str | Path,
         cached: LedgerCache | None = None) -> tuple[Ledger | None, list[Finding]]:
    """Read, validate and model the ledger at ``path``.

    Returns the ledger (None when it is not valid enough to model) and the PL100-PL102
    findings met on the way. A missing ledger is a :class:`FatalError` (exit 2). With
    ``cached``, the values of a ledger whose bytes loaded before without a finding come
    from it (see :class:`portledger.cache.LedgerCache`).
    """
    p = Path(path)
    if not p.exists():
        raise FatalError(f"{path}: no such file (create one, or pass --mapping FILE)")
    if p.is_dir():
        raise FatalError(f"{path}: is a directory; --mapping takes a file")
    data: bytes | None = None
    digest = ""
    if cached is not None:
        try:
            data = yamlio.read_bytes(p)
        except OSError:
            data = None  # yamlio.load reports it
        else:
            import hashlib

            digest = hashlib.sha256(data).hexdigest()
            values = cached.get(digest)
            if values is not None:
                stored = _from_values(str(p), values, p, data)  # named as yamlio.load names it
                if stored is not None:
                    return stored, []
    try:
        doc = yamlio.load(p, data=data, section="services")  # a long one in pieces
    except yamlio.YamlError as e:
        return None, [yaml_syntax(e)]
    findings = duplicate_keys(doc)
    schema_findings = validate(doc)
    findings.extend(schema_findings)
    if schema_findings:
        return None, findings
    ledger, more = build(doc)
    findings.extend(more)
    found = yamlio.outline(doc, "services")
    if cached is not None and digest and not findings and not doc.tags:
        cached.put(digest, {"values": doc.data, "outline": yamlio.outline_row(found)})
    if found is not None:
        yamlio.prune(doc, found)  # the services' nodes: read again where a place is needed
    return ledger, findings


def _from_values(name: str, values: Any, path: Path, data: bytes) -> Ledger | None:
    """The ledger built from values a cache kept for these bytes; None when they do not
    build without a finding (a damaged cache: the ledger is then read as usual)."""
    try:
        doc = yamlio.known(name, values["values"], yamlio.read_text(path, data),
                           yamlio.outline_of_row(values["outline"]))
        ledger, findings = build(doc)
    except (KeyError, TypeError, ValueError, AttributeError, yamlio.YamlError):
        return None
    return None if findings else ledger


def load_valid(path: str | Path) -> Ledger:
    """The ledger at ``path``, or a FatalError naming its first error (for commands that
    need a valid ledger: who, allocate, export)."""
    from portledger.paths import display_path

    ledger, findings = load(display_path(path))
    errors = [f for f in findings if f.severity.value == "error"]
    if ledger is None or errors:
        first = (errors or findings)[0]
        raise FatalError(
            f"{first.file}:{first.line}:{first.column}: {first.code} {first.message} "
            "(run `portledger check`)"
        )
    return ledger
