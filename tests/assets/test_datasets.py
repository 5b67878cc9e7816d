"""Curation in DuckDB (dedup, aggregation, environment vector), splits, cards, one-hot features and metrics."""

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from torchcell_core.datasets.card import dataset_card, strong_interaction_fraction
from torchcell_core.datasets.curate import (
    DatasetError,
    DatasetSpec,
    DedupRule,
    combined_p_values,
    curate,
    empty_reason,
)
from torchcell_core.datasets.splits import (
    LEAKAGE_RULES,
    SPLIT_COLUMNS,
    SplitError,
    assign_splits,
    gene_split,
    leakage,
    query_split,
    random_split,
)
from torchcell_core.duckdb_tables import replace_table
from torchcell_core.evaluation.metrics import regression_metrics
from torchcell_core.features.one_hot import GeneIndex, one_hot_genotypes

SPEC = DatasetSpec("digenic", 2, ("costanzo2016", "kuzmin2018"), "test")
ENVIRONMENTS = pa.table({"id": ["YPD_26C", "YPD_30C"], "media": ["YPD", "YPD"], "temperature": [26, 30]})
SIMULATED = {"costanzo2016": True, "kuzmin2018": False}


def _experiments(rows):
    names = [
        "experiment",
        "dataset",
        "genes",
        "kind",
        "fitness",
        "fitness_std",
        "interaction",
        "interaction_p_value",
        "environment",
        "screen",
    ]
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})


EXPERIMENTS = _experiments(
    [
        # one pair, three replicates at 30 °C (both orientations, two datasets) and one at 26 °C
        ("e1", "costanzo2016", ["YB", "YA"], "interaction", 0.60, 0.03, -0.10, 0.01, "YPD_30C", "SGA_NxN.txt"),
        ("e2", "costanzo2016", ["YA", "YB"], "interaction", 0.50, 0.04, -0.20, 0.02, "YPD_30C", "SGA_NxN.txt"),
        ("e3", "kuzmin2018", ["YA", "YB"], "interaction", 0.55, None, -0.15, 0.03, "YPD_30C", "kuzmin2018"),
        ("e4", "costanzo2016", ["YA", "YB"], "interaction", 0.40, 0.05, -0.30, 0.001, "YPD_26C", "SGA_ExE.txt"),
        ("e5", "costanzo2016", ["YA", "YC"], "interaction", 0.95, 0.02, 0.05, 0.3, "YPD_30C", "SGA_NxN.txt"),
        # two alleles of one gene: not a digenic genotype, dropped and counted
        ("e6", "costanzo2016", ["YC", "YC"], "interaction", 1.0, 0.01, 0.0, 0.9, "YPD_30C", "SGA_DAmP.txt"),
    ]
)


def test_replicates_merge_per_genotype_and_environment():
    table, counts = curate(duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED)
    rows = {(r["genotype"], r["environment"]): r for r in table.to_pylist()}
    assert set(rows) == {("YA+YB", "YPD_26C"), ("YA+YB", "YPD_30C"), ("YA+YC", "YPD_30C")}
    ab = rows[("YA+YB", "YPD_30C")]
    assert ab["genes"] == ["YA", "YB"] and ab["n_genes"] == 2 and ab["n_measurements"] == 3
    assert ab["fitness"] == pytest.approx(0.55) and ab["interaction"] == pytest.approx(-0.15)
    # pooled std: within-measurement variance (the two measured stds) plus the replicates' spread
    assert ab["fitness_std"] == pytest.approx(np.sqrt((0.03**2 + 0.04**2) / 2 + np.var([0.6, 0.5, 0.55])))
    assert ab["interaction_std"] == pytest.approx(np.std([-0.1, -0.2, -0.15], ddof=1))
    t = -0.15 / (np.std([-0.1, -0.2, -0.15], ddof=1) / np.sqrt(3))
    from scipy import stats

    assert ab["interaction_p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df=2))
    assert ab["source_datasets"] == ["costanzo2016", "kuzmin2018"] and ab["simulated"] is True
    assert rows[("YA+YB", "YPD_26C")]["interaction_p_value"] == pytest.approx(0.001)  # one measurement: its own
    assert rows[("YA+YB", "YPD_26C")]["env_temperature"] == pytest.approx(26 / 30)
    assert ab["env_temperature"] == pytest.approx(1.0) and ab["env_media_YPD"] == 1.0
    assert counts.dropped_repeated_gene == 1 and counts.merged == 2 and counts.rows == 3 and counts.experiments == 6


def test_the_dedup_rule_is_a_choice():
    merged, counts = curate(duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED, DedupRule(()))
    ab = next(r for r in merged.to_pylist() if r["genotype"] == "YA+YB")
    assert ab["environment"] == "pooled" and ab["n_measurements"] == 4
    assert ab["env_temperature"] == pytest.approx((30 + 30 + 30 + 26) / 4 / 30)
    by_dataset, _ = curate(
        duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED, DedupRule(("environment", "dataset"))
    )
    assert by_dataset.num_rows == 4 and "dataset" in by_dataset.column_names
    with pytest.raises(DatasetError, match="temperature"):
        DedupRule(("temperature",))


def test_gene_set_filter_and_bad_input():
    table, counts = curate(duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED, genes=["YA", "YC"])
    assert table.column("genotype").to_pylist() == ["YA+YC"] and counts.dropped_outside_gene_set == 4
    # Nothing in the graph, or nothing left: an empty table with the usual columns and a reason, not an error.
    empty, counts = curate(duckdb.connect(), SPEC, EXPERIMENTS.slice(0, 0), ENVIRONMENTS, SIMULATED)
    assert empty.num_rows == 0 and empty.schema == table.schema
    assert empty_reason(SPEC, counts) == (
        "no digenic experiments in the graph: costanzo2016, kuzmin2018 hold no 2-gene rows in this release"
    )
    none_left, counts = curate(duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED, genes=["YZ"])
    assert none_left.num_rows == 0 and "1 repeat a gene, 5 lie outside the configured gene set" in empty_reason(
        SPEC, counts
    )
    assert empty_reason(SPEC, curate(duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED)[1]) is None
    unknown_environment = EXPERIMENTS.set_column(8, "environment", pa.array(["SC_30C"] * 6))
    with pytest.raises(DatasetError, match="SC_30C"):
        curate(duckdb.connect(), SPEC, unknown_environment, ENVIRONMENTS, SIMULATED)


def test_combined_p_values():
    p = combined_p_values(
        np.array([0.0, -0.2, 0.1, np.nan]),
        np.array([0.0, 0.0, 0.1, np.nan]),
        np.array([2, 3, 1, 0]),
        np.array([np.nan, np.nan, 0.04, np.nan]),
    )
    assert p[0] == 1.0 and p[1] == 0.0 and p[2] == 0.04 and np.isnan(p[3])


def test_replace_table_swaps_atomically():
    con = duckdb.connect()
    replace_table(con, "digenic", pa.table({"a": [1, 2]}))
    half_floats = pa.table({"a": pa.array(np.array([1.0], dtype=np.float16))})  # DuckDB cannot read float16
    with pytest.raises(duckdb.Error):
        replace_table(con, "digenic", half_floats)
    assert con.execute("SELECT count(*) FROM digenic").fetchall()[0][0] == 2  # the old table is untouched
    replace_table(con, "digenic", pa.table({"a": [1, 2, 3]}))
    assert con.execute("SELECT count(*) FROM digenic").fetchall()[0][0] == 3
    assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["digenic"]


def test_random_split_is_seeded_disjoint_and_sized():
    labels = random_split(1000, seed=3)
    assert (labels == random_split(1000, seed=3)).all()
    assert not (labels == random_split(1000, seed=4)).all()
    counts = pd.Series(labels).value_counts()
    assert counts.to_dict() == {"train": 800, "val": 100, "test": 100}
    with pytest.raises(ValueError):
        random_split(10, 0, (0.5, 0.2, 0.2))


def _pairs(n_genes: int = 60) -> tuple[list[str], list[list[str]]]:
    genes = [f"Y{i:03d}" for i in range(n_genes)]
    lists = [[a, b] for i, a in enumerate(genes) for b in genes[i + 1 :]]
    return ["+".join(g) for g in lists], lists


def test_splits_keep_genotypes_together_and_hold_genes_out():
    genotypes, lists = _pairs()
    twice_genotypes, twice_lists = genotypes + genotypes[:50], lists + lists[:50]  # 50 measured in two environments
    queries = [[genes[0]] for genes in twice_lists]  # the first gene is the query strain
    queries[-1] = [twice_lists[-1][1]]  # at its second temperature this genotype was measured from its other gene
    splits, seeds = assign_splits(twice_genotypes, twice_lists, queries, seed=7)
    assert set(splits) == {*LEAKAGE_RULES, "query"} and set(seeds) == set(LEAKAGE_RULES)
    again, _ = assign_splits(twice_genotypes, twice_lists, queries, seed=7)
    assert all((again[c] == splits[c]).all() for c in splits)
    for column, rules in LEAKAGE_RULES.items():
        found = leakage(twice_genotypes, twice_lists, splits[column], splits["query"])
        assert all(found[rule] == 0 for rule in rules), (column, found)
    # The strict split really is stricter: some genotypes are in no fold.
    assert (splits["split_gene_all"] == "excluded").any() and not (splits["split_gene_some"] == "excluded").any()
    # gene_some holds genes out: every test genotype has a gene no train genotype has.
    some = splits["split_gene_some"]
    train_genes = {g for genes, s in zip(twice_lists, some, strict=True) if s == "train" for g in genes}
    assert all(
        any(g not in train_genes for g in genes) for genes, s in zip(twice_lists, some, strict=True) if s == "test"
    )


def test_leakage_is_detected():
    genotypes, lists = _pairs(10)
    labels = gene_split(lists, seed=0, fraction=0.2, strict=False)
    assert leakage(genotypes, lists, labels)["heldout_without_unseen_gene"] == 0
    first_test = int(np.flatnonzero(labels == "test")[0])
    leaked = labels.copy()
    for i, genes in enumerate(lists):  # put every genotype sharing a gene with the first test genotype in train
        if i != first_test and set(genes) & set(lists[first_test]):
            leaked[i] = "train"
    assert leakage(genotypes, lists, leaked)["heldout_without_unseen_gene"] > 0
    doubled = np.concatenate([labels, ["train" if x != "train" else "test" for x in labels[:1]]])
    assert leakage([*genotypes, genotypes[0]], [*lists, lists[0]], doubled)["genotypes_in_two_folds"] == 1


def test_query_split_holds_whole_queries_out():
    """Kuzmin-like: 40 query pairs × 30 arrays; a few triples also measured from a second query pair."""
    rows, queries = [], []
    pairs = [(f"Q{2 * i:03d}", f"Q{2 * i + 1:03d}") for i in range(40)]
    for a, b in pairs:
        for k in range(30):
            rows.append(sorted([a, b, f"A{k:03d}"]))
            queries.append([f"{a}+{b}"])
    for n in range(10):  # reciprocal: the triple of pair n with array Q of pair n+1 also measured from pair n+1
        (a, b), (c, _) = pairs[n], pairs[n + 1]
        rows.append(sorted([a, b, c]))
        queries.append(sorted([f"{a}+{b}", f"{c}+{pairs[n + 1][1]}"]))
    genotypes = ["+".join(r) for r in rows]
    labels, primary = query_split(queries, seed=5)
    assert (labels == query_split(queries, seed=5)[0]).all() and not (labels == query_split(queries, 6)[0]).all()
    by_query = pd.Series(labels).groupby(primary).nunique()
    assert (by_query == 1).all()  # no query pair on both sides
    # every row measured by a held-out query is held out, and its primary query is held out
    fold_of = dict(zip(primary, labels, strict=True))
    for keys, label in zip(queries, labels, strict=True):
        worst = max(("train", "val", "test").index(fold_of.get(k, "train")) for k in keys)
        assert ("train", "val", "test").index(label) >= worst
    assert leakage(genotypes, rows, labels, primary)["queries_in_two_folds"] == 0
    moved = labels.copy()
    moved[np.flatnonzero(labels == "test")[0]] = "train"  # one row of a test query moved into train
    assert leakage(genotypes, rows, moved, primary)["queries_in_two_folds"] == 1
    assert set(pd.Series(labels).groupby(primary).first().value_counts().index) == {"train", "val", "test"}
    with pytest.raises(SplitError, match="query key"):
        query_split([["Q1"], []], seed=0)


def test_query_keys_come_from_the_query_strains():
    experiments = EXPERIMENTS.append_column(
        "alleles",
        pa.array(
            [
                ["YB_sn12", "YA_dma3"],
                ["YA_tsq4", "YB_dma9"],
                ["YA@YA+YD_tm2001", "YB_dma9"],
                ["YA_sn1", "YB_dma9"],
                ["YA_dma2", "YC_dma3"],
                ["YC_sn1", "YC_dma1"],
            ]
        ),
    )
    table, _ = curate(duckdb.connect(), SPEC, experiments, ENVIRONMENTS, SIMULATED)
    queries = {(r["genotype"], r["environment"]): r["queries"] for r in table.to_pylist()}
    assert queries[("YA+YB", "YPD_30C")] == ["YA", "YB"]  # reciprocal crosses: both query genes
    assert queries[("YA+YB", "YPD_26C")] == ["YA"]
    assert queries[("YA+YC", "YPD_30C")] == ["YA+YC"]  # no query allele: the genotype is its own query


def test_an_empty_dataset_has_empty_splits():
    splits, seeds = assign_splits([], [], [], seed=3)
    assert set(splits) == {*SPLIT_COLUMNS, "query"} and all(len(labels) == 0 for labels in splits.values())
    assert seeds == dict.fromkeys(SPLIT_COLUMNS, 3)


def test_a_split_with_an_empty_fold_is_refused():
    with pytest.raises(SplitError, match="split_random.*empty"):
        assign_splits(["YA+YB"], [["YA", "YB"]], [["YA"]], seed=0)
    with pytest.raises(SplitError, match="fraction"):
        gene_split([["YA", "YB"]], seed=0, fraction=0.6, strict=False)


def test_dataset_card(tmp_path):
    table, _ = curate(duckdb.connect(), SPEC, EXPERIMENTS, ENVIRONMENTS, SIMULATED)
    table = table.append_column("split_random", pa.array(["train", "train", "test"]))
    card = dataset_card(table, 2, [{"id": "costanzo2016", "version": "1"}], tmp_path / "h.png", "t")
    assert card["rows"] == 3 and card["genotypes"] == 2 and card["genes"] == 3
    assert card["labels"]["interaction"]["n"] == 3 and card["labels"]["fitness"]["max"] == pytest.approx(0.95)
    # strong: |ε| > 0.08 with p < 0.05 (YA+YB at 26 °C: −0.30, p 0.001; its three 30 °C replicates: t-test p)
    strong = strong_interaction_fraction(table, 2)
    expected = np.mean([abs(r["interaction"]) > 0.08 and r["interaction_p_value"] < 0.05 for r in table.to_pylist()])
    assert strong == pytest.approx(expected) and 0 < strong < 1
    assert card["splits"]["split_random"] == {"test": 1, "train": 2}
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    trigenic = pa.table({"interaction": [-0.1, 0.1, -0.05], "interaction_p_value": [0.01, 0.01, 0.01]})
    assert strong_interaction_fraction(trigenic, 3) == pytest.approx(1 / 3)  # τ < −0.08 only, not |τ|
    assert strong_interaction_fraction(trigenic, 1) is None


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


def _hold_lock(path: str, seconds: float, locked) -> None:
    import time

    con = duckdb.connect(path)
    locked.set()
    time.sleep(seconds)
    con.close()


def _holder(path: str, seconds: float):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    locked = context.Event()
    process = context.Process(target=_hold_lock, args=(path, seconds, locked))
    process.start()
    assert locked.wait(60), "the lock-holding process did not start"
    return process


def test_storage_waits_for_another_process_holding_the_duckdb_lock(tmp_path):
    """Parallel steps share one DuckDB file: a second process waits for the lock instead of failing."""
    import time

    from torchcell_assets.lib.storage import TorchcellStorage

    storage = TorchcellStorage(data_dir=str(tmp_path), duckdb_lock_seconds=20)
    holder = _holder(str(storage.duckdb_path), 2.0)
    started = time.monotonic()
    with storage.duckdb() as con:
        assert con.execute("SELECT 1").fetchall() == [(1,)]
    waited = time.monotonic() - started
    holder.join()
    assert waited > 0.5  # it waited for the holder to let go
    impatient = TorchcellStorage(data_dir=str(tmp_path), duckdb_lock_seconds=0)
    holder = _holder(str(storage.duckdb_path), 2.0)
    with pytest.raises(duckdb.IOException, match="lock"):
        with impatient.duckdb():
            pass
    holder.join()
