"""commit-msg, prepare-commit-msg and check-commits (``portledger.commits``) on real repos."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_portdiff import GitRepo, ledger, make_repo, pcs_compose, portledger_cmd

from portledger.git import gate as commits
from portledger.git import repo as git_repo
from portledger.report import reporters

TRAILER = "Port-Change: pcs-api http 8000 -> 8002 (tcp)"
PCS_FILES = {"port-mapping.yml": ledger(8000), "pcs/compose.yaml": pcs_compose(8000)}
MOVED = {"port-mapping.yml": ledger(8002), "pcs/compose.yaml": pcs_compose(8002)}

REFUSED = (
    "pcs/compose.yaml:5:9: PL301 undocumented-port-change port change (moved) not in the "
    f"message: {TRAILER}\n"
    f"    fix: add the line '{TRAILER}' at the end of the commit message\n"
    "port-mapping.yml:13:20: PL301 undocumented-port-change port change (moved) not in the "
    f"message: {TRAILER}\n"
    f"    fix: add the line '{TRAILER}' at the end of the commit message\n"
    "Found 2 errors, 0 warnings in 2 files.\n"
    "\n"
    "Port changes must be documented in the commit message. Add these lines at its end, "
    "after a blank line:\n"
    "\n"
    f"{TRAILER}\n"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    return make_repo(tmp_path, monkeypatch)


def message(tmp_path: Path, text: str) -> str:
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(text, encoding="utf-8")
    return str(path)


def commit_msg(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return portledger_cmd("commit-msg", argv, capsys)


def prepare(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return portledger_cmd("prepare-commit-msg", argv, capsys)


def check_commits(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return portledger_cmd("check-commits", argv, capsys)


# -- commit-msg ------------------------------------------------------------------------------


def test_commit_msg_refuses_an_undocumented_move_with_the_line_to_paste(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    assert commit_msg(capsys, message(tmp_path, "Move PCS\n")) == (1, REFUSED, "")


def test_commit_msg_passes_a_documented_move(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    # As git hands it over from an editor: comments, and `git commit -v`'s diff below the
    # scissors line (whose own trailer-like lines do not count).
    text = (f"Move PCS\n\nIt clashed with digi-core.\n\n{TRAILER.lower()}\n"
            "# Please enter the commit message for your changes.\n"
            "# ------------------------ >8 ------------------------\n"
            "+Port-Change: something else\n")
    assert commit_msg(capsys, message(tmp_path, text)) == (0, "", "")
    below_scissors = ("Move PCS\n# ------------------------ >8 ------------------------\n"
                      f"{TRAILER}\n")
    assert commit_msg(capsys, message(tmp_path, below_scissors))[0] == 1


def test_commit_msg_wants_trailers_not_prose(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    text = f"Move PCS\n\n{TRAILER}\n\nA paragraph after it: the line is no trailer.\n"
    assert commit_msg(capsys, message(tmp_path, text))[0] == 1


def test_commit_msg_leaves_commits_without_port_changes_alone(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage({"README.md": "docs\n", "pcs/compose.yaml": "# a comment\n" + pcs_compose(8000)})
    path = message(tmp_path, "Docs\n")
    assert commit_msg(capsys, path) == (0, "", "")
    assert Path(path).read_text(encoding="utf-8") == "Docs\n"


@pytest.mark.parametrize("subject", ["fixup! Move PCS", "squash! Move PCS", "amend! Move PCS"])
def test_commit_msg_lets_autosquash_messages_through(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], subject: str) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    assert commit_msg(capsys, message(tmp_path, f"{subject}\n")) == (0, "", "")


def test_commit_msg_initial_commit_and_detached_head(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.stage({"pcs/compose.yaml": pcs_compose(8002)})
    code, out, _ = commit_msg(capsys, message(tmp_path, "Start\n"))
    assert code == 1
    assert out.endswith("\nPort-Change: pcs-api none -> 8002 (tcp)\n")
    repo.commit("Start\n\nPort-Change: pcs-api none -> 8002 (tcp)")
    repo.git("checkout", "-q", "--detach")
    repo.stage({"pcs/compose.yaml": pcs_compose(8003)})
    code, out, _ = commit_msg(capsys, message(tmp_path, "Detached\n"))
    assert code == 1
    assert out.endswith("\nPort-Change: pcs-api 8002 -> 8003 (tcp)\n")


def test_commit_msg_base_option_and_json(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.commit(f"Move PCS\n\n{TRAILER}", MOVED)
    repo.stage({"pcs/compose.yaml": pcs_compose(8003), "port-mapping.yml": ledger(8003)})
    path = message(tmp_path, f"Move PCS\n\n{TRAILER}\n")  # what --amend shows
    code, out, _ = commit_msg(capsys, path, "--base", "HEAD~1", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert [(f["code"], f["rule"], f["file"], f["line"], f["service"], f["port"])
            for f in doc["findings"]] == [
        # The message's trailer is the amended commit's: a near miss of the change now.
        ("PL302", "stale-port-change-trailer", path, 3, None, None),
        ("PL301", "undocumented-port-change", "pcs/compose.yaml", 5, "pcs-api", 8003),
        ("PL301", "undocumented-port-change", "port-mapping.yml", 13, "pcs-api", 8003),
    ]
    assert doc["findings"][0]["message"] == (
        f"'{TRAILER}' names no port change of this commit; did you mean "
        "'Port-Change: pcs-api http 8000 -> 8003 (tcp)'?")
    assert doc["findings"][1]["message"] == (
        "port change (moved) not in the message: Port-Change: pcs-api http 8000 -> 8003 (tcp)")
    assert doc["summary"] == {"errors": 3, "warnings": 0, "notices": 0, "files": 3}


def test_commit_msg_refuses_a_trailer_for_a_change_that_did_not_happen(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage({"README.md": "docs\n"})
    path = message(tmp_path, f"Tidy the README\n\n{TRAILER}\n")
    assert commit_msg(capsys, path) == (1, (
        f"{path}:3:1: PL302 stale-port-change-trailer '{TRAILER}' names no port change of "
        "this commit\n"
        f"    fix: remove the line '{TRAILER}', or stage the change it names\n"
        "Found 1 error, 0 warnings in 1 file.\n"), "")


def test_commit_msg_names_a_near_miss(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    path = message(tmp_path, "Move PCS\n\nPort-Change: pcs-api http 8000 -> 8002\n")
    code, out, _ = commit_msg(capsys, path)
    assert code == 1
    assert out.startswith(
        f"{path}:3:1: PL302 stale-port-change-trailer 'Port-Change: pcs-api http 8000 -> 8002' "
        f"names no port change of this commit; did you mean '{TRAILER}'?\n"
        f"    fix: replace the line with '{TRAILER}'\n")
    assert out.endswith(f"after a blank line:\n\n{TRAILER}\n")


def test_commit_msg_in_a_merge_asks_only_for_what_the_merge_itself_changes(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit(f"Move PCS\n\n{TRAILER}", MOVED)
    repo.git("checkout", "-q", "main")
    repo.commit("docs", {"README.md": "x\n"})
    repo.git("merge", "-q", "--no-commit", "--no-ff", "feature")
    path = message(tmp_path, "Merge branch 'feature'\n")
    assert commit_msg(capsys, path) == (0, "", "")
    web = "services:\n  web:\n    ports: ['8500:80']\n    image: x\n"
    repo.stage({"web/compose.yaml": web})  # a change made while merging
    code, out, _ = commit_msg(capsys, path)
    assert code == 1
    assert out.endswith("lines at its end, after a blank line:\n\n"
                        "Port-Change: web none -> 8500 (tcp)\n")


def test_commit_msg_usage_errors(repo: GitRepo, capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path) -> None:
    assert commit_msg(capsys) == (
        2, "", "portledger: commit-msg: the following arguments are required: FILE\n")
    assert commit_msg(capsys, str(tmp_path / "missing")) == (
        2, "", f"portledger: {tmp_path / 'missing'}: No such file or directory\n")


# -- prepare-commit-msg ----------------------------------------------------------------------


def test_prepare_fills_in_the_trailers_once(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    path = message(tmp_path, "Move PCS\n")
    assert prepare(capsys, path, "message") == (0, "", "")
    assert Path(path).read_text(encoding="utf-8") == f"Move PCS\n\n{TRAILER}\n"
    assert prepare(capsys, path) == (0, "", "")  # no duplicate
    assert Path(path).read_text(encoding="utf-8") == f"Move PCS\n\n{TRAILER}\n"
    assert commit_msg(capsys, path) == (0, "", "")


def test_prepare_puts_trailers_above_the_template_comments(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    path = message(tmp_path, "\n# Please enter the commit message for your changes.\n")
    assert prepare(capsys, path) == (0, "", "")
    assert Path(path).read_text(encoding="utf-8") == (
        f"\n{TRAILER}\n# Please enter the commit message for your changes.\n")


def test_prepare_leaves_merges_and_given_trailers_alone(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    path = message(tmp_path, "Merge branch 'x'\n")
    assert prepare(capsys, path, "merge") == (0, "", "")
    monkeypatch.setenv("PRE_COMMIT_COMMIT_MSG_SOURCE", "merge")  # as pre-commit passes it
    assert prepare(capsys, path) == (0, "", "")
    assert Path(path).read_text(encoding="utf-8") == "Merge branch 'x'\n"
    monkeypatch.delenv("PRE_COMMIT_COMMIT_MSG_SOURCE")
    own = "Move\n\nPort-Change: pcs-api 8000 -> 8002 (tcp) said my way\n"
    path = message(tmp_path, own)
    assert prepare(capsys, path, "message") == (0, "", "")
    assert Path(path).read_text(encoding="utf-8") == own


def test_prepare_for_an_amend_compares_with_the_parent(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    head = repo.commit("Move PCS", MOVED)
    path = message(tmp_path, "Move PCS\n")
    assert prepare(capsys, path, "commit", head) == (0, "", "")
    assert Path(path).read_text(encoding="utf-8") == f"Move PCS\n\n{TRAILER}\n"


# -- check-commits ---------------------------------------------------------------------------


def history(repo: GitRepo) -> dict[str, str]:
    """main: init, docs, merge of feature (clean), an evil merge, a documented web change;
    feature: a documented PCS move, an undocumented digi-core move, one without ports."""
    shas = {"init": repo.commit("init", PCS_FILES)}
    repo.git("checkout", "-q", "-b", "feature")
    shas["move-pcs"] = repo.commit(f"Move PCS\n\n{TRAILER}", MOVED)
    shas["move-core"] = repo.commit("Tidy digi-core", {
        "port-mapping.yml": ledger(8002).replace("port: 8000", "port: 8010")})
    shas["readme"] = repo.commit("Readme", {"README.md": "hi\n"})
    repo.git("checkout", "-q", "main")
    shas["web"] = repo.commit("Add web", {"web/compose.yaml": "services:\n  web:\n"
                                                              "    ports: ['8500:80']\n"
                                                              "    image: x\n"})
    repo.git("merge", "-q", "--no-ff", "--no-edit", "feature")
    shas["merge"] = repo.git("rev-parse", "HEAD").strip()
    repo.git("checkout", "-q", "-b", "other", shas["init"])
    shas["side"] = repo.commit("Side\n\nPort-Change: x none -> 8600 (tcp)",
                               {"x/compose.yaml": "services:\n  x:\n    ports: ['8600:1']\n"
                                                  "    image: x\n"})
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "other")
    repo.stage({"x/compose.yaml": "services:\n  x:\n    ports: ['8601:1']\n    image: x\n"})
    repo.git("commit", "-q", "--no-verify", "-m", "Merge other")
    shas["evil"] = repo.git("rev-parse", "HEAD").strip()
    shas["last"] = repo.commit("Web to 8501\n\nPort-Change: web 8500 -> 8501 (tcp)",
                               {"web/compose.yaml": "services:\n  web:\n    ports: ['8501:80']\n"
                                                    "    image: x\n"})
    return shas


def test_check_commits_names_exactly_the_undocumented_commits(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    shas = history(repo)
    code, out, err = check_commits(capsys, f"{shas['init']}..HEAD")
    assert (code, err) == (1, "")
    short = {k: v[:7] for k, v in shas.items()}
    core = "Port-Change: digi-core http 8000 -> 8010 (tcp)"
    # Commits in git's topological order, parents first. The evil merge is asked only for
    # what differs from the merged branch's own (documented) change: x at 8601, not 8600.
    assert out == (
        f"web/compose.yaml:3:13: PL301 undocumented-port-change commit {short['web']} "
        "(Add web): port change (added) not in the message: Port-Change: web none -> 8500 "
        "(tcp)\n"
        "    fix: add the line 'Port-Change: web none -> 8500 (tcp)' to the message of commit "
        f"{short['web']}\n"
        f"port-mapping.yml:9:20: PL301 undocumented-port-change commit {short['move-core']} "
        f"(Tidy digi-core): port change (moved) not in the message: {core}\n"
        f"    fix: add the line '{core}' to the message of commit {short['move-core']}\n"
        f"x/compose.yaml:3:13: PL301 undocumented-port-change commit {short['evil']} "
        "(Merge other): port change (added) not in the message: Port-Change: x none -> 8601 "
        "(tcp)\n"
        "    fix: add the line 'Port-Change: x none -> 8601 (tcp)' to the message of commit "
        f"{short['evil']}\n"
        "Found 3 errors, 0 warnings in 3 files.\n"
        "\n"
        "3 commits change ports without saying so; the lines each message needs:\n"
        f"\n{short['web']}\n    Port-Change: web none -> 8500 (tcp)\n"
        f"\n{short['move-core']}\n    {core}\n"
        f"\n{short['evil']}\n    Port-Change: x none -> 8601 (tcp)\n"
    )
    assert check_commits(capsys, f"{shas['evil']}..HEAD") == (0, "", "")


def test_check_commits_json(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    shas = history(repo)
    code, out, _ = check_commits(capsys, f"{shas['init']}..{shas['merge']}", "--format", "json")
    assert code == 1
    found = json.loads(out)["findings"]
    assert [(f["code"], f["file"], f["message"].split(" ")[1]) for f in found] == [
        ("PL301", "web/compose.yaml", shas["web"][:7]),
        ("PL301", "port-mapping.yml", shas["move-core"][:7]),
    ]


def test_check_commits_squash(repo: GitRepo, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    shas = history(repo)
    body = tmp_path / "pr.txt"
    body.write_text(f"Ports\n\n{TRAILER}\n", encoding="utf-8")
    code, out, _ = check_commits(capsys, f"{shas['init']}..{shas['readme']}", "--squash",
                                 "--message-file", str(body))
    assert code == 1
    assert out.endswith("Add these lines at its end, after a blank line:\n\n"
                        "Port-Change: digi-core http 8000 -> 8010 (tcp)\n")
    body.write_text(f"Ports\n\n{TRAILER}\nPort-Change: digi-core http 8000 -> 8010 (tcp)\n",
                    encoding="utf-8")
    assert check_commits(capsys, f"{shas['init']}..{shas['readme']}", "--squash",
                         "--message-file", str(body)) == (0, "", "")


def test_check_commits_usage(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("init", PCS_FILES)
    assert check_commits(capsys, "HEAD") == (
        2, "", "portledger: check-commits takes a range BASE..HEAD, not 'HEAD'\n")
    assert check_commits(capsys, "nope..HEAD") == (
        2, "", "portledger: unknown revision 'nope'\n")
    assert check_commits(capsys, "HEAD..HEAD", "--squash") == (
        2, "", "portledger: check-commits: --squash needs --message-file FILE\n")
    assert check_commits(capsys, "HEAD..HEAD") == (0, "", "")


def test_pl301_is_reported_by_every_reporter() -> None:
    assert commits.undocumented_port_change.rule.code == "PL301"  # type: ignore[attr-defined]
    assert set(reporters.FORMATS) >= {"text", "json"}


# -- real git commit with plain git hooks (pre-commit's own run is in tests/hooks) -------------


def install_hooks(repo: GitRepo) -> None:
    hooks = repo.path / ".git" / "hooks"
    for hook, module in (("commit-msg", "commit_msg"),
                         ("prepare-commit-msg", "prepare_commit_msg")):
        script = hooks / hook
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m portledger.hooks.{module} '
                          '"$@"\n', encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)


def git_commit(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", *args], cwd=repo.path, env=repo.env,
                          capture_output=True, text=True)


def test_real_git_commit_amend_and_commit_all(repo: GitRepo) -> None:
    repo.commit("init", PCS_FILES)
    install_hooks(repo)
    repo.stage(MOVED)
    done = git_commit(repo, "-q", "-m", "Move PCS")
    assert done.returncode == 0, done.stderr
    assert repo.git("log", "-1", "--format=%B") == f"Move PCS\n\n{TRAILER}\n\n"
    # --amend: the commit's parent is HEAD's parent, so the trailer must say 8000 -> 8003.
    repo.write({"pcs/compose.yaml": pcs_compose(8003), "port-mapping.yml": ledger(8003)})
    done = git_commit(repo, "-q", "-a", "--amend", "--no-edit")
    assert done.returncode == 0, done.stderr
    # The amended commit's own trailer no longer names a change: prepare-commit-msg drops it.
    assert repo.git("log", "-1", "--format=%(trailers:key=Port-Change,valueonly)") == (
        "pcs-api http 8000 -> 8003 (tcp)\n\n")
    assert repo.git("rev-list", "--count", "HEAD") == "2\n"


@pytest.mark.parametrize("how", [("--no-edit",), ("-m", "Move PCS off digi-core")])
def test_real_git_reword_only_amend_is_prefilled(repo: GitRepo, how: tuple[str, ...]) -> None:
    """Both hooks compare an amend with HEAD's parent: a reword of an undocumented
    port-moving commit gets the trailer, and commit-msg accepts it."""
    repo.commit("init", PCS_FILES)
    repo.stage(MOVED)
    assert git_commit(repo, "-q", "--no-verify", "-m", "Move PCS").returncode == 0
    install_hooks(repo)
    done = git_commit(repo, "-q", "--amend", *how)
    assert done.returncode == 0, done.stdout + done.stderr
    assert repo.git("log", "-1", "--format=%(trailers:key=Port-Change,valueonly)") == (
        "pcs-api http 8000 -> 8002 (tcp)\n\n")
    assert repo.git("rev-list", "--count", "HEAD") == "2\n"


def test_real_git_commit_msg_hook_alone_sees_amend(repo: GitRepo) -> None:
    repo.commit("init", PCS_FILES)
    repo.commit(f"Move PCS\n\n{TRAILER}", MOVED)
    install_hooks(repo)
    (repo.path / ".git" / "hooks" / "prepare-commit-msg").unlink()
    repo.stage({"pcs/compose.yaml": pcs_compose(8003), "port-mapping.yml": ledger(8003)})
    refused = git_commit(repo, "-q", "--amend", "-m",
                         "Move PCS\n\nPort-Change: pcs-api http 8002 -> 8003 (tcp)")
    assert refused.returncode == 1
    assert refused.stderr.endswith("\nPort-Change: pcs-api http 8000 -> 8003 (tcp)\n")
    done = git_commit(repo, "-q", "--amend", "-m",
                      "Move PCS\n\nPort-Change: pcs-api http 8000 -> 8003 (tcp)")
    assert done.returncode == 0, done.stdout + done.stderr


def test_commit_msg_without_proc_accepts_a_message_right_for_an_amend(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("init", PCS_FILES)
    repo.commit(f"Move PCS\n\n{TRAILER}", MOVED)
    repo.stage({"pcs/compose.yaml": pcs_compose(8003), "port-mapping.yml": ledger(8003)})
    monkeypatch.setattr(git_repo, "amending", lambda: None)  # as on macOS
    amended = "Move PCS\n\nPort-Change: pcs-api http 8000 -> 8003 (tcp)\n"
    assert commit_msg(capsys, message(tmp_path, amended)) == (0, "", "")
    on_top = "Move on\n\nPort-Change: pcs-api http 8002 -> 8003 (tcp)\n"
    assert commit_msg(capsys, message(tmp_path, on_top)) == (0, "", "")
    assert commit_msg(capsys, message(tmp_path, "Nothing\n"))[0] == 1
