"""Well-known ports: /etc/services, the override file, and the bundled fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_fixtures import SERVICES_FILE

from portledger.ledger import wellknown


def test_parse() -> None:
    registry = wellknown.parse(
        "# comment\n"
        "\n"
        "http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\n"
        "domain 53/udp\n"
        "bogus notaport/tcp\n"
        "short\n"
        "http-dup 80/tcp\n"
        "Mixed 99/TCP\n"
    )
    assert registry == {
        (80, "tcp"): ("http", "www"),  # the first registration wins
        (53, "udp"): ("domain",),
        (99, "tcp"): ("Mixed",),
    }


def test_override_file_is_used() -> None:
    # conftest points PORTLEDGER_SERVICES_FILE at tests/ledger/services.
    assert wellknown.owner(3306, "tcp") == ("mysql",)
    assert wellknown.owner(3306, "udp") is None
    assert wellknown.owner(9090, "tcp") == ("websm",)
    assert wellknown.registry() == wellknown.parse(SERVICES_FILE.read_text())


def test_system_file_without_the_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system = tmp_path / "services"
    system.write_text("only-this 4242/tcp\n")
    monkeypatch.delenv("PORTLEDGER_SERVICES_FILE")
    monkeypatch.setattr(wellknown, "SYSTEM_FILE", system)
    # Only when the ledger asks (settings.well_known: system); the default is the
    # bundled list, the same on every machine.
    assert wellknown.registry("system") == {(4242, "tcp"): ("only-this",)}
    assert wellknown.registry() is wellknown._load("bundled")
    assert wellknown.source_name("system") == str(system)
    assert wellknown.source_name() == "the bundled IANA list"


def test_bundled_list_without_etc_services(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PORTLEDGER_SERVICES_FILE")
    monkeypatch.setattr(wellknown, "SYSTEM_FILE", tmp_path / "absent")
    registry = wellknown.registry()
    assert registry is wellknown._load("bundled")
    assert registry[(22, "tcp")] == ("ssh",)
    assert registry[(5432, "tcp")][0] == "postgresql"
    assert registry[(53, "udp")] == ("domain",)
    assert wellknown.owner(3306, "tcp") is not None


def test_unreadable_override_falls_back_to_the_bundled_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTLEDGER_SERVICES_FILE", str(tmp_path / "absent"))
    assert wellknown.registry() is wellknown._load("bundled")


def test_bundled_list_parses_completely() -> None:
    from importlib.resources import files

    text = (files("portledger") / "data" / "services").read_text(encoding="utf-8")
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    registry = wellknown._load("bundled")
    assert len(registry) == len(entries)


@pytest.mark.parametrize(
    ("registered", "names", "expected"),
    [
        (("postgresql", "postgres"), ["postgresql"], True),
        (("postgresql", "postgres"), ["pg", "digi-postgres"], True),
        (("redis",), ["cache", "redis"], True),
        (("redis",), ["redis-cache"], True),
        (("mysql",), ["pcs-api"], False),
        (("http", "www"), ["proxy"], False),
        (("MySQL",), ["mysql"], True),
        (("mysql",), ["my"], False),  # short parts do not match by prefix
    ],
)
def test_belongs_to(registered: tuple[str, ...], names: list[str], expected: bool) -> None:
    assert wellknown.belongs_to(registered, names) is expected
