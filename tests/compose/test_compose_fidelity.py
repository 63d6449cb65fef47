"""Hand-written regressions for each cause of disagreement the differential fuzzer found
(bench/fuzz_compose.py): the project, what portledger says, and that Compose says the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from differential import Result, run_ours, run_theirs
from generate import Case


def _both(binary: Path, tmp_path: Path, files: dict[str, str], **how: Any) -> tuple[Result, Result]:
    case = Case(0, files, **how)
    root = tmp_path / "p"
    home = tmp_path / "home"
    home.mkdir()
    case.write(root)
    return run_ours(root, case), run_theirs(binary, root, case, home)


def _rec(service: str, target: int, published: str | None = None, host_ip: str | None = None,
         protocol: str = "tcp") -> dict[str, Any]:
    return {"service": service, "host_ip": host_ip, "published": published, "target": target,
            "protocol": protocol}


def _accepts(binary: Path, tmp_path: Path, files: dict[str, str],
             expected: list[dict[str, Any]], **how: Any) -> None:
    ours, theirs = _both(binary, tmp_path, files, **how)
    assert theirs.ok, theirs.error
    assert theirs.records == expected
    assert ours.ok, ours.error
    assert ours.records == expected


def _refuses(binary: Path, tmp_path: Path, files: dict[str, str], where: str,
             **how: Any) -> None:
    ours, theirs = _both(binary, tmp_path, files, **how)
    assert not theirs.ok, theirs.records
    assert not ours.internal, ours.error
    assert not ours.ok, ours.records
    assert ours.error.startswith(where), ours.error


# -- lists Compose makes unique before it validates ---------------------------------------

@pytest.mark.parametrize("key, items", [
    ("environment", "[A=1, A=1]"),
    ("labels", "[a=b, a=b]"),
    ("dns", "[8.8.8.8, 8.8.8.8]"),
    ("tmpfs", "[/run, /run]"),
    ("sysctls", "[net.core.somaxconn=1024, net.core.somaxconn=1024]"),
])
def test_repeated_items_are_not_an_error(binary: Path, tmp_path: Path, key: str,
                                          items: str) -> None:
    files = {"compose.yaml": f'services:\n  web:\n    image: x\n    ports: ["8080:80"]\n'
                             f"    {key}: {items}\n"}
    _accepts(binary, tmp_path, files, [_rec("web", 80, "8080")])


def test_repeated_build_args_are_not_an_error(binary: Path, tmp_path: Path) -> None:
    files = {"compose.yaml": 'services:\n  web:\n    build: {context: ., args: [A=1, A=1]}\n'
                             '    ports: ["8080:80"]\n'}
    _accepts(binary, tmp_path, files, [_rec("web", 80, "8080")])


# -- merging ------------------------------------------------------------------------------

BASE = 'services:\n  web:\n    image: x\n    ports: ["8080:80"]\n'


@pytest.mark.parametrize("override", [
    "services:\n  web:\n",
    "services:\n  web:\n    ports:\n",
    "services:\n  web: {ports: null}\n",
])
def test_a_later_null_changes_nothing(binary: Path, tmp_path: Path, override: str) -> None:
    files = {"compose.yaml": BASE, "compose.override.yaml": override}
    _accepts(binary, tmp_path, files, [_rec("web", 80, "8080")])


def test_a_mapping_over_a_list_is_an_error(binary: Path, tmp_path: Path) -> None:
    over = "services:\n  web:\n    ports: {a: 1}\n"
    files = {"compose.yaml": BASE, "compose.override.yaml": over}
    _refuses(binary, tmp_path, files, "compose.override.yaml:3:12: PL101 cannot override")


def test_reset_on_a_list_item_keeps_the_earlier_files_list(binary: Path, tmp_path: Path) -> None:
    files = {"compose.yaml": BASE,
             "compose.override.yaml": "services:\n  web:\n    ports:\n      - !reset null\n"
                                      '      - "9090:90"\n'}
    _accepts(binary, tmp_path, files, [_rec("web", 80, "8080"), _rec("web", 90, "9090")])


def test_a_merge_source_string_the_mapping_overrides(binary: Path, tmp_path: Path) -> None:
    # Was an internal error (IndexError): the merge source's "$" string is no longer there.
    files = {"compose.yaml": 'x-a: &a\n  image: x\n  ports: ["${P:-1}:80", "${P:-2}:81"]\n'
                             "services:\n  web:\n    <<: *a\n    ports: []\n"}
    _accepts(binary, tmp_path, files, [])


# -- project consistency -------------------------------------------------------------------

@pytest.mark.parametrize("service, where", [
    ('ports: ["80"]', "compose.yaml:3:5: PL101 service 'web' has neither"),
    ("image: x\n    depends_on: [db]", "compose.yaml:4:17: PL101 service 'web' depends on"),
    ("image: x\n    networks: [front]", "compose.yaml:4:15: PL101 service 'web' refers to "),
    ("image: x\n    volumes: [data:/data]", "compose.yaml:4:14: PL101 service 'web' refers to "),
    ("image: x\n    network_mode: service:web", "compose.yaml:3:5: PL101 dependency cycle "),
    ("image: x\n    depends_on: [web]", "compose.yaml:4:17: PL101 dependency cycle detected"),
])
def test_inconsistent_projects_are_refused(binary: Path, tmp_path: Path, service: str,
                                           where: str) -> None:
    files = {"compose.yaml": f"services:\n  web:\n    {service}\n"}
    _refuses(binary, tmp_path, files, where)


def test_a_container_name_used_twice(binary: Path, tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  a: {image: x, container_name: cn}\n"
                             "  b: {image: x, container_name: cn}\n"}
    _refuses(binary, tmp_path, files, "compose.yaml:3:33: PL101 container name 'cn' is already")


@pytest.mark.parametrize("text", ["", "# nothing here\n", "{}\n"])
def test_an_empty_compose_file(binary: Path, tmp_path: Path, text: str) -> None:
    _refuses(binary, tmp_path, {"compose.yaml": text}, "compose.yaml:1:1: PL101 empty compose file")


# -- .env as compose-go reads it ----------------------------------------------------------

@pytest.mark.parametrize("line, published", [
    ("P: 8081", "8081"),           # a key may end at ":"
    ("export P=8082 # note", "8082"),
    ('P="8083" # quoted', "8083"),
    ("P='8084'", "8084"),
])
def test_env_file_values(binary: Path, tmp_path: Path, line: str, published: str) -> None:
    files = {"compose.yaml": 'services:\n  web:\n    image: x\n    ports: ["${P}:80"]\n',
             ".env": line + "\n"}
    _accepts(binary, tmp_path, files, [_rec("web", 80, published)])


@pytest.mark.parametrize("line", ["P= # not a comment", "P=8080\t# a tab is not a space", "P:=1"])
def test_env_file_values_compose_refuses_as_ports(binary: Path, tmp_path: Path,
                                                  line: str) -> None:
    # python-dotenv reads "", "8080" and no P; compose-go "# not a comment",
    # "8080\t# a tab...", "=1": not port numbers.
    files = {"compose.yaml": 'services:\n  web:\n    image: x\n    ports: ["${P}:80"]\n',
             ".env": line + "\n"}
    _refuses(binary, tmp_path, files, "compose.yaml:4:13: PL205 invalid port")


def test_compose_file_env_and_the_project_folders_env(binary: Path, tmp_path: Path) -> None:
    # COMPOSE_FILE from the current folder's .env; then app/.env is read too, its values
    # below the first .env's.
    files = {".env": "COMPOSE_FILE=app/compose.yaml\nA=8001\n",
             "app/.env": "A=9001\nB=9002\n",
             "app/compose.yaml": 'services:\n  web:\n    image: x\n'
                                 '    ports: ["${A}:80", "${B}:81"]\n'}
    _accepts(binary, tmp_path, files, [_rec("web", 80, "8001"), _rec("web", 81, "9002")])


def test_compose_file_paths_are_relative_to_the_current_folder(binary: Path,
                                                                tmp_path: Path) -> None:
    files = {"deploy/compose.yaml": BASE, "deploy/.env": ""}
    _accepts(binary, tmp_path, files, [_rec("web", 80, "8080")],
             project_directory="deploy", env={"COMPOSE_FILE": "deploy/compose.yaml"})


# -- port text ------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, expected", [
    ("0X50", [_rec("web", 80)]),                     # go-yaml: upper-case prefixes too
    ("0O120", [_rec("web", 80)]),
    ('"80-81-82:80"', [_rec("web", 80, "80-81")]),  # only the first two parts of a range
    ('"9000-9001-9002"', [_rec("web", 9000), _rec("web", 9001)]),
    ("{target: '+80'}", [_rec("web", 80)]),         # Go's Atoi takes a sign
])
def test_port_text_accepted(binary: Path, tmp_path: Path, entry: str,
                            expected: list[dict[str, Any]]) -> None:
    files = {"compose.yaml": f"services:\n  web:\n    image: x\n    ports:\n      - {entry}\n"}
    _accepts(binary, tmp_path, files, expected)


@pytest.mark.parametrize("entry", [
    "|\n        80",          # a block scalar ends in a newline: "80\n" is no port
    "{target: ' 80'}",         # Python's int() takes spaces, Go's Atoi does not
    "{target: '8_0'}",
    "{target: '８０'}",
    "!!float 80",
    "70000",
    "{target: ''}",
    "{target: 80, host_ip: localhost}",
])
def test_port_text_refused(binary: Path, tmp_path: Path, entry: str) -> None:
    # Compose refuses these too: no stricter choice of ours.
    files = {"compose.yaml": f"services:\n  web:\n    image: x\n    ports:\n      - {entry}\n"}
    _refuses(binary, tmp_path, files, "compose.yaml:5:")


# -- YAML as go-yaml reads it --------------------------------------------------------------

@pytest.mark.parametrize("key", ["8080", "true", "1.5", "~"])
def test_non_string_keys(binary: Path, tmp_path: Path, key: str) -> None:
    files = {"compose.yaml": f'services:\n  {key}:\n    image: x\n    ports: ["80"]\n'}
    _refuses(binary, tmp_path, files, "compose.yaml:2:3: PL101 non-string key in services")


def test_a_quoted_number_is_a_string_key(binary: Path, tmp_path: Path) -> None:
    files = {"compose.yaml": 'services:\n  "8080":\n    image: x\n    ports: ["80"]\n'}
    _accepts(binary, tmp_path, files, [_rec("8080", 80)])


@pytest.mark.parametrize("service", [
    "    <<: *a\n    <<: *b\n",
    "    {<<: *a, <<: *b}\n",
])
def test_two_merge_keys(binary: Path, tmp_path: Path, service: str) -> None:
    head = 'x-a: &a {image: x}\nx-b: &b {ports: ["81"]}\nservices:\n  web:\n'
    if service.lstrip().startswith("{"):
        text = head.replace("  web:\n", "  web: " + service.strip() + "\n")
    else:
        text = head + service
    _refuses(binary, tmp_path, {"compose.yaml": text}, "compose.yaml:")


def test_an_anchor_defined_twice_the_later_one_wins(binary: Path, tmp_path: Path) -> None:
    text = ('x-a: &a {image: x, ports: ["80"]}\nservices:\n  b: *a\n'
            '  a:\n    <<: &a {image: y, ports: ["81"]}\n  c: *a\n')
    _accepts(binary, tmp_path, {"compose.yaml": text},
             [_rec("a", 81), _rec("b", 80), _rec("c", 81)])


# -- include and extends -------------------------------------------------------------------

LIB = 'services:\n  base: {image: x, ports: ["81"], networks: [back]}\nnetworks:\n  back: {}\n'


def test_extends_comes_before_include(binary: Path, tmp_path: Path) -> None:
    # A service cannot extend one that only an include brings.
    files = {"lib/compose.yaml": LIB,
             "compose.yaml": "include: [lib/compose.yaml]\nservices:\n  web:\n"
                             '    extends: {service: base}\n    ports: ["80"]\n'}
    _refuses(binary, tmp_path, files, "compose.yaml:4:14: PL101 cannot extend service 'web'")


def test_include_brings_its_networks(binary: Path, tmp_path: Path) -> None:
    files = {"lib/compose.yaml": LIB,
             "compose.yaml": 'include: [lib/compose.yaml]\nservices:\n  web: {image: y}\n'}
    _accepts(binary, tmp_path, files, [_rec("base", 81)])


def test_an_included_service_defined_again(binary: Path, tmp_path: Path) -> None:
    files = {"lib/compose.yaml": LIB,
             "compose.yaml": "include: [lib/compose.yaml]\nservices:\n  base: {image: y}\n"}
    _refuses(binary, tmp_path, files, "compose.yaml:1:11: PL101 services.base conflicts")


# -- the stricter choices of docs/compose-stricter.md --------------------------------------

@pytest.mark.parametrize("sid, entry", [
    ("S1", "{target: 70000}"),
    ("S1", "{target: 0, published: '8080'}"),
    ("S2", "{target: 80, published: abc}"),
    ("S2", "{target: 80, published: '8002-8000'}"),
    ("S2", "{target: 80, published: 70000}"),
    ("S3", "{target: 80, protocol: foo}"),
    ("S4", "{target: 80, mode: bridge}"),
])
def test_stricter_choices(binary: Path, tmp_path: Path, sid: str, entry: str) -> None:
    files = {"compose.yaml": f"services:\n  web:\n    image: x\n    ports:\n      - {entry}\n"}
    ours, theirs = _both(binary, tmp_path, files)
    assert theirs.ok, theirs.error
    assert not ours.ok and not ours.internal
    assert ours.stricter == sid, ours.error
    assert ours.error.startswith("compose.yaml:5:9: PL205 invalid port")


def test_stricter_env_file_not_utf8(binary: Path, tmp_path: Path) -> None:
    files = {"compose.yaml": BASE}
    case = Case(0, files)
    root = tmp_path / "p"
    home = tmp_path / "home"
    home.mkdir()
    case.write(root)
    (root / ".env").write_bytes(b"A=\xff\n")
    ours, theirs = run_ours(root, case), run_theirs(binary, root, case, home)
    assert theirs.ok, theirs.error
    assert (ours.ok, ours.stricter) == (False, "S5")


def test_stricter_remote_include_is_tagged(tmp_path: Path) -> None:
    # Not run against Compose: it would fetch the repository.
    case = Case(0, {"compose.yaml": "include: [git@github.com:org/repo.git]\n"})
    case.write(tmp_path)
    ours = run_ours(tmp_path, case)
    assert (ours.ok, ours.stricter) == (False, "S6")
    assert ours.error.startswith("compose.yaml:1:11: PL101 remote include")


@pytest.mark.parametrize("value", ["${A:-" * 600 + "x" + "}" * 600, "${A:-}" * 700])
def test_stricter_deep_interpolation(binary: Path, tmp_path: Path, value: str) -> None:
    files = {"compose.yaml": BASE + f"    environment: {{X: '{value}'}}\n"}
    ours, theirs = _both(binary, tmp_path, files)
    assert theirs.ok, theirs.error
    assert (ours.ok, ours.stricter) == (False, "S9"), ours.error


@pytest.mark.parametrize("entry", ["include: [{outside}]",
                                   "services:\n  web:\n    image: x\n"
                                   "    extends: {{file: ../lib.yaml, service: lib}}"])
def test_stricter_reads_nothing_outside_the_root(binary: Path, tmp_path: Path,
                                                 entry: str) -> None:
    from portledger.compose.loader import reading_under

    (tmp_path / "lib.yaml").write_text("services:\n  lib: {image: y}\n")
    case = Case(0, {"compose.yaml": entry.format(outside=tmp_path / "lib.yaml") + "\n"})
    root = tmp_path / "p"
    home = tmp_path / "home"
    home.mkdir()
    case.write(root)
    theirs = run_theirs(binary, root, case, home)
    with reading_under(str(root)):
        ours = run_ours(root, case)
    assert theirs.ok, theirs.error
    assert (ours.ok, ours.stricter) == (False, "S7"), ours.error


def test_a_long_entry_a_later_file_resets_is_not_checked(binary: Path, tmp_path: Path) -> None:
    # Compose decodes long syntax once the files are merged (short syntax file by file).
    files = {"compose.yaml": "services:\n  web:\n    image: x\n"
                             "    ports: [{target: 1, host_ip: '1.2.3'}]\n",
             "compose.override.yaml": "services:\n  web:\n    ports: !reset []\n"}
    _accepts(binary, tmp_path, files, [])


def test_a_long_entry_with_a_bad_host_ip_is_refused(binary: Path, tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  web:\n    image: x\n"
                             "    ports: [{target: 1, host_ip: '1.2.3'}]\n"}
    _refuses(binary, tmp_path, files, "compose.yaml:4:13: PL205 invalid port: invalid host_ip")
