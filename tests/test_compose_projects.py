"""What a repository's compose projects are, and that a check covers them: every PATH
resolves or fails, every glob matches or is a finding, every profile is checked,
declared multi-file projects, addresses enforced, one view of what is taken,
``network_mode: host``, discovery's skipped folders. Real files, the real command line
(``cli.main`` with exact output)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from portledger import cli
from portledger.compose import discovery

LEDGER = """\
version: 1
ranges:
  application: {{start: 9000, end: 9099}}
services:
  api:
    category: application
    ports: {{http: {{port: 9000, target: 80}}}}
  web:
    category: application
    ports: {{http: {{port: 9010, target: 80}}}}
{extra}"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")


def service(name: str, *ports: str, extra: str = "") -> str:
    lines = [f"  {name}:", "    image: x"]
    if extra:
        lines += [f"    {e}" for e in extra.split("\n")]
    if ports:
        lines.append("    ports:")
        lines += [f'      - "{p}"' for p in ports]
    return "\n".join(lines) + "\n"


def compose(*services: str) -> str:
    return "services:\n" + "".join(services)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("COMPOSE_PROFILES", "COMPOSE_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def ledger(root: Path, extra: str = "", replace: dict[str, str] | None = None) -> None:
    text = LEDGER.format(extra=extra)
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    (root / "port-mapping.yml").write_text(text, encoding="utf-8")


# -- 1. a folder argument: the ledger's globs as written, and compose.exclude -----------


def test_a_folder_is_checked_by_the_ledgers_globs_as_written(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, 'compose:\n  files: ["stacks/**/compose*.y*ml"]\n'
                 '  exclude: ["stacks/legacy/**"]\n')
    write(repo, {"stacks/api/compose.yaml": compose(service("api", "9005:80")),
                 "stacks/legacy/compose.yaml": compose(service("old", "9006:80"))})
    code, out, err = run(capsys, "check", "stacks/api")
    assert (code, err) == (1, "")
    assert out == (
        "stacks/api/compose.yaml:5:9: PL203 port-mismatch api publishes 9005/tcp for "
        "container port 80; the ledger gives api.http 9000/tcp (port-mapping.yml:7)\n"
        '    fix: the ledger gives api.http 9000: edit stacks/api/compose.yaml:5 to "9000:80"\n'
        "Found 1 error, 0 warnings in 2 files.\n")
    # The same from inside the folder.
    os.chdir(repo / "stacks" / "api")
    assert cli.main(["check", "."]) == 1
    capsys.readouterr()
    os.chdir(repo)
    # compose.exclude applies to a folder argument too: nothing left, a usage error.
    code, out, err = run(capsys, "check", "stacks/legacy")
    assert (code, out) == (2, "")
    assert err == ("portledger: stacks/legacy: no compose project here (neither the "
                   "ledger's compose.files nor Compose's default file names match a file, "
                   "after compose.exclude)\n")


def test_a_folder_outside_the_globs_uses_composes_default_names(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, 'compose:\n  files: ["stacks/*/compose.yaml"]\n')
    write(repo, {"stacks/api/compose.yaml": compose(service("api", "9000:80")),
                 "tools/dev/docker-compose.yml": compose(service("web", "9011:80"))})
    code, out, _ = run(capsys, "check", "tools")
    assert code == 1
    assert out.splitlines()[0].startswith(
        "tools/dev/docker-compose.yml:5:9: PL203 port-mismatch web publishes 9011/tcp")


# -- 2. globs that match nothing --------------------------------------------------------


def test_each_glob_that_matches_nothing_is_an_error_at_its_line(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, "compose:\n  files:\n    - stacks/*.yml\n    - ../app/compose.yaml\n"
                 "    - services/*/compose.yaml\n    - old/*/compose.yaml\n"
                 "  exclude: [old/**]\n")
    write(repo, {"services/api/compose.yaml": compose(service("api", "9000:80")),
                 "old/x/compose.yaml": compose(service("x", "9050:80"))})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert out == (
        "port-mapping.yml:13:7: PL208 compose-path-not-found compose.files glob "
        "'stacks/*.yml' matches no file\n"
        "port-mapping.yml:14:7: PL208 compose-path-not-found compose.files glob "
        "'../app/compose.yaml' points outside the ledger's folder; globs are relative to "
        "it and cannot leave it (move the ledger up, or pass --mapping from above)\n"
        "port-mapping.yml:16:7: PL208 compose-path-not-found compose.files glob "
        "'old/*/compose.yaml' matches only files that compose.exclude leaves out\n"
        "Found 3 errors, 0 warnings in 2 files.\n")


def test_the_default_globs_written_out_need_not_match(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, 'compose:\n  files: ["**/compose*.y*ml", "**/docker-compose*.y*ml"]\n')
    write(repo, {"api/compose.yaml": compose(service("api", "9000:80"))})
    assert run(capsys, "check") == (0, "", "")


# -- 3. a folder with override files only ----------------------------------------------


def test_an_override_without_its_base_is_reported(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, {"api/compose.yaml": compose(service("api", "9000:80")),
                 "dev/compose.override.yaml": compose(service("web", "9011:80"))})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert out == (
        "dev/compose.override.yaml:1:1: PL209 override-without-base compose.override.yaml "
        "has no base compose file beside it (compose.yaml, compose.yml, docker-compose.yaml, "
        "docker-compose.yml), so Docker Compose never reads it and nothing is checked; "
        "declare its project in compose.projects, or exclude it\n"
        "    fix: declare the project in the ledger: compose: {projects: {NAME: {files: "
        "[BASE, dev/compose.override.yaml]}}}\n"
        "Found 1 error, 0 warnings in 2 files.\n")
    # Named alone or by its folder: the same finding, not a silent pass.
    assert run(capsys, "check", "dev")[0] == 1
    assert run(capsys, "check", "dev/compose.override.yaml")[0] == 1


def test_an_override_selected_without_its_base_loads_with_it(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, 'compose:\n  files: ["**/compose.override.yaml"]\n')
    write(repo, {"api/compose.yaml": compose(service("api", "9000:80")),
                 "api/compose.override.yaml": compose(service("api", "9001:80"))})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "api/compose.override.yaml:5:9: PL203 port-mismatch api publishes 9001/tcp" in out


# -- 4. profiles ------------------------------------------------------------------------


PROFILED = compose(service("api", "9000:80"),
                   service("api-debug", "9000:80", extra="profiles: [debug]"))


def test_a_port_behind_a_profile_is_checked(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, {"api/compose.yaml": PROFILED})
    code, out, _ = run(capsys, "check", "--format", "json")
    assert code == 1
    found = [(f["code"], f["file"], f["line"], f["column"], f["service"])
             for f in json.loads(out)["findings"]]
    assert found == [("PL202", "api/compose.yaml", 10, 9, "api-debug"),
                     ("PL204", "api/compose.yaml", 10, 9, "api-debug")]
    # --profile narrows to Compose's own selection: api-debug is not started then.
    assert run(capsys, "check", "--profile", "other") == (0, "", "")
    assert run(capsys, "check", "--profile", "debug")[0] == 1


def test_fix_never_moves_a_service_onto_a_profiled_port(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # web collides with api on 9000 (api keeps it, priority 1); 9001 is published by a
    # service behind a profile (recorded nowhere): the plan must skip it.
    ledger(repo, replace={"    ports: {http: {port: 9010, target: 80}}":
                          "    ports: {http: {port: 9000, target: 80}}",
                          "  api:\n    category": "  api:\n    priority: 1\n    category"})
    write(repo, {"api/compose.yaml": compose(
        service("tool", "9001:80", extra="profiles: [tools]"))})
    code, out, _ = run(capsys, "check", "--format", "json", "--select", "PL104")
    assert code == 1
    (finding,) = json.loads(out)["findings"]
    assert "web.http moves to 9002" in finding["fix"]


# -- 6. declared projects ---------------------------------------------------------------


FRAPPE = {
    "compose.yaml": compose(service("api", "9000:80")),
    # Fragments for -f compose.yaml -f overrides/...: alone, api has no image.
    "overrides/compose.db.yaml": "services:\n  api:\n    depends_on: [web]\n"
                                 + service("web", "9010:80"),
    "overrides/compose.debug.yaml": "services:\n  api:\n    environment: [DEBUG=1]\n",
}


def test_fragments_alone_are_not_projects(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, FRAPPE)
    code, out, _ = run(capsys, "check", "--format", "json")
    assert code == 1
    assert [(f["code"], f["file"]) for f in json.loads(out)["findings"]] == [
        ("PL101", "overrides/compose.db.yaml"), ("PL101", "overrides/compose.debug.yaml")]


def test_a_declared_project_is_one_project(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, "compose:\n  projects:\n    frappe:\n      files: [compose.yaml, "
                 "overrides/compose.db.yaml, overrides/compose.debug.yaml]\n"
                 "      directory: .\n      profiles: ['*']\n")
    write(repo, FRAPPE)
    assert run(capsys, "check") == (0, "", "")
    code, out, _ = run(capsys, "projects")
    assert code == 0
    assert out == (
        "frappe (declared in the ledger)\n"
        "  docker compose --project-directory . -f compose.yaml -f overrides/compose.db.yaml"
        " -f overrides/compose.debug.yaml --profile *\n"
        "  reads: compose.yaml, overrides/compose.db.yaml, overrides/compose.debug.yaml\n"
        "  services: api, web\n"
        "1 compose project.\n")
    # The sketch's other keys: env_files, and a profile list narrowing the project.
    write(repo, {".env.prod": "WEB_PORT=9011\n",
                 "overrides/compose.db.yaml": "services:\n  api:\n    depends_on: [web]\n"
                 + service("web", "${WEB_PORT}:80")})
    ledger(repo, "compose:\n  projects:\n    frappe:\n      files: [compose.yaml, "
                 "overrides/compose.db.yaml]\n      env_files: [.env.prod]\n")
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert out.startswith("overrides/compose.db.yaml:7:9: PL203 port-mismatch web publishes "
                          "9011/tcp")


def test_a_declared_file_that_does_not_exist_is_an_error_at_its_line(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, "compose:\n  projects:\n    frappe:\n      files: [compose.yaml, "
                 "overrides/compose.redis.yaml]\n")
    write(repo, {"compose.yaml": compose(service("api", "9000:80"))})
    code, out, _ = run(capsys, "check")
    assert code == 1
    # Once, at the ledger's line (the project cannot load: no second finding about it).
    assert out == ("port-mapping.yml:14:29: PL208 compose-path-not-found "
                   "compose.projects.frappe: no such file 'overrides/compose.redis.yaml'\n"
                   "Found 1 error, 0 warnings in 1 file.\n")


# -- 7. addresses -----------------------------------------------------------------------


def test_a_port_bound_wider_than_the_ledger_allows(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo, replace={"{port: 9000, target: 80}": "{port: 9000, target: 80, "
                                                     "host_ip: 127.0.0.1}",
                          "{port: 9010, target: 80}": "{port: 9010, target: 80, "
                                                     "host_ip: '::1'}"})
    write(repo, {"api/compose.yaml": compose(service("api", "9000:80"),
                                             service("web", "[::]:9010:80"))})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert out == (
        "api/compose.yaml:5:9: PL210 wider-host-address api publishes 9000/tcp on every "
        "address; the ledger allows api.http only on 127.0.0.1 (port-mapping.yml:7)\n"
        '    fix: bind it to the ledger\'s address: "127.0.0.1:9000:80" in api/compose.yaml:5\n'
        "api/compose.yaml:9:9: PL210 wider-host-address web publishes 9010/tcp on every "
        "IPv6 address (::); the ledger allows web.http only on ::1 (port-mapping.yml:10)\n"
        '    fix: bind it to the ledger\'s address: "[::1]:9010:80" in api/compose.yaml:9\n'
        "Found 2 errors, 0 warnings in 2 files.\n")
    write(repo, {"api/compose.yaml": compose(service("api", "127.0.0.1:9000:80"),
                                             service("web", "[::1]:9010:80"))})
    assert run(capsys, "check") == (0, "", "")
    assert run(capsys, "export")[1] == ("API_HTTP_PORT=9000\nAPI_HTTP_HOST=127.0.0.1\n"
                                        "WEB_HTTP_PORT=9010\nWEB_HTTP_HOST=::1\n")


# -- 8. one view of what is taken -------------------------------------------------------


def test_who_and_allocate_see_an_unrecorded_compose_port(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, {"tools/compose.yaml": compose(
        service("metrics", "9001:80", extra="profiles: [debug]"))})
    code, out, _ = run(capsys, "who", "9001")
    assert code == 0
    assert out == ("9001/tcp: published by metrics (compose project tools), not in the "
                   "ledger tools/compose.yaml:6\n"
                   "  range: application (9000-9099)\n"
                   "  allocate would not give it: published by a compose service\n")
    code, out, _ = run(capsys, "who", "9001", "--format", "json")
    info = json.loads(out)
    assert (info["allocatable"], info["why_not"]) == (False, "published by a compose service")
    assert info["published"] == [{
        "project": "tools", "service": "metrics", "port": "9001", "protocol": "tcp",
        "host_ip": None, "file": "tools/compose.yaml", "line": 6, "column": 9,
        "owner": None, "recorded": False}]
    assert run(capsys, "allocate", "new", "--category", "application") == (
        0, "new.http 9002/tcp\n", "")


def test_report_shows_a_port_behind_a_profile(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, {"tools/compose.yaml": compose(
        service("metrics", "9001:80", extra="profiles: [debug]"))})
    code, out, _ = run(capsys, "report")
    assert code == 0
    assert ("| PL201 unmapped-port | error | tools/compose.yaml:6:9 | metrics publishes "
            "9001/tcp, which port-mapping.yml does not allocate |") in out.splitlines()


# -- 9. network_mode: host --------------------------------------------------------------


def test_a_host_network_service_is_checked_by_the_ports_it_binds(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, {"api/compose.yaml": compose(
        service("api", "9000:80", extra="network_mode: host"))})
    code, out, _ = run(capsys, "check")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == ("api/compose.yaml:6:9: PL203 port-mismatch api publishes 80/tcp for "
                        "container port 80; the ledger gives api.http 9000/tcp "
                        "(port-mapping.yml:7)")
    # No text edit moves a port Docker ignores: the plan is manual (the planner's words).
    assert lines[1].startswith("    fix: manual: ") and "network_mode: host" in lines[1]
    assert lines[2:] == [
        "api/compose.yaml:6:9: PL211 host-network-ports [warning] api has network_mode: "
        "host, so Docker ignores this entry; the container binds 80/tcp on the host itself",
        "    fix: remove ports: (the container binds its own ports), or drop "
        "network_mode: host",
        "Found 1 error, 1 warning in 2 files."]


def test_a_host_network_service_binds_its_expose_ports(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    write(repo, {"api/compose.yaml": "services:\n  api:\n    image: x\n"
                 "    network_mode: host\n    expose:\n      - \"9000\"\n"
                 "      - 9050-9051/udp\n"})
    code, out, _ = run(capsys, "check", "--format", "json")
    assert code == 1
    assert [(f["code"], f["file"], f["line"], f["column"], f["port"], f["protocol"])
            for f in json.loads(out)["findings"]] == [
        ("PL201", "api/compose.yaml", 7, 9, 9050, "udp")]
    assert json.loads(out)["findings"][0]["message"] == (
        "api publishes 9050-9051/udp, which port-mapping.yml does not allocate")
    # `ports` stays Compose's own answer: expose is not a published port.
    assert run(capsys, "ports", "-f", "api/compose.yaml")[1] == '{"published": []}\n'


# -- 10. discovery's skipped folders and pruned walk ------------------------------------


def test_discovery_skips_vendor_trees_hidden_folders_and_virtual_environments(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger(repo)
    ok = compose(service("api", "9000:80"))
    bad = compose(service("other", "9099:80"))
    write(repo, {"api/compose.yaml": ok,
                 "vendor/acme/lib/docker-compose.yml": bad,
                 "web/node_modules/pkg/compose.yaml": bad,
                 ".github/compose.yaml": bad,
                 "env/pyvenv.cfg": "home = /usr\n",
                 "env/lib/site/compose.yaml": bad})
    assert run(capsys, "check") == (0, "", "")
    assert run(capsys, "projects")[1].splitlines()[0] == "api (found)"
    # compose.skip replaces the list ([] walks every folder but virtual environments).
    ledger(repo, "compose:\n  skip: []\n")
    code, out, _ = run(capsys, "check", "--format", "json", "--select", "PL201")
    assert [f["file"] for f in json.loads(out)["findings"]] == [
        ".github/compose.yaml", "vendor/acme/lib/docker-compose.yml",
        "web/node_modules/pkg/compose.yaml"]
    # A glob that names a skipped folder literally is walked into.
    ledger(repo, 'compose:\n  files: [".github/compose.yaml", "api/compose.yaml"]\n')
    code, out, _ = run(capsys, "check", "--format", "json", "--select", "PL201")
    assert [f["file"] for f in json.loads(out)["findings"]] == [".github/compose.yaml"]


def test_discovery_walks_no_folder_a_glob_cannot_match(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"stacks/a/compose.yaml": "", "docs/big/tree/compose.yaml": "",
                 "stacks/a/deep/compose.yaml": ""})
    walked: list[str] = []
    real = os.walk

    def watched(top: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for folder, dirs, files in real(top, *args, **kwargs):  # type: ignore[call-overload]
            walked.append(os.path.relpath(folder, repo))
            yield folder, dirs, files

    # The real walk, observed: which folders it entered.
    monkeypatch.setattr(discovery.os, "walk", watched)
    assert discovery.walk(repo, ["stacks/*/compose.yaml"]) == ["stacks/a/compose.yaml"]
    assert walked == [".", "stacks", "stacks/a"]


# -- no command exits 0 having checked nothing it was asked to check --------------------


@pytest.mark.parametrize(("args", "code", "stderr"), [
    (["check", "nowhere"], 2, "portledger: nowhere: no such file or folder\n"),
    (["check", "empty"], 2, "portledger: empty: no compose project here (neither the "
     "ledger's compose.files nor Compose's default file names match a file, after "
     "compose.exclude)\n"),
    (["check", "legacy"], 2, "portledger: legacy: no compose project here (neither the "
     "ledger's compose.files nor Compose's default file names match a file, after "
     "compose.exclude)\n"),
    (["check", "legacy/compose.yaml"], 2, "portledger: legacy/compose.yaml: left out by the "
     "ledger's compose.exclude (legacy/**); nothing to check\n"),
    (["check", "overrides"], 1, ""),
    (["check", "overrides/compose.override.yaml"], 1, ""),
    (["check"], 1, ""),  # the typo glob (PL208) and the orphan (PL209)
    (["projects", "empty"], 2, "portledger: empty: no compose project here (neither the "
     "ledger's compose.files nor Compose's default file names match a file, after "
     "compose.exclude)\n"),
    (["projects"], 1, ""),
])
def test_nothing_checked_is_never_a_pass(repo: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], code: int, stderr: str) -> None:
    ledger(repo, 'compose:\n  files: ["**/compose*.y*ml", "stackz/*.yml"]\n'
                 '  exclude: ["legacy/**"]\n')
    write(repo, {"api/compose.yaml": compose(service("api", "9000:80")),
                 "empty/README.md": "nothing here\n",
                 "legacy/compose.yaml": compose(service("old", "9000:80")),
                 "overrides/compose.override.yaml": compose(service("web", "9010:80"))})
    got = run(capsys, *args)
    assert (got[0], got[2]) == (code, stderr)
    if code == 1:
        assert "PL208" in got[1] or "PL209" in got[1]


# -- diff and the commit gate see the same projects and profiles as check ---------------


def test_diff_reads_declared_projects_and_every_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from test_portdiff import GitRepo, git_env

    repo = GitRepo(tmp_path / "repo", git_env(tmp_path))
    db = ("services:\n  api:\n    depends_on: [web]\n" + service("web", "9010:80")
          + service("dbg", "9020:80", extra="profiles: [debug]"))
    text = LEDGER.format(extra="compose:\n  projects:\n    frappe:\n      files: "
                               "[compose.yaml, overrides/compose.db.yaml]\n")
    repo.commit("init", {"port-mapping.yml": text,
                         "compose.yaml": compose(service("api", "9000:80")),
                         "overrides/compose.db.yaml": db})
    repo.stage({"overrides/compose.db.yaml": db.replace("9010", "9011").replace("9020",
                                                                                "9021")})
    monkeypatch.chdir(repo.path)
    assert run(capsys, "diff") == (0, (
        "overrides/compose.db.yaml:7:9: moved web http 9010 -> 9011 (tcp)\n"
        "overrides/compose.db.yaml:12:9: moved dbg 9020 -> 9021 (tcp)\n"), "")


@pytest.mark.parametrize(("section", "expected"), [
    ("compose:\n  projects:\n    app:\n      file: [a.yml]\n",
     ["port-mapping.yml:13:5: PL100 schema compose.projects.app: 'files' is a required key",
      "port-mapping.yml:14:7: PL100 schema compose.projects.app: unknown key 'file'; did "
      "you mean 'files'?"]),
    ("compose:\n  files: [a, 3]\n  projects:\n    d: {files: [x.yml, 4], directory: 5}\n",
     ["port-mapping.yml:12:14: PL100 schema compose.files.1: expected string, got integer 3",
      "port-mapping.yml:14:24: PL100 schema compose.projects.d.files.1: expected string, "
      "got integer 4",
      "port-mapping.yml:14:39: PL100 schema compose.projects.d.directory: expected string, "
      "got integer 5"]),
])
def test_an_invalid_compose_section_is_located_never_an_internal_error(
        repo: Path, capsys: pytest.CaptureFixture[str], section: str,
        expected: list[str]) -> None:
    # The look-ahead reads the section before it is validated: it must not trip on it.
    ledger(repo, section)
    code, out, err = run(capsys, "check")
    assert (code, err) == (1, "")
    assert out.splitlines()[:-1] == expected
