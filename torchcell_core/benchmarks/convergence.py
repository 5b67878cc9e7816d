"""Convergence projections: fit a saturating curve to each run's validation Pearson per epoch and project
the epochs and wall time needed to reach a target Pearson (how GPU requests for longer runs are planned).

The curve is a power law in epochs approaching an asymptote, r(e) = r_inf - a * e**(-b) with r_inf <= 1,
a > 0 and b > 0 (equivalently a straight line in log-log coordinates of the gap r_inf - r). Extrapolating
it is a planning estimate, not a guarantee: learning-rate schedules, early stopping and over-fitting all
bend real curves away from it, which is why every projection carries a `status`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from torchcell_core.train.run_dir import RunDir

MIN_EPOCHS = 3
R_INF_SLACK = 0.02  # r_inf may sit this far below the best observed value (noise around the plateau)
B_BOUNDS = (1e-3, 5.0)
A_FLOOR = 1e-4  # a fit rising by less than this over all of training has no trend to extrapolate
B_STARTS = (0.3, 1.0, 2.5)
MIN_BOOTSTRAP_EPOCHS = 5
BOOTSTRAP = 200
BOOTSTRAP_SEED = 0
DROP_TOL = 0.02  # r_inf refitted without epoch 1 further than this (and than the interval's width): flagged
LABELS = ("fitness", "interaction")

OK = "ok"
TOO_FEW = "too few epochs"
FIT_FAILED = "fit failed"
DEGENERATE = "degenerate"
REACHED = "reached"
PROJECTED = "projected"
BEYOND_HORIZON = "beyond horizon"
UNREACHABLE = "not reachable under this fit"


@dataclass(frozen=True)
class ConvergenceFit:
    """A fitted r(e) = r_inf - a * e**(-b) over observed (epoch, Pearson) points, with the run's median
    seconds per epoch and samples/s; `status` is ok, too few epochs, fit failed or degenerate.
    `r_inf_drop_first` is r_inf refitted without the first epoch: far from r_inf (noted in `detail`), the
    asymptote rests on the warm-up epoch alone."""

    epochs: tuple[float, ...]
    pearson: tuple[float, ...]
    status: str
    detail: str = ""
    r_inf: float = math.nan
    a: float = math.nan
    b: float = math.nan
    r_inf_low: float = math.nan
    r_inf_high: float = math.nan
    r_inf_drop_first: float = math.nan
    seconds_per_epoch: float = math.nan
    samples_per_s: float = math.nan

    @property
    def has_curve(self) -> bool:
        """Whether there are parameters to draw (ok or degenerate fits)."""
        return self.status in (OK, DEGENERATE)

    @property
    def best(self) -> float:
        """The best observed validation Pearson (NaN without observations)."""
        return max(self.pearson) if self.pearson else math.nan


@dataclass(frozen=True)
class Projection:
    """Epochs (counted from the start of training) and wall time to reach `target`; None when the fit
    cannot say (too few epochs, degenerate fit) or the target lies at or above the fitted asymptote."""

    target: float
    epochs: float | None
    seconds: float | None
    status: str

    @property
    def hours(self) -> float | None:
        """The projected wall time in hours."""
        return None if self.seconds is None else self.seconds / 3600.0


@dataclass(frozen=True)
class RunFit:
    """One run's fit for one label, with the names that identify the run in tables and plots."""

    model: str
    dataset: str
    label: str
    fit: ConvergenceFit
    partition: str | None = None

    @property
    def name(self) -> str:
        """`model` or `model[partition]`, for legends."""
        return self.model if self.partition is None else f"{self.model}[{self.partition}]"


def saturating_curve(epochs: np.ndarray | float, r_inf: float, a: float, b: float) -> np.ndarray:
    """r(e) = r_inf - a * e**(-b): a power law rising towards the asymptote r_inf."""
    return r_inf - a * np.power(np.asarray(epochs, dtype=float), -b)


def _least_squares(
    epochs: np.ndarray, values: np.ndarray, start: np.ndarray | None = None
) -> tuple[np.ndarray, float] | None:
    """The best of a few starts (or one given `start`) of a bounded `curve_fit`: (parameters, sum of squared
    residuals), or None if no start converged."""
    from scipy.optimize import OptimizeWarning, curve_fit  # here, not at import: scipy.optimize takes ~1 s to load

    low = min(float(values.max()) - R_INF_SLACK, 1.0 - 1e-6)
    r_start = min(max(float(values.max()) + 0.02, low + 1e-6), 1.0)
    if start is None:
        starts = [(r_start, max(r_start - float(values[0]), 1e-3) * float(epochs[0]) ** b, b) for b in B_STARTS]
    else:
        r0, a0, b0 = (float(v) for v in start)
        starts = [(min(max(r0, low + 1e-6), 1.0), max(a0, 1e-6), min(max(b0, B_BOUNDS[0]), B_BOUNDS[1]))]
    best: tuple[np.ndarray, float] | None = None
    for p0 in starts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(
                    saturating_curve,
                    epochs,
                    values,
                    p0=p0,
                    bounds=((low, 0.0, B_BOUNDS[0]), (1.0, np.inf, B_BOUNDS[1])),
                    maxfev=20000,
                )
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((saturating_curve(epochs, *params) - values) ** 2))
        if np.all(np.isfinite(params)) and (best is None or sse < best[1]):
            best = (params, sse)
    return best


def _bootstrap_interval(epochs: np.ndarray, values: np.ndarray, params: np.ndarray) -> tuple[float, float]:
    """A 95% percentile interval for r_inf from a residual bootstrap: refit the fitted curve plus residuals
    resampled with replacement (scaled by sqrt(n / (n - 3)) for the fitted parameters), BOOTSTRAP times with
    a fixed seed; NaN with fewer than MIN_BOOTSTRAP_EPOCHS epochs (too few residuals to resample)."""
    n = len(epochs)
    if n < MIN_BOOTSTRAP_EPOCHS:
        return math.nan, math.nan
    fitted = saturating_curve(epochs, *params)
    residuals = (values - fitted) * math.sqrt(n / (n - 3))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    estimates = []
    for _ in range(BOOTSTRAP):
        result = _least_squares(epochs, fitted + rng.choice(residuals, n), start=params)
        if result is not None:
            estimates.append(result[0][0])
    if len(estimates) < BOOTSTRAP // 2:
        return math.nan, math.nan
    low, high = np.percentile(estimates, [2.5, 97.5])
    return float(low), float(high)


def fit_curve(
    epochs: Sequence[float],
    pearson: Sequence[float],
    seconds: Sequence[float] | None = None,
    samples_per_s: Sequence[float] | None = None,
) -> ConvergenceFit:
    """Fit r(e) = r_inf - a * e**(-b) to validation Pearson per epoch (non-finite values dropped, epochs
    shifted to start at 1 if they start at 0), so the curve can be extrapolated. The r_inf interval is a
    residual bootstrap (see _bootstrap_interval): it holds the curve's form fixed, so it is the uncertainty
    from epoch-to-epoch noise, not from the choice of curve (see `r_inf_drop_first` in projection_rows).
    Never raises on bad curves: fewer than 3 epochs, a failed or a degenerate fit are given as `status`."""
    x = np.asarray(epochs, dtype=float)
    y = np.asarray(pearson, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x)
    x, y = x[order], y[order]
    if len(x) and x[0] <= 0:
        x = x + (1.0 - x[0])
    timing = {
        "seconds_per_epoch": _median(seconds),
        "samples_per_s": _median(samples_per_s),
    }
    observed = {"epochs": tuple(float(v) for v in x), "pearson": tuple(float(v) for v in y), **timing}
    if len(x) < MIN_EPOCHS:
        return ConvergenceFit(status=TOO_FEW, detail=f"{len(x)} epoch(s), need {MIN_EPOCHS}", **observed)
    result = _least_squares(x, y)
    if result is None:
        return ConvergenceFit(status=FIT_FAILED, detail="curve_fit did not converge from any start", **observed)
    (r_inf, a, b), sse = result
    params = {"r_inf": float(r_inf), "a": float(a), "b": float(b)}
    rise = a * float(x[0]) ** (-b) - a * float(x[-1]) ** (-b)
    if rise < max(A_FLOOR, math.sqrt(sse / len(x))):
        return ConvergenceFit(status=DEGENERATE, detail="no rising trend above the noise", **params, **observed)
    if r_inf >= 1.0 - 1e-6:
        return ConvergenceFit(
            status=DEGENERATE, detail="asymptote at the bound 1: no saturation seen yet", **params, **observed
        )
    low, high = _bootstrap_interval(x, y, result[0])
    dropped = _least_squares(x[1:], y[1:]) if len(x) > MIN_EPOCHS else None
    drop_first = math.nan if dropped is None else float(dropped[0][0])
    detail = ""
    if math.isfinite(low) and math.isfinite(drop_first) and abs(drop_first - r_inf) > max(high - low, DROP_TOL):
        detail = f"r_inf rests on the first epoch: {drop_first:.3f} without it"
    return ConvergenceFit(
        status=OK, detail=detail, r_inf_low=low, r_inf_high=high, r_inf_drop_first=drop_first, **params, **observed
    )


def _median(values: Sequence[float] | None) -> float:
    if values is None:
        return math.nan
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.median(finite)) if finite else math.nan


def project(fit: ConvergenceFit, target: float, horizon_factor: float = math.inf) -> Projection:
    """Epochs to reach `target` Pearson, e = (a / (r_inf - target))**(1/b), and wall time = epochs × median
    seconds per epoch; the first observed epoch if the target was already reached. Status `beyond horizon`
    marks projections further than `horizon_factor` × the observed epochs (extrapolated far, trust less)."""
    for epoch, value in zip(fit.epochs, fit.pearson, strict=True):
        if value >= target:
            return Projection(target, epoch, _wall(epoch, fit), REACHED)
    if fit.status != OK:
        return Projection(target, None, None, fit.status)
    if target >= fit.r_inf:
        return Projection(target, None, None, UNREACHABLE)
    epochs = float((fit.a / (fit.r_inf - target)) ** (1.0 / fit.b))
    status = BEYOND_HORIZON if epochs > horizon_factor * max(fit.epochs) else PROJECTED
    return Projection(target, epochs, _wall(epochs, fit), status)


def _wall(epochs: float, fit: ConvergenceFit) -> float | None:
    return epochs * fit.seconds_per_epoch if math.isfinite(fit.seconds_per_epoch) else None


def history_series(metrics: Mapping, label: str) -> dict[str, list[float]]:
    """Epoch, validation Pearson for `label`, seconds and samples/s per epoch out of a metrics.json history."""
    series: dict[str, list[float]] = {"epochs": [], "pearson": [], "seconds": [], "samples_per_s": []}
    for record in metrics.get("history", []):
        value = record.get("val", {}).get(label, {}).get("pearson")
        series["epochs"].append(float(record["epoch"]))
        series["pearson"].append(math.nan if value is None else float(value))
        series["seconds"].append(float(record.get("seconds", math.nan)))
        series["samples_per_s"].append(float(record.get("samples_per_s", math.nan)))
    return series


def load_metrics(run_dir: str | Path) -> dict:
    """A run's metrics.json (written by torchcell_core.train)."""
    return RunDir(Path(run_dir)).read_metrics()


def fit_runs(runs: Iterable[tuple[str, str, str | None, Mapping]], labels: Sequence[str] = LABELS) -> list[RunFit]:
    """One RunFit per (run, label) for runs given as (model, dataset, partition, metrics); labels a run
    never validated are skipped."""
    fits = []
    for model, dataset, partition, metrics in runs:
        seen = {label for record in metrics.get("history", []) for label in record.get("val", {})}
        for label in labels:
            if label not in seen:
                continue
            fits.append(RunFit(model, dataset, label, fit_curve(**history_series(metrics, label)), partition))
    return fits


def projection_rows(
    fits: Sequence[RunFit], targets: Mapping[str, float], horizon_factor: float = math.inf
) -> list[dict]:
    """One row per (run, label): the fit, its r_inf interval and the projection to that label's target."""
    rows = []
    for item in fits:
        fit = item.fit
        target = float(targets[item.label])
        projection = project(fit, target, horizon_factor)
        status = projection.status
        if fit.status not in (OK, status):
            status = f"{status}; fit {fit.status}"
        if fit.detail:
            status = f"{status} ({fit.detail})"
        rows.append(
            {
                "model": item.model,
                "dataset": item.dataset,
                "partition": item.partition,
                "label": item.label,
                "epochs_observed": len(fit.epochs),
                "best_val_pearson": fit.best,
                "r_inf": fit.r_inf,
                "r_inf_low": fit.r_inf_low,
                "r_inf_high": fit.r_inf_high,
                "r_inf_drop_first": fit.r_inf_drop_first,
                "a": fit.a,
                "b": fit.b,
                "target": target,
                "epochs_to_target": projection.epochs,
                "hours_to_target": projection.hours,
                "seconds_per_epoch": fit.seconds_per_epoch,
                "samples_per_s": fit.samples_per_s,
                "status": status,
            }
        )
    return rows


def convergence_plot(
    fits: Sequence[RunFit],
    targets: Mapping[str, float],
    path: str | Path,
    horizon_factor: float = 10.0,
    title: str = "validation Pearson per epoch",
) -> Path:
    """One panel per label, a colour per run: observed validation Pearson (points), the fitted curve over the
    observed epochs (solid) and projected to `horizon_factor` × them (dashed), the target (grey dashed line)
    and the projected epoch (star), on a log epoch axis. Saved as PNG at `path`."""
    labels = [label for label in LABELS if any(f.label == label for f in fits)]
    labels += sorted({f.label for f in fits} - set(labels))
    figure, axes = plt.subplots(1, max(len(labels), 1), figsize=(6.0 * max(len(labels), 1), 4.5), squeeze=False)
    several_datasets = len({item.dataset for item in fits}) > 1
    names = sorted({_legend_name(item, several_datasets) for item in fits})
    colours = {name: plt.cm.tab10(index % 10) for index, name in enumerate(names)}
    for axis, label in zip(axes[0], labels, strict=False):
        target = float(targets[label])
        for item in (f for f in fits if f.label == label):
            name = _legend_name(item, several_datasets)
            _draw_run(axis, item, name, target, horizon_factor, colours[name])
        axis.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
        axis.set_xscale("log")
        axis.set_xlabel("epoch")
        axis.set_ylabel("validation Pearson")
        axis.set_title(label)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7, loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _legend_name(item: RunFit, with_dataset: bool) -> str:
    return f"{item.name} / {item.dataset}" if with_dataset else item.name


def _draw_run(axis: plt.Axes, item: RunFit, name: str, target: float, horizon_factor: float, colour: tuple) -> None:
    fit = item.fit
    legend = f"{name} ({fit.status})" if fit.status != OK else name
    axis.plot(fit.epochs, fit.pearson, "o", color=colour, markersize=4, label=legend)
    if not fit.has_curve:
        return
    last = max(fit.epochs)
    seen = np.geomspace(min(fit.epochs), last, 50)
    axis.plot(seen, saturating_curve(seen, fit.r_inf, fit.a, fit.b), "-", color=colour, linewidth=1.2)
    if fit.status != OK:  # a degenerate fit is drawn where it was fitted, not extrapolated
        return
    projection = project(fit, target, horizon_factor)
    end = last * max(horizon_factor, 1.0)
    if projection.status == BEYOND_HORIZON and projection.epochs is not None:
        end = min(projection.epochs * 1.2, end * 10.0)  # the star is off the axis past 10 × the horizon
    ahead = np.geomspace(last, end, 80)
    axis.plot(ahead, saturating_curve(ahead, fit.r_inf, fit.a, fit.b), "--", color=colour, linewidth=1.2)
    if projection.epochs is not None and projection.status != REACHED and projection.epochs <= end:
        axis.plot(
            [projection.epochs],
            [target],
            "*",
            color=colour,
            markersize=12,
            markeredgecolor="black",
            label=f"{name}: {projection.epochs:.0f} epochs",
        )
