"""The allocation policy, ``allocate``, ``export`` and ledger variables in compose files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portledger import check, cli
from portledger.ledger import allocation as allocate
from portledger.ledger import model as ledger_mod
from portledger.ledger.allocation import keeper

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "port-mapping.yml"


@pytest.fixture
def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "port-mapping.yml"
    shutil.copy(SHIPPED, target)
    monkeypatch.chdir(tmp_path)
    return target


def test_allocate_prints_the_next_free_block(shipped_copy: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--count", "3"]) == 0
    assert capsys.readouterr().out == (
        "reports.http-1 8006/tcp\nreports.http-2 8007/tcp\nreports.http-3 8008/tcp\n"
    )


def test_allocate_write_adds_the_service_keeping_the_file(
    shipped_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = shipped_copy.read_text()
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--target", "8000",
                     "--write"]) == 0
    out = capsys.readouterr().out
    after = shipped_copy.read_text()
    added = (
        "  reports:\n"
        "    category: user-facing\n"
        "    ports:\n"
        "      http: {port: 8001, target: 8000}\n"
    )
    # Inserted after the last service, before the `compose:` section; nothing else moved.
    assert after == before.replace("\ncompose:\n", "\n" + added + "\ncompose:\n", 1) or \
        after == before.replace("\n\ncompose:\n", "\n" + added + "\ncompose:\n", 1)
    assert out.startswith("reports.http 8001/tcp\n--- a/port-mapping.yml\n")
    assert cli.main(["check", "--no-compose", "--fail-level", "warning"]) == 0


def test_allocate_write_to_an_existing_service_keeps_its_ports_together(
    shipped_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["allocate", "grafana", "--category", "monitoring", "--name", "metrics",
                     "--write"]) == 0
    ledger = ledger_mod.load_valid(shipped_copy)
    assert [(a.name, a.start) for a in ledger.services["grafana"].ports] == [
        ("http", 3000), ("metrics", 3001)]
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "message"), [
    (["allocate", "x", "--category", "nope"], "category 'nope' is not a range"),
    (["allocate", "grafana", "--category", "user-facing"], "grafana is in category monitoring"),
    (["allocate", "grafana", "--category", "monitoring"], "already has a port named 'http'"),
    (["allocate", "x", "--category", "future"], "no run of 1 free tcp port in future"),
    (["allocate", "x", "--category", "monitoring", "--count", "0"], "--count must be 1"),
])
def test_allocate_refusals(shipped_copy: Path, capsys: pytest.CaptureFixture[str],
                           argv: list[str], message: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_export_env(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.main(["export"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "DIGI_CORE_HTTP_PORT=8000" in lines
    assert "PCS_API_HTTP_PORT=8002" in lines
    assert lines[0] == "POSTGRESQL_PRIMARY_PORT=5432"
    assert len(lines) == 13
    assert cli.main(["export", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["BEEP_BOOP_HTTP_PORT"] == "8005"


def test_compose_variables_from_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(SHIPPED, tmp_path / "port-mapping.yml")
    (tmp_path / "examples" / "digi" / "core").mkdir(parents=True)
    (tmp_path / "examples" / "digi" / "core" / "compose.yaml").write_text(
        'services:\n  digi-core-app:\n    image: x\n    ports:\n'
        '      - "${DIGI_CORE_HTTP_PORT}:8000"\n'
        '      - "${PCS_API_HTTP_PORT:?set by the ledger}:8000"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGI_CORE_HTTP_PORT", raising=False)
    monkeypatch.delenv("PCS_API_HTTP_PORT", raising=False)
    # PL208 left out: the shipped ledger's docker-compose*.y*ml glob matches nothing here.
    assert cli.main(["check", "--format", "json", "--ignore", "PL208"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    # Resolved from the ledger: 8000 is digi-core's (fine), 8002 is pcs-api's (PL202),
    # and neither variable counts as unset (no PL206).
    assert [(f["code"], f["line"], f["port"]) for f in findings] == [("PL202", 6, 8002)]
    # The environment still wins over the ledger, as it wins over .env in Compose.
    monkeypatch.setenv("DIGI_CORE_HTTP_PORT", "8009")
    assert cli.main(["check", "--format", "json"]) == 1
    codes = [(f["code"], f["port"]) for f in json.loads(capsys.readouterr().out)["findings"]]
    assert ("PL203", 8009) in codes or ("PL201", 8009) in codes


def test_keeper_rules() -> None:
    ledger = ledger_mod.load_valid(SHIPPED)
    s = ledger.services
    assert keeper(s["digi-core"], s["pcs-api"], "digi-core", "pcs-api") == (
        "digi-core", "pcs-api", "digi-core has priority 1, pcs-api priority 2")
    assert keeper(s["pcs-web"], s["pcs-api"], "pcs-web", "pcs-api") == (
        "pcs-api", "pcs-web", "same priority and status; the name that sorts first keeps it")
    assert keeper(None, s["lernmi"], "reports", "lernmi")[0] == "lernmi"
    assert keeper(s["grafana"], s["pcs-api"], "grafana", "pcs-api")[2] == (
        "same priority; grafana is active, pcs-api is planned")


# -- property: allocate never returns a port that check would then flag ----------------

RANGE_NAMES = ["alpha", "beta", "gamma", "delta"]


@st.composite
def ledgers(draw: st.DrawFn) -> dict:
    starts = sorted(draw(st.lists(st.integers(1, 64), min_size=2, max_size=4, unique=True)))
    ranges = {}
    for i, block in enumerate(starts):
        lo = block * 1000
        ranges[RANGE_NAMES[i]] = {
            "start": lo, "end": lo + draw(st.integers(5, 999)),
            "reserved": draw(st.booleans()) if i > 0 else False,
        }
    services = {}
    for i in range(draw(st.integers(0, 8))):
        cat = draw(st.sampled_from(list(ranges)))
        r = ranges[cat]
        port = draw(st.integers(r["start"], r["end"]))
        services[f"svc{i}"] = {
            "category": cat,
            "ports": {"main": {"port": port, "protocol": draw(st.sampled_from(["tcp", "udp"])),
                               "exception": "property test"}},
        }
    return {"version": 1, "ranges": ranges, "services": services}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=ledgers(), count=st.integers(1, 4), protocol=st.sampled_from(["tcp", "udp"]),
       category=st.sampled_from(RANGE_NAMES))
def test_allocate_never_gives_a_port_check_flags(
    tmp_path: Path, data: dict, count: int, protocol: str, category: str
) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text(json.dumps(data))
    ledger = ledger_mod.load_valid(path)
    if category not in ledger.ranges:
        return
    try:
        pairs = allocate.allocate(ledger, "newcomer", category, count=count, protocol=protocol)
    except Exception as e:  # noqa: BLE001 - no room is an allowed answer
        assert "no run of" in str(e)
        return
    ports = [p for _, p in pairs]
    assert ports == list(range(ports[0], ports[0] + count))
    data["services"]["newcomer"] = {
        "category": category,
        "ports": {n: {"port": p, "protocol": protocol} for n, p in pairs},
    }
    path.write_text(json.dumps(data))
    result = check.run(path, compose=False)
    about_newcomer = [f for f in result.findings if f.service == "newcomer"]
    assert about_newcomer == []
