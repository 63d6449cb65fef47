"""``portledger.check``: how paths are shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portledger.paths import display_path


def test_paths_below_the_current_folder_are_shown_relative(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "compose.yaml").write_text("services: {}\n")
    monkeypatch.chdir(tmp_path)
    assert display_path("svc/compose.yaml") == os.path.join("svc", "compose.yaml")
    assert display_path(tmp_path / "svc" / "compose.yaml") == os.path.join("svc", "compose.yaml")


def test_a_link_below_the_current_folder_is_shown_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The name the user sees in the tree, not where the link points.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "compose.yaml").write_text("services: {}\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "linked").symlink_to(outside, target_is_directory=True)
    monkeypatch.chdir(work)
    assert display_path(work / "linked" / "compose.yaml") == os.path.join(
        "linked", "compose.yaml")


def test_a_path_reached_through_a_linked_folder_above_is_still_relative(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The current folder is always physical; a path written through a link to it (as
    # /tmp is a link on macOS) is shown relative once the links are resolved.
    real = tmp_path / "real"
    (real / "svc").mkdir(parents=True)
    (real / "svc" / "compose.yaml").write_text("services: {}\n")
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    monkeypatch.chdir(real)
    assert display_path(alias / "svc" / "compose.yaml") == os.path.join("svc", "compose.yaml")


def test_a_path_outside_the_current_folder_is_shown_as_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    given = str(tmp_path / "b" / "compose.yaml")
    assert display_path(given) == given
