"""``who`` and ``init --update`` read well-known ports where the ledger says
(``settings.well_known``: the bundled IANA list by default, the machine's
/etc/services with ``system``), and their words name that source.

The machine's /etc/services is stood in for by a file of the test's own
(``wellknown.SYSTEM_FILE``): the real one differs between machines, which is the point
of the setting. conftest's ``PORTLEDGER_SERVICES_FILE`` override is removed here, so the
setting decides.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portledger import cli
from portledger.ledger import wellknown

LEDGER = """\
version: 1
ranges:
  data: {{start: 5000, end: 5999}}
{settings}services:
  db:  # the database
    category: data
    ports:
      admin:
        port: 5001
"""


@pytest.fixture
def system_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A stand-in /etc/services that names 5432 differently from IANA."""
    monkeypatch.delenv("PORTLEDGER_SERVICES_FILE")
    services = tmp_path / "etc-services"
    services.write_text("site-db         5432/tcp        sitedb  # this machine's\n")
    monkeypatch.setattr(wellknown, "SYSTEM_FILE", services)
    return services


def repo(tmp_path: Path, setting: str | None) -> Path:
    root = tmp_path / f"repo-{setting}"
    root.mkdir()
    settings = f"settings:\n  well_known: {setting}\n" if setting else ""
    (root / "port-mapping.yml").write_text(LEDGER.format(settings=settings))
    (root / "compose.yaml").write_text(
        "services:\n  db:\n    image: example/db\n    ports:\n"
        '      - "5001:8080"\n      - "5432:5432"\n')
    return root


def run(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        *args: str) -> tuple[int, str]:
    monkeypatch.chdir(root)
    code = cli.main(list(args))
    return code, capsys.readouterr().out


WHO_5432 = (
    "5432/tcp: published by db (compose project .), not in the ledger compose.yaml:6\n"
    "  range: data (5000-5999)\n"
    "  registered to {registered}\n"
    "  allocate would not give it: published by a compose service\n"
)


@pytest.mark.parametrize("setting", [None, "bundled"])
def test_who_names_the_bundled_list(setting: str | None, system_file: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, setting)
    assert run(root, monkeypatch, capsys, "who", "5432") == (
        0, WHO_5432.format(registered="postgresql (the bundled IANA list)"))


def test_who_reads_the_system_file_when_the_ledger_asks(
        system_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, "system")
    assert run(root, monkeypatch, capsys, "who", "5432") == (
        0, WHO_5432.format(registered=f"site-db ({system_file})"))
    code, out = run(root, monkeypatch, capsys, "who", "5432", "--format", "json")
    info = json.loads(out)
    assert (code, info["well_known"], info["well_known_source"]) == (
        0, "site-db", str(system_file))
    # A port no one registered names no source (a free port: exit 1).
    code, out = run(root, monkeypatch, capsys, "who", "5999", "--format", "json")
    info = json.loads(out)
    assert (code, info["well_known"], info["well_known_source"]) == (1, None, None)


@pytest.mark.parametrize(("setting", "added"), [
    (None, 'postgresql: {port: 5432, target: 5432, exception: "standard PostgreSQL port"}'),
    ("system", 'site-db: {port: 5432, target: 5432, exception: "standard site-db port"}'),
])
def test_init_update_names_ports_from_the_ledgers_source(
        setting: str | None, added: str, system_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The port ``init --update`` adds is named after its container port's registration
    (5432 here), read from the source the ledger names, and is its standard port."""
    root = repo(tmp_path, setting)
    code, out = run(root, monkeypatch, capsys, "init", "--update", "--write")
    assert (code, out) == (0, "portledger: added to port-mapping.yml: 1 port of 1 service "
                           "from 1 compose project\n")
    settings = f"settings:\n  well_known: {setting}\n" if setting else ""
    assert (root / "port-mapping.yml").read_text() == LEDGER.format(settings=settings) + (
        f"      {added}  # compose.yaml:6\n")
