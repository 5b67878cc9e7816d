"""Reader for Bioconductor's GO.db annotation database (`GO.db/extdata/GO.sqlite`).

Tables used: `go_term` (internal `_id` -> `go_id`, term, ontology BP/MF/CC), the parent
tables `go_bp_parents`, `go_mf_parents`, `go_cc_parents` (`_id`, `_parent_id`,
`relationship_type`), `go_obsolete`, `go_synonym` (alt ids: `like_go_id` = 1 and
`secondary`) and `metadata` (the GO release date, `GOSOURCEDATE`). GO.db's extra
universal root `all` is dropped, and only `isa` / `part of` links are kept.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd

from torchcell_core.errors import SourceFormatError
from torchcell_core.ontology.dag import GoDag, GoEdge, GoTerm

ONTOLOGY_NAMESPACES = {"BP": "biological_process", "MF": "molecular_function", "CC": "cellular_component"}
RELATIONSHIP_TYPES = {"isa": "is_a", "part of": "part_of"}
PARENT_TABLES = ("go_bp_parents", "go_mf_parents", "go_cc_parents")
REQUIRED_COLUMNS = {
    "go_term": ("_id", "go_id", "term", "ontology"),
    "go_obsolete": ("go_id", "term", "ontology"),
    "go_synonym": ("_id", "secondary", "like_go_id"),
    "metadata": ("name", "value"),
    **{table: ("_id", "_parent_id", "relationship_type") for table in PARENT_TABLES},
}
UNIVERSAL_ROOT = "all"


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise FileNotFoundError(path)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _check_schema(path: Path, connection: sqlite3.Connection) -> None:
    for table, columns in REQUIRED_COLUMNS.items():
        try:
            found = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        except sqlite3.DatabaseError as error:
            raise SourceFormatError(path, f"not a readable SQLite database: {error}") from error
        if not found:
            raise SourceFormatError(path, f"missing table {table!r}")
        for column in columns:
            if column not in found:
                raise SourceFormatError(path, f"table {table!r} has no column {column!r}", column=f"{table}.{column}")


def go_sqlite_metadata(path: str | Path) -> dict[str, str]:
    """The name -> value rows of GO.db's `metadata` table (e.g. GOSOURCEDATE, GOSOURCEURL)."""
    path = Path(path)
    with closing(_connect(path)) as connection:
        _check_schema(path, connection)
        return {str(name): str(value) for name, value in connection.execute("SELECT name, value FROM metadata")}


def _namespaces(path: Path, table: str, frame: pd.DataFrame) -> pd.Series:
    namespace = frame["ontology"].map(ONTOLOGY_NAMESPACES)
    bad = namespace.isna()
    if bad.any():
        row = frame[bad].iloc[0]
        raise SourceFormatError(
            path, f"{row['go_id']}: unknown ontology {row['ontology']!r}", column=f"{table}.ontology"
        )
    return namespace


def _parent_links(path: Path, connection: sqlite3.Connection, ids: pd.Series) -> pd.DataFrame:
    """All child -> parent links of the three parent tables, as GO ids with our relation names."""
    frames = []
    for table in PARENT_TABLES:
        links = pd.read_sql_query(f"SELECT _id, _parent_id, relationship_type FROM {table}", connection)
        for column in ("_id", "_parent_id"):
            unknown = ~links[column].isin(ids.index)
            if unknown.any():
                value = links.loc[unknown, column].iloc[0]
                raise SourceFormatError(path, f"_id {value} is not in go_term", column=f"{table}.{column}")
        frames.append(
            pd.DataFrame(
                {
                    "child": ids.reindex(links["_id"]).to_numpy(),
                    "parent": ids.reindex(links["_parent_id"]).to_numpy(),
                    "relation": links["relationship_type"].map(RELATIONSHIP_TYPES).to_numpy(),
                }
            )
        )
    links = pd.concat(frames, ignore_index=True)
    keep = links["relation"].notna() & (links["child"] != UNIVERSAL_ROOT) & (links["parent"] != UNIVERSAL_ROOT)
    return links[keep].drop_duplicates()


def read_go_sqlite(path: str | Path) -> GoDag:
    """Read GO.db's SQLite file into a GoDag: current and obsolete terms, is_a / part_of edges, alt ids.

    Metadata keeps the `metadata` table rows and adds `go_release` (= GOSOURCEDATE).
    """
    path = Path(path)
    with closing(_connect(path)) as connection:
        _check_schema(path, connection)
        current = pd.read_sql_query("SELECT _id, go_id, term, ontology FROM go_term", connection)
        obsolete = pd.read_sql_query("SELECT go_id, term, ontology FROM go_obsolete", connection)
        synonyms = pd.read_sql_query(
            "SELECT _id, secondary FROM go_synonym WHERE like_go_id = 1 AND secondary IS NOT NULL", connection
        )
        metadata = {str(k): str(v) for k, v in connection.execute("SELECT name, value FROM metadata")}
        ids = current.set_index("_id")["go_id"]
        if not ids.index.is_unique:
            raise SourceFormatError(path, "go_term._id is not unique", column="go_term._id")
        links = _parent_links(path, connection, ids)

    current = current[current["go_id"] != UNIVERSAL_ROOT]
    obsolete = obsolete[~obsolete["go_id"].isin(current["go_id"])]
    terms = [
        GoTerm(go_id, name, namespace, False)
        for go_id, name, namespace in zip(
            current["go_id"], current["term"], _namespaces(path, "go_term", current), strict=True
        )
    ]
    terms += [
        GoTerm(go_id, name, namespace, True)
        for go_id, name, namespace in zip(
            obsolete["go_id"], obsolete["term"], _namespaces(path, "go_obsolete", obsolete), strict=True
        )
    ]
    synonyms = synonyms.assign(primary=ids.reindex(synonyms["_id"]).to_numpy()).dropna(subset=["primary"])
    known = set(current["go_id"]) | set(obsolete["go_id"])
    synonyms = synonyms[~synonyms["secondary"].isin(known) & (synonyms["primary"] != UNIVERSAL_ROOT)]
    alt_ids = dict(zip(synonyms["secondary"], synonyms["primary"], strict=True))
    edges = [GoEdge(*row) for row in links.itertuples(index=False, name=None)]
    metadata = {"source_format": "GO.db sqlite", **metadata}
    if "GOSOURCEDATE" in metadata:
        metadata["go_release"] = metadata["GOSOURCEDATE"]
    try:
        return GoDag(terms, edges, alt_ids, metadata)
    except ValueError as error:
        raise SourceFormatError(path, str(error)) from error
