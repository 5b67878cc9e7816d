"""The embedded knowledge graph after crashes: a build killed at any step leaves a graph, and the next open or
build cleans up; the knowledge_graph asset reports the recovery."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.graph_sources import write_sources
from torchcell_core.graph.ladybug_backend import LadybugBackend
from torchcell_core.graph.tables import build_graph_tables


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("graph_sources")
    counts = build_graph_tables(write_sources(d), d / "tables", memory_limit="256MB")
    return d / "tables", counts


# -- crashes: a kill at any step leaves a graph, and the next open or build cleans up -------------------------

KILL = """import json, os, pathlib, sys
from torchcell_core.graph.ladybug_backend import LadybugBackend
calls, kill_at, real_rename, real_replace = [0], int(sys.argv[4]), pathlib.Path.rename, os.replace
def step(real):
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os._exit(9)  # killed here: no cleanup runs
        return real(*args, **kwargs)
    return wrapped
pathlib.Path.rename, os.replace = step(real_rename), step(real_replace)
LadybugBackend(sys.argv[1], buffer_pool_size=128 * 2**20).build(sys.argv[2], json.loads(sys.argv[3]))
"""


def _built(tables, path) -> LadybugBackend:
    backend = LadybugBackend(path, buffer_pool_size=128 * 2**20)
    backend.build(*tables)
    backend.close()
    return backend


def _others(path) -> list[str]:
    """What lies beside the database `path` other than it and the version it links to."""
    return sorted(p.name for p in path.parent.iterdir() if p.name not in (path.name, path.resolve().name))


def _crash_layout(path, dead: int):
    """The state the old two-rename swap left when killed between its renames, plus a half-written build."""
    version = path.resolve()
    if path.is_symlink():
        path.unlink()
    version.rename(path.with_name(f"{path.name}.previous-{dead}"))
    (path.with_name(f"{path.name}.building-{dead}") / "half").mkdir(parents=True)


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_build_killed_at_any_swap_step_leaves_the_old_graph_and_the_next_build_cleans_up(tables, tmp_path, kill_at):
    import json
    import subprocess
    import sys

    path = tmp_path / "db"
    _built(tables, path)
    args = [str(path), str(tables[0]), json.dumps(tables[1]), str(kill_at)]
    killed = subprocess.Popen([sys.executable, "-c", KILL, *args], stderr=subprocess.PIPE, text=True)
    assert killed.wait(120) == 9, killed.stderr.read()
    assert (path / "graph.lbug").is_file()  # no recovery needed to find it
    with LadybugBackend(path, buffer_pool_size=128 * 2**20, read_only=True) as reader:
        assert reader.counts() == tables[1] and reader.build_record()["counts"] == tables[1]
    left = _others(path)
    assert left and all(name.endswith(f"-{killed.pid}") for name in left), left  # the killed build's folders
    with LadybugBackend(path, buffer_pool_size=128 * 2**20) as backend:
        assert backend.build(*tables)["counts"] == tables[1]
    assert _others(path) == []


def test_an_open_after_a_kill_between_the_old_layouts_renames_puts_the_graph_back(tables, tmp_path):
    from tests.support.processes import dead_pid

    path = tmp_path / "db"
    _built(tables, path)
    dead = dead_pid()
    _crash_layout(path, dead)
    with LadybugBackend(path, buffer_pool_size=128 * 2**20, read_only=True) as reader:
        assert reader.counts() == tables[1]
    assert _others(path) == []


def test_a_dangling_link_is_replaced_by_the_next_build(tables, tmp_path):
    path = tmp_path / "db"
    _built(tables, path)
    shutil.rmtree(path.resolve())  # the version folder deleted by hand: the link points nowhere
    path.unlink(missing_ok=True)
    path.symlink_to("db.v-1-1")
    with pytest.raises(FileNotFoundError, match="no graph database at"):
        LadybugBackend(path, read_only=True).counts()
    with LadybugBackend(path, buffer_pool_size=128 * 2**20) as backend:
        assert backend.build(*tables)["counts"] == tables[1] == backend.counts()
    assert path.resolve().is_dir() and _others(path) == []


def test_the_knowledge_graph_asset_recovers_and_reports_it(tables, tmp_path):
    import dagster as dg

    from tests.support.processes import dead_pid
    from torchcell_assets.defs.graph.assets import knowledge_graph
    from torchcell_assets.defs.graph.resources import GraphDatabase
    from torchcell_assets.defs.graph.tables import COUNTS_FILE, GRAPH_TABLES_DIR
    from torchcell_assets.lib.storage import TorchcellStorage

    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    shutil.copytree(tables[0], storage.root().joinpath(*GRAPH_TABLES_DIR))
    storage.root().joinpath(*GRAPH_TABLES_DIR, COUNTS_FILE).write_text(json.dumps(tables[1]))
    path = tmp_path / "graph" / "torchcell"
    _built(tables, path)
    dead = dead_pid()
    _crash_layout(path, dead)
    graph = GraphDatabase(path=str(path.parent), buffer_pool_gib=0.125)
    result = dg.materialize([knowledge_graph], resources={"storage": storage, "graph": graph})
    (event,) = result.get_asset_materialization_events()
    lines = event.materialization.metadata["recovered"].value
    assert f"restored {path} from torchcell.previous-{dead}" in lines
    assert f"removed torchcell.building-{dead} (left by process {dead}, which is gone)" in lines
    assert event.materialization.metadata["experiments"].value == tables[1]["Experiment"]
    assert _others(path) == []
