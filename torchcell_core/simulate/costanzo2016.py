"""Simulate a Costanzo 2016 screen and write it in the exact released formats.

Real genes from the reference gene table; a deterministic subset is *designated*
essential (about 17%, as in S288C; the designation is simulated). Essential genes are
screened as temperature-sensitive alleles (`tsq`/`tsa`), the rest as deletions
(`sn` queries, `dma` arrays). Each double mutant is measured as 4 colonies with noise;
the released ε is f_ab − f_a·f_b from the measured values, as in the real release.
The noise-free truth is written beside the files (`truth_*.parquet`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from torchcell_core.simulate.interaction_truth import (
    InteractionTruthConfig,
    build_interaction_truth,
)
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS, SMF_COLUMNS, SMF_FILE

SIMULATOR_VERSION = "1"
MANIFEST = "SIMULATED.json"
TRUTH_PAIRS = "truth_pairs.parquet"
TRUTH_SMF = "truth_smf.parquet"
COLONIES = 4


@dataclass(frozen=True)
class Costanzo2016SimConfig:
    """Sizes and noise of the simulated screen (defaults run in about a minute)."""

    seed: int = 2016
    n_deletion_arrays: int = 360
    n_ts_arrays: int = 90
    n_deletion_queries: int = 150  # drawn from the deletion-array genes, as in the real NxN
    n_ts_queries: int = 45  # drawn from the TS-array genes
    colony_noise_sd: float = 0.045
    essential_fraction: float = 0.17
    missing_fraction: float = 0.03
    truth: InteractionTruthConfig = field(default_factory=InteractionTruthConfig)


def _candidate_genes(genes: pd.DataFrame, go: pd.DataFrame) -> pd.DataFrame:
    """Protein-coding genes with at least one experimentally backed GO process term."""
    informative = go[(go["aspect"] == "P") & (go["go_id"] != "GO:0008150") & (go["evidence"] != "ND")]
    coding = genes[(genes["feature_type"] == "CDS") & genes["systematic_name"].isin(informative["systematic_name"])]
    return coding.sort_values("systematic_name").reset_index(drop=True)


def _allele_name(row, kind: str, number: int) -> str:
    base = (row.standard_name if isinstance(row.standard_name, str) else row.systematic_name).lower()
    return f"{base}-{number % 97 + 1}" if kind in ("tsq", "tsa") else base


def simulate_costanzo2016(
    genes: pd.DataFrame, go: pd.DataFrame, out_dir: str | Path, config: Costanzo2016SimConfig = Costanzo2016SimConfig()
) -> dict[str, object]:
    """Write the SMF xlsx, three `SGA_*.txt` files, the truth and a manifest; return the manifest.

    `genes` is the reference gene table (pandas), `go` its GO annotations (one row each).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    candidates = _candidate_genes(genes, go)
    n_needed = config.n_deletion_arrays + config.n_ts_arrays
    if len(candidates) < n_needed:
        raise ValueError(f"only {len(candidates)} candidate genes for {n_needed} simulated arrays")
    chosen = candidates.iloc[np.sort(rng.choice(len(candidates), n_needed, replace=False))]
    order = rng.permutation(n_needed)
    ts_genes = chosen.iloc[order[: config.n_ts_arrays]]
    del_genes = chosen.iloc[order[config.n_ts_arrays :]]
    gene_list = list(chosen["systematic_name"])
    gene_index = {g: i for i, g in enumerate(gene_list)}
    truth = build_interaction_truth(gene_list, go[go["aspect"] == "P"], config.seed, config.truth)

    strains = _make_strains(rng, del_genes, ts_genes, config)
    smf = _true_single_fitness(rng, strains)
    measured = _measure_single_fitness(rng, smf, config)
    _write_smf_xlsx(out_dir / SMF_FILE, measured)

    smf_lookup = measured.set_index("strain")
    queries = strains[strains["role"] == "query"]
    arrays = strains[strains["role"] == "array"]
    by_kind = {kind: frame for kind, frame in pd.concat([queries, arrays]).groupby("kind")}
    # Released file → the (query kind, array kind, temperatures) screens it holds.
    screens = {
        "SGA_NxN.txt": [("sn", "dma", (30,))],
        "SGA_ExN_NxE.txt": [("tsq", "dma", (26,)), ("sn", "tsa", (26, 30))],
        "SGA_ExE.txt": [("tsq", "tsa", (26, 30))],
    }
    written: dict[str, int] = {}
    truth_frames = []
    for name, parts in screens.items():
        rows = pd.concat(
            [
                _screen_rows(rng, by_kind[q], by_kind[a], temps, truth, gene_index, smf_lookup, config)
                for q, a, temps in parts
            ],
            ignore_index=True,
        )
        _write_sga(out_dir / name, rows)
        written[name] = len(rows)
        truth_frames.append(rows[["query_gene", "array_gene", "epsilon_true"]])

    pairs = pd.concat(truth_frames, ignore_index=True)
    pairs["gene_a"] = np.minimum(pairs["query_gene"], pairs["array_gene"])
    pairs["gene_b"] = np.maximum(pairs["query_gene"], pairs["array_gene"])
    pairs = pairs.drop_duplicates(["gene_a", "gene_b"])[["gene_a", "gene_b", "epsilon_true"]]
    pairs.sort_values(["gene_a", "gene_b"]).to_parquet(out_dir / TRUTH_PAIRS, index=False)
    smf.to_parquet(out_dir / TRUTH_SMF, index=False)

    manifest = {
        "simulated": True,
        "simulator": "torchcell_core.simulate.costanzo2016",
        "simulator_version": SIMULATOR_VERSION,
        "format": "Costanzo 2016 release (strain_ids_and_single_mutant_fitness.xlsx, SGA_*.txt)",
        "essential_genes_are_designated_by_the_simulator": True,
        "config": asdict(config),
        "rows": written,
        "strains": len(strains),
        "genes": len(gene_list),
        "truth_terms": len(truth.term_ids),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _make_strains(rng, del_genes: pd.DataFrame, ts_genes: pd.DataFrame, config: Costanzo2016SimConfig) -> pd.DataFrame:
    rows = []
    counter = iter(range(1, 10**7))

    def add(gene_rows: pd.DataFrame, kind: str, role: str) -> None:
        for row in gene_rows.itertuples(index=False):
            number = next(counter)
            rows.append(
                {
                    "strain": f"{row.systematic_name}_{kind}{number}",
                    "gene": row.systematic_name,
                    "allele": _allele_name(row, kind, number),
                    "kind": kind,
                    "role": role,
                }
            )

    add(del_genes, "dma", "array")
    add(ts_genes, "tsa", "array")
    add(del_genes.iloc[np.sort(rng.choice(len(del_genes), config.n_deletion_queries, replace=False))], "sn", "query")
    add(ts_genes.iloc[np.sort(rng.choice(len(ts_genes), config.n_ts_queries, replace=False))], "tsq", "query")
    return pd.DataFrame(rows)


def _true_single_fitness(rng, strains: pd.DataFrame) -> pd.DataFrame:
    """True fitness at 26° and 30°: deletions mostly near 1, TS alleles sicker and worse at 30°."""
    n = len(strains)
    is_ts = strains["kind"].isin(["tsq", "tsa"]).to_numpy()
    deletion = np.clip(1.0 - rng.gamma(0.7, 0.09, n), 0.3, 1.1)
    ts26 = np.clip(rng.normal(0.82, 0.10, n), 0.35, 1.05)
    f26 = np.where(is_ts, ts26, np.clip(deletion + rng.normal(0, 0.015, n), 0.3, 1.1))
    f30 = np.where(is_ts, ts26 * rng.uniform(0.65, 0.95, n), deletion)
    return pd.DataFrame({"strain": strains["strain"], "gene": strains["gene"], "kind": strains["kind"],
                         "allele": strains["allele"], "smf_26": f26, "smf_30": f30})  # fmt: skip


def _measure_single_fitness(rng, smf: pd.DataFrame, config: Costanzo2016SimConfig) -> pd.DataFrame:
    out = smf.copy()
    for temp in ("26", "30"):
        colonies = out[f"smf_{temp}"].to_numpy()[:, None] + rng.normal(
            0, config.colony_noise_sd / 2, (len(out), COLONIES)
        )
        out[f"smf_{temp}"] = np.clip(colonies.mean(axis=1), 0.0, 2.0)
        out[f"smf_{temp}_std"] = colonies.std(axis=1, ddof=1)
    return out


def _write_smf_xlsx(path: Path, measured: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {
            SMF_COLUMNS[0]: measured["strain"],
            SMF_COLUMNS[1]: measured["gene"],
            SMF_COLUMNS[2]: measured["allele"],
            SMF_COLUMNS[3]: measured["smf_26"].round(4),
            SMF_COLUMNS[4]: measured["smf_26_std"].round(4),
            SMF_COLUMNS[5]: measured["smf_30"].round(4),
            SMF_COLUMNS[6]: measured["smf_30_std"].round(4),
        }
    )
    frame.to_excel(path, index=False, engine="openpyxl")


def _screen_rows(rng, queries, arrays, temperatures, truth, gene_index, smf_lookup, config) -> pd.DataFrame:
    """Every query × array (different genes) at each temperature, measured with colony noise."""
    q = queries.reset_index(drop=True)
    a = arrays.reset_index(drop=True)
    qi, ai = np.meshgrid(np.arange(len(q)), np.arange(len(a)), indexing="ij")
    qi, ai = qi.ravel(), ai.ravel()
    keep = q["gene"].to_numpy()[qi] != a["gene"].to_numpy()[ai]
    keep &= rng.random(len(qi)) >= config.missing_fraction
    qi, ai = qi[keep], ai[keep]
    eps_true = truth.epsilon(q["gene"].map(gene_index).to_numpy()[qi], a["gene"].map(gene_index).to_numpy()[ai])
    array_type = "TSA" if (a["kind"] == "tsa").all() else "DMA"
    frames = []
    for temp in temperatures:
        f_q = smf_lookup.loc[q["strain"], f"smf_{temp}"].to_numpy()[qi]
        f_a = smf_lookup.loc[a["strain"], f"smf_{temp}"].to_numpy()[ai]
        dmf_true = np.clip(f_q * f_a + eps_true, 0.0, None)
        colonies = np.clip(dmf_true[:, None] + rng.normal(0, config.colony_noise_sd, (len(qi), COLONIES)), 0.0, None)
        dmf = colonies.mean(axis=1)
        dmf_std = colonies.std(axis=1, ddof=1)
        epsilon = dmf - f_q * f_a
        t = epsilon / np.maximum(dmf_std / np.sqrt(COLONIES), 1e-6)
        p_value = 2 * stats.t.sf(np.abs(t), df=COLONIES - 1)
        frames.append(
            pd.DataFrame(
                {
                    "query_strain": q["strain"].to_numpy()[qi],
                    "query_allele": q["allele"].to_numpy()[qi],
                    "array_strain": a["strain"].to_numpy()[ai],
                    "array_allele": a["allele"].to_numpy()[ai],
                    "array_type_temp": f"{array_type}{temp}",
                    "epsilon": epsilon,
                    "p_value": p_value,
                    "query_smf": f_q,
                    "array_smf": f_a,
                    "dmf": dmf,
                    "dmf_std": dmf_std,
                    "query_gene": q["gene"].to_numpy()[qi],
                    "array_gene": a["gene"].to_numpy()[ai],
                    "epsilon_true": eps_true,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _write_sga(path: Path, rows: pd.DataFrame) -> None:
    released = rows[
        ["query_strain", "query_allele", "array_strain", "array_allele", "array_type_temp",
         "epsilon", "p_value", "query_smf", "array_smf", "dmf", "dmf_std"]
    ].copy()  # fmt: skip
    released.columns = list(SGA_COLUMNS)
    released.to_csv(path, sep="\t", index=False, float_format="%.6g", encoding="utf-8", lineterminator="\n")
