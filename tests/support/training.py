"""Synthetic training inputs shared by the training, process and scheduler tests: a curated-format table with
a learnable signal over 24 genes, and random HeteroGNN workloads for the evaluation-memory tests."""

import numpy as np
import pyarrow as pa
import torch
from torch_geometric.data import HeteroData

from torchcell_core.datasets.loader import PerturbationDataset
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.models.base import ModelContext, build_model
from torchcell_core.models.hetero_gnn import HeteroGNN
from torchcell_core.train.config import TrainConfig

GENES = [f"Y{chr(65 + i // 8)}L{i % 8 + 1:03d}W" for i in range(24)]
FEATURE_DIM = 6
assert GENES == sorted(GENES), "rows of the synthetic features follow GeneIndex order"


def synthetic_table(seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    """A curated-format table with a learnable signal, and the gene features [24, 6] behind it.

    Fitness is additive in the summed gene features plus an environment effect; the interaction is
    strongly negative when two perturbed genes share a hidden module, and its p-value is small then."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(len(GENES), FEATURE_DIM)).astype(np.float32)
    weights = rng.normal(scale=0.08, size=FEATURE_DIM)
    module = rng.integers(0, 3, size=len(GENES))
    genotypes = [[g] for g in range(len(GENES))] * 2
    genotypes += [sorted(rng.choice(len(GENES), 2, replace=False).tolist()) for _ in range(230)]
    genotypes += [sorted(rng.choice(len(GENES), 3, replace=False).tolist()) for _ in range(90)]
    temperature = rng.choice([1.0, 37 / 30], size=len(genotypes)).astype(np.float32)
    fitness, interaction, p_value = [], [], []
    for genotype, temp in zip(genotypes, temperature, strict=True):
        fitness.append(1.0 + features[genotype].sum(0) @ weights - 0.5 * (temp - 1.0) + rng.normal(scale=0.01))
        if len(genotype) == 1:
            interaction.append(np.nan)
            p_value.append(np.nan)
            continue
        same = len({int(module[g]) for g in genotype}) < len(genotype)
        interaction.append((-0.2 if same else 0.03) + rng.normal(scale=0.01))
        p_value.append(0.01 if same else 0.4)
    split = rng.choice(["train", "val", "test"], size=len(genotypes), p=[0.7, 0.15, 0.15])
    names = [[GENES[g] for g in genotype] for genotype in genotypes]
    table = pa.table(
        {
            "dataset": ["synthetic"] * len(names),
            "genotype": ["+".join(n) for n in names],
            "genes": pa.array(names, pa.list_(pa.string())),
            "n_genes": pa.array([len(n) for n in names], pa.int8()),
            "environment": ["YPD_30C" if t == 1.0 else "YPD_37C" for t in temperature],
            "env_temperature": pa.array(temperature, pa.float32()),
            "env_media_YPD": pa.array(np.ones(len(names)), pa.float32()),
            "fitness": pa.array(fitness, pa.float64()),
            "fitness_std": pa.array(np.full(len(names), 0.01), pa.float64()),
            "interaction": pa.array(interaction, pa.float64()),
            "interaction_p_value": pa.array(p_value, pa.float64()),
            "split_random": list(split),
            "simulated": [True] * len(names),
        }
    )
    return table, features


# --- HeteroGNN evaluation workloads ----------------------------------------------------------------------


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
    table = pa.table(
        {
            "genes": pa.array([[genes[g] for g in genotype] for genotype in genotypes], pa.list_(pa.string())),
            "fitness": rng.normal(size=num_samples),
            "interaction": rng.normal(size=num_samples),
            "env_temperature": pa.array(np.ones(num_samples), pa.float32()),
            "split_random": ["val"] * num_samples,
        }
    )
    return PerturbationDataset(table, GeneIndex(genes), "split_random", "val")


def hetero_gnn(num_genes: int, edges_per_type: int, seed: int = 0, **hparams) -> HeteroGNN:
    """A seeded one-layer HeteroGNN in eval mode over `random_graph(num_genes, edges_per_type)`."""
    torch.manual_seed(seed)
    context = ModelContext(num_genes=num_genes, env_dim=1, cell_graph=random_graph(num_genes, edges_per_type))
    return build_model("hetero_gnn", context, num_layers=1, **hparams).eval()


def eval_config(**changes) -> TrainConfig:
    """A HeteroGNN `TrainConfig` with no input paths (for the evaluation-batch logic), plus `changes`."""
    return TrainConfig(model="hetero_gnn", dataset="", gene_table="", out="", **changes)


def mlp_argv(
    dataset: object,
    gene_table: object,
    out: object,
    *extra: str,
    batch_size: int = 64,
    bootstrap: int = 0,
    hidden_dim: int = 32,
    embedding_dim: int = 16,
) -> list[str]:
    """The `torchcell_core.train.run` command line of a small mlp run on `dataset` with wandb off; `extra` appended."""
    return [
        *("--model", "mlp", "--dataset", str(dataset), "--gene-table", str(gene_table), "--out", str(out)),
        *("--wandb", "disabled", "--batch-size", str(batch_size), "--bootstrap", str(bootstrap)),
        *("--hparam", f"hidden_dim={hidden_dim}", "--hparam", f"embedding_dim={embedding_dim}", *extra),
    ]
