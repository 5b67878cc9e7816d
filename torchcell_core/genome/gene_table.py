"""The typed gene table: one row per gene of the S288C reference genome.

Columns (see `GENE_TABLE_SCHEMA`): systematic and standard name, chromosome, 1-based
inclusive coordinates, strand, feature type, protein length, coding and protein
sequences, and the GO annotations as a nested list with evidence codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

GO_ASPECTS = {"GO_process": "P", "GO_function": "F", "GO_component": "C"}

_GO_QUALIFIER = re.compile(
    r"^(?P<go_id>GO:\d{7}) - (?P<name>.*?)\s*\[Evidence (?P<evidence>[A-Za-z,]+)\]"
    r"(?:\s*\[PMID (?P<pmid>\d+)\])?"
)

GO_ANNOTATION_TYPE = pa.struct(
    [
        ("go_id", pa.string()),
        ("name", pa.string()),
        ("aspect", pa.string()),  # P, F or C
        ("evidence", pa.string()),  # e.g. IMP, IGI, IDA, IEA
        ("pmid", pa.string()),
    ]
)

GENE_TABLE_SCHEMA = pa.schema(
    [
        ("systematic_name", pa.string()),
        ("standard_name", pa.string()),
        ("chromosome", pa.int8()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("strand", pa.string()),
        ("feature_type", pa.string()),
        ("protein_length", pa.int32()),
        ("cds_sequence", pa.string()),
        ("protein_sequence", pa.string()),
        ("go_annotations", pa.list_(GO_ANNOTATION_TYPE)),
    ]
)


@dataclass(frozen=True)
class GoAnnotation:
    go_id: str
    name: str
    aspect: str
    evidence: str
    pmid: str | None = None


@dataclass
class Gene:
    """One gene of the reference genome, as read from any genome source."""

    systematic_name: str
    standard_name: str | None
    chromosome: int
    start: int
    end: int
    strand: str  # "+" or "-"
    feature_type: str = "gene"  # the product type: CDS (protein coding), tRNA, ncRNA, ...
    protein_length: int | None = None
    cds_sequence: str | None = None
    protein_sequence: str | None = None
    go_annotations: list[GoAnnotation] = field(default_factory=list)


def parse_go_qualifier(aspect: str, text: str) -> GoAnnotation | None:
    """Parse `GO:0005783 - endoplasmic reticulum [Evidence IDA] [PMID 26928762]`."""
    match = _GO_QUALIFIER.match(" ".join(text.split()))
    if match is None:
        return None
    return GoAnnotation(
        go_id=match["go_id"],
        name=match["name"],
        aspect=aspect,
        evidence=match["evidence"],
        pmid=match["pmid"],
    )


def genes_to_table(genes: list[Gene]) -> pa.Table:
    """Arrow table in `GENE_TABLE_SCHEMA` order, sorted by chromosome and start."""
    genes = sorted(genes, key=lambda g: (g.chromosome, g.start, g.systematic_name))
    columns = {name: [] for name in GENE_TABLE_SCHEMA.names}
    for gene in genes:
        for name in GENE_TABLE_SCHEMA.names:
            value = getattr(gene, name)
            if name == "go_annotations":
                value = [a.__dict__ for a in value]
            columns[name].append(value)
    return pa.table(columns, schema=GENE_TABLE_SCHEMA)


def go_annotations_frame(table: pa.Table):
    """One row per (gene, GO annotation), as a pandas DataFrame."""
    import pandas as pd

    rows = table.select(["systematic_name", "go_annotations"]).to_pylist()
    flat = [{"systematic_name": r["systematic_name"], **a} for r in rows for a in r["go_annotations"]]
    return pd.DataFrame(flat, columns=["systematic_name", *GO_ANNOTATION_TYPE.names])


def unknown_genes(names, genome_names) -> list[str]:
    """Sorted names from `names` that are not systematic names of the genome."""
    known = set(genome_names)
    return sorted({n for n in names if n not in known})
