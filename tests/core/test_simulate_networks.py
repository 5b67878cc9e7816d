"""Simulated networks: parse with the real parsers, carry signal where they should, and are deterministic."""

import gzip
import json

import numpy as np
import pytest

from torchcell_core.hashing import file_sha256
from torchcell_core.networks.biogrid import read_biogrid_tab3
from torchcell_core.networks.regulatory import read_regulatory_tsv
from torchcell_core.networks.string_db import SCORE_COLUMNS, read_string_detailed
from torchcell_core.simulate.networks import (
    BIOGRID_FILE,
    MANIFEST,
    REGULATORY_FILE,
    STRING_CHANNELS,
    STRING_FILE,
    STRING_VERSIONS,
    _sample_channel,
    _triangle_pairs,
    _truth,
    simulate_networks,
)
from torchcell_core.simulate.world import WorldConfig

SEED = 7
NEAR_NOISE = ("neighborhood", "fusion", "cooccurence")
INFORMATIVE = ("experimental", "database")


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(WorldConfig().seed)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, world):
    out = tmp_path_factory.mktemp("networks_demo")
    return out, simulate_networks(world, out, size="demo", seed=SEED)


@pytest.fixture(scope="module")
def string_tables(demo, world):
    out, _ = demo
    channels = SCORE_COLUMNS
    return {
        v: read_string_detailed(out / STRING_FILE.format(v), set(world.index), channels=channels)
        for v in STRING_VERSIONS
    }


def shares_module(world, a, b, kinds=("complex", "pathway", "process")):
    """Independent truth check: do the genes of each pair share a module of the given kinds?"""
    columns = np.flatnonzero(world.modules["kind"].isin(kinds).to_numpy())
    member = world.membership[:, columns]
    both = member[world.positions(list(a))].multiply(member[world.positions(list(b))])
    return np.asarray(both.sum(axis=1)).ravel() > 0


def test_string_files_parse_cleanly(demo, string_tables):
    out, manifest = demo
    assert json.loads((out / MANIFEST).read_text())["simulated"] is True and manifest["simulated"] is True
    for version, (tables, stats) in string_tables.items():
        report = manifest["files"][STRING_FILE.format(version)]
        assert stats["genes_outside_genome_dropped"] == 0 and stats["rows_outside_genome_dropped"] == 0
        assert stats["self_loops_dropped"] == 0
        assert stats["pairs_listed_in_one_direction_only"] == 0  # every pair written both ways
        assert stats["pairs_with_differing_scores"] == 0
        assert stats["rows_read"] == report["rows"] == 2 * report["unique_edges"]
        for channel, table in tables.items():
            assert len(table) == report["edges_per_channel"][channel] > 0
            assert table["score"].between(150, 999).all(), (version, channel)
        with gzip.open(out / STRING_FILE.format(version), "rt") as handle:
            handle.readline()
            first = handle.readline().split(" ")
        assert first[0].startswith("4932.") and len(first) == 10


def test_combined_score_combines_channels(string_tables):
    tables, _ = string_tables["12.0"]
    combined = tables["combined_score"].set_index(["gene_a", "gene_b"])["score"]
    per_channel = {c: tables[c].set_index(["gene_a", "gene_b"])["score"] for c in ("experimental", "coexpression")}
    for channel, scores in per_channel.items():
        assert (combined.loc[scores.index] >= scores - 1).all(), channel  # never below a single channel
    both = per_channel["experimental"].index.intersection(per_channel["coexpression"].index)
    best = np.maximum(per_channel["experimental"].loc[both], per_channel["coexpression"].loc[both])
    assert len(both) > 50 and (combined.loc[both] > best).mean() > 0.9  # two channels add up


def test_channel_sizes_and_version_nesting(demo, string_tables):
    _, manifest = demo
    edges = manifest["files"][STRING_FILE.format("12.0")]["edges_per_channel"]
    assert edges["coexpression"] > edges["experimental"] > edges["neighborhood"] > edges["database"]
    assert edges["database"] > max(edges["fusion"], edges["cooccurence"])
    for version in STRING_VERSIONS:
        edges = manifest["files"][STRING_FILE.format(version)]["edges_per_channel"]
        assert edges["coexpression"] > edges["experimental"] > max(edges[c] for c in (*NEAR_NOISE, "database"))
    pairs = {}
    for version, (tables, _) in string_tables.items():
        combined = tables["combined_score"]
        pairs[version] = set(zip(combined["gene_a"], combined["gene_b"], strict=True))
    assert pairs["9.1"] < pairs["11.0"] < pairs["12.0"]
    sizes = [len(pairs[v]) for v in STRING_VERSIONS]
    published = [manifest["files"][STRING_FILE.format(v)]["published_unique_edges_full"] for v in STRING_VERSIONS]
    assert np.allclose(np.array(sizes) / sizes[-1], np.array(published) / published[-1], atol=0.01)
    for channel in SCORE_COLUMNS:
        counts = [manifest["files"][STRING_FILE.format(v)]["edges_per_channel"][channel] for v in STRING_VERSIONS]
        assert counts == sorted(counts), channel
    # Later versions add proportionally more noise.
    fractions = [
        manifest["files"][STRING_FILE.format(v)]["true_pair_fraction"]["combined_score"] for v in STRING_VERSIONS
    ]
    assert fractions[0] > fractions[1] > fractions[2]


def test_informative_channels_carry_true_pairs(world, demo, string_tables):
    _, manifest = demo
    tables, _ = string_tables["12.0"]
    report = manifest["files"][STRING_FILE.format("12.0")]["true_pair_fraction"]
    fraction = {}
    for channel, table in tables.items():
        true = shares_module(world, table["gene_a"], table["gene_b"])
        fraction[channel] = true.mean()
        assert fraction[channel] == pytest.approx(report[channel])
        if channel in INFORMATIVE:  # true pairs score higher
            assert table["score"][true].mean() > table["score"][~true].mean() + 100
    informative = min(fraction[c] for c in INFORMATIVE)
    pooled = sum(fraction[c] * len(tables[c]) for c in NEAR_NOISE) / sum(len(tables[c]) for c in NEAR_NOISE)
    assert informative > 4 * pooled, fraction  # pooled: fusion and cooccurence hold only ~200 edges each
    assert all(fraction[c] < 0.6 * informative for c in NEAR_NOISE), fraction
    assert fraction["database"] > 0.5
    # Experimental evidence recovers complexes: many more complex pairs than any near-noise channel.
    complexes = {c: shares_module(world, t["gene_a"], t["gene_b"], ("complex",)).sum() for c, t in tables.items()}
    assert complexes["experimental"] > 5 * max(complexes[c] for c in NEAR_NOISE)
    assert manifest["true_pair_base_rate"] < pooled


def test_full_size_calibration_matches_published_channel_counts(world):
    truth = _truth(world, np.arange(len(world.genes)), 1.0, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    for channel in STRING_CHANNELS:
        if channel.name in ("fusion", "cooccurence", "database"):
            keys, scores, drawn_true = _sample_channel(rng, truth, channel, None)
            assert len(keys) == pytest.approx(channel.full_edges, rel=0.03), channel.name
            assert len(np.unique(keys)) == len(keys)
            assert np.all(keys // truth.n < keys % truth.n)


def test_triangle_pairs_enumerate_every_pair_once():
    for m in (2, 3, 7, 50):
        i, j = _triangle_pairs(np.arange(m * (m - 1) // 2), m)
        expected = [(a, b) for a in range(m) for b in range(a + 1, m)]
        assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
    m = 6000  # the genome's scale: every index decodes exactly despite float square roots
    k = np.arange(m * (m - 1) // 2)
    i, j = _triangle_pairs(k, m)
    assert (0 <= i).all() and (i < j).all() and (j < m).all()
    assert np.array_equal(i * m - i * (i + 1) // 2 + j - i - 1, k)


def test_biogrid_parses_and_genetic_edges_leak_epsilon(world, demo):
    out, manifest = demo
    report = manifest["files"][BIOGRID_FILE.format("4.4.999")]
    tables, stats = read_biogrid_tab3(out / BIOGRID_FILE.format("4.4.999"), set(world.index))
    assert stats["version"] == "4.4.999"
    assert stats["rows_read"] == report["rows"]
    assert stats["rows_other_organism"] == 3 and stats["rows_missing_systematic_name"] == 2
    assert stats["genes_outside_genome_dropped"] == 0 and stats["self_loops_dropped"] == 0
    assert {k: len(t) for k, t in tables.items()} == report["unique_edges"]
    assert stats["duplicates_merged"] > 0 and tables["physical"]["weight"].max() > 1

    genetic = tables["genetic"]
    eps = world.epsilon_pairs(world.positions(list(genetic["gene_a"])), world.positions(list(genetic["gene_b"])))
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, len(world.genes), (2, 20_000))
    background = world.epsilon_pairs(a[a != b], b[a != b])
    assert (np.abs(eps) > 0.08).mean() > 0.85
    assert (np.abs(background) > 0.08).mean() < 0.1
    negative = genetic["experimental_systems"].str.contains("Negative Genetic|Synthetic Lethality")
    assert (eps[negative.to_numpy()] < 0).mean() > 0.85

    physical = tables["physical"]
    in_complex = shares_module(world, physical["gene_a"], physical["gene_b"], ("complex",))
    names = world.genes["systematic_name"].to_numpy()
    random_pairs = shares_module(world, names[a[a != b]], names[b[a != b]], ("complex",))
    assert in_complex.mean() > 20 * max(random_pairs.mean(), 1e-4)
    assert set(physical["experimental_systems"].str.split("|").explode()) >= {"Affinity Capture-MS", "Two-hybrid"}


def test_regulatory_edges_are_directed_from_transcription_factors(world, demo):
    out, manifest = demo
    edges, stats = read_regulatory_tsv(out / REGULATORY_FILE, set(world.index))
    assert stats["genes_outside_genome_dropped"] == 0 and stats["self_loops_dropped"] == 0
    assert len(edges) == manifest["files"][REGULATORY_FILE]["unique_edges"]["regulatory"] > 100
    factors = set(world.genes.loc[world.genes["transcription_factor"], "systematic_name"])
    assert set(edges["regulator"]) <= factors
    assert not set(edges["target"]) <= factors  # targets reach beyond the factors: a directed graph
    forward = set(zip(edges["regulator"], edges["target"], strict=True))
    assert sum((t, r) in forward for r, t in forward) < 0.2 * len(forward)
    assert set(edges["regulation_type"]) == {"activator", "repressor", "unknown"}
    mates = shares_module(world, edges["regulator"], edges["target"], ("pathway", "process"))
    rng = np.random.default_rng(2)
    tfs = rng.choice(sorted(factors), 5000)
    targets = rng.choice(world.genes["systematic_name"].to_numpy(), 5000)
    keep = tfs != targets
    baseline = shares_module(world, tfs[keep], targets[keep], ("pathway", "process")).mean()
    assert mates.mean() > 2 * baseline


def test_same_seed_same_bytes(world, demo, tmp_path):
    out, manifest = demo
    again = simulate_networks(world, tmp_path / "again", size="demo", seed=SEED)
    assert again == manifest
    names = [STRING_FILE.format(v) for v in STRING_VERSIONS] + [
        BIOGRID_FILE.format("4.4.999"),
        REGULATORY_FILE,
        MANIFEST,
    ]
    for name in names:
        assert file_sha256(out / name) == file_sha256(tmp_path / "again" / name), name
    assert (out / STRING_FILE.format("12.0")).read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime
    simulate_networks(world, tmp_path / "other", size="demo", seed=SEED + 1)
    assert file_sha256(out / STRING_FILE.format("12.0")) != file_sha256(tmp_path / "other" / STRING_FILE.format("12.0"))


def test_gene_list_restricts_every_network(world, tmp_path):
    rng = np.random.default_rng(3)
    names = world.genes["systematic_name"].to_numpy()
    factors = names[world.genes["transcription_factor"].to_numpy()]
    chosen = sorted(set(rng.choice(names, 300, replace=False)) | set(factors[:10]))
    manifest = simulate_networks(world, tmp_path, size="demo", seed=SEED, genes=chosen)
    assert manifest["restricted_to_gene_list"] and manifest["genes"] == len(chosen)
    tables, stats = read_string_detailed(tmp_path / STRING_FILE.format("12.0"), set(chosen))
    assert stats["rows_outside_genome_dropped"] == 0 and len(tables["coexpression"]) > 0
    biogrid, stats = read_biogrid_tab3(tmp_path / BIOGRID_FILE.format("4.4.999"), set(chosen))
    assert stats["rows_outside_genome_dropped"] == 0 and len(biogrid["physical"]) > 0
    edges, stats = read_regulatory_tsv(tmp_path / REGULATORY_FILE, set(chosen))
    assert stats["rows_outside_genome_dropped"] == 0 and len(edges) > 0
    with pytest.raises(ValueError, match="unknown genes"):
        simulate_networks(world, tmp_path / "bad", genes=chosen + ["NOT_A_GENE"])
