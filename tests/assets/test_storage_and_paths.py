"""The storage resource: DuckDB lock waits are logged with the holder's PID, readers can take a snapshot that
does not block writers, no path leaves the data directory, and tool caches live under it."""

import logging
import os
import re
import subprocess
import sys
import types

import duckdb
import pytest

from torchcell_assets.defs.resources import TrainingClient, training_client_from_env
from torchcell_assets.lib.storage import TorchcellStorage, connect_waiting
from torchcell_core.publish import publish, staging_dir
from torchcell_core.train.tracking import CACHE_FOLDERS, cache_environment, make_tracker

HOLD = """import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _holder(path, seconds: float) -> subprocess.Popen:
    """Another process holding a write connection to `path` for `seconds`."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_wait_for_the_duckdb_lock_is_logged_with_the_holder_and_the_time(tmp_path, caplog):
    storage = TorchcellStorage(data_dir=str(tmp_path), duckdb_lock_seconds=60)
    holder = _holder(storage.duckdb_path, 3.0)
    lines = []
    with caplog.at_level(logging.INFO, logger="torchcell_assets.storage"):
        con = connect_waiting(storage.duckdb_path, False, 60, lines.append, every=1.0)
    con.close()
    holder.wait()
    assert lines[0].startswith(f"{storage.duckdb_path} is locked by PID {holder.pid} (")
    assert lines[0].endswith("; waiting up to 60 s")
    assert any(re.search(rf"is still locked after \d+ s by PID {holder.pid} ", line) for line in lines[1:-1]), lines
    assert lines[-1].startswith(f"got the DuckDB lock on {storage.duckdb_path} after ")
    assert [r.getMessage() for r in caplog.records if r.name == "torchcell_assets.storage"] == lines


def test_giving_up_on_the_lock_says_who_held_it(tmp_path, caplog):
    storage = TorchcellStorage(data_dir=str(tmp_path), duckdb_lock_seconds=1)
    holder = _holder(storage.duckdb_path, 4.0)
    with caplog.at_level(logging.INFO, logger="torchcell_assets.storage"), pytest.raises(duckdb.IOException):
        with storage.duckdb():
            pass
    holder.wait()
    lines = [r.getMessage() for r in caplog.records if r.name == "torchcell_assets.storage"]
    assert lines, "the wait was not logged"
    assert lines[-1].startswith(f"gave up waiting for the DuckDB lock on {storage.duckdb_path} after ")
    assert lines[-1].split("; ")[-1].startswith(f"held by PID {holder.pid} (")


WRITE = """import sys, duckdb
con = duckdb.connect(sys.argv[1])  # fails at once if a reader holds the file
con.execute("INSERT INTO t VALUES (2)")
con.close()
"""


def test_a_read_snapshot_does_not_block_writers(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path), duckdb_lock_seconds=10)
    with storage.duckdb() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS a")
    with storage.read_snapshot() as snapshot:
        writer = subprocess.run([sys.executable, "-c", WRITE, str(storage.duckdb_path)], capture_output=True, text=True)
        assert writer.returncode == 0, writer.stderr
        assert snapshot.execute("SELECT count(*) FROM t").fetchall() == [(1,)]  # as of the snapshot
    with storage.duckdb(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(2,)]
    assert list((tmp_path / "tmp").iterdir()) == []  # the copy is gone


@pytest.mark.parametrize(
    "parts",
    [("..",), ("../elsewhere.parquet",), ("datasets", "../../x"), ("/etc/passwd",), ("sweeps", "a/../../../b.json")],
)
def test_a_path_outside_the_data_directory_is_refused(tmp_path, parts):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    for method in (storage.path, storage.directory):
        with pytest.raises(ValueError, match=rf"is not a path inside the data directory {tmp_path / 'data'}"):
            method(*parts)
    with pytest.raises(ValueError, match="raw directory"):
        storage.raw(*parts)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was created


def test_links_must_stay_inside_but_published_versions_are_fine(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    (tmp_path / "elsewhere").mkdir()
    (storage.directory("features") / "escape").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=rf"'escape' leads outside the data directory {tmp_path / 'data'}"):
        storage.path("features", "escape", "x.pt")
    staging = staging_dir(storage.root() / "graph")
    publish(staging, storage.root() / "graph")  # `graph` is now a link to a sibling version folder
    assert storage.path("graph", "build.json").parent.resolve().parent == storage.root()
    assert storage.path("sources/costanzo2016", "records.parquet").parent.is_dir()


def test_cache_environment_keeps_every_cache_under_the_data_directory(tmp_path):
    env = cache_environment(tmp_path / "data", environ={})
    required = {
        "WANDB_DIR",
        "WANDB_CACHE_DIR",
        "WANDB_CONFIG_DIR",
        "WANDB_DATA_DIR",
        "TORCH_HOME",
        "XDG_CACHE_HOME",
        "MPLCONFIGDIR",
        "PYG_HOME",
    }
    assert required <= set(env) == set(CACHE_FOLDERS)
    for value in env.values():
        assert os.path.commonpath([value, tmp_path / "data" / "cache"]) == str(tmp_path / "data" / "cache")
    assert cache_environment(tmp_path, {"TORCH_HOME": "/models/torch"})["TORCH_HOME"] == "/models/torch"


def test_make_tracker_creates_the_wandb_caches_it_is_given_and_follows_its_environ(tmp_path, monkeypatch):
    seen = {}
    fake = types.SimpleNamespace(Settings=lambda **kwargs: kwargs, init=lambda **kwargs: seen.update(kwargs))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_API_KEY", "ignored")  # the process environment is not read: only `environ` counts
    environ = {**cache_environment(tmp_path / "data", {}), "DAGSTER_HOME": str(tmp_path / "home")}
    make_tracker(tmp_path / "run", True, mode="auto", environ=environ)
    cache = tmp_path / "data" / "cache"
    assert all((cache / CACHE_FOLDERS[name]).is_dir() for name in CACHE_FOLDERS if name.startswith("WANDB_"))
    assert seen["dir"] == str(tmp_path / "home" / "wandb") and seen["mode"] == "offline"
    make_tracker(tmp_path / "run", True, mode="auto", environ={**environ, "WANDB_API_KEY": "k"})
    assert seen["mode"] == "online"


def test_the_training_client_gives_its_children_wandb_caches_under_the_data_directory(tmp_path, monkeypatch):
    for name in CACHE_FOLDERS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "kept"))  # set by the user: inherited as it is
    client = training_client_from_env(str(tmp_path / "data"))
    cache = tmp_path / "data" / "cache"
    assert set(client.child_env) == {name for name in CACHE_FOLDERS if name.startswith("WANDB_")}
    assert client.child_env["WANDB_CACHE_DIR"] == str(cache / "wandb" / "cache")
    assert client.child_env["WANDB_CONFIG_DIR"] == str(tmp_path / "kept")
    launched = {}
    pipes = types.SimpleNamespace(run=lambda **kwargs: launched.update(kwargs))
    monkeypatch.setattr(TrainingClient, "client", lambda self: pipes)
    context = types.SimpleNamespace(log=types.SimpleNamespace(info=lambda message: None))
    client.run(context=context, command=["python", "-V"], env={"PYTHONUNBUFFERED": "1"})
    assert launched["env"] == {**client.child_env, "PYTHONUNBUFFERED": "1"}
