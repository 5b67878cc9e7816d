"""Ground truth for simulated genetic interactions, structured by GO biological process.

ε_ab = h_a·h_b·Σ_{t ∈ P(a)∩P(b)} w_t / √|P(a)∩P(b)|  +  m_a + m_b  +  sparse background,
where P(g) are g's GO process terms, w_t a per-term effect (most terms 0, some
negative "buffering" modules, a few positive), h_g a hub factor and m_g a small
per-gene tendency. Genes in related processes interact; most pairs do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GO_BIOLOGICAL_PROCESS_ROOT = "GO:0008150"


@dataclass(frozen=True)
class InteractionTruthConfig:
    negative_term_fraction: float = 0.30
    positive_term_fraction: float = 0.10
    negative_effect_mean: float = 0.10
    positive_effect_mean: float = 0.05
    hub_sigma: float = 0.5
    gene_tendency_sd: float = 0.012
    background_rate: float = 0.02
    background_sd: float = 0.06
    min_term_genes: int = 3
    max_term_genes: int = 150


@dataclass
class InteractionTruth:
    """Gene-level parameters from which any pair's true ε is computed."""

    genes: list[str]
    term_matrix: np.ndarray  # [num_genes, num_terms] 0/1 GO process membership
    term_ids: list[str]
    term_effect: np.ndarray  # [num_terms]
    hub: np.ndarray  # [num_genes]
    tendency: np.ndarray  # [num_genes]
    background_rate: float
    background_sd: float
    seed: int

    def epsilon(self, gene_a: np.ndarray, gene_b: np.ndarray) -> np.ndarray:
        """True ε for pairs given as integer gene indices, shape [num_pairs]; symmetric."""
        shared = self.term_matrix[gene_a] * self.term_matrix[gene_b]  # [P, T]
        n_shared = shared.sum(axis=1)
        module = (shared @ self.term_effect) / np.sqrt(np.maximum(n_shared, 1))
        eps = self.hub[gene_a] * self.hub[gene_b] * module
        eps += self.tendency[gene_a] + self.tendency[gene_b]
        lo, hi = np.minimum(gene_a, gene_b), np.maximum(gene_a, gene_b)
        pair_rng = _pair_uniforms(lo, hi, self.seed)
        hit = pair_rng[:, 0] < self.background_rate
        eps += np.where(hit, self.background_sd * _normal_from_uniform(pair_rng[:, 1]), 0.0)
        return eps


def _pair_uniforms(lo: np.ndarray, hi: np.ndarray, seed: int) -> np.ndarray:
    """Two deterministic uniforms per unordered pair (a hash, so order of calls never matters)."""
    key = (lo.astype(np.uint64) << np.uint64(32)) ^ hi.astype(np.uint64) ^ np.uint64(seed * 0x9E3779B1)
    out = np.empty((len(key), 2))
    for i, salt in enumerate((np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))):
        z = (key + salt) * np.uint64(0x9E3779B97F4A7C15)
        z ^= z >> np.uint64(31)
        z *= np.uint64(0xD6E8FEB86659FD93)
        z ^= z >> np.uint64(29)
        out[:, i] = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out


def _normal_from_uniform(u: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


def build_interaction_truth(
    genes: list[str],
    go_process: pd.DataFrame,
    seed: int,
    config: InteractionTruthConfig = InteractionTruthConfig(),
) -> InteractionTruth:
    """Draw the truth's parameters for `genes` from their GO process annotations.

    `go_process` has columns `systematic_name`, `go_id` (biological process only).
    """
    rng = np.random.default_rng(seed)
    index = {g: i for i, g in enumerate(genes)}
    annotations = go_process[go_process["systematic_name"].isin(index)]
    annotations = annotations[annotations["go_id"] != GO_BIOLOGICAL_PROCESS_ROOT]
    annotations = annotations.drop_duplicates(["systematic_name", "go_id"])
    sizes = annotations.groupby("go_id").size()
    kept = sizes[(sizes >= config.min_term_genes) & (sizes <= config.max_term_genes)].index
    term_ids = sorted(kept)
    term_index = {t: j for j, t in enumerate(term_ids)}
    matrix = np.zeros((len(genes), len(term_ids)), dtype=np.float64)
    kept_rows = annotations[annotations["go_id"].isin(term_index)]
    matrix[
        kept_rows["systematic_name"].map(index).to_numpy(),
        kept_rows["go_id"].map(term_index).to_numpy(),
    ] = 1.0

    kind = rng.random(len(term_ids))
    effect = np.zeros(len(term_ids))
    negative = kind < config.negative_term_fraction
    positive = (kind >= config.negative_term_fraction) & (
        kind < config.negative_term_fraction + config.positive_term_fraction
    )
    effect[negative] = -rng.exponential(config.negative_effect_mean, negative.sum())
    effect[positive] = rng.exponential(config.positive_effect_mean, positive.sum())
    return InteractionTruth(
        genes=list(genes),
        term_matrix=matrix,
        term_ids=term_ids,
        term_effect=effect,
        hub=rng.lognormal(0.0, config.hub_sigma, len(genes)),
        tendency=rng.normal(0.0, config.gene_tendency_sd, len(genes)),
        background_rate=config.background_rate,
        background_sd=config.background_sd,
        seed=seed,
    )
