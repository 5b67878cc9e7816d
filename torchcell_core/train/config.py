"""Every hyperparameter of a training run as one dataclass, parsed from argv.

`TrainSettings` holds how a run trains (epochs, optimizer, early stopping, device, seed, resume...), each with
its one default; `TrainConfig` adds what it trains on and where it writes. The Dagster configs are derived
from `TrainSettings` (`torchcell_assets.lib.config_model`), so a setting has one name, default and meaning.
Hyperparameters travel as command-line arguments, so `torchrun` hands the same ones to every rank
(on every node) and a run is reproduced from its `config.json`. The config is also written into each
checkpoint, and resuming checks that the settings that shape the trajectory did not change.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

SCHEDULERS = ("cosine", "plateau", "none")
DEVICES = ("auto", "cpu", "cuda")
WANDB_MODES = ("auto", "offline", "online", "disabled")
# Settings that may change between an interrupted run and its resumption; every other one must match
# (`epochs` too: the cosine schedule restored from the checkpoint is laid out over the original count).
RESUMABLE_CHANGES = frozenset(
    {
        "out",
        "resume",
        "stop_after_epochs",
        "device",
        "num_workers",
        "eval_batch_size",
        "eval_memory_gib",
        "bootstrap",
        "wandb",
        "wandb_dir",
        "wandb_project",
        "wandb_group",
        "run_name",
        "patience",
    }
)
RESUME_HELP = (
    "continue an interrupted run from the last checkpoint its run directory holds, when it holds one; "
    "the settings that shape the trajectory must then match"
)


def _setting(default: Any, help: str) -> Any:
    """A settings field: its one default and the help text the CLI and the Dagster launchpad both show."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainSettings:
    """How a run trains, with the one default of each setting: the CLI's flags, the Dagster model and sweep
    configs (`torchcell_assets.lib.config_model`) and the checkpoints' saved config all take them from here."""

    epochs: int = _setting(0, "the most epochs trained (early stopping ends a run sooner); 0: the model's default")
    batch_size: int = _setting(256, "training batch size (per rank)")
    eval_batch_size: int = _setting(0, "evaluation batch size; 0: the largest whose estimate fits eval_memory_gib")
    eval_memory_gib: float = _setting(1.5, "memory an automatic evaluation batch may take (models that estimate it)")
    lr: float = _setting(1e-3, "AdamW learning rate")
    weight_decay: float = _setting(1e-2, "AdamW weight decay")
    scheduler: str = _setting("cosine", f"learning-rate schedule: one of {SCHEDULERS}")
    grad_clip: float = _setting(1.0, "gradient-norm clip; 0 turns clipping off")
    patience: int = _setting(4, "epochs without a better validation interaction Pearson before stopping early")
    seed: int = _setting(0, "seed of the weights, the shuffles and the bootstrap")
    device: str = _setting("auto", f"one of {DEVICES}; auto: cuda when available, else cpu")
    num_workers: int = _setting(0, "DataLoader worker processes per rank")
    find_unused_parameters: bool = _setting(True, "DDP: allow parameters a batch does not reach")
    bootstrap: int = _setting(1000, "bootstrap resamples of the test metrics' 95% CIs; 0: no CIs")
    resume: bool = _setting(True, RESUME_HELP)
    wandb: str = _setting("auto", f"wandb mode: one of {WANDB_MODES}")
    wandb_project: str = _setting("torchcell", "wandb project")

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 0, f"epochs must be 0 (the model's default) or more, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (self.eval_batch_size >= 0, f"eval_batch_size must be 0 (automatic) or more, got {self.eval_batch_size}"),
            (self.eval_memory_gib > 0, f"eval_memory_gib must be positive, got {self.eval_memory_gib}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be non-negative, got {self.weight_decay}"),
            (self.grad_clip >= 0, f"grad_clip must be non-negative (0 turns clipping off), got {self.grad_clip}"),
            (self.patience >= 1, f"patience must be at least 1, got {self.patience}"),
            (self.num_workers >= 0, f"num_workers must be non-negative, got {self.num_workers}"),
            (self.bootstrap >= 0, f"bootstrap must be non-negative, got {self.bootstrap}"),
            (self.scheduler in SCHEDULERS, f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}"),
            (self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}"),
            (self.wandb in WANDB_MODES, f"wandb must be one of {WANDB_MODES}, got {self.wandb!r}"),
        ]
        _raise_first(checks)


@dataclass(kw_only=True)
class TrainConfig(TrainSettings):
    """One training run: what it trains on and where it writes, plus its `TrainSettings`. Paths are strings so
    the config is JSON as it stands."""

    model: str
    dataset: str
    gene_table: str
    out: str
    hparams: dict[str, Any] = field(default_factory=dict)
    split: str = "split_random"
    labels: list[str] = field(default_factory=lambda: ["fitness", "interaction"])
    gene_features: str | None = None
    cell_graph: str | None = None
    go_terms: str | None = None
    go_edges: str | None = None
    # DCell: restrict the ontology to the genes the dataset perturbs (terms sized by those genes, terms without
    # one dropped): the same predictions' inputs at a fraction of the cost on a small screen.
    go_dataset_genes: bool = False
    stop_after_epochs: int | None = None
    wandb_dir: str | None = None
    wandb_group: str | None = None  # runs of one sweep share a group (its sweep id)
    run_name: str | None = None
    # set by `run.train`: a digest of the input files' contents, so resuming on changed data is refused
    inputs_sha256: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _raise_first(
            [
                (bool(self.labels), "labels is empty: name at least one label column"),
                (
                    self.stop_after_epochs is None or self.stop_after_epochs >= 1,
                    f"stop_after_epochs must be at least 1, got {self.stop_after_epochs}",
                ),
            ]
        )

    @classmethod
    def from_settings(cls, settings: TrainSettings, **inputs: Any) -> TrainConfig:
        """The run of `inputs` (model, paths...) trained with `settings`."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(TrainSettings)}, **inputs)

    def resolved(self) -> TrainConfig:
        """This config with `epochs: 0` replaced by the model's registered default (`ModelSpec.epochs`): the one
        place that rule lives, used by `run.train` (CLI, Pipes, SLURM, Kubernetes) and the Dagster assets."""
        if self.epochs:
            return self
        from torchcell_core.models.base import model_specs  # the registry imports every model (torch)

        specs = model_specs()
        if self.model not in specs:  # as `build_model` says it
            raise KeyError(f"unknown model {self.model!r}; registered: {sorted(specs)}")
        return replace(self, epochs=specs[self.model].epochs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}")
        return cls(**values)

    def settings(self) -> TrainSettings:
        """This run's `TrainSettings` alone."""
        return TrainSettings(**{f.name: getattr(self, f.name) for f in fields(TrainSettings)})

    def resume_mismatches(self, saved: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """{key: (saved, now)} for settings that may not change when resuming (see RESUMABLE_CHANGES)."""
        now = self.to_dict()
        if "inputs_sha256" not in saved:  # a checkpoint written before inputs were digested
            now.pop("inputs_sha256")
        return {
            key: (saved.get(key), value)
            for key, value in now.items()
            if key not in RESUMABLE_CHANGES and saved.get(key) != value
        }


def _raise_first(checks: Sequence[tuple[bool, str]]) -> None:
    """Raise ValueError with the message of the first failed (ok, message) check."""
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def parse_hparam(text: str) -> tuple[str, Any]:
    """`key=value` → (key, value); the value is read as JSON when it parses (numbers, true/false, lists,
    null), else kept as a string, so `hidden_dim=64`, `dropout=0.1`, `pooling=mean` all do what they say."""
    key, separator, raw = text.partition("=")
    key = key.strip()
    if not separator or not key or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--hparam expects key=value with a Python identifier as key, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser behind `parse_args` (flags are the field names with dashes)."""
    defaults = TrainConfig(model="", dataset="", gene_table="", out="")
    parser = argparse.ArgumentParser(
        prog="python -m torchcell_core.train.run",
        description="Train a registered perturbation model; run under torchrun for DDP.",
    )
    parser.add_argument("--model", required=True, help="registered model name (torchcell_core.models)")
    parser.add_argument("--dataset", required=True, help="curated dataset Parquet")
    parser.add_argument("--gene-table", required=True, help="genome gene table Parquet or a text file of genes")
    parser.add_argument("--out", required=True, help="run directory (checkpoints, metrics, predictions)")
    parser.add_argument(
        "--hparam",
        action="append",
        type=parse_hparam,
        default=[],
        metavar="KEY=VALUE",
        help="model hyperparameter (repeat the flag)",
    )
    parser.add_argument("--labels", nargs="+", default=defaults.labels)
    for name in ("gene_features", "cell_graph", "go_terms", "go_edges"):
        parser.add_argument(f"--{name.replace('_', '-')}", default=None)
    for f in fields(TrainConfig):
        if f.name in {
            "model",
            "dataset",
            "gene_table",
            "out",
            "hparams",
            "labels",
            "gene_features",
            "cell_graph",
            "go_terms",
            "go_edges",
        }:
            continue
        flag, default, text = f"--{f.name.replace('_', '-')}", getattr(defaults, f.name), f.metadata.get("help")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif f.name == "stop_after_epochs":
            parser.add_argument(flag, type=int, default=None, help="leave after N epochs, as if interrupted")
        elif f.name in {"wandb_dir", "wandb_group", "run_name", "inputs_sha256"}:
            parser.add_argument(flag, default=None)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=text)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """The `TrainConfig` of a command line; a repeated `--hparam` key is an error."""
    namespace = vars(build_parser().parse_args(argv))
    pairs = namespace.pop("hparam")
    hparams: dict[str, Any] = {}
    for key, value in pairs:
        if key in hparams:
            raise ValueError(f"--hparam {key} is given twice")
        hparams[key] = value
    return TrainConfig(hparams=hparams, **namespace)


def to_argv(config: TrainConfig) -> list[str]:
    """The command line that parses back to `config` (for launching `torchrun` from Python)."""
    argv: list[str] = []
    for key, value in config.to_dict().items():
        flag = f"--{key.replace('_', '-')}"
        if key == "hparams":
            for name, item in value.items():
                argv += ["--hparam", f"{name}={item if _reads_as_string(item) else json.dumps(item)}"]
        elif key == "labels":
            argv += [flag, *value]
        elif isinstance(value, bool):
            argv.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _reads_as_string(value: Any) -> bool:
    """True when `parse_hparam` reads `value` back unquoted as the same string."""
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except json.JSONDecodeError:
        return True
    return False
