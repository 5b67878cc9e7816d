"""The Costanzo 2016 simulator: deterministic, in the published format, with a usable truth."""

import json

import numpy as np
import pandas as pd
import pytest

from torchcell_core.hashing import file_sha256
from torchcell_core.simulate.costanzo2016 import (
    MANIFEST,
    TRUTH_PAIRS,
    Costanzo2016SimConfig,
    simulate_costanzo2016,
)
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS, SMF_FILE, read_smf_xlsx
from torchcell_core.sources.costanzo2016_sga import read_sga_files

SMALL = dict(n_deletion_arrays=80, n_ts_arrays=20, n_deletion_queries=30, n_ts_queries=10)
WRITTEN = ["SGA_ExE.txt", "SGA_ExN_NxE.txt", "SGA_NxN.txt", SMF_FILE]


@pytest.fixture(scope="module")
def screen(tmp_path_factory, genes_frame, go_frame):
    out = tmp_path_factory.mktemp("sim_a")
    manifest = simulate_costanzo2016(genes_frame, go_frame, out, Costanzo2016SimConfig(seed=11, **SMALL))
    return out, manifest


def test_same_seed_same_bytes(screen, tmp_path, genes_frame, go_frame):
    first, _ = screen
    simulate_costanzo2016(genes_frame, go_frame, tmp_path, Costanzo2016SimConfig(seed=11, **SMALL))
    for name in ["SGA_ExE.txt", "SGA_ExN_NxE.txt", "SGA_NxN.txt", TRUTH_PAIRS]:
        assert file_sha256(first / name) == file_sha256(tmp_path / name), name
    other = tmp_path / "other"
    simulate_costanzo2016(genes_frame, go_frame, other, Costanzo2016SimConfig(seed=12, **SMALL))
    assert file_sha256(first / "SGA_NxN.txt") != file_sha256(other / "SGA_NxN.txt")


def test_published_format_and_labels(screen, genes_frame):
    out, manifest = screen
    assert all((out / name).is_file() for name in WRITTEN)
    header = (out / "SGA_NxN.txt").read_text(encoding="utf-8").splitlines()[0]
    assert header.split("\t") == list(SGA_COLUMNS)
    assert json.loads((out / MANIFEST).read_text())["simulated"] is True
    assert manifest["simulated"] is True
    records = read_sga_files([out / n for n in WRITTEN[:3]])
    assert len(records) == sum(manifest["rows"].values())
    # Real genes only; essential (TS) and non-essential (deletion) genes do not overlap.
    genome = set(genes_frame["systematic_name"])
    assert set(records["query_gene"]) | set(records["array_gene"]) <= genome
    kinds = records.groupby("array_gene")["array_kind"].nunique()
    assert kinds.max() == 1
    assert set(records["query_kind"]) == {"sn", "tsq"} and set(records["array_kind"]) == {"dma", "tsa"}
    assert {"DMA30", "DMA26", "TSA26", "TSA30"} == set(records["array_type"] + records["temperature"].astype(str))
    smf = read_smf_xlsx(out / SMF_FILE)
    assert set(records["query_strain"]) | set(records["array_strain"]) <= set(smf["strain"])


def test_epsilon_is_fab_minus_fa_fb(screen):
    out, _ = screen
    records = read_sga_files([out / "SGA_NxN.txt"])
    residual = records["epsilon"] - (records["dmf"] - records["query_smf"] * records["array_smf"])
    assert np.abs(residual).max() < 1e-4


def test_truth_is_structured_and_measurable(screen, go_frame):
    out, _ = screen
    truth = pd.read_parquet(out / TRUTH_PAIRS)
    records = read_sga_files([out / n for n in WRITTEN[:3]])
    records["gene_a"] = np.minimum(records["query_gene"], records["array_gene"])
    records["gene_b"] = np.maximum(records["query_gene"], records["array_gene"])
    measured = records.groupby(["gene_a", "gene_b"])["epsilon"].mean().reset_index()
    joined = measured.merge(truth, on=["gene_a", "gene_b"])
    assert len(joined) == len(measured)
    ceiling = np.corrcoef(joined["epsilon"], joined["epsilon_true"])[0, 1]
    assert 0.6 < ceiling < 0.99  # noisy, but measurements carry the truth
    # Pairs sharing a GO process term interact more strongly than pairs that share none.
    bp = go_frame[(go_frame["aspect"] == "P") & (go_frame["go_id"] != "GO:0008150")]
    terms = bp.groupby("systematic_name")["go_id"].apply(set)
    pairs = zip(truth["gene_a"], truth["gene_b"], strict=True)
    shared = np.array([bool(terms.get(a, set()) & terms.get(b, set())) for a, b in pairs])
    assert shared.any() and (~shared).any()
    assert truth["epsilon_true"][shared].abs().mean() > 1.5 * truth["epsilon_true"][~shared].abs().mean()
