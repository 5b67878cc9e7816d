"""Turn the parsed sources into one Parquet file per node label and relationship type.

Every backend bulk-loads these files (ladybug `COPY … FROM`, Neo4j batched `UNWIND` or
`neo4j-admin import`), so the mapping from sources to the schema exists once. Built with
DuckDB SQL, streaming, so the 21M-experiment release never passes through pandas.

Ids: genes and GO terms by their public ids; alleles by strain id (`YAL002W_dma1`), or
`<gene>@<strain>` for each gene of a Kuzmin double-mutant query strain (the neutral
`YDL227C`/hoΔ marker is not a perturbation and gets no allele); genotypes by the top 63 bits
of the md5 of their sorted allele ids; experiments by those of the md5 of their dataset, file
and measured strains and temperature (INT64 keys: ladybug loads integer-keyed nodes and their
relationships several times faster than string keys). The same inputs give the same ids.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from torchcell_core.graph.schema import NODES, RELS

PERTURBATION = {
    "dma": "deletion_kanmx",
    "sn": "deletion_natmx",
    "tsq": "temperature_sensitive",
    "tsa": "temperature_sensitive",
    "damp": "damp",
    "tm": "deletion_natmx",
}


@dataclass(frozen=True)
class SourceOutputs:
    """Paths of the parsed sources (Parquet) and their provenance, as the source assets wrote them."""

    genes: Path
    go_terms: Path | None = None  # go_dag terms.parquet (go_id, name, namespace, genes)
    go_edges: Path | None = None  # go_dag edges.parquet (child, parent, relation)
    costanzo_records: Path | None = None
    costanzo_fitness: Path | None = None
    kuzmin2018_records: Path | None = None
    kuzmin2020_records: Path | None = None
    networks: tuple[tuple[str, str, Path], ...] = ()  # (network, version, edges.parquet) undirected
    regulatory: Path | None = None
    datasets: tuple[dict, ...] = ()  # Dataset rows: id, name, version, citation, url, source_sha256, simulated


def _id64(text_sql: str) -> str:
    """SQL for a stable, non-negative INT64 id: the top 63 bits of the md5 of `text_sql`."""
    return f"(md5_number({text_sql}) >> 65)::BIGINT"


def _perturbation_case(kind: str) -> str:
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in PERTURBATION.items())
    return f"CASE {kind} {cases} ELSE {kind} END"


def _exec(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> None:
    """Run a statement to completion (DuckDB keeps a pending result until it is fetched)."""
    con.execute(sql, params or {}).fetchall()


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, params: dict | None = None) -> int:
    con.sql(sql, params=params or {}).write_parquet(str(path), compression="zstd")
    return con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(path)}).fetchall()[0][0]


def _costanzo_views(con: duckdb.DuckDBPyConnection, outputs: SourceOutputs) -> list[str]:
    """Views `<name>_alleles` and `<name>_experiments` (one row per measured genotype) per screen source."""
    views = []
    if outputs.costanzo_records:
        con.read_parquet(str(outputs.costanzo_records)).create_view("costanzo")
        _exec(
            con,
            f"""
            CREATE VIEW costanzo_alleles AS
            SELECT query_strain AS id, query_strain AS strain, query_allele AS name,
                   {_perturbation_case("query_kind")} AS perturbation, query_gene AS gene FROM costanzo
            UNION SELECT array_strain, array_strain, array_allele, {_perturbation_case("array_kind")}, array_gene
            FROM costanzo""",
        )
        _exec(
            con,
            """
            CREATE VIEW costanzo_experiments AS
            SELECT 'costanzo2016' AS dataset, list_sort([query_strain, array_strain]) AS alleles,
                   'interaction' AS kind, dmf AS fitness, dmf_std AS fitness_std, epsilon AS interaction,
                   p_value AS interaction_p_value, 'YPD_' || temperature || 'C' AS environment,
                   source_file AS screen, source_file,
                   query_strain || '|' || array_strain || '|' || temperature AS measured
            FROM costanzo""",
        )
        views.append("costanzo")
    if outputs.costanzo_fitness:
        con.read_parquet(str(outputs.costanzo_fitness)).create_view("smf")
        _exec(
            con,
            f"""
            CREATE VIEW smf_alleles AS
            SELECT strain AS id, strain, allele AS name,
                   {_perturbation_case("regexp_extract(strain, '_([a-z]+)[0-9]+$', 1)")} AS perturbation,
                   systematic_name AS gene FROM smf""",
        )
        _exec(
            con,
            """
            CREATE VIEW smf_experiments AS
            SELECT 'costanzo2016_smf' AS dataset, [strain] AS alleles, 'fitness' AS kind, smf_26 AS fitness,
                   smf_26_std AS fitness_std, NULL::DOUBLE AS interaction, NULL::DOUBLE AS interaction_p_value,
                   'YPD_26C' AS environment, 'smf' AS screen,
                   'strain_ids_and_single_mutant_fitness.xlsx' AS source_file,
                   strain || '|26' AS measured FROM smf WHERE smf_26 IS NOT NULL AND NOT isnan(smf_26)
            UNION ALL
            SELECT 'costanzo2016_smf', [strain], 'fitness', smf_30, smf_30_std, NULL, NULL, 'YPD_30C', 'smf',
                   'strain_ids_and_single_mutant_fitness.xlsx', strain || '|30'
            FROM smf WHERE smf_30 IS NOT NULL AND NOT isnan(smf_30)""",
        )
        views.append("smf")
    for name, path in (("kuzmin2018", outputs.kuzmin2018_records), ("kuzmin2020", outputs.kuzmin2020_records)):
        if path is None:
            continue
        screen = "screen_id" if name == "kuzmin2020" else "'kuzmin2018'"
        con.read_parquet(str(path)).create_view(f"{name}_raw")
        _exec(con, f"CREATE VIEW {name} AS SELECT *, {screen} AS screen FROM {name}_raw")
        _exec(
            con,
            f"""
            CREATE VIEW {name}_alleles AS
            SELECT query_gene_1 || '@' || query_strain AS id, query_strain AS strain, query_gene_1 AS name,
                   'deletion_natmx' AS perturbation, query_gene_1 AS gene FROM {name}
            UNION SELECT query_gene_2 || '@' || query_strain, query_strain, query_gene_2, 'deletion_natmx', query_gene_2
            FROM {name} WHERE query_gene_2 IS NOT NULL
            UNION SELECT array_strain, array_strain, array_gene, {_perturbation_case("array_kind")}, array_gene
            FROM {name}""",
        )
        _exec(
            con,
            f"""
            CREATE VIEW {name}_experiments AS
            SELECT '{name}' AS dataset,
                   list_sort(list_filter([query_gene_1 || '@' || query_strain,
                                          CASE WHEN query_gene_2 IS NOT NULL
                                               THEN query_gene_2 || '@' || query_strain END,
                                          array_strain], lambda x: x IS NOT NULL)) AS alleles,
                   'interaction' AS kind, combined_fitness AS fitness, combined_fitness_std AS fitness_std,
                   adjusted_score AS interaction, p_value AS interaction_p_value, 'YPD_30C' AS environment,
                   screen, source_file, query_strain || '|' || array_strain || '|' || screen AS measured
            FROM {name}""",
        )
        views.append(name)
    return views


def build_graph_tables(outputs: SourceOutputs, out_dir: str | Path, memory_limit: str = "2GB") -> dict[str, int]:
    """Write `<label>.parquet` for every node table and `<TYPE>.parquet` for every relationship
    (columns as in `schema`); returns the row count of each file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    spill = out_dir / ".spill"  # DuckDB spills the genotype/allele de-duplication here beyond memory_limit
    config = {"memory_limit": memory_limit, "preserve_insertion_order": False, "temp_directory": str(spill)}
    with duckdb.connect(config=config) as con:
        _exec(con, "SET enable_progress_bar = false")
        gene_sql = f"SELECT {', '.join(_gene_columns())} FROM read_parquet($p)"
        counts["Gene"] = _copy(con, gene_sql, out_dir / "Gene.parquet", {"p": str(outputs.genes)})
        views = _costanzo_views(con, outputs)
        experiments = " UNION ALL ".join(f"SELECT * FROM {v}_experiments" for v in views) or (
            "SELECT NULL::VARCHAR AS dataset, []::VARCHAR[] AS alleles, NULL::VARCHAR AS kind, "
            "NULL::DOUBLE AS fitness, NULL::DOUBLE AS fitness_std, NULL::DOUBLE AS interaction, "
            "NULL::DOUBLE AS interaction_p_value, "
            "NULL::VARCHAR AS environment, NULL::VARCHAR AS screen, NULL::VARCHAR AS source_file, "
            "NULL::VARCHAR AS measured WHERE false"
        )
        _exec(
            con,
            f"""
            CREATE TEMP TABLE experiment_rows AS
            SELECT {_id64("dataset || '|' || source_file || '|' || measured")} AS id, dataset,
                   {_id64("array_to_string(alleles, '|')")} AS genotype, len(alleles)::INT8 AS n_perturbations,
                   kind, fitness, fitness_std, interaction, interaction_p_value, environment, screen, source_file
            FROM ({experiments})""",
        )
        counts["Experiment"] = _copy(
            con,
            "SELECT id, kind, n_perturbations, fitness, fitness_std, interaction, "
            "interaction_p_value, environment, screen, source_file FROM experiment_rows",
            out_dir / "Experiment.parquet",
        )
        counts["OF_GENOTYPE"] = _copy(
            con, 'SELECT id AS "from", genotype AS "to" FROM experiment_rows', out_dir / "OF_GENOTYPE.parquet"
        )
        counts["IN_DATASET"] = _copy(
            con, 'SELECT id AS "from", dataset AS "to" FROM experiment_rows', out_dir / "IN_DATASET.parquet"
        )
        _exec(con, "DROP TABLE experiment_rows")
        genotypes = " UNION ALL ".join(f"SELECT alleles FROM {v}_experiments" for v in views) or (
            "SELECT []::VARCHAR[] AS alleles WHERE false"
        )
        _exec(
            con,
            f"""
            CREATE TEMP TABLE genotype_rows AS
            SELECT DISTINCT {_id64("array_to_string(alleles, '|')")} AS id, alleles FROM ({genotypes})""",
        )
        counts["Genotype"] = _copy(
            con, "SELECT id, len(alleles)::INT8 AS n_perturbations FROM genotype_rows", out_dir / "Genotype.parquet"
        )
        counts["HAS_ALLELE"] = _copy(
            con, 'SELECT id AS "from", unnest(alleles) AS "to" FROM genotype_rows', out_dir / "HAS_ALLELE.parquet"
        )
        _exec(con, "DROP TABLE genotype_rows")
        alleles = " UNION ".join(f"SELECT * FROM {v}_alleles" for v in views) or (
            "SELECT NULL AS id, NULL AS strain, NULL AS name, NULL AS perturbation, NULL AS gene WHERE false"
        )
        _exec(con, f"CREATE TEMP TABLE allele_rows AS SELECT DISTINCT ON (id) * FROM ({alleles}) ORDER BY id")
        counts["Allele"] = _copy(
            con, "SELECT id, strain, name, perturbation, gene FROM allele_rows", out_dir / "Allele.parquet"
        )
        counts["OF_GENE"] = _copy(
            con, 'SELECT id AS "from", gene AS "to" FROM allele_rows', out_dir / "OF_GENE.parquet"
        )
        counts.update(_reference_tables(con, outputs, out_dir))
    shutil.rmtree(spill, ignore_errors=True)
    missing = ({t.label for t in NODES} | {r.type for r in RELS}) - set(counts)
    if missing:
        raise RuntimeError(f"graph tables not written: {sorted(missing)}")
    return counts


def _gene_columns() -> list[str]:
    gene = next(table for table in NODES if table.label == "Gene")
    return ["systematic_name AS id" if name == "id" else f'"{name}"' for name in gene.names]


def _reference_tables(con: duckdb.DuckDBPyConnection, outputs: SourceOutputs, out_dir: Path) -> dict[str, int]:
    """Datasets, environments, GO and the gene–gene networks."""
    counts = {}
    datasets = list(outputs.datasets)
    _exec(
        con,
        "CREATE TEMP TABLE dataset_rows (id VARCHAR, name VARCHAR, version VARCHAR, citation VARCHAR, url VARCHAR, "
        "source_sha256 VARCHAR, simulated BOOLEAN)",
    )
    for row in datasets:
        _exec(
            con,
            "INSERT INTO dataset_rows VALUES ($id, $name, $version, $citation, $url, $source_sha256, $simulated)",
            row,
        )
    counts["Dataset"] = _copy(con, "SELECT * FROM dataset_rows", out_dir / "Dataset.parquet")
    counts["Environment"] = _copy(
        con,
        "SELECT 'YPD_' || t || 'C' AS id, 'YPD' AS media, t::INT16 AS temperature FROM (VALUES (26), (30)) v(t)",
        out_dir / "Environment.parquet",
    )
    empty_go = (
        "SELECT NULL::VARCHAR AS go_id, NULL::VARCHAR AS name, NULL::VARCHAR AS namespace, []::VARCHAR[] AS genes "
        "WHERE false"
    )
    terms = "SELECT * FROM read_parquet($t)" if outputs.go_terms else empty_go
    params = {"t": str(outputs.go_terms)} if outputs.go_terms else {}
    counts["GOTerm"] = _copy(
        con, f"SELECT go_id AS id, name, namespace FROM ({terms})", out_dir / "GOTerm.parquet", params
    )
    counts["ANNOTATED_TO"] = _copy(
        con,
        f'SELECT unnest(genes) AS "from", go_id AS "to", NULL::VARCHAR AS evidence FROM ({terms})',
        out_dir / "ANNOTATED_TO.parquet",
        params,
    )
    edges = (
        'SELECT child AS "from", parent AS "to", relation FROM read_parquet($e)'
        if outputs.go_edges
        else 'SELECT NULL::VARCHAR AS "from", NULL::VARCHAR AS "to", NULL::VARCHAR AS relation WHERE false'
    )
    counts["GO_PARENT"] = _copy(
        con, edges, out_dir / "GO_PARENT.parquet", {"e": str(outputs.go_edges)} if outputs.go_edges else {}
    )
    parts, params = [], {}
    for i, (network, version, path) in enumerate(outputs.networks):
        column = "channel" if network == "string" else "network"
        label = f"'string_' || {column}" if network == "string" else column
        parts.append(
            f'SELECT gene_a AS "from", gene_b AS "to", {label} AS network, $v{i} AS version, '
            "weight::DOUBLE AS weight "
            f"FROM read_parquet($n{i})"
        )
        params |= {f"n{i}": str(path), f"v{i}": version}
    interacts = " UNION ALL ".join(parts) or (
        'SELECT NULL::VARCHAR AS "from", NULL::VARCHAR AS "to", NULL::VARCHAR AS network, NULL::VARCHAR AS version, '
        "NULL::DOUBLE AS weight WHERE false"
    )
    counts["INTERACTS"] = _copy(con, interacts, out_dir / "INTERACTS.parquet", params)
    regulates = (
        'SELECT regulator AS "from", target AS "to", regulation_type AS regulation, weight::DOUBLE AS weight '
        "FROM read_parquet($r)"
        if outputs.regulatory
        else 'SELECT NULL::VARCHAR AS "from", NULL::VARCHAR AS "to", NULL::VARCHAR AS regulation, '
        "NULL::DOUBLE AS weight WHERE false"
    )
    counts["REGULATES"] = _copy(
        con, regulates, out_dir / "REGULATES.parquet", {"r": str(outputs.regulatory)} if outputs.regulatory else {}
    )
    return counts
