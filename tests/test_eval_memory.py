"""Evaluation memory: the automatic evaluation batch follows the model's estimate, leaves predictions unchanged
and keeps HeteroGNN's evaluation within `eval_memory_gib`."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch_geometric.data import HeteroData

from torchcell_core.datasets.loader import PerturbationBatch, PerturbationDataset
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.models.base import ModelContext, build_model
from torchcell_core.models.hetero_gnn import HeteroGNN
from torchcell_core.train.config import TrainConfig, parse_args, to_argv
from torchcell_core.train.distributed import init_distributed
from torchcell_core.train.loop import DEFAULT_EVAL_BATCH_SIZE, EVAL_MEMORY_PROBE, eval_batch_size, predict

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_graph(num_genes: int, edges_per_type: int, num_types: int = 3, seed: int = 0) -> HeteroData:
    """Undirected random edge types over `num_genes` genes (each pair stored both ways), weights in (0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["gene"].num_nodes = num_genes
    for t in range(num_types):
        pairs = torch.randint(0, num_genes, (2, edges_per_type // 2), generator=generator)
        pairs = pairs[:, pairs[0] != pairs[1]]
        pairs = torch.unique(torch.cat([pairs, pairs.flip(0)], dim=1), dim=1)
        data["gene", f"network_{t}", "gene"].edge_index = pairs
        data["gene", f"network_{t}", "gene"].edge_weight = torch.rand(pairs.shape[1], generator=generator) + 1e-3
    return data


def perturbation_dataset(num_genes: int, num_samples: int, seed: int = 0) -> PerturbationDataset:
    """`num_samples` genotypes of 1–3 distinct genes with random labels, all in the `val` fold."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i:05d}" for i in range(num_genes)]
    genotypes = [sorted(rng.choice(num_genes, rng.integers(1, 4), replace=False).tolist()) for _ in range(num_samples)]
    table = pa.table({
        "genes": pa.array([[genes[g] for g in genotype] for genotype in genotypes], pa.list_(pa.string())),
        "fitness": rng.normal(size=num_samples), "interaction": rng.normal(size=num_samples),
        "env_temperature": pa.array(np.ones(num_samples), pa.float32()), "split_random": ["val"] * num_samples,
    })  # fmt: skip
    return PerturbationDataset(table, GeneIndex(genes), "split_random", "val")


def hetero_gnn(num_genes: int, edges_per_type: int, seed: int = 0, **hparams) -> HeteroGNN:
    torch.manual_seed(seed)
    context = ModelContext(num_genes=num_genes, env_dim=1, cell_graph=random_graph(num_genes, edges_per_type))
    return build_model("hetero_gnn", context, num_layers=1, **hparams).eval()


def config(**changes) -> TrainConfig:
    return TrainConfig(model="hetero_gnn", dataset="", gene_table="", out="", **changes)


def test_eval_batch_settings_default_to_automatic_and_round_trip():
    assert config().eval_batch_size == 0 and config().eval_memory_gib == 1.5
    chosen = config(eval_batch_size=0, eval_memory_gib=0.75)
    assert parse_args(to_argv(chosen)) == chosen
    with pytest.raises(ValueError, match="eval_memory_gib"):
        config(eval_memory_gib=0)


def test_automatic_eval_batch_is_the_largest_the_estimate_fits_in_the_budget():
    net, dataset = hetero_gnn(300, 3000, hidden=16, head_hidden=16), perturbation_dataset(300, 500)
    probe = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:EVAL_MEMORY_PROBE]
    fixed, per_sample = net.eval_memory(dataset.__getitems__(probe.sort().values))
    assert fixed > 0 and per_sample > 0
    for size in (1, 40, 123):
        budget = (fixed + (size + 0.5) * per_sample) / 2**30
        assert eval_batch_size(net, dataset, config(eval_memory_gib=budget)) == size
    assert eval_batch_size(net, dataset, config(eval_memory_gib=fixed / 2**30)) == 1  # never below one sample
    assert eval_batch_size(net, dataset, config(eval_memory_gib=100.0)) == len(dataset)  # never beyond the fold
    assert eval_batch_size(net, dataset, config(eval_batch_size=7, eval_memory_gib=1e-6)) == 7  # a fixed size wins
    mlp = build_model("mlp", ModelContext(num_genes=300, env_dim=1), hidden_dim=8, embedding_dim=4)
    assert eval_batch_size(mlp, dataset, config()) == DEFAULT_EVAL_BATCH_SIZE  # no estimate: the old default


def single_gene_samples(genes: torch.Tensor) -> PerturbationBatch:
    """One sample per gene of `genes` [B] (one environment column)."""
    size = genes.numel()
    return PerturbationBatch(perturbed=genes, batch=torch.arange(size), num_perturbations=torch.ones(size).long(),
                             labels=torch.zeros(size, 2), mask=torch.ones(size, 2, dtype=torch.bool),
                             environment=torch.ones(size, 1), row=torch.arange(size))  # fmt: skip


def test_the_estimate_grows_with_the_edges_a_sample_touches():
    net, dataset = hetero_gnn(300, 3000, hidden=16, head_hidden=16), perturbation_dataset(300, 200)
    denser, wider = hetero_gnn(300, 12000, hidden=16, head_hidden=16), hetero_gnn(300, 3000, hidden=64)
    batch = dataset.__getitems__(torch.arange(200))
    fixed, per_sample = net.eval_memory(batch)
    assert denser.eval_memory(batch)[0] > 2.5 * fixed and denser.eval_memory(batch)[1] > 2.5 * per_sample
    assert wider.eval_memory(batch)[1] > 3 * per_sample
    degree = torch.bincount(torch.cat([edge_index[1] for edge_index, _ in net.full_edges()]), minlength=300)
    hubs, leaves = degree.argsort(descending=True)[:20], degree.argsort()[:20]
    assert net.eval_memory(single_gene_samples(hubs))[1] > 1.5 * net.eval_memory(single_gene_samples(leaves))[1]


def test_predictions_at_the_automatic_eval_batch_equal_those_one_sample_at_a_time():
    net, dataset = hetero_gnn(300, 3000, hidden=16, head_hidden=16), perturbation_dataset(300, 150)
    fixed, per_sample = net.eval_memory(dataset.__getitems__(torch.arange(150)))
    automatic = config(eval_memory_gib=(fixed + 40 * per_sample) / 2**30)
    size = eval_batch_size(net, dataset, automatic)
    assert 10 < size < len(dataset)  # several batches, none of one sample
    dist = init_distributed("cpu")
    batched = predict(net, dataset, automatic, dist)
    single = predict(net, dataset, config(eval_batch_size=1), dist)
    assert batched.shape == (150, 2)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)


MEASURE = """
    import resource, sys, torch
    from tests.test_eval_memory import config, hetero_gnn, perturbation_dataset
    from torchcell_core.train.distributed import init_distributed
    from torchcell_core.train.loop import eval_batch_size, predict
    torch.set_num_threads(1)
    budget = float(sys.argv[1])
    net, dataset = hetero_gnn(2000, 20000), perturbation_dataset(2000, 150)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    predict(net, dataset, config(eval_memory_gib=budget), init_distributed("cpu"))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
    print(eval_batch_size(net, dataset, config(eval_memory_gib=budget)), grown)
"""


def test_hetero_gnn_evaluation_stays_within_the_memory_budget():
    # before: eval batch 4096 took the whole fold at once, about 4 MiB per sample on this graph (0.6 GiB)
    budget = 0.15
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(MEASURE), str(budget)], env=env, cwd=REPO,
                            capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    size, grown_gib = result.stdout.split()
    assert 1 < int(size) < 150
    assert float(grown_gib) <= budget, f"evaluation grew the peak RSS by {float(grown_gib):.3f} GiB"
