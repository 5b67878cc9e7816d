"""One seeded ground truth over the real S288C genome, from which every simulated file is drawn.

Genes are the real protein-coding genes. Their biology is simulated but shaped by real
GO annotations:
- modules: GO biological-process terms of 5–150 genes (real co-annotation), simulated
  protein complexes (subsets of real GO cellular-component terms) and simulated linear
  pathways (subsets of GO process terms);
- essential genes (about 1,100; designated by the simulator, favouring complex members);
- single-mutant fitness per gene (deletion) and per TS allele at 26° and 30°;
- digenic ε: negative within GO processes and between members of redundant pathway
  pairs, positive within complexes (losing a second subunit adds little), scaled by
  per-gene hub factors, plus a per-gene tendency and a sparse background;
- trigenic τ, a property of the triple (symmetric in its genes): negative where all three genes share a
  module; the structured digenic ε of its three pairs, amplified; a pair-specific sensitivity of each
  related pair (two genes sharing a module), which makes a Kuzmin query pair's rows alike, as the real
  screens' query-identity baseline shows; a small per-gene tendency; a sparse triple-specific background.
Everything is a pure function of the seed; pairs and triples are computed in blocks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from torchcell_core.simulate.hashing import pair_normal, triple_normal

PAIR_SENSITIVITY_SALT = 0x5EED_0001  # hashed draws of τ's pair and gene terms, apart from ε's background
GENE_TENDENCY_SALT = 0x5EED_0002
PROFILE_SALT = 0x5EED_0003

GO_PROCESS_ROOT = "GO:0008150"
TRANSCRIPTION_FACTOR_TERMS = ("GO:0003700", "GO:0000981", "GO:0001228", "GO:0001227")


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 2016
    n_essential: int = 1100
    n_complexes: int = 300
    n_pathways: int = 200
    process_term_sizes: tuple[int, int] = (5, 150)
    negative_term_fraction: float = 0.30
    positive_term_fraction: float = 0.10
    negative_effect_mean: float = 0.20
    positive_effect_mean: float = 0.05
    complex_effect_mean: float = 0.08
    redundant_pathway_effect: float = -0.15
    hub_sigma: float = 0.6
    tendency_sd: float = 0.0025  # per-gene additive ε: with whole query strains held out, ridge on genes ≈ 0.13
    background_rate: float = 0.05
    background_sd: float = 0.10
    # τ, calibrated on the simulated Kuzmin 2018 design to the real screens (README, "Simulator calibration"):
    # mean ≈ −0.05, sd ≈ 0.05; a query-pair identity baseline ≈ 0.38 on a random split; additive baselines
    # ≤ 0.15 with whole query pairs held out.
    trigenic_effect_mean: float = 0.156
    trigenic_offset: float = -0.035
    trigenic_background_rate: float = 0.3
    trigenic_background_sd: float = 0.058
    trigenic_epsilon_weight: float = 0.065  # × the sum of the three pairs' structured ε
    trigenic_pair_sd: float = 0.0078  # sd of each related pair's sensitivity to a third deletion
    trigenic_gene_sd: float = 0.0065  # sd of each gene's trigenic tendency
    trigenic_profile_weight: float = -0.039  # × the three pairs' functional-profile products (`World.profile`)
    profile_dim: int = 16
    epsilon_limit: float = 0.4  # |ε| saturates smoothly here: a double mutant cannot be fitter than 1.4 or below 0
    tau_limit: float = 0.3


@dataclass
class World:
    """Gene-level parameters; module membership as a sparse [num_genes, num_modules] matrix."""

    config: WorldConfig
    genes: pd.DataFrame  # systematic_name, standard_name, essential, hub, tendency, fitness columns
    membership: sp.csr_matrix  # [G, M] 0/1
    modules: pd.DataFrame  # module_id, kind (process/complex/pathway), source_term, size
    pair_effect: np.ndarray  # [M] ε contribution of sharing a module
    triple_effect: np.ndarray  # [M] τ contribution of three genes sharing a module
    redundant_pathways: np.ndarray  # [R, 2] module indices of redundant pathway pairs
    index: dict[str, int] = field(default_factory=dict)
    profile: np.ndarray | None = None  # [G, profile_dim] functional profile: module membership × random loadings

    def positions(self, names) -> np.ndarray:
        return np.fromiter((self.index[n] for n in names), dtype=np.int64, count=len(names))

    def epsilon_block(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """True ε for every pair in a × b (gene indices), shape [len(a), len(b)]; symmetric in a, b."""
        ma, mb = self.membership[a], self.membership[b]
        shared = (ma @ mb.T).toarray()  # [A, B] modules shared
        module = (ma.multiply(self.pair_effect) @ mb.T).toarray() / np.sqrt(np.maximum(shared, 1))
        if len(self.redundant_pathways):
            left = self.membership[:, self.redundant_pathways[:, 0]]
            right = self.membership[:, self.redundant_pathways[:, 1]]
            redundant = (left[a] @ right[b].T + right[a] @ left[b].T).toarray()
            module += self.config.redundant_pathway_effect * np.minimum(redundant, 1)
        hub = self.genes["hub"].to_numpy()
        tendency = self.genes["tendency"].to_numpy()
        eps = hub[a, None] * hub[None, b] * module + tendency[a, None] + tendency[None, b]
        eps += pair_normal(a[:, None], b[None, :], self.config.seed, self.config.background_rate) * (
            self.config.background_sd
        )
        eps = saturate(eps, self.config.epsilon_limit)
        eps[a[:, None] == b[None, :]] = 0.0
        return eps

    def epsilon_pairs(self, a: np.ndarray, b: np.ndarray, background: bool = True) -> np.ndarray:
        """True ε for aligned pairs (a[i], b[i]), shape [P]; `background=False` leaves out the sparse
        pair-specific background, the part no model of the genes' properties can predict."""
        ma, mb = self.membership[a], self.membership[b]
        both = ma.multiply(mb)
        shared = np.asarray(both.sum(axis=1)).ravel()
        module = np.asarray(both @ self.pair_effect).ravel() / np.sqrt(np.maximum(shared, 1))
        if len(self.redundant_pathways):
            left = self.membership[:, self.redundant_pathways[:, 0]]
            right = self.membership[:, self.redundant_pathways[:, 1]]
            redundant = np.asarray(left[a].multiply(right[b]).sum(axis=1) + right[a].multiply(left[b]).sum(axis=1))
            module += self.config.redundant_pathway_effect * np.minimum(redundant.ravel(), 1)
        hub = self.genes["hub"].to_numpy()
        tendency = self.genes["tendency"].to_numpy()
        eps = hub[a] * hub[b] * module + tendency[a] + tendency[b]
        if background:
            eps += pair_normal(a, b, self.config.seed, self.config.background_rate) * self.config.background_sd
        return np.where(a == b, 0.0, saturate(eps, self.config.epsilon_limit))

    def __post_init__(self) -> None:
        if self.profile is None:
            rng = np.random.default_rng([self.config.seed, PROFILE_SALT])
            loadings = rng.normal(0.0, 1.0, (self.membership.shape[1], self.config.profile_dim))
            profile = np.asarray(self.membership @ loadings)
            norm = np.sqrt(np.asarray(self.membership.sum(axis=1)).ravel())
            self.profile = profile / np.maximum(norm, 1.0)[:, None]  # a gene in many modules is not louder

    def profile_product(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """[P] functional-profile similarity of genes a[p], b[p]: dense, structured by shared and overlapping
        modules, and not a sum of per-gene effects."""
        return np.einsum("pd,pd->p", self.profile[a], self.profile[b]) / self.config.profile_dim

    def related(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """[P] bool: genes a[p] and b[p] share at least one module."""
        return np.asarray(self.membership[a].multiply(self.membership[b]).sum(axis=1)).ravel() > 0

    def tau_parts(self, i: np.ndarray, j: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
        """The additive parts of true τ for aligned triples, each [K] (before saturation): `module` (all three
        share a module), `pair_epsilon` (the three pairs' structured ε), `pair_sensitivity` (a hashed normal per
        related pair), `gene` (per-gene tendency), `profile` (the pairs' functional-profile products),
        `background` (sparse, triple-specific) and `offset`."""
        c = self.config
        shared = self.membership[i].multiply(self.membership[j]).multiply(self.membership[k])
        n = np.asarray(shared.sum(axis=1)).ravel()
        module = np.asarray(shared @ self.triple_effect).ravel() / np.sqrt(np.maximum(n, 1))
        hub = self.genes["hub"].to_numpy()
        pairs = ((i, j), (i, k), (j, k))
        salt = c.seed + PAIR_SENSITIVITY_SALT
        sensitivity = sum(self.related(a, b) * pair_normal(a, b, salt, 1.0) for a, b in pairs)
        gene = sum(pair_normal(g, g, c.seed + GENE_TENDENCY_SALT, 1.0) for g in (i, j, k))
        return {
            "module": hub[i] * hub[j] * hub[k] * module,
            "pair_epsilon": c.trigenic_epsilon_weight
            * sum(self.epsilon_pairs(a, b, background=False) for a, b in pairs),
            "pair_sensitivity": c.trigenic_pair_sd * sensitivity,
            "gene": c.trigenic_gene_sd * gene,
            "profile": c.trigenic_profile_weight * sum(self.profile_product(a, b) for a, b in pairs),
            "background": triple_normal(i, j, k, c.seed, c.trigenic_background_rate) * c.trigenic_background_sd,
            "offset": np.full(len(i), c.trigenic_offset),
        }

    def tau(self, i: np.ndarray, j: np.ndarray, k: np.ndarray, background: bool = True) -> np.ndarray:
        """True τ for aligned triples, shape [K]: the sum of `tau_parts`, saturated (`background=False`
        leaves out the sparse triple-specific background)."""
        parts = self.tau_parts(i, j, k)
        if not background:
            parts.pop("background")
        return saturate(sum(parts.values()), self.config.tau_limit)


def saturate(values: np.ndarray, limit: float) -> np.ndarray:
    """limit·tanh(x/limit): linear for small effects, bounded by ±limit."""
    return limit * np.tanh(values / limit)


def _process_terms(go: pd.DataFrame, genes: set[str], sizes: tuple[int, int]) -> pd.DataFrame:
    process = go[(go["aspect"] == "P") & (go["go_id"] != GO_PROCESS_ROOT) & (go["evidence"] != "ND")]
    process = process[process["systematic_name"].isin(genes)].drop_duplicates(["systematic_name", "go_id"])
    size = process.groupby("go_id")["systematic_name"].transform("size")
    return process[(size >= sizes[0]) & (size <= sizes[1])][["go_id", "systematic_name"]]


def _sampled_modules(rng, go: pd.DataFrame, genes: set[str], aspect: str, count: int, size_range) -> list[tuple]:
    """Simulated modules: random subsets of randomly chosen real GO terms of one aspect."""
    terms = go[(go["aspect"] == aspect) & go["systematic_name"].isin(genes) & (go["evidence"] != "ND")]
    members = terms.drop_duplicates(["go_id", "systematic_name"]).groupby("go_id")["systematic_name"].apply(sorted)
    members = members[members.apply(len) >= size_range[0]]
    chosen = rng.choice(len(members), size=min(count, len(members)), replace=False)
    modules = []
    for position in np.sort(chosen):
        term, pool = members.index[position], members.iloc[position]
        size = int(rng.integers(size_range[0], min(size_range[1], len(pool)) + 1))
        modules.append((term, list(rng.choice(pool, size=size, replace=False))))
    return modules


def build_world(genome: pd.DataFrame, go: pd.DataFrame, config: WorldConfig = WorldConfig()) -> World:
    """Draw the ground truth for every protein-coding gene of `genome` (the gene table)."""
    rng = np.random.default_rng(config.seed)
    coding = genome[genome["feature_type"] == "CDS"].sort_values("systematic_name").reset_index(drop=True)
    names = list(coding["systematic_name"])
    index = {g: i for i, g in enumerate(names)}
    gene_set = set(names)

    process = _process_terms(go, gene_set, config.process_term_sizes)
    rows = [("process", t, list(g)) for t, g in process.groupby("go_id")["systematic_name"]]
    rows += [("complex", t, g) for t, g in _sampled_modules(rng, go, gene_set, "C", config.n_complexes, (3, 15))]
    rows += [("pathway", t, g) for t, g in _sampled_modules(rng, go, gene_set, "P", config.n_pathways, (4, 20))]
    modules = pd.DataFrame(
        {
            "module_id": range(len(rows)),
            "kind": [r[0] for r in rows],
            "source_term": [r[1] for r in rows],
            "size": [len(r[2]) for r in rows],
        }
    )
    gene_idx = np.concatenate([[index[g] for g in r[2]] for r in rows])
    module_idx = np.repeat(np.arange(len(rows)), [len(r[2]) for r in rows])
    membership = sp.csr_matrix((np.ones(len(gene_idx)), (gene_idx, module_idx)), shape=(len(names), len(rows))).minimum(
        1.0
    )

    kind = modules["kind"].to_numpy()
    draw = rng.random(len(rows))
    pair_effect = np.zeros(len(rows))
    negative = (kind == "process") & (draw < config.negative_term_fraction)
    positive = (kind == "process") & (draw >= 1 - config.positive_term_fraction)
    pair_effect[negative] = -rng.exponential(config.negative_effect_mean, negative.sum())
    pair_effect[positive] = rng.exponential(config.positive_effect_mean, positive.sum())
    pair_effect[kind == "complex"] = rng.exponential(config.complex_effect_mean, (kind == "complex").sum())
    triple_effect = np.where(rng.random(len(rows)) < 0.4, -rng.exponential(config.trigenic_effect_mean, len(rows)), 0)
    pathways = np.flatnonzero(kind == "pathway")
    redundant = rng.permutation(pathways)[: 2 * (len(pathways) // 4)].reshape(-1, 2)

    in_complex = np.asarray(membership[:, kind == "complex"].sum(axis=1)).ravel() > 0
    weight = np.where(in_complex, 3.0, 1.0)
    essential = np.zeros(len(names), dtype=bool)
    essential[rng.choice(len(names), size=config.n_essential, replace=False, p=weight / weight.sum())] = True
    deletion = np.clip(1.0 - rng.gamma(0.7, 0.09, len(names)), 0.3, 1.1)
    ts26 = np.clip(rng.normal(0.82, 0.10, len(names)), 0.35, 1.05)
    genes = pd.DataFrame(
        {
            "systematic_name": names,
            "standard_name": coding["standard_name"].to_numpy(),
            "essential": essential,
            "hub": np.minimum(rng.lognormal(0.0, config.hub_sigma, len(names)), 3.0),
            "tendency": rng.normal(0.0, config.tendency_sd, len(names)),
            "fitness_deletion_30": np.where(essential, 0.0, deletion),
            "fitness_deletion_26": np.where(
                essential, 0.0, np.clip(deletion + rng.normal(0, 0.015, len(names)), 0.3, 1.1)
            ),
            "fitness_ts_26": np.where(essential, ts26, np.nan),
            "fitness_ts_30": np.where(essential, ts26 * rng.uniform(0.65, 0.95, len(names)), np.nan),
            "transcription_factor": coding["systematic_name"]
            .isin(go.loc[go["go_id"].isin(TRANSCRIPTION_FACTOR_TERMS), "systematic_name"])
            .to_numpy(),
        }
    )
    return World(config, genes, membership.tocsr(), modules, pair_effect, triple_effect, redundant, index)


def load_world(genome_parquet: str | Path, go_parquet: str | Path, world_json: str | Path) -> World:
    """Rebuild the ground truth a simulated release was drawn from (its `world.json` holds the config)."""
    saved = json.loads(Path(world_json).read_text())["config"]
    config = WorldConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    return build_world(pd.read_parquet(genome_parquet), pd.read_parquet(go_parquet), config)
