"""Small cases, the CLI, provenance of each binding, start-up cost and speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portledger.cli import main as cli_main
from portledger.compose import ComposeError, load_project, ports_json
from portledger.compose.interpolate import TemplateError, substitute
from portledger.compose.ports import PortSpecError, parse_short

ENV = {"A": "8080", "SET": "x", "EMPTY": ""}


@pytest.mark.parametrize(
    ("template", "result", "unset"),
    [
        ("${A}:80", "8080:80", []),
        ("$A:80", "8080:80", []),
        ("${B:-81}", "81", []),
        ("${B-82}", "82", []),
        ("${EMPTY:-83}", "83", []),
        ("${EMPTY-84}", "", []),
        ("${SET:+85}", "85", []),
        ("${EMPTY:+86}", "", []),
        ("${EMPTY+87}", "87", []),
        ("${B:+88}", "", []),
        ("${B:-${C:-89}}", "89", []),
        ("${B:-9${C:-0}}", "90", []),
        ("$${A}", "${A}", []),
        ("$-1", "$-1", []),
        ("${B}:80", ":80", ["B"]),
        ("${A}${B}", "8080", ["B"]),
    ],
)
def test_substitute(template: str, result: str, unset: list[str]) -> None:
    assert substitute(template, ENV) == (result, unset)


@pytest.mark.parametrize(
    ("template", "variable", "message"),
    [
        ("${B:?need B}", "B", "required variable B is missing a value: need B"),
        ("${EMPTY:?}", "EMPTY", "required variable EMPTY is missing a value"),
        ("${B?}", "B", "required variable B is missing a value"),
        ("${}", None, "invalid interpolation format: '${}'"),
        ("${A", None, "invalid interpolation format: '${A'"),
    ],
)
def test_substitute_errors(template: str, variable: str | None, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        substitute(template, ENV)
    assert (info.value.variable, info.value.message) == (variable, message)


def test_required_but_empty_is_fine_with_question_mark() -> None:
    assert substitute("${EMPTY?x}1", ENV) == ("1", [])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [(None, None, 80, "tcp")]),
        ("8080:80/UDP", [(None, "8080", 80, "udp")]),
        ("::1:53:53/sctp", [("::1", "53", 53, "sctp")]),
        ("[::1]:53:53", [("::1", "53", 53, "tcp")]),
        ("9000-9001:90-91", [(None, "9000", 90, "tcp"), (None, "9001", 91, "tcp")]),
        ("9000-9005:90", [(None, "9000-9005", 90, "tcp")]),
        ("1.2.3.4::80", [("1.2.3.4", None, 80, "tcp")]),
    ],
)
def test_parse_short(spec: str, expected: list[tuple[object, ...]]) -> None:
    got = [
        (e.get("host_ip"), e.get("published"), e["target"], e["protocol"])
        for e in parse_short(spec)
    ]
    assert got == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "abc:80",
        "70000",
        "80:70000",
        "90-91:80-82",
        "+80",
        " 80",
        "80/xyz",
        "[::1:80:80",
        "fe80::1%eth0:80:80",
        "localhost:80:80",
        "81-80:81-80",
        "8080:0",
    ],
)
def test_parse_short_refuses(spec: str) -> None:
    with pytest.raises(PortSpecError):
        parse_short(spec)


def _write(tmp_path: Path, text: str, name: str = "compose.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_binding_provenance(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "services:\n"
        "  web:\n"
        "    image: x\n"
        "    ports:\n"
        "      - 22:22\n"
        '      - "${HOST_PORT}:80"\n'
        "      - target: 443\n"
        "        published: 8443\n",
    )
    project = load_project(project_directory=str(tmp_path), environ={})
    by_target = {b.target: b for b in project.bindings}
    plain = by_target[22]
    assert (plain.raw, plain.plain, plain.line, plain.column) == ("22:22", True, 5, 9)
    unset = by_target[80]
    assert (unset.raw, unset.plain, unset.variables, unset.published) == (
        "${HOST_PORT}:80",
        False,
        ("HOST_PORT",),
        None,
    )
    assert (by_target[443].raw, by_target[443].line) == (None, 7)
    assert [(w.code, w.line, w.column, w.severity.value) for w in project.warnings] == [
        ("PL206", 6, 9, "warning")
    ]
    assert project.files == [str(tmp_path / "compose.yaml")]


def test_stricter_than_compose_on_long_syntax(tmp_path: Path) -> None:
    # Compose v2.40 accepts published: "abc"; a ledger cannot own such a port.
    _write(
        tmp_path,
        "services:\n  a:\n    image: x\n    ports:\n      - {target: 80, published: abc}\n",
    )
    with pytest.raises(ComposeError) as info:
        load_project(project_directory=str(tmp_path), environ={})
    assert (info.value.code, info.value.line, info.value.column) == ("PL205", 5, 9)


def test_ports_json_sort_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "services:\n  b:\n    image: x\n    ports: ['10:1']\n"
        "  a:\n    image: x\n    ports: ['9000-9001:9000', '900:2', '3', '900:1/udp', "
        "'127.0.0.1:900:1', '900:1']\n",
    )
    got = ports_json(load_project(project_directory=str(tmp_path), environ={}))["published"]
    assert [
        (r["service"], r["published"], r["target"], r["protocol"], r["host_ip"]) for r in got
    ] == [
        ("a", None, 3, "tcp", None),
        ("a", "900", 1, "tcp", None),
        ("a", "900", 1, "tcp", "127.0.0.1"),
        ("a", "900", 1, "udp", None),
        ("a", "900", 2, "tcp", None),
        ("a", "9000-9001", 9000, "tcp", None),
        ("b", "10", 1, "tcp", None),
    ]


def test_cli_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "services:\n  web:\n    image: x\n    ports: ['8080:80']\n", "app.yaml")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["ports", "-f", "app.yaml", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "published": [
            {
                "service": "web",
                "host_ip": None,
                "published": "8080",
                "target": 80,
                "protocol": "tcp",
            }
        ]
    }
    assert err == ""
    assert cli_main(["ports", "-f", "app.yaml", "--format", "text"]) == 0
    assert capsys.readouterr().out == "web\t8080->80/tcp\tapp.yaml:4:13\n"


def test_cli_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["ports", "-f", "nope.yaml"]) == 1
    assert capsys.readouterr().err == "nope.yaml:1:1: PL101 no such compose file\n"
    assert cli_main(["ports", "--bogus"]) == 2


def test_import_does_not_load_jsonschema() -> None:
    code = (
        "import sys, portledger.commands.ports, portledger.compose; "
        "print('jsonschema' in sys.modules, 'dotenv' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_thousand_projects_load(tmp_path: Path) -> None:
    dirs = []
    for i in range(1000):
        d = tmp_path / f"p{i}"
        d.mkdir()
        (d / "compose.yaml").write_text(
            "services:\n"
            f"  web{i}:\n    image: nginx\n"
            f"    ports: ['{10000 + i}:80', '127.0.0.1:{20000 + i}:81']\n"
            f"  db{i}:\n    image: postgres\n    ports:\n      - target: 5432\n"
            f"        published: {30000 + i}\n"
        )
        dirs.append(str(d))
    load_project(project_directory=dirs[0], environ={})  # compile the schema once
    # Speed is measured by bench/bench_check.py, not asserted here (timed unit tests
    # flake on shared machines); this checks that a thousand projects load, each alone.
    total = 0
    for d in dirs:
        total += len(load_project(project_directory=d, environ={}).bindings)
    assert total == 3000


def test_env_file_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    # Stricter than Compose, which passes the bytes on: a .env that is not UTF-8 was
    # read in text mode before, and stopped portledger with an internal error.
    (tmp_path / "compose.yaml").write_text(
        'services:\n  web:\n    image: nginx\n    ports:\n      - "${PORT:-8080}:80"\n')
    (tmp_path / ".env").write_bytes(b"# ports\nPORT=80\xff81\n")
    with pytest.raises(ComposeError) as info:
        load_project(project_directory=str(tmp_path), environ={})
    e = info.value
    assert (e.code, e.file, e.line, e.column) == ("PL101", str(tmp_path / ".env"), 2, 8)
    assert e.message == "env file: invalid UTF-8 at byte offset 15 (byte 0xff)"


def test_loading_a_project_leaves_no_cyclic_garbage(tmp_path: Path) -> None:
    """The cyclic collector is off during a run (cli.main), so a reference cycle made
    while loading keeps the project's whole YAML node graph: a worker loading 500
    projects held 45 MiB, 23 MiB once a recursive closure in the dependency check went.
    Every part of loading is exercised: depends_on (the cycle check), extends, include,
    an override, a .env file, long and short ports, profiles, a merge key."""
    import gc

    (tmp_path / "base.yaml").write_text("services:\n  base:\n    image: x\n")
    (tmp_path / "inc.yaml").write_text("services:\n  other:\n    image: x\n"
                                       "    ports: ['7001:80']\n")
    (tmp_path / ".env").write_text("PORT=7000\n")
    (tmp_path / "compose.yaml").write_text(
        "include: [inc.yaml]\n"
        "x-common: &common {image: x}\n"
        "services:\n"
        "  web:\n    <<: *common\n    ports: ['${PORT}:80']\n"
        "    depends_on: [db, other]\n"
        "  db:\n    extends: {file: base.yaml, service: base}\n"
        "    ports: [{target: 5432, published: '7002'}]\n"
        "    depends_on: {cache: {condition: service_started}}\n"
        "  cache:\n    image: x\n    profiles: [extra]\n")
    (tmp_path / "compose.override.yaml").write_text("services:\n  web:\n    ports: ['7003:81']\n")
    load_project(project_directory=str(tmp_path), profiles=["*"])  # imports, compiled once
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        project = load_project(project_directory=str(tmp_path), profiles=["*"])
        gc.collect()
        garbage = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert sorted(b.published for b in project.bindings) == ["7000", "7001", "7002", "7003"]
    assert garbage == []
