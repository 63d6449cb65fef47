"""The semantic port diff (``portledger.portdiff``) on real git repositories.

The helpers here (:class:`GitRepo`, :func:`portledger_cmd`, :data:`LEDGER`) are shared
with ``test_commits.py`` and ``hooks/test_commit_hooks.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from portledger import cli
from portledger.git import diff as portdiff
from portledger.git.diff import Port, PortChange, compare
from portledger.git.repo import Repository

LEDGER = """\
version: 1
ranges:
  user-facing: {start: 8000, end: 8999}
services:
  digi-core:
    category: user-facing
    compose: [digi-core-app]
    ports:
      http: {port: 8000, target: 8000}
  pcs-api:
    category: user-facing
    ports:
      http: {port: PCS, target: 8000}
compose:
  files: ["**/compose*.y*ml"]
"""

PCS = """\
services:
  pcs-api:
    image: pcs
    ports:
      - "PCS:8000"
"""


def ledger(pcs: int = 8000) -> str:
    return LEDGER.replace("PCS", str(pcs))


def pcs_compose(pcs: int = 8000) -> str:
    return PCS.replace("PCS", str(pcs))


def git_env(home: Path) -> dict[str, str]:
    """An environment where no user or system git configuration leaks into a test."""
    config = home / "gitconfig"
    if not config.exists():
        config.write_text("[init]\n\tdefaultBranch = main\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    })
    return env


class GitRepo:
    """A real repository in a temporary folder, driven by the real git."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["git", *args], cwd=self.path, env=self.env,
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {result.stderr}")
        return result.stdout

    def write(self, files: dict[str, str | None]) -> None:
        for name, text in files.items():
            target = self.path / name
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def stage(self, files: dict[str, str | None]) -> None:
        self.write(files)
        self.git("add", "-A")

    def commit(self, message: str, files: dict[str, str | None] | None = None) -> str:
        self.stage(files or {})
        self.git("commit", "-q", "--no-verify", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """A fresh repository under ``tmp_path``, made the current folder, with git's
    environment isolated from the user's."""
    env = git_env(tmp_path)
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("GIT_"):
            monkeypatch.setenv(key, value)
    r = GitRepo(tmp_path / "repo", env)
    monkeypatch.chdir(r.path)
    return r


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    return make_repo(tmp_path, monkeypatch)


def portledger_cmd(command: str, argv: Sequence[str],
                   capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``portledger COMMAND ARGV`` in this process; (exit code, stdout, stderr)."""
    code = cli.main([command, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def diff(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return portledger_cmd("diff", argv, capsys)


# -- compare(): the matching of ports, without git ---------------------------------------


def port(service: str, number: str, *, name: str | None = "http", protocol: str = "tcp",
         host: str | None = None, source: str = "ledger", target: int | None = 8000,
         file: str = "port-mapping.yml") -> Port:
    return Port(source, service, name, number, protocol, host, target, file, 1, 1,
                service if source == "compose" else None)


def kinds(changes: list[PortChange]) -> list[tuple[str, str]]:
    return [(c.kind, c.trailer) for c in changes]


def test_compare_kinds() -> None:
    old = [port("pcs-api", "8000"), port("a", "8100"), port("b", "8200"), port("c", "8300"),
           port("d", "8400"), port("gone", "8500")]
    new = [port("pcs-api", "8002"), port("a", "8100", protocol="udp"),
           port("b", "8200", host="127.0.0.1"), port("c2", "8300", name="web"),
           port("d", "8400", name="api"), port("new", "8600")]
    # Same file and line everywhere: ordered by trailer. A renamed port name (d) is none.
    assert kinds(compare(old, new)) == [
        ("owner", "8300 (tcp) owner c -> c2"),
        ("protocol", "a http 8100 -> 8100 (tcp -> udp)"),
        ("host", "b http 8200 -> 127.0.0.1:8200 (tcp)"),
        ("removed", "gone http 8500 -> none (tcp)"),
        ("added", "new http none -> 8600 (tcp)"),
        ("moved", "pcs-api http 8000 -> 8002 (tcp)"),
    ]


def test_compare_ignores_where_a_port_is_written() -> None:
    old = [port("web", "8080", source="compose", name=None, file="a/compose.yaml")]
    new = [port("web", "8080", source="compose", name=None, file="b/compose.yaml")]
    assert compare(old, new) == []


def test_compare_ipv6_host_and_ranges() -> None:
    old = [port("dns", "5353", protocol="udp", host="::1", name=None)]
    new = [port("dns", "5353-5354", protocol="udp", host="::1", name=None)]
    assert kinds(compare(old, new)) == [("moved", "dns [::1]:5353 -> [::1]:5353-5354 (udp)")]


# -- diff on real repositories -------------------------------------------------------------


def test_moving_pcs_is_one_trailer_for_ledger_and_compose(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", {"port-mapping.yml": ledger(8000), "pcs/compose.yaml": pcs_compose(8000)})
    repo.stage({"port-mapping.yml": ledger(8002), "pcs/compose.yaml": pcs_compose(8002)})
    assert diff(capsys) == (0, (
        "port-mapping.yml:13:20: moved pcs-api http 8000 -> 8002 (tcp)\n"
        "pcs/compose.yaml:5:9: moved pcs-api http 8000 -> 8002 (tcp)\n"), "")
    code, out, _ = diff(capsys, "--format", "json")
    doc = json.loads(out)
    assert doc["trailers"] == ["Port-Change: pcs-api http 8000 -> 8002 (tcp)"]
    assert doc["head"] is None and doc["notes"] == []
    assert [(c["kind"], c["source"], c["file"], c["old"]["port"], c["new"]["port"])
            for c in doc["changes"]] == [
        ("moved", "ledger", "port-mapping.yml", "8000", "8002"),
        ("moved", "compose", "pcs/compose.yaml", "8000", "8002"),
    ]
    assert diff(capsys, "--format", "markdown") == (0, (
        "| change | service | port | protocol | file |\n"
        "|---|---|---|---|---|\n"
        "| moved | pcs-api http | 8000 → 8002 | tcp | `port-mapping.yml:13` |\n"
        "| moved | pcs-api http | 8000 → 8002 | tcp | `pcs/compose.yaml:5` |\n"), "")


def test_unstaged_changes_are_not_in_the_default_diff(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", {"port-mapping.yml": ledger(8000), "pcs/compose.yaml": pcs_compose(8000)})
    repo.write({"pcs/compose.yaml": pcs_compose(8002)})
    assert diff(capsys) == (0, "", "")
    assert diff(capsys, "--format", "markdown") == (0, "No port changes.\n", "")


def test_two_revisions_and_range_forms(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    first = repo.commit("init", {"port-mapping.yml": ledger(8000)})
    repo.commit("move", {"port-mapping.yml": ledger(8002)})
    repo.commit("unrelated", {"README.md": "hello\n"})
    expected = "port-mapping.yml:13:20: moved pcs-api http 8000 -> 8002 (tcp)\n"
    assert diff(capsys, first, "HEAD") == (0, expected, "")
    assert diff(capsys, f"{first}..HEAD") == (0, expected, "")
    assert diff(capsys, f"{first}...") == (0, expected, "")
    assert diff(capsys, "HEAD~1", "HEAD") == (0, "", "")
    assert diff(capsys, "HEAD", first) == (
        0, "port-mapping.yml:13:20: moved pcs-api http 8002 -> 8000 (tcp)\n", "")


def test_initial_commit_adds_every_port(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.stage({"port-mapping.yml": ledger(8002), "pcs/compose.yaml": pcs_compose(8002)})
    assert diff(capsys) == (0, (
        "port-mapping.yml:9:20: added digi-core http none -> 8000 (tcp)\n"
        "port-mapping.yml:13:20: added pcs-api http none -> 8002 (tcp)\n"
        "pcs/compose.yaml:5:9: added pcs-api http none -> 8002 (tcp)\n"), "")


def test_renamed_compose_file_is_no_port_change(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", {"port-mapping.yml": ledger(), "pcs/compose.yaml": pcs_compose()})
    repo.git("mv", "pcs", "services-pcs")
    repo.stage({"services-pcs/compose.yaml": "# moved\n" + pcs_compose()})
    assert diff(capsys) == (0, "", "")


def test_owner_change_through_a_compose_alias(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    app = "services:\n  digi-core-app:\n    ports: ['8100:8000']\n    image: x\n"
    repo.commit("init", {"app/compose.yaml": app})
    renamed = "services:\n  digi-core:\n    ports: ['8100:8000']\n    image: x\n"
    repo.stage({"port-mapping.yml": ledger(), "app/compose.yaml": renamed})
    # The ledger arrives naming digi-core-app an alias of digi-core: the same owner.
    assert diff(capsys) == (0, (
        "port-mapping.yml:9:20: added digi-core http none -> 8000 (tcp)\n"
        "port-mapping.yml:13:20: added pcs-api http none -> 8000 (tcp)\n"
        "app/compose.yaml:3:13: owner 8100 (tcp) owner digi-core-app -> digi-core\n"), "")


def test_override_env_extends_and_include(repo: GitRepo,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    base = "services:\n  web:\n    image: x\n    ports: ['${WEB_PORT:-8080}:80']\n"
    repo.commit("init", {
        "web/compose.yaml": base,
        "web/.env": "WEB_PORT=8081\n",
        "api/compose.yaml": "services:\n  api:\n    extends: {file: ../common/api.yml, "
                            "service: api}\n",
        "common/api.yml": "services:\n  api:\n    image: a\n    ports: ['9000:9000']\n",
        "inc/compose.yaml": "include: [../lib/db.yaml]\n",
        "lib/db.yaml": "services:\n  db:\n    image: d\n    ports: ['5432:5432']\n",
    })
    # Only the files a project reads change: the .env, an override, the extended file
    # and the included file.
    repo.stage({
        "web/.env": "WEB_PORT=8082\n",
        "web/compose.override.yaml": "services:\n  web:\n    ports: !override ['8090:80']\n",
        "common/api.yml": "services:\n  api:\n    image: a\n    ports: ['9001:9000']\n",
        "lib/db.yaml": "services:\n  db:\n    image: d\n    ports: ['5433:5432']\n",
    })
    assert diff(capsys) == (0, (
        "common/api.yml:4:13: moved api 9000 -> 9001 (tcp)\n"
        "lib/db.yaml:4:13: moved db 5432 -> 5433 (tcp)\n"
        "web/compose.override.yaml:3:23: moved web 8081 -> 8090 (tcp)\n"), "")
    repo.stage({"web/compose.override.yaml": None})
    assert diff(capsys, "--format", "json")[1].count('"kind": "moved"') == 3
    code, out, _ = diff(capsys)
    assert "web/compose.yaml:4:13: moved web 8081 -> 8082 (tcp)\n" in out


def test_profiles_and_the_process_environment_do_not_hide_ports(
        repo: GitRepo, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("services:\n  debug:\n    profiles: [debug]\n    image: x\n"
            "    ports: ['${DEBUG_PORT:-9229}:9229']\n")
    repo.commit("init", {"dbg/compose.yaml": text})
    repo.stage({"dbg/compose.yaml": text.replace("9229}", "9230}")})
    monkeypatch.setenv("DEBUG_PORT", "1234")  # a developer's shell must not change the diff
    assert diff(capsys) == (0, "dbg/compose.yaml:5:13: moved debug 9229 -> 9230 (tcp)\n", "")


def test_a_project_that_does_not_load_is_left_out_with_a_note(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", {"pcs/compose.yaml": pcs_compose(8000),
                         "web/compose.yaml": "services:\n  web:\n    ports: ['80:80']\n"
                                             "    image: x\n"})
    repo.stage({"pcs/compose.yaml": "services: [\n",
                "web/compose.yaml": "services:\n  web:\n    ports: ['81:80']\n    image: x\n"})
    code, out, err = diff(capsys)
    assert (code, out) == (0, "web/compose.yaml:3:13: moved web 80 -> 81 (tcp)\n")
    assert err.startswith("portledger: note: pcs/compose.yaml:2:1: ")
    assert err.endswith("(compose project pcs does not load at the index; its ports are left "
                        "out of this comparison)\n")


def test_unreadable_ledger_and_bad_revisions_exit_2(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", {"port-mapping.yml": ledger()})
    assert diff(capsys, "nope") == (2, "", "portledger: unknown revision 'nope'\n")
    assert diff(capsys, "--format", "yaml")[0] == 2
    repo.stage({"port-mapping.yml": "services: {\n"})
    code, out, err = diff(capsys)
    assert (code, out) == (2, "")
    assert err.startswith("portledger: port-mapping.yml:2:1: ")
    assert err.endswith("(the ledger at the index); its port changes cannot be told\n")


def test_not_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, out, err = diff(capsys)
    assert (code, out) == (2, "")
    assert err == f"portledger: {tmp_path.resolve()}: not inside a git repository\n"


def test_mapping_option_inside_and_outside_the_repository(
        repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo.commit("init", {"conf/ports.yml": ledger(8000), "pcs/compose.yaml": pcs_compose(8000)})
    repo.stage({"conf/ports.yml": ledger(8002)})
    assert diff(capsys, "--mapping", "conf/ports.yml") == (
        0, "conf/ports.yml:13:20: moved pcs-api http 8000 -> 8002 (tcp)\n", "")
    shared = tmp_path / "shared.yml"
    shared.write_text(ledger(8000), encoding="utf-8")
    # A shared ledger outside the repository is the same on both sides: no ledger changes.
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    assert diff(capsys, "--mapping", str(shared)) == (
        0, "pcs/compose.yaml:5:9: moved pcs-api http 8000 -> 8002 (tcp)\n", "")


def test_trailers_parse_with_git_interpret_trailers(repo: GitRepo) -> None:
    old = [port("pcs-api", "8000"), port("dns", "53", protocol="udp", host="::1"),
           port("x", "8300")]
    new = [port("pcs-api", "8002"), port("dns", "53", protocol="tcp", host="::1"),
           port("y", "8300")]
    values = [c.trailer for c in compare(old, new)]
    message = "Move ports\n\nBody.\n\n" + "".join(f"Port-Change: {v}\n" for v in values)
    result = subprocess.run(["git", "interpret-trailers", "--parse"], input=message,
                            capture_output=True, text=True, check=True, cwd=repo.path)
    assert result.stdout == "".join(f"Port-Change: {v}\n" for v in values)
    assert values == ["8300 (tcp) owner x -> y",
                      "dns http [::1]:53 -> [::1]:53 (udp -> tcp)",
                      "pcs-api http 8000 -> 8002 (tcp)"]


def test_the_reader_reuses_projects_but_sees_every_change(repo: GitRepo) -> None:
    """Successive states share the mirror and the project cache; each answer is right."""
    shas = [repo.commit("0", {"a/compose.yaml": "services:\n  a:\n    ports: ['${P}:1']\n"
                                                "    image: x\n",
                              "a/.env": "P=7000\n"})]
    for i in range(1, 5):
        shas.append(repo.commit(str(i), {"a/.env": f"P={7000 + i}\n"} if i % 2 else
                                {"b/compose.yaml": f"services:\n  b:\n    ports: ['{i}:1']\n"
                                                    "    image: x\n"}))
    git_repo = Repository.open(repo.path)
    with portdiff.PortReader(git_repo) as reader:
        got = []
        for a, b in zip(shas, shas[1:], strict=False):
            d = portdiff.diff_states(reader, git_repo.commit_snapshot(a),
                                     git_repo.commit_snapshot(b))
            got.append(d.trailers())
    assert got == [["a 7000 -> 7001 (tcp)"],
                   ["b none -> 2 (tcp)"],
                   ["a 7001 -> 7003 (tcp)"],
                   ["b 2 -> 4 (tcp)"]]


def test_importing_the_modules_does_not_import_git() -> None:
    code = ("import sys, portledger.git.diff, portledger.git.reader, portledger.git.gate, "
            "portledger.git.repo, portledger.commands.diff, portledger.commands.commit_msg, "
            "portledger.hooks.commit_msg, portledger.hooks.prepare_commit_msg; "
            "print('git' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout == "False\n"
