"""The atomic directory publish: a kill at any step leaves the old or the new version, and recovery cleans up."""

import os

import pytest

from tests.support.processes import dead_pid
from torchcell_core.publish import current_version, publish, recover, staging_dir


def _version(target, text):
    staging = staging_dir(target)
    (staging / "data.txt").write_text(text)
    return publish(staging, target)


def test_publish_swaps_in_one_step_and_removes_the_old_version(tmp_path):
    target = tmp_path / "graph"
    first = _version(target, "one")
    assert (target / "data.txt").read_text() == "one" and target.is_symlink()
    second = _version(target, "two")
    assert (target / "data.txt").read_text() == "two"
    assert current_version(target) == second and not first.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["graph", second.name])


def test_a_plain_directory_from_the_old_layout_is_replaced(tmp_path):
    target = tmp_path / "graph"
    target.mkdir()
    (target / "data.txt").write_text("old")
    _version(target, "new")
    assert (target / "data.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir() if "previous" in p.name] == []


def test_recover_restores_a_missing_link_and_removes_what_dead_processes_left(tmp_path):
    target = tmp_path / "graph"
    version = _version(target, "good")
    dead = dead_pid()
    (tmp_path / f"graph.building-{dead}").mkdir()  # a build killed half way
    target.unlink()  # as if killed between the two renames of the old swap
    actions = recover(target)
    assert (target / "data.txt").read_text() == "good" and current_version(target) == version
    assert not (tmp_path / f"graph.building-{dead}").exists()
    assert any("relinked" in a for a in actions) and any("building" in a for a in actions)


def test_recover_puts_back_an_old_layout_backup_and_leaves_live_builds_alone(tmp_path):
    target = tmp_path / "graph"
    backup = tmp_path / f"graph.previous-{dead_pid()}"
    backup.mkdir()
    (backup / "data.txt").write_text("kept")
    live = tmp_path / f"graph.building-{os.getppid()}"
    live.mkdir()
    recover(target)
    assert (target / "data.txt").read_text() == "kept"
    assert live.exists()


def test_recover_removes_a_dead_publishers_temporary_link_and_a_link_to_nothing(tmp_path):
    target = tmp_path / "graph"
    dead = dead_pid()
    os.symlink(f"graph.v-1-{dead}", tmp_path / f"graph.link-{dead}")  # killed before its os.replace
    os.symlink(f"graph.v-2-{dead}", target)  # its version folder deleted by hand
    actions = recover(target)
    assert list(tmp_path.iterdir()) == []
    assert f"removed graph.link-{dead} (left by process {dead}, which is gone)" in actions
    assert f"removed the dangling link {target} (no version left to restore)" in actions


def test_a_failed_link_swap_puts_an_old_layout_directory_back(tmp_path, monkeypatch):
    target = tmp_path / "graph"
    target.mkdir()
    (target / "data.txt").write_text("old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        _version(target, "new")
    assert not target.is_symlink() and (target / "data.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["graph"]
