"""Publish a directory in one atomic step, and clean up after publishers that died.

A published directory `<parent>/<name>` is a symbolic link to a version folder `<parent>/<name>.v-<id>`.
Work is written into a staging folder (`staging_dir`, `<name>.building-<pid>`); `publish` renames it to a new
version and replaces the link with `os.replace`, which is atomic: a reader, or a process killed at any
moment, sees the old version or the new one, never neither. The old version is removed after the swap.

`recover` runs before a new build: it removes staging and version folders and temporary links
(`<name>.link-<pid>`) left by processes that are gone, restores the link when a kill left none (or removes a
link to nothing), and puts back a `<name>.previous-<pid>` folder that the layout before this module (a plain
directory swapped by two renames) left behind when killed between its renames. A failed `publish` leaves the
old version in place.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

_OWNED = re.compile(r"^(?P<name>.+)\.(?P<kind>building|previous|link|v)-(?P<stamp>\d+-)?(?P<pid>\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():  # a zombie has exited
        return stat.read_text().split(") ")[-1][:1] != "Z"
    return True


def _live_other(pid: int) -> bool:
    """Whether `pid` is another process that is still running (its folders may be in use)."""
    return pid != os.getpid() and pid_alive(pid)


def staging_dir(target: str | Path) -> Path:
    """An empty staging folder for a new version of `target`, owned by this process (created)."""
    target = Path(target)
    staging = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _owned(target: Path) -> list[tuple[Path, str, int]]:
    """(path, kind, pid) of every staging/version/backup folder beside `target` that belongs to it."""
    found = []
    if not target.parent.is_dir():
        return found
    for path in target.parent.iterdir():
        match = _OWNED.match(path.name)
        if match and match["name"] == target.name:
            found.append((path, match["kind"], int(match["pid"])))
    return found


def current_version(target: str | Path) -> Path | None:
    """The version folder `target` points at, or None when it is not a link to an existing folder."""
    target = Path(target)
    if not target.is_symlink():
        return None
    version = target.parent / os.readlink(target)
    return version if version.is_dir() else None


def _remove(path: Path) -> None:
    """Delete a folder, or a link without following it."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _link(target: Path, version: Path) -> None:
    """Point `target` at the sibling folder `version`: a new link made aside, then renamed over `target`."""
    link = target.with_name(f"{target.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    try:
        os.replace(link, target)  # the atomic step
    except BaseException:
        link.unlink(missing_ok=True)
        raise


def publish(staging: str | Path, target: str | Path) -> Path:
    """Make the finished folder `staging` the content of `target` in one atomic step; returns the version folder.

    The previous version (or a plain directory at `target`) is removed only after the link points at the new one.
    """
    staging, target = Path(staging), Path(target)
    version = target.with_name(f"{target.name}.v-{time.time_ns()}-{os.getpid()}")
    staging.rename(version)
    previous = current_version(target)
    moved_aside = target.exists() and not target.is_symlink()
    if moved_aside:  # a plain directory from before: move it aside first
        previous = target.with_name(f"{target.name}.previous-{os.getpid()}")
        shutil.rmtree(previous, ignore_errors=True)
        target.rename(previous)
    try:
        _link(target, version)
    except BaseException:
        if current_version(target) != version:  # the link was not replaced: the old version goes back
            if moved_aside and not os.path.lexists(target):
                previous.rename(target)
            shutil.rmtree(version, ignore_errors=True)
        raise
    if previous is not None and previous != version:
        shutil.rmtree(previous, ignore_errors=True)
    return version


def recover(target: str | Path) -> list[str]:
    """Clean what crashed publishers left beside `target`; returns a line per action taken.

    Folders of live processes are left alone. When `target` is missing or its link dangles, the newest version
    (or a `previous` backup) is put back, so a kill between two steps never leaves no data at all.
    """
    target = Path(target)
    actions = []
    owned = _owned(target)
    if current_version(target) is None and not (target.exists() and not target.is_symlink()):
        candidates = sorted((p for p, kind, _ in owned if kind == "v"), key=lambda p: p.name)
        backups = [p for p, kind, pid in owned if kind == "previous" and not _live_other(pid)]
        restore = candidates[-1] if candidates else (backups[0] if backups else None)
        if restore is not None:
            if target.is_symlink():
                target.unlink()
            if restore.name.startswith(f"{target.name}.previous-"):
                restore.rename(target)
                actions.append(f"restored {target} from {restore.name}")
            else:
                _link(target, restore)
                actions.append(f"relinked {target} to {restore.name}")
            owned = _owned(target)
        elif target.is_symlink():
            target.unlink()
            actions.append(f"removed the dangling link {target} (no version left to restore)")
    keep = current_version(target)
    for path, _kind, pid in owned:
        if path == keep or _live_other(pid):
            continue
        _remove(path)
        actions.append(f"removed {path.name} (left by process {pid}, which is gone)")
    return actions
