"""The ground-truth world and the Costanzo 2016 simulator: deterministic, published format, calibrated."""

import json

import numpy as np
import pandas as pd
import pytest

from torchcell_core.hashing import file_sha256
from torchcell_core.simulate.costanzo2016 import MANIFEST, SIZES, TRUTH_PAIRS, simulate_costanzo2016
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS, SGA_FILES, SMF_FILE, read_smf_xlsx
from torchcell_core.sources.costanzo2016_sga import read_sga_files


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(11)


@pytest.fixture(scope="module")
def screen(tmp_path_factory, world):
    out = tmp_path_factory.mktemp("sim_a")
    return out, simulate_costanzo2016(world, out, "demo", seed=11)


def test_world_uses_real_genes_and_designates_essential_ones(world, genes_frame):
    assert set(world.genes["systematic_name"]) <= set(genes_frame["systematic_name"])
    assert len(world.genes) > 5500
    assert world.genes["essential"].sum() == 1100
    kinds = world.modules["kind"].value_counts()
    assert kinds["complex"] == 300 and kinds["pathway"] == 200 and kinds["process"] > 500


def test_epsilon_is_symmetric_and_block_matches_pairs(world):
    rng = np.random.default_rng(0)
    a, b = rng.choice(len(world.genes), 40, replace=False), rng.choice(len(world.genes), 50, replace=False)
    block = world.epsilon_block(a, b)
    assert np.allclose(block, world.epsilon_block(b, a).T)
    aa, bb = np.repeat(a, len(b)), np.tile(b, len(a))
    assert np.allclose(block.ravel(), world.epsilon_pairs(aa, bb))
    tau = world.tau(aa[:100], bb[:100], np.roll(bb[:100], 1))
    assert np.allclose(tau, world.tau(bb[:100], np.roll(bb[:100], 1), aa[:100]))  # order-free


def test_same_seed_same_bytes(screen, tmp_path, world):
    first, _ = screen
    simulate_costanzo2016(world, tmp_path, "demo", seed=11)
    for name in [*SGA_FILES, TRUTH_PAIRS]:
        assert file_sha256(first / name) == file_sha256(tmp_path / name), name
    other = tmp_path / "other"
    simulate_costanzo2016(world, other, "demo", seed=12)
    assert file_sha256(first / "SGA_NxN.txt") != file_sha256(other / "SGA_NxN.txt")


def test_published_format_and_labels(screen, genes_frame):
    out, manifest = screen
    header = (out / "SGA_NxN.txt").read_text(encoding="utf-8").splitlines()[0]
    assert header.split("\t") == list(SGA_COLUMNS)
    assert json.loads((out / MANIFEST).read_text())["simulated"] is True
    records = read_sga_files([out / n for n in SGA_FILES])
    assert len(records) == sum(manifest["rows"].values())
    assert set(records["source_file"]) == set(SGA_FILES)
    assert set(records["query_gene"]) | set(records["array_gene"]) <= set(genes_frame["systematic_name"])
    assert set(records["query_kind"]) == {"sn", "tsq"}
    assert set(records["array_kind"]) == {"dma", "tsa", "damp"}
    assert {"DMA30", "DMA26", "TSA26", "TSA30"} == set(records["array_type"] + records["temperature"].astype(str))
    smf = read_smf_xlsx(out / SMF_FILE)
    assert set(records["query_strain"]) | set(records["array_strain"]) <= set(smf["strain"])
    residual = records["epsilon"] - (records["dmf"] - records["query_smf"] * records["array_smf"])
    assert np.abs(residual).max() < 1e-4


def test_noise_is_calibrated_to_the_published_replicate_correlation(screen):
    _, manifest = screen
    assert manifest["noise"]["target_replicate_r"] == 0.88
    assert 0.83 < manifest["noise"]["replicate_r_achieved"] < 0.93


def test_truth_is_structured_and_measurable(screen, world):
    out, _ = screen
    truth = pd.read_parquet(out / TRUTH_PAIRS)
    records = read_sga_files([out / n for n in SGA_FILES])
    records["gene_a"] = np.minimum(records["query_gene"], records["array_gene"])
    records["gene_b"] = np.maximum(records["query_gene"], records["array_gene"])
    measured = records.groupby(["gene_a", "gene_b"])["epsilon"].mean().reset_index()
    joined = measured.merge(truth, on=["gene_a", "gene_b"])
    assert len(joined) == len(measured)
    assert 0.85 < np.corrcoef(joined["epsilon"], joined["epsilon_true"])[0, 1] < 0.99
    # Pairs sharing a module interact more strongly than pairs that share none.
    a, b = world.positions(list(truth["gene_a"])), world.positions(list(truth["gene_b"]))
    shared = np.asarray(world.membership[a].multiply(world.membership[b]).sum(axis=1)).ravel() > 0
    assert shared.any() and (~shared).any()
    assert truth["epsilon_true"][shared].abs().mean() > 1.5 * truth["epsilon_true"][~shared].abs().mean()


def test_full_size_matches_the_published_scale():
    full = SIZES["full"]
    nxn = full.deletion_queries * full.deletion_arrays * (1 - dict(full.missing)["SGA_NxN.txt"])
    assert abs(nxn - 12_698_939) / 12_698_939 < 0.01
