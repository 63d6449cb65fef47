"""The compose cache (``portledger.cache``): a second check reads only what changed, and
every input of a project (its files, the files it looked for, the variables it read)
invalidates its entry when it changes. Real files, real loads; the only stand-in is a
counter wrapped round the loader (``compose.load_project``) to see which projects were
read again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portledger import cachekey, check, compose
from portledger.check import cache

LEDGER = """version: 1
ranges:
  application: {start: 2000, end: 2999}
services:
  web:
    category: application
    ports: {http: {port: 2000}}
  api:
    category: application
    ports: {http: {port: 2100}}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "port-mapping.yml").write_text(LEDGER)
    for name, port in (("web", 2000), ("api", 2100)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "compose.yaml").write_text(
            f'services:\n  {name}:\n    image: x\n    ports:\n      - "{port}:80"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEB_PORT", raising=False)
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    return tmp_path


Run = tuple[list[tuple[str, str, int, int]], list[str]]


def run(repo: Path, monkeypatch: pytest.MonkeyPatch, *, use_cache: bool = True,
        paths: tuple[str, ...] = (), profiles: tuple[str, ...] = ()) -> Run:
    """(findings as (code, file, line, column), folders of the projects loaded again)."""
    loaded: list[str] = []
    real = compose.load_project

    def counting(*args: Any, **kwargs: Any) -> compose.Project:
        loaded.append(Path(kwargs["project_directory"]).name)
        return real(*args, **kwargs)

    monkeypatch.setattr(compose, "load_project", counting)
    result = check.run(repo / "port-mapping.yml", paths, cache=use_cache,
                       profiles=profiles or None)
    monkeypatch.setattr(compose, "load_project", real)
    return [(f.code, f.file, f.line, f.column) for f in result.findings], sorted(loaded)


def test_a_second_check_reads_nothing_again_and_says_the_same(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "api" / "compose.yaml").write_text(  # a finding, to see it come back
        'services:\n  api:\n    image: x\n    ports:\n      - "2000:80"\n')
    first = run(repo, monkeypatch)
    assert first == ([("PL202", "api/compose.yaml", 5, 9),
                      ("PL204", "web/compose.yaml", 5, 9)], ["api", "web"])
    assert run(repo, monkeypatch) == (first[0], [])
    assert run(repo, monkeypatch, use_cache=False) == (first[0], ["api", "web"])


def test_an_edited_compose_file_is_read_again(repo: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(repo, monkeypatch) == ([], ["api", "web"])
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "2001:80"\n')
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 5, 9)], ["web"])


def test_a_new_override_file_is_read(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(repo, monkeypatch)
    (repo / "web" / "compose.override.yaml").write_text(
        'services:\n  web:\n    ports: !override\n      - "2002:80"\n')
    assert run(repo, monkeypatch) == (
        [("PL203", "web/compose.override.yaml", 4, 9)], ["web"])


def test_env_file_and_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "${WEB_PORT:-2000}:80"\n')
    assert run(repo, monkeypatch) == ([], ["api", "web"])
    (repo / "web" / ".env").write_text("WEB_PORT=2003\n")  # a file looked for, now there
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 5, 9)], ["web"])
    assert run(repo, monkeypatch)[1] == []
    monkeypatch.setenv("WEB_PORT", "2000")  # the environment wins over .env
    assert run(repo, monkeypatch) == ([], ["web"])
    monkeypatch.setenv("SOMETHING_ELSE", "1")  # a variable no project reads
    assert run(repo, monkeypatch) == ([], [])
    monkeypatch.delenv("WEB_PORT")
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 5, 9)], ["web"])


def test_every_profile_and_narrowed_profiles(repo: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    profiles: [debug]\n    ports:\n'
        '      - "2004:80"\n')
    # Every profile by default, whatever COMPOSE_PROFILES says: a port behind a profile
    # is still a port someone will bind.
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 6, 9)], ["api", "web"])
    monkeypatch.setenv("COMPOSE_PROFILES", "other")
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 6, 9)], [])
    # --profile narrows to Compose's own selection, in cache entries of its own.
    assert run(repo, monkeypatch, profiles=("other",)) == ([], ["api", "web"])
    assert run(repo, monkeypatch, profiles=("other",)) == ([], [])
    assert run(repo, monkeypatch, profiles=("debug",)) == (
        [("PL203", "web/compose.yaml", 6, 9)], ["api", "web"])
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 6, 9)], [])


def test_extends_and_include_files(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "web" / "base.yaml").write_text(
        'services:\n  base:\n    image: x\n    ports:\n      - "2000:80"\n')
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    extends: {file: base.yaml, service: base}\n')
    (repo / "api" / "sub").mkdir()
    (repo / "api" / "sub" / "services.yaml").write_text(  # not a project of its own
        'services:\n  api:\n    image: x\n    ports:\n      - "${API_PORT:-2100}:80"\n')
    (repo / "api" / "compose.yaml").write_text("include:\n  - sub/services.yaml\n")
    assert run(repo, monkeypatch) == ([], ["api", "web"])
    (repo / "web" / "base.yaml").write_text(
        'services:\n  base:\n    image: x\n    ports:\n      - "2005:80"\n')
    assert run(repo, monkeypatch) == ([("PL203", "web/base.yaml", 5, 9)], ["web"])
    (repo / "api" / "sub" / ".env").write_text("API_PORT=2101\n")  # the included .env
    assert run(repo, monkeypatch) == ([("PL203", "api/sub/services.yaml", 5, 9),
                                       ("PL203", "web/base.yaml", 5, 9)], ["api"])


def test_projects_that_fail_to_load_are_read_every_time(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "abc:80"\n')
    first = run(repo, monkeypatch)
    assert first == ([("PL205", "web/compose.yaml", 5, 9)], ["api", "web"])
    assert run(repo, monkeypatch) == (first[0], ["web"])


def test_a_damaged_cache_is_an_empty_one(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                         private_cache: Path) -> None:
    run(repo, monkeypatch)
    [path] = private_cache.glob("compose-*.jsonl")
    lines = body(path).splitlines()
    assert len(lines) == 3  # the key, then one line per project
    # Signed, yet a line that is not JSON, one with a wrong shape (as a bug could write
    # them): those projects are read again.
    key0, _, _ = lines[1].partition("\t")
    key1, _, entry1 = lines[2].partition("\t")
    broken = json.loads(entry1)
    broken["bindings"] = [["too", "short"]]
    resign(path, f"{lines[0]}\n{key0}\t{{not json\n{key1}\t{json.dumps(broken)}\n")
    assert run(repo, monkeypatch) == ([], ["api", "web"])
    assert run(repo, monkeypatch) == ([], [])  # and written back whole
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert run(repo, monkeypatch) == ([], ["api", "web"])


def test_a_cache_that_cannot_be_written_is_no_cache(
        repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    blocker = tmp_path_factory.mktemp("ro") / "file"
    blocker.write_text("")
    monkeypatch.setenv("PORTLEDGER_CACHE_DIR", str(blocker / "cache"))  # below a file
    assert run(repo, monkeypatch) == ([], ["api", "web"])
    assert run(repo, monkeypatch) == ([], ["api", "web"])


def test_other_current_folder_other_cache(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "2006:80"\n')
    assert run(repo, monkeypatch)[0] == [("PL203", "web/compose.yaml", 5, 9)]
    monkeypatch.chdir(repo / "web")  # paths are shown relative to it
    assert run(repo, monkeypatch) == ([("PL203", "compose.yaml", 5, 9)], ["api", "web"])


def test_checking_some_paths_keeps_the_other_entries(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(repo, monkeypatch)
    assert run(repo, monkeypatch, paths=("web",)) == ([], [])
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "2007:80"\n')
    assert run(repo, monkeypatch, paths=("web",)) == (
        [("PL203", "web/compose.yaml", 5, 9)], ["web"])
    assert run(repo, monkeypatch) == ([("PL203", "web/compose.yaml", 5, 9)], [])


def test_an_entry_records_paths_and_variables(repo: Path) -> None:
    from portledger import compose

    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "${WEB_PORT:-2000}:80"\n')
    project = compose.load_project(project_directory=str(repo / "web"), environ={})
    entry = json.loads(cache.entry_line(project) or "")
    inputs = dict(entry["inputs"])
    assert inputs[str(repo / "web" / ".env")] is None
    assert inputs[str(repo / "web" / "compose.override.yaml")] is None
    assert len(inputs[str(repo / "web" / "compose.yaml")]) == 64  # its SHA-256
    assert dict(entry["variables"]) == {"COMPOSE_FILE": None, "COMPOSE_PROFILES": None,
                                        "WEB_PORT": None}


def test_the_command_line_caches_unless_told_not_to(
        repo: Path, private_cache: Path) -> None:
    env = {**os.environ, "PORTLEDGER_CACHE_DIR": str(private_cache / "cli")}

    def portledger(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "portledger", "check", *args],
                              cwd=repo, env=env, capture_output=True, text=True)

    assert portledger("--no-cache").returncode == 0
    assert not (private_cache / "cli").exists()
    first = portledger("--format", "json")
    assert sorted(p.name.split("-")[0] for p in (private_cache / "cli").iterdir()) == [
        "compose", "ledger", "verdict"]
    second = portledger("--format", "json")
    assert (first.returncode, first.stdout, first.stderr) == (0, second.stdout, "")
    assert json.loads(second.stdout)["summary"]["files"] == 3


# -- the ledger ------------------------------------------------------------------------


def ledger_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ledger files read as YAML from now on (a counter round yamlio.load)."""
    from portledger import yamlio

    reads: list[str] = []
    real = yamlio.load

    def counting(path: Any, **kwargs: Any) -> yamlio.Document:
        if Path(path).name == "port-mapping.yml":
            reads.append(str(path))
        return real(path, **kwargs)

    monkeypatch.setattr(yamlio, "load", counting)
    return reads


def full(repo: Path) -> list[tuple[object, ...]]:
    result = check.run(repo / "port-mapping.yml", cache=True)
    return [(f.code, f.file, f.line, f.column, f.end_line, f.end_column, f.message, f.fix)
            for f in result.findings]


def test_an_unchanged_ledger_is_not_read_as_yaml_again(
        repo: Path, monkeypatch: pytest.MonkeyPatch, private_cache: Path) -> None:
    # api publishes web's port: the finding names the ledger line of web's port, which
    # the cached ledger finds by reading its text only then.
    (repo / "api" / "compose.yaml").write_text(
        'services:\n  api:\n    image: x\n    ports:\n      - "2000:80"\n')
    reads = ledger_reads(monkeypatch)
    cold = full(repo)
    assert len(reads) == 1 and [p.name.split("-")[0] for p in private_cache.iterdir()
                                 if p.name.startswith("ledger")] == ["ledger"]
    assert ("PL202", "api/compose.yaml", 5, 9) in [c[:4] for c in cold]
    assert "port-mapping.yml:7)" in next(c[6] for c in cold if c[0] == "PL202")
    warm = full(repo)
    assert warm == cold and len(reads) == 1
    # Another ledger (web moves to 2001): read again, and what it says now.
    (repo / "port-mapping.yml").write_text(LEDGER.replace("port: 2000", "port: 2001"))
    changed = full(repo)
    assert len(reads) == 2
    assert ("PL203", "web/compose.yaml", 5, 9) in [c[:4] for c in changed]
    assert full(repo) == changed and len(reads) == 2


def test_a_ledger_with_load_findings_is_not_cached(
        repo: Path, monkeypatch: pytest.MonkeyPatch, private_cache: Path) -> None:
    (repo / "port-mapping.yml").write_text(LEDGER + "  web:\n    category: application\n")
    reads = ledger_reads(monkeypatch)
    first = full(repo)
    assert ("PL102", "port-mapping.yml", 11, 3) in [c[:4] for c in first]
    # Each check reads it twice: once for its values (which fail), once more for its
    # settings (select, ignore, baseline still apply to a ledger with errors).
    assert full(repo) == first and len(reads) == 4
    assert not list(private_cache.glob("ledger-*"))


def test_a_damaged_ledger_cache_is_no_cache(
        repo: Path, monkeypatch: pytest.MonkeyPatch, private_cache: Path) -> None:
    reads = ledger_reads(monkeypatch)
    first = full(repo)
    [path] = private_cache.glob("ledger-*")
    key, digest, values = path.read_text().split("\n", 2)
    path.write_text(f"{key}\n{digest}\n{values[:-5]}")  # cut short
    assert full(repo) == first and len(reads) == 2
    assert full(repo) == first and len(reads) == 2  # written back whole
    path.write_text(f"{key}\n{'0' * 64}\n{values}")  # another ledger's values
    assert full(repo) == first and len(reads) == 3


def test_a_hostile_cache_is_not_trusted(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                        private_cache: Path) -> None:
    # Lines that parse but lie about their types: a path that is a number (open() would
    # take it as a file descriptor and close it), a line number that is text, a ledger
    # whose stored values do not build. Each is ignored, and the files are read.
    (repo / "api" / "compose.yaml").write_text(
        'services:\n  api:\n    image: x\n    ports:\n      - "2000:80"\n')
    first = full(repo)
    assert len(first) == 2
    [compose_file] = private_cache.glob("compose-*.jsonl")
    head, *lines = body(compose_file).splitlines()
    forged = []
    for i, line in enumerate(lines):
        key, _, entry = line.partition("\t")
        data = json.loads(entry)
        if i == 0:
            data["inputs"] = [[1, "0" * 64]]
        else:
            data["bindings"][0][6] = "5"
        forged.append(f"{key}\t{json.dumps(data)}")
    resign(compose_file, "\n".join([head, *forged]) + "\n")
    [ledger_file] = private_cache.glob("ledger-*")
    key, digest, _ = body(ledger_file).split("\n", 2)
    resign(ledger_file, f'{key}\n{digest}\n{{"services": 7}}')
    reads = ledger_reads(monkeypatch)
    assert full(repo) == first and len(reads) == 1
    assert run(repo, monkeypatch)[1] == []  # and rewritten
    os.fstat(1)  # standard output still open


def body(path: Path) -> str:
    """A cache file's text without its signature line."""
    found = cache.signed_body(path.read_text(), cache.secret())
    assert found is not None, f"{path} is not signed with this user's key"
    return found


def resign(path: Path, text: str) -> None:
    """Write ``text`` signed with this user's key (as portledger itself would)."""
    key = cache.secret()
    assert key is not None
    path.write_text(cache.sign(text, key))


PLANTED = 'services:\n  web:\n    image: x\n    ports:\n      - "2999:80"\n'


def test_a_planted_entry_whose_digests_match_is_not_trusted(
        repo: Path, monkeypatch: pytest.MonkeyPatch, private_cache: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Someone sharing the cache folder (or a CI cache restored from another branch's
    run) writes entries whose digests match this checkout's files but whose bindings say
    2000 where the file publishes 2999: signed with their key, or unsigned, the entries
    are not used; the verdict is the one of reading the files."""
    web = repo / "web" / "compose.yaml"
    web.write_text(PLANTED)
    truth = run(repo, monkeypatch, use_cache=False)[0]
    assert truth == [("PL203", "web/compose.yaml", 5, 9)]
    run(repo, monkeypatch)
    [path] = private_cache.glob("compose-*.jsonl")
    honest = body(path)
    assert '"2999"' in honest
    planted = honest.replace('"2999"', '"2000"')
    other = bytes(range(32))  # another user's key
    for forged in (cache.sign(planted, other), planted, "hmac-sha256 00\n" + planted):
        path.write_text(forged)
        assert run(repo, monkeypatch) == (truth, ["api", "web"])
    # The same lie signed with this user's key would be believed: the key is what guards.
    resign(path, planted)
    assert run(repo, monkeypatch) == ([], [])


def test_a_signing_key_others_can_read_means_no_cache(
        repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    state = tmp_path_factory.mktemp("shared-state")
    key = state / "portledger" / "cache-key"
    key.parent.mkdir()
    key.write_bytes(bytes(32))
    key.chmod(0o644)
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    assert cache.secret() is None
    assert run(repo, monkeypatch) == ([], ["api", "web"])
    assert run(repo, monkeypatch) == ([], ["api", "web"])  # nothing cached, every time
    key.chmod(0o600)
    cachekey._secret_at.cache_clear()
    run(repo, monkeypatch)
    assert run(repo, monkeypatch) == ([], [])


def test_the_signing_key_is_made_once_private(
        repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    state = tmp_path_factory.mktemp("fresh-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    run(repo, monkeypatch)
    key = state / "portledger" / "cache-key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    made = key.read_bytes()
    cachekey._secret_at.cache_clear()
    assert run(repo, monkeypatch) == ([], []) and key.read_bytes() == made


def test_files_no_check_wrote_for_a_month_are_removed(
        repo: Path, monkeypatch: pytest.MonkeyPatch, private_cache: Path) -> None:
    old = 40 * 86400
    stale = private_cache / "compose-0123456789abcdef01234567.jsonl"
    recent = private_cache / "ledger-0123456789abcdef01234567.json"
    foreign = private_cache / "notes.txt"  # not the cache's: left alone, however old
    for path in (stale, recent, foreign):
        path.write_text("x")
    for path in (stale, foreign):
        os.utime(path, (path.stat().st_atime - old, path.stat().st_mtime - old))
    run(repo, monkeypatch)
    names = sorted(p.name for p in private_cache.iterdir())
    assert stale.name not in names and recent.name in names and foreign.name in names
    assert len(names) == 4  # and this ledger's two
