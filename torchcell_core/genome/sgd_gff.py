"""Read SGD's own genome release: GFF3 features plus FASTA chromosome sequences.

SGD's `saccharomyces_cerevisiae.gff` carries the sequences after a `##FASTA` line; a
separate FASTA file can be given instead. Seqids are `chrI` … `chrXVI` (and `chrmt`,
skipped: the gene table covers the 16 nuclear chromosomes). GO ids come from the
`Ontology_term` attribute; the GFF carries no evidence codes, so evidence is "NR"
(not recorded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote

from torchcell_core.errors import SourceFormatError
from torchcell_core.genome.genbank import Location
from torchcell_core.genome.gene_table import Gene, GoAnnotation

ROMAN_CHROMOSOMES = {
    f"chr{numeral}": number
    for number, numeral in enumerate(
        ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI"], start=1
    )
}
_GENE_TYPES = {"gene", "tRNA_gene", "ncRNA_gene", "snoRNA_gene", "snRNA_gene", "rRNA_gene"}
_CODON_TABLE = dict(
    zip(
        (a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
        strict=True,
    )
)


def translate(cds: str) -> str:
    """Translate a coding sequence with the standard code, dropping the stop codon."""
    protein = "".join(_CODON_TABLE.get(cds[i : i + 3], "X") for i in range(0, len(cds) - 2, 3))
    return protein.removesuffix("*")


def read_fasta(lines: Iterable[str]) -> dict[str, str]:
    """Map of sequence id (first word after `>`) to upper-case sequence."""
    sequences: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        line = line.strip()
        if line.startswith(">"):
            current = sequences.setdefault(line[1:].split()[0], [])
        elif line and current is not None:
            current.append(line.upper())
    return {name: "".join(parts) for name, parts in sequences.items()}


def _attributes(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.strip().split(";") if "=" in item)
    return {key: unquote(value) for key, value in pairs}


def _gff_rows(path: Path, lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    for number, line in enumerate(lines, start=1):
        if line.startswith("##FASTA"):
            return
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 9:
            raise SourceFormatError(path, f"expected 9 tab-separated GFF3 fields, found {len(fields)}", number)
        yield number, fields


def read_sgd_genes(gff_path: Path, fasta_path: Path | None = None) -> list[Gene]:
    """Genes from an SGD GFF3 file (and its FASTA, embedded or separate)."""
    gff_path = Path(gff_path)
    text = gff_path.read_text(encoding="utf-8").splitlines()
    if fasta_path is not None:
        sequences = read_fasta(Path(fasta_path).read_text(encoding="utf-8").splitlines())
    else:
        start = next((i for i, line in enumerate(text) if line.startswith("##FASTA")), None)
        sequences = read_fasta(text[start + 1 :]) if start is not None else {}

    genes: dict[str, Gene] = {}
    cds_spans: dict[str, list[tuple[int, int]]] = {}
    for number, fields in _gff_rows(gff_path, text):
        seqid, _, kind, start, end, _, strand, _, attrs = fields
        if seqid not in ROMAN_CHROMOSOMES:
            continue
        try:
            start_i, end_i = int(start), int(end)
        except ValueError:
            raise SourceFormatError(
                gff_path, f"non-integer coordinate {start!r}..{end!r}", number, "start/end"
            ) from None
        attributes = _attributes(attrs)
        if kind in _GENE_TYPES:
            name = attributes.get("ID")
            if not name:
                raise SourceFormatError(gff_path, "gene feature without an ID attribute", number, "attributes")
            go_ids = [g for g in attributes.get("Ontology_term", "").split(",") if g.startswith("GO:")]
            genes[name] = Gene(
                systematic_name=name,
                standard_name=attributes.get("gene"),
                chromosome=ROMAN_CHROMOSOMES[seqid],
                start=start_i,
                end=end_i,
                strand=strand,
                feature_type="CDS" if kind == "gene" else kind.removesuffix("_gene"),
                go_annotations=[GoAnnotation(g, "", "", "NR") for g in go_ids],
            )
        elif kind == "CDS":
            parent = attributes.get("Parent", "").removesuffix("_mRNA")
            cds_spans.setdefault(parent, []).append((start_i, end_i))

    for name, gene in genes.items():
        spans = cds_spans.get(name)
        chromosome = _chromosome_sequence(sequences, gene.chromosome)
        if spans and chromosome:
            location = Location(tuple(sorted(spans)), 1 if gene.strand == "+" else -1)
            gene.cds_sequence = location.extract(chromosome)
            gene.protein_sequence = translate(gene.cds_sequence)
            gene.protein_length = len(gene.protein_sequence)
    return list(genes.values())


def _chromosome_sequence(sequences: dict[str, str], chromosome: int) -> str | None:
    numeral = next(k for k, v in ROMAN_CHROMOSOMES.items() if v == chromosome)
    return sequences.get(numeral)
