"""Checks on the stored gene features; each can fail (a damaged or misordered file fails them)."""

from collections.abc import Callable

import dagster as dg
import pyarrow.parquet as pq
import torch

from torchcell_assets.defs.features.assets import gene_features, read_manifest
from torchcell_assets.defs.sources.paths import GENOME_PARQUET
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.errors import SourceFormatError
from torchcell_core.features.basic import seeded_normal
from torchcell_core.features.registry import FeatureMatrix
from torchcell_core.features.store import read_feature_file

ROWS_FOLLOW_GENE_INDEX = "rows_follow_gene_index"
FINITE_VALUES = "finite_values"
FREQUENCIES_SUM_TO_ONE = "frequencies_sum_to_one"
RANDOM_REPRODUCIBLE = "random_reproducible"
# Frequency features and the genome column whose non-empty genes must have a row summing to 1.
FREQUENCY_SOURCES = {
    "codon_frequency": "cds_sequence",
    "amino_acid_composition": "protein_sequence",
    "protein_kmer": "protein_sequence",
}


def _each_feature(
    storage: TorchcellStorage, names: list[str], problem: Callable[[FeatureMatrix], str | None]
) -> dg.AssetCheckResult:
    """Pass when `problem` finds nothing in any built feature among `names`; an unreadable file fails."""
    problems = {}
    for name in names:
        try:
            found = problem(read_feature_file(storage.feature_file(name)))
        except (SourceFormatError, FileNotFoundError) as error:
            found = f"unreadable: {error}"
        if found:
            problems[name] = found
    return dg.AssetCheckResult(
        passed=not problems, metadata={"features_checked": ", ".join(names) or "none", "problems": problems or "none"}
    )


def _built(storage: TorchcellStorage, among: list[str] | None = None) -> list[str]:
    built = list(read_manifest(storage)["features"])
    return [name for name in built if among is None or name in among]


@dg.asset_check(asset=gene_features, name=ROWS_FOLLOW_GENE_INDEX, blocking=True)
def rows_follow_gene_index(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every feature has one row per genome gene, in GeneIndex order (sorted systematic names)."""
    genome = sorted(pq.read_table(storage.path(*GENOME_PARQUET), columns=["systematic_name"]).column(0).to_pylist())

    def problem(matrix: FeatureMatrix) -> str | None:
        if matrix.genes != genome:
            return f"genes differ from the genome index ({len(matrix.genes)} rows, genome has {len(genome)} genes)"
        return None

    return _each_feature(storage, _built(storage), problem)


def _finite(x: torch.Tensor) -> bool:
    values = x.coalesce().values() if x.is_sparse else x
    return bool(torch.isfinite(values).all())


@dg.asset_check(asset=gene_features, name=FINITE_VALUES)
def finite_values(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """No feature holds NaN or an infinite value."""
    return _each_feature(storage, _built(storage), lambda m: None if _finite(m.x) else "NaN or infinite values")


@dg.asset_check(asset=gene_features, name=FREQUENCIES_SUM_TO_ONE)
def frequencies_sum_to_one(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Codon, amino-acid and k-mer rows sum to 1 for genes with data and are 0 otherwise; only genes
    with a sequence in the genome may have data (a sequence without one countable word has none)."""
    sources = sorted(set(FREQUENCY_SOURCES.values()))
    frame = pq.read_table(storage.path(*GENOME_PARQUET), columns=["systematic_name", *sources]).to_pandas()
    frame = frame.sort_values("systematic_name", ignore_index=True)

    def problem(matrix: FeatureMatrix) -> str | None:
        with_sequence = torch.tensor((frame[FREQUENCY_SOURCES[matrix.name]].fillna("").str.len() > 0).to_numpy())
        sums = matrix.x.to_dense().sum(dim=1) if matrix.x.is_sparse else matrix.x.sum(dim=1)
        if sums.shape != with_sequence.shape:
            return f"{len(sums)} rows for {len(with_sequence)} genome genes"
        if (matrix.has_data & ~with_sequence).any():
            return f"{int((matrix.has_data & ~with_sequence).sum())} genes without a sequence have data"
        wrong = (sums - matrix.has_data.float()).abs() > 1e-4
        if wrong.any():
            first = int(wrong.nonzero()[0, 0])
            gene = frame["systematic_name"].iloc[first]
            return f"{int(wrong.sum())} rows off, e.g. {gene} sums to {float(sums[first]):.6g}"
        return None

    return _each_feature(storage, _built(storage, list(FREQUENCY_SOURCES)), problem)


@dg.asset_check(asset=gene_features, name=RANDOM_REPRODUCIBLE)
def random_reproducible(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """The stored random feature equals a fresh draw from its recorded seed and dimension."""

    def problem(matrix: FeatureMatrix) -> str | None:
        again = seeded_normal(len(matrix.genes), int(matrix.config["dim"]), int(matrix.config["seed"]))
        return None if torch.equal(matrix.x, again) else f"differs from a fresh draw with seed {matrix.config['seed']}"

    return _each_feature(storage, _built(storage, ["random"]), problem)
