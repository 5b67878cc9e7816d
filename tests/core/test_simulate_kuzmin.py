"""The Kuzmin 2018/2020 simulator: released formats, the trigenic identity, calibrated noise, determinism."""

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from torchcell_core.hashing import file_sha256
from torchcell_core.simulate.costanzo2016 import MANIFEST
from torchcell_core.simulate.kuzmin import (
    FITNESS_CLIP,
    KUZMIN_SIZES,
    TARGET_EPSILON_R,
    TARGET_TAU_R,
    TRUTH_MEASUREMENTS,
    TRUTH_PAIRS,
    TRUTH_TRIPLES,
    simulate_kuzmin,
)
from torchcell_core.sources.kuzmin2018 import DATA_S1_FILE, HO_MARKER, read_kuzmin2018
from torchcell_core.sources.kuzmin2020 import (
    S1_FILE,
    S3_FILE,
    S5_FILE,
    read_kuzmin2020_fitness,
    read_kuzmin2020_screen,
)
from torchcell_core.sources.trigenic import score_consistency, trigenic_tau


@pytest.fixture(scope="module")
def released(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("kuzmin_sim")
    manifest = simulate_kuzmin(world, out, size="demo", seed=31)
    screens = {
        DATA_S1_FILE: read_kuzmin2018(out / DATA_S1_FILE),
        S1_FILE: read_kuzmin2020_screen(out / S1_FILE),
        S3_FILE: read_kuzmin2020_screen(out / S3_FILE),
    }
    return out, manifest, screens, read_kuzmin2020_fitness(out / S5_FILE)


def _true_fitness(world, names):
    genes = world.genes.iloc[world.positions(list(names))]
    return np.where(genes["essential"], genes["fitness_ts_26"], genes["fitness_deletion_30"])


def test_files_parse_with_the_real_parsers_and_counts_match(released):
    out, manifest, screens, s5 = released
    assert json.loads((out / MANIFEST).read_text()) == json.loads(json.dumps(manifest))
    assert manifest["simulated"] is True and manifest["size"] == "demo"
    size = KUZMIN_SIZES["demo"]
    designs = {
        DATA_S1_FILE: (size.data_s1, size.arrays_2018),
        S1_FILE: (size.table_s1, size.arrays_2020),
        S3_FILE: (size.table_s3, size.arrays_2020),
    }
    for name, frame in screens.items():
        counts = frame["mutant_type"].value_counts().to_dict()
        assert counts == manifest["rows"][name], name
        # Every query strain x every array, less the 3% missing and the pairs that repeat a gene.
        design, arrays = designs[name]
        assert frame["array_strain"].nunique() == arrays
        strains = frame.groupby("mutant_type")["query_strain"].nunique().to_dict()
        assert strains == {"digenic": design.control_strains, "trigenic": design.double_queries}
        for kind, n in strains.items():
            assert 0.9 * n * arrays < counts[kind] <= n * arrays, (name, kind)
        assert set(frame["array_kind"]) == {"dma", "tsa"}
        assert (frame["query_gene_1"] != frame["array_gene"]).all()
        assert (frame["query_gene_2"] != frame["array_gene"]).all()
    assert s5["mutant_type"].value_counts().to_dict() == {
        "single": manifest["rows"][S5_FILE]["Single mutant"],
        "double": manifest["rows"][S5_FILE]["Double mutant"],
    }
    # The spreadsheets open with a title line that says the data are simulated; the header is row 2.
    sheet = openpyxl.load_workbook(out / S1_FILE, read_only=True).worksheets[0]
    title, header = (next(sheet.iter_rows(min_row=r, max_row=r, values_only=True)) for r in (1, 2))
    assert "SIMULATED" in title[0] and header[0] == "Query strain ID"


def test_arrays_and_queries_follow_the_design(released, world):
    _, _, screens, _ = released
    frame = screens[DATA_S1_FILE]
    essential = world.genes.set_index("systematic_name")["essential"]
    arrays = frame.drop_duplicates("array_strain")
    assert (arrays["array_kind"].eq("tsa") == essential[arrays["array_gene"]].to_numpy()).all()
    assert HO_MARKER not in set(arrays["array_gene"])
    digenic = frame[frame["mutant_type"] == "digenic"]
    assert digenic["query_strain"].str.contains(HO_MARKER).all()
    assert (digenic["raw_score"] == digenic["adjusted_score"]).all()
    # Double-mutant queries: distinct pairs, ORF1 before ORF2, mostly two members of one module.
    pairs = frame.loc[frame["mutant_type"] == "trigenic", ["query_gene_1", "query_gene_2"]].drop_duplicates()
    assert len(pairs) == KUZMIN_SIZES["demo"].data_s1.double_queries
    assert (pairs["query_gene_1"] < pairs["query_gene_2"]).all()
    members = world.membership
    shared = members[world.positions(list(pairs["query_gene_1"]))].multiply(
        members[world.positions(list(pairs["query_gene_2"]))]
    )
    assert np.mean(np.asarray(shared.sum(axis=1)).ravel() > 0) >= 0.6
    # Every query gene has a hoΔ control screened against the same arrays.
    assert set(pairs.stack()) <= set(digenic["query_gene_1"])


def test_raw_score_is_combined_minus_query_times_array(released):
    _, _, screens, _ = released
    for name, frame in screens.items():
        report = score_consistency(frame)
        assert report["skipped"] == 0, name
        assert report["fraction_within"] >= 0.99, name
        assert set(report["by_mutant_type"]) == {"digenic", "trigenic"}
    broken = screens[DATA_S1_FILE].copy()
    broken.loc[broken.index[::2], "raw_score"] += 0.01
    assert score_consistency(broken)["fraction_within"] < 0.6


def _recomputed_tau(frame: pd.DataFrame) -> pd.DataFrame:
    """τ from the released columns alone: f_ijk and f_ij, f_k on the row; f_i, f_ik from the controls."""
    digenic = frame[frame["mutant_type"] == "digenic"]
    single = digenic.groupby("query_gene_1")["query_fitness"].first()
    control = digenic.groupby(["query_gene_1", "array_gene"])["combined_fitness"].mean()
    tri = frame[frame["mutant_type"] == "trigenic"].reset_index(drop=True)
    f_ik = control.reindex(pd.MultiIndex.from_frame(tri[["query_gene_1", "array_gene"]])).to_numpy()
    f_jk = control.reindex(pd.MultiIndex.from_frame(tri[["query_gene_2", "array_gene"]])).to_numpy()
    f_i, f_j = single[tri["query_gene_1"]].to_numpy(), single[tri["query_gene_2"]].to_numpy()
    tri["tau"] = trigenic_tau(tri["combined_fitness"], f_i, f_j, tri["array_fitness"], tri["query_fitness"], f_ik, f_jk)
    return tri


def test_adjusted_tau_is_trigenic_tau_of_the_released_measurements(released):
    _, _, screens, _ = released
    for name, frame in screens.items():
        tri = _recomputed_tau(frame)
        assert not tri["tau"].isna().any(), name
        assert np.abs(tri["tau"] - tri["adjusted_score"]).max() < 1e-4, name
        assert np.abs(tri["tau"] - tri["raw_score"]).mean() > 1e-3  # τ is not the raw score


def test_adjusted_scores_track_the_truth_at_the_published_noise(released, world):
    out, manifest, screens, _ = released
    truth = pd.read_parquet(out / TRUTH_TRIPLES).set_index(["query_gene_1", "query_gene_2", "array_gene"])
    pairs = pd.read_parquet(out / TRUTH_PAIRS)
    assert (pairs["gene_a"] < pairs["gene_b"]).all() and not pairs.duplicated(["gene_a", "gene_b"]).any()
    for name, frame in screens.items():
        # Triples whose expected fitness falls below the floor read as dead (-0.05): left out here.
        tri = frame[(frame["mutant_type"] == "trigenic") & (frame["combined_fitness"] > FITNESS_CLIP[0])]
        assert len(tri) == manifest["rows"][name]["trigenic"] - manifest["noise"][name]["tau_rows_floored"]
        names = [tri[c].to_numpy() for c in ("query_gene_1", "query_gene_2", "array_gene")]
        i, j, k = (world.positions(list(n)) for n in names)
        f_i, f_j, f_k = (_true_fitness(world, n) for n in names)
        e_ij, e_ik, e_jk = world.epsilon_pairs(i, j), world.epsilon_pairs(i, k), world.epsilon_pairs(j, k)
        tau = world.tau(i, j, k)
        f_ijk = f_i * f_j * f_k + e_ij * f_k + e_ik * f_j + e_jk * f_i + tau
        identity = trigenic_tau(f_ijk, f_i, f_j, f_k, f_i * f_j + e_ij, f_i * f_k + e_ik, f_j * f_k + e_jk)
        assert np.allclose(identity, tau, atol=1e-12)
        stored = truth.loc[pd.MultiIndex.from_arrays(names), "tau_true"].to_numpy()
        assert np.allclose(stored, tau, atol=1e-12)
        # Expected r = sqrt(0.59) ≈ 0.77: noisy, yet the released τ carries the truth.
        r = np.corrcoef(tri["adjusted_score"], identity)[0, 1]
        assert 0.6 < r < 0.9, (name, r)
        error_sd = np.std(tri["adjusted_score"] - identity)
        assert 0.8 < error_sd / manifest["noise"][name]["tau_noise_sd_total"] < 1.3
        # Digenic ε: expected r = sqrt(0.88) ≈ 0.94 against the truth file.
        dig = frame[frame["mutant_type"] == "digenic"]
        a, b = np.minimum(dig["query_gene_1"], dig["array_gene"]), np.maximum(dig["query_gene_1"], dig["array_gene"])
        joined = pd.DataFrame({"gene_a": a, "gene_b": b, "score": dig["adjusted_score"]}).merge(pairs, how="left")
        assert not joined["epsilon_true"].isna().any()
        assert 0.88 < np.corrcoef(joined["score"], joined["epsilon_true"])[0, 1] < 0.98
        achieved = manifest["noise"][name]
        assert achieved["tau_replicate_r_achieved"] == pytest.approx(TARGET_TAU_R, abs=0.1)
        assert achieved["epsilon_replicate_r_achieved"] == pytest.approx(TARGET_EPSILON_R, abs=0.04)


def test_2020_screens_stay_apart_and_s5_holds_the_query_fitness(released):
    _, _, screens, s5 = released
    s1, s3 = screens[S1_FILE], screens[S3_FILE]
    assert set(s1["screen_id"]) == {"kuzmin2020_s1"} and set(s3["screen_id"]) == {"kuzmin2020_s3"}
    assert not set(s1["query_strain"]) & set(s3["query_strain"])
    double_pairs = [
        set(s.loc[s["mutant_type"] == "trigenic", ["query_gene_1", "query_gene_2"]].itertuples(index=False))
        for s in (s1, s3)
    ]
    assert double_pairs[0] and double_pairs[1] and not double_pairs[0] & double_pairs[1]
    both = pd.concat([s1, s3])
    fitness = s5.set_index("query_strain")["fitness"]
    assert set(both["query_strain"]) == set(s5["query_strain"])
    assert np.array_equal(fitness[both["query_strain"]].to_numpy(), both["query_fitness"].to_numpy())
    doubles = s5[s5["mutant_type"] == "double"]
    assert doubles["orf_2"].notna().all() and s5.loc[s5["mutant_type"] == "single", "orf_2"].isna().all()
    assert not s5["query_strain"].str.contains(HO_MARKER)[s5["mutant_type"] == "double"].any()


def test_same_seed_same_files(released, world, tmp_path):
    out, manifest, screens, _ = released
    again = simulate_kuzmin(world, tmp_path / "again", size="demo", seed=31)
    assert again == manifest
    for name in (DATA_S1_FILE, TRUTH_TRIPLES, TRUTH_PAIRS):
        assert file_sha256(out / name) == file_sha256(tmp_path / "again" / name), name
    pd.testing.assert_frame_equal(
        read_kuzmin2020_screen(tmp_path / "again" / S3_FILE), screens[S3_FILE], check_exact=True
    )
    simulate_kuzmin(world, tmp_path / "other", size="demo", seed=32)
    assert file_sha256(out / DATA_S1_FILE) != file_sha256(tmp_path / "other" / DATA_S1_FILE)


def test_the_oracle_is_the_score_without_its_own_noise(released):
    """The oracle τ differs from the released score only by the row's colony noise: the residual is centred and
    uncorrelated with the oracle, and the oracle correlates with the score at least as well as the truth."""
    out, manifest, screens, _ = released
    truth = pd.read_parquet(out / TRUTH_MEASUREMENTS)
    keys = ["query_gene_1", "query_gene_2", "array_gene"]
    for name, frame in screens.items():
        tri = frame[(frame["mutant_type"] == "trigenic") & (frame["combined_fitness"] > FITNESS_CLIP[0])]
        mine = truth[truth["source_file"] == name]
        assert len(mine) == manifest["rows"][name]["trigenic"]
        merged = tri.merge(mine, on=keys, validate="one_to_one")
        assert len(merged) == len(tri)
        residual = merged["adjusted_score"] - merged["tau_oracle"]
        assert abs(residual.mean()) < 3 * residual.std() / np.sqrt(len(residual))
        assert abs(np.corrcoef(residual, merged["tau_oracle"])[0, 1]) < 0.1
        r_truth = np.corrcoef(merged["adjusted_score"], merged["tau_true"])[0, 1]
        r_oracle = np.corrcoef(merged["adjusted_score"], merged["tau_oracle"])[0, 1]
        assert r_truth <= r_oracle + 1e-9 and r_oracle < 0.95, (name, r_truth, r_oracle)
