"""Seeded dataset splits stored beside the data as `split_*` columns (train / val / test / excluded).

Four kinds, all assigned per genotype (so a genotype measured in two environments stays in one fold):
- random: 80/10/10 over genotypes (inflated by query identity: a query's other rows are in train);
- query: 80/10/10 over whole query strains (digenic: the query gene; Kuzmin trigenic: the query gene
  pair), the split the field now requires; a genotype measured from several queries (reciprocal
  crosses) goes to the most held-out fold of its queries (test > val > train), and its `query` is that
  query, so every row of a held-out query is held out and no query is the `query` of two folds;
- gene_some: genes are held out for val and test; a genotype with any test gene is test, else with any
  val gene val, else train (Dango's held-out-gene split);
- gene_all: the stricter one: test when all its genes are test genes, val when all are val genes, train
  when none is held out, otherwise excluded from every fold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "val", "test")
EXCLUDED = "excluded"
SPLIT_COLUMNS = ("split_random", "split_query", "split_gene_some", "split_gene_all")
FOLD_RANK = {"train": 0, "val": 1, "test": 2}


class SplitError(ValueError):
    """A split would leave a fold empty, or its fractions are invalid."""


def random_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """A `split` label per row (train/val/test) from a seeded permutation."""
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=object)
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    start = 0
    for name, stop in zip(SPLITS, bounds, strict=True):
        labels[order[start:stop]] = name
        start = stop
    return labels


def genotype_random_split(
    genotypes: Sequence[str], seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> np.ndarray:
    """`random_split` over distinct genotypes, broadcast back to rows."""
    unique, inverse = np.unique(np.asarray(genotypes, dtype=object), return_inverse=True)
    return random_split(len(unique), seed, fractions)[inverse]


def query_split(
    queries: Sequence[Sequence[str]], seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> tuple[np.ndarray, np.ndarray]:
    """(fold label, primary query) per row from `queries` (each row's query keys, e.g. `["YAL001C"]` or
    `["YAL001C+YBR002W"]`): whole query keys are drawn into folds, a row takes the most held-out fold of
    its keys, and its primary query is the first of its keys (by name) in that fold."""
    if any(len(keys) == 0 for keys in queries):
        raise SplitError("every row needs at least one query key for the query split")
    lengths = np.fromiter((len(k) for k in queries), dtype=np.int64, count=len(queries))
    flat = np.concatenate([np.asarray(sorted(k), dtype=object) for k in queries]) if len(queries) else np.array([])
    unique, inverse = np.unique(flat, return_inverse=True)
    key_fold = random_split(len(unique), seed, fractions)
    rank = np.fromiter((FOLD_RANK[f] for f in key_fold), dtype=np.int64, count=len(unique))[inverse]
    row = np.repeat(np.arange(len(queries)), lengths)
    best = np.full(len(queries), -1, dtype=np.int64)
    np.maximum.at(best, row, rank)
    first = np.flatnonzero(rank == best[row])  # keys in their row's fold, in row then name order
    primary_position = first[np.unique(row[first], return_index=True)[1]]
    labels = np.asarray(SPLITS, dtype=object)[best]
    return labels, flat[primary_position].astype(object)


def _held_out_genes(genes: np.ndarray, seed: int, fraction: float) -> tuple[set[str], set[str]]:
    if not 0 < fraction < 0.5:
        raise SplitError(f"held-out gene fraction must lie in (0, 0.5), got {fraction}")
    shuffled = np.random.default_rng(seed).permutation(genes)
    n = max(1, int(round(fraction * len(genes))))
    return set(shuffled[:n]), set(shuffled[n : 2 * n])


def gene_split(gene_lists: Sequence[Sequence[str]], seed: int, fraction: float, strict: bool) -> np.ndarray:
    """Held-out-gene split labels per row: `fraction` of the genes go to test, as many to val.
    `strict=False` is gene_some, `strict=True` gene_all (see module docstring)."""
    flat = np.concatenate([np.asarray(g, dtype=object) for g in gene_lists]) if len(gene_lists) else np.array([])
    test_genes, val_genes = _held_out_genes(np.unique(flat), seed, fraction)
    lengths = np.fromiter((len(g) for g in gene_lists), dtype=np.int64, count=len(gene_lists))
    row = np.repeat(np.arange(len(gene_lists)), lengths)
    in_test = np.fromiter((g in test_genes for g in flat), dtype=bool, count=len(flat))
    in_val = np.fromiter((g in val_genes for g in flat), dtype=bool, count=len(flat))
    n_test = np.bincount(row, weights=in_test, minlength=len(gene_lists))
    n_val = np.bincount(row, weights=in_val, minlength=len(gene_lists))
    labels = np.full(len(gene_lists), "train", dtype=object)
    if strict:
        labels[(n_test + n_val > 0)] = EXCLUDED
        labels[n_val == lengths] = "val"
        labels[n_test == lengths] = "test"
    else:
        labels[n_val > 0] = "val"
        labels[n_test > 0] = "test"
    return labels


def _first_nonempty(column: str, draw, seed: int, attempts: int) -> tuple[np.ndarray, int]:
    """Labels from `draw(seed')` for the first of seed, seed+1, … that fills every fold. Screens built on
    a few query genes (Kuzmin's trigenic queries are gene pairs) can leave a gene-split fold empty for
    one draw of held-out genes; redrawing keeps the split seeded. Raises `SplitError` after `attempts`."""
    for attempt in range(attempts):
        labels = draw(seed + attempt)
        empty = [fold for fold in SPLITS if not (labels == fold).any()]
        if not empty:
            return labels, seed + attempt
    raise SplitError(
        f"{column} leaves fold(s) {empty} empty for {len(labels)} rows in {attempts} draws from seed "
        f"{seed}; use more data or another held-out fraction"
    )


def assign_splits(
    genotypes: Sequence[str],
    gene_lists: Sequence[Sequence[str]],
    queries: Sequence[Sequence[str]],
    seed: int,
    held_out_fraction: float = 0.1,
    strict_held_out_fraction: float = 0.25,
    attempts: int = 20,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Every `SPLIT_COLUMNS` column for a dataset plus `query` (each row's primary query key), and the seed
    each split used; raises `SplitError` naming a split whose fold stays empty. An empty dataset gets empty
    columns (there is nothing to split)."""
    if len(genotypes) == 0:
        empty = np.array([], dtype=object)
        return {column: empty.copy() for column in (*SPLIT_COLUMNS, "query")}, dict.fromkeys(SPLIT_COLUMNS, seed)
    primary: dict[int, np.ndarray] = {}

    unique, inverse = np.unique(np.asarray(genotypes, dtype=object), return_inverse=True)
    keys_per_genotype: list[set[str]] = [set() for _ in unique]  # a genotype's queries in every environment
    for row, keys in zip(inverse, queries, strict=True):
        keys_per_genotype[row].update(keys)
    genotype_queries = [sorted(keys) for keys in keys_per_genotype]

    def by_query(s: int) -> np.ndarray:
        labels, keys = query_split(genotype_queries, s)
        primary[s] = keys[inverse]
        return labels[inverse]

    draws = {
        "split_random": lambda s: genotype_random_split(genotypes, s),
        "split_query": by_query,
        "split_gene_some": lambda s: gene_split(gene_lists, s, held_out_fraction, strict=False),
        "split_gene_all": lambda s: gene_split(gene_lists, s, strict_held_out_fraction, strict=True),
    }
    splits, seeds = {}, {}
    for column, draw in draws.items():
        splits[column], seeds[column] = _first_nonempty(column, draw, seed, attempts)
    splits["query"] = primary[seeds["split_query"]]
    return splits, seeds


def leakage(
    genotypes: Sequence[str],
    gene_lists: Sequence[Sequence[str]],
    labels: np.ndarray,
    queries: Sequence[str] | None = None,
) -> dict[str, int]:
    """Leakage counts for one split column. `genotypes_in_two_folds` must be 0 for every split;
    `heldout_without_unseen_gene` (val/test genotypes whose genes all occur in train) must be 0 for
    gene_some; `heldout_with_seen_gene` (val/test genotypes with any gene that occurs in train) for gene_all;
    `queries_in_two_folds` (primary query keys, `queries`, found in two folds) for the query split."""
    folds: dict[str, set[str]] = {}
    for genotype, label in zip(genotypes, labels, strict=True):
        folds.setdefault(genotype, set()).add(label)
    train_genes = {g for genes, label in zip(gene_lists, labels, strict=True) if label == "train" for g in genes}
    held = [genes for genes, label in zip(gene_lists, labels, strict=True) if label in ("val", "test")]
    query_folds: dict[str, set[str]] = {}
    for query, label in zip(queries if queries is not None else [], labels, strict=False):
        query_folds.setdefault(query, set()).add(label)
    return {
        "genotypes_in_two_folds": sum(len(f - {EXCLUDED}) > 1 for f in folds.values()),
        "queries_in_two_folds": sum(len(f) > 1 for f in query_folds.values()),
        "heldout_without_unseen_gene": sum(all(g in train_genes for g in genes) for genes in held),
        "heldout_with_seen_gene": sum(any(g in train_genes for g in genes) for genes in held),
    }


LEAKAGE_RULES = {
    "split_random": ("genotypes_in_two_folds",),
    "split_query": ("genotypes_in_two_folds", "queries_in_two_folds"),
    "split_gene_some": ("genotypes_in_two_folds", "heldout_without_unseen_gene"),
    "split_gene_all": ("genotypes_in_two_folds", "heldout_with_seen_gene"),
}
