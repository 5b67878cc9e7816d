"""Training loader over a curated perturbation table: gene indices, labels, masks, environment.

The table (Parquet path or `pyarrow.Table`, contract in the curated-dataset issue) is converted once,
vectorised, into flat tensors: the perturbed genes of all samples are one CSR array
(`gene_index` + `offsets`), so a batch of genotypes with 1, 2 or 3 perturbed genes is gathered with a
few tensor ops in `__getitems__`, which `torch.utils.data.DataLoader` calls with a whole batch of
indices. No Python runs per sample on that path.

Why a `torch.utils.data.Dataset` and not a `torch_geometric.data.Dataset`: PyG's base class adds
download/process into a `root` folder and a per-sample `get(idx) -> Data` that its loader collates one
`Data` at a time; both buy nothing here (the curated table is already on disk) and the second is the
per-sample Python this loader avoids. PyG compatibility is kept where it helps: a batch carries a
PyG-style `batch` vector (perturbation → sample), and `PerturbationBatch.to_data()` gives a
`torch_geometric.data.Data` with the same fields for models written against PyG objects.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from torchcell_core.genome.gene_index import GeneIndex

FOLDS = ("train", "val", "test", "excluded")
ENV_PREFIX = "env_"
GENES_COLUMN = "genes"
DEFAULT_LABELS = ("fitness", "interaction")


@dataclass(frozen=True)
class PerturbationSample:
    """One genotype in one environment: `perturbed` [k] gene indices, `labels`/`mask` [L], `environment` [E]."""

    perturbed: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    environment: torch.Tensor
    row: int


@dataclass(frozen=True)
class PerturbationBatch:
    """B samples; perturbations flattened PyG-style.

    `perturbed` [P] int64 gene indices and `batch` [P] int64 sample position (0..B-1) of each;
    `num_perturbations` [B] int64; `labels` [B, L] float32 (0 where unmeasured); `mask` [B, L] bool;
    `environment` [B, E] float32; `row` [B] int64 row numbers of the source table.
    """

    perturbed: torch.Tensor
    batch: torch.Tensor
    num_perturbations: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    environment: torch.Tensor
    row: torch.Tensor

    def __len__(self) -> int:
        return int(self.num_perturbations.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PerturbationBatch:
        """The same batch with every tensor on `device`."""
        return PerturbationBatch(
            **{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)}
        )

    def pin_memory(self) -> PerturbationBatch:
        """Page-locked copy; `DataLoader(pin_memory=True)` calls this."""
        return PerturbationBatch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})

    def to_data(self):
        """The batch as a `torch_geometric.data.Data` with the same attribute names."""
        from torch_geometric.data import Data

        return Data(**{f.name: getattr(self, f.name) for f in fields(self)})


class PerturbationDataset(Dataset):
    """The rows of one fold of a curated perturbation table as tensors, gathered a batch at a time.

    Tensors (N samples, P perturbations in all, L labels, E environment columns):
    `gene_index` [P] int64 positions in `genes`; `offsets` [N + 1] int64 (sample i owns
    `gene_index[offsets[i]:offsets[i + 1]]`); `labels` [N, L] float32 with 0 where unmeasured;
    `mask` [N, L] bool (False where the label was NaN or null); `environment` [N, E] float32 from every
    `env_*` column in table order; `rows` [N] int64 row numbers in the full table.
    `split=None` keeps every row (e.g. for predicting the whole table).
    """

    def __init__(
        self,
        table: str | Path | pa.Table,
        genes: GeneIndex,
        split: str | None = "split_random",
        fold: str | None = "train",
        label_names: Sequence[str] = DEFAULT_LABELS,
    ) -> None:
        self.genes = genes
        self.split = split
        self.fold = fold
        self.label_names = tuple(label_names)
        if not self.label_names:
            raise ValueError("label_names is empty: name at least one label column")
        if (split is None) != (fold is None):
            raise ValueError(f"split and fold go together: got split={split!r}, fold={fold!r}")
        if fold is not None and fold not in FOLDS:
            raise ValueError(f"fold {fold!r} is not one of {FOLDS}")

        table = _read_needed_columns(table, split, self.label_names)
        self.env_names = tuple(name for name in table.column_names if name.startswith(ENV_PREFIX))
        table, rows = _select_fold(table, split, fold)
        self.rows = torch.from_numpy(rows)
        self.gene_index, self.offsets = _perturbations_csr(table.column(GENES_COLUMN), genes, rows)
        self.labels, self.mask = _labels_and_mask(table, self.label_names)
        self.environment = _environment_matrix(table, self.env_names)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def env_dim(self) -> int:
        return len(self.env_names)

    def __getitem__(self, index: int) -> PerturbationSample:
        """One sample (the slow path; training loaders use `__getitems__`)."""
        i = operator.index(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} is out of range for a dataset of {len(self)} samples")
        i %= len(self)
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        return PerturbationSample(
            perturbed=self.gene_index[start:stop],
            labels=self.labels[i],
            mask=self.mask[i],
            environment=self.environment[i],
            row=int(self.rows[i]),
        )

    def __getitems__(self, indices: Sequence[int] | torch.Tensor) -> PerturbationBatch:
        """A whole batch gathered with tensor ops (no loop over samples); `indices` [B]."""
        samples = torch.as_tensor(indices, dtype=torch.long)
        if samples.numel():
            lowest, highest = int(samples.min()), int(samples.max())
            if lowest < -len(self) or highest >= len(self):
                raise IndexError(f"batch indices out of range for a dataset of {len(self)} samples")
            if lowest < 0:
                samples = samples.remainder(len(self))
        starts = self.offsets[samples]
        counts = self.offsets[samples + 1] - starts
        ends = torch.cumsum(counts, 0)
        total = int(ends[-1]) if ends.numel() else 0
        # `batch` = a running count of sample boundaries (every sample has at least one gene, so the
        # boundaries are distinct); cheaper than `repeat_interleave`, whose thread pool costs
        # milliseconds per call on a busy 2-core machine.
        boundaries = torch.zeros(total, dtype=torch.long)
        boundaries[ends[:-1]] = 1
        batch = torch.cumsum(boundaries, 0)
        flat = torch.arange(total) + (starts - (ends - counts))[batch]
        return PerturbationBatch(
            perturbed=self.gene_index[flat],
            batch=batch,
            num_perturbations=counts,
            labels=self.labels[samples],
            mask=self.mask[samples],
            environment=self.environment[samples],
            row=self.rows[samples],
        )


def collate_samples(samples: Sequence[PerturbationSample]) -> PerturbationBatch:
    """Per-sample Python collate of `PerturbationSample`s (the naive path, for datasets lacking `__getitems__`)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    sizes = [s.perturbed.shape[0] for s in samples]
    return PerturbationBatch(
        perturbed=torch.cat([s.perturbed for s in samples]),
        batch=torch.tensor([i for i, size in enumerate(sizes) for _ in range(size)], dtype=torch.long),
        num_perturbations=torch.tensor(sizes, dtype=torch.long),
        labels=torch.stack([s.labels for s in samples]),
        mask=torch.stack([s.mask for s in samples]),
        environment=torch.stack([s.environment for s in samples]),
        row=torch.tensor([s.row for s in samples], dtype=torch.long),
    )


def collate(batch: PerturbationBatch | Sequence[PerturbationSample]) -> PerturbationBatch:
    """Identity over a batch `__getitems__` already gathered; a list of samples (e.g. from a
    `ConcatDataset`, which lacks `__getitems__`) falls back to `collate_samples`."""
    if isinstance(batch, PerturbationBatch):
        return batch
    return collate_samples(batch)


def make_loader(
    dataset: PerturbationDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    distributed: bool = False,
    sampler: Sampler[int] | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader whose batches come from `dataset.__getitems__` (one gather per batch).

    Without a sampler, batches are int64 index tensors cut from one seeded permutation per epoch
    (`PermutationBatchSampler`: no Python per index; a new loader with the same seed replays the same
    epochs). `distributed=True` builds a `DistributedSampler` from the initialised process group, and
    `sampler` takes any index sampler instead (e.g. a `DistributedSampler` with explicit
    `num_replicas`/`rank`); both go through torch's `BatchSampler`, so `loader.sampler.set_epoch(epoch)`
    works as DDP code expects.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if distributed and sampler is not None:
        raise ValueError("pass either distributed=True or a sampler, not both")
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    common = dict(
        collate_fn=collate, num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0
    )
    if sampler is not None:
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **common)
    batches = PermutationBatchSampler(len(dataset), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(dataset, batch_sampler=batches, **common)


class PermutationBatchSampler(Sampler[torch.Tensor]):
    """Batches of sample indices, each an int64 tensor [<= batch_size], sliced from a permutation per epoch.

    Replaces torch's `RandomSampler` + `BatchSampler` (which build each batch one Python int at a time);
    the seeded generator advances every epoch, so epochs differ but a fresh sampler replays them.
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=self.generator)
        else:
            order = torch.arange(self.num_samples)
        return iter(order[: len(self) * self.batch_size].split(self.batch_size))


def _read_needed_columns(table: str | Path | pa.Table, split: str | None, label_names: tuple[str, ...]) -> pa.Table:
    """Only the columns the loader uses (genes, split, labels, env_*), read from Parquet or selected."""
    names = table.column_names if isinstance(table, pa.Table) else pq.read_schema(table).names
    required = [GENES_COLUMN, *label_names, *([split] if split is not None else [])]
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"table lacks required column(s) {missing}; it has {names}")
    env_names = [name for name in names if name.startswith(ENV_PREFIX)]
    if not env_names:
        raise ValueError(f"table has no {ENV_PREFIX}* columns for the environment vector; it has {names}")
    wanted = {*required, *env_names}
    in_table_order = [name for name in dict.fromkeys(names) if name in wanted]  # env_* keep their order
    if isinstance(table, pa.Table):
        return table.select(in_table_order)
    return pq.read_table(table, columns=in_table_order, memory_map=True)


def _select_fold(table: pa.Table, split: str | None, fold: str | None) -> tuple[pa.Table, np.ndarray]:
    """The rows of `fold` in column `split`, and their row numbers [N] int64 in the full table."""
    if split is None:
        return table, np.arange(table.num_rows, dtype=np.int64)
    keep = pc.fill_null(pc.equal(table.column(split), pa.scalar(fold)), False)
    rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False)).astype(np.int64)
    if rows.size == 0:
        found = sorted(str(v) for v in pc.unique(table.column(split)).to_pylist())
        raise ValueError(f"no rows with {split} == {fold!r} ({table.num_rows} rows; values present: {found})")
    return table.filter(keep), rows


def _perturbations_csr(
    genes_column: pa.ChunkedArray, genes: GeneIndex, rows: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """`gene_index` [P] int64 and `offsets` [N + 1] int64 from a list<string> column, vectorised.

    The flat names are dictionary-encoded first, so `GeneIndex.positions` runs on the distinct names only.
    """
    kind = genes_column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        raise ValueError(f"column {GENES_COLUMN!r} must be a list of gene names, got {kind}")
    counts = pc.fill_null(pc.list_value_length(genes_column), 0).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(counts < 1)
    if bad.size:
        raise ValueError(f"column {GENES_COLUMN!r} is null or empty at table row {int(rows[bad[0]])}")
    flat = pc.list_flatten(genes_column).combine_chunks()
    if flat.null_count:
        raise ValueError(f"column {GENES_COLUMN!r} holds a null gene name")
    encoded = pc.dictionary_encode(flat)
    names = encoded.dictionary.to_numpy(zero_copy_only=False)
    positions = genes.positions(names)[encoded.indices.to_numpy(zero_copy_only=False)]
    offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return torch.from_numpy(positions.astype(np.int64, copy=False)), torch.from_numpy(offsets)


def _labels_and_mask(table: pa.Table, label_names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """`labels` [N, L] float32 (0 where unmeasured) and `mask` [N, L] bool (False for NaN or null)."""
    labels = np.empty((table.num_rows, len(label_names)), dtype=np.float32)
    for j, name in enumerate(label_names):
        labels[:, j] = _float_column(table, name, fill=np.nan)
    mask = ~np.isnan(labels)
    labels[~mask] = 0.0
    return torch.from_numpy(labels), torch.from_numpy(mask)


def _environment_matrix(table: pa.Table, env_names: tuple[str, ...]) -> torch.Tensor:
    """`environment` [N, E] float32, one column per `env_*` column; a null is an error naming the column."""
    environment = np.empty((table.num_rows, len(env_names)), dtype=np.float32)
    for j, name in enumerate(env_names):
        if table.column(name).null_count:
            raise ValueError(f"environment column {name!r} has {table.column(name).null_count} null value(s)")
        environment[:, j] = _float_column(table, name, fill=np.nan)
    return torch.from_numpy(environment)


def _float_column(table: pa.Table, name: str, fill: float) -> np.ndarray:
    """Column `name` as float64 numpy [N], nulls replaced by `fill`; non-numeric columns are named."""
    column = table.column(name)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise ValueError(f"column {name!r} must be numeric, got {column.type}")
    return pc.fill_null(column.cast(pa.float64()), fill).to_numpy()
