"""The verdict cache (``portledger.check.verdict``): a check of a repository where nothing
it reads changed answers from the last verdict, and every input it depends on makes it
check again. Real files and real loads throughout; the only stand-ins are counters
wrapped round the compose loader and the ledger reader to see what was read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portledger import check, compose
from portledger.check import cache
from portledger.ledger import model as ledger_mod

LEDGER = """\
version: 1
settings:
  fail_level: warning
ranges:
  application: {start: 2000, end: 2999}
services:
  web:                # the front end
    category: application
    compose: [web]
    ports:
      http: {port: 2000, target: 80}
  api:
    category: application
    compose: [api]
    ports:
      http: {port: 2100, target: 80}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "port-mapping.yml").write_text(LEDGER)
    for name in ("web", "api"):  # api takes web's port: findings
        (tmp_path / name).mkdir()
        (tmp_path / name / "compose.yaml").write_text(
            f'services:\n  {name}:\n    image: x\n    ports:\n      - "2000:80"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEB_PORT", raising=False)
    monkeypatch.delenv("PORTLEDGER_SERVICES_FILE", raising=False)
    return tmp_path


Shown = list[tuple[Any, ...]]


def shown(result: check.Result) -> Shown:
    """Everything a reporter shows of the findings, and their edits (with the digest of
    the bytes each was planned on, which ``Edit.__eq__`` leaves out)."""
    return [(*f.as_dict().values(), tuple((e, e.digest) for e in f.edits))
            for f in result.findings]


def run(repo: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[Shown, int]:
    """(the findings, how many things were read: compose projects and ledgers)."""
    found, reads = run_reads(repo, monkeypatch, **options)
    return found, len(reads)


def run_reads(repo: Path, monkeypatch: pytest.MonkeyPatch,
              **options: Any) -> tuple[Shown, list[str]]:
    """(the findings, what was read: "project" and "ledger" for each read)."""
    reads: list[str] = []
    real_project, real_ledger = compose.load_project, ledger_mod.load

    def project(*args: Any, **kwargs: Any) -> compose.Project:
        reads.append("project")
        return real_project(*args, **kwargs)

    def ledger(*args: Any, **kwargs: Any) -> Any:
        reads.append("ledger")
        return real_ledger(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(compose, "load_project", project)
        m.setattr(ledger_mod, "load", ledger)
        result = check.run(repo / "port-mapping.yml", cache=True, verdict=True, **options)
    return shown(result), reads


def fresh(repo: Path, **options: Any) -> Shown:
    return shown(check.run(repo / "port-mapping.yml", cache=False, **options))


def test_an_unchanged_repository_is_answered_from_its_verdict(
        repo: Path, monkeypatch: pytest.MonkeyPatch, private_cache: Path) -> None:
    first, reads = run(repo, monkeypatch)
    codes = sorted({row[0] for row in first})
    assert codes == ["PL202", "PL204"] and reads == 3  # the ledger and two projects
    assert any(row[-1] for row in first)  # plans with edits: kept too
    assert run(repo, monkeypatch) == (first, 0)  # nothing read again
    assert fresh(repo) == first
    assert len(list(private_cache.glob("verdict-*.json"))) == 1


CHANGES = {
    "a compose file's bytes": lambda r: (r / "api" / "compose.yaml").write_text(
        'services:\n  api:\n    image: x\n    ports:\n      - "2100:80"\n'),
    "a comment only": lambda r: (r / "web" / "compose.yaml").open("a").write("# note\n"),
    "a new project": lambda r: ((r / "db").mkdir(), (r / "db" / "compose.yaml").write_text(
        'services:\n  db:\n    image: x\n    ports:\n      - "2999:80"\n')),
    "a project removed": lambda r: (r / "api" / "compose.yaml").unlink(),
    "a new override file": lambda r: (r / "web" / "compose.override.yaml").write_text(
        'services:\n  web:\n    ports: !override\n      - "2002:80"\n'),
    "the ledger": lambda r: (r / "port-mapping.yml").write_text(
        LEDGER.replace("port: 2100", "port: 2001")),
    "a suppression": lambda r: (r / "api" / "compose.yaml").write_text(
        'services:\n  api:\n    image: x\n    ports:\n'
        '      - "2000:80"  # portledger: ignore[PL202,PL204]\n'),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_checks_again_and_says_what_no_cache_says(
        repo: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    first, _ = run(repo, monkeypatch)
    CHANGES[change](repo)
    again, reads = run(repo, monkeypatch)
    assert reads > 0
    assert again == fresh(repo)
    assert run(repo, monkeypatch) == (again, 0)  # and the new verdict is kept


def test_variables_env_files_and_the_well_known_list(
        repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (repo / "web" / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports:\n      - "${WEB_PORT:-2000}:80"\n')
    first, _ = run(repo, monkeypatch)
    assert run(repo, monkeypatch)[1] == 0
    (repo / "web" / ".env").write_text("WEB_PORT=2003\n")  # a file looked for, now there
    second, reads = run(repo, monkeypatch)
    assert reads and second == fresh(repo) != first
    monkeypatch.setenv("WEB_PORT", "2004")  # a variable the project reads
    third, reads = run(repo, monkeypatch)
    assert reads and third == fresh(repo) != second
    monkeypatch.setenv("SOMETHING_ELSE", "1")  # one no project reads: still the verdict
    assert run(repo, monkeypatch) == (third, 0)
    # The well-known list a ledger rule and the plans use.
    services = tmp_path_factory.mktemp("services") / "services"
    services.write_text("")
    monkeypatch.setenv("PORTLEDGER_SERVICES_FILE", str(services))
    fourth, reads = run(repo, monkeypatch)
    assert reads and fourth == fresh(repo)
    services.write_text("web-admin 2000/tcp\n")
    fifth, reads = run(repo, monkeypatch)
    assert reads and fifth == fresh(repo)


def test_a_repository_root_that_moves_checks_again(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What compose loading may read ends at the repository's root: when the `.git`
    above the ledger goes, a file it read outside the ledger's folder is refused, and
    the verdict made before does not stand."""
    outer = repo / "outer"
    app = outer / "app"
    (app / "web").mkdir(parents=True)
    (app / "port-mapping.yml").write_text(LEDGER)
    (app / "web" / "compose.yaml").write_text(
        'include:\n  - ../../shared/compose.yaml\nservices:\n  web:\n    image: x\n')
    (outer / "shared").mkdir()
    (outer / "shared" / "compose.yaml").write_text(
        'services:\n  db:\n    image: x\n    ports:\n      - "2500:80"\n')
    subprocess.run(["git", "init", "-q", str(outer)], check=True)
    monkeypatch.chdir(app)
    first, _ = run(app, monkeypatch)
    assert first == fresh(app) and "PL101" not in {row[0] for row in first}
    assert run(app, monkeypatch) == (first, 0)
    subprocess.run(["rm", "-rf", str(outer / ".git")], check=True)
    again, reads = run(app, monkeypatch)
    assert reads and again == fresh(app) and "PL101" in {row[0] for row in again}


def test_the_baseline_and_the_options_are_part_of_the_verdict(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = run(repo, monkeypatch)
    narrowed, reads = run(repo, monkeypatch, select={"PL204"})
    assert reads and narrowed == fresh(repo, select={"PL204"}) != first
    assert run(repo, monkeypatch) == (first, 0)  # each set of options its own verdict
    assert run(repo, monkeypatch, select={"PL204"}) == (narrowed, 0)
    # A baseline named on the command line, then the one the ledger's settings name.
    outside = repo / "kept.json"
    subprocess.run([sys.executable, "-m", "portledger", "baseline", "-o", str(outside)],
                   cwd=repo, check=True, capture_output=True)
    with_file, reads = run(repo, monkeypatch, baseline=outside)
    assert reads and with_file == fresh(repo, baseline=outside) == []
    outside.write_text(outside.read_text().replace("PL204", "PL299"))
    edited, reads = run(repo, monkeypatch, baseline=outside)
    assert reads and edited == fresh(repo, baseline=outside) != []
    subprocess.run([sys.executable, "-m", "portledger", "baseline"], cwd=repo, check=True,
                   capture_output=True)
    named = repo / ".portledger-baseline.json"
    assert run(repo, monkeypatch)[0] == fresh(repo) == []
    assert run(repo, monkeypatch) == ([], 0)
    named.write_text(named.read_text().replace("PL202", "PL299"))
    edited, reads = run(repo, monkeypatch)
    assert reads and edited == fresh(repo) != []


def test_a_planted_verdict_is_not_used(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                       private_cache: Path) -> None:
    """A verdict saying "clean" for this very repository, in a shared cache folder:
    signed with another key or not at all, it is not believed."""
    first, _ = run(repo, monkeypatch)
    [path] = private_cache.glob("verdict-*.json")
    body = cache.signed_body(path.read_text(), cache.secret())
    assert body is not None
    key, _, rest = body.partition("\n")
    import json

    stored = json.loads(rest)
    stored["findings"] = []
    lie = f"{key}\n{json.dumps(stored)}"
    for forged in (cache.sign(lie, bytes(32)), lie):
        path.write_text(forged)
        again, reads = run(repo, monkeypatch)
        assert reads and again == first


def test_the_command_line_says_the_same_from_a_verdict(repo: Path) -> None:
    """The real command, twice: the same output and exit code; --fix never answers from a
    verdict (it needs the plans' edits and writes)."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}

    def cli(*args: str) -> tuple[int, str, str]:
        done = subprocess.run([sys.executable, "-m", "portledger", "check", *args],
                              cwd=repo, env=env, capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr

    for fmt in ("text", "json", "sarif"):
        first = cli("--format", fmt)
        assert first[0] == 1 and first[1]
        assert cli("--format", fmt) == first
        assert cli("--format", fmt, "--no-cache") == first
    diff = cli("--diff")
    assert diff[0] == 1 and diff[1].startswith("--- a/")
    assert cli("--fix")[0] in (0, 1)
    assert cli("--format", "json") == cli("--format", "json", "--no-cache")


# -- a verdict that still holds although a project's files changed (early cutoff) --------

CLEAN = 'services:\n  cache:\n    image: x\n    ports:\n      - "2200:80"\n'


@pytest.fixture
def settled(repo: Path) -> Path:
    """The repository with a third project, clean: recorded, on its port, no plan on it."""
    (repo / "port-mapping.yml").write_text(LEDGER + """\
  cache:
    category: application
    compose: [cache]
    ports:
      http: {port: 2200, target: 80}
""")
    (repo / "cache").mkdir()
    (repo / "cache" / "compose.yaml").write_text(CLEAN)
    return repo


SAME_PORTS = {
    "a comment appended": lambda r: (r / "cache" / "compose.yaml").open("a").write("# x\n"),
    "another image": lambda r: (r / "cache" / "compose.yaml").write_text(
        CLEAN.replace("image: x", "image: redis:7")),
    "an environment variable": lambda r: (r / "cache" / "compose.yaml").write_text(
        CLEAN + "    environment:\n      MODE: fast\n"),
    "a new .env file it looks for": lambda r: (r / "cache" / ".env").write_text("A=1\n"),
}


@pytest.mark.parametrize("change", sorted(SAME_PORTS))
def test_an_edit_that_moves_no_port_keeps_the_verdict(
        settled: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """The changed project is loaded again, and nothing else: what the check reads of it
    is as it was, so the verdict stands (and is recorded with its new inputs)."""
    first, _ = run_reads(settled, monkeypatch)
    assert first and first == fresh(settled)
    SAME_PORTS[change](settled)
    again, reads = run_reads(settled, monkeypatch)
    assert reads == ["project"] and again == first == fresh(settled)
    assert run_reads(settled, monkeypatch) == (first, [])  # the new inputs recorded
    # The project's new entry is in the compose cache too: a check that cannot use the
    # verdict (other options) reads the ledger and no project.
    _, reads = run(settled, monkeypatch, select={"PL2"})
    assert reads == 1


CHECK_AGAIN = {
    "a port moved": lambda r: (r / "cache" / "compose.yaml").write_text(
        CLEAN.replace("2200:80", "2201:80")),
    "a line added above the ports": lambda r: (r / "cache" / "compose.yaml").write_text(
        "# top\n" + CLEAN),
    "an unused suppression": lambda r: (r / "cache" / "compose.yaml").write_text(
        CLEAN.replace('"2200:80"', '"2200:80"  # portledger: ignore[PL202] why')),
    "a suppression beside a port no host publishes": lambda r: (
        r / "cache" / "compose.yaml").write_text(CLEAN.replace(
            "    ports:\n", "    ports:\n      - \"80\"  # portledger: ignore[PL2] why\n")),
    "a variable it reads unset": lambda r: (r / "cache" / "compose.yaml").write_text(
        CLEAN + "    environment:\n      MODE: ${UNSET_MODE}\n"),
    "a file a plan was made on": lambda r: (r / "api" / "compose.yaml").open("a").write(
        "# x\n"),
    "a project that no longer loads": lambda r: (r / "cache" / "compose.yaml").write_text(
        CLEAN + "  bad: [\n"),
}


@pytest.mark.parametrize("change", sorted(CHECK_AGAIN))
def test_an_edit_the_verdict_depends_on_checks_again(
        settled: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    first, _ = run_reads(settled, monkeypatch)
    CHECK_AGAIN[change](settled)
    again, reads = run_reads(settled, monkeypatch)
    assert "ledger" in reads and again == fresh(settled)
    # The changed project is read once: the check takes what the verdict's try loaded
    # (one that fails to load is not kept, and is read again).
    assert reads.count("project") == (2 if change == "a project that no longer loads" else 1)
    if change in ("a file a plan was made on",):
        # Same findings, but the plans' edits carry the new bytes' digest.
        assert [row[:-1] for row in again] == [row[:-1] for row in first] and again != first
    elif change == "an unused suppression":
        assert "PL502" in {row[0] for row in again}
    elif change in ("a port moved", "a project that no longer loads"):
        assert again != first


def test_a_suppression_taken_away_checks_again(
        settled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (settled / "cache" / "compose.yaml").write_text(
        CLEAN.replace("2200:80", "2000:80") + "# portledger: ignore-file[PL2] shared\n")
    first, _ = run_reads(settled, monkeypatch)
    assert first == fresh(settled)
    (settled / "cache" / "compose.yaml").write_text(CLEAN.replace("2200:80", "2000:80"))
    again, reads = run_reads(settled, monkeypatch)
    assert "ledger" in reads and again == fresh(settled) != first


def test_many_changed_projects_check_as_usual(
        settled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from portledger.check import verdict

    first, _ = run_reads(settled, monkeypatch)
    monkeypatch.setattr(verdict, "SETTLE_MAX", 0)
    SAME_PORTS["a comment appended"](settled)
    again, reads = run_reads(settled, monkeypatch)
    assert "ledger" in reads and again == first == fresh(settled)


def test_an_entry_splits_into_its_inputs_and_the_digest_of_the_rest() -> None:
    import json

    from portledger.check.verdict import split_entry

    def line(inputs: Any, files: Any, bindings: Any) -> str:
        return json.dumps({"inputs": inputs, "variables": [["A", 'x,"files":[]']],
                           "files": files, "unset": [], "bindings": bindings},
                          separators=(",", ":"))

    tricky = [['/r/a,"files":["b"]/compose.yaml', "d1"], ["/r/\\\\", None]]
    inputs, variables, digest = split_entry(line(tricky, ["/r/a"], [[1]]))
    assert (inputs, variables) == (tricky, [["A", 'x,"files":[]']])
    assert split_entry(line([], ["/r/a"], [[1]]))[2] == digest  # the inputs are not in it
    assert split_entry(line(tricky, ["/r/b"], [[1]]))[2] != digest
    assert split_entry(line(tricky, ["/r/a"], [[2]]))[2] != digest
    with pytest.raises(ValueError):
        split_entry('{"inputs":[]}')


# -- every verdict as --no-cache says, over random sequences of edits ----------------------

PROJECT = """\
services:
  {name}:
    image: x:1
    environment:
      MODE: a
    ports:
      - "{port}:80"
      - target: 81
        published: "{long}"
"""

EDITS: dict[str, Any] = {
    "comment": lambda f, rnd: f.write_text(f.read_text() + f"# {rnd.random()}\n"),
    "image": lambda f, rnd: f.write_text(f.read_text().replace(
        "image: x:1", f"image: x:{rnd.randint(2, 9)}")),
    "environment": lambda f, rnd: f.write_text(f.read_text().replace(
        "MODE: a", f"MODE: {rnd.choice('bcd')}", 1)),
    "port": lambda f, rnd: f.write_text(re.sub(
        r'"\d+:80"', f'"{rnd.choice([2000, 2100, 2200, 2201, 2300])}:80"', f.read_text())),
    "long port": lambda f, rnd: f.write_text(re.sub(
        r'published: "\d+"', f'published: "{rnd.choice([2002, 2102, 2202])}"', f.read_text())),
    "line above": lambda f, rnd: f.write_text("# top\n" + f.read_text()),
    "suppress": lambda f, rnd: f.write_text(re.sub(
        r'(:80")(?!  #)', rf'\1  # portledger: ignore[{rnd.choice(["PL2", "PL204", "PL202"])}] x',
        f.read_text(), count=1)),
    "unsuppress": lambda f, rnd: f.write_text(re.sub(r"  # portledger: ignore\[[^]]*\] x", "",
                                                     f.read_text())),
    "unset variable": lambda f, rnd: f.write_text(f.read_text().replace(
        "MODE: a", "MODE: ${UNSET_IN_TEST}")),
    "set variable": lambda f, rnd: f.write_text(f.read_text().replace(
        "MODE: ${UNSET_IN_TEST}", "MODE: a")),
    "variable port": lambda f, rnd: f.write_text(re.sub(
        r'"(\d+):80"', r'"${PORT_IN_TEST:-\1}:80"', f.read_text(), count=1)),
    "env file": lambda f, rnd: (f.parent / ".env").write_text(
        f"PORT_IN_TEST={rnd.choice([2000, 2101, 2400])}\n"),
    "override": lambda f, rnd: (f.parent / "compose.override.yaml").write_text(
        "services:\n  " + re.search(r"^  (\w+):", f.read_text(), re.M).group(1)  # type: ignore[union-attr]
        + f':\n    ports: !override\n      - "{rnd.choice([2000, 2250])}:82"\n'),
    "no override": lambda f, rnd: (f.parent / "compose.override.yaml").unlink(missing_ok=True),
    "broken": lambda f, rnd: f.write_text(f.read_text() + "  bad: [\n"),
    "mended": lambda f, rnd: f.write_text(f.read_text().replace("  bad: [\n", "")),
}


def test_random_edits_never_change_what_a_check_says(
        settled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random sequences of edits to three projects (ports moved, comments, suppressions,
    variables, .env and override files, a project broken and mended): after each, the
    check with its caches and verdict says exactly what a check without them says (the
    plans' edits and their digests included), whichever way it got there."""
    import random

    monkeypatch.delenv("UNSET_IN_TEST", raising=False)
    monkeypatch.delenv("PORT_IN_TEST", raising=False)
    for name, port in (("web", 2000), ("api", 2000)):
        (settled / name / "compose.yaml").write_text(
            PROJECT.format(name=name, port=port, long=port + 2))
    # The third as the ledger has it: no finding, so no plan reads its text.
    clean = PROJECT.format(name="cache", port=2200, long=0).replace(
        '      - target: 81\n        published: "0"\n', "")
    edits = {**EDITS, "as the ledger has it": lambda f, rnd: f.write_text(
        clean if f.parent.name == "cache" else f.read_text())}
    (settled / "cache" / "compose.yaml").write_text(clean)
    rnd = random.Random(int(os.environ.get("PORTLEDGER_VERDICT_SEED", "7")))
    steps = int(os.environ.get("PORTLEDGER_VERDICT_STEPS", "60"))
    ways = {"unchanged": 0, "settled": 0, "checked": 0}
    for step in range(steps):
        folder = rnd.choice(["web", "api", "cache", "cache", "cache"])
        edit = rnd.choice(sorted(edits) if rnd.random() < 0.6 else
                          ["comment", "image", "environment", "as the ledger has it"])
        edits[edit](settled / folder / "compose.yaml", rnd)
        again, reads = run_reads(settled, monkeypatch)
        ways["checked" if "ledger" in reads else "settled" if reads else "unchanged"] += 1
        assert again == fresh(settled), (step, folder, edit)
    print(ways)
    assert ways["settled"] and ways["checked"], ways
