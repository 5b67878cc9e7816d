"""Build the embedded ladybug knowledge graph from the graph tables, and time what users wait for.

Figures are printed, not asserted. Goals (issue: knowledge graph), on the full simulated release
(about 21M experiments): build under 5 minutes at peak RSS under 6 GiB; the trigenic query
(~500k rows) to Arrow under 5 s. Also printed: row-by-row parameterised `MERGE` of a
100,000-experiment slice (with its genotype, allele and dataset edges) against the bulk `COPY`
of the same slice, as a time ratio.

    .venv/bin/python bench/graph_build.py --tables DIR     # a directory of graph tables (<Label>.parquet, …)
    .venv/bin/python bench/graph_build.py --data DIR       # a torchcell data dir (sources/*): tables built first
    .venv/bin/python bench/graph_build.py --tables DIR --db DB --skip-build --naive-rows 0   # queries only

Build and queries each run in a child process, so `ru_maxrss` is theirs alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchcell_core.graph.backend import table_names  # noqa: E402

SCREEN_DATASETS = ("costanzo2016", "costanzo2016_smf", "kuzmin2018", "kuzmin2020")
GIB = 2**30

CHILD_BUILD = """
import json, resource, sys, time
from torchcell_core.graph.ladybug_backend import LadybugBackend
tables, db, pool, counts = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
started = time.perf_counter()
record = LadybugBackend(db, buffer_pool_size=pool).build(tables, counts)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_kb": peak, "tables": record["tables"]}))
"""

CHILD_QUERY = """
import json, resource, sys, time
from torchcell_core.graph import queries
from torchcell_core.graph.ladybug_backend import LadybugBackend
db, pool, datasets = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
backend = LadybugBackend(db, buffer_pool_size=pool, read_only=True)
genes = backend.execute("MATCH (a:Allele) RETURN DISTINCT a.gene AS g ORDER BY g LIMIT 100").column("g").to_pylist()
runs = [
    ("trigenic, cold", lambda: queries.trigenic_experiments(backend, datasets)),
    ("trigenic, warm", lambda: queries.trigenic_experiments(backend, datasets)),
    ("digenic, Kuzmin datasets", lambda: queries.digenic_experiments(backend, ["kuzmin2018", "kuzmin2020"])),
    ("digenic, all datasets, 100 genes", lambda: queries.digenic_experiments(backend, datasets, genes)),
    ("single-mutant fitness", lambda: queries.single_mutant_fitness(backend)),
    ("gene neighbourhood of YAL001C", lambda: queries.gene_neighbourhood(backend, "YAL001C")),
]
out = []
for label, run in runs:
    started = time.perf_counter()
    try:
        rows, error = run().num_rows, None
    except Exception as exc:  # a figure, not a test: report and go on
        rows, error = None, str(exc)[:300]
    out.append({"query": label, "rows": rows, "seconds": time.perf_counter() - started, "error": error})
print(json.dumps({"queries": out, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_child(code: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"child failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def tables_from_data(data: Path, out_dir: Path) -> dict[str, int]:
    """The graph tables of a torchcell data dir (layout of the source assets), with placeholder Dataset rows."""
    from torchcell_core.graph.tables import SourceOutputs, build_graph_tables

    sources = data / "sources"

    def present(*parts: str) -> Path | None:
        path = sources.joinpath(*parts)
        return path if path.is_file() else None

    networks = tuple(
        ("string", v, p)
        for v in ("9.1", "11.0", "12.0")
        if (p := present(f"string_v{v.replace('.', '_')}", "edges.parquet"))
    )
    if biogrid := present("biogrid", "edges.parquet"):
        networks += (("biogrid", "TAB3", biogrid),)
    datasets = tuple(
        {"id": d, "name": d, "version": "bench", "citation": "", "url": "", "source_sha256": "{}", "simulated": True}
        for d in SCREEN_DATASETS
    )
    outputs = SourceOutputs(
        genes=sources / "s288c_genes.parquet",
        go_terms=present("go", "terms.parquet"),
        go_edges=present("go", "edges.parquet"),
        costanzo_records=present("costanzo2016", "records.parquet"),
        costanzo_fitness=present("costanzo2016", "single_mutant_fitness.parquet"),
        kuzmin2018_records=present("kuzmin2018", "records.parquet"),
        kuzmin2020_records=present("kuzmin2020", "records.parquet"),
        networks=networks,
        regulatory=present("regulatory", "edges.parquet"),
        datasets=datasets,
    )
    started = time.perf_counter()
    counts = build_graph_tables(outputs, out_dir)
    print(f"graph tables from {data}: {time.perf_counter() - started:.1f} s")
    return counts


def table_counts(tables: Path) -> dict[str, int]:
    return {name: pq.ParquetFile(tables / f"{name}.parquet").metadata.num_rows for name in table_names()}


def write_slice(tables: Path, out: Path, rows: int) -> dict[str, int]:
    """The first `rows` experiments with their genotypes and edges, plus every Allele and Dataset row."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": "1GB"})
    con.execute("SET enable_progress_bar = false")
    t = {name: str(tables / f"{name}.parquet") for name in table_names()}
    con.execute("CREATE TABLE e AS SELECT * FROM read_parquet($p) LIMIT $n", {"p": t["Experiment"], "n": rows})
    selects = {
        "Experiment": "SELECT * FROM e",
        "OF_GENOTYPE": 'SELECT r.* FROM read_parquet($p) r WHERE r."from" IN (SELECT id FROM e)',
        "IN_DATASET": 'SELECT r.* FROM read_parquet($p) r WHERE r."from" IN (SELECT id FROM e)',
        "Genotype": 'SELECT g.* FROM read_parquet($p) g WHERE g.id IN (SELECT o."to" FROM read_parquet($q) o '
        'WHERE o."from" IN (SELECT id FROM e))',
        "HAS_ALLELE": 'SELECT h.* FROM read_parquet($p) h WHERE h."from" IN (SELECT o."to" FROM read_parquet($q) o '
        'WHERE o."from" IN (SELECT id FROM e))',
        "Allele": "SELECT * FROM read_parquet($p)",
        "Dataset": "SELECT * FROM read_parquet($p)",
    }
    counts = {}
    for name, sql in selects.items():
        params = {"p": t[name]} if name != "Experiment" else {}
        if "$q" in sql:
            params["q"] = t["OF_GENOTYPE"]
        con.sql(sql, params=params).write_parquet(str(out / f"{name}.parquet"))
        counts[name] = pq.ParquetFile(out / f"{name}.parquet").metadata.num_rows
    con.close()
    return counts


MERGE_ONE = """
MERGE (e:Experiment {id: $id})
SET e.kind = $kind, e.n_perturbations = $n_perturbations, e.fitness = $fitness, e.fitness_std = $fitness_std,
    e.interaction = $interaction, e.interaction_p_value = $interaction_p_value, e.environment = $environment,
    e.screen = $screen, e.source_file = $source_file
MERGE (g:Genotype {id: $genotype})
SET g.n_perturbations = $genotype_n
MERGE (e)-[:OF_GENOTYPE]->(g)
WITH e, g
MATCH (d:Dataset {id: $dataset})
MERGE (e)-[:IN_DATASET]->(d)
WITH g
UNWIND $alleles AS allele
MATCH (a:Allele {id: allele})
MERGE (g)-[:HAS_ALLELE]->(a)
"""


def naive_vs_copy(tables: Path, work: Path, rows: int, pool: int, budget_s: float) -> None:
    from torchcell_core.graph.ladybug_backend import LadybugBackend

    slice_dir = work / "slice"
    counts = write_slice(tables, slice_dir, rows)
    con = duckdb.connect()
    params = (
        con.sql(
            """SELECT e.*, o."to" AS genotype, g.n_perturbations AS genotype_n, d."to" AS dataset, a.alleles
           FROM read_parquet($e) e JOIN read_parquet($o) o ON o."from" = e.id
           JOIN read_parquet($d) d ON d."from" = e.id JOIN read_parquet($g) g ON g.id = o."to"
           JOIN (SELECT "from", list("to" ORDER BY "to") AS alleles FROM read_parquet($h) GROUP BY 1) a
             ON a."from" = o."to"
        """,
            params={
                k: str(slice_dir / f"{n}.parquet")
                for k, n in [
                    ("e", "Experiment"),
                    ("o", "OF_GENOTYPE"),
                    ("d", "IN_DATASET"),
                    ("g", "Genotype"),
                    ("h", "HAS_ALLELE"),
                ]
            },
        )
        .to_arrow_table()
        .to_pylist()
    )
    con.close()
    timings, merged, window = {}, 0, []
    for method in ("copy", "merge"):
        backend = LadybugBackend(work / f"slice_{method}", buffer_pool_size=pool)
        backend.create_schema()
        for name in ("Allele", "Dataset"):
            backend._copy(name, slice_dir / f"{name}.parquet")
        started = time.perf_counter()
        if method == "copy":
            for name in ("Genotype", "Experiment", "OF_GENOTYPE", "IN_DATASET", "HAS_ALLELE"):
                backend._copy(name, slice_dir / f"{name}.parquet")
        else:
            connection = backend._connection()
            mark = started
            for merged, row in enumerate(params, start=1):  # one statement per experiment; ladybug caches the plan
                connection.execute(MERGE_ONE, row).close()
                if merged % 1000 == 0:
                    now = time.perf_counter()
                    window.append((now - mark) / 1000)
                    mark = now
                    if now - started > budget_s:
                        break
        timings[method] = time.perf_counter() - started
        loaded = {name: backend.counts()[name] for name in counts}
        backend.close()
        if method == "copy" or merged == len(params):
            assert loaded == counts, (method, loaded, counts)
    print(f"\n(c) {rows:,} experiments ({counts['Genotype']:,} genotypes, {counts['HAS_ALLELE']:,} allele edges):")
    print(f"    bulk COPY        {timings['copy']:.2f} s ({rows / timings['copy']:,.0f} experiments/s)")
    merge_s = timings["merge"]
    if merged < len(params):  # stopped at the time budget: the rest at the last rate, a lower bound (cost grows)
        merge_s += (len(params) - merged) * window[-1]
        print(
            f"    row-by-row MERGE stopped after {merged:,} experiments in {timings['merge']:.0f} s "
            f"(per experiment: {window[0] * 1e3:.1f} ms for the first 1,000, {window[-1] * 1e3:.1f} ms for the "
            f"last); all {rows:,} at the last rate: ≥ {merge_s:,.0f} s"
        )
    else:
        print(f"    row-by-row MERGE {merge_s:.1f} s ({rows / merge_s:,.0f} experiments/s)")
    print(f"    ratio MERGE/COPY {'≥ ' if merged < len(params) else ''}{merge_s / timings['copy']:,.0f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tables", type=Path, help="a directory of graph tables")
    source.add_argument("--data", type=Path, help="a torchcell data dir with sources/*")
    parser.add_argument("--work", type=Path, help="where the databases go (default: a temporary directory)")
    parser.add_argument("--buffer-pool-gib", type=float, default=3.0)
    parser.add_argument("--naive-rows", type=int, default=100_000, help="0 skips (c)")
    parser.add_argument("--naive-seconds", type=float, default=300, help="stop the row-by-row MERGE after this")
    parser.add_argument("--db", type=Path, help="keep the built database here (replaced if present)")
    parser.add_argument("--skip-build", action="store_true", help="query the database in --db as it is")
    args = parser.parse_args()
    if args.skip_build and not args.db:
        parser.error("--skip-build needs --db")
    pool = int(args.buffer_pool_gib * GIB)
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        work = Path(work)
        if args.tables:
            tables = args.tables
            counts_file = tables / "counts.json"
            counts = json.loads(counts_file.read_text()) if counts_file.is_file() else table_counts(tables)
        else:
            tables = work / "tables"
            counts = tables_from_data(args.data, tables)
        print(f"tables: {tables}  ({counts['Experiment']:,} experiments, {sum(counts.values()):,} rows in all)")
        db = args.db or work / "graph"
        if not args.skip_build:
            build = run_child(CHILD_BUILD, str(tables), str(db), str(pool), json.dumps(counts))
            print(
                f"\n(a) build: {build['seconds']:.1f} s, peak RSS {build['peak_rss_kb'] / 2**20:.2f} GiB "
                f"(buffer pool {args.buffer_pool_gib:g} GiB; goal: under 300 s and 6 GiB)"
            )
            for name, t in sorted(build["tables"].items(), key=lambda item: -item[1]["seconds"])[:6]:
                print(f"    {name:<12} {t['rows']:>12,} rows  {t['seconds']:7.1f} s")
        datasets = json.dumps(list(SCREEN_DATASETS))
        q = run_child(CHILD_QUERY, str(db), str(pool), datasets)
        print("\n(b) queries to Arrow (goal: the trigenic one under 5 s for ~500k rows)")
        for entry in q["queries"]:
            figure = f"{entry['rows']:,} rows" if entry["error"] is None else f"FAILED: {entry['error']}"
            print(f"    {entry['query']:<34} {entry['seconds']:7.2f} s  {figure}")
        print(f"    query process peak RSS {q['peak_rss_kb'] / 2**20:.2f} GiB")
        if args.naive_rows:
            naive_vs_copy(tables, work, args.naive_rows, min(pool, GIB), args.naive_seconds)


if __name__ == "__main__":
    main()
