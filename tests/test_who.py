"""``portledger who PORT``: who owns a port, and what range it falls in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_fixtures import INVALID, ROOT, SHIPPED_LEDGER, VALID

from portledger import cli
from portledger.commands import who
from portledger.errors import FatalError
from portledger.ledger import model as ledger

FIXTURE = "PL100-schema.yml"  # in VALID: ports on addresses, ranges, udp and sctp


def run_who(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["who", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def in_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(VALID)


def test_owned_port_on_the_shipped_ledger(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # port-mapping.yml is found from here
    model, _ = ledger.load(SHIPPED_LEDGER)
    assert model is not None
    (http,) = model.services["digi-core"].ports
    code, out, err = run_who(capsys, "8000")
    assert (code, err) == (0, "")
    assert out == (
        f"8000/tcp: digi-core.http (8000, active) port-mapping.yml:{http.span.line}\n"
        "  range: user-facing (8000-8999)\n"
        "  published by digi-core-app (compose project examples/digi/digi-core) "
        "examples/digi/digi-core/compose.yaml:7\n"
    )


def test_owned_port_on_two_addresses(capsys: pytest.CaptureFixture[str], in_valid: None) -> None:
    code, out, err = run_who(capsys, "8000", "--mapping", FIXTURE)
    assert (code, err) == (0, "")
    assert out == (
        "8000/tcp: digi-core.http (8000 on 127.0.0.1, deprecated) PL100-schema.yml:38\n"
        "8000/tcp: digi-core.http6 (8000 on ::1, deprecated) PL100-schema.yml:39\n"
        "  range: user-facing (8000-8999)\n"
    )


def test_port_inside_an_allocated_range(
    capsys: pytest.CaptureFixture[str], in_valid: None
) -> None:
    code, out, _ = run_who(capsys, "8150", "--mapping", FIXTURE)
    assert code == 0
    assert out.splitlines()[0] == (
        "8150/tcp: digi-core.workers (8100-8199, deprecated) PL100-schema.yml:42"
    )


def test_free_port(capsys: pytest.CaptureFixture[str], in_valid: None) -> None:
    code, out, err = run_who(capsys, "8001", "--mapping", FIXTURE)
    assert (code, err) == (1, "")
    assert out == (
        "8001/tcp: free in PL100-schema.yml\n  range: user-facing (8000-8999)\n"
        "  allocate would give it (category user-facing)\n"
    )


@pytest.mark.parametrize(("port", "line"), [("8001/udp", 40), ("8001/SCTP", 41)])
def test_protocols(
    capsys: pytest.CaptureFixture[str], in_valid: None, port: str, line: int
) -> None:
    code, out, _ = run_who(capsys, port, "--mapping", FIXTURE)
    assert code == 0
    proto = port.split("/")[1].lower()
    name = {"udp": "discovery", "sctp": "sctp"}[proto]
    assert out.splitlines()[0] == (
        f"8001/{proto}: digi-core.{name} (8001, deprecated) PL100-schema.yml:{line}"
    )


def test_8000_udp_is_free_on_the_shipped_ledger(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run_who(capsys, "8000/udp")
    assert code == 1
    assert out == (
        "8000/udp: free in port-mapping.yml\n  range: user-facing (8000-8999)\n"
        "  allocate would give it (category user-facing)\n"
    )


def test_reserved_system_ephemeral_and_registered(
    capsys: pytest.CaptureFixture[str], in_valid: None, fixed_services_file: Path
) -> None:
    assert run_who(capsys, "5100", "--mapping", FIXTURE)[1] == (
        "5100/tcp: free in PL100-schema.yml\n  range: future (5000-5999, reserved)\n"
        "  allocate would not give it: in the reserved range future (5000-5999)\n"
    )
    assert run_who(capsys, "80", "--mapping", FIXTURE)[1] == (
        "80/tcp: free in PL100-schema.yml\n"
        "  range: none\n"
        "  system port (below 1024)\n"
        # conftest's services file (PORTLEDGER_SERVICES_FILE), named as the source
        f"  registered to http ({fixed_services_file})\n"
        "  allocate would not give it: no range holds it\n"
    )
    # This ledger sets its ephemeral range to 49152-65535.
    assert run_who(capsys, "50000", "--mapping", FIXTURE)[1] == (
        "50000/tcp: free in PL100-schema.yml\n"
        "  range: none\n"
        "  in the ephemeral range 49152-65535\n"
        "  allocate would not give it: no range holds it\n"
    )


def test_json(capsys: pytest.CaptureFixture[str], in_valid: None) -> None:
    code, out, _ = run_who(capsys, "8000", "--mapping", FIXTURE, "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "port": 8000,
        "protocol": "tcp",
        "owners": [
            {"service": "digi-core", "name": "http", "port": "8000", "protocol": "tcp",
             "host_ip": "127.0.0.1", "status": "deprecated", "line": 38},
            {"service": "digi-core", "name": "http6", "port": "8000", "protocol": "tcp",
             "host_ip": "::1", "status": "deprecated", "line": 39},
        ],
        "range": {"name": "user-facing", "start": 8000, "end": 8999, "reserved": False},
        "system": False,
        "ephemeral": False,
        "well_known": None,
        "well_known_source": None,
        "published": [],
        "allocatable": False,
        "why_not": "allocated",
    }


def test_json_free_port(capsys: pytest.CaptureFixture[str], in_valid: None) -> None:
    code, out, _ = run_who(capsys, "22", "--mapping", FIXTURE, "--format", "json")
    assert code == 1
    info = json.loads(out)
    assert (info["owners"], info["range"], info["system"], info["well_known"]) == (
        [], None, True, "ssh")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "who: 'abc' is not a port number from 1 to 65535"),
        ("0", "who: '0' is not a port number from 1 to 65535"),
        ("65536", "who: '65536' is not a port number from 1 to 65535"),
        ("8000/", "who: protocol '' is not tcp, udp or sctp"),
        ("8000/icmp", "who: protocol 'icmp' is not tcp, udp or sctp"),
        ("80 00", "who: '80 00' is not a port number from 1 to 65535"),
        ("٣٠٠٠", "who: '٣٠٠٠' is not a port number from 1 to 65535"),
    ],
)
def test_bad_port_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, out, err = run_who(capsys, "--mapping", str(SHIPPED_LEDGER), text)
    assert (code, out) == (2, "")
    assert err == f"portledger: {message}\n"


def test_parse_port() -> None:
    assert who.parse_port("8000") == (8000, "tcp")
    assert who.parse_port("53/UDP") == (53, "udp")
    assert who.parse_port("65535/sctp") == (65535, "sctp")
    with pytest.raises(FatalError):
        who.parse_port("-1")


def test_who_on_a_broken_ledger(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run_who(capsys, "8000", "--mapping", "PL101-yaml-syntax-unclosed-flow.yml")
    assert (code, out) == (2, "")
    assert err == (
        "portledger: PL101-yaml-syntax-unclosed-flow.yml:8:1: PL101 did not find expected "
        "',' or '}' (run `portledger check`)\n"
    )


def test_who_on_a_missing_ledger(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_who(capsys, "8000", "--mapping", str(tmp_path / "nope.yml"))
    assert code == 2
    assert err.startswith(f"portledger: {tmp_path / 'nope.yml'}: no such file")
