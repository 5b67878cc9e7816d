"""The fast end-to-end run of the default run: raw files → knowledge graph → curated dataset → one neural model
and the baselines on one comparison → the benchmark table, in process, and the lineage of a benchmark row back
to the raw files. The whole graph (every model, both comparison splits, sweeps) is `test_pipeline.py` (slow)."""

import dagster as dg
import pandas as pd
import pytest

from torchcell_assets.definitions import defs
from torchcell_assets.defs.benchmarks.models import MODEL_BENCHMARKS_CSV
from torchcell_assets.defs.datasets.assets import DATASET_ASSETS
from torchcell_assets.defs.datasets.checks import dataset_checks
from torchcell_assets.defs.graph.assets import knowledge_graph
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.resources import ProcessGroupPipesClient
from torchcell_assets.defs.sources.checks import DIGEST_CHECKS, epsilon_consistency
from torchcell_assets.defs.sources.genome import s288c_genome
from torchcell_assets.defs.sources.paths import COSTANZO_RECORDS, read_provenance
from torchcell_assets.defs.sources.releases import costanzo2016
from torchcell_assets.lib.stages import materialize_in_stages
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import file_sha256

MODEL, BASELINES = dg.AssetKey("mlp_model"), dg.AssetKey("classical_baselines")
BENCHMARKS = dg.AssetKey("model_benchmarks")
OP_CONFIG = {
    "classical_baselines": {"config": {"models": ["elastic_net"], "bootstrap": 100}},
    "mlp_model": {"config": {"epochs": 1, "bootstrap": 100}},
}


def _graph(storage: TorchcellStorage) -> GraphDatabase:
    return GraphDatabase(path=str(storage.root() / "graph"), buffer_pool_gib=1.0)


def one_model_definitions(resources: dict) -> dg.Definitions:
    """The code location cut down to `mlp_model`, the baselines, the benchmark table and everything they read
    (the other models, what only they read, and sweeps left out)."""
    full = defs()
    graph = full.resolve_asset_graph()
    keys = {MODEL, BASELINES, BENCHMARKS} | graph.get_ancestor_asset_keys(MODEL)
    keys |= graph.get_ancestor_asset_keys(BASELINES)
    assets = [asset for asset in full.assets if set(asset.keys) <= keys]
    checks = [check for check in full.asset_checks if {spec.asset_key for spec in check.check_specs} <= keys]
    return dg.Definitions(assets=assets, asset_checks=checks, resources=resources)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    storage = TorchcellStorage(data_dir=str(tmp_path_factory.mktemp("data")))
    resources = {"storage": storage, "graph": _graph(storage), "pipes_subprocess_client": ProcessGroupPipesClient()}
    definitions = one_model_definitions(resources)
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        runs = materialize_in_stages(
            definitions,
            instance,
            resources,
            OP_CONFIG,
            comparison_dataset="trigenic",
            comparison_splits=("split_query",),
        )
        yield runs, storage, instance, definitions


def test_raw_files_reach_a_benchmark_with_every_check_passing(smoke):
    runs, storage, _, _ = smoke
    assert len(runs) == 3 and all(run.success for run in runs), runs.summary()  # upstream, the models, after
    materialized = {e.asset_key.to_user_string() for run in runs for e in run.get_asset_materialization_events()}
    assert {
        "simulated_release",
        "costanzo2016",
        "kuzmin2020",
        "knowledge_graph",
        "trigenic_dataset",
        "gene_features",
        "mlp_model",
        "classical_baselines",
        "model_benchmarks",
    } <= materialized
    assert not {"dango_model", "dcell_model", "hetero_gnn_model", "cell_graphs"} & materialized
    evaluations = [e for run in runs for e in run.get_asset_check_evaluations()]
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]
    assert ("mlp_model", "predictions_complete") in {
        (e.asset_key.to_user_string(), e.check_name) for e in evaluations
    }  # reported by rank 0 through Pipes
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    models = table[table["family"] != "ceiling"]
    assert set(models["split_type"]) == {"split_query"} and set(models["dataset"]) == {"trigenic"}
    assert set(models["model"]) == {"mlp", "elastic_net", "train_mean", "query_identity", "additive"}
    finite = models.dropna(subset=["pearson"])
    assert ((finite["pearson_ci_low"] <= finite["pearson"]) & (finite["pearson"] <= finite["pearson_ci_high"])).all()


def test_lineage_of_a_benchmark_row_reaches_the_raw_files(smoke):
    """From one model_benchmarks row, follow the asset graph and the instance's materializations:
    benchmark → model run → curated dataset → knowledge graph → graph tables → raw Costanzo files."""
    _, storage, instance, definitions = smoke
    graph = definitions.resolve_asset_graph()
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    row = table.query("model == 'mlp' and target == 'fitness'").iloc[0]

    def hop(child: str, parent: str) -> dict:
        assert dg.AssetKey(parent) in graph.get(dg.AssetKey(child)).parent_keys, (child, parent)
        event = instance.get_latest_materialization_event(dg.AssetKey(parent))
        assert event is not None, parent
        materialization = event.asset_materialization
        return {
            "metadata": {k: v.value for k, v in materialization.metadata.items()},
            "data_version": materialization.tags["dagster/data_version"],
        }

    model = hop("model_benchmarks", "mlp_model")
    assert model["metadata"]["run_dir"] == row["run_dir"]
    assert model["metadata"]["dataset_sha256"] == row["dataset_sha256"]
    dataset = hop("mlp_model", f"{row['dataset']}_dataset")
    assert file_sha256(storage.resolve(dataset["metadata"]["parquet"])) == row["dataset_sha256"]
    assert dataset["data_version"] == row["dataset_sha256"][:16]
    knowledge_graph = hop(f"{row['dataset']}_dataset", "knowledge_graph")
    assert knowledge_graph["metadata"]["schema_version"] and knowledge_graph["metadata"]["experiments"] > 0
    hop("knowledge_graph", "graph_tables")
    source = hop("graph_tables", "costanzo2016")
    files = source["metadata"]["files"]
    directory = storage.resolve(source["metadata"]["directory"])
    assert files and all(file_sha256(directory / name) == entry["sha256"] for name, entry in files.items())


def test_checks_fail_on_bad_data(smoke):
    """Corrupt copies of the stored outputs make the checks fail."""
    _, storage, _, _ = smoke
    dataset = pd.read_parquet(storage.dataset_parquet("digenic"))
    records = pd.read_parquet(storage.path(*COSTANZO_RECORDS))
    bad = TorchcellStorage(data_dir=str(storage.root() / "corrupt"))
    for part in (("sources", "s288c_genes.parquet"),):
        bad.path(*part).write_bytes(storage.path(*part).read_bytes())
    pd.concat([dataset, dataset.head(1)]).to_parquet(bad.dataset_parquet("digenic"))
    records.assign(epsilon=records["epsilon"] + 0.05).to_parquet(bad.path(*COSTANZO_RECORDS))
    no_duplicates = next(
        c
        for c in dataset_checks
        if c.check_key.name == "no_duplicate_genotypes" and c.check_key.asset_key == DATASET_ASSETS["digenic"].key
    )
    assert no_duplicates(storage=bad).passed is False
    assert epsilon_consistency(storage=bad).passed is False
    assert no_duplicates(storage=storage).passed is True
    # A raw file changed after it was recorded no longer matches its digest.
    digest_check = next(c for c in DIGEST_CHECKS if costanzo2016.key in {s.asset_key for s in c.check_specs})
    assert digest_check(storage=storage).passed is True
    simulated_nxn = storage.root() / "simulated" / "costanzo2016" / "SGA_NxN.txt"
    original = simulated_nxn.read_bytes()
    simulated_nxn.write_bytes(original + b"\n")
    try:
        assert digest_check(storage=storage).passed is False
    finally:
        simulated_nxn.write_bytes(original)


def _dataset_check(name: str, check: str):
    return next(
        c for c in dataset_checks if c.check_key.name == check and c.check_key.asset_key == DATASET_ASSETS[name].key
    )


def test_dataset_checks_fail_on_leaks_lost_rows_and_bad_labels(smoke):
    """Each dataset check passes on the materialized table and fails on a corrupted copy of it."""
    _, storage, _, _ = smoke
    graph = _graph(storage)
    bad = TorchcellStorage(data_dir=str(storage.root() / "corrupt_datasets"))
    for part in (("sources", "s288c_genes.parquet"), ("datasets", "trigenic.card.json")):
        bad.path(*part).write_bytes(storage.path(*part).read_bytes())
    table = pd.read_parquet(storage.dataset_parquet("trigenic"))
    leaks = _dataset_check("trigenic", "splits_do_not_leak")
    ranges = _dataset_check("trigenic", "label_ranges")
    genes = _dataset_check("trigenic", "genes_in_genome")
    assert leaks(storage=storage).passed and ranges(storage=storage).passed and genes(storage=storage).passed
    # A test genotype of the strict gene split copied into train: its genes are no longer held out.
    test_row = table[table["split_gene_all"] == "test"].head(1).assign(split_gene_all="train", environment="YPD_26C")
    pd.concat([table, test_row]).to_parquet(bad.dataset_parquet("trigenic"))
    result = leaks(storage=bad)
    assert not result.passed and result.metadata["split_gene_all.heldout_with_seen_gene"].value > 0
    # One row of a held-out query pair moved to train: that query pair is on both sides.
    moved = table.copy()
    moved.loc[moved.index[moved["split_query"] == "test"][0], "split_query"] = "train"
    moved.to_parquet(bad.dataset_parquet("trigenic"))
    result = leaks(storage=bad)
    assert not result.passed and result.metadata["split_query.queries_in_two_folds"].value == 1
    assert table["query"].str.count(r"\+").eq(1).all()  # a Kuzmin triple's query is its query gene pair
    table.assign(fitness=table["fitness"] * 100).to_parquet(bad.dataset_parquet("trigenic"))
    assert ranges(storage=bad).passed is False
    renamed = table.copy()
    renamed.loc[0, "genes"] = ["YNOT001X", *list(renamed.loc[0, "genes"])[1:]]
    renamed.to_parquet(bad.dataset_parquet("trigenic"))
    assert genes(storage=bad).passed is False
    rows = _dataset_check("trigenic", "rows_match_graph")
    assert rows(storage=storage, graph=graph).passed
    table.iloc[1:].to_parquet(bad.dataset_parquet("trigenic"))  # a row lost after curation
    assert rows(storage=bad, graph=graph).passed is False


def test_a_dataset_gene_set_naming_unknown_genes_fails_clearly(smoke):
    _, storage, _, _ = smoke
    graph = _graph(storage)
    asset = DATASET_ASSETS["digenic"]
    config = dg.RunConfig(ops={asset.key.to_user_string(): {"config": {"genes": ["YAL001C", "NOT_A_GENE"]}}})
    before = storage.dataset_parquet("digenic").read_bytes()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"storage": storage, "graph": graph},
            run_config=config,
            raise_on_error=False,
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "NOT_A_GENE" in str(failure.event_specific_data.error)
    assert storage.dataset_parquet("digenic").read_bytes() == before  # nothing stored was touched


def _costanzo_run(storage: TorchcellStorage) -> dg.ExecuteInProcessResult:
    """The genome and the Costanzo source materialized into `storage` in a fresh instance (failures returned)."""
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [s288c_genome, costanzo2016],
            instance=instance,
            resources={"storage": storage},
            selection=[costanzo2016.key, s288c_genome.key],
            raise_on_error=False,
        )


def test_real_release_in_the_raw_dir_wins_over_the_simulator(smoke, tmp_path):
    """Files a user puts in $TORCHCELL_RAW_DIR/costanzo2016/ are used (and labelled real)."""
    _, storage, _, _ = smoke
    simulated_dir = storage.root() / "simulated" / "costanzo2016"
    raw = tmp_path / "raw" / "costanzo2016"
    raw.mkdir(parents=True)
    for name in ("strain_ids_and_single_mutant_fitness.xlsx", "SGA_ExE.txt"):
        (raw / name).write_bytes((simulated_dir / name).read_bytes())
    user = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    result = _costanzo_run(user)
    assert result.success
    provenance = read_provenance(user, "costanzo2016")
    assert provenance["simulated"] is False
    assert set(provenance["sha256"]) == {"strain_ids_and_single_mutant_fitness.xlsx", "SGA_ExE.txt"}
    records = pd.read_parquet(user.path(*COSTANZO_RECORDS))
    assert set(records["source_file"]) == {"SGA_ExE.txt"} and not records["simulated"].any()


def test_a_source_without_real_or_simulated_files_fails_clearly(tmp_path):
    user = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "empty_raw"))
    result = _costanzo_run(user)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "strain_ids_and_single_mutant_fitness.xlsx" in str(failure.step_failure_data.error)


def test_unchanged_inputs_skip_the_rebuild_and_a_changed_config_does_not(smoke):
    """Re-materializing the graph and a dataset with nothing changed re-reports the last materialization (same
    data version, `skipped_unchanged`); a changed dataset config rebuilds it."""
    _, storage, instance, _ = smoke
    resources = {"storage": storage, "graph": _graph(storage)}
    dataset = DATASET_ASSETS["trigenic"]
    before = {
        key: instance.get_latest_materialization_event(key).asset_materialization.tags["dagster/data_version"]
        for key in (knowledge_graph.key, dataset.key)
    }
    result = dg.materialize([knowledge_graph, dataset], instance=instance, resources=resources)
    events = {e.asset_key: e.materialization for e in result.get_asset_materialization_events()}
    for key, version in before.items():
        assert events[key].metadata["skipped_unchanged"].value is True, key
        assert events[key].tags["dagster/data_version"] == version
    config = dg.RunConfig(ops={dataset.key.to_user_string(): {"config": {"split_seed": 7}}})
    result = dg.materialize([dataset], instance=instance, resources=resources, run_config=config)
    (event,) = result.get_asset_materialization_events()
    assert "skipped_unchanged" not in event.materialization.metadata
    assert event.materialization.metadata["split_seeds"].value != events[dataset.key].metadata["split_seeds"].value
    restored = dg.materialize([dataset], instance=instance, resources=resources)  # back to the default config
    assert restored.success
