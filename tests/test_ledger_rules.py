"""Every ledger rule (PL100-PL110) against its fixture files.

Each fixture under ``ledger/invalid/`` and ``ledger/valid/`` is a complete ledger that
names the findings it must produce in ``# expect: CODE LINE:COL`` comment lines; valid
fixtures name none. The set of (code, line, column) found must equal the set expected.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_fixtures import INVALID, VALID, expectations

from portledger import check, cli
from portledger.rules import BY_CODE

INVALID_FIXTURES = sorted(INVALID.glob("*.yml"))
VALID_FIXTURES = sorted(VALID.glob("*.yml"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def found(path: Path) -> list[tuple[str, int, int]]:
    return sorted((f.code, f.line, f.column) for f in check.run(path, compose=False).findings)


def test_there_are_fixtures() -> None:
    assert len(INVALID_FIXTURES) >= 11
    assert len(VALID_FIXTURES) >= 11


@pytest.mark.parametrize("path", INVALID_FIXTURES, ids=_ids(INVALID_FIXTURES))
def test_invalid_fixture_gives_exactly_the_expected_findings(path: Path) -> None:
    expected = expectations(path)
    own_code = path.name[:5]
    assert own_code in {code for code, _, _ in expected}, "an invalid fixture expects its rule"
    assert found(path) == expected


@pytest.mark.parametrize("path", VALID_FIXTURES, ids=_ids(VALID_FIXTURES))
def test_valid_fixture_gives_no_findings(path: Path) -> None:
    assert expectations(path) == []
    assert found(path) == []


@pytest.mark.parametrize("path", INVALID_FIXTURES + VALID_FIXTURES,
                         ids=_ids(INVALID_FIXTURES) + _ids(VALID_FIXTURES))
def test_fixture_through_the_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same findings through ``portledger check --format json``, and the exit code."""
    code = cli.main(["check", "--mapping", str(path), "--format", "json", "--no-compose"])
    out = json.loads(capsys.readouterr().out)
    got = sorted((f["code"], f["line"], f["column"]) for f in out["findings"])
    expected = expectations(path)
    assert got == expected
    has_error = any(BY_CODE[c].severity.value == "error" for c, _, _ in expected)
    assert code == (1 if has_error else 0)
    for f in out["findings"]:
        assert f["rule"] == BY_CODE[f["code"]].name
        assert f["severity"] == BY_CODE[f["code"]].severity.value
        assert f["message"]


def test_findings_name_the_service_and_port() -> None:
    (f,) = check.run(INVALID / "PL104-duplicate-allocation.yml", compose=False).findings
    assert (f.service, f.port, f.protocol) == ("pcs-api", 8000, "tcp")
    assert f.message == ("pcs-api.http 8000/tcp is already allocated to digi-core.http "
                         "(8000/tcp, line 10)")


def test_unknown_key_message_suggests_the_key() -> None:
    (f,) = check.run(INVALID / "PL100-schema-unknown-key.yml", compose=False).findings
    assert f.message == ("services.pcs-api.ports.http: unknown key 'protcol'; "
                         "did you mean 'protocol'?")


def test_warnings_fail_only_at_fail_level_warning(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(INVALID / "PL108-ephemeral-port.yml")
    assert cli.main(["check", "--mapping", path, "--no-compose"]) == 0
    assert cli.main(["check", "--mapping", path, "--no-compose", "--fail-level", "warning"]) == 1
    out = capsys.readouterr().out
    assert "PL108 ephemeral-port [warning] worker.metrics 32768 is in the ephemeral range" in out


def test_ledger_rules_do_not_run_on_a_ledger_that_fails_the_schema(tmp_path: Path) -> None:
    # 9090 would draw PL105, but the unknown key stops the ledger before the rules run.
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_text(
        "version: 1\n"
        "ranges: {monitoring: {start: 3000, end: 3999}}\n"
        "services:\n"
        "  prometheus: {category: monitoring, ports: {http: {port: 9090, prot: tcp}}}\n"
    )
    assert [f.code for f in check.run(ledger, compose=False).findings] == ["PL100"]


def test_a_duplicate_key_does_not_stop_the_other_rules(tmp_path: Path) -> None:
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_text(
        "version: 1\n"
        "ranges: {monitoring: {start: 3000, end: 3999}}\n"
        "services:\n"
        "  grafana: {category: monitoring, ports: {http: {port: 3000}}}\n"
        "  grafana: {category: monitoring, ports: {http: {port: 9100}}}\n"
    )
    assert found(ledger) == [("PL102", 5, 3), ("PL105", 5, 56)]


def test_well_known_port_respects_the_services_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = tmp_path / "services"
    services.write_text("pcs 3306/tcp pcs-api\n")
    monkeypatch.setenv("PORTLEDGER_SERVICES_FILE", str(services))
    # Now 3306 is registered to pcs (alias pcs-api), so pcs-api may hold it.
    assert found(INVALID / "PL109-well-known-port.yml") == []


def test_a_crowded_port_is_reported_once_per_entry_against_the_first() -> None:
    findings = check.run(INVALID / "PL104-duplicate-allocation-three-on-one-port.yml",
                         compose=False).findings
    assert [f.message for f in findings] == [
        "pcs-api.http 8000/tcp is already allocated to digi-core.http (8000/tcp, line 11)",
        "pcs-web.http 8000/tcp is already allocated to digi-core.http (8000/tcp, line 11)",
    ]
