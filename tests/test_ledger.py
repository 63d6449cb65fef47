"""The ledger module: loading, the shipped ledger, its schema, and the model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ledger_fixtures import ROOT, SHIPPED_LEDGER

from portledger import check, cli, yamlio
from portledger.errors import FatalError
from portledger.ledger import model as ledger

# The seed's current allocations: (service, port name, port, protocol).
SEED_ALLOCATIONS = [
    ("postgresql", "primary", 5432, "tcp"),
    ("postgresql", "test", 5433, "tcp"),
    ("neo4j", "browser", 7474, "tcp"),
    ("neo4j", "bolt", 7687, "tcp"),
    ("redis", "primary", 6379, "tcp"),
    ("qdrant", "http", 6333, "tcp"),
    ("digi-core", "http", 8000, "tcp"),
    ("pcs-api", "http", 8002, "tcp"),
    ("pcs-web", "http", 8003, "tcp"),
    ("lernmi", "http", 8004, "tcp"),
    ("beep-boop", "http", 8005, "tcp"),
    ("grafana", "http", 3000, "tcp"),
    ("prometheus", "http", 9090, "tcp"),
]

SEED_RANGES = {
    "core-infrastructure": (1000, 1999, False),
    "application": (2000, 2999, False),
    "monitoring": (3000, 3999, False),
    "development": (4000, 4999, False),
    "future": (5000, 5999, True),
    "backup": (6000, 6999, False),
    "high-priority": (7000, 7999, True),
    "user-facing": (8000, 8999, False),
}


@pytest.fixture(scope="module")
def shipped() -> ledger.Ledger:
    model, findings = ledger.load(SHIPPED_LEDGER)
    assert findings == []
    assert model is not None
    return model


def test_shipped_ledger_is_clean() -> None:
    result = check.run(SHIPPED_LEDGER, compose=False)
    assert result.findings == []


def test_shipped_ledger_is_clean_through_the_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the ledger is found upward from the current folder
    assert cli.main(["check", "--no-compose", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"findings": [],
                   "summary": {"errors": 0, "warnings": 0, "notices": 0, "files": 1,
                               "suppressed": 0, "baselined": 0}}


def test_shipped_ledger_is_clean_with_the_bundled_services_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from portledger.ledger import wellknown

    monkeypatch.delenv("PORTLEDGER_SERVICES_FILE")
    monkeypatch.setattr(wellknown, "SYSTEM_FILE", tmp_path / "no-services")
    assert check.run(SHIPPED_LEDGER, compose=False).findings == []


def test_shipped_ledger_encodes_every_seed_allocation(shipped: ledger.Ledger) -> None:
    got = {(a.service, a.name, a.start, a.protocol) for a in shipped.allocations()}
    for allocation in SEED_ALLOCATIONS:
        assert allocation in got
    assert len(got) == len(SEED_ALLOCATIONS)
    assert all(a.start == a.end for a in shipped.allocations())


def test_shipped_ledger_encodes_the_seed_ranges(shipped: ledger.Ledger) -> None:
    got = {r.name: (r.start, r.end, r.reserved) for r in shipped.ranges.values()}
    assert got == SEED_RANGES


def test_shipped_ledger_keeps_standard_ports_as_documented_exceptions(
    shipped: ledger.Ledger,
) -> None:
    postgres = {a.name: a for a in shipped.services["postgresql"].ports}
    assert postgres["primary"].exception
    assert "standard PostgreSQL port" in postgres["primary"].exception
    # Every port outside its category's range says why.
    for service in shipped.services.values():
        r = shipped.ranges[service.category]
        for a in service.ports:
            if not r.start <= a.start <= r.end:
                assert a.exception, f"{service.name}.{a.name}"
    assert shipped.services["digi-core"].priority == 1
    assert shipped.service_for_compose_name("postgres") is shipped.services["postgresql"]
    assert shipped.service_for_compose_name("digi-core-app") is shipped.services["digi-core"]


def test_shipped_ledger_validates_against_the_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "port-mapping.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yamlio.load(SHIPPED_LEDGER).data
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert list(validator.iter_errors(data)) == []


def test_shipped_ledger_points_editors_at_the_schema() -> None:
    first = SHIPPED_LEDGER.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=schemas/port-mapping.schema.json"
    assert (SHIPPED_LEDGER.parent / "schemas" / "port-mapping.schema.json").is_file()


def test_the_installed_schema_is_the_repository_schema() -> None:
    assert ledger.schema_path().read_bytes() == (
        ROOT / "schemas" / "port-mapping.schema.json"
    ).read_bytes()


def test_schema_describes_every_property() -> None:
    schema = json.loads(ledger.schema_path().read_text())
    missing = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and "description" not in sub:
                    missing.append(f"{where}.{name}")
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(schema, "")
    assert missing == []


def test_missing_ledger_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="no such file"):
        ledger.load(tmp_path / "nope.yml")


def test_directory_as_ledger_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="is a directory"):
        ledger.load(tmp_path)


def test_find_ledger_looks_upward(tmp_path: Path) -> None:
    (tmp_path / "port-mapping.yml").write_text("version: 1\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert ledger.find_ledger(deep) == (tmp_path / "port-mapping.yml").resolve()
    assert ledger.find_ledger(Path("/")) in (None, Path("/port-mapping.yml"))


def test_model_defaults(tmp_path: Path) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text(
        "version: 1\n"
        "ranges: {app: {start: 2000, end: 2999}}\n"
        "services:\n"
        "  api:\n"
        "    category: app\n"
        "    ports: {http: {port: 2000}, pool: {port: '2100-2110', protocol: udp}}\n"
    )
    model, findings = ledger.load(path)
    assert findings == [] and model is not None
    assert model.ephemeral == ledger.DEFAULT_EPHEMERAL == (32768, 60999)
    assert model.compose_files == ledger.DEFAULT_COMPOSE_FILES
    api = model.services["api"]
    assert (api.status, api.priority, api.depends_on, api.compose) == ("active", None, [], [])
    http, pool = api.ports
    assert (http.start, http.end, http.protocol, http.host_ip, http.label) == (
        2000, 2000, "tcp", None, "2000")
    assert (pool.start, pool.end, pool.protocol, pool.label) == (2100, 2110, "udp", "2100-2110")
    assert (pool.span.line, pool.span.column) == (6, 46)
    assert model.range_of(2500) is model.ranges["app"]
    assert model.range_of(3000) is None


def test_schema_message_for_a_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text("version: 1\nranges: {app: {start: 2000, end: 2999}}\nservices: []\n")
    _, (finding,) = ledger.load(path)
    assert (finding.code, finding.line, finding.column) == ("PL100", 3, 11)
    assert finding.message == "services: expected mapping, got list"


def test_schema_message_for_a_bad_name(tmp_path: Path) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text("version: 1\nranges: {App: {start: 2000, end: 2999}}\nservices: {}\n")
    _, (finding,) = ledger.load(path)
    assert (finding.code, finding.line, finding.column) == ("PL100", 2, 10)
    assert "name 'App' must be lower-case" in finding.message


def test_schema_message_for_a_bad_status(tmp_path: Path) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text(
        "version: 1\nranges: {app: {start: 2000, end: 2999}}\n"
        "services:\n  api: {category: app, status: live, ports: {}}\n"
    )
    _, (finding,) = ledger.load(path)
    assert (finding.code, finding.line, finding.column) == ("PL100", 4, 32)
    assert finding.message == (
        "services.api.status: 'live' is not one of: active, planned, deprecated"
    )


def test_a_ledger_with_no_last_line_break_is_checked_and_cached(
        tmp_path: Path, private_cache: Path) -> None:
    """Its outline (kept in the ledger cache) ended at libyaml's end mark, one line past
    the text: an internal error on every check of such a ledger."""
    import subprocess
    import sys

    (tmp_path / "port-mapping.yml").write_text(
        "version: 1\nranges:\n  web: {start: 8000, end: 8999}\nservices:\n"
        "  a:\n    category: web\n    ports: {http: {port: 8000}}\n"
        "  b:\n    category: web\n    ports: {http: {port: 8001}}")
    for _ in range(2):  # the cache written, then read
        done = subprocess.run([sys.executable, "-m", "portledger", "check", "--no-compose"],
                              cwd=tmp_path, capture_output=True, text=True)
        assert (done.returncode, done.stderr) == (0, "")
    assert list(private_cache.glob("ledger-*.json"))
