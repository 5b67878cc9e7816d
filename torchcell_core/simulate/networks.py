"""Simulate STRING, BioGRID and regulatory network files as noisy views of one `World`.

A "true" pair is two genes sharing a module of the world. Each network draws true pairs with
its own probability per module kind (complex, pathway, GO process) plus random noise pairs:
- STRING v9.1/v11.0/v12.0: experimental favours complexes, database pathways and complexes,
  coexpression processes (many edges); neighborhood, fusion and cooccurence are nearly noise.
  True pairs score higher. Later versions are supersets that add proportionally more noise.
- BioGRID TAB3: physical edges from complex pairs plus sticky-protein noise; genetic edges from
  tested pairs with strong true ε (|ε| > 0.08), so the genetic network LEAKS ε.
- Regulatory TSV: directed edges from real GO-annotated transcription factors, targets biased
  towards genes sharing a pathway or process with the factor.
At `full` size unique edge counts are calibrated to the published ones; a gene list or the
`demo` density scales them down. Output is a pure function of world and seed (gzip mtime 0).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import scipy.sparse as sp

from torchcell_core.networks.biogrid import BIOGRID_COLUMNS, SYSTEM, SYSTEM_TYPE, YEAST_S288C_TAXON
from torchcell_core.networks.regulatory import REGULATORY_COLUMNS
from torchcell_core.networks.string_db import SCORE_COLUMNS, STRING_COLUMNS, TAXON_PREFIX
from torchcell_core.progress import LogTarget, progress
from torchcell_core.simulate.world import World

SIMULATOR_VERSION, MANIFEST = "1", "SIMULATED.json"
BLOCK_ROWS = 500_000
KINDS = ("complex", "pathway", "process")
STRING_VERSIONS = ("9.1", "11.0", "12.0")
STRING_PRIOR = 0.041  # STRING's random-pair prior, removed before channels are combined
# Published unique undirected edges of S. cerevisiae (taxon 4932) per STRING version; later
# versions keep this share of true pairs (noise fills the rest of the published total).
PUBLISHED_STRING_EDGES = {"9.1": 616_242, "11.0": 1_123_968, "12.0": 2_060_495}
TRUE_KEPT = {"9.1": 0.70, "11.0": 0.85, "12.0": 1.0}
PUBLISHED_PHYSICAL_EDGES, PUBLISHED_REGULATORY_EDGES = 139_463, 37_800
STRONG_EPSILON = 0.08
GENETIC_TESTED = 0.5  # share of gene pairs ever screened for genetic interactions
GENETIC_REPORTED = 0.6  # share of strong tested pairs that reach BioGRID
GENETIC_FALSE_POSITIVES = 0.04  # random pairs, relative to the reported ones
REGULATORY_MATE_PROB = 0.2  # per gene sharing a pathway/process module with the factor
# Size -> density: the share of the full-size edges drawn when no gene list restricts the networks.
NETWORK_SIZES = {"demo": 0.02, "full": 1.0}


@dataclass(frozen=True)
class Channel:
    name: str
    full_edges: int  # unique edges at full size over the whole genome (STRING: v12.0)
    p_true: tuple[float, float, float]  # inclusion probability of complex, pathway, process pairs
    true_beta: tuple[float, float]  # Beta shapes of the scores of true and of noise pairs
    noise_beta: tuple[float, float]
    sticky: bool = False  # noise endpoints favour sticky (hub) genes


STRING_CHANNELS = (
    Channel("neighborhood", 146_713, (0.01, 0.02, 0.002), (1.5, 3.0), (1.0, 4.0)),
    Channel("fusion", 11_787, (0.015, 0.005, 0.0), (2.0, 3.0), (1.0, 4.0)),
    Channel("cooccurence", 11_085, (0.005, 0.015, 0.0), (2.0, 3.0), (1.0, 4.0)),
    Channel("coexpression", 996_199, (0.5, 0.6, 0.5), (3.0, 2.5), (1.0, 5.0)),
    Channel("experimental", 822_094, (0.95, 0.3, 0.4), (4.0, 1.5), (1.0, 5.0), sticky=True),
    Channel("database", 72_617, (0.95, 0.95, 0.15), (6.0, 1.5), (2.0, 3.0)),
    Channel("textmining", 250_000, (0.8, 0.7, 0.3), (3.0, 2.0), (1.0, 4.0)),
)
PHYSICAL = Channel("physical", PUBLISHED_PHYSICAL_EDGES, (0.85, 0.3, 0.08), (1, 1), (1, 1), sticky=True)
PHYSICAL_SYSTEMS = (
    ("Affinity Capture-MS", 0.55),
    ("Two-hybrid", 0.2),
    ("Affinity Capture-Western", 0.08),
    ("Reconstituted Complex", 0.05),
    ("PCA", 0.05),
    ("Co-purification", 0.04),
    ("Co-crystal Structure", 0.03),
)
EVIDENCE = ("ChIP-chip", "ChIP-seq", "Expression (microarray)", "Expression (RNA-seq)", "DNA binding motif")
N_STUDIES, N_HIGH_THROUGHPUT = 60, 12
STUDY_WEIGHTS = (1.0 / np.arange(1, N_STUDIES + 1)) / (1.0 / np.arange(1, N_STUDIES + 1)).sum()  # a few big studies
TAB3_SCHEMA = pa.schema([(c, pa.string()) for c in BIOGRID_COLUMNS])
YEAST_NAME = "Saccharomyces cerevisiae (S288c)"
STRING_FILE = "4932.protein.links.detailed.v{}.txt.gz"
BIOGRID_FILE = "BIOGRID-ORGANISM-Saccharomyces_cerevisiae_S288c-{}.tab3.txt"
REGULATORY_FILE = "regulatory_network.tsv"


@dataclass
class _Truth:
    n: int  # genes in the world; true pairs (sharing a module) are over all of them
    keys: np.ndarray  # sorted unique keys lo * n + hi of every true pair
    flags: np.ndarray  # [len(keys), 3] which kinds (complex, pathway, process) the pair shares
    active: np.ndarray  # sorted gene indices the networks cover
    in_play: np.ndarray  # [len(keys)] both genes active, and the pair drawn for this density
    density: float

    def is_true(self, keys: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.keys[at] == keys


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _truth(world: World, active: np.ndarray, density: float, rng: np.random.Generator) -> _Truth:
    """A density below 1 keeps one random subset of true pairs for every network, so channels
    still agree on the pairs they share."""
    n = world.membership.shape[0]
    kind = world.modules["kind"].to_numpy()
    per_kind = []
    for name in KINDS:
        sub = world.membership[:, kind == name]
        co = sp.triu(sub @ sub.T, k=1).tocoo()
        per_kind.append(co.row.astype(np.int64) * n + co.col)
    keys = np.unique(np.concatenate(per_kind))
    flags = np.stack([np.isin(keys, k) for k in per_kind], axis=1)
    mask = np.zeros(n, dtype=bool)
    mask[active] = True
    in_play = mask[keys // n] & mask[keys % n] & (rng.random(len(keys)) < density)
    return _Truth(n, keys, flags, active, in_play, density)


def _triangle_pairs(k: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), i < j, of linear indices `k` into the row-major upper triangle of an m × m matrix."""
    b = 2 * m - 1
    i = np.floor((b - np.sqrt(np.maximum(b * b - 8.0 * k, 0.0))) / 2).astype(np.int64)
    start = lambda r: r * m - r * (r + 1) // 2  # noqa: E731
    i -= k < start(i)  # float rounding, at most one row either way
    i += k >= start(i + 1)
    return i, k - start(i) + i + 1


def _random_pairs(rng: np.random.Generator, truth: _Truth, count: int, weights: np.ndarray | None) -> np.ndarray:
    """`count` distinct random pairs (sorted keys) among active genes; uniform, or endpoints drawn ∝ weights."""
    if weights is None:
        k = rng.choice(_pairs(len(truth.active)), min(int(count), _pairs(len(truth.active))), replace=False)
        i, j = _triangle_pairs(np.asarray(k, dtype=np.int64), len(truth.active))
        return np.sort(truth.active[i].astype(np.int64) * truth.n + truth.active[j])
    count = min(int(count), _pairs(len(truth.active)) // 2)
    p = weights[truth.active] / weights[truth.active].sum()
    keys = np.zeros(0, dtype=np.int64)
    while len(keys) < count:
        m = int((count - len(keys)) * 1.2) + 16
        a, b = rng.choice(truth.active, m, p=p), rng.choice(truth.active, m, p=p)
        ok = a != b
        keys = np.union1d(keys, np.minimum(a, b)[ok].astype(np.int64) * truth.n + np.maximum(a, b)[ok])
    return np.sort(rng.choice(keys, count, replace=False)) if len(keys) > count else keys


def _scores(rng: np.random.Generator, shape: tuple[float, float], size: int) -> np.ndarray:
    return np.clip(150 + np.floor(850 * rng.beta(*shape, size)), 150, 999).astype(np.int16)


def _sample_channel(rng, truth: _Truth, channel: Channel, weights: np.ndarray | None):
    """Sorted unique keys, integer scores and whether each edge was drawn as a true pair."""
    p_full = 1 - np.prod(1 - truth.flags * np.asarray(channel.p_true), axis=1)
    noise_rate = max(channel.full_edges - p_full.sum(), 0) / _pairs(truth.n)
    candidates = truth.keys[truth.in_play]
    true_keys = candidates[rng.random(len(candidates)) < p_full[truth.in_play]]
    noise = _random_pairs(rng, truth, round(noise_rate * _pairs(len(truth.active)) * truth.density), weights)
    noise = np.setdiff1d(noise, true_keys, assume_unique=True)
    scores = [_scores(rng, channel.true_beta, len(true_keys)), _scores(rng, channel.noise_beta, len(noise))]
    keys, scores = np.concatenate([true_keys, noise]), np.concatenate(scores)
    drawn_true = np.arange(len(keys)) < len(true_keys)
    order = np.argsort(keys)
    return keys[order], scores[order], drawn_true[order]


def _fraction(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def _combined(scores: np.ndarray) -> np.ndarray:
    """STRING-style combination: remove the prior from each channel, 1 − Π(1 − s), add the prior back."""
    s = scores / 1000.0
    s = np.where(scores > 0, np.clip((s - STRING_PRIOR) / (1 - STRING_PRIOR), 0, 1), 0.0)
    total = 1 - np.prod(1 - s, axis=1)
    return np.clip(np.rint(1000 * (total + STRING_PRIOR * (1 - total))), 150, 999).astype(np.int16)


def _write_string(path: Path, ids: pa.Array, n: int, keys: np.ndarray, scores: np.ndarray) -> int:
    """Every pair in both directions, sorted by protein1 then protein2, streamed in blocks."""
    lo, hi = keys // n, keys % n
    first, second = np.concatenate([lo, hi]), np.concatenate([hi, lo])
    order = np.lexsort((second, first))
    schema = pa.schema([(c, pa.string()) for c in STRING_COLUMNS[:2]] + [(c, pa.int16()) for c in SCORE_COLUMNS])
    options = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
    with open(path, "wb") as raw, gzip.GzipFile("", "wb", compresslevel=3, fileobj=raw, mtime=0) as handle:
        handle.write((" ".join(STRING_COLUMNS) + "\n").encode())
        with pacsv.CSVWriter(handle, schema, write_options=options) as writer:
            for start in range(0, len(order), BLOCK_ROWS):
                rows = order[start : start + BLOCK_ROWS]
                half = rows % len(keys)
                columns = [ids.take(pa.array(first[rows])), ids.take(pa.array(second[rows]))]
                columns += [pa.array(scores[half, i]) for i in range(len(SCORE_COLUMNS))]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return len(order)


def _simulate_string(world, out_dir: Path, truth: _Truth, rng_for, names: np.ndarray) -> dict:
    sticky = world.genes["hub"].to_numpy() ** 0.5 * rng_for("sticky").lognormal(0.0, 0.5, truth.n)
    sampled = {
        c.name: _sample_channel(rng_for(c.name), truth, c, sticky if c.sticky else None) for c in STRING_CHANNELS
    }
    union = np.unique(np.concatenate([keys for keys, _, _ in sampled.values()]))
    table = np.zeros((len(union), len(SCORE_COLUMNS)), dtype=np.int16)
    for column, (keys, scores, _) in sampled.items():
        table[np.searchsorted(union, keys), SCORE_COLUMNS.index(column)] = scores
    table[:, -1] = _combined(table[:, :-1])
    true = truth.is_true(union)
    released = rng_for("release").random(len(union))
    ids = pa.array(np.char.add(TAXON_PREFIX, names.astype(str)))
    report = {}
    for version in STRING_VERSIONS:
        share = PUBLISHED_STRING_EDGES[version] / PUBLISHED_STRING_EDGES["12.0"]
        n_true, n_noise = int(true.sum()), int((~true).sum())
        noise_kept = np.clip((share * len(union) - TRUE_KEPT[version] * n_true) / max(n_noise, 1), 0, 1)
        keep = released < np.where(true, TRUE_KEPT[version], noise_kept)
        rows = _write_string(out_dir / STRING_FILE.format(version), ids, truth.n, union[keep], table[keep])
        edges, informative, confident = {}, {}, {}
        for i, column in enumerate(SCORE_COLUMNS):
            present = table[keep, i] > 0
            edges[column] = int(present.sum())
            informative[column] = _fraction(true[keep][present])
            confident[column] = _fraction(true[keep][present & (table[keep, i] >= 400)])
        report[STRING_FILE.format(version)] = {
            "rows": rows,
            "unique_edges": int(keep.sum()),
            "edges_per_channel": edges,
            "published_unique_edges_full": PUBLISHED_STRING_EDGES[version],
            "true_pair_fraction": informative,
            "true_pair_fraction_score_ge_400": confident,
        }
    return report


def _epsilon(world: World, keys: np.ndarray, n: int) -> np.ndarray:
    parts = [world.epsilon_pairs(k // n, k % n) for k in np.array_split(keys, max(1, len(keys) // BLOCK_ROWS + 1))]
    return np.concatenate(parts) if parts else np.zeros(0)


def _tab3_table(first_id: int, study: np.ndarray, values: dict) -> pa.Table:
    """One TAB3 block: the given columns, S288C organism unless given, `-` in the columns not simulated."""
    n = len(study)
    values = {
        "#BioGRID Interaction ID": np.arange(first_id, first_id + n).astype(str),
        "Author": np.char.add("Simulated Study ", study.astype(str)),
        "Publication Source": np.char.add("SIMULATED:", study.astype(str)),
        "Throughput": np.where(study < N_HIGH_THROUGHPUT, "High Throughput", "Low Throughput"),
        "Source Database": "BIOGRID",
        "Organism ID Interactor A": str(YEAST_S288C_TAXON),
        "Organism ID Interactor B": str(YEAST_S288C_TAXON),
        **values,
    }
    for side in "AB":
        taxon = np.asarray(values[f"Organism ID Interactor {side}"])
        values[f"Organism Name Interactor {side}"] = np.where(taxon == "9606", "Homo sapiens", YEAST_NAME)
    columns = [np.array(np.broadcast_to(np.asarray(values.get(c, "-"), dtype=object), n)) for c in BIOGRID_COLUMNS]
    return pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], schema=TAB3_SCHEMA)


def _odd_rows(first_id: int, names: np.ndarray, symbols: np.ndarray) -> pa.Table:
    """Rows the parser must filter: another organism, and yeast rows with no systematic name."""
    human, yeast = "9606", str(YEAST_S288C_TAXON)
    rows = np.array(
        [  # systematic A, B; symbol A, B; organism A, B
            (names[0], "-", symbols[0], "EGFR", yeast, human),
            ("-", "-", "TP53", "MDM2", human, human),
            ("-", "-", "MDM2", "TP53", human, human),
            (names[1], "-", symbols[1], "tW(CCA)G1", yeast, yeast),
            ("-", names[2], "tK(CUU)J", symbols[2], yeast, yeast),
        ],
        dtype=object,
    ).T
    columns = (
        "Systematic Name Interactor A",
        "Systematic Name Interactor B",
        "Official Symbol Interactor A",
        "Official Symbol Interactor B",
        "Organism ID Interactor A",
        "Organism ID Interactor B",
    )
    values = {**dict(zip(columns, rows, strict=True)), SYSTEM: "Two-hybrid", SYSTEM_TYPE: "physical"}
    return _tab3_table(first_id, np.full(5, N_STUDIES), values)


def _genetic_edges(world: World, truth: _Truth, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reported genetic pairs (strong true ε among tested pairs, plus false hits), their signed
    effect for labelling, and the tested pairs."""
    tested = _random_pairs(rng, truth, round(GENETIC_TESTED * _pairs(len(truth.active)) * truth.density), None)
    eps = _epsilon(world, tested, truth.n)
    reported = (np.abs(eps) > STRONG_EPSILON) & (rng.random(len(tested)) < GENETIC_REPORTED)
    false_hits = _random_pairs(rng, truth, round(GENETIC_FALSE_POSITIVES * reported.sum()), None)
    false_hits = np.setdiff1d(false_hits, tested[reported])
    genetic = np.concatenate([tested[reported], false_hits])
    effect = np.concatenate([eps[reported], rng.choice([-0.1, 0.1], len(false_hits))])
    order = np.argsort(genetic)
    return genetic[order], effect[order], tested


def _simulate_biogrid(world, out_dir: Path, truth: _Truth, rng_for, names, version: str) -> dict:
    symbols = world.genes["standard_name"].fillna(world.genes["systematic_name"]).to_numpy(dtype=object)
    rng = rng_for("biogrid")
    sticky = world.genes["hub"].to_numpy() ** 0.5 * rng.lognormal(0.0, 0.5, truth.n)
    physical, _, physical_true = _sample_channel(rng, truth, PHYSICAL, sticky)
    genetic, effect, tested = _genetic_edges(world, truth, rng)
    labels, probs = zip(*PHYSICAL_SYSTEMS, strict=True)
    p_rec = np.repeat(np.arange(len(physical)), 1 + rng.poisson(np.where(physical_true, 1.0, 0.2)))  # records
    p_system = np.asarray(labels, dtype=object)[rng.choice(len(labels), len(p_rec), p=np.asarray(probs) / sum(probs))]
    g_rec = np.repeat(np.arange(len(genetic)), 1 + rng.poisson(0.15, len(genetic)))
    e = effect[g_rec]
    lethal = (e < -0.35) & (rng.random(len(e)) < 0.5)
    g_system = np.where(e < 0, np.where(lethal, "Synthetic Lethality", "Negative Genetic"), "Positive Genetic")
    rows = 0
    options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with open(out_dir / BIOGRID_FILE.format(version), "wb") as handle:
        handle.write(("\t".join(BIOGRID_COLUMNS) + "\n").encode())
        with pacsv.CSVWriter(handle, TAB3_SCHEMA, write_options=options) as writer:
            for keys, system, kind in ((physical[p_rec], p_system, "physical"), (genetic[g_rec], g_system, "genetic")):
                study = rng.choice(N_STUDIES, len(keys), p=STUDY_WEIGHTS)
                flip = rng.random(len(keys)) < 0.5  # bait and prey in either order
                a, b = np.where(flip, keys % truth.n, keys // truth.n), np.where(flip, keys // truth.n, keys % truth.n)
                for s in range(0, len(keys), BLOCK_ROWS // 2):
                    i = slice(s, s + BLOCK_ROWS // 2)
                    values = {SYSTEM: system[i], SYSTEM_TYPE: kind}
                    for side, genes in (("A", a[i]), ("B", b[i])):
                        values[f"Systematic Name Interactor {side}"] = names[genes]
                        values[f"Official Symbol Interactor {side}"] = symbols[genes]
                    writer.write_table(_tab3_table(rows + s + 1, study[i], values))
                rows += len(keys)
            writer.write_table(_odd_rows(rows + 1, names[truth.active], symbols[truth.active]))
    strong = {
        name: _fraction(np.abs(_epsilon(world, k, truth.n)) > STRONG_EPSILON)
        for name, k in (("genetic", genetic), ("physical", physical), ("tested_pairs", tested))
    }
    return {
        BIOGRID_FILE.format(version): {
            "rows": rows + 5,
            "rows_filtered_by_design": {"other_organism": 3, "missing_systematic_name": 2},
            "unique_edges": {"physical": len(physical), "genetic": len(genetic)},
            "published_unique_edges_full": {"physical": PUBLISHED_PHYSICAL_EDGES},
            "leaks_epsilon": True,
            "true_pair_fraction": {
                "physical": _fraction(truth.is_true(physical)),
                "genetic": _fraction(truth.is_true(genetic)),
            },
            "strong_epsilon_fraction": strong,
        }
    }


def _simulate_regulatory(world, out_dir: Path, truth: _Truth, rng_for, names) -> dict:
    rng = rng_for("regulatory")
    kind = world.modules["kind"].to_numpy()
    member = world.membership[:, np.isin(kind, ["pathway", "process"])]
    tf_all = np.flatnonzero(world.genes["transcription_factor"].to_numpy())
    activity = rng.lognormal(0.0, 0.8, truth.n)
    mates_all = (member[tf_all] @ member.T).toarray() > 0
    mates_all[np.arange(len(tf_all)), tf_all] = False
    expected_mates = REGULATORY_MATE_PROB * (activity[tf_all, None] * mates_all).sum()
    base = max(PUBLISHED_REGULATORY_EDGES - expected_mates, 0) / (activity[tf_all].sum() * (truth.n - 1))
    keep_tf = np.isin(tf_all, truth.active)
    tfs, mates = tf_all[keep_tf], mates_all[keep_tf][:, truth.active]
    prob = activity[tfs, None] * (base + REGULATORY_MATE_PROB * mates) * truth.density
    prob[tfs[:, None] == truth.active[None, :]] = 0.0
    ti, gi = np.nonzero(rng.random(prob.shape) < prob)
    regulator, target = tfs[ti], truth.active[gi]
    regulation = np.asarray(["activator", "repressor", "unknown"], dtype=object)[
        rng.choice(3, len(ti), p=[0.55, 0.3, 0.15])
    ]
    rec = np.repeat(np.arange(len(regulator)), 1 + rng.poisson(0.3, len(regulator)))  # records per edge
    standard = world.genes["standard_name"].fillna("").to_numpy(dtype=object)
    frame = pd.DataFrame(
        dict(
            zip(
                REGULATORY_COLUMNS,
                [
                    names[regulator[rec]],
                    standard[regulator[rec]],
                    names[target[rec]],
                    standard[target[rec]],
                    regulation[rec],
                    np.asarray(EVIDENCE, dtype=object)[rng.choice(len(EVIDENCE), len(rec))],
                    np.full(len(rec), "SIMULATED", dtype=object),
                ],
                strict=True,
            )
        )
    )
    frame.to_csv(out_dir / REGULATORY_FILE, sep="\t", index=False, lineterminator="\n")
    shared = np.asarray(member[regulator].multiply(member[target]).sum(axis=1)).ravel() > 0
    return {
        REGULATORY_FILE: {
            "rows": len(frame),
            "unique_edges": {"regulatory": len(regulator)},
            "regulators": len(np.unique(regulator)),
            "published_unique_edges_full": {"regulatory": PUBLISHED_REGULATORY_EDGES},
            "true_pair_fraction": {"regulatory": _fraction(shared)},
        }
    }


def simulate_networks(
    world: World,
    out_dir: str | Path,
    size: str = "demo",
    seed: int = 2012,
    genes: list[str] | None = None,
    biogrid_version: str = "4.4.999",
    log: LogTarget = None,
) -> dict:
    """Write STRING v9.1/v11.0/v12.0, BioGRID TAB3 and the regulatory TSV, plus `SIMULATED.json`.

    With `genes`, every network is restricted to those genes at full density; otherwise the
    whole genome is covered at the size's density. Returns the manifest. With `log`, a line per 10 s of the
    networks (STRING, BioGRID, regulatory) written so far.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = world.genes["systematic_name"].to_numpy(dtype=object)
    if genes is None:
        active, density = np.arange(len(names)), NETWORK_SIZES[size]
    else:
        unknown = sorted(set(genes) - set(world.index))
        if unknown or len(set(genes)) < 10:
            raise ValueError(f"need 10 or more genes of the world; unknown genes: {unknown[:5]}")
        active, density = np.unique(world.positions(list(genes))), 1.0

    def rng_for(part: str) -> np.random.Generator:
        return np.random.default_rng([seed, *part.encode()])

    truth = _truth(world, active, density, rng_for("density"))
    with progress(3, f"simulate networks ({size})", "networks", log) as bar:
        files = _simulate_string(world, out_dir, truth, rng_for, names)
        bar.update(1)
        files.update(_simulate_biogrid(world, out_dir, truth, rng_for, names, biogrid_version))
        bar.update(1)
        files.update(_simulate_regulatory(world, out_dir, truth, rng_for, names))
        bar.update(1)
    manifest = {
        "simulated": True,
        "simulator": "torchcell_core.simulate.networks",
        "simulator_version": SIMULATOR_VERSION,
        "size": size,
        "seed": seed,
        "density": density,
        "genes": len(active),
        "world": asdict(world.config),
        "restricted_to_gene_list": genes is not None,
        "true_pairs": "gene pairs sharing a module (complex, pathway or GO process) of the world",
        "true_pair_base_rate": float(truth.in_play.sum() / max(_pairs(len(active)) * density, 1)),
        "files": files,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
