"""The baselines every model is compared with, and the claim verdicts drawn from a comparison."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.support.datasets import empty_dataset
from torchcell_assets.defs.models.baselines import BaselinesConfig, classical_baselines
from torchcell_assets.defs.models.partitions import partition_key
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.benchmarks.baselines import baseline_metrics, baseline_predictions, query_identity
from torchcell_core.benchmarks.claims import CONTRADICTED, SUPPORTED, UNDECIDED, claim_verdicts
from torchcell_core.datasets.splits import genotype_random_split, query_split


def _screen(seed: int = 0) -> pd.DataFrame:
    """60 query pairs × 80 arrays: interaction = query-pair effect + array effect + noise; fitness additive."""
    rng = np.random.default_rng(seed)
    pair_effect, array_effect = rng.normal(0, 1, 60), rng.normal(0, 0.5, 80)
    gene_fitness = rng.normal(0, 1, 200)
    rows = []
    for q in range(60):
        a, b = f"Q{2 * q:03d}", f"Q{2 * q + 1:03d}"
        for k in range(80):
            genes = sorted([a, b, f"A{k:03d}"])
            rows.append(
                {
                    "genes": genes,
                    "genotype": "+".join(genes),
                    "query": f"{a}+{b}",
                    "interaction": pair_effect[q] + array_effect[k] + rng.normal(0, 0.5),
                    "fitness": gene_fitness[2 * q]
                    + gene_fitness[2 * q + 1]
                    + gene_fitness[120 + k % 80]
                    + rng.normal(0, 0.1),
                    "env_temperature": 1.0,
                    "interaction_p_value": 0.5,
                }
            )
    table = pd.DataFrame(rows)
    table["split_random"] = genotype_random_split(table["genotype"].tolist(), seed)
    table["split_query"] = query_split([[q] for q in table["query"]], seed)[0]
    return table


def test_query_identity_is_the_train_mean_of_the_query():
    queries = np.array(["a", "a", "b", "b", "c"])
    values = np.array([1.0, 3.0, 10.0, 20.0, 100.0])
    train = np.array([True, True, True, True, False])
    assert query_identity(queries, values, train).tolist() == [2.0, 2.0, 15.0, 15.0, 8.5]  # c unseen: train mean


def test_baselines_on_a_random_and_a_query_split():
    table = _screen()
    metrics, _ = baseline_metrics(table, "split_random", n_resamples=50)
    test = {name: m["splits"]["test"]["interaction"]["pearson"] for name, m in metrics.items()}
    assert np.isnan(test["train_mean"])  # a constant has no Pearson
    assert test["query_identity"] > 0.7 and test["additive"] > test["query_identity"]  # knows the arrays too
    assert metrics["additive"]["splits"]["test"]["fitness"]["pearson"] > 0.95  # fitness is additive here
    held, _ = baseline_metrics(table, "split_query", n_resamples=50)
    held_test = {name: m["splits"]["test"]["interaction"]["pearson"] for name, m in held.items()}
    assert np.isnan(held_test["query_identity"])  # every test query unseen: the train mean
    assert 0.1 < held_test["additive"] < test["additive"] - 0.2  # only the array effect is left to learn
    ci = held["additive"]["splits"]["test"]["interaction"]["ci"]["pearson"]
    assert ci[0] <= held_test["additive"] <= ci[1]


def test_baseline_predictions_cover_every_row_and_fit_on_train_only():
    table = _screen(1)
    predictions, chosen = baseline_predictions(table, "split_random")
    assert set(predictions) == {"train_mean", "query_identity", "additive"} and chosen["additive"]
    assert all(p.shape == (len(table), 2) and np.isfinite(p).all() for p in predictions.values())
    train = table["split_random"] == "train"
    assert predictions["train_mean"][0, 1] == pytest.approx(table.loc[train, "interaction"].mean())


def _row(model, family, target, r, half=0.02, split="split_query", graph_set="", **extra):
    return {
        "model": model,
        "family": family,
        "dataset": "trigenic",
        "split_type": split,
        "target": target,
        "pearson": r,
        "pearson_ci_low": r - half,
        "pearson_ci_high": r + half,
        "graph_set": graph_set,
        "epochs": extra.get("epochs", np.nan),
        "best_epoch": extra.get("best_epoch", np.nan),
        "train_seconds": extra.get("train_seconds", np.nan),
    }


def test_claims_follow_the_numbers():
    table = pd.DataFrame(
        [
            _row("svr", "classical", "fitness", 0.90),
            _row("svr", "classical", "interaction", 0.10),
            _row("additive", "baseline", "fitness", 0.92),
            _row("additive", "baseline", "interaction", 0.12),
            _row("dcell", "ontology", "fitness", 0.85, epochs=20, best_epoch=19, train_seconds=100),
            _row("dcell", "ontology", "interaction", 0.05, epochs=20, best_epoch=19, train_seconds=100),
            _row("dango", "graph", "fitness", 0.93, graph_set="string9_1", epochs=10, best_epoch=4),
            _row("dango", "graph", "interaction", 0.30, graph_set="string9_1", epochs=10, best_epoch=4),
            _row("dango", "graph", "fitness", 0.93, graph_set="string12", epochs=10, best_epoch=6),
            _row("dango", "graph", "interaction", 0.20, graph_set="string12", epochs=10, best_epoch=6),
            {
                "model": "oracle_ceiling",
                "family": "ceiling",
                "dataset": "trigenic",
                "split_type": "split_query",
                "target": "interaction",
                "pearson": 0.7,
            },
        ]
    )
    verdicts = [v.verdict for v in claim_verdicts(table, "trigenic", "split_query")]
    assert verdicts == [SUPPORTED, SUPPORTED, SUPPORTED, CONTRADICTED, SUPPORTED]
    lines = [v.line() for v in claim_verdicts(table, "trigenic", "split_query")]
    assert "dango/string9_1 0.300 [0.280, 0.320]" in lines[1] and "dcell (best epoch 19 of 20" in lines[4]
    overlapping = table.copy()
    overlapping.loc[(overlapping["model"] == "dango") & (overlapping["target"] == "interaction"), "pearson_ci_low"] = 0
    assert claim_verdicts(overlapping, "trigenic", "split_query")[1].verdict == UNDECIDED
    assert all(v.verdict == UNDECIDED for v in claim_verdicts(table, "trigenic", "split_random")[:4])


def test_baselines_on_an_empty_dataset_fail_at_once_naming_it(tmp_path):
    """A partition on an empty dataset (a release without triples) stops with the dataset and the reason, before
    any model is fitted."""
    storage = TorchcellStorage(data_dir=str(tmp_path))
    table, card = empty_dataset(tmp_path)
    pq.write_table(table, storage.dataset_parquet("trigenic"))
    storage.dataset_card("trigenic").write_text(json.dumps(card))
    context = dg.build_asset_context(partition_key=partition_key("trigenic", "split_random"))
    with pytest.raises(dg.Failure, match="trigenic dataset is empty: no trigenic experiments in the graph"):
        classical_baselines(context=context, config=BaselinesConfig(), storage=storage)
