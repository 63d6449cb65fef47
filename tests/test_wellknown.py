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
    # Every line is [*]PORT[/PROTO] NAMES..., in port order; PORT alone is tcp and udp;
    # first the common ports (marked *), then every registration.
    def keys(lines: list[str]) -> list[tuple[int, str]]:
        return [(int(head.partition("/")[0]), proto)
                for head, *_ in (line.split() for line in lines)
                for proto in ((head.partition("/")[2],) if "/" in head else ("tcp", "udp"))]

    marked = [line[1:] for line in entries if line.startswith("*")]
    assert entries[:len(marked)] == ["*" + line for line in marked]
    for block, view in ((marked, "bundled"), (entries[len(marked):], "bundled-every")):
        listed = keys(block)
        assert listed == sorted(listed) and len(set(listed)) == len(listed)
        assert sorted(wellknown._load(view)) == listed
    every = wellknown._load("bundled-every")
    assert len(every) > 11000  # IANA's registry, 1-49151
    assert {k: every[k] for k in [(8000, "tcp"), (3000, "udp"), (49151, "udp")]
            if k in every} == {(8000, "tcp"): ("irdmi",), (3000, "udp"): ("hbci", "remoteware-cl")}
    # Rules go by the common ports alone.
    common = wellknown._load("bundled")
    assert len(common) == 37 and (8000, "tcp") not in common
    assert common[(8080, "tcp")] == every[(8080, "tcp")] == ("http-alt",)
    assert "# 2026-02-25 (its latest registration" in text
    assert "# This copy: github.com/farheinheigt/mesports," in text


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
