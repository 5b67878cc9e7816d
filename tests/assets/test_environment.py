"""The environment is read in one place: `defs/resources.py` builds every resource from it (through `dg.EnvVar`),
core takes arguments, and the README's configuration table lists every variable read."""

import re
from pathlib import Path

import dagster as dg
import pytest

from torchcell_assets.defs.graph.resources import DEFAULT_GRAPH_DIR, GraphDatabase
from torchcell_assets.defs.resources import ENVIRONMENT, build_resources, setting

ROOT = Path(__file__).resolve().parents[2]
# Reads of the process environment that are protocol, not configuration, or the one place that reads it.
ALLOWED = {
    "torchcell_core/train/distributed.py",  # torchrun's RANK, WORLD_SIZE, LOCAL_RANK, TORCHELASTIC_RUN_ID
    "torchcell_core/train/run.py",  # the training entry point hands its environment to tracking (wandb)
    "torchcell_assets/defs/resources.py",  # the one place configuration is read; a child's inherited env
    "torchcell_assets/lib/pipes_train.py",  # RANK and DAGSTER_PIPES_* of the training child
    "torchcell_assets/lib/slurm_pipes.py",  # SLURM_CONF named in an error message
    "torchcell_assets/fork_server.py",  # refuses to start without DAGSTER_HOME
}
READ = re.compile(r"os\.environ|os\.getenv|getenv\(|EnvVar\(")


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def test_resources_are_built_from_the_environment(tmp_path, monkeypatch):
    _clear(monkeypatch)
    values = {
        "TORCHCELL_DATA_DIR": str(tmp_path / "data"),
        "TORCHCELL_RAW_DIR": str(tmp_path / "raw"),
        "TORCHCELL_GRAPH_DIR": str(tmp_path / "graph"),
        "NEO4J_URI": "bolt://db:7687",
        "NEO4J_USER": "me",
        "NEO4J_PASSWORD": "s3cret",
        "NEO4J_DATABASE": "cells",
        "TORCHCELL_TRAINING_BACKEND": "slurm",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    resources = build_resources()
    storage, graph, training = resources["storage"], resources["graph"], resources["pipes_subprocess_client"]
    assert storage.root() == tmp_path / "data" and storage.raw("x") == tmp_path / "raw" / "x"
    assert (graph.path, graph.neo4j_uri, graph.neo4j_user, graph.neo4j_database) == (
        str(tmp_path / "graph"),
        "bolt://db:7687",
        "me",
        "cells",
    )
    assert isinstance(graph.neo4j_password, dg.EnvVar) and graph.neo4j_password.env_var_name == "NEO4J_PASSWORD"
    assert "s3cret" not in repr(resources)  # the secret is resolved when a run starts, not kept in definitions
    assert (training.backend, training.data_dir) == ("slurm", str(tmp_path / "data"))
    assert training.child_env["WANDB_CACHE_DIR"] == str(tmp_path / "data" / "cache" / "wandb" / "cache")

    @dg.asset
    def password(graph: GraphDatabase) -> str:
        return graph.neo4j_password

    result = dg.materialize([password], resources={"graph": graph})
    assert result.output_for_node("password") == "s3cret"


def test_unset_variables_give_the_documented_defaults_and_runs_still_start(tmp_path, monkeypatch):
    _clear(monkeypatch)
    resources = build_resources()
    storage, graph, training = resources["storage"], resources["graph"], resources["pipes_subprocess_client"]
    assert (storage.data_dir, storage.raw_dir) == ("data", "")
    assert graph.path == DEFAULT_GRAPH_DIR and graph.neo4j_password == "" and graph.neo4j_uri == ""
    assert training.backend == "subprocess"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCHCELL_DATA_DIR", "")  # empty counts as unset
    resources = build_resources()
    assert resources["graph"].path == str(tmp_path / "home" / "graph") and resources["storage"].data_dir == "data"

    @dg.asset
    def where(graph: GraphDatabase) -> str:
        return graph.location()

    result = dg.materialize([where], resources={"graph": resources["graph"]})  # no unset EnvVar to fail on
    assert result.output_for_node("where") == str(tmp_path / "home" / "graph" / "torchcell")


def test_a_setting_outside_the_documented_list_is_refused():
    with pytest.raises(ValueError, match="HOME is not a torchcell setting"):
        setting("HOME")


def test_no_other_module_reads_the_environment():
    readers = set()
    for package in ("torchcell_core", "torchcell_assets"):
        for path in (ROOT / package).rglob("*.py"):
            if READ.search(path.read_text()):
                readers.add(path.relative_to(ROOT).as_posix())
    assert readers - ALLOWED == set(), "read the environment in defs/resources.py and pass the values down"
    core = {reader for reader in readers if reader.startswith("torchcell_core/")}
    assert core <= {"torchcell_core/train/distributed.py", "torchcell_core/train/run.py"}


def test_the_readme_configuration_table_lists_every_variable_read():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Tests and benchmarks")]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert set(ENVIRONMENT) | {"WANDB_MODE", "WANDB_API_KEY", "SLURM_CONF"} <= listed
    # every name the project's Python code reads by name is in the table (protocol variables excepted)
    protocol = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"}
    read = set()
    for folder in ("torchcell_core", "torchcell_assets", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"environ(?:\.get)?\(\s*[\"']([A-Z][A-Z0-9_]+)", path.read_text()))
            read |= set(re.findall(r"environ\[[\"']([A-Z][A-Z0-9_]+)", path.read_text()))
            read |= set(re.findall(r"setting\([\"']([A-Z][A-Z0-9_]+)", path.read_text()))
    assert read - protocol - listed == set()
