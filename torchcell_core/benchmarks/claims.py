"""The reference report's claims (TorchCell's ACCESS report), each stated against one comparison (a dataset ×
split of the benchmark table): SUPPORTED, CONTRADICTED or NOT DECIDED (95% CIs overlap, or the runs needed are
missing), with the numbers that decide it. A claim is never assumed: a result that contradicts the report is
reported as it is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from torchcell_core.benchmarks.model_table import row_pearson

SUPPORTED, CONTRADICTED, UNDECIDED = "SUPPORTED", "CONTRADICTED", "NOT DECIDED"
FITNESS_CLOSE = 0.9  # "predicts fitness well": at least this share of the best model's fitness Pearson


@dataclass(frozen=True)
class Verdict:
    claim: str
    verdict: str
    evidence: str

    def line(self) -> str:
        return f"{self.claim}: {self.verdict} ({self.evidence})"


def _best(
    rows: pd.DataFrame, target: str, families: tuple[str, ...] | None = None, models: tuple[str, ...] | None = None
) -> pd.Series | None:
    part = rows[(rows["target"] == target) & rows["pearson"].notna()]
    if families is not None:
        part = part[part["family"].isin(families)]
    if models is not None:
        part = part[part["model"].isin(models)]
    return None if part.empty else part.loc[part["pearson"].idxmax()]


def _show(row: pd.Series) -> str:
    graph = f"/{row['graph_set']}" if isinstance(row.get("graph_set"), str) and row.get("graph_set") else ""
    return f"{row['model']}{graph} {row_pearson(row)}"


def _order(a: pd.Series, b: pd.Series) -> int:
    """+1 when a's CI lies above b's, −1 when below, 0 when they overlap."""
    if a["pearson_ci_low"] > b["pearson_ci_high"]:
        return 1
    if a["pearson_ci_high"] < b["pearson_ci_low"]:
        return -1
    return 0


def classical_fitness_not_interactions(rows: pd.DataFrame) -> Verdict:
    """(1) Classical models (RF/SVR on gene features) predict fitness well but gene interactions poorly."""
    claim = "1. classical models: good on fitness, poor on interactions"
    fit_classical, fit_best = _best(rows, "fitness", ("classical",)), _best(rows, "fitness")
    int_classical = _best(rows, "interaction", ("classical",))
    int_other = _best(rows, "interaction", ("baseline", "ontology", "graph"))
    if fit_classical is None or int_classical is None or int_other is None:
        return Verdict(claim, UNDECIDED, "needs classical models and another family on both targets")
    close = fit_classical["pearson"] >= FITNESS_CLOSE * fit_best["pearson"]
    good_fitness = close or _order(fit_classical, fit_best) == 0
    order = _order(int_classical, int_other)
    evidence = (
        f"fitness: best classical {_show(fit_classical)} vs best {_show(fit_best)}; interaction: best "
        f"classical {_show(int_classical)} vs best other {_show(int_other)}"
    )
    if good_fitness and order < 0:
        return Verdict(claim, SUPPORTED, evidence)
    if not good_fitness or order > 0:
        return Verdict(claim, CONTRADICTED, evidence)
    return Verdict(claim, UNDECIDED, evidence + "; interaction CIs overlap")


def graph_models_win_interactions(rows: pd.DataFrame) -> Verdict:
    """(2) Graph models over protein and regulatory networks do better on interactions than the rest."""
    claim = "2. graph models beat classical models and baselines on interactions"
    graph = _best(rows, "interaction", ("graph",))
    other = _best(rows, "interaction", ("baseline", "classical"))
    if graph is None or other is None:
        return Verdict(claim, UNDECIDED, "needs a graph model and a baseline or classical model")
    order = _order(graph, other)
    evidence = f"best graph {_show(graph)} vs best baseline/classical {_show(other)}"
    return Verdict(
        claim, {1: SUPPORTED, -1: CONTRADICTED, 0: UNDECIDED}[order], evidence + ("; CIs overlap" if order == 0 else "")
    )


def string_versions(rows: pd.DataFrame) -> Verdict:
    """(3) STRING 9.1 beats STRING 12.0 (about 10x the edges), and Dango converges more slowly on 12.0."""
    claim = "3. STRING 9.1 beats STRING 12.0 (and Dango converges more slowly on 12.0)"
    interaction = rows[(rows["target"] == "interaction") & rows["graph_set"].isin(["string9_1", "string12"])]
    best = interaction.sort_values("pearson").groupby(["model", "graph_set"]).tail(1)  # one run per model and graph
    pairs = [
        (m, part.set_index("graph_set"))
        for m, part in best.groupby("model")
        if {"string9_1", "string12"} <= set(part["graph_set"])
    ]
    if not pairs:
        return Verdict(
            claim,
            UNDECIDED,
            "no model was trained on both STRING 9.1 and STRING 12 in this "
            "comparison (the graph sweep: sweep_plan, sweep_table)",
        )
    parts, orders = [], []
    for model, part in pairs:
        old, new = part.loc["string9_1"], part.loc["string12"]
        orders.append(_order(old, new))
        parts.append(
            f"{model}: STRING 9.1 {row_pearson(old)} vs STRING 12 {row_pearson(new)}, "
            f"best epoch {old.get('best_epoch')} vs {new.get('best_epoch')}"
        )
    verdict = SUPPORTED if all(o > 0 for o in orders) else CONTRADICTED if all(o < 0 for o in orders) else UNDECIDED
    return Verdict(claim, verdict, "; ".join(parts))


def dcell_is_the_baseline_to_beat(rows: pd.DataFrame) -> Verdict:
    """(4) DCell is the ontology baseline to beat: better than the simple baselines on interactions."""
    claim = "4. DCell is the (ontology) baseline to beat on interactions"
    dcell = _best(rows, "interaction", models=("dcell",))
    simple = _best(rows, "interaction", ("baseline",))
    if dcell is None or simple is None:
        return Verdict(claim, UNDECIDED, "needs DCell and the simple baselines")
    order = _order(dcell, simple)
    graph = _best(rows, "interaction", ("graph",))
    verb = "beats" if graph is not None and _order(graph, dcell) > 0 else "does not clearly beat"
    beaten = "" if graph is None else f"; best graph {_show(graph)} {verb} it"
    evidence = f"{_show(dcell)} vs best simple baseline {_show(simple)}{beaten}"
    return Verdict(claim, {1: SUPPORTED, -1: CONTRADICTED, 0: UNDECIDED}[order], evidence)


def training_takes_long(rows: pd.DataFrame) -> Verdict:
    """(5) Training takes long: models are still improving when the run ends (their convergence is projected)."""
    claim = "5. training takes long (runs end before validation stops improving; convergence must be projected)"
    neural = rows[
        (rows["target"] == "interaction")
        & rows["epochs"].notna()
        & rows["family"].isin(("baseline", "ontology", "graph"))
    ]
    if neural.empty:
        return Verdict(claim, UNDECIDED, "no neural run")
    capped = [
        f"{r['model']} (best epoch {int(r['best_epoch'])} of {int(r['epochs'])}, {r['train_seconds']:.0f} s)"
        for _, r in neural.iterrows()
        if np.isfinite(r.get("best_epoch", np.nan)) and r["best_epoch"] >= r["epochs"] - 1
    ]
    stopped = [
        f"{r['model']} ({int(r['epochs'])} epochs)"
        for _, r in neural.iterrows()
        if np.isfinite(r.get("best_epoch", np.nan)) and r["best_epoch"] < r["epochs"] - 1
    ]
    evidence = (
        f"still improving at the end: {', '.join(capped) or 'none'}; stopped early on validation: "
        f"{', '.join(stopped) or 'none'}"
    )
    if capped:
        return Verdict(claim, SUPPORTED, evidence)
    return Verdict(
        claim,
        UNDECIDED,
        evidence + "; at this size every run converged, the claim is about full-size "
        "screens (see convergence_projections)",
    )


CLAIMS = (
    classical_fitness_not_interactions,
    graph_models_win_interactions,
    string_versions,
    dcell_is_the_baseline_to_beat,
    training_takes_long,
)


def claim_verdicts(table: pd.DataFrame, dataset: str, split: str) -> list[Verdict]:
    """Every claim against the comparison (dataset, split) of a benchmark table (`model_table` rows)."""
    rows = table[(table["dataset"] == dataset) & (table["split_type"] == split) & (table["family"] != "ceiling")]
    rows = rows.assign(graph_set=rows["graph_set"].fillna("") if "graph_set" in rows else "")
    return [check(rows) for check in CLAIMS]
