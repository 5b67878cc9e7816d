"""Curated datasets from the knowledge graph's experiments: deduplicated and aggregated in DuckDB.

A genotype (the sorted set of perturbed genes) measured more than once — across screens,
temperatures, allele types or datasets — becomes one row per key of the dedup rule:
mean value, pooled standard deviation, count and a combined p-value per phenotype, with
fitness and interaction side by side. The environment stays as columns and as a numeric
vector (`env_*`). Tables are written under a staging name and swapped in, so a failure
leaves the previous table as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from torchcell_core.progress import LogTarget, progress
from torchcell_core.sources.strains import STRAIN_KINDS

DEDUP_KEYS = ("environment", "dataset", "screen")
POOLED = "pooled"
# A query allele: a Costanzo query strain (`YAL001C_sn12`, `YAL001C_tsq3`) or a gene of a Kuzmin query strain
# (`YAL001C@YAL001C+YBR002W_tm2001`); group 1 of either pattern is the gene.
QUERY_STRAIN_PATTERN = "^(.+)_(" + "|".join(k for k, (_, role) in STRAIN_KINDS.items() if role == "query") + ")[0-9]+$"
KUZMIN_QUERY_PATTERN = "^(.+)@.+$"


class DatasetError(ValueError):
    """A dataset cannot be built: unknown genes or environments, a bad dedup rule."""


GENOTYPE_KIND = {1: "single-mutant", 2: "digenic", 3: "trigenic"}
# The columns of `queries.experiments_with_genes`, typed: an empty query result curates to an empty table
# with the usual columns whatever types the backend gives an empty result.
EXPERIMENT_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("dataset", pa.string()),
        ("genes", pa.list_(pa.string())),
        ("alleles", pa.list_(pa.string())),
        ("kind", pa.string()),
        ("fitness", pa.float64()),
        ("fitness_std", pa.float64()),
        ("interaction", pa.float64()),
        ("interaction_p_value", pa.float64()),
        ("environment", pa.string()),
        ("screen", pa.string()),
    ]
)


@dataclass(frozen=True)
class DatasetSpec:
    """Which graph experiments make one curated dataset."""

    name: str
    n_genes: int
    datasets: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class DedupRule:
    """How replicate measurements merge. Rows merge when their genotype (sorted genes) and every
    column in `keep_apart` agree; by default measurements at different temperatures/media stay
    apart (the environment is a model input) while screens, allele types and datasets merge."""

    keep_apart: tuple[str, ...] = ("environment",)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.keep_apart) - set(DEDUP_KEYS))
        if unknown:
            raise DatasetError(f"dedup rule: cannot keep apart {unknown}; choose from {list(DEDUP_KEYS)}")


SPECS = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "single_mutant_fitness",
            1,
            ("costanzo2016_smf", "kuzmin2018", "kuzmin2020"),
            "Single-mutant fitness (Costanzo 2016 SMF + Kuzmin)",
        ),
        DatasetSpec(
            "digenic",
            2,
            ("costanzo2016", "kuzmin2018", "kuzmin2020"),
            "Digenic fitness and interaction ε (Costanzo 2016, Kuzmin 2018, Kuzmin 2020)",
        ),
        DatasetSpec("trigenic_kuzmin2018", 3, ("kuzmin2018",), "Trigenic fitness and τ, Kuzmin 2018"),
        DatasetSpec("trigenic_kuzmin2020", 3, ("kuzmin2020",), "Trigenic fitness and τ, Kuzmin 2020"),
        DatasetSpec("trigenic", 3, ("kuzmin2018", "kuzmin2020"), "Trigenic fitness and τ, Kuzmin 2018 + 2020"),
    )
}


@dataclass
class CurationCounts:
    experiments: int
    rows: int
    merged: int
    dropped_repeated_gene: int
    dropped_outside_gene_set: int
    environments: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def environment_vectors(environments: pa.Table) -> tuple[pa.Table, list[str]]:
    """The numeric environment vector per environment id: `env_temperature` (°C / 30) and one
    `env_media_<media>` indicator per media. Returns (table with `environment` + env columns, names)."""
    media = sorted(set(environments.column("media").to_pylist()))
    columns = {
        "environment": environments.column("id"),
        "env_temperature": pa.array(
            np.asarray(environments.column("temperature").to_numpy(), float) / 30.0, pa.float32()
        ),
    }
    for name in media:
        indicator = [float(m == name) for m in environments.column("media").to_pylist()]
        columns[f"env_media_{name}"] = pa.array(indicator, pa.float32())
    table = pa.table(columns)
    return table, [c for c in table.column_names if c.startswith("env_")]


def _aggregate_sql(rule: DedupRule, env_columns: list[str], staging: str) -> str:
    apart = [key for key in DEDUP_KEYS if key in rule.keep_apart]
    extra = "".join(f"{key}, " for key in apart if key != "environment")
    environment = "environment" if "environment" in apart else f"'{POOLED}' AS environment"
    env_vector = ", ".join(f"avg({c})::FLOAT AS {c}" for c in env_columns)
    return f"""
CREATE TABLE {staging} AS
SELECT array_to_string(genes, '+') AS genotype, genes, len(genes)::TINYINT AS n_genes, {extra}
       {environment}, {env_vector},
       avg(fitness) AS fitness,
       sqrt(coalesce(avg(fitness_std * fitness_std), 0) + coalesce(var_pop(fitness), 0)) AS fitness_std,
       count(fitness)::INTEGER AS fitness_n,
       avg(interaction) AS interaction,
       coalesce(stddev_samp(interaction), 0) AS interaction_std,
       count(interaction)::INTEGER AS interaction_n,
       any_value(interaction_p_value) FILTER (WHERE interaction IS NOT NULL) AS single_p_value,
       count(*)::INTEGER AS n_measurements,
       list_sort(list(DISTINCT query)) AS queries,
       list_sort(list(DISTINCT dataset)) AS source_datasets,
       list_sort(list(DISTINCT screen)) AS screens,
       bool_or(simulated) AS simulated
FROM curated_input
GROUP BY {", ".join(["genes", *apart])}
ORDER BY {", ".join(["genotype", *apart])}
"""


def combined_p_values(mean: np.ndarray, std: np.ndarray, n: np.ndarray, single: np.ndarray) -> np.ndarray:
    """One-sample t-test of the replicate values against 0 (df = n − 1) where n ≥ 2; the
    measurement's own p-value where n = 1; NaN where nothing was measured."""
    from scipy import stats  # here, not at import: scipy.stats costs the code location ~1 s to load

    out = np.where(n == 1, single, np.nan).astype(float)
    many = n >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean[many] / (std[many] / np.sqrt(n[many]))
    p = 2 * stats.t.sf(np.abs(t), df=n[many] - 1)
    p = np.where(np.isnan(p) & (mean[many] == 0), 1.0, p)  # identical zero replicates: no evidence
    out[many] = p
    return out


def curate(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetSpec,
    experiments: pa.Table,
    environments: pa.Table,
    simulated: dict[str, bool],
    rule: DedupRule = DedupRule(),
    genes: list[str] | None = None,
    log: LogTarget = None,
) -> tuple[pa.Table, CurationCounts]:
    """Deduplicate and aggregate the graph's experiments (`queries.experiments_with_genes`) into
    one row per genotype and dedup key. Genotypes repeating a gene (two alleles of one gene) are
    dropped and counted; `genes` restricts to genotypes whose genes are all in it. `queries` lists the query
    keys that measured a genotype: its query strain's gene(s) joined by `+` (from the `alleles` ids; a
    genotype without a query allele, such as a single mutant, is its own query). With `log`, a line per 10 s
    and one at the end of the steps (join, filter counts, aggregate, p-values) done."""
    bar = progress(4, f"curate {spec.name} ({experiments.num_rows:,} experiments)", "steps", log)
    if experiments.num_rows == 0:
        experiments = EXPERIMENT_SCHEMA.empty_table()
    env_table, env_columns = environment_vectors(environments)
    unknown_env = set(experiments.column("environment").to_pylist()) - set(env_table.column("environment").to_pylist())
    if unknown_env:
        raise DatasetError(f"{spec.name}: experiments name environments missing from the graph: {sorted(unknown_env)}")
    if "alleles" not in experiments.column_names:
        experiments = experiments.append_column("alleles", pa.array([[]] * experiments.num_rows, pa.list_(pa.string())))
    flags = pa.table({"dataset": list(simulated), "simulated": list(simulated.values())})
    con.register("experiments_in", experiments)
    con.register("environments_in", env_table)
    con.register("dataset_flags", flags)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE curated_all AS
            SELECT x.* EXCLUDE (genes, alleles), list_sort(x.genes) AS genes,
                   array_to_string(coalesce(nullif(list_sort(list_transform(
                       list_filter(x.alleles, lambda a: regexp_matches(a, $strain) OR regexp_matches(a, $kuzmin)),
                       lambda a: coalesce(nullif(regexp_extract(a, $kuzmin, 1), ''), regexp_extract(a, $strain, 1)))),
                       []), list_sort(x.genes)), '+') AS query,
                   len(list_distinct(x.genes)) = len(x.genes) AS distinct_genes,
                   {"list_has_all($genes, x.genes)" if genes else "true"}
                       AS in_gene_set,
                   coalesce(f.simulated, false) AS simulated, e.* EXCLUDE (environment)
            FROM experiments_in x
            JOIN environments_in e USING (environment)
            LEFT JOIN dataset_flags f USING (dataset)
        """,
            {"strain": QUERY_STRAIN_PATTERN, "kuzmin": KUZMIN_QUERY_PATTERN}
            | ({"genes": sorted(set(genes))} if genes else {}),
        )
        bar.update(1)
        repeated, outside = con.execute(
            "SELECT count(*) FILTER (WHERE NOT distinct_genes), count(*) FILTER (WHERE distinct_genes AND NOT "
            "in_gene_set) FROM curated_all"
        ).fetchall()[0]
        con.execute(
            "CREATE OR REPLACE TEMP VIEW curated_input AS SELECT * FROM curated_all "
            "WHERE distinct_genes AND in_gene_set"
        )
        bar.update(1)
        staging = f"{spec.name}__staging"
        con.execute(f"DROP TABLE IF EXISTS {staging}")
        con.execute(_aggregate_sql(rule, env_columns, staging))
        table = con.sql(f"SELECT * FROM {staging}").to_arrow_table()
        con.execute(f"DROP TABLE {staging}")
        bar.update(1)
    except BaseException:
        bar.close(failed=True)
        raise
    finally:
        for name in ("experiments_in", "environments_in", "dataset_flags"):
            con.unregister(name)
    p = combined_p_values(
        np.asarray(table.column("interaction").to_numpy(zero_copy_only=False), float),
        np.asarray(table.column("interaction_std").to_numpy(zero_copy_only=False), float),
        np.asarray(table.column("interaction_n").to_numpy(), int),
        np.asarray(table.column("single_p_value").to_numpy(zero_copy_only=False), float),
    )
    index = table.column_names.index("single_p_value")
    table = table.set_column(index, "interaction_p_value", pa.array(p, pa.float64()))
    bar.update(1)
    bar.set_note(f"{table.num_rows:,} rows")
    bar.close()
    counts = CurationCounts(
        experiments=experiments.num_rows,
        rows=table.num_rows,
        merged=experiments.num_rows - int(repeated) - int(outside) - table.num_rows,
        dropped_repeated_gene=int(repeated),
        dropped_outside_gene_set=int(outside),
        environments=sorted(set(table.column("environment").to_pylist())),
    )
    return table, counts


def empty_reason(spec: DatasetSpec, counts: CurationCounts) -> str | None:
    """Why a curated dataset has no rows (None when it has some): no experiment in the graph, or none left."""
    if counts.rows:
        return None
    kind = GENOTYPE_KIND.get(spec.n_genes, f"{spec.n_genes}-gene")
    if counts.experiments == 0:
        return (
            f"no {kind} experiments in the graph: {', '.join(spec.datasets)} hold no {spec.n_genes}-gene "
            "rows in this release"
        )
    return (
        f"no genotype is left of {counts.experiments} {kind} experiments: {counts.dropped_repeated_gene} repeat a "
        f"gene, {counts.dropped_outside_gene_set} lie outside the configured gene set"
    )
