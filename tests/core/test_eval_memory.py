"""Evaluation memory: the automatic evaluation batch follows the model's estimate, leaves predictions unchanged
and keeps HeteroGNN's evaluation within `eval_memory_gib`."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.training import eval_config, hetero_gnn, perturbation_dataset
from torchcell_core.datasets.loader import PerturbationBatch
from torchcell_core.models.base import ModelContext, build_model
from torchcell_core.train.config import parse_args, to_argv
from torchcell_core.train.distributed import init_distributed
from torchcell_core.train.loop import DEFAULT_EVAL_BATCH_SIZE, EVAL_MEMORY_PROBE, eval_batch_size, predict

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_eval_batch_settings_default_to_automatic_and_round_trip():
    assert eval_config().eval_batch_size == 0 and eval_config().eval_memory_gib == 1.5
    chosen = eval_config(eval_batch_size=0, eval_memory_gib=0.75)
    assert parse_args(to_argv(chosen)) == chosen
    with pytest.raises(ValueError, match="eval_memory_gib"):
        eval_config(eval_memory_gib=0)


def test_automatic_eval_batch_is_the_largest_the_estimate_fits_in_the_budget():
    net, dataset = hetero_gnn(300, 3000, hidden=16, head_hidden=16), perturbation_dataset(300, 500)
    probe = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:EVAL_MEMORY_PROBE]
    fixed, per_sample = net.eval_memory(dataset.__getitems__(probe.sort().values))
    assert fixed > 0 and per_sample > 0
    for size in (1, 40, 123):
        budget = (fixed + (size + 0.5) * per_sample) / 2**30
        assert eval_batch_size(net, dataset, eval_config(eval_memory_gib=budget)) == size
    assert eval_batch_size(net, dataset, eval_config(eval_memory_gib=fixed / 2**30)) == 1  # never below one sample
    assert eval_batch_size(net, dataset, eval_config(eval_memory_gib=100.0)) == len(dataset)  # never beyond the fold
    assert eval_batch_size(net, dataset, eval_config(eval_batch_size=7, eval_memory_gib=1e-6)) == 7  # a fixed size wins
    mlp = build_model("mlp", ModelContext(num_genes=300, env_dim=1), hidden_dim=8, embedding_dim=4)
    assert eval_batch_size(mlp, dataset, eval_config()) == DEFAULT_EVAL_BATCH_SIZE  # no estimate: the old default


def single_gene_samples(genes: torch.Tensor) -> PerturbationBatch:
    """One sample per gene of `genes` [B] (one environment column)."""
    size = genes.numel()
    return PerturbationBatch(
        perturbed=genes,
        batch=torch.arange(size),
        num_perturbations=torch.ones(size).long(),
        labels=torch.zeros(size, 2),
        mask=torch.ones(size, 2, dtype=torch.bool),
        environment=torch.ones(size, 1),
        row=torch.arange(size),
    )


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
    automatic = eval_config(eval_memory_gib=(fixed + 40 * per_sample) / 2**30)
    size = eval_batch_size(net, dataset, automatic)
    assert 10 < size < len(dataset)  # several batches, none of one sample
    dist = init_distributed("cpu")
    batched = predict(net, dataset, automatic, dist)
    single = predict(net, dataset, eval_config(eval_batch_size=1), dist)
    assert batched.shape == (150, 2)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)


MEASURE = """
    import resource, sys, torch
    from tests.support.training import eval_config, hetero_gnn, perturbation_dataset
    from torchcell_core.train.distributed import init_distributed
    from torchcell_core.train.loop import eval_batch_size, predict
    torch.set_num_threads(1)
    budget = float(sys.argv[1])
    net, dataset = hetero_gnn(2000, 20000), perturbation_dataset(2000, 150)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    predict(net, dataset, eval_config(eval_memory_gib=budget), init_distributed("cpu"))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
    print(eval_batch_size(net, dataset, eval_config(eval_memory_gib=budget)), grown)
"""


def test_hetero_gnn_evaluation_stays_within_the_memory_budget():
    # before: eval batch 4096 took the whole fold at once, about 4 MiB per sample on this graph (0.6 GiB)
    budget = 0.15
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEASURE), str(budget)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    size, grown_gib = result.stdout.split()
    assert 1 < int(size) < 150
    assert float(grown_gib) <= budget, f"evaluation grew the peak RSS by {float(grown_gib):.3f} GiB"
