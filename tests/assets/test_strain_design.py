"""Strain design on a tiny trained MLP: candidates, ranking, intervals, checkpoint fidelity, bad input, the asset."""

import dataclasses
import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import torchcell_assets.defs.design.assets as design_assets
from tests.support.training import GENES, mlp_argv, synthetic_table
from torchcell_assets.defs.design.assets import (
    DESIGN_CSV,
    DESIGN_PNG,
    STRAIN_DESIGN,
    choose_run,
    ranked_with_bracketing_intervals,
    strain_design,
)
from torchcell_assets.defs.models.runs import TrainedRun
from torchcell_assets.defs.sources.paths import GO_TERMS
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.design.strain_design import (
    candidate_genotypes,
    default_size,
    go_term_genes,
    load_design_run,
    rank_candidates,
    resolve_genes,
)
from torchcell_core.train.run import main

STANDARD = {gene: f"GEN{i + 1}" for i, gene in enumerate(GENES[:5])}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_torch_thread) -> Path:
    """A 2-epoch MLP with dropout on the synthetic table of test_train, with a gene table and dataset card."""
    root = tmp_path_factory.mktemp("design_inputs")
    table, _ = synthetic_table()
    pq.write_table(table, root / "synthetic.parquet")
    (root / "synthetic.card.json").write_text(json.dumps({"simulated": True}))
    pq.write_table(
        pa.table({"systematic_name": GENES, "standard_name": [STANDARD.get(g) for g in GENES]}), root / "genes.parquet"
    )
    out = root / "run"
    main(
        mlp_argv(
            root / "synthetic.parquet",
            root / "genes.parquet",
            out,
            "--hparam",
            "dropout=0.2",
            "--epochs",
            "2",
            "--lr",
            "0.01",
        )
    )
    return out


@pytest.fixture(scope="module")
def run(run_dir):
    return load_design_run(run_dir)


def _bracketed(table: pd.DataFrame) -> bool:
    return all(
        (
            (table[f"{label}_low"] <= table[f"predicted_{label}"])
            & (table[f"predicted_{label}"] <= table[f"{label}_high"])
        ).all()
        for label in ("fitness", "interaction")
    )


def test_pairs_and_triples_ranked_by_objective_with_intervals(run):
    genes, missing = resolve_genes(run, ["gen1", "GEN2", GENES[2], GENES[3], GENES[4], "GEN1"])
    assert genes == GENES[:5] and missing == []
    assert default_size(run) == 2 and default_size(dataclasses.replace(run, training_sizes={1: 9, 2: 3, 3: 5})) == 3
    pairs, triples = candidate_genotypes(genes, 2, 100), candidate_genotypes(genes, 3, 100)
    assert len(pairs) == 10 and len(triples) == 10 and len(set(pairs)) == 10
    lowest = rank_candidates(run, pairs, "lowest_fitness", mc_passes=8)
    assert list(lowest["rank"]) == list(range(1, 11)) and lowest["predicted_fitness"].is_monotonic_increasing
    assert _bracketed(lowest) and (lowest["fitness_mc_sd"] > 0).all() and (lowest["mc_passes"] == 8).all()
    assert (lowest["fitness_sd"] >= lowest["fitness_mc_sd"]).all()
    assert (lowest["fitness_high"] > lowest["fitness_low"]).all()
    assert set(lowest["standard_names"]) == {f"{STANDARD[a]}+{STANDARD[b]}" for a, b in pairs}
    assert lowest["simulated"].all() and set(lowest["model"]) == {"mlp"}
    highest = rank_candidates(run, pairs, "highest_fitness")
    assert highest["predicted_fitness"].is_monotonic_decreasing and (highest["fitness_mc_sd"] == 0).all()
    # the point estimate is the eval-mode prediction, with or without MC passes
    merged = highest.merge(lowest, on="genes")
    assert np.allclose(merged["predicted_fitness_x"], merged["predicted_fitness_y"], atol=1e-9)
    interaction = rank_candidates(run, triples, "most_negative_interaction", mc_passes=4, confidence=0.5)
    assert interaction["predicted_interaction"].is_monotonic_increasing and _bracketed(interaction)
    assert (interaction["size"] == 3).all() and interaction["genes"].str.count(r"\+").eq(2).all()
    wide = rank_candidates(run, triples, "most_negative_interaction", mc_passes=4, confidence=0.99)
    half_width = wide["interaction_high"] - wide["predicted_interaction"]
    assert np.allclose(half_width, 2.5758293 * wide["interaction_sd"], rtol=1e-6)


def test_predictions_match_the_runs_own_predictions(run, run_dir):
    """Candidates the dataset measured (in the design environment) get what predictions.parquet holds for them."""
    table = rank_candidates(run, candidate_genotypes(GENES, 2, 500), mc_passes=0).set_index("genes")
    assert len(table) == 276 and run.weights == "best.pt"
    data = pq.read_table(run_dir.parent / "synthetic.parquet").to_pandas()
    predicted = pd.read_parquet(run_dir / "predictions.parquet").set_index("row")
    environment = run.environment.numpy()
    same_env = np.isclose(data[["env_temperature", "env_media_YPD"]].to_numpy(np.float32), environment).all(axis=1)
    pairs = data[same_env & (data["n_genes"] == 2)]
    assert len(pairs) > 50
    for row, record in pairs.iterrows():
        key = "+".join(sorted(record["genes"]))
        assert table.loc[key, "in_dataset"]
        for label in ("fitness", "interaction"):
            assert abs(table.loc[key, f"predicted_{label}"] - predicted.loc[row, f"predicted_{label}"]) < 1e-5
    by_key = pairs.assign(key=["+".join(sorted(g)) for g in pairs["genes"]]).groupby("key")
    expected = by_key["fitness"].mean()
    assert np.allclose(table.loc[expected.index, "measured_fitness"], expected, atol=1e-6)
    trained_keys = set(by_key["split_random"].agg(lambda s: "train" in set(s)).loc[lambda s: s].index)
    assert set(table.index[table["in_training"]]) == trained_keys
    assert table.loc[~table["in_dataset"], "measured_fitness"].isna().all()
    assert (table["genes_in_training"] <= 2).all() and run.residual_fold == "test"


def test_bad_inputs_name_the_problem(run, run_dir, tmp_path):
    with pytest.raises(ValueError, match=r"unknown gene name\(s\) \['NOPE1'\]"):
        resolve_genes(run, [GENES[0], "NOPE1"])
    assert resolve_genes(run, [GENES[0], "NOPE1"], strict=False) == ([GENES[0]], ["NOPE1"])
    with pytest.raises(ValueError, match="too few genes"):
        candidate_genotypes([GENES[0]], 2, 10)
    with pytest.raises(ValueError, match="2024 3-gene candidates, more than max_candidates=100"):
        candidate_genotypes(GENES, 3, 100)
    with pytest.raises(ValueError, match="size must be one of"):
        candidate_genotypes(GENES, 4, 10**6)
    with pytest.raises(ValueError, match="objective must be one of"):
        rank_candidates(run, [(GENES[0], GENES[1])], "bogus")
    terms = tmp_path / "terms.parquet"
    pd.DataFrame({"go_id": ["GO:0000001"], "name": ["tiny pathway"], "genes": [[GENES[3], GENES[1]]]}).to_parquet(terms)
    assert go_term_genes(terms, "GO:0000001") == ("tiny pathway", [GENES[1], GENES[3]])
    with pytest.raises(ValueError, match="GO term 'GO:9999999' is not in"):
        go_term_genes(terms, "GO:9999999")
    with pytest.raises(ValueError, match="does not exist"):
        go_term_genes(tmp_path / "missing.parquet", "GO:0000001")
    with pytest.raises(ValueError, match="is not a trained run"):
        load_design_run(tmp_path)
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    (untrained / "config.json").write_text((run_dir / "config.json").read_text())
    with pytest.raises(ValueError, match="model 'mlp' .* is not trained"):
        load_design_run(untrained)
    runs = [TrainedRun("mlp", "synthetic", dg.AssetKey("mlp_model"), None, run_dir, {})]
    with pytest.raises(ValueError, match="no trained model"):
        choose_run([], "", "")
    with pytest.raises(ValueError, match=r"model 'dcell' is not trained; trained runs: \['mlp/synthetic'\]"):
        choose_run(runs, "dcell", "")
    assert choose_run(runs, "", "").model == "mlp"  # dango is the default only when trained
    dango = [TrainedRun("dango", key, dg.AssetKey("dango_model"), key, run_dir, {}) for key in ("digenic", "trigenic")]
    several = [*runs, *dango]
    assert choose_run(several, "", "").partition == "digenic"
    assert choose_run(several, "dango", "trigenic").partition == "trigenic"
    with pytest.raises(ValueError, match="model 'dango' on dataset 'synthetic' is not trained"):
        choose_run(several, "dango", "synthetic")


def test_strain_design_asset_writes_table_csv_and_plot(run_dir, tmp_path, monkeypatch):
    runs = [TrainedRun("mlp", "synthetic", dg.AssetKey("mlp_model"), "synthetic", run_dir, {"dataset": "synthetic"})]
    monkeypatch.setattr(design_assets, "trained_runs", lambda instance, storage: runs)
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"))
    config = {"genes": ["GEN1", "GEN2", GENES[2], GENES[3], GENES[7]], "size": 3, "top": 4, "mc_passes": 3}
    result = dg.materialize(
        [strain_design, ranked_with_bracketing_intervals],
        resources={"storage": storage},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {STRAIN_DESIGN: {"config": config}}},
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    metadata = result.asset_materializations_for_node(STRAIN_DESIGN)[0].metadata
    assert metadata["candidates"].value == 10 and metadata["model"].value == "mlp"
    assert metadata["simulated"].value is True and metadata["mc_passes"].value == 3
    assert metadata["partition"].value == "synthetic" and metadata["run_dir"].value == str(run_dir)
    assert "data:image/png;base64" in metadata["plot"].value
    top = metadata["top_candidates"].value  # a table: 4 rows, typed columns
    assert len(top.records) == 4 and [r.data["rank"] for r in top.records] == [1, 2, 3, 4]
    assert {c.name: c.type for c in top.schema.columns}["predicted_fitness"] == "float"
    (read,) = metadata["inputs"].value.records
    assert read.data["asset"] == "mlp_model" and read.data["partition"] == "synthetic"
    csv = pd.read_csv(storage.path(*DESIGN_CSV))
    assert len(csv) == 10 and storage.path(*DESIGN_PNG).stat().st_size > 0
    with duckdb.connect(str(storage.duckdb_path), read_only=True) as con:
        assert con.execute(f"SELECT count(*) FROM {STRAIN_DESIGN}").fetchone()[0] == 10

    # a GO term as the gene set; its genes outside the model are left out and reported
    terms = pd.DataFrame(
        {
            "go_id": ["GO:0000001"],
            "name": ["tiny pathway"],
            "namespace": ["biological_process"],
            "genes": [[*GENES[:4], "YZZ999W"]],
            "n_genes": [5],
        }
    )
    terms.to_parquet(storage.path(*GO_TERMS), index=False)
    config = {"go_term": "GO:0000001", "objective": "most_negative_interaction", "mc_passes": 0}
    result = dg.materialize(
        [strain_design],
        resources={"storage": storage},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {STRAIN_DESIGN: {"config": config}}},
    )
    metadata = result.asset_materializations_for_node(STRAIN_DESIGN)[0].metadata
    assert metadata["candidates"].value == 6 and metadata["genes_not_in_model"].value == ["YZZ999W"]
    assert metadata["gene_set"].value == "GO:0000001 tiny pathway" and metadata["size"].value == 2
    assert pd.read_csv(storage.path(*DESIGN_CSV))["predicted_interaction"].is_monotonic_increasing
