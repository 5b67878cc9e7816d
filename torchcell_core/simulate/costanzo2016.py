"""Simulate the Costanzo 2016 screens from a `World` and write them in the released formats.

Deletion queries (`sn`) and arrays (`dma`) cover non-essential genes; essential genes are
screened as temperature-sensitive alleles (`tsq`, `tsa`, several alleles per gene) and
DAmP arrays (`damp`). Each double mutant's fitness is f_a·f_b + ε_true + noise (the mean
of 4 colonies); the released ε is f_ab − f_a·f_b from the measured values, as in the
real release. The noise is calibrated so that two independent replicates of a screen
correlate at `target_replicate_r` (0.88 published for ε). Files are written block by
block (streaming, flat memory); the noise-free truth goes beside them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from torchcell_core.progress import LogTarget, progress
from torchcell_core.simulate.world import World
from torchcell_core.sources.costanzo2016 import SGA_COLUMNS, SMF_COLUMNS, SMF_FILE

SIMULATOR_VERSION = "2"
MANIFEST = "SIMULATED.json"
TRUTH_PAIRS = "truth_pairs.parquet"
TRUTH_SMF = "truth_smf.parquet"
COLONIES = 4
BLOCK_ROWS = 400_000
_RELEASED_SCHEMA = pa.schema([(c, pa.string() if i < 5 else pa.float64()) for i, c in enumerate(SGA_COLUMNS)])


@dataclass(frozen=True)
class ScreenSize:
    """Strains per role and the fraction of query × array pairs missing from each file."""

    deletion_arrays: int
    deletion_queries: int  # drawn from the deletion-array genes, as in the real NxN
    ts_array_strains: int
    ts_query_strains: int
    ts_query_genes: int
    damp_arrays: int
    missing: tuple[tuple[str, float], ...]


SIZES = {
    "demo": ScreenSize(
        360,
        150,
        90,
        50,
        45,
        30,
        (("SGA_NxN.txt", 0.03), ("SGA_ExN_NxE.txt", 0.03), ("SGA_ExE.txt", 0.03), ("SGA_DAmP.txt", 0.03)),
    ),
    # Costanzo scale: 3,589 × 3,892 NxN; 1,162 TS queries over 804 essential genes; about
    # 20.7M rows in all (NxN 12,698,939; ExN_NxE 5,796,145; ExE 818,570; DAmP 1,391,958).
    "full": ScreenSize(
        3892,
        3589,
        360,
        1162,
        804,
        390,
        (("SGA_NxN.txt", 0.0909), ("SGA_ExN_NxE.txt", 0.0017), ("SGA_ExE.txt", 0.0213), ("SGA_DAmP.txt", 0.0055)),
    ),
}

# Released file → the (query kind, array kind, temperatures) screens it holds.
SCREENS = {
    "SGA_NxN.txt": (("sn", "dma", (30,)),),
    "SGA_ExN_NxE.txt": (("tsq", "dma", (26,)), ("sn", "tsa", (26,))),
    "SGA_ExE.txt": (("tsq", "tsa", (26, 30)),),
    "SGA_DAmP.txt": (("sn", "damp", (30,)),),
}


def make_strains(world: World, size: ScreenSize, rng: np.random.Generator) -> pd.DataFrame:
    """Every simulated strain with its gene, allele name, kind and measured fitness at 26°/30°."""
    genes = world.genes
    nonessential = np.flatnonzero(~genes["essential"].to_numpy())
    essential = np.flatnonzero(genes["essential"].to_numpy())
    dma = np.sort(rng.choice(nonessential, size.deletion_arrays, replace=False))
    sn = np.sort(rng.choice(dma, size.deletion_queries, replace=False))
    ts_genes = np.sort(rng.choice(essential, size.ts_query_genes, replace=False))
    tsq = np.sort(np.concatenate([ts_genes, rng.choice(ts_genes, size.ts_query_strains - len(ts_genes))]))
    tsa = np.sort(rng.choice(essential, size.ts_array_strains, replace=False))
    damp = np.sort(rng.choice(essential, size.damp_arrays, replace=False))
    parts = [("dma", dma), ("sn", sn), ("tsq", tsq), ("tsa", tsa), ("damp", damp)]
    kind = np.concatenate([[k] * len(g) for k, g in parts])
    gene = np.concatenate([g for _, g in parts])
    number = np.arange(1, len(gene) + 1)
    names = genes["systematic_name"].to_numpy()[gene]
    standard = genes["standard_name"].to_numpy()[gene]
    base = np.where(pd.isna(standard), np.char.lower(names.astype(str)), pd.Series(standard).str.lower())
    is_ts = np.isin(kind, ["tsq", "tsa"])
    allele = np.where(is_ts, [f"{b}-{n % 97 + 1}" for b, n in zip(base, number, strict=True)], base)
    allele = np.where(kind == "damp", [f"{b}-damp" for b in base], allele)
    f26 = np.where(
        is_ts,
        genes["fitness_ts_26"].to_numpy()[gene] * rng.uniform(0.9, 1.1, len(gene)),
        genes["fitness_deletion_26"].to_numpy()[gene],
    )
    f30 = np.where(
        is_ts,
        genes["fitness_ts_30"].to_numpy()[gene] * rng.uniform(0.9, 1.1, len(gene)),
        genes["fitness_deletion_30"].to_numpy()[gene],
    )
    damp_fitness = rng.uniform(0.6, 0.95, len(gene))
    f26, f30 = np.where(kind == "damp", damp_fitness, f26), np.where(kind == "damp", damp_fitness, f30)
    frame = pd.DataFrame(
        {
            "strain": [f"{g}_{k}{n}" for g, k, n in zip(names, kind, number, strict=True)],
            "gene": names,
            "gene_index": gene,
            "kind": kind,
            "allele": allele,
            "true_26": np.clip(f26, 0.05, 1.2),
            "true_30": np.clip(f30, 0.05, 1.2),
        }
    )
    for temp in ("26", "30"):
        colonies = frame[f"true_{temp}"].to_numpy()[:, None] + rng.normal(0, 0.02, (len(frame), COLONIES))
        frame[f"smf_{temp}"] = np.clip(colonies.mean(axis=1), 0.0, 2.0)
        frame[f"smf_{temp}_std"] = colonies.std(axis=1, ddof=1)
    return frame


def calibrated_noise_sd(true_values: np.ndarray, target_r: float) -> float:
    """Noise sd at which two replicates correlate at `target_r`: r = var/(var + σ²)."""
    return float(np.sqrt(np.var(true_values) * (1.0 / target_r - 1.0)))


def _part_noise_sd(world: World, queries: pd.DataFrame, arrays: pd.DataFrame, target_r: float, rng) -> float:
    """Calibrate one screen (query kind × array kind) on a sample of its own pairs."""
    n = 100_000
    sample = world.epsilon_pairs(
        rng.choice(queries["gene_index"].to_numpy(), n), rng.choice(arrays["gene_index"].to_numpy(), n)
    )
    return calibrated_noise_sd(sample, target_r)


def _write_smf_xlsx(path: Path, strains: pd.DataFrame) -> None:
    values = [strains["strain"], strains["gene"], strains["allele"]]
    values += [strains[c].round(4) for c in ("smf_26", "smf_26_std", "smf_30", "smf_30_std")]
    pd.DataFrame(dict(zip(SMF_COLUMNS, values, strict=True))).to_excel(path, index=False, engine="openpyxl")


def _screen_blocks(world, queries, arrays, temperatures, missing, noise_sd, rng):
    """Yield (released rows as an Arrow table, truth columns, replicate pairs) per block of queries."""
    from scipy import stats  # here, not at import: scipy.stats costs the code location ~1 s to load

    per_block = max(1, BLOCK_ROWS // max(1, len(arrays)))
    array_type = "TSA" if arrays["kind"].iloc[0] == "tsa" else "DMA"
    for start in range(0, len(queries), per_block):
        q = queries.iloc[start : start + per_block]
        eps = world.epsilon_block(q["gene_index"].to_numpy(), arrays["gene_index"].to_numpy())
        qi, ai = np.nonzero(q["gene_index"].to_numpy()[:, None] != arrays["gene_index"].to_numpy()[None, :])
        keep = rng.random(len(qi)) >= missing
        qi, ai = qi[keep], ai[keep]
        eps_true = eps[qi, ai]
        for temp in temperatures:
            f_q = q[f"smf_{temp}"].to_numpy()[qi]
            f_a = arrays[f"smf_{temp}"].to_numpy()[ai]
            colonies = rng.normal(0.0, 2 * noise_sd, (len(qi), COLONIES))
            dmf = np.clip(f_q * f_a + eps_true + colonies.mean(axis=1), 0.0, 2.0)
            dmf_std = colonies.std(axis=1, ddof=1)
            epsilon = dmf - f_q * f_a
            t_stat = epsilon / np.maximum(dmf_std / np.sqrt(COLONIES), 1e-6)
            table = pa.table(
                [
                    q["strain"].to_numpy()[qi],
                    q["allele"].to_numpy()[qi],
                    arrays["strain"].to_numpy()[ai],
                    arrays["allele"].to_numpy()[ai],
                    np.full(len(qi), f"{array_type}{temp}"),
                    np.round(epsilon, 5),
                    np.round(2 * stats.t.sf(np.abs(t_stat), df=COLONIES - 1), 6),
                    np.round(f_q, 5),
                    np.round(f_a, 5),
                    np.round(dmf, 5),
                    np.round(dmf_std, 5),
                ],
                schema=_RELEASED_SCHEMA,
            )
            # An unwritten second screen, measured the same way, for the replicate correlation.
            replicate_dmf = np.clip(f_q * f_a + eps_true + rng.normal(0.0, noise_sd, len(qi)), 0.0, 2.0)
            replicate = replicate_dmf - f_q * f_a
            yield table, (q["gene"].to_numpy()[qi], arrays["gene"].to_numpy()[ai], eps_true), (epsilon, replicate)


def simulate_costanzo2016(
    world: World,
    out_dir: str | Path,
    size: str = "demo",
    seed: int = 2016,
    target_replicate_r: float = 0.88,
    log: LogTarget = None,
) -> dict:
    """Write the SMF xlsx, the four `SGA_*.txt` files, the truth and a manifest; return the manifest. Rows
    written so far (of an estimate) show as a bar on a terminal and, with `log`, as a line every 10 s."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    screen_size = SIZES[size]
    strains = make_strains(world, screen_size, rng)
    _write_smf_xlsx(out_dir / SMF_FILE, strains)
    by_kind = dict(tuple(strains.groupby("kind")))
    missing = dict(screen_size.missing)
    written: dict[str, int] = {}
    truth_raw = out_dir / "truth_pairs.raw.parquet"
    replicate_a, replicate_b = [], []
    noise_sds: dict[str, float] = {}
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    expected = sum(
        len(by_kind[q]) * len(by_kind[a]) * len(t) * (1 - missing[name])
        for name, parts in SCREENS.items()
        for q, a, t in parts
    )
    truth_schema = pa.schema([("gene_a", pa.string()), ("gene_b", pa.string()), ("epsilon_true", pa.float64())])
    with (
        pq.ParquetWriter(truth_raw, truth_schema) as truth_writer,
        progress(round(expected), f"simulate costanzo2016 ({size})", "rows", log) as bar,
    ):
        for number, (name, parts) in enumerate(SCREENS.items(), start=1):
            bar.set_note(f"file {number}/{len(SCREENS)} {name}")
            rows = 0
            with (
                open(out_dir / name, "wb") as handle,
                pacsv.CSVWriter(handle, _RELEASED_SCHEMA, write_options=options) as csv,
            ):
                handle.write(("\t".join(SGA_COLUMNS) + "\n").encode("utf-8"))
                for query_kind, array_kind, temps in parts:
                    queries, arrays = by_kind[query_kind], by_kind[array_kind]
                    noise_sd = _part_noise_sd(world, queries, arrays, target_replicate_r, rng)
                    noise_sds[f"{query_kind}x{array_kind}"] = noise_sd
                    blocks = _screen_blocks(world, queries, arrays, temps, missing[name], noise_sd, rng)
                    for table, (qg, ag, eps_true), (measured, replicate) in blocks:
                        csv.write_table(table)
                        rows += table.num_rows
                        bar.update(table.num_rows)
                        lo, hi = np.minimum(qg, ag), np.maximum(qg, ag)
                        truth_writer.write_table(pa.table({"gene_a": lo, "gene_b": hi, "epsilon_true": eps_true}))
                        pick = rng.random(len(measured)) < 0.1
                        replicate_a.append(measured[pick])
                        replicate_b.append(replicate[pick])
            written[name] = rows
    with duckdb.connect() as con:  # one row per pair (the same pair may appear in several files)
        con.sql(
            "SELECT gene_a, gene_b, min(epsilon_true) AS epsilon_true FROM read_parquet($raw) "
            "GROUP BY ALL ORDER BY gene_a, gene_b",
            params={"raw": str(truth_raw)},
        ).write_parquet(str(out_dir / TRUTH_PAIRS))
    truth_raw.unlink()
    strains.drop(columns=["gene_index"]).to_parquet(out_dir / TRUTH_SMF, index=False)
    achieved = float(np.corrcoef(np.concatenate(replicate_a), np.concatenate(replicate_b))[0, 1])
    manifest = {
        "simulated": True,
        "simulator": "torchcell_core.simulate.costanzo2016",
        "simulator_version": SIMULATOR_VERSION,
        "format": "Costanzo 2016 release (strain_ids_and_single_mutant_fitness.xlsx, SGA_*.txt)",
        "essential_genes_are_designated_by_the_simulator": True,
        "size": size,
        "seed": seed,
        "world": asdict(world.config),
        "rows": written,
        "strains": int(len(strains)),
        "noise": {
            "target_replicate_r": target_replicate_r,
            "noise_sd_per_screen": noise_sds,
            "replicate_r_achieved": achieved,
        },
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
