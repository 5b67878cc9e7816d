"""The whole default path materialized in process, plus checks that must be able to fail."""

import json

import dagster as dg
import pandas as pd
import pytest

from torchcell_assets.definitions import defs
from torchcell_assets.defs.benchmarks.models import (
    MODEL_BENCHMARKS_CSV,
    cis_bracket_estimates,
    no_model_above_the_oracle,
)
from torchcell_assets.defs.datasets.assets import DATASET_ASSETS, dataset_parquet
from torchcell_assets.defs.datasets.checks import dataset_checks
from torchcell_assets.defs.graph.assets import knowledge_graph
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.models.training import NEURAL_MODELS
from torchcell_assets.defs.resources import ProcessGroupPipesClient
from torchcell_assets.defs.sources.checks import DIGEST_CHECKS, epsilon_consistency
from torchcell_assets.defs.sources.genome import s288c_genome
from torchcell_assets.defs.sources.paths import COSTANZO_RECORDS, read_provenance
from torchcell_assets.defs.sources.releases import costanzo2016
from torchcell_assets.defs.sweeps.assets import (
    SWEEP_CSV,
    SWEEP_PARTITIONS,
    chosen_is_best_on_validation,
    every_run_is_a_partition,
    sweep_model,
    sweep_plan,
    sweep_table,
)
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.stages import materialize_in_stages
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import file_sha256

OP_CONFIG = {
    "classical_baselines": {"config": {"models": ["elastic_net"], "bootstrap": 100}},
    **{f"{model}_model": {"config": {"epochs": 1, "bootstrap": 100}} for model in NEURAL_MODELS},
}
SOURCES = {
    "costanzo2016",
    "kuzmin2018",
    "kuzmin2020",
    "string_v9_1",
    "string_v11_0",
    "string_v12_0",
    "biogrid",
    "regulatory",
}


def _graph(storage: TorchcellStorage) -> GraphDatabase:
    return GraphDatabase(path=str(storage.root() / "graph"), buffer_pool_gib=1.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """In-process runs of every asset and check (one partition per model), in a temporary DAGSTER_HOME."""
    home = tmp_path_factory.mktemp("dagster_home")
    storage = TorchcellStorage(data_dir=str(tmp_path_factory.mktemp("data")))
    graph = _graph(storage)
    definitions = defs()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        resources = {"storage": storage, "graph": graph, "pipes_subprocess_client": ProcessGroupPipesClient()}
        results = materialize_in_stages(definitions, instance, resources, OP_CONFIG)
        yield results, storage, instance


def test_every_asset_materializes_and_every_check_passes(run):
    results, _, _ = run
    assert all(result.success for result in results) and len(results) == 4  # up to models, 2 splits, after
    materialized = {
        e.asset_key.to_user_string() for result in results for e in result.get_asset_materialization_events()
    }
    assert materialized == {
        "s288c_genome", "go_dag", "simulated_release", *SOURCES, "graph_tables", "knowledge_graph",
        *(f"{name}_dataset" for name in DATASET_ASSETS), "gene_features", "cell_graphs", "classical_baselines",
        *(f"{model}_model" for model in NEURAL_MODELS),
        "model_benchmarks", "convergence_projections", "strain_design",
    }  # fmt: skip
    evaluations = [e for result in results for e in result.get_asset_check_evaluations()]
    assert len(evaluations) >= 18
    reported = {e.asset_key.to_user_string() for e in evaluations if e.check_name == "predictions_complete"}
    assert {f"{model}_model" for model in NEURAL_MODELS} <= reported  # sent by rank 0 through Dagster Pipes
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]


def test_metadata_and_versions_reach_the_instance(run):
    _, _, instance = run
    event = instance.get_latest_materialization_event(dg.AssetKey("model_benchmarks"))
    metadata = event.asset_materialization.metadata
    assert metadata["pearson_chart"].value.startswith("![")
    assert metadata["simulated"].value is True
    rows = [record.data for record in metadata["table"].value.records]  # a table: one record per row
    assert any(r["model"] == "query_identity" for r in rows) and any(r["split_type"] == "split_query" for r in rows)
    assert "2. graph models beat classical models and baselines on interactions" in metadata["claims"].value
    genome = instance.get_latest_materialization_event(dg.AssetKey("s288c_genome")).asset_materialization
    assert genome.metadata["dagster/row_count"].value == 6399
    assert genome.tags["dagster/code_version"] == code_version("torchcell_assets.defs.sources.genome")
    assert genome.tags["dagster/data_version"]


def test_checks_fail_on_bad_data(run):
    """Corrupt copies of the stored outputs make the checks fail."""
    _, storage, _ = run
    dataset = pd.read_parquet(dataset_parquet(storage, "digenic"))
    records = pd.read_parquet(storage.path(*COSTANZO_RECORDS))
    bad = TorchcellStorage(data_dir=str(storage.root() / "corrupt"))
    for part in (("sources", "s288c_genes.parquet"),):
        bad.path(*part).write_bytes(storage.path(*part).read_bytes())
    pd.concat([dataset, dataset.head(1)]).to_parquet(dataset_parquet(bad, "digenic"))
    records.assign(epsilon=records["epsilon"] + 0.05).to_parquet(bad.path(*COSTANZO_RECORDS))
    no_duplicates = next(c for c in dataset_checks if c.check_key.name == "no_duplicate_genotypes"
                         and c.check_key.asset_key == DATASET_ASSETS["digenic"].key)  # fmt: skip
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
    return next(c for c in dataset_checks
                if c.check_key.name == check and c.check_key.asset_key == DATASET_ASSETS[name].key)  # fmt: skip


def test_dataset_checks_fail_on_leaks_lost_rows_and_bad_labels(run):
    """Each dataset check passes on the materialized table and fails on a corrupted copy of it."""
    _, storage, _ = run
    graph = _graph(storage)
    bad = TorchcellStorage(data_dir=str(storage.root() / "corrupt_datasets"))
    for part in (("sources", "s288c_genes.parquet"), ("datasets", "trigenic.card.json")):
        bad.path(*part).write_bytes(storage.path(*part).read_bytes())
    table = pd.read_parquet(dataset_parquet(storage, "trigenic"))
    leaks = _dataset_check("trigenic", "splits_do_not_leak")
    ranges = _dataset_check("trigenic", "label_ranges")
    genes = _dataset_check("trigenic", "genes_in_genome")
    assert leaks(storage=storage).passed and ranges(storage=storage).passed and genes(storage=storage).passed
    # A test genotype of the strict gene split copied into train: its genes are no longer held out.
    test_row = table[table["split_gene_all"] == "test"].head(1).assign(split_gene_all="train", environment="YPD_26C")
    pd.concat([table, test_row]).to_parquet(dataset_parquet(bad, "trigenic"))
    result = leaks(storage=bad)
    assert not result.passed and result.metadata["split_gene_all.heldout_with_seen_gene"].value > 0
    # One row of a held-out query pair moved to train: that query pair is on both sides.
    moved = table.copy()
    moved.loc[moved.index[moved["split_query"] == "test"][0], "split_query"] = "train"
    moved.to_parquet(dataset_parquet(bad, "trigenic"))
    result = leaks(storage=bad)
    assert not result.passed and result.metadata["split_query.queries_in_two_folds"].value == 1
    assert table["query"].str.count(r"\+").eq(1).all()  # a Kuzmin triple's query is its query gene pair
    table.assign(fitness=table["fitness"] * 100).to_parquet(dataset_parquet(bad, "trigenic"))
    assert ranges(storage=bad).passed is False
    renamed = table.copy()
    renamed.loc[0, "genes"] = ["YNOT001X", *list(renamed.loc[0, "genes"])[1:]]
    renamed.to_parquet(dataset_parquet(bad, "trigenic"))
    assert genes(storage=bad).passed is False
    rows = _dataset_check("trigenic", "rows_match_graph")
    assert rows(storage=storage, graph=graph).passed
    table.iloc[1:].to_parquet(dataset_parquet(bad, "trigenic"))  # a row lost after curation
    assert rows(storage=bad, graph=graph).passed is False


def test_model_benchmarks_hold_every_run_and_their_check_can_fail(run):
    _, storage, _ = run
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    models, ceilings = table[table["family"] != "ceiling"], table[table["family"] == "ceiling"]
    # One comparison per split of the trigenic dataset, each with every family and the baselines.
    assert set(zip(models["dataset"], models["split_type"], strict=True)) == {("trigenic", "split_random"),
                                                                               ("trigenic", "split_query")}
    for _, part in models.groupby("split_type"):
        assert set(part["model"]) == {*NEURAL_MODELS, "elastic_net", "train_mean", "query_identity", "additive"}
    assert set(models["family"]) == {"baseline", "classical", "ontology", "graph"}
    assert set(models["target"]) == {"fitness", "interaction"} and models["dataset_sha256"].str.len().eq(64).all()
    query_identity = models[(models["model"] == "query_identity") & (models["target"] == "interaction")]
    assert query_identity.set_index("split_type")["pearson"].isna().to_dict() == {"split_random": False,
                                                                                 "split_query": True}  # fmt: skip
    oracle = ceilings[ceilings["model"] == "oracle_ceiling"].set_index("split_type")["pearson"]
    truth = ceilings[ceilings["model"] == "measurement_ceiling"].set_index("split_type")["pearson"]
    assert set(oracle.index) == {"split_random", "split_query"} and ((truth <= oracle + 1e-9) & (oracle < 1)).all()
    assert cis_bracket_estimates(storage=storage).passed and no_model_above_the_oracle(storage=storage).passed
    cheat = TorchcellStorage(data_dir=str(storage.root() / "cheating_benchmarks"))
    cheating = table.copy()
    cheating.loc[cheating["model"] == "additive", ["pearson", "pearson_ci_low", "pearson_ci_high"]] = [0.99, 0.98, 1.0]
    cheating.to_csv(cheat.path(*MODEL_BENCHMARKS_CSV), index=False)
    assert not no_model_above_the_oracle(storage=cheat).passed
    bad = TorchcellStorage(data_dir=str(storage.root() / "corrupt_benchmarks"))
    table.assign(pearson=table["pearson_ci_high"] + 0.1).to_csv(bad.path(*MODEL_BENCHMARKS_CSV), index=False)
    result = cis_bracket_estimates(storage=bad)
    assert not result.passed and result.metadata["outside_ci"].value == int(models["pearson"].notna().sum())


def test_a_dataset_gene_set_naming_unknown_genes_fails_clearly(run):
    _, storage, _ = run
    graph = _graph(storage)
    asset = DATASET_ASSETS["digenic"]
    config = dg.RunConfig(ops={asset.key.to_user_string(): {"config": {"genes": ["YAL001C", "NOT_A_GENE"]}}})
    before = dataset_parquet(storage, "digenic").read_bytes()
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], instance=instance, resources={"storage": storage, "graph": graph},
                                run_config=config, raise_on_error=False)  # fmt: skip
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "NOT_A_GENE" in str(failure.event_specific_data.error)
    assert dataset_parquet(storage, "digenic").read_bytes() == before  # nothing stored was touched


def test_real_release_in_the_raw_dir_wins_over_the_simulator(run, tmp_path):
    """Files a user puts in $TORCHCELL_RAW_DIR/costanzo2016/ are used (and labelled real)."""
    _, storage, _ = run
    simulated_dir = storage.root() / "simulated" / "costanzo2016"
    raw = tmp_path / "raw" / "costanzo2016"
    raw.mkdir(parents=True)
    for name in ("strain_ids_and_single_mutant_fitness.xlsx", "SGA_ExE.txt"):
        (raw / name).write_bytes((simulated_dir / name).read_bytes())
    user = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([s288c_genome, costanzo2016], instance=instance, resources={"storage": user},
                                selection=[costanzo2016.key, s288c_genome.key])  # fmt: skip
    assert result.success
    provenance = read_provenance(user, "costanzo2016")
    assert provenance["simulated"] is False
    assert set(provenance["sha256"]) == {"strain_ids_and_single_mutant_fitness.xlsx", "SGA_ExE.txt"}
    records = pd.read_parquet(user.path(*COSTANZO_RECORDS))
    assert set(records["source_file"]) == {"SGA_ExE.txt"} and not records["simulated"].any()


def test_a_source_without_real_or_simulated_files_fails_clearly(tmp_path):
    user = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "empty_raw"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([s288c_genome, costanzo2016], instance=instance, resources={"storage": user},
                                selection=[costanzo2016.key, s288c_genome.key], raise_on_error=False)  # fmt: skip
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "strain_ids_and_single_mutant_fitness.xlsx" in str(failure.step_failure_data.error)


def test_lineage_of_a_benchmark_row_reaches_the_raw_files(run):
    """From one model_benchmarks row, follow the asset graph and the instance's materializations:
    benchmark → model run → curated dataset → knowledge graph → graph tables → raw Costanzo files."""
    _, storage, instance = run
    graph = defs().resolve_asset_graph()
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    row = table.query("model == 'mlp' and target == 'fitness' and split_type == 'split_query'").iloc[0]  # the latest

    def hop(child: str, parent: str) -> dict:
        assert dg.AssetKey(parent) in graph.get(dg.AssetKey(child)).parent_keys, (child, parent)
        event = instance.get_latest_materialization_event(dg.AssetKey(parent))
        assert event is not None, parent
        materialization = event.asset_materialization
        return {"metadata": {k: v.value for k, v in materialization.metadata.items()},
                "data_version": materialization.tags["dagster/data_version"]}  # fmt: skip

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


def test_a_sweep_runs_as_partitions_and_is_ranked_on_validation(run):
    """sweep_plan adds one partition per configuration; each trains through Pipes; sweep_table ranks them."""
    _, storage, instance = run
    resources = {"storage": storage, "pipes_subprocess_client": ProcessGroupPipesClient()}
    grid = {"sweep_id": "tiny", "models": ["mlp", "dango"], "datasets": ["trigenic"],
            "graph_sets": ["string9.1", "string12"], "ablations": {}, "epochs": 1, "bootstrap": 50}  # fmt: skip
    planned = dg.materialize([sweep_plan, every_run_is_a_partition], instance=instance, resources=resources,
                             run_config=dg.RunConfig(ops={"sweep_plan": {"config": grid}}))  # fmt: skip
    assert planned.success and all(e.passed for e in planned.get_asset_check_evaluations())
    keys = instance.get_dynamic_partitions(SWEEP_PARTITIONS.name)
    assert keys == ["tiny-000", "tiny-001", "tiny-002"]  # mlp (no graph), dango × 2 graph sets
    for key in keys:
        result = dg.materialize([sweep_model], instance=instance, resources=resources, partition_key=key)
        assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    config = json.loads((storage.root() / "sweeps" / "tiny" / "tiny-002" / "config.json").read_text())
    assert config["wandb_group"] == "tiny" and config["cell_graph"].split("/")[-1].startswith("string12")
    result = dg.materialize([sweep_table, chosen_is_best_on_validation], instance=instance, resources=resources)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    table = pd.read_csv(storage.path(*SWEEP_CSV))
    assert len(table) == 3 and table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "val_pearson"].iloc[0] == table["val_pearson"].max()
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["graph_set_chart"].value.startswith("![test interaction Pearson per graph set")
    assert "tiny: 3. STRING 9.1 beats STRING 12.0" in metadata["claim_string_versions"].value  # dango on both
    bad = TorchcellStorage(data_dir=str(storage.root() / "corrupt_sweep"))
    table.assign(chosen=~table["chosen"]).to_csv(bad.path(*SWEEP_CSV), index=False)
    assert chosen_is_best_on_validation(storage=bad).passed is False


def test_unchanged_inputs_skip_the_rebuild_and_a_changed_config_does_not(run):
    """Re-materializing the graph and a dataset with nothing changed re-reports the last materialization (same
    data version, `skipped_unchanged`); a changed dataset config rebuilds it."""
    _, storage, instance = run
    resources = {"storage": storage, "graph": _graph(storage)}
    dataset = DATASET_ASSETS["trigenic"]
    before = {key: instance.get_latest_materialization_event(key).asset_materialization.tags["dagster/data_version"]
              for key in (knowledge_graph.key, dataset.key)}  # fmt: skip
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
