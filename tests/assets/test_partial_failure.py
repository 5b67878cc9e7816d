"""A failure stops only what depends on it: the stage planning of `materialize_in_stages` on a tiny fake graph, and
empty datasets (a release without triples) as a clear, non-fatal state of curation, splits, cards and checks."""

import json
from types import SimpleNamespace

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from tests.support.datasets import empty_dataset
from torchcell_assets import demo
from torchcell_assets.defs.benchmarks.models import MODEL_BENCHMARKS_CSV, model_benchmarks
from torchcell_assets.defs.datasets.assets import DATASET_ASSETS
from torchcell_assets.defs.datasets.checks import build_dataset_checks
from torchcell_assets.defs.models.partitions import (
    COMPARISON_DATASET,
    COMPARISON_SPLITS,
    MODEL_PARTITIONS,
    partition_key,
)
from torchcell_assets.lib.stages import StagedRuns, blocked, downstream_blocked, materialize_in_stages, split_graph
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.datasets.splits import SPLIT_COLUMNS

COMPARISON = {"comparison_dataset": COMPARISON_DATASET, "comparison_splits": COMPARISON_SPLITS}  # as the demo


def test_an_empty_dataset_curates_splits_and_has_a_card(tmp_path):
    table, card = empty_dataset(tmp_path)
    assert table.num_rows == 0 and {"genotype", "genes", "fitness", "interaction", *SPLIT_COLUMNS} <= set(
        table.column_names
    )
    assert card["rows"] == 0 and card["empty"] is True and card["splits"]["split_random"] == {}
    assert card["empty_reason"].startswith("no trigenic experiments in the graph: kuzmin2018, kuzmin2020")
    assert card["labels"]["interaction"] == {"n": 0} and (tmp_path / "labels.png").is_file()


def test_the_checks_of_an_empty_dataset_pass_and_say_so(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path))
    table, card = empty_dataset(tmp_path)
    pq.write_table(table, storage.dataset_parquet("trigenic"))
    storage.dataset_card("trigenic").write_text(json.dumps(card))
    checks = {c.check_key.name: c for c in build_dataset_checks("trigenic", DATASET_ASSETS["trigenic"])}
    for name in ("label_ranges", "no_duplicate_genotypes", "splits_do_not_leak", "genes_in_genome"):
        result = checks[name](storage=storage)
        assert result.passed and result.metadata["empty"].value is True, name
        assert "no trigenic experiments" in result.metadata["empty_reason"].value


def _fake(trigenic_rows: int = 5, check_fails: bool = False, features_fail: bool = False) -> dg.Definitions:
    """graph → digenic/trigenic datasets (a blocking check on trigenic) and features → two multi-partitioned
    models (dataset × split, declaring both datasets, as the real ones do) → a benchmark table."""

    @dg.asset(group_name="graph")
    def graph() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.asset(group_name="datasets", deps=[graph])
    def digenic_dataset() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": 4, "empty": False})

    @dg.asset(group_name="datasets", deps=[graph])
    def trigenic_dataset() -> dg.MaterializeResult:
        empty = {"empty_reason": "no trigenic experiments in the graph"} if not trigenic_rows else {}
        return dg.MaterializeResult(metadata={"dagster/row_count": trigenic_rows, "empty": not trigenic_rows, **empty})

    @dg.asset_check(asset=trigenic_dataset, blocking=True)
    def label_ranges() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=not check_fails)

    @dg.asset(group_name="features")
    def features() -> dg.MaterializeResult:
        if features_fail:
            raise ValueError("feature file is corrupt")
        return dg.MaterializeResult()

    @dg.asset(group_name="features", deps=[features])
    def feature_report() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    datasets = [digenic_dataset, trigenic_dataset]

    @dg.asset(group_name="models", partitions_def=MODEL_PARTITIONS, deps=datasets)
    def plain_model() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.asset(group_name="models", partitions_def=MODEL_PARTITIONS, deps=[*datasets, features])
    def feature_model() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.asset(group_name="benchmarks", deps=[plain_model, feature_model])
    def benchmarks() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    assets = [graph, *datasets, features, feature_report, plain_model, feature_model, benchmarks]
    return dg.Definitions(assets=assets, asset_checks=[label_ranges])


def _materialized(runs) -> set[tuple[str, str | None]]:
    return {(e.asset_key.to_user_string(), e.partition) for r in runs for e in r.get_asset_materialization_events()}


def test_a_failed_check_and_a_failed_asset_stop_only_what_depends_on_them():
    """trigenic's blocking check fails and `features` raises: the comparison moves to digenic, the model that
    reads no features trains on both splits, the one that does is skipped, the benchmark table is still built."""
    with dg.instance_for_test() as instance:
        runs = materialize_in_stages(
            _fake(check_fails=True, features_fail=True), instance, {}, raise_on_error=False, **COMPARISON
        )
    done = _materialized(runs)
    random, query = (str(partition_key("digenic", split)) for split in ("split_random", "split_query"))
    assert {("plain_model", random), ("plain_model", query), ("benchmarks", None)} <= done
    assert not {name for name, _ in done} & {"feature_model", "feature_report"}
    assert runs.comparison == "digenic" and len(runs) == 4
    assert "trigenic dataset unusable: blocking check label_ranges failed" in runs.notes
    assert runs.failed["trigenic_dataset"] == "blocking check label_ranges failed"
    assert runs.failed["features"].startswith("failed:") and "feature file is corrupt" in runs.failed["features"]
    assert runs.skipped["feature_report"].startswith("not run")
    assert runs.skipped[f"feature_model [{random}]"].startswith("depends on features (failed:")
    summary = runs.summary().splitlines()
    assert summary[:2] == [
        "stages: 4 run(s); comparison dataset: digenic",
        "note: trigenic dataset unusable: blocking check label_ranges failed",
    ]
    assert "failed (2):" in summary and "skipped (3):" in summary


def test_an_empty_comparison_dataset_moves_the_comparison_and_says_why():
    with dg.instance_for_test() as instance:
        runs = materialize_in_stages(_fake(trigenic_rows=0), instance, {}, raise_on_error=False, **COMPARISON)
    assert runs.comparison == "digenic" and not runs.failed and not runs.skipped
    assert runs.notes == [
        "trigenic dataset is empty: no trigenic experiments in the graph",
        "the comparison trains on digenic instead of trigenic",
    ]
    assert ("feature_model", str(partition_key("digenic", "split_query"))) in _materialized(runs)


def test_a_model_partition_depends_only_on_its_own_dataset():
    graph = _fake().resolve_asset_graph()
    upstream, models, downstream = split_graph(graph)
    key = dg.AssetKey
    assert models == {key("plain_model"), key("feature_model")} and downstream == {key("benchmarks")}
    assert upstream == {
        key("graph"),
        key("digenic_dataset"),
        key("trigenic_dataset"),
        key("features"),
        key("feature_report"),
    }
    bad = {key("trigenic_dataset"): "blocking check label_ranges failed"}
    datasets = ["digenic", "trigenic"]
    assert blocked(graph, models, bad, "digenic", datasets) == {}
    assert blocked(graph, models, bad, "trigenic", datasets) == dict.fromkeys(models, key("trigenic_dataset"))
    assert blocked(graph, models, bad) == dict.fromkeys(models, key("trigenic_dataset"))  # unpartitioned: all
    # After the models: blocked only when none of its models trained, never through a model's datasets.
    assert downstream_blocked(graph, downstream, models, {key("plain_model")}, bad)[0] == {}
    found, reasons = downstream_blocked(graph, downstream, models, set(), bad)
    assert found == {key("benchmarks"): key("feature_model")} and "no partition" in reasons[key("feature_model")]


def _demo(monkeypatch, tmp_path, runs: StagedRuns) -> TorchcellStorage:
    """`demo.main` against `runs` (instead of materializing) and a storage in `tmp_path`."""
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(demo, "defs", lambda: SimpleNamespace(resources={"storage": storage}))
    monkeypatch.setattr(demo, "materialize_in_stages", lambda *args, **kwargs: runs)
    return storage


def test_the_demo_fails_only_when_no_benchmark_table_was_built(monkeypatch, tmp_path, capsys):
    runs = StagedRuns()
    runs.comparison, runs.failed = "digenic", {"mlp_model [digenic|split_random]": "failed: RuntimeError: NaN loss"}
    _demo(monkeypatch, tmp_path, runs)
    assert demo.main() == 1
    out, err = capsys.readouterr()
    assert "nothing useful was built" in err and "mlp_model [digenic|split_random]: failed: RuntimeError" in out


def test_the_demo_prints_a_partial_comparison_and_its_simulated_inputs(monkeypatch, tmp_path, capsys):
    runs = StagedRuns()
    runs.comparison, runs.notes = "digenic", ["trigenic dataset is empty: no trigenic experiments in the graph"]
    runs.skipped = {"dango_model [digenic|split_random]": "depends on cell_graphs (failed: ValueError: bad graph)"}
    runs.materialized = {model_benchmarks.key}
    storage = _demo(monkeypatch, tmp_path, runs)
    rows = [
        {
            "model": model,
            "family": family,
            "graph_set": "",
            "feature_set": "",
            "dataset": "digenic",
            "split_type": "split_random",
            "target": target,
            "pearson": 0.3,
            "pearson_ci_low": 0.2,
            "pearson_ci_high": 0.4,
            "epochs": float("nan"),
            "best_epoch": float("nan"),
            "train_seconds": 1.0,
            "simulated": True,
            "simulated_inputs": "costanzo2016",
        }
        for model, family in (("mlp", "baseline"), ("svr", "classical"))
        for target in ("fitness", "interaction")
    ]
    pd.DataFrame(rows).to_csv(storage.path(*MODEL_BENCHMARKS_CSV), index=False)
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "note: trigenic dataset is empty" in out and "skipped (1):" in out
    assert "Model benchmarks with SIMULATED inputs (costanzo2016" in out and "## digenic, split_random" in out
    assert "demo: built what it could; 0 failed and 1 skipped" in out
