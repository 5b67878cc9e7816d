"""The strain-design asset: every pair (or triple) of a pathway's genes ranked by a trained model, with intervals."""

import dagster as dg
import numpy as np
import pandas as pd

from torchcell_assets.defs.models.runs import TrainedRun, inputs_table, trained_runs
from torchcell_assets.defs.models.training import MODEL_ASSETS
from torchcell_assets.defs.sources.genome import go_dag
from torchcell_assets.defs.sources.paths import GO_TERMS
from torchcell_assets.lib.automation import FOLLOW_TRAINING_RUNS
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import image, metadata_table
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_assets.lib.tables import publish_table
from torchcell_core.design.strain_design import (
    OBJECTIVES,
    candidate_genotypes,
    default_size,
    design_plot,
    go_term_genes,
    load_design_run,
    rank_candidates,
    resolve_genes,
)

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

STRAIN_DESIGN = "strain_design"
DESIGN_CSV = ("design", "strain_design.csv")
DESIGN_PNG = ("design", "strain_design.png")
DEFAULT_MODEL = "dango"
# ergosterol biosynthetic process: 24 genes after the DCell filters (ERG1, ERG11, ERG7, ...), so 276 pairs or
# 2,024 triples; the pathway azole and allylamine antifungals target, a classic place to look for lethal pairs.
DEFAULT_GO_TERM = "GO:0006696"
SHOWN = [
    "rank",
    "genes",
    "standard_names",
    "predicted_fitness",
    "fitness_low",
    "fitness_high",
    "predicted_interaction",
    "interaction_low",
    "interaction_high",
    "genes_in_training",
    "in_dataset",
    "measured_fitness",
    "measured_interaction",
]
UNCERTAINTY = (
    "interval = prediction ± z·sqrt(mc_sd² + rmse²): MC-dropout spread (0 without dropout) and the "
    "run's held-out RMSE for genotypes of that size; an approximate predictive interval for a "
    "measurement, optimistic for genes unseen in training"
)


class StrainDesignConfig(dg.Config):
    """Which trained model ranks which candidates, and how."""

    model: str = ""  # a trained neural model (mlp, dcell, dango, hetero_gnn); "" = dango if trained, else the first
    dataset: str = ""  # the run's dataset (the model asset's partition) when it was trained on several; "" = first
    go_term: str = DEFAULT_GO_TERM  # the pathway whose genes are combined (go_dag's terms, propagated)
    genes: list[str] = []  # systematic or standard names; when given, used instead of go_term
    size: int = 0  # 2: all pairs, 3: all triples; 0: the size the run trained on most (triples for trigenic runs)
    max_candidates: int = 5000
    objective: str = "lowest_fitness"  # lowest_fitness, highest_fitness or most_negative_interaction
    top: int = 20  # candidates shown in the metadata table and highlighted in the plot
    mc_passes: int = 30  # MC-dropout passes (used only when the model has dropout)
    confidence: float = 0.95
    seed: int = 0
    device: str = "cpu"


def choose_run(runs: list[TrainedRun], model: str, dataset: str = "") -> TrainedRun:
    """The run of `model` (on `dataset` when given); no model named: dango if trained, else the first run.
    Several matching runs: the first in partition order."""
    if not runs:
        raise ValueError(f"no trained model: materialize one of {sorted(MODEL_ASSETS)} (e.g. {DEFAULT_MODEL}_model)")
    found = [f"{r.model}/{r.partition or r.dataset}" for r in runs]
    wanted = model or (DEFAULT_MODEL if any(r.model == DEFAULT_MODEL for r in runs) else runs[0].model)
    matches = [r for r in runs if r.model == wanted and (not dataset or r.dataset == dataset)]
    if not matches:
        where = f" on dataset {dataset!r}" if dataset else ""
        raise ValueError(f"model {wanted!r}{where} is not trained; trained runs: {found}")
    return matches[0]


@dg.asset(
    group_name="design",
    code_version=CODE_VERSION,
    automation_condition=FOLLOW_TRAINING_RUNS,
    deps=[*MODEL_ASSETS.values(), go_dag],
    kinds={"pytorch", "duckdb"},
)
def strain_design(
    context: dg.AssetExecutionContext, config: StrainDesignConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """Rank every pair (or triple) of deletions among a pathway's genes (a GO term, or an explicit gene list) by a
    trained model's predicted fitness or interaction, with intervals from MC dropout and the run's held-out
    error; DuckDB table, CSV, plot, and whether each genotype was measured in the run's data; the model partition
    read, with its data version (`inputs`)."""
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {config.objective!r}")
    chosen = choose_run(trained_runs(context.instance, storage), config.model, config.dataset)
    context.log.info(f"strain design with {chosen.model}, partition {chosen.partition} ({chosen.run_dir})")
    run = load_design_run(chosen.run_dir, device=config.device)
    if config.genes:
        gene_set = f"{len(config.genes)} genes given"
        genes, missing = resolve_genes(run, config.genes, strict=True)
    else:
        name, members = go_term_genes(storage.path(*GO_TERMS), config.go_term)
        gene_set = f"{config.go_term} {name}"
        genes, missing = resolve_genes(run, members, strict=False)
        if missing:
            context.log.warning(f"{len(missing)} gene(s) of {config.go_term} are not in the model: {missing}")
    size = config.size or default_size(run)
    genotypes = candidate_genotypes(genes, size, config.max_candidates)
    context.log.info(f"{gene_set}: {len(genes)} genes, {len(genotypes)} {size}-gene candidates")
    if not run.training_sizes.get(size):
        context.log.warning(f"the model saw no {size}-gene genotypes in training: its predictions extrapolate")
    table = rank_candidates(run, genotypes, config.objective, config.mc_passes, config.confidence, config.seed)
    table.insert(table.columns.get_loc("run_dir"), "dataset", chosen.dataset)
    table.insert(table.columns.get_loc("run_dir"), "partition", str(chosen.partition or ""))
    table["run_dir"] = storage.relative(chosen.run_dir)
    table["gene_set"] = gene_set
    context.log.info(
        f"ranked {len(table)} candidates by {config.objective} (MC passes used: "
        f"{int(table['mc_passes'].iloc[0])}); environment {run.environment_name}"
    )

    published = publish_table(storage, STRAIN_DESIGN, DESIGN_CSV, table)
    title = f"{chosen.model} on {chosen.dataset}: {size}-gene deletions in {gene_set}, by {config.objective}" + (
        " [SIMULATED screens]" if run.simulated else ""
    )
    plot = design_plot(table, storage.path(*DESIGN_PNG), title, top=config.top)
    shown = table[[c for c in SHOWN if c in table]].head(config.top)
    return dg.MaterializeResult(
        metadata={
            "top_candidates": metadata_table(shown),
            "inputs": inputs_table([chosen], storage),
            "plot": image(plot, "predicted fitness vs interaction of the candidates"),
            "dagster/row_count": len(table),
            "candidates": len(table),
            "gene_set": gene_set,
            "genes": len(genes),
            "size": size,
            "training_genotypes_of_size": int(run.training_sizes.get(size, 0)),
            "genes_not_in_model": dg.MetadataValue.json(missing),
            "candidates_measured": int(table["in_dataset"].sum()),
            "candidates_in_training": int(table["in_training"].sum()),
            "candidates_with_unseen_genes": int((table["genes_in_training"] < table["size"]).sum()),
            "model": chosen.model,
            "dataset": chosen.dataset,
            "partition": str(chosen.partition or ""),
            "run_dir": dg.MetadataValue.path(storage.relative(chosen.run_dir)),
            "weights": run.weights,
            "environment": run.environment_name,
            "objective": config.objective,
            "uncertainty": UNCERTAINTY,
            "residual_fold": run.residual_fold,
            "mc_passes": int(table["mc_passes"].iloc[0]),
            "confidence": config.confidence,
            "simulated": run.simulated,
            **published.metadata,
        },
        data_version=published.data_version,
    )


@dg.asset_check(asset=strain_design, name="ranked_with_bracketing_intervals")
def ranked_with_bracketing_intervals(storage: TorchcellStorage) -> dg.AssetCheckResult:
    """Every prediction is finite and inside its interval, and ranks 1..n follow the objective's order."""
    table = pd.read_csv(storage.path(*DESIGN_CSV))
    labels = [c.removeprefix("predicted_") for c in table.columns if c.startswith("predicted_")]
    point = table[[f"predicted_{label}" for label in labels]].to_numpy()
    low = table[[f"{label}_low" for label in labels]].to_numpy()
    high = table[[f"{label}_high" for label in labels]].to_numpy()
    finite = bool(np.isfinite(point).all() and np.isfinite(low).all() and np.isfinite(high).all())
    bracketed = bool(((low <= point + 1e-12) & (point <= high + 1e-12)).all())
    label, ascending = OBJECTIVES[str(table["objective"].iloc[0])] if len(table) else ("fitness", True)
    key = table[f"predicted_{label}"].to_numpy()
    ordered = bool((np.diff(key) >= 0).all() if ascending else (np.diff(key) <= 0).all())
    ranks = bool((table["rank"].to_numpy() == np.arange(1, len(table) + 1)).all())
    return dg.AssetCheckResult(
        passed=finite and bracketed and ordered and ranks and len(table) > 0,
        metadata={
            "rows": len(table),
            "all_finite": finite,
            "intervals_bracket": bracketed,
            "ordered_by_objective": ordered,
            "ranks_consecutive": ranks,
        },
    )
