"""DCell-style filtering of GO annotations into the term hierarchy a visible neural network uses.

Steps, in order: drop annotations supported only by excluded evidence codes (IGI by
default); optionally keep annotations dated on or before a cutoff; map alt ids to
primary ids and drop obsolete or unknown terms; keep the chosen namespaces; propagate
each annotation to all ancestors; drop terms with fewer than `min_genes` genes; drop a
term whose only remaining child has the same gene set. Dropped terms are bypassed: each
kept term is linked to its nearest kept ancestors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from torchcell_core.ontology.dag import NAMESPACES, GoDag

GENE, TERM = "systematic_name", "go_id"


@dataclass(frozen=True)
class DCellFilterConfig:
    """Filter settings; the defaults follow DCell (Ma et al. 2018): IGI dropped, >= 6 genes, BP only."""

    min_genes: int = field(default=6, metadata={"help": "drop terms annotated to fewer genes (after propagation)"})
    drop_evidence: tuple[str, ...] = field(
        default=("IGI",), metadata={"help": "evidence codes whose annotations are dropped (IGI: genetic interaction)"}
    )
    drop_redundant: bool = field(default=True, metadata={"help": "drop a term whose only child has its genes"})
    before_date: date | None = field(default=None, metadata={"help": "keep annotations dated on or before this"})
    namespaces: tuple[str, ...] = field(default=("biological_process",), metadata={"help": "GO namespaces kept"})

    def __post_init__(self) -> None:
        unknown = set(self.namespaces) - set(NAMESPACES)
        if unknown:
            raise ValueError(f"unknown namespaces {sorted(unknown)}; expected some of {NAMESPACES}")


@dataclass
class DCellOntology:
    """The filtered DAG, each kept term's sorted genes, and counts after every step."""

    dag: GoDag
    term_genes: dict[str, list[str]]
    stats: dict[str, dict[str, int]]


def _counts(pairs: pd.DataFrame) -> dict[str, int]:
    return {
        "terms": int(pairs[TERM].nunique()),
        "genes": int(pairs[GENE].nunique()),
        "annotations": int(len(pairs[[GENE, TERM]].drop_duplicates())),
    }


def drop_evidence(annotations: pd.DataFrame, codes: tuple[str, ...]) -> pd.DataFrame:
    """Rows with at least one evidence code outside `codes`.

    `evidence` may list several codes (`IGI,IMP`); such a row is kept on its other support.
    """
    if not codes:
        return annotations
    drop = set(codes)
    values, uniques = pd.factorize(annotations["evidence"].fillna(""), use_na_sentinel=False)
    only_dropped = np.array([bool(parts) and set(parts) <= drop for parts in (s.split(",") for s in uniques)])
    return annotations[~only_dropped[values]]


def _parse_dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    text = values.astype("string").str.strip()
    basic = text.str.fullmatch(r"\d{8}").fillna(False).astype(bool)  # GAF: YYYYMMDD
    parsed = pd.to_datetime(text.where(basic), format="%Y%m%d", errors="coerce")
    other = pd.to_datetime(text.where(~basic), format="ISO8601", errors="coerce")
    return parsed.fillna(other)


def filter_before_date(annotations: pd.DataFrame, cutoff: date, column: str = "date") -> pd.DataFrame:
    """Rows dated on or before `cutoff`; `column` holds dates, YYYYMMDD (GAF) or ISO strings.

    A missing or unreadable date is a ValueError naming the row, since it cannot be placed.
    """
    if column not in annotations.columns:
        raise ValueError(f"a date cutoff needs a {column!r} column; found {list(annotations.columns)}")
    dates = _parse_dates(annotations[column])
    bad = dates.isna()
    if bad.any():
        row = bad.idxmax()
        raise ValueError(f"row {row}: unreadable date {annotations[column][row]!r} in column {column!r}")
    return annotations[dates <= pd.Timestamp(cutoff)]


def map_to_current_ids(annotations: pd.DataFrame, dag: GoDag) -> tuple[pd.DataFrame, dict[str, int]]:
    """Alt ids replaced by primary ids; rows on obsolete or unknown terms dropped, with row counts."""
    codes, uniques = pd.factorize(annotations[TERM], use_na_sentinel=False)
    resolved = np.array([dag.resolve(go_id) for go_id in uniques], dtype=object)
    known = np.array([r is not None for r in resolved], dtype=bool)
    obsolete = np.array([r is not None and dag.terms[r].is_obsolete for r in resolved], dtype=bool)
    remapped = known & (resolved != np.asarray(uniques, dtype=object))
    keep = (known & ~obsolete)[codes]
    out = annotations[keep].copy()
    out[TERM] = resolved[codes[keep]]
    counts = {
        "remapped_alt_ids": int(remapped[codes].sum()),
        "dropped_obsolete": int(obsolete[codes].sum()),
        "dropped_unknown": int((~known)[codes].sum()),
    }
    return out, counts


def propagate(pairs: pd.DataFrame, dag: GoDag) -> pd.DataFrame:
    """Unique (gene, term) pairs closed upwards: a gene on a term is on all the term's ancestors."""
    ancestors = dag.ancestor_sets()
    lookup = pd.DataFrame(
        [(go_id, up) for go_id in pd.unique(pairs[TERM]) for up in (go_id, *ancestors[go_id])],
        columns=[TERM, "ancestor"],
    )
    closed = pairs[[GENE, TERM]].merge(lookup, on=TERM)[[GENE, "ancestor"]]
    closed = closed.rename(columns={"ancestor": TERM}).drop_duplicates()
    return closed.sort_values([TERM, GENE], ignore_index=True)


def _gene_sets(pairs: pd.DataFrame) -> dict[str, frozenset[str]]:
    return {go_id: frozenset(genes) for go_id, genes in pairs.groupby(TERM, sort=False)[GENE]}


def redundant_terms(dag: GoDag, term_genes: dict[str, frozenset[str]]) -> list[str]:
    """Terms with a single remaining child that has exactly their genes, removed bottom-up.

    When a term goes, its children move up to its parents, so a chain of terms with one
    gene set collapses to its lowest term in one pass.
    """
    children = {go_id: set(dag.children(go_id)) for go_id in dag}
    parents = {go_id: set(dag.parents(go_id)) for go_id in dag}
    removed: list[str] = []
    for go_id in reversed(dag.topological_order()):
        below = children[go_id]
        if len(below) != 1:
            continue
        (child,) = below
        if term_genes.get(go_id, frozenset()) != term_genes.get(child, frozenset()):
            continue
        removed.append(go_id)
        for parent in parents[go_id]:
            children[parent].discard(go_id)
            children[parent].add(child)
        parents[child].discard(go_id)
        parents[child] |= parents[go_id]
    return sorted(removed)


def dcell_filter(annotations: pd.DataFrame, dag: GoDag, config: DCellFilterConfig | None = None) -> DCellOntology:
    """Filter gene annotations and the GO DAG as DCell did; see the module docstring for the steps.

    `annotations` needs `systematic_name`, `go_id` and `evidence` columns (and `date`
    when `config.before_date` is set).
    """
    config = config or DCellFilterConfig()
    missing = {GENE, TERM, "evidence"} - set(annotations.columns)
    if missing:
        raise ValueError(f"annotations lack columns {sorted(missing)}")
    stats: dict[str, dict[str, int]] = {"input": {"rows": len(annotations), **_counts(annotations)}}

    rows = drop_evidence(annotations, config.drop_evidence)
    stats["evidence"] = {"rows": len(rows), **_counts(rows)}
    if config.before_date is not None:
        rows = filter_before_date(rows, config.before_date)
    stats["date"] = {"rows": len(rows), **_counts(rows)}
    rows, id_counts = map_to_current_ids(rows, dag)
    stats["current_ids"] = {"rows": len(rows), **_counts(rows), **id_counts}

    in_scope = [t for t, term in dag.terms.items() if term.namespace in config.namespaces and not term.is_obsolete]
    scoped = dag.contract(in_scope)
    rows = rows[rows[TERM].isin(scoped.terms)]
    pairs = rows[[GENE, TERM]].drop_duplicates()
    stats["namespace"] = {"rows": len(rows), **_counts(pairs)}

    closed = propagate(pairs, scoped)
    stats["propagated"] = _counts(closed)

    sizes = closed[TERM].value_counts()
    kept = list(scoped.terms) if config.min_genes <= 0 else sizes.index[sizes >= config.min_genes].tolist()
    filtered = scoped.contract(kept)
    closed = closed[closed[TERM].isin(filtered.terms)]
    stats["min_genes"] = {**_counts(closed), "terms": len(filtered)}

    if config.drop_redundant:
        gone = set(redundant_terms(filtered, _gene_sets(closed)))
        filtered = filtered.contract(t for t in filtered if t not in gone)
        closed = closed[closed[TERM].isin(filtered.terms)]
    stats["redundancy"] = {**_counts(closed), "terms": len(filtered)}

    term_genes = {go_id: sorted(genes) for go_id, genes in _gene_sets(closed).items()}
    term_genes = {go_id: term_genes.get(go_id, []) for go_id in sorted(filtered.terms)}
    return DCellOntology(filtered, term_genes, stats)
