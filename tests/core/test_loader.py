"""The perturbation training loader: CSR tensors, batched gather, masks, environment, samplers, errors."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler

from torchcell_core.datasets.loader import (
    PermutationBatchSampler,
    PerturbationBatch,
    PerturbationDataset,
    collate,
    collate_samples,
    make_loader,
)
from torchcell_core.genome.gene_index import GeneIndex

NAN = float("nan")
GENES = ["YAL001C", "YAL002W", "YBR001C", "YBR002W", "YCL001W", "YDL001W", "YEL001C"]

# (genes, fitness, interaction, env_temperature, env_media_YPD, split_random, split_gene_all)
ROWS = [
    (["YAL001C"], 0.9, NAN, 1.0, 1.0, "train", "train"),
    (["YAL001C", "YBR002W"], 0.7, -0.1, 1.0, 1.0, "train", "train"),
    (["YAL002W", "YBR001C", "YCL001W"], 0.5, 0.05, 37 / 30, 1.0, "val", "excluded"),
    (["YDL001W"], NAN, NAN, 26 / 30, 0.0, "train", "val"),
    (["YAL002W", "YEL001C"], 0.8, None, 1.0, 0.0, "test", "val"),
    (["YAL001C", "YBR001C", "YEL001C"], 0.4, -0.2, 1.0, 1.0, "train", "train"),
    (["YCL001W", "YDL001W"], 0.95, 0.0, 37 / 30, 1.0, "train", "excluded"),
    (["YBR002W"], 1.05, NAN, 1.0, 1.0, "val", "train"),
    (["YAL001C", "YAL002W", "YDL001W"], 0.3, 0.12, 26 / 30, 0.0, "train", "train"),
    (["YEL001C"], 0.6, NAN, 1.0, 1.0, "train", "val"),
]


def contract_table(rows=ROWS) -> pa.Table:
    """A small curated table in the contract format, with extra columns the loader must ignore.

    The env columns are deliberately not in alphabetical order (`env_temperature` before `env_media_YPD`),
    with an unrelated column between them, to check that the loader keeps table order.
    """
    genes, fitness, interaction, temperature, ypd, split_random, split_gene_all = zip(*rows, strict=True)
    return pa.table(
        {
            "dataset": ["tiny"] * len(rows),
            "genotype": ["+".join(g) for g in genes],
            "genes": pa.array(genes, pa.list_(pa.string())),
            "n_genes": pa.array([len(g) for g in genes], pa.int8()),
            "environment": ["YPD_30C"] * len(rows),
            "env_temperature": pa.array(temperature, pa.float32()),
            "n_measurements": pa.array([1] * len(rows), pa.int32()),
            "env_media_YPD": pa.array(ypd, pa.float32()),
            "fitness": pa.array(fitness, pa.float64()),
            "fitness_std": pa.array([0.01] * len(rows), pa.float64()),
            "interaction": pa.array(interaction, pa.float64()),
            "split_random": list(split_random),
            "split_gene_some": list(split_random),
            "split_gene_all": list(split_gene_all),
            "simulated": [True] * len(rows),
        }
    )


@pytest.fixture(scope="module")
def gene_index() -> GeneIndex:
    return GeneIndex(GENES)


@pytest.fixture(scope="module")
def parquet_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("datasets") / "tiny.parquet"
    pq.write_table(contract_table(), path, row_group_size=4)  # several row groups → several chunks
    return path


@pytest.fixture(scope="module")
def everything(parquet_path, gene_index) -> PerturbationDataset:
    return PerturbationDataset(parquet_path, gene_index, split=None, fold=None)


def assert_batches_equal(left: PerturbationBatch, right: PerturbationBatch) -> None:
    for name in ("perturbed", "batch", "num_perturbations", "labels", "mask", "environment", "row"):
        a, b = getattr(left, name), getattr(right, name)
        assert a.dtype == b.dtype, name
        assert torch.equal(a, b), name


def test_tensors_follow_the_table_row_by_row(everything, gene_index):
    ds = everything
    assert len(ds) == len(ROWS)
    assert ds.gene_index.dtype == torch.int64 and ds.offsets.dtype == torch.int64
    assert ds.offsets.tolist() == [0, *np.cumsum([len(r[0]) for r in ROWS]).tolist()]
    flat_names = [gene for row in ROWS for gene in row[0]]
    assert [gene_index.genes[i] for i in ds.gene_index.tolist()] == flat_names
    assert ds.rows.tolist() == list(range(len(ROWS)))


def test_labels_and_mask_mark_nan_and_null_as_unmeasured(everything):
    ds = everything
    assert ds.labels.shape == (len(ROWS), 2) and ds.labels.dtype == torch.float32
    assert ds.mask.dtype == torch.bool
    for i, row in enumerate(ROWS):
        for j, value in enumerate(row[1:3]):
            measured = value is not None and not math.isnan(value)
            assert bool(ds.mask[i, j]) == measured, (i, j)
            assert ds.labels[i, j].item() == pytest.approx(value if measured else 0.0)
    singles = torch.tensor([len(r[0]) == 1 for r in ROWS])
    assert not ds.mask[singles, 1].any(), "single mutants have no interaction label"


def test_environment_vector_takes_every_env_column_in_table_order(everything):
    ds = everything
    assert ds.env_names == ("env_temperature", "env_media_YPD")
    expected = torch.tensor([[r[3], r[4]] for r in ROWS], dtype=torch.float32)
    assert ds.environment.dtype == torch.float32
    assert torch.equal(ds.environment, expected)
    assert torch.equal(ds[2].environment, expected[2])


def test_custom_label_names_pick_those_columns(parquet_path, gene_index):
    ds = PerturbationDataset(parquet_path, gene_index, split=None, fold=None, label_names=["fitness_std"])
    assert ds.labels.shape == (len(ROWS), 1) and bool(ds.mask.all())


def test_split_filter_keeps_the_fold_and_its_table_rows(parquet_path, gene_index):
    for split, fold in [("split_random", "train"), ("split_random", "val"), ("split_gene_all", "excluded")]:
        ds = PerturbationDataset(parquet_path, gene_index, split=split, fold=fold)
        column = 5 if split == "split_random" else 6
        expected_rows = [i for i, row in enumerate(ROWS) if row[column] == fold]
        assert ds.rows.tolist() == expected_rows
        for position, row in enumerate(expected_rows):
            sample = ds[position]
            assert sample.row == row
            assert [gene_index.genes[i] for i in sample.perturbed.tolist()] == ROWS[row][0]


def test_table_and_parquet_inputs_agree(parquet_path, gene_index):
    from_file = PerturbationDataset(parquet_path, gene_index, split="split_random", fold="train")
    from_table = PerturbationDataset(contract_table(), gene_index, split="split_random", fold="train")
    everything = list(range(len(from_file)))
    assert_batches_equal(from_file.__getitems__(everything), from_table.__getitems__(everything))


def test_batch_vectors_for_mixed_perturbation_counts(everything):
    batch = everything.__getitems__([2, 0, 6, 2])  # 3, 1, 2 and again 3 genes
    assert batch.num_perturbations.tolist() == [3, 1, 2, 3]
    assert batch.batch.tolist() == [0, 0, 0, 1, 2, 2, 3, 3, 3]
    assert batch.perturbed.tolist() == everything.gene_index[[3, 4, 5, 0, 12, 13, 3, 4, 5]].tolist()
    assert batch.row.tolist() == [2, 0, 6, 2]
    assert batch.labels.shape == (4, 2) and batch.mask.shape == (4, 2) and batch.environment.shape == (4, 2)
    assert len(batch) == 4


def test_per_sample_and_batched_access_agree(everything):
    generator = torch.Generator().manual_seed(3)
    for size in (1, 4, 10, 17):
        indices = torch.randint(0, len(everything), (size,), generator=generator).tolist()
        samples = [everything[i] for i in indices]
        assert_batches_equal(everything.__getitems__(indices), collate_samples(samples))
        assert_batches_equal(collate(samples), collate_samples(samples))
    assert_batches_equal(everything.__getitems__([-1, -10]), everything.__getitems__([9, 0]))


def test_batched_indices_out_of_range_raise(everything):
    with pytest.raises(IndexError, match="out of range"):
        everything.__getitems__([0, len(everything)])
    with pytest.raises(IndexError, match="out of range"):
        everything.__getitems__([-len(everything) - 1])
    with pytest.raises(IndexError, match="out of range"):
        everything[len(everything)]


def test_to_data_gives_a_pyg_object(everything):
    data = everything.__getitems__([0, 2]).to_data()
    assert data.batch.tolist() == [0, 1, 1, 1]
    assert data.perturbed.shape == (4,)


def rows_in_order(loader) -> list[int]:
    return [row for batch in loader for row in batch.row.tolist()]


def test_loader_uses_batched_gather_and_seeded_shuffle(everything):
    loader = make_loader(everything, batch_size=3, shuffle=True, seed=7)
    batches = list(loader)
    assert all(isinstance(b, PerturbationBatch) for b in batches)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    first = [row for batch in batches for row in batch.row.tolist()]
    assert sorted(first) == list(range(len(everything)))
    second = rows_in_order(loader)
    assert sorted(second) == sorted(first) and second != first, "each epoch reshuffles"
    replay = make_loader(everything, batch_size=3, shuffle=True, seed=7)
    assert [rows_in_order(replay), rows_in_order(replay)] == [first, second], "same seed, same epochs"
    assert rows_in_order(make_loader(everything, batch_size=3, shuffle=True, seed=8)) != first
    assert rows_in_order(make_loader(everything, batch_size=4, shuffle=False)) == list(range(len(everything)))
    assert [len(b) for b in make_loader(everything, batch_size=4, drop_last=True)] == [4, 4]


def test_distributed_sampler_with_two_replicas_covers_every_row_once(everything):
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(everything, num_replicas=2, rank=rank, shuffle=True, seed=1)
        seen.append(rows_in_order(make_loader(everything, batch_size=2, sampler=sampler)))
    assert len(seen[0]) == len(seen[1]) == len(everything) // 2
    assert sorted(seen[0] + seen[1]) == list(range(len(everything)))


def test_default_batches_are_index_tensors_and_sampler_path_keeps_set_epoch(everything):
    loader = make_loader(everything, batch_size=4, shuffle=True, seed=2)
    assert isinstance(loader.batch_sampler, PermutationBatchSampler) and len(loader) == 3
    assert all(isinstance(b, torch.Tensor) and b.dtype == torch.int64 for b in loader.batch_sampler)
    sampler = DistributedSampler(everything, num_replicas=2, rank=0, shuffle=True, seed=1)
    loader = make_loader(everything, batch_size=2, sampler=sampler)
    assert loader.sampler is sampler
    epoch_zero = rows_in_order(loader)
    loader.sampler.set_epoch(1)
    assert rows_in_order(loader) != epoch_zero and len(rows_in_order(loader)) == len(epoch_zero)


def test_concat_dataset_falls_back_to_per_sample_collate(everything):
    loader = DataLoader(ConcatDataset([everything, everything]), batch_size=20, collate_fn=collate)
    (batch,) = list(loader)
    assert batch.row.tolist() == list(range(10)) * 2


def test_sampler_and_distributed_are_exclusive(everything):
    with pytest.raises(ValueError, match="either distributed=True or a sampler"):
        make_loader(everything, 2, sampler=DistributedSampler(everything, 2, 0), distributed=True)


def test_unknown_gene_is_named(gene_index):
    rows = [*ROWS[:3], (["YAL001C", "YZZ999W"], 0.5, 0.1, 1.0, 1.0, "train", "train")]
    with pytest.raises(KeyError, match="YZZ999W"):
        PerturbationDataset(contract_table(rows), gene_index, split=None, fold=None)


def test_empty_fold_names_split_and_fold(parquet_path, gene_index):
    with pytest.raises(ValueError, match=r"split_gene_all == 'test'"):
        PerturbationDataset(parquet_path, gene_index, split="split_gene_all", fold="test")


def test_unknown_fold_is_rejected(parquet_path, gene_index):
    with pytest.raises(ValueError, match="'trian' is not one of"):
        PerturbationDataset(parquet_path, gene_index, split="split_random", fold="trian")


def test_missing_columns_are_named(gene_index):
    table = contract_table().drop_columns(["interaction", "split_gene_some"])
    with pytest.raises(ValueError, match=r"\['interaction', 'split_gene_some'\]"):
        PerturbationDataset(table, gene_index, split="split_gene_some", fold="train")


def test_table_without_env_columns_is_rejected(gene_index):
    table = contract_table().drop_columns(["env_temperature", "env_media_YPD"])
    with pytest.raises(ValueError, match=r"no env_\* columns"):
        PerturbationDataset(table, gene_index, split=None, fold=None)


def test_null_or_empty_gene_lists_name_the_row(gene_index):
    for bad in (None, []):
        table = contract_table()
        genes = table.column("genes").to_pylist()
        genes[4] = bad
        table = table.set_column(table.column_names.index("genes"), "genes", pa.array(genes, pa.list_(pa.string())))
        with pytest.raises(ValueError, match="table row 4"):
            PerturbationDataset(table, gene_index, split=None, fold=None)


def test_null_environment_value_names_the_column(gene_index):
    table = contract_table()
    values = table.column("env_media_YPD").to_pylist()
    values[1] = None
    table = table.set_column(table.column_names.index("env_media_YPD"), "env_media_YPD", pa.array(values, pa.float32()))
    with pytest.raises(ValueError, match="env_media_YPD"):
        PerturbationDataset(table, gene_index, split=None, fold=None)
