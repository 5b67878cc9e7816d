"""Simulate the Kuzmin 2018 and 2020 trigenic screens from a `World`, written as released.

As in the real screens, each double-mutant query (`ORF1+ORF2_tm<n>`) holds two functionally
related genes (mostly members of one module), and each query gene is also screened as a
single-mutant control carrying the neutral HO marker (`ORF+YDL227C_tm<n>`, `hoΔ`). Every query
is crossed to the same array strains (`dma` deletions, `tsa` TS alleles of essential genes):
controls give digenic rows (ε_ik), doubles give trigenic rows. Measured fitness is built on the
measured single/double mutant fitness, as in the Costanzo simulator:
    f_ik  = f_i·f_k + ε_ik + e_d
    f_ijk = f_i·f_j·f_k + ε_ij·f_k + ε_ik·f_j + ε_jk·f_i + τ_ijk + e_t
and the released adjusted τ is `trigenic_tau` of the measured f_ijk with the measured controls
(mean f_ik over control strains), so its error is e_t − f_j·ē_ik − f_i·ē_jk. The digenic noise is
calibrated to a replicate correlation of 0.88; e_t is sized per row so the total τ error gives 0.59
(the published τ noise ceiling). Files are written block by block; the truth goes beside them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from torchcell_core.progress import LogTarget, progress
from torchcell_core.simulate.costanzo2016 import COLONIES, MANIFEST, calibrated_noise_sd
from torchcell_core.simulate.world import World
from torchcell_core.sources.kuzmin2018 import DATA_S1_COLUMNS, DATA_S1_FILE, HO_MARKER
from torchcell_core.sources.kuzmin2020 import S1_FILE, S3_FILE, S5_FILE, SCREEN_TABLE_COLUMNS
from torchcell_core.sources.trigenic import digenic_epsilon, raw_trigenic_epsilon, trigenic_tau

SIMULATOR_VERSION = "1"
TRUTH_TRIPLES = "truth_triples.parquet"
TRUTH_PAIRS = "truth_kuzmin_pairs.parquet"
# One row per released trigenic measurement: its true τ and its oracle τ, the released score without the row's
# own colony noise (true τ plus the errors of the measured controls, which every row of that gene and array
# shares): the most any predictor can correlate with, the benchmark's `oracle_ceiling`.
TRUTH_MEASUREMENTS = "truth_kuzmin_measurements.parquet"
TARGET_TAU_R = 0.59
TARGET_EPSILON_R = 0.88
BLOCK_ROWS = 100_000
STRAIN_COLONY_SD = 0.02  # per-colony sd of single/double query and array fitness
FITNESS_CLIP = (-0.05, 2.0)  # dead combinations read slightly below zero
RELATED_FRACTION = 0.85  # query pairs drawn from one module; the rest are random pairs
MIN_QUERY_FITNESS = 0.3  # double-mutant queries must grow well enough to be screened
S5_COLUMNS = (
    "Mutant type",
    "Query Strain ID",
    "ORF1",
    "Gene1",
    "Allele1",
    "ORF2",
    "Gene2",
    "Allele2",
    "Fitness",
    "St.dev.",
)
_TSV_SCHEMA = pa.schema([(c, pa.string() if i < 5 else pa.float64()) for i, c in enumerate(DATA_S1_COLUMNS)])


@dataclass(frozen=True)
class ScreenDesign:
    double_queries: int
    control_strains: int  # single-mutant hoΔ controls; at least one per query gene
    missing: float  # fraction of query × array rows not released


@dataclass(frozen=True)
class KuzminSize:
    arrays_2018: int
    data_s1: ScreenDesign
    arrays_2020: int
    table_s1: ScreenDesign
    table_s3: ScreenDesign


# full: rows ≈ (controls + doubles) × arrays × (1 − missing); 2018 ≈ 410k digenic + 91k trigenic,
# 2020 Table S1 ≈ 795k rows. demo: 56 query pairs × 100 arrays (≈ 5,400 trigenic rows), enough query pairs for
# a held-out query split with a test fold of a few pairs.
KUZMIN_SIZES = {
    "demo": KuzminSize(100, ScreenDesign(24, 60, 0.03), 100, ScreenDesign(24, 60, 0.03), ScreenDesign(8, 20, 0.03)),
    "full": KuzminSize(
        1200, ScreenDesign(82, 360, 0.0505), 1200, ScreenDesign(200, 512, 0.0505), ScreenDesign(30, 60, 0.0505)
    ),
}


def _moments(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Running sums from which Pearson r is taken (`_pearson`), so blocks need not be kept."""
    return np.array([len(x), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()])


def _pearson(sums: np.ndarray) -> float:
    n, sx, sy, sxx, syy, sxy = sums
    return float((n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)))


@dataclass
class _Study:
    """Strains of one publication: arrays and measured strain fitness shared by its screens."""

    world: World
    arrays: pd.DataFrame  # strain, allele, gene_index, fitness
    fitness: np.ndarray  # [G] measured single-mutant fitness (rounded), this study's strains
    fitness_std: np.ndarray  # [G]
    query_genes: np.ndarray  # sorted gene indices of all query genes
    eps: np.ndarray  # [len(query_genes), arrays] true ε


def _text(*parts) -> np.ndarray:
    """Element-wise concatenation of strings, object arrays and numbers (as text)."""
    out = np.asarray("", dtype=object)
    for part in parts:
        part = np.asarray(part)
        out = out + (part.astype(str).astype(object) if part.dtype.kind in "iu" else part.astype(object))
    return out


def _gene_fitness(world: World) -> np.ndarray:
    """True single-mutant fitness: deletion at 30° (non-essential) or the TS allele at 26° (essential)."""
    genes = world.genes
    return np.where(genes["essential"], genes["fitness_ts_26"], genes["fitness_deletion_30"]).astype(np.float64)


def _alleles(world: World, idx: np.ndarray) -> np.ndarray:
    """`ntg1Δ` for deletions, `cdc28-4` for TS alleles (one allele number per gene)."""
    genes = world.genes.iloc[idx]
    base = genes["standard_name"].fillna(genes["systematic_name"]).str.lower().to_numpy(dtype=object)
    return np.where(genes["essential"].to_numpy(), _text(base, "-", (idx * 7) % 19 + 1), _text(base, "Δ"))


def _colonies(rng: np.random.Generator, centre: np.ndarray, sd) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of `COLONIES` colonies, each off by N(0, 2·sd), so the mean is off by N(0, sd)."""
    draws = rng.normal(0.0, 1.0, (len(centre), COLONIES)) * (2.0 * np.asarray(sd, dtype=np.float64)).reshape(-1, 1)
    return centre + draws.mean(axis=1), draws.std(axis=1, ddof=1)


def _query_pairs(world: World, n: int, rng: np.random.Generator, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`n` distinct viable gene pairs (a before b by name): two members of one module, or random."""
    genes = len(world.genes)
    modules = world.membership.tocsc()
    sizes = np.diff(modules.indptr)
    weight = np.where(world.modules["kind"].to_numpy() == "process", 1.0, 3.0) * (sizes >= 2)
    draws = 20 * n + 100
    module = rng.choice(len(sizes), draws, p=weight / weight.sum())
    size = sizes[module]
    first = (rng.random(draws) * size).astype(np.int64)
    second = (first + 1 + (rng.random(draws) * (size - 1)).astype(np.int64)) % size
    related = rng.random(draws) < RELATED_FRACTION
    a = np.where(related, modules.indices[modules.indptr[module] + first], rng.integers(0, genes, draws))
    b = np.where(related, modules.indices[modules.indptr[module] + second], rng.integers(0, genes, draws))
    a, b = np.minimum(a, b), np.maximum(a, b)  # world genes are sorted by systematic name
    true = _gene_fitness(world)
    viable = true[a] * true[b] + world.epsilon_pairs(a, b) >= MIN_QUERY_FITNESS
    ho = world.index.get(HO_MARKER, -1)
    key = a * genes + b
    ok = (a != b) & (a != ho) & (b != ho) & viable & ~np.isin(key, exclude)
    _, first_seen = np.unique(key[ok], return_index=True)
    chosen = np.flatnonzero(ok)[np.sort(first_seen)][:n]
    if len(chosen) < n:
        raise ValueError(f"only {len(chosen)} distinct viable query pairs found, {n} asked")
    return a[chosen], b[chosen]


def _make_study(world: World, pairs: list[tuple[np.ndarray, np.ndarray]], n_arrays: int, rng) -> _Study:
    """Arrays (half related to the query genes, as a diagnostic array would be) and measured fitness."""
    query_genes = np.unique(np.concatenate([np.concatenate(p) for p in pairs]))
    related = np.asarray((world.membership[query_genes].sum(axis=0) @ world.membership.T) > 0).ravel()
    pool = ~world.genes["systematic_name"].eq(HO_MARKER).to_numpy()
    near, far = np.flatnonzero(pool & related), np.flatnonzero(pool & ~related)
    n_near = min(len(near), n_arrays // 2)
    chosen = np.sort(np.concatenate([rng.choice(near, n_near, False), rng.choice(far, n_arrays - n_near, False)]))
    true = _gene_fitness(world)
    mean, std = _colonies(rng, true, STRAIN_COLONY_SD)
    fitness, fitness_std = np.round(np.clip(mean, 0.05, 1.5), 5), np.round(std, 5)
    kind = np.where(world.genes["essential"].to_numpy()[chosen], "tsa", "dma")
    names = world.genes["systematic_name"].to_numpy()[chosen]
    strain = _text(names, "_", kind, np.arange(1, len(chosen) + 1))
    arrays = pd.DataFrame({"strain": strain, "allele": _alleles(world, chosen), "gene_index": chosen})
    arrays["fitness"] = fitness[chosen]
    return _Study(world, arrays, fitness, fitness_std, query_genes, world.epsilon_block(query_genes, chosen))


def _make_queries(study: _Study, a: np.ndarray, b: np.ndarray, design: ScreenDesign, rng, first: int):
    """Double-mutant and control query strains of one screen, numbered from `first`."""
    world = study.world
    names = world.genes["systematic_name"].to_numpy()
    eps = world.epsilon_pairs(a, b)
    f_ij, f_ij_std = _colonies(rng, study.fitness[a] * study.fitness[b] + eps, STRAIN_COLONY_SD)
    strain = _text(names[a], "+", names[b], "_tm", first + np.arange(len(a)))
    doubles = pd.DataFrame({"strain": strain, "allele": _text(_alleles(world, a), "+", _alleles(world, b))})
    doubles["i"], doubles["j"] = a, b
    doubles["fitness"], doubles["fitness_std"] = np.round(np.clip(f_ij, 0.05, 1.5), 5), np.round(f_ij_std, 5)
    genes = np.unique(np.concatenate([a, b]))
    extra = rng.multinomial(max(design.control_strains - len(genes), 0), np.full(len(genes), 1 / len(genes)))
    gene = np.repeat(genes, 1 + extra)
    marker_first = rng.random(len(gene)) < 0.5  # both marker orientations exist, as in the release
    strain = np.where(marker_first, _text(HO_MARKER, "+", names[gene]), _text(names[gene], "+", HO_MARKER))
    allele = np.where(marker_first, _text("hoΔ+", _alleles(world, gene)), _text(_alleles(world, gene), "+hoΔ"))
    strain = _text(strain, "_tm", first + len(a) + np.arange(len(gene)))
    controls = pd.DataFrame({"strain": strain, "allele": allele, "i": gene})
    return doubles, controls


def _released(queries, qi, arrays, ai, kind, raw, adjusted, se, f_query, f_array, combined, std) -> list:
    """The 12 released columns of a block, in the Data S1 order; P from a t-test over the colonies."""
    from scipy import stats  # here, not at import: scipy.stats costs the code location ~1 s to load

    p_value = np.round(2 * stats.t.sf(np.abs(adjusted) / np.maximum(se, 1e-6), df=COLONIES - 1), 6)
    strains = [frame[c].to_numpy()[rows] for frame, rows in ((queries, qi), (arrays, ai)) for c in ("strain", "allele")]
    kinds = np.full(len(qi), kind, dtype=object)
    return [*strains, kinds, raw, adjusted, p_value, f_query, f_array, combined, np.round(std, 5)]


def _screen_blocks(study: _Study, doubles, controls, design: ScreenDesign, noise: dict, rng, truth: dict, source: str):
    """Yield the released columns (digenic blocks, then trigenic ones) of one screen, as 12 arrays;
    once exhausted, `noise` holds the calibration and the achieved correlations."""
    corr = {name: np.zeros(6) for name in ("epsilon", "epsilon_truth", "tau", "tau_truth")}
    world, arrays, f = study.world, study.arrays, study.fitness
    k_all, f_k_all = arrays["gene_index"].to_numpy(), arrays["fitness"].to_numpy()
    n_arr = len(arrays)
    position = np.searchsorted(study.query_genes, np.arange(len(world.genes)))  # gene → row of study.eps
    sums = np.zeros((len(study.query_genes), n_arr))
    counts = np.zeros((len(study.query_genes), n_arr), dtype=np.int64)
    sd_d = calibrated_noise_sd(study.eps[position[np.unique(controls["i"])]].ravel(), TARGET_EPSILON_R)
    per = max(1, BLOCK_ROWS // n_arr)
    for start in range(0, len(controls), per):
        block = controls.iloc[start : start + per]
        qi, ai = np.nonzero(block["i"].to_numpy()[:, None] != k_all[None, :])
        keep = rng.random(len(qi)) >= design.missing
        qi, ai = qi[keep], ai[keep]
        gene = block["i"].to_numpy()[qi]
        f_i, f_k, eps = f[gene], f_k_all[ai], study.eps[position[gene], ai]
        measured, std = _colonies(rng, f_i * f_k + eps, sd_d)
        combined = np.round(np.clip(measured, *FITNESS_CLIP), 5)
        score = np.round(digenic_epsilon(combined, f_i, f_k), 6)
        flat = position[gene] * n_arr + ai
        sums += np.bincount(flat, combined, sums.size).reshape(sums.shape)
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
        # An unwritten second replicate: the same strains measured again, floored alike.
        again = np.clip(f_i * f_k + eps + rng.normal(0.0, sd_d, len(eps)), *FITNESS_CLIP) - f_i * f_k
        corr["epsilon"] += _moments(score, again)
        corr["epsilon_truth"] += _moments(score, eps)
        se = std / np.sqrt(COLONIES)
        yield _released(block, qi, arrays, ai, "digenic", score, score, se, f_i, f_k, combined, std)
    pair_rows, pair_arrays = np.nonzero(counts)
    truth["pairs"] += [np.stack([study.query_genes[pair_rows], k_all[pair_arrays]]), doubles[["i", "j"]].to_numpy().T]

    i, j = doubles[["i", "j"]].to_numpy()[rng.integers(0, len(doubles), 100_000)].T
    k = k_all[rng.integers(0, n_arr, 100_000)]
    taus = world.tau(i, j, k)[(k != i) & (k != j)]  # calibrate on the triples that are screened
    sd_total = calibrated_noise_sd(taus, TARGET_TAU_R)
    clipped = floored = 0
    for start in range(0, len(doubles), per):
        block = doubles.iloc[start : start + per]
        i_all, j_all = block["i"].to_numpy(), block["j"].to_numpy()
        qi, ai = np.nonzero((i_all[:, None] != k_all[None, :]) & (j_all[:, None] != k_all[None, :]))
        i, j, k = i_all[qi], j_all[qi], k_all[ai]
        n_ik, n_jk = counts[position[i], ai], counts[position[j], ai]
        keep = (rng.random(len(qi)) >= design.missing) & (n_ik > 0) & (n_jk > 0)
        qi, ai, i, j, k, n_ik, n_jk = (x[keep] for x in (qi, ai, i, j, k, n_ik, n_jk))
        f_i, f_j, f_k = f[i], f[j], f_k_all[ai]
        f_ij = block["fitness"].to_numpy()[qi]
        eps_ik, eps_jk = study.eps[position[i], ai], study.eps[position[j], ai]
        tau = world.tau(i, j, k)
        propagated = sd_d**2 * (f_j**2 / n_ik + f_i**2 / n_jk)  # control error carried into τ
        clipped += int((propagated > sd_total**2).sum())
        sd_t = np.sqrt(np.maximum(sd_total**2 - propagated, 0.0))
        expected = f_ij * f_k + eps_ik * f_j + eps_jk * f_i + tau  # = f_i f_j f_k + ε_ij f_k + ... with measured ε_ij
        measured, std = _colonies(rng, expected, sd_t)
        combined = np.round(np.clip(measured, *FITNESS_CLIP), 5)
        f_ik, f_jk = sums[position[i], ai] / n_ik, sums[position[j], ai] / n_jk  # mean over control strains
        raw = np.round(raw_trigenic_epsilon(combined, f_ij, f_k), 6)
        adjusted = np.round(trigenic_tau(combined, f_i, f_j, f_k, f_ij, f_ik, f_jk), 6)
        se = np.sqrt(std**2 / COLONIES + propagated)
        again = np.clip(expected + rng.normal(0.0, 1.0, len(tau)) * sd_t, *FITNESS_CLIP) - expected
        corr["tau"] += _moments(adjusted, tau + again + rng.normal(0.0, 1.0, len(tau)) * np.sqrt(propagated))
        floored += int((combined <= FITNESS_CLIP[0]).sum())
        corr["tau_truth"] += _moments(adjusted, tau)
        truth["triples"].append(np.stack([i, j, k]))
        oracle = trigenic_tau(expected, f_i, f_j, f_k, f_ij, f_ik, f_jk)
        truth["measurements"].append((source, i, j, k, tau, oracle))
        yield _released(block, qi, arrays, ai, "trigenic", raw, adjusted, se, f_ij, f_k, combined, std)
    noise.update(
        epsilon_noise_sd=sd_d,
        tau_noise_sd_total=sd_total,
        tau_rows_noise_clipped=clipped,  # rows whose control error alone exceeds the τ noise budget
        tau_rows_floored=floored,  # rows read as dead (combined fitness at the floor)
        epsilon_replicate_r_achieved=_pearson(corr["epsilon"]),  # target 0.88
        tau_replicate_r_achieved=_pearson(corr["tau"]),  # target 0.59
        epsilon_truth_r=_pearson(corr["epsilon_truth"]),  # expected about sqrt(0.88) = 0.94
        tau_truth_r=_pearson(corr["tau_truth"]),  # expected about sqrt(0.59) = 0.77
    )


def _count(rows: dict[str, int], values: np.ndarray) -> None:
    for value, count in pd.Series(values).value_counts(sort=False).items():
        rows[value] = rows.get(value, 0) + int(count)


def _write_tsv(path: Path, blocks) -> dict[str, int]:
    rows: dict[str, int] = {}
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    with open(path, "wb") as handle, pacsv.CSVWriter(handle, _TSV_SCHEMA, write_options=options) as csv:
        handle.write(("\t".join(DATA_S1_COLUMNS) + "\n").encode("utf-8"))
        for columns in blocks:
            csv.write_table(pa.table(columns, schema=_TSV_SCHEMA))
            _count(rows, columns[4])
    return rows


def _write_xlsx(path: Path, title: str, header, blocks, type_column: int) -> dict[str, int]:
    """First sheet: a title on row 1, the header on row 2, then the rows (write-only, flat memory);
    returns the rows written per value of column `type_column`."""
    rows: dict[str, int] = {}
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Sheet1")
    sheet.append([title])
    sheet.append(list(header))
    for columns in blocks:
        as_lists = [pd.Series(c, dtype=object).where(pd.notna(c), None).tolist() for c in columns]
        for row in zip(*as_lists, strict=True):  # openpyxl offers no bulk append
            sheet.append(row)
        _count(rows, columns[type_column])
    book.save(path)
    return rows


def _s5_frame(study: _Study, doubles: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """Table S5: fitness of every single (control) and double mutant query strain."""
    genes = study.world.genes
    names = genes["systematic_name"].to_numpy(dtype=object)
    standard = genes["standard_name"].fillna(genes["systematic_name"]).to_numpy(dtype=object)

    def gene(idx, n):
        return {f"ORF{n}": names[idx], f"Gene{n}": standard[idx], f"Allele{n}": _alleles(study.world, idx)}

    c, i, j = controls["i"].to_numpy(), doubles["i"].to_numpy(), doubles["j"].to_numpy()
    single = pd.DataFrame(
        {
            "Mutant type": "Single mutant",
            "Query Strain ID": controls["strain"],
            **gene(c, 1),
            "Fitness": study.fitness[c],
            "St.dev.": study.fitness_std[c],
        }
    )
    double = pd.DataFrame(
        {
            "Mutant type": "Double mutant",
            "Query Strain ID": doubles["strain"],
            **gene(i, 1),
            **gene(j, 2),
            "Fitness": doubles["fitness"],
            "St.dev.": doubles["fitness_std"],
        }
    )
    return pd.concat([single, double], ignore_index=True)[list(S5_COLUMNS)]


def _write_truth(world: World, out_dir: Path, truth: dict) -> dict[str, int]:
    names = world.genes["systematic_name"].to_numpy(dtype=object)
    genes = np.int64(len(names))
    a, b = np.concatenate(truth["pairs"], axis=1).astype(np.int64)
    key = np.unique(np.minimum(a, b) * genes + np.maximum(a, b))
    lo, hi = key // genes, key % genes
    pd.DataFrame({"gene_a": names[lo], "gene_b": names[hi], "epsilon_true": world.epsilon_pairs(lo, hi)}).to_parquet(
        out_dir / TRUTH_PAIRS, index=False
    )
    triples = np.concatenate(truth["triples"], axis=1).astype(np.int64)
    key = np.unique((triples[0] * genes + triples[1]) * genes + triples[2])
    i, j, k = key // (genes * genes), (key // genes) % genes, key % genes
    pd.DataFrame(
        {"query_gene_1": names[i], "query_gene_2": names[j], "array_gene": names[k], "tau_true": world.tau(i, j, k)}
    ).to_parquet(out_dir / TRUTH_TRIPLES, index=False)
    measured = [
        pd.DataFrame(
            {
                "source_file": source,
                "query_gene_1": names[a],
                "query_gene_2": names[b],
                "array_gene": names[c],
                "tau_true": tau,
                "tau_oracle": oracle,
            }
        )
        for source, a, b, c, tau, oracle in truth["measurements"]
    ]
    pd.concat(measured, ignore_index=True).to_parquet(out_dir / TRUTH_MEASUREMENTS, index=False)
    return {TRUTH_PAIRS: len(lo), TRUTH_TRIPLES: len(i), TRUTH_MEASUREMENTS: sum(len(m) for m in measured)}


def simulate_kuzmin(
    world: World, out_dir: str | Path, size: str = "demo", seed: int = 2018, log: LogTarget = None
) -> dict:
    """Write Data S1 (2018), Tables S1, S3, S5 (2020), the truth and a manifest; return the manifest (with `log`,
    a line per 10 s of the files written so far)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = KUZMIN_SIZES[size]
    truth: dict = {"pairs": [], "triples": [], "measurements": []}
    rows, noise = {}, {}
    genes = len(world.genes)
    tag = "SIMULATED data (torchcell_core.simulate.kuzmin), not the published screen"
    bar = progress(5, f"simulate kuzmin ({size})", "files", log)  # Data S1, Tables S1, S3, S5, the truth

    rng = np.random.default_rng([seed, 2018])
    a, b = _query_pairs(world, spec.data_s1.double_queries, rng, np.empty(0, np.int64))
    study = _make_study(world, [(a, b)], spec.arrays_2018, rng)
    doubles, controls = _make_queries(study, a, b, spec.data_s1, rng, first=1001)
    noise[DATA_S1_FILE] = {}
    blocks = _screen_blocks(study, doubles, controls, spec.data_s1, noise[DATA_S1_FILE], rng, truth, DATA_S1_FILE)
    rows[DATA_S1_FILE] = _write_tsv(out_dir / DATA_S1_FILE, blocks)
    bar.update(1)

    rng = np.random.default_rng([seed, 2020])
    a1, b1 = _query_pairs(world, spec.table_s1.double_queries, rng, np.empty(0, np.int64))
    a3, b3 = _query_pairs(world, spec.table_s3.double_queries, rng, a1 * genes + b1)  # S3 pairs differ from S1
    study = _make_study(world, [(a1, b1), (a3, b3)], spec.arrays_2020, rng)
    queries = [_make_queries(study, a1, b1, spec.table_s1, rng, first=2001)]
    queries.append(_make_queries(study, a3, b3, spec.table_s3, rng, first=2001 + len(queries[0][1]) + len(a1)))
    screens = ((S1_FILE, "S1", spec.table_s1), (S3_FILE, "S3", spec.table_s3))
    for (doubles, controls), (name, label, design) in zip(queries, screens, strict=True):
        noise[name] = {}
        blocks = _screen_blocks(study, doubles, controls, design, noise[name], rng, truth, name)
        title = f"Table {label}. Trigenic interaction screen. {tag}."
        rows[name] = _write_xlsx(out_dir / name, title, SCREEN_TABLE_COLUMNS, blocks, 4)
        bar.update(1)
    s5 = pd.concat([_s5_frame(study, d, c) for d, c in queries], ignore_index=True)
    s5_columns = [s5[c].to_numpy(dtype=object) for c in S5_COLUMNS]
    title = f"Table S5. Query strain fitness. {tag}."
    rows[S5_FILE] = _write_xlsx(out_dir / S5_FILE, title, S5_COLUMNS, [s5_columns], 0)
    bar.update(1)

    truth_rows = _write_truth(world, out_dir, truth)
    bar.update(1)
    bar.close()
    manifest = {
        "simulated": True,
        "simulator": "torchcell_core.simulate.kuzmin",
        "simulator_version": SIMULATOR_VERSION,
        "format": "Kuzmin 2018 Data S1 (aao1729_data_s1.tsv); Kuzmin 2020 Tables S1, S3, S5 (aaz5667-Table-S*.xlsx)",
        "essential_genes_are_designated_by_the_simulator": True,
        "size": size,
        "seed": seed,
        "design": asdict(spec),
        "world": asdict(world.config),
        "rows": rows,
        "truth_rows": truth_rows,
        "noise": noise,
        "noise_targets": {"epsilon_replicate_r": TARGET_EPSILON_R, "tau_replicate_r": TARGET_TAU_R},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
