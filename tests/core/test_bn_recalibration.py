"""BatchNorm running statistics recomputed from training batches after training (train/loop.py), one process and DDP."""

import logging
import math

import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from torch import nn

from tests.support.training import GENES, synthetic_table
from torchcell_core.datasets.loader import PerturbationBatch, make_loader
from torchcell_core.models.base import ModelOutput, build_model
from torchcell_core.train import checkpoint as ckpt
from torchcell_core.train.config import parse_args
from torchcell_core.train.data import load_run_data
from torchcell_core.train.distributed import DistributedContext
from torchcell_core.train.loop import RECALIBRATION_BATCHES, RECALIBRATION_EPOCH, recalibrate_batchnorm, set_epoch
from torchcell_core.train.run import main

ONE_PROCESS = DistributedContext(0, 1, 0, torch.device("cpu"), None)


class TwoNorms(nn.Module):
    """environment [B, 3] -> Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm (momentum 0.3) -> prediction [B, 2]."""

    loss = "mse"

    def __init__(self) -> None:
        super().__init__()
        self.first, self.norm1 = nn.Linear(3, 4), nn.BatchNorm1d(4)
        self.second, self.norm2 = nn.Linear(4, 2), nn.BatchNorm1d(2, momentum=0.3)

    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        hidden = torch.relu(self.norm1(self.first(batch.environment)))  # [B, 4]
        return ModelOutput(self.norm2(self.second(hidden)))  # [B, 2]


class NoNorms(nn.Module):
    """environment [B, 3] -> Linear -> LayerNorm -> Dropout -> Linear: no BatchNorm, so nothing to recalibrate."""

    loss = "mse"

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Dropout(0.5), nn.Linear(4, 2))

    def forward(self, batch: PerturbationBatch) -> ModelOutput:
        return ModelOutput(self.layers(batch.environment))  # [B, 2]


def batches(sizes: list[int], seed: int = 0) -> list[PerturbationBatch]:
    """Batches of one perturbed gene per sample and a random 3-wide environment (shifted, so means are not 0)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for size in sizes:
        out.append(
            PerturbationBatch(
                perturbed=torch.zeros(size, dtype=torch.long),
                batch=torch.arange(size),
                num_perturbations=torch.ones(size, dtype=torch.long),
                labels=torch.zeros(size, 2),
                mask=torch.ones(size, 2, dtype=torch.bool),
                environment=torch.randn(size, 3, generator=generator) * 2 + 1,
                row=torch.arange(size),
            )
        )
    return out


@torch.no_grad()
def expected_statistics(model: TwoNorms, data: list[PerturbationBatch]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per BatchNorm layer: (mean over batches of the batch mean [C], mean over batches of the unbiased batch variance
    [C]), each layer fed as in train mode (the layer before normalises by its batch statistics)."""
    sums = [[torch.zeros(4), torch.zeros(4)], [torch.zeros(2), torch.zeros(2)]]
    for batch in data:
        x1 = model.first(batch.environment)  # [B, 4]
        normed = (x1 - x1.mean(0)) / torch.sqrt(x1.var(0, unbiased=False) + model.norm1.eps)
        x2 = model.second(torch.relu(normed * model.norm1.weight + model.norm1.bias))  # [B, 2]
        for total, x in zip(sums, (x1, x2), strict=True):
            total[0] += x.mean(0)
            total[1] += x.var(0, unbiased=True)
    return [(mean / len(data), var / len(data)) for mean, var in sums]


def corrupted(seed: int = 0) -> TwoNorms:
    """A `TwoNorms` whose running statistics and batch counts are nonsense, as after a noisy running average."""
    torch.manual_seed(seed)
    model = TwoNorms()
    with torch.no_grad():
        for layer in (model.norm1, model.norm2):
            layer.weight.uniform_(0.5, 2.0)
            layer.bias.uniform_(-1.0, 1.0)
            layer.running_mean.fill_(50.0)
            layer.running_var.fill_(1e-4)
            layer.num_batches_tracked.fill_(123)
    return model


def test_corrupted_statistics_become_the_training_batch_statistics():
    model = corrupted()
    data = batches([16, 16, 1, 16, 16, 16])  # the 1-sample batch has no variance and is skipped
    rng = torch.get_rng_state()
    used = recalibrate_batchnorm(model, data, ONE_PROCESS, max_batches=3, seed=0)
    assert used == 3
    usable = [b for b in data if len(b) > 1][:3]
    for layer, (mean, var) in zip((model.norm1, model.norm2), expected_statistics(model, usable), strict=True):
        torch.testing.assert_close(layer.running_mean, mean, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(layer.running_var, var, atol=1e-5, rtol=1e-5)
        assert int(layer.num_batches_tracked) == 123  # the training count is kept
    assert (model.norm1.momentum, model.norm2.momentum) == (0.1, 0.3)
    assert not model.training
    assert torch.equal(torch.get_rng_state(), rng), "the caller's random stream is left as it was"
    again = corrupted()  # the result depends on the weights and the batches, not on the statistics before
    recalibrate_batchnorm(again, data, ONE_PROCESS, max_batches=3, seed=0)
    for a, b in zip(again.buffers(), model.buffers(), strict=True):
        assert torch.equal(a, b)


def test_models_without_batchnorm_are_untouched():
    class Untouchable:
        def __iter__(self):
            raise AssertionError("a model without BatchNorm must not read the loader")

    torch.manual_seed(0)
    model = NoNorms().train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert recalibrate_batchnorm(model, Untouchable(), ONE_PROCESS) == 0
    assert model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def _ddp_worker(rank: int, rendezvous: str, results: str) -> None:
    """One of two gloo ranks: each recalibrates the same model on its own shard (3 batches vs 2) and saves its stats."""
    torch_dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    try:
        context = DistributedContext(rank, 2, rank, torch.device("cpu"), "gloo")
        data = batches([8, 8, 8, 8, 8])
        shard = data[:3] if rank == 0 else data[3:]
        model = corrupted()
        used = recalibrate_batchnorm(model, shard, context, seed=rank)
        torch.save({"used": used, "buffers": [b.clone() for b in model.buffers()]}, f"{results}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def test_ddp_ranks_agree_on_the_average_over_all_shards(tmp_path):
    """Under DDP every rank ends with the same statistics: those of all ranks' batches together, each batch counted
    once (rank 0 has 3 batches, rank 1 has 2)."""
    # spawn, not fork: a forked child of a process whose OpenMP pool has run (any earlier torch test) can hang.
    mp.start_processes(_ddp_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, start_method="spawn")
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert (rank0["used"], rank1["used"]) == (3, 2)
    for a, b in zip(rank0["buffers"], rank1["buffers"], strict=True):
        assert torch.equal(a, b)
    model = corrupted()
    recalibrate_batchnorm(model, batches([8, 8, 8, 8, 8]), ONE_PROCESS)
    for a, b in zip(rank0["buffers"], model.buffers(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_training_run_reports_with_recalibrated_dcell_statistics(tmp_path, caplog):
    """A DCell run writes recalibrated statistics into its final checkpoint (reproducible from its weights and the
    training batches of the fixed shuffle), and its reported predictions are made with them."""
    table, _ = synthetic_table()
    pq.write_table(table, tmp_path / "data.parquet")
    pq.write_table(pa.table({"systematic_name": GENES}), tmp_path / "genes.parquet")
    terms = pa.table(
        {
            "go_id": ["GO:0000001", "GO:0000002", "GO:0000003"],
            "name": ["root", "left", "right"],
            "namespace": ["biological_process"] * 3,
            "genes": [GENES[:20], GENES[:10], GENES[10:20]],
            "n_genes": [20, 10, 10],
        }
    )
    edges = pa.table({"child": ["GO:0000002", "GO:0000003"], "parent": ["GO:0000001"] * 2, "relation": ["is_a"] * 2})
    pq.write_table(terms, tmp_path / "terms.parquet")
    pq.write_table(edges, tmp_path / "edges.parquet")
    out = tmp_path / "run"
    argv = [
        "--model",
        "dcell",
        "--dataset",
        str(tmp_path / "data.parquet"),
        "--gene-table",
        str(tmp_path / "genes.parquet"),
        "--go-terms",
        str(tmp_path / "terms.parquet"),
        "--go-edges",
        str(tmp_path / "edges.parquet"),
        "--out",
        str(out),
        "--wandb",
        "disabled",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--bootstrap",
        "0",
    ]
    with caplog.at_level(logging.INFO, logger="torchcell_core.train.loop"):
        document = main(argv)
    assert any("BatchNorm statistics recalibrated" in r.getMessage() for r in caplog.records)
    final = ckpt.load_checkpoint(out / "checkpoints" / document["weights"])
    config = parse_args(argv)
    data = load_run_data(config)
    train = data.folds["train"]
    expected_batches = min(RECALIBRATION_BATCHES, sum(1 for i in range(0, len(train), 16) if len(train) - i > 1))
    assert final["batchnorm_recalibration"] == {"batches_per_rank": expected_batches, "world_size": 1}

    model = build_model("dcell", data.context)
    model.load_state_dict(final["model"])
    for layer in (m for m in model.modules() if isinstance(m, nn.BatchNorm1d)):
        layer.running_mean.fill_(3.0)  # forget what the checkpoint says; recompute it
    loader = make_loader(train, config.batch_size, shuffle=True, seed=config.seed)
    set_epoch(loader, RECALIBRATION_EPOCH, config.seed)
    recalibrate_batchnorm(model, loader, ONE_PROCESS, seed=config.seed)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, final["model"][name]), name

    reported = pq.read_table(out / "predictions.parquet").to_pandas()
    test = data.folds["test"]
    with torch.no_grad():
        ours = model(next(iter(make_loader(test, len(test), shuffle=False)))).prediction  # [N, 2], eval mode
    rows = reported[reported["split"] == "test"].set_index("row").loc[test.rows.numpy()]
    torch.testing.assert_close(
        torch.tensor(rows["predicted_fitness"].to_numpy()), ours[:, 0].double(), atol=1e-5, rtol=1e-5
    )
    assert math.isfinite(document["splits"]["test"]["fitness"]["pearson"])
