"""Every hyperparameter of a training run as one dataclass, parsed from argv.

Hyperparameters travel as command-line arguments, so `torchrun` hands the same ones to every rank
(on every node) and a run is reproduced from its `config.json`. The config is also written into each
checkpoint, and resuming checks that the settings that shape the trajectory did not change.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEDULERS = ("cosine", "plateau", "none")
DEVICES = ("auto", "cpu", "cuda")
WANDB_MODES = ("auto", "offline", "online", "disabled")
# Settings that may change between an interrupted run and its resumption; every other one must match
# (`epochs` too: the cosine schedule restored from the checkpoint is laid out over the original count).
RESUMABLE_CHANGES = frozenset(
    {"out", "resume", "stop_after_epochs", "device", "num_workers", "eval_batch_size", "eval_memory_gib", "bootstrap",
     "wandb", "wandb_dir", "wandb_project", "wandb_group", "run_name", "patience"}
)  # fmt: skip


@dataclass
class TrainConfig:
    """One training run. Paths are strings so the config is JSON as it stands."""

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
    epochs: int = 50
    batch_size: int = 256
    eval_batch_size: int = 0  # 0: automatic, the largest batch whose estimated memory fits eval_memory_gib
    eval_memory_gib: float = 1.5  # memory an automatic evaluation batch may take (models that estimate it)
    lr: float = 1e-3
    weight_decay: float = 1e-2
    scheduler: str = "cosine"
    grad_clip: float = 1.0
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    find_unused_parameters: bool = True
    bootstrap: int = 1000
    resume: bool = True
    stop_after_epochs: int | None = None
    wandb: str = "auto"
    wandb_dir: str | None = None
    wandb_project: str = "torchcell"
    wandb_group: str | None = None  # runs of one sweep share a group (its sweep id)
    run_name: str | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (self.eval_batch_size >= 0, f"eval_batch_size must be 0 (automatic) or more, got {self.eval_batch_size}"),
            (self.eval_memory_gib > 0, f"eval_memory_gib must be positive, got {self.eval_memory_gib}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be non-negative, got {self.weight_decay}"),
            (self.grad_clip >= 0, f"grad_clip must be non-negative (0 turns clipping off), got {self.grad_clip}"),
            (self.patience >= 1, f"patience must be at least 1, got {self.patience}"),
            (self.bootstrap >= 0, f"bootstrap must be non-negative, got {self.bootstrap}"),
            (self.scheduler in SCHEDULERS, f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}"),
            (self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}"),
            (self.wandb in WANDB_MODES, f"wandb must be one of {WANDB_MODES}, got {self.wandb!r}"),
            (bool(self.labels), "labels is empty: name at least one label column"),
            (self.stop_after_epochs is None or self.stop_after_epochs >= 1,
             f"stop_after_epochs must be at least 1, got {self.stop_after_epochs}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

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

    def resume_mismatches(self, saved: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """{key: (saved, now)} for settings that may not change when resuming (see RESUMABLE_CHANGES)."""
        now = self.to_dict()
        return {key: (saved.get(key), value) for key, value in now.items()
                if key not in RESUMABLE_CHANGES and saved.get(key) != value}  # fmt: skip


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
    parser.add_argument("--hparam", action="append", type=parse_hparam, default=[], metavar="KEY=VALUE",
                        help="model hyperparameter (repeat the flag)")  # fmt: skip
    parser.add_argument("--labels", nargs="+", default=defaults.labels)
    for name in ("gene_features", "cell_graph", "go_terms", "go_edges"):
        parser.add_argument(f"--{name.replace('_', '-')}", default=None)
    for f in fields(TrainConfig):
        if f.name in {"model", "dataset", "gene_table", "out", "hparams", "labels", "gene_features", "cell_graph",
                      "go_terms", "go_edges"}:  # fmt: skip
            continue
        flag, default = f"--{f.name.replace('_', '-')}", getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif f.name == "stop_after_epochs":
            parser.add_argument(flag, type=int, default=None, help="leave after N epochs, as if interrupted")
        elif f.name in {"wandb_dir", "wandb_group", "run_name"}:
            parser.add_argument(flag, default=None)
        else:
            parser.add_argument(flag, type=type(default), default=default)
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
