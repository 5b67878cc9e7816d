"""Load a resolved source (real or simulated files) into typed Parquet files, one function each.

Every loader writes into `out_dir` and returns a summary: rows, genes covered, genes
outside the genome (counted, never silently dropped), per-output row counts, and what the
parse tolerated (`rows_read`, out-of-range rows dropped under `rules`, merged duplicates).
Each loader parses ALL its files before it writes anything, so a bad file leaves `out_dir`
untouched; files are written under a temporary name and moved into place. The gene networks' loaders live in
the networks package, which builds on this one; `torchcell_core.loaders.LOADERS` maps every source to its loader.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd

from torchcell_core.progress import LogTarget, emitter, format_bytes, progress
from torchcell_core.sources.costanzo2016 import SGA_FILES, SMF_FILE, read_smf_xlsx
from torchcell_core.sources.costanzo2016_sga import sga_files_to_parquet
from torchcell_core.sources.kuzmin2018 import read_kuzmin2018
from torchcell_core.sources.kuzmin2020 import read_kuzmin2020_fitness, read_kuzmin2020_screens
from torchcell_core.sources.quality import DEFAULT_RULES, QualityReport, ValueRules
from torchcell_core.sources.registry import ResolvedSource

Loader = Callable[[ResolvedSource, Path, Collection[str], ValueRules], dict]  # (source, out, genes, rules)
RECORDS = "records.parquet"
EDGES = "edges.parquet"
FITNESS = "single_mutant_fitness.parquet"


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically: a temporary file, then a rename."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)


def quality_summary(report: QualityReport, duplicates_merged: int = 0) -> dict:
    """What the parse read and tolerated; measurement sources refuse duplicates, so they merge none."""
    return {**report.as_dict(), "duplicates_merged": int(duplicates_merged)}


def _genes_summary(genes: pd.Series, genome_genes: Collection[str]) -> dict:
    distinct = set(genes.dropna().unique())
    unknown = sorted(distinct - set(genome_genes))
    return {"genes": len(distinct), "unknown_genes": len(unknown), "unknown_gene_examples": unknown[:10]}


def load_costanzo2016(
    source: ResolvedSource, out_dir: Path, genome_genes: Collection[str], rules: ValueRules = DEFAULT_RULES
) -> dict:
    """SGA pair files → records, SMF xlsx → single-mutant fitness. The xlsx is parsed first, and the SGA
    Parquet is moved into place only once every SGA file has passed, so any bad file leaves `out_dir` as it was."""
    sga = [source.files[name] for name in SGA_FILES if name in source.files]
    if not sga:
        raise FileNotFoundError(f"{source.directory}: none of {', '.join(SGA_FILES)} is there")
    report = QualityReport()
    smf = read_smf_xlsx(source.files[SMF_FILE], rules=rules, report=report).assign(simulated=source.simulated)
    stats = sga_files_to_parquet(
        sga, out_dir / RECORDS, genome_genes, simulated=source.simulated, rules=rules, report=report
    )
    write_parquet(smf, out_dir / FITNESS)
    return {
        "rows": stats["rows"],
        "outputs": {RECORDS: stats["rows"], FITNESS: len(smf)},
        "rows_per_file": stats["rows_per_file"],
        "genes": stats["genes"],
        "unknown_genes": stats["unknown_genes"],
        "rows_with_unknown_genes": stats["rows_with_unknown_genes"],
        "unknown_gene_examples": stats["unknown_gene_examples"],
        **quality_summary(report),
    }


def _screen_genes(frame: pd.DataFrame) -> pd.Series:
    return pd.concat([frame["query_gene_1"], frame["query_gene_2"], frame["array_gene"]])


def load_kuzmin2018(
    source: ResolvedSource, out_dir: Path, genome_genes: Collection[str], rules: ValueRules = DEFAULT_RULES
) -> dict:
    report = QualityReport()
    frame = read_kuzmin2018(source.files["aao1729_data_s1.tsv"], rules=rules, report=report)
    frame = frame.assign(simulated=source.simulated)
    write_parquet(frame, out_dir / RECORDS)
    return {
        "rows": len(frame),
        "outputs": {RECORDS: len(frame)},
        "rows_per_type": frame["mutant_type"].value_counts().to_dict(),
        **_genes_summary(_screen_genes(frame), genome_genes),
        **quality_summary(report),
    }


def load_kuzmin2020(
    source: ResolvedSource, out_dir: Path, genome_genes: Collection[str], rules: ValueRules = DEFAULT_RULES
) -> dict:
    """Tables S1/S3 → records and S5 → query fitness; all three are parsed before either output is written."""
    report = QualityReport()
    screens = [path for name, path in sorted(source.files.items()) if "S5" not in name]
    frame = read_kuzmin2020_screens(screens, rules=rules, report=report).assign(simulated=source.simulated)
    fitness = None
    if "aaz5667-Table-S5.xlsx" in source.files:
        fitness = read_kuzmin2020_fitness(source.files["aaz5667-Table-S5.xlsx"], rules=rules, report=report)
        fitness = fitness.assign(simulated=source.simulated)
    write_parquet(frame, out_dir / RECORDS)
    outputs = {RECORDS: len(frame)}
    if fitness is not None:
        write_parquet(fitness, out_dir / FITNESS)
        outputs[FITNESS] = len(fitness)
    return {
        "rows": len(frame),
        "outputs": outputs,
        **quality_summary(report),
        "rows_per_screen": frame.groupby(["screen_id", "mutant_type"])
        .size()
        .rename("n")
        .reset_index()
        .assign(key=lambda f: f["screen_id"] + ":" + f["mutant_type"])
        .set_index("key")["n"]
        .to_dict(),
        **_genes_summary(_screen_genes(frame), genome_genes),
    }


def load_with_progress(
    key: str,
    loader: Callable[..., dict],
    source: ResolvedSource,
    out_dir: Path,
    genome_genes: Collection[str],
    rules: ValueRules = DEFAULT_RULES,
    log: LogTarget = None,
) -> dict:
    """Run `loader`, telling `log` what it reads (files, bytes) and then the rows of each file. A parse reads each
    file in one DuckDB or pandas call, so the lines come per file, not within one."""
    sizes = {name: Path(path).stat().st_size for name, path in sorted(source.files.items())}
    emit = emitter(log) or (lambda line: None)
    emit(f"parse {key}: {len(sizes)} file(s), {format_bytes(sum(sizes.values()))}")
    with progress(len(sizes), f"parse {key}", "files", log) as bar:
        summary = loader(source, out_dir, genome_genes, rules=rules)
        bar.update(len(sizes))
        per_file = summary.get("rows_per_file", {})
        for name, size in sizes.items():
            rows = f"{per_file[name]:,} rows, " if name in per_file else ""
            emit(f"parse {key}: {name}: {rows}{format_bytes(size)}")
        bar.set_note(f"{summary['rows']:,} rows")
    return summary
