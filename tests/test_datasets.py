"""Curation in DuckDB, splits, one-hot features and metrics."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from torchcell_core.datasets.digenic import curate_digenic, load_records, read_digenic
from torchcell_core.datasets.splits import random_split
from torchcell_core.evaluation.metrics import regression_metrics
from torchcell_core.features.one_hot import GeneIndex, one_hot_genotypes


def _records():
    base = dict(query_kind="sn", array_kind="dma", array_type="DMA", temperature=30, p_value=0.01,
                dmf_std=0.02, source_file="SGA_NxN.txt", query_allele="a", array_allele="b")  # fmt: skip
    rows = [
        # the same pair measured in both orientations → one row, mean ε
        dict(query_gene="YB", array_gene="YA", epsilon=-0.10, query_smf=0.8, array_smf=0.9, dmf=0.62),
        dict(query_gene="YA", array_gene="YB", epsilon=-0.20, query_smf=0.9, array_smf=0.8, dmf=0.52),
        dict(query_gene="YA", array_gene="YC", epsilon=0.05, query_smf=0.9, array_smf=1.0, dmf=0.95),
        dict(query_gene="YC", array_gene="YC", epsilon=0.0, query_smf=1.0, array_smf=1.0, dmf=1.0),
    ]
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["query_strain"] = frame["query_gene"] + "_sn1"
    frame["array_strain"] = frame["array_gene"] + "_dma1"
    return frame


def test_curation_merges_orientations_and_drops_self_pairs():
    con = duckdb.connect()
    assert load_records(con, _records()) == 4
    counts = curate_digenic(con)
    assert counts == {"records": 4, "self_pairs_dropped": 1, "pairs": 2}
    data = read_digenic(con).set_index(["gene_a", "gene_b"])
    ab = data.loc[("YA", "YB")]
    assert ab["epsilon"] == pytest.approx(-0.15)
    assert ab["n_measurements"] == 2
    assert ab["smf_a"] == pytest.approx(0.9) and ab["smf_b"] == pytest.approx(0.8)  # oriented to gene_a
    assert data.loc[("YA", "YC"), "n_measurements"] == 1


def test_curation_reads_parquet_in_duckdb(tmp_path):
    path = tmp_path / "records.parquet"
    _records().to_parquet(path)
    con = duckdb.connect()
    assert load_records(con, path) == 4


def test_random_split_is_seeded_disjoint_and_sized():
    labels = random_split(1000, seed=3)
    assert (labels == random_split(1000, seed=3)).all()
    assert not (labels == random_split(1000, seed=4)).all()
    counts = pd.Series(labels).value_counts()
    assert counts.to_dict() == {"train": 800, "val": 100, "test": 100}
    with pytest.raises(ValueError):
        random_split(10, 0, (0.5, 0.2, 0.2))


def test_one_hot_genotypes():
    index = GeneIndex(["YB", "YA", "YC", "YA"])
    assert index.genes == ["YA", "YB", "YC"]
    x = one_hot_genotypes(index, ["YA", "YC"], ["YB", "YA"]).toarray()
    assert x.tolist() == [[1, 1, 0], [1, 0, 1]]
    with pytest.raises(KeyError, match="YZ"):
        index.positions(["YZ"])


def test_regression_metrics():
    measured = np.array([0.0, 1.0, 2.0, 3.0])
    perfect = regression_metrics(measured, measured * 2)
    assert perfect["pearson"] == pytest.approx(1.0) and perfect["spearman"] == pytest.approx(1.0)
    assert perfect["mse"] == pytest.approx(3.5)
    assert np.isnan(regression_metrics(measured, np.zeros(4))["pearson"])
    with pytest.raises(ValueError):
        regression_metrics(measured, measured[:3])
