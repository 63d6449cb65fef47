"""Hostile inputs that were internal errors, leaks or bypasses: each now a located
message (or the right finding), on real files through the real command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portledger import cli

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "fixes" / "PL202-owner-mismatch"
FINDING = ("PL202 owner-mismatch pcs-api publishes 8000/tcp, which the ledger gives to "
           "digi-core.http (port-mapping.yml:11)")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger and a compose file with one fixable finding (PL202)."""
    work = tmp_path / "repo"
    shutil.copytree(CASE / "before", work)
    monkeypatch.chdir(work)
    return work


def run(*args: str, cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "portledger", *args], cwd=cwd,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=60)


# --- internal errors that are now located messages ----------------------------------


@pytest.mark.parametrize(("old", "new", "where", "message"), [
    ("port: 8000, target", "port: 8000.0, target", "11:20",
     "services.digi-core.ports.http.port: 8000.0 is not valid; expected the host port "
     "(8000) or an inclusive range (\"9000-9010\")"),
    ("end: 8999", "end: 9e3", "4:35",
     "ranges.user-facing.end: expected integer, got number 9000.0"),
])
def test_an_integral_float_in_the_ledger_is_a_located_schema_error(
        repo: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str,
        message: str) -> None:
    ledger = repo / "port-mapping.yml"
    ledger.write_text(ledger.read_text().replace(old, new, 1))
    assert cli.main(["check"]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines()[0] == f"port-mapping.yml:{where}: PL100 schema {message}"
    assert out.err == ""


def test_a_utf16_compose_file_is_fixed_and_stays_utf16(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compose = repo / "compose.yaml"
    compose.write_bytes(compose.read_text().encode("utf-16"))  # with its byte-order mark
    assert cli.main(["check", "--fix"]) == 0
    assert capsys.readouterr().err == ""
    data = compose.read_bytes()
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    expected = (CASE / "after" / "compose.yaml").read_text()
    assert data.decode("utf-16") == expected


def test_a_utf16_ledger_is_written_by_allocate_and_stays_utf16(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = repo / "port-mapping.yml"
    ledger.write_bytes(ledger.read_text().encode("utf-16-be").join([b"\xfe\xff", b""]))
    assert cli.main(["allocate", "reports", "--category", "user-facing", "--write"]) == 0
    assert capsys.readouterr().err == ""
    data = ledger.read_bytes()
    assert data.startswith(b"\xfe\xff")
    assert data[2:].decode("utf-16-be").endswith(
        "  reports:\n    category: user-facing\n    ports:\n      http: {port: 8001}\n")


@pytest.mark.parametrize("option", [[], ["--mapping"]])
def test_a_path_longer_than_the_name_limit_is_one_line(
        repo: Path, capsys: pytest.CaptureFixture[str], option: list[str]) -> None:
    long = "a" * 300
    assert cli.main(["check", *option, long]) == 2
    assert capsys.readouterr().err == (
        f"portledger: {'a' * 60}...{'a' * 40} (300 characters): File name too long\n")


def test_a_compose_file_named_with_a_nul_byte_in_env_is_a_located_finding(
        repo: Path) -> None:
    """Found by the long fuzz run (bench/fuzz.py, the dotenv target): ``COMPOSE_FILE`` in
    ``.env`` naming a file with a NUL byte made the inline-suppression scan of the
    finding's file raise ValueError (an internal error); it is PL101, no such file."""
    (repo / ".env").write_bytes(b"COMPOSE_FILE=one.yaml\x00two.yaml:three.yaml\n")
    done = run("check", "--no-cache", "--format", "json", cwd=repo)
    assert done.returncode == 1, done.stderr
    assert b"internal error" not in done.stderr and done.stderr == b""
    import json

    [finding] = [f for f in json.loads(done.stdout)["findings"] if f["code"] == "PL101"]
    assert (finding["line"], finding["column"]) == (1, 1)
    assert finding["file"].startswith("one.yaml") and "no such compose file" in (
        finding["message"])


# --- output hygiene -------------------------------------------------------------------


@pytest.fixture
def non_utf8_folder(repo: Path) -> Path:
    (repo / "compose.yaml").rename(repo / "compose.yml.off")
    folder = os.path.join(os.fsencode(repo), b"bad\xff")
    os.mkdir(folder)
    shutil.move(str(repo / "compose.yml.off"), os.fsdecode(folder) + "/compose.yaml")
    return repo


@pytest.mark.parametrize(("fmt", "shown"), [
    ("json", '"file": "bad\\\\xff/compose.yaml"'),
    ("github", "::error file=bad\\xff/compose.yaml,line=5,col=9,"),
    ("sarif", '"uri": "bad%FF/compose.yaml"'),
    ("markdown", "bad\\\\xff/compose.yaml"),
])
def test_every_reporter_shows_a_non_utf8_path(non_utf8_folder: Path, fmt: str,
                                              shown: str) -> None:
    done = run("check", "--format", fmt, cwd=non_utf8_folder)
    assert done.stderr == b""
    assert done.returncode == 1
    text = done.stdout.decode("utf-8")  # valid UTF-8 throughout
    assert shown in text
    if fmt in ("json", "sarif"):
        json.loads(text)


def test_text_in_github_actions_cannot_start_a_workflow_command(
        repo: Path) -> None:
    for name in ("::warning title=x::pwned", "nl\n::add-mask::secret", "esc\x1b[2J"):
        (repo / name).mkdir()
        shutil.copy(repo / "compose.yaml", repo / name / "compose.yaml")
    (repo / "compose.yaml").unlink()
    done = run("check", "--format", "text", cwd=repo, env={"GITHUB_ACTIONS": "true"})
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert [line.split(":5:9: ")[0] for line in lines if ":5:9: " in line] == [
        "./::warning title=x::pwned/compose.yaml",
        "esc\\x1b[2J/compose.yaml",
        "nl\\n::add-mask::secret/compose.yaml",
    ]
    assert not any(line.lstrip().startswith("::") for line in lines)
    assert "\x1b" not in done.stdout.decode()


def test_fix_diff_headers_keep_a_name_on_one_line(repo: Path) -> None:
    folder = repo / "nl\n::add-mask::x"
    folder.mkdir()
    (repo / "compose.yaml").rename(folder / "compose.yaml")
    done = run("check", "--diff", cwd=repo)
    assert done.returncode == 1
    assert b"--- a/nl\\n::add-mask::x/compose.yaml\n" in done.stdout
    assert not any(line.lstrip().startswith(b"::") for line in done.stdout.splitlines())


# --- boundaries -------------------------------------------------------------------------


def test_a_compose_file_in_a_folder_named_with_a_newline_is_checked(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = repo / "a\nb"
    folder.mkdir()
    (repo / "compose.yaml").rename(folder / "compose.yaml")
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out.startswith(f"a\nb/compose.yaml:5:9: {FINDING}\n")


def test_the_cache_is_keyed_on_every_module_of_the_package() -> None:
    from portledger.check import cache

    stamped = {Path(s[0]).relative_to(ROOT / "portledger").as_posix()
               for s in cache.code_stamps()[1:] if isinstance(s, list)
               and str(s[0]).startswith(str(ROOT / "portledger"))}
    assert {"ledger/model.py", "yamlio.py", "compose/loader.py", "check/cache.py"} <= stamped


# --- portledger render ------------------------------------------------------------------


@pytest.mark.parametrize(("given", "message"), [
    (b"", "<stdin>:1:1: not JSON: Expecting value"),
    (b"[", "<stdin>:1:2: not JSON: Expecting value"),
    (b"\xff{}", "<stdin>: not UTF-8 (byte offset 0)"),
    (b"[" * 100_000, "<stdin>: nested too deeply"),
    (b'{"findings": [], "summary": {"files": NaN}}', "<stdin>: NaN is not JSON"),
    (b"[]", "<stdin>: the top level: expected an object, got []"),
    (b'{"findings": {}}', "<stdin>: findings: expected a list, got {}"),
    (b'{"findings": [{"file": 1}]}', "<stdin>: findings[0].file: expected a string, got 1"),
    (b'{"findings": [{"file": "a", "line": 0}]}',
     "<stdin>: findings[0].line: expected an integer of at least 1, got 0"),
    (b'{"findings": [{"file": "a", "line": 1, "column": true}]}',
     "<stdin>: findings[0].column: expected an integer of at least 1, got true"),
    (b'{"findings": [{"file": "a", "line": 1, "column": 1, "code": "PL1", "rule": "r", '
     b'"severity": "fatal"}]}',
     '<stdin>: findings[0].severity: expected error, warning or notice, got "fatal"'),
    (b'{"findings": [], "summary": []}', "<stdin>: summary: expected an object, got []"),
])
@pytest.mark.parametrize("fmt", ["text", "github", "sarif", "markdown"])
def test_render_refuses_malformed_input_in_one_line(tmp_path: Path, given: bytes,
                                                    message: str, fmt: str) -> None:
    done = subprocess.run([sys.executable, "-m", "portledger", "render", "--format", fmt],
                          input=given, capture_output=True, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.decode() == f"portledger render: cannot read the input: {message}\n"


def test_render_refuses_malformed_changes_and_commits(tmp_path: Path) -> None:
    (tmp_path / "check.json").write_text('{"findings": [], "summary": {"files": 0}}')
    (tmp_path / "changes.json").write_text('[{"kind": "moved", "old": [1]}]')
    (tmp_path / "commits.json").write_text(
        '{"findings": [], "result": "failed", "checked": 1, "commits": [{"trailers": [1]}]}')
    for option, message in (
            ("--changes", "changes.json: [0].old: expected an object, got [1]"),
            ("--commits", "commits.json: commits[0].trailers[0]: expected a string, got 1")):
        done = subprocess.run(
            [sys.executable, "-m", "portledger", "render", "--format", "markdown",
             "--input", "check.json", option, option[2:] + ".json"],
            capture_output=True, cwd=tmp_path, timeout=60)
        assert done.returncode == 2
        assert done.stderr.decode() == f"portledger render: cannot read the input: {message}\n"


@pytest.mark.parametrize("health", ['"/h\\r\\nHost: evil"', '"/a b"', '"/x\\u001b"'])
def test_a_health_path_that_would_smuggle_a_request_is_refused(
        repo: Path, capsys: pytest.CaptureFixture[str], health: str) -> None:
    ledger = repo / "port-mapping.yml"
    ledger.write_text(ledger.read_text().replace(
        "http: {port: 8000, target: 8000}",
        f"http: {{port: 8000, target: 8000, health: {health}}}"))
    assert cli.main(["check", "--no-compose"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("port-mapping.yml:11:48: PL100 schema "
                          "services.digi-core.ports.http.health: ")
    assert "printable ASCII as sent in the request line" in out


@pytest.mark.parametrize("value", ["!!int 0x", "!!int ${HOST_PORT}"])
def test_a_tagged_integer_that_is_not_one_is_a_located_pl101(
        repo: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    compose = repo / "compose.yaml"
    compose.write_text(compose.read_text().replace('"8000:8000"', value))
    assert cli.main(["check"]) == 1
    text = value.split(" ", 1)[1]
    assert capsys.readouterr().out.startswith(
        f"compose.yaml:5:9: PL101 yaml-syntax cannot read {text!r} as an integer\n")


# A git configuration that is not there (not /dev/null, which a misbehaving process on a
# shared machine can turn into a regular file).
NO_CONFIG = str(ROOT / "tests" / "data" / "no-such-gitconfig")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_CONFIG_GLOBAL": NO_CONFIG, "GIT_CONFIG_NOSYSTEM": "1",
                        "GIT_AUTHOR_NAME": "a",
                        "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
                        "GIT_COMMITTER_EMAIL": "a@b"})


def _linked_history(tmp_path: Path, first: str, second: str,
                    outside: dict[str, str] | None = None) -> Path:
    """A repository whose app/compose.yaml is a committed symbolic link, to ``first`` in
    one commit and to ``second`` in the next; ``outside`` files are written beside it."""
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    shutil.copy(CASE / "after" / "port-mapping.yml", repo / "port-mapping.yml")
    for name, text in (outside or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "app" / "compose.yaml").symlink_to(first)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    (repo / "app" / "compose.yaml").unlink()
    (repo / "app" / "compose.yaml").symlink_to(second)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "two")
    return repo


def _pcs(port: int) -> str:
    return f'services:\n  pcs-api:\n    image: x\n    ports: ["{port}:8000"]\n'


def test_diff_and_check_commits_report_a_committed_symlink_they_do_not_follow(
        tmp_path: Path) -> None:
    """A link to a file outside the commit is not followed (that would read the local
    disk), and the project it stands for is an error, not a note: both commands exited 0
    having read none of its ports."""
    outside = tmp_path / "outside"
    repo = _linked_history(tmp_path, str(outside / "a.yaml"), "../../outside/b.yaml",
                           {"outside/a.yaml": _pcs(8002), "outside/b.yaml": _pcs(8009)})
    head = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=repo, text=True,
                          capture_output=True, check=True).stdout.strip()
    finding = ("app/compose.yaml:1:1: PL101 yaml-syntax a symbolic link in the commit (to "
               "'../../outside/b.yaml') that leads to no committed file; not followed: diff "
               "and check-commits read only what is committed (compose project app at {}: "
               "its port changes cannot be told)\n")
    (repo / "msg").write_text("two\n")
    for args, side in ((["diff", "HEAD~1", "HEAD"], "HEAD"),
                       (["check-commits", "HEAD~1..HEAD"], head),
                       (["check-commits", "HEAD~1..HEAD", "--squash", "--message-file",
                         "msg"], head)):
        done = run(*args, cwd=repo)
        # Not read: no port change from the files outside, no temporary path named.
        assert done.returncode == 1, done
        assert done.stdout.decode().startswith(finding.format(side)), done.stdout
        assert done.stderr == b""
        assert b"8009" not in done.stdout and b"portledger-diff-" not in done.stdout
    done = run("diff", "HEAD~1", "HEAD", "--format", "json", cwd=repo)
    found = json.loads(done.stdout)["findings"]
    assert (done.returncode, [(f["code"], f["file"], f["line"]) for f in found]) == (
        1, [("PL101", "app/compose.yaml", 1)])
    done = run("diff", "HEAD~1", "HEAD", "--format", "markdown", cwd=repo)
    assert (done.returncode, done.stdout.decode().splitlines()[:3]) == (1, [
        "No port changes in the projects that could be read.", "",
        "**PL101 yaml-syntax** `app/compose.yaml:1`: " + finding.format("HEAD").split(
            " yaml-syntax ", 1)[1].rstrip("\n")])


def test_a_committed_symlink_to_a_committed_file_is_read_from_the_object_store(
        tmp_path: Path) -> None:
    """A link inside the commit is read as the commit has its target (not from the
    disk), and a change of the target alone is a port change."""
    repo = _linked_history(tmp_path, "../shared/pcs.yml", "../shared/pcs.yaml",
                           {"repo/shared/pcs.yml": _pcs(8002), "repo/shared/pcs.yaml": _pcs(8002)})
    (repo / "shared" / "pcs.yaml").write_text(_pcs(8009))
    _git(repo, "commit", "-qam", "three")
    (repo / "shared" / "pcs.yml").write_text(_pcs(8111))  # the disk: never read
    done = run("diff", "HEAD~1", "HEAD", cwd=repo)
    assert (done.returncode, done.stdout, done.stderr) == (
        0, b"app/compose.yaml:4:13: moved pcs-api http 8002 -> 8009 (tcp)\n", b"")
    done = run("check-commits", "HEAD~2..HEAD", cwd=repo)
    assert done.returncode == 1
    assert done.stdout.decode().startswith(
        "app/compose.yaml:4:13: PL301 undocumented-port-change commit "), done.stdout


def test_a_commit_that_includes_a_file_above_its_root_is_a_finding(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    shutil.copy(CASE / "after" / "port-mapping.yml", repo / "port-mapping.yml")
    (repo / "app" / "compose.yaml").write_text(_pcs(8002))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    secret = tmp_path / "secret.yaml"
    secret.write_text(_pcs(8009))
    (repo / "app" / "compose.yaml").write_text(f"include: [{secret}]\n")
    _git(repo, "commit", "-qam", "two")
    done = run("diff", "HEAD~1", "HEAD", cwd=repo)
    assert done.returncode == 1
    assert done.stdout.decode() == (
        f"{secret}:1:1: PL101 yaml-syntax is outside the commit's root (the repository, or "
        "the ledger's folder without one), or a symbolic link to there: portledger reads "
        "only files under it, so it was not read (compose project app at HEAD: its port "
        "changes cannot be told)\n"), done.stdout


# --- the compose reader -----------------------------------------------------------------


@pytest.mark.parametrize(("value", "count"), [("${A:-" * 600 + "x" + "}" * 600, 600),
                                              ("${A:-}" * 700, 700)])
def test_hundreds_of_substitutions_in_one_value_are_a_located_error(
        repo: Path, capsys: pytest.CaptureFixture[str], value: str, count: int) -> None:
    compose = repo / "compose.yaml"
    compose.write_text(compose.read_text().replace(
        "image: digi/pcs-api", f"image: digi/pcs-api\n    environment: {{X: '{value}'}}"))
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out.startswith(
        f"compose.yaml:4:22: PL101 yaml-syntax invalid interpolation format: {count} "
        "substitutions in one value, nested or repeated too deeply to read in "
        "services.pcs-api.environment.X")


def test_reset_on_the_whole_document_is_a_located_error(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compose = repo / "compose.yaml"
    compose.write_text("!reset\n" + compose.read_text())
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out.startswith(
        "compose.yaml:1:1: PL101 yaml-syntax !reset on the whole document: Compose "
        "cannot load it\n")


def test_an_invalid_interpolated_port_names_the_variable_not_its_value(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-very-secret")
    monkeypatch.setenv("TOKEN", "tok3n-secret")
    compose = repo / "compose.yaml"
    compose.write_text(compose.read_text().replace(
        '"8000:8000" # still on digi-core\'s port',
        '"${AWS_SECRET_ACCESS_KEY}:80"'))
    for fmt in ("text", "json", "sarif", "github"):
        assert cli.main(["check", "--format", fmt]) == 1
        out = capsys.readouterr().out
        assert "secret" not in out.replace("AWS_SECRET_ACCESS_KEY", "")
        assert "with the value of AWS_SECRET_ACCESS_KEY it is not a valid port entry" in out
    compose.write_text(compose.read_text().replace(
        '- "${AWS_SECRET_ACCESS_KEY}:80"', '- {target: 80, published: "${TOKEN}"}'))
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("compose.yaml:5:9: PL205 invalid-port invalid port: the entry: with "
                          "the value of TOKEN it is not a valid port entry (values are not "
                          "shown)\n"), out


@pytest.mark.parametrize("entry", [
    "include: [{path}]",
    "services:\n  pcs-api:\n    image: x\n    extends: {{file: {path}, service: s}}",
])
@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_compose_loading_reads_nothing_outside_the_repository(
        repo: Path, capsys: pytest.CaptureFixture[str], entry: str, how: str) -> None:
    secret = repo.parent / "secret.yaml"
    secret.write_text("top-secret-line: 1\n")
    _git(repo, "init", "-q", "-b", "main")
    path = str(secret) if how == "absolute" else "../secret.yaml"
    (repo / "compose.yaml").write_text(entry.format(path=path) + "\n")
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert "top-secret" not in out
    assert f"{secret}:1:1: PL101 yaml-syntax is outside {repo} (the repository, or the " \
        "ledger's folder without one), or a symbolic link to there: portledger reads only " \
        "files under it, so it was not read" in out, out


@pytest.mark.parametrize("name", ["compose.yaml", ".env"])
def test_a_symlink_leading_outside_is_not_read(
        repo: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    outside = repo.parent / "elsewhere"
    if name == ".env":
        outside.write_text("HOST_PORT=8002\n")
        compose = repo / "compose.yaml"
        compose.write_text(compose.read_text().replace('"8000:8000"', '"${HOST_PORT}:8000"'))
    else:
        (repo / name).rename(outside)
    (repo / name).symlink_to(outside)
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{name}:1:1: PL101 yaml-syntax is outside {repo} "), out
    assert "8002" not in out


def test_compose_validation_sends_nothing_over_the_network(repo: Path) -> None:
    """A real load, under strace: no connect() to an internet address (the compose schema
    named a draft the Rust validator fetched, a DNS query per load)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    log = repo.parent / "strace.txt"
    done = subprocess.run(["strace", "-f", "-e", "trace=connect", "-o", str(log),
                           sys.executable, "-m", "portledger", "check", "--no-cache"],
                          cwd=repo, capture_output=True, timeout=120)
    assert done.returncode == 1
    assert [line for line in log.read_text().splitlines()
            if "AF_INET" in line] == []


def test_both_validators_refuse_any_remote_reference() -> None:
    """Compiled with a retriever that fails on any look-up: a remote $ref is an error."""
    import jsonschema_rs

    from portledger.compose import schema
    from portledger.schemacheck import refuse_remote

    assert schema._schema()["$schema"] == "http://json-schema.org/draft-07/schema#"
    remote = {"$ref": "https://example.invalid/x.json"}
    with pytest.raises(Exception, match="does not retrieve remote schema references"):
        jsonschema_rs.validator_for(remote, retriever=refuse_remote)
    assert schema._fast_validator() is not None  # compiled without a look-up


def test_a_usage_error_quoting_a_newline_is_still_one_line(repo: Path) -> None:
    done = run("rules", "a\nb", cwd=repo)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == b"portledger: unrecognized arguments: a\\nb\n"
    done = run("allocate", "x\ny", "--category", "user-facing", cwd=repo)
    assert done.stderr == (b"portledger: allocate: service name 'x\\ny' is not a ledger name "
                           b"(lower-case letters, digits, '-', '_' and '.', starting with a "
                           b"letter or digit)\n")


# --- schema and other compose messages quote no value a variable gave ---------------

TOKEN = "hunter2-very-secret"
FORMATS = ("text", "json", "sarif", "github", "markdown")


def _every_format(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The check's output in every format, one after the other (each exits 1)."""
    outs = []
    for fmt in FORMATS:
        assert cli.main(["check", *args, "--format", fmt]) == 1
        out = capsys.readouterr()
        outs.append(out.out + out.err)
    return "\n".join(outs)


@pytest.mark.parametrize("source", ["environment", ".env"])
@pytest.mark.parametrize(("entry", "expected"), [
    ('pull_policy: "${TOKEN}"',
     "compose.yaml:4:18: PL101 yaml-syntax does not match the compose specification: "
     "services.pcs-api.pull_policy: '${TOKEN}': with the value of TOKEN it must match the "
     "pattern 'always|never|build|if_not_present|missing|refresh|daily|weekly|"
     "every_([0-9]+[wdhms])+'"),
    ('build: {context: "${TOKEN}", dockerfile: 1}',
     "compose.yaml:4:46: PL101 yaml-syntax does not match the compose specification: "
     "services.pcs-api.build.dockerfile: '1' must be a string, not an integer"),
    ('cpus: {limit: "${TOKEN}"}',
     "compose.yaml:4:11: PL101 yaml-syntax does not match the compose specification: "
     "services.pcs-api.cpus: the value must be a number or a string, not a mapping"),
    ('ports: [{target: "${TOKEN}"}]',
     "compose.yaml:4:22: PL205 invalid-port invalid port: target '${TOKEN}': with the value "
     "of TOKEN it is not an integer"),
    ('extends: {file: "${TOKEN}", service: s}',
     "compose.yaml:4:14: PL101 yaml-syntax extends file '<the value of TOKEN>' not found"),
    ('network_mode: "service:${TOKEN}"',
     "compose.yaml:3:5: PL101 yaml-syntax service 'pcs-api' depends on undefined service "
     "'<the value of TOKEN>'"),
])
def test_no_compose_message_quotes_what_a_variable_gave(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        source: str, entry: str, expected: str) -> None:
    """A schema error (and any other load error) names the key path, the kind of
    violation and the variables read; the value a variable gave (from the environment
    or .env) appears in no format. jsonschema's own messages quoted it."""
    if source == ".env":
        monkeypatch.delenv("TOKEN", raising=False)
        (repo / ".env").write_text(f"TOKEN={TOKEN}\n")
    else:
        monkeypatch.setenv("TOKEN", TOKEN)
    (repo / "compose.yaml").write_text(
        f"services:\n  pcs-api:\n    image: digi/pcs-api\n    {entry}\n")
    out = _every_format(capsys)
    assert "hunter2" not in out
    assert out.startswith(expected + "\n"), out


SHADOW = ("root:$6$Zq8hunter2salt$Xy0hunter2hashhunter2hash:19700:0:99999:7:::\n"
          "daemon:*:19700:0:99999:7:::\n")


@pytest.mark.parametrize(("text", "key"), [
    (SHADOW, "(not quoted)"),
    # The same lines as a mapping: its values would reach interpolation ("${6" is no
    # variable), whose error quotes the text; it is refused before.
    (SHADOW.replace(":$6", ": '${6").replace(":::\n", "}'\n").replace(":*", ": '*"),
     "'root'"),
])
def test_a_file_that_is_not_a_compose_file_is_not_quoted(
        repo: Path, capsys: pytest.CaptureFixture[str], text: str, key: str) -> None:
    """As root, the schema message printed the lines of /etc/shadow read as a compose
    file (its top-level keys); now it names the place and says what it is not."""
    (repo / "compose.yaml").write_text(text)
    out = _every_format(capsys)
    assert "hunter2" not in out
    assert out.splitlines()[0] == (
        "compose.yaml:1:1: PL101 yaml-syntax does not match the compose specification: "
        f"top level: key {key} is not allowed here (only the specification's keys and x- "
        "extensions are); this is not a compose file")


def test_a_file_that_is_not_a_ledger_is_not_quoted(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "shadow").write_text(SHADOW)
    out = _every_format(capsys, "--mapping", "shadow")
    assert "hunter2" not in out
    assert "shadow:1:1: PL100 schema top level: unknown key (not quoted) (allowed: version, " \
        "settings, ranges, services, compose, hosts)\n" in out, out


@pytest.mark.parametrize(("entry", "message"), [
    ('["lib.yaml"]', "an include entry must be a path or a mapping"),
    ("5", "an include entry must be a path or a mapping"),
    ("{path: [1]}", "include path must be a path or a list of paths"),
    ("{path: {a: 1}}", "include path must be a path or a list of paths"),
])
def test_an_include_entry_of_the_wrong_shape_is_a_located_error(
        repo: Path, capsys: pytest.CaptureFixture[str], entry: str, message: str) -> None:
    """Found by fuzzing: includes are read before the schema is checked, and a list
    for an entry was an AttributeError (Compose refuses each: "decoding failed")."""
    (repo / "compose.yaml").write_text(
        f"include:\n  - {entry}\nservices:\n  pcs-api: {{image: x}}\n")
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out.startswith(f"compose.yaml:2:5: PL101 yaml-syntax {message}\n")


LONG = "hunter2" * 20


@pytest.mark.parametrize(("text", "expected"), [
    ('services:\n  "root:$6$hunter2:19700:0:::": {category: user-facing, ports: {http: '
     '{port: 8001}}}\n',
     "port-mapping.yml:4:3: PL100 schema services: name (not quoted) must be lower-case "
     "letters, digits, '-', '_' or '.', starting with a letter or digit"),
    ("services:\n  a: {category: user-facing, ports: {http: {port: 8001, health: "
     f'"/{LONG}\\r\\nx"}}}}}}\n',
     "port-mapping.yml:4:65: PL100 schema services.a.ports.http.health: the value is not "
     "valid; expected the HTTP path of the service's health endpoint on this port, e.g. "
     "/health: printable ASCII as sent in the request line (no spaces or control "
     "characters; percent-encode the rest)"),
    (f"services:\n  a: {{category: user-facing, ports: {{http: {{port: 8001, protocol: "
     f"{LONG}}}}}}}\n",
     "port-mapping.yml:4:67: PL100 schema services.a.ports.http.protocol: the value is not "
     "one of: tcp, udp, sctp"),
])
def test_a_ledger_schema_message_quotes_no_long_value_nor_odd_name(
        repo: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    """The ledger's own text, but not a page of it, nor a line of /etc/shadow."""
    (repo / "port-mapping.yml").write_text(
        "version: 1\nranges: {user-facing: {start: 8000, end: 8999}}\n" + text)
    out = _every_format(capsys, "--no-compose")
    assert "hunter2" not in out
    assert out.startswith(expected + "\n"), out
