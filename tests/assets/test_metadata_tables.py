"""Table metadata (typed columns, blank missing cells) and paths recorded relative to the data directory."""

import json
import shutil

import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.benchmarks import models as benchmarks
from torchcell_assets.defs.models.partitions import partition_key
from torchcell_assets.defs.models.runs import TrainedRun, inputs_table, predictions_version, trained_runs
from torchcell_assets.lib.metadata import metadata_table, preview
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import file_sha256
from torchcell_core.train.run_dir import RunDir


def _columns(value: dg.TableMetadataValue) -> dict[str, str]:
    return {column.name: column.type for column in value.schema.columns}


def test_a_table_keeps_ints_blanks_missing_cells_and_rounds_floats():
    frame = pd.DataFrame(
        {
            "model": ["mlp", "oracle_ceiling", None],
            "parameters": [211490, np.nan, 5],  # an int column turned float by the ceiling row's blank
            "pearson": [0.123456, np.nan, 1 / 3],
            "samples_per_s": [12345.678, 2.0, 0.5],
            "simulated": [True, False, True],
            "n": pd.array([3, None, 7], dtype="Int64"),
        }
    )
    value = metadata_table(frame)
    assert isinstance(value, dg.TableMetadataValue)
    assert _columns(value) == {
        "model": "string",
        "parameters": "int",
        "pearson": "float",
        "samples_per_s": "float",
        "simulated": "bool",
        "n": "int",
    }
    first, ceiling, last = (record.data for record in value.records)
    assert first["parameters"] == 211490 and isinstance(first["parameters"], int)  # not 211490.000
    assert first["pearson"] == 0.1235 and first["samples_per_s"] == 12346.0  # 4 significant digits, whole part kept
    assert ceiling["parameters"] is None and ceiling["pearson"] is None and ceiling["n"] is None  # blank, not nan
    assert last["model"] is None and first["simulated"] is True
    # the UI parses each record as JSON: NaN would not parse, null shows as an empty cell
    assert all("NaN" not in json.dumps(record.data, allow_nan=False) for record in value.records)


def test_a_table_is_capped_and_a_preview_is_a_table():
    frame = pd.DataFrame({"i": range(500), "label": [f"row {i}" for i in range(500)]})
    assert len(metadata_table(frame).records) == 200
    assert len(metadata_table(frame, rows=10).records) == 10
    small = preview(frame)
    assert isinstance(small, dg.TableMetadataValue) and len(small.records) == 5
    empty = metadata_table(frame.head(0))
    assert empty.records == [] and _columns(empty) == {"i": "int", "label": "string"}


def test_paths_are_recorded_relative_to_the_data_directory_and_resolved_back(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    run_dir = storage.directory("models", "mlp", "digenic-nograph-split_query")
    assert storage.relative(run_dir) == "models/mlp/digenic-nograph-split_query"
    assert storage.resolve(storage.relative(run_dir)) == run_dir
    outside = tmp_path / "elsewhere" / "run"
    assert storage.relative(outside) == str(outside)  # outside the data directory: kept absolute
    assert storage.resolve(str(outside)) == outside  # an absolute path (an older materialization) is kept
    (storage.root() / "simulated").symlink_to(storage.directory("simulated-v2"))  # a published version's link
    assert storage.relative(storage.root() / "simulated" / "world.json") == "simulated/world.json"


def _record_run(instance: dg.DagsterInstance, asset: str, dataset: str, split: str, version: str) -> None:
    """A materialization of a model partition as the instance keeps it (the metadata names no run directory)."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=asset, partition=partition_key(dataset, split), tags={"dagster/data_version": version}
        )
    )


def _train(run_dir, predictions: str, config: dict | None = None) -> str:
    """A finished run's files in `run_dir`; its data version (the predictions' digest, as Pipes reports it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    RunDir(run_dir).metrics.write_text(json.dumps({"splits": {}}))
    RunDir(run_dir).predictions.write_text(predictions)
    if config is not None:
        RunDir(run_dir).config.write_text(json.dumps(config))
    return predictions_version(run_dir)


def test_runs_are_found_through_the_layout_and_a_moved_data_directory_still_finds_them(tmp_path):
    old = TorchcellStorage(data_dir=str(tmp_path / "old"))
    plain = _train(old.model_run_dir("mlp", "digenic-nograph", "split_query"), "mlp", {"model": "mlp"})
    string9 = _train(old.model_run_dir("dango", "trigenic-string9.1", "split_random"), "dango string9.1")
    string12 = _train(old.model_run_dir("dango", "trigenic-string12", "split_random"), "dango string12")
    classical = _train(old.classical_run_dir("digenic", "split_query"), "classical")
    old.dataset_parquet("digenic").write_bytes(b"rows")
    with dg.instance_for_test() as instance:
        _record_run(instance, "mlp_model", "digenic", "split_query", plain)
        _record_run(instance, "dango_model", "trigenic", "split_random", string12)  # the latest of two graph sets
        _record_run(instance, "classical_baselines", "digenic", "split_query", classical)
        _record_run(instance, "mlp_model", "trigenic", "split_query", "v-never-trained-here")
        shutil.move(tmp_path / "old", tmp_path / "new")
        moved = TorchcellStorage(data_dir=str(tmp_path / "new"))
        runs = {(run.model, run.dataset): run for run in trained_runs(instance, moved, classical=True)}
        assert set(runs) == {("mlp", "digenic"), ("dango", "trigenic"), ("classical_baselines", "digenic")}
        mlp = runs["mlp", "digenic"]
        assert mlp.run_dir == moved.root() / "models" / "mlp" / "digenic-nograph-split_query"
        assert (mlp.data_version, mlp.split, mlp.config) == (plain, "split_query", {"model": "mlp"})
        assert runs["dango", "trigenic"].run_dir == moved.model_run_dir("dango", "trigenic-string12", "split_random")
        assert string9 != string12 and runs["classical_baselines", "digenic"].config == {}
        assert trained_runs(instance, old) == []  # the old folder is gone
        read = {record.data["asset"]: record.data for record in inputs_table(list(runs.values()), moved).records}
        assert read["mlp_model"] == {
            "asset": "mlp_model",
            "partition": "digenic|split_query",
            "data_version": plain,
            "run_dir": "models/mlp/digenic-nograph-split_query",
            "dataset_sha256": file_sha256(moved.dataset_parquet("digenic")),
        }
        assert read["dango_model"]["dataset_sha256"] == ""  # no trigenic Parquet in this data directory


def test_the_benchmark_table_is_table_metadata_with_lineage_and_the_partitions_read(tmp_path, monkeypatch):
    """model_benchmarks shows its rows as a typed table whose run_dir (relative), dataset_sha256 and
    predictions_sha256 trace each row, and records which model partitions (and data versions) it read."""
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    run_dir = storage.directory("models", "mlp", "trigenic-nograph-split_random")
    storage.dataset_parquet("trigenic").write_bytes(b"the trigenic rows")
    run = TrainedRun(
        "mlp", "trigenic", dg.AssetKey("mlp_model"), "trigenic|split_random", run_dir, {}, "split_random", "v-mlp"
    )
    rows = [
        {
            "dataset": "trigenic",
            "split_type": "split_random",
            "family": "baseline",
            "model": "mlp",
            "graph_set": "",
            "feature_set": "",
            "target": target,
            "pearson": 0.31234,
            "pearson_ci_low": 0.2,
            "pearson_ci_high": 0.4,
            "mse": 0.01,
            "auroc": 0.6,
            "epochs": 3,
            "max_epochs": 3,
            "best_epoch": 2,
            "parameters": 211490,
            "train_seconds": 12.0,
            "samples_per_s": 1234.5,
            "n": 50,
            "run_dir": str(run_dir),
            "dataset_sha256": "d" * 64,
            "predictions_sha256": "p" * 64,
        }
        for target in ("fitness", "interaction")
    ]
    ceiling = {
        "dataset": "trigenic",
        "split_type": "split_random",
        "family": "ceiling",
        "model": "oracle_ceiling",
        "target": "interaction",
        "pearson": 0.9,
    }
    monkeypatch.setattr(benchmarks, "trained_runs", lambda instance, storage, classical: [run])
    monkeypatch.setattr(benchmarks, "neural_run_rows", lambda path: rows if path == run_dir else [])
    monkeypatch.setattr(benchmarks, "simulated_ceiling_rows", lambda storage, comparisons: [ceiling])
    monkeypatch.setattr(
        benchmarks,
        "simulated_columns",
        lambda storage, table: table.assign(simulated=True, simulated_inputs="kuzmin2018"),
    )
    result = dg.materialize(
        [benchmarks.model_benchmarks], resources={"storage": storage}, instance=dg.DagsterInstance.ephemeral()
    )
    metadata = result.asset_materializations_for_node("model_benchmarks")[0].metadata
    table = metadata["table"]
    assert isinstance(table, dg.TableMetadataValue)
    assert {"run_dir", "dataset_sha256", "predictions_sha256", "simulated", "simulated_inputs"} <= set(_columns(table))
    fitness, _, oracle = (record.data for record in table.records)
    assert fitness["run_dir"] == "models/mlp/trigenic-nograph-split_random" and fitness["parameters"] == 211490
    assert fitness["predictions_sha256"] == "p" * 64 and fitness["pearson"] == 0.3123
    assert oracle["parameters"] is None and oracle["run_dir"] is None  # blank cells, not nan
    (read,) = (record.data for record in metadata["inputs"].value.records)
    assert read == {
        "asset": "mlp_model",
        "partition": "trigenic|split_random",
        "data_version": "v-mlp",
        "run_dir": "models/mlp/trigenic-nograph-split_random",
        "dataset_sha256": file_sha256(storage.dataset_parquet("trigenic")),
    }
    assert pd.read_csv(storage.path("benchmarks", "model_benchmarks.csv"))["run_dir"].iloc[0] == fitness["run_dir"]
