"""The whole default graph materialized in process (every model on both comparison splits, then sweeps), plus
checks that must be able to fail. Slow (`make test-slow`, the second step of `.ci/run`): the default run has the
one-model end-to-end run of `test_smoke.py`, which also walks a benchmark row's lineage to the raw files."""

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
from torchcell_assets.defs.datasets.assets import DATASET_ASSETS
from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_assets.defs.models.partitions import COMPARISON_DATASET, COMPARISON_SPLITS
from torchcell_assets.defs.models.training import NEURAL_MODELS
from torchcell_assets.defs.resources import ProcessGroupPipesClient
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
        results = materialize_in_stages(
            definitions,
            instance,
            resources,
            OP_CONFIG,
            comparison_dataset=COMPARISON_DATASET,
            comparison_splits=COMPARISON_SPLITS,
        )
        yield results, storage, instance


@pytest.mark.slow
def test_every_asset_materializes_and_every_check_passes(run):
    results, _, _ = run
    assert all(result.success for result in results) and len(results) == 4  # up to models, 2 splits, after
    materialized = {
        e.asset_key.to_user_string() for result in results for e in result.get_asset_materialization_events()
    }
    assert materialized == {
        "s288c_genome",
        "go_dag",
        "simulated_release",
        *SOURCES,
        "graph_tables",
        "knowledge_graph",
        *(f"{name}_dataset" for name in DATASET_ASSETS),
        "gene_features",
        "cell_graphs",
        "classical_baselines",
        *(f"{model}_model" for model in NEURAL_MODELS),
        "model_benchmarks",
        "convergence_projections",
        "strain_design",
    }
    evaluations = [e for result in results for e in result.get_asset_check_evaluations()]
    assert len(evaluations) >= 18
    reported = {e.asset_key.to_user_string() for e in evaluations if e.check_name == "predictions_complete"}
    assert {f"{model}_model" for model in NEURAL_MODELS} <= reported  # sent by rank 0 through Dagster Pipes
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]


@pytest.mark.slow
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


@pytest.mark.slow
def test_model_benchmarks_hold_every_run_and_their_check_can_fail(run):
    _, storage, _ = run
    table = pd.read_csv(storage.path(*MODEL_BENCHMARKS_CSV))
    models, ceilings = table[table["family"] != "ceiling"], table[table["family"] == "ceiling"]
    # One comparison per split of the trigenic dataset, each with every family and the baselines.
    assert set(zip(models["dataset"], models["split_type"], strict=True)) == {
        ("trigenic", "split_random"),
        ("trigenic", "split_query"),
    }
    for _, part in models.groupby("split_type"):
        assert set(part["model"]) == {*NEURAL_MODELS, "elastic_net", "train_mean", "query_identity", "additive"}
    assert set(models["family"]) == {"baseline", "classical", "ontology", "graph"}
    assert set(models["target"]) == {"fitness", "interaction"} and models["dataset_sha256"].str.len().eq(64).all()
    query_identity = models[(models["model"] == "query_identity") & (models["target"] == "interaction")]
    assert query_identity.set_index("split_type")["pearson"].isna().to_dict() == {
        "split_random": False,
        "split_query": True,
    }
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


@pytest.mark.slow
def test_a_sweep_runs_as_partitions_and_is_ranked_on_validation(run):
    """sweep_plan adds one partition per configuration; each trains through Pipes; sweep_table ranks them."""
    _, storage, instance = run
    resources = {"storage": storage, "pipes_subprocess_client": ProcessGroupPipesClient()}
    grid = {
        "sweep_id": "tiny",
        "models": ["mlp", "dango"],
        "datasets": ["trigenic"],
        "graph_sets": ["string9.1", "string12"],
        "ablations": {},
        "epochs": 1,
        "bootstrap": 50,
    }
    planned = dg.materialize(
        [sweep_plan, every_run_is_a_partition],
        instance=instance,
        resources=resources,
        run_config=dg.RunConfig(ops={"sweep_plan": {"config": grid}}),
    )
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
