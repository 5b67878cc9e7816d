"""Noise ceilings from the simulator's truth: the truth as prediction reaches the measurement ceiling, and
the oracle (truth plus the errors rows share) is an upper bound no predictor of the genes exceeds."""

import json

import numpy as np
import pandas as pd
import pytest

from torchcell_core.benchmarks.ceilings import ceiling_rows, interaction_ceilings, true_interactions
from torchcell_core.benchmarks.model_table import family_summary, summary_markdown
from torchcell_core.simulate.world import load_world


def _dataset(world, n: int, noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = world.genes["systematic_name"].to_numpy()
    pairs = [list(rng.choice(names, 2, replace=False)) for _ in range(n)]
    truth = true_interactions(world, pairs)
    return pd.DataFrame({"genes": pairs, "interaction": truth + rng.normal(0, noise, n), "split_random": "test"})


def test_background_free_truth_drops_only_the_background(world):
    rng = np.random.default_rng(1)
    a, b = rng.choice(len(world.genes), 5000), rng.choice(len(world.genes), 5000)
    full, structured = world.epsilon_pairs(a, b), world.epsilon_pairs(a, b, background=False)
    differs = ~np.isclose(full, structured)
    assert 0 < differs.mean() < 3 * world.config.background_rate  # sparse, as configured
    i, j, k = (rng.choice(len(world.genes), 2000) for _ in range(3))
    assert not np.allclose(world.tau(i, j, k), world.tau(i, j, k, background=False))


def test_ceilings_of_a_noisy_screen(world):
    exact = interaction_ceilings(world, _dataset(world, 4000, noise=0.0))
    assert exact["measurement"] == pytest.approx(1.0) and exact["oracle"] == pytest.approx(1.0)
    noisy = interaction_ceilings(world, _dataset(world, 4000, noise=0.02))
    assert noisy["n"] == 4000
    assert noisy["oracle"] == pytest.approx(noisy["measurement"]) and noisy["measurement"] < exact["measurement"]
    rows = ceiling_rows(world, _dataset(world, 500, noise=0.02), "digenic")
    assert {r["model"] for r in rows} == {"measurement_ceiling", "oracle_ceiling"}
    assert all(r["family"] == "ceiling" and r["target"] == "interaction" for r in rows)


def test_genotypes_of_other_sizes_or_unknown_genes_have_no_truth(world):
    names = list(world.genes["systematic_name"][:4])
    truth = true_interactions(world, [names[:1], names[:2], names[:3], [names[0], "NOT_A_GENE"], names])
    assert np.isnan(truth[[0, 3, 4]]).all() and np.isfinite(truth[[1, 2]]).all()


def test_world_is_rebuilt_from_its_saved_config(world, genes_frame, go_frame, tmp_path):
    genome, go = tmp_path / "genes.parquet", tmp_path / "go.parquet"
    genes_frame.to_parquet(genome)
    go_frame.to_parquet(go)
    (tmp_path / "world.json").write_text(json.dumps({"config": world.config.__dict__, "size": "demo"}))
    again = load_world(genome, go, tmp_path / "world.json")
    a, b = np.arange(50), np.arange(50, 100)
    assert np.array_equal(again.epsilon_pairs(a, b), world.epsilon_pairs(a, b))


def test_family_summary_puts_the_best_of_each_family_beside_the_ceilings():
    def row(model, family, target, r):
        return {
            "model": model,
            "family": family,
            "dataset": "digenic",
            "target": target,
            "pearson": r,
            "pearson_ci_low": r - 0.01,
            "pearson_ci_high": r + 0.01,
        }

    table = pd.DataFrame(
        [
            row("svr", "classical", "interaction", 0.39),
            row("random_forest", "classical", "interaction", 0.29),
            row("dango", "graph", "interaction", 0.54),
            row("svr", "classical", "fitness", 0.81),
            row("dango", "graph", "fitness", 0.95),
            {
                "model": "oracle_ceiling",
                "family": "ceiling",
                "dataset": "digenic",
                "target": "interaction",
                "pearson": 0.69,
            },
            {
                "model": "measurement_ceiling",
                "family": "ceiling",
                "dataset": "digenic",
                "target": "interaction",
                "pearson": 0.95,
            },
        ]
    )
    summary = family_summary(table).set_index("target")
    assert summary.loc["interaction", "classical"].startswith("svr 0.390")
    assert summary.loc["interaction", "graph"].startswith("dango 0.540")
    assert summary.loc["interaction", "best / oracle"] == pytest.approx(0.78)
    assert summary.loc["interaction", "measurement_ceiling"] == 0.95
    assert pd.isna(summary.loc["fitness"].get("measurement_ceiling"))
    text = summary_markdown(family_summary(table))
    assert "nan" not in text and "—" in text and "dango 0.540 [0.530, 0.550]" in text


def test_oracle_of_a_triple_is_the_mean_of_its_measurements_in_the_row_s_datasets(world):
    from torchcell_core.benchmarks.ceilings import oracle_interactions

    g = list(world.genes["systematic_name"][:5])
    measurements = pd.DataFrame(
        {
            "source_file": ["aao1729_data_s1.tsv", "aaz5667-Table-S1.xlsx", "aaz5667-Table-S3.xlsx"],
            "query_gene_1": [g[0], g[0], g[1]],
            "query_gene_2": [g[1], g[1], g[2]],
            "array_gene": [g[2], g[2], g[3]],
            "tau_true": [0.0, 0.0, 0.0],
            "tau_oracle": [-0.1, -0.3, 0.2],
        }
    )
    genotypes = [[g[2], g[0], g[1]], [g[0], g[1], g[2]], [g[1], g[2], g[3]], [g[0], g[4]], [g[2], g[3], g[4]]]
    sources = [["kuzmin2018"], ["kuzmin2018", "kuzmin2020"], ["kuzmin2020"], ["costanzo2016"], ["kuzmin2018"]]
    oracle = oracle_interactions(world, genotypes, sources, measurements)
    assert oracle[:3] == pytest.approx([-0.1, -0.2, 0.2])
    assert oracle[3] == pytest.approx(world.epsilon_pairs(*world.positions([g[0], g[4]]).reshape(2, 1))[0])
    assert np.isnan(oracle[4])  # a triple never measured has no oracle
