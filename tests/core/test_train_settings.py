"""One definition of the training settings: `TrainConfig` is `TrainSettings` plus the run's inputs, the CLI's
flags take their defaults from it, `epochs: 0` resolves to the model's registered default in `run.train`, and
`resume` has one default and one meaning (continue an interrupted run when nothing that shapes it changed)."""

import json
from dataclasses import MISSING, asdict, fields

import pyarrow.parquet as pq
import pytest

from tests.support.training import GENES, mlp_argv, synthetic_table
from torchcell_core.models.base import model_specs
from torchcell_core.train import checkpoint as ckpt
from torchcell_core.train.config import RESUMABLE_CHANGES, TrainConfig, TrainSettings, parse_args
from torchcell_core.train.run import main

INPUTS = {"model": "mlp", "dataset": "d.parquet", "gene_table": "g.txt", "out": "run"}


def test_train_config_is_the_settings_plus_the_run_inputs():
    settings = {f.name: f for f in fields(TrainSettings)}
    config = {f.name: f for f in fields(TrainConfig)}
    assert set(settings) <= set(config)
    for name, field in settings.items():
        assert config[name].default == field.default and field.default is not MISSING, name
        assert field.metadata.get("help"), f"{name} has no help text for the CLI and the launchpad"
    assert {"model", "dataset", "gene_table", "out", "hparams", "split", "labels"} <= set(config) - set(settings)
    built = TrainConfig.from_settings(TrainSettings(lr=0.05, resume=False), **INPUTS)
    assert built.lr == 0.05 and built.resume is False and built.settings() == TrainSettings(lr=0.05, resume=False)


def test_one_default_per_setting_on_the_command_line():
    parsed = parse_args(["--model", "mlp", "--dataset", "d", "--gene-table", "g", "--out", "o"])
    assert parsed.settings() == TrainSettings()
    assert (parsed.epochs, parsed.device, parsed.resume, parsed.patience) == (0, "auto", True, 4)
    assert parse_args(
        [
            "--model",
            "mlp",
            "--dataset",
            "d",
            "--gene-table",
            "g",
            "--out",
            "o",
            "--no-resume",
            "--patience",
            "9",
            "--epochs",
            "3",
        ]
    ).settings() == TrainSettings(resume=False, patience=9, epochs=3)
    with pytest.raises(ValueError, match="epochs must be 0"):
        TrainSettings(epochs=-1)
    with pytest.raises(ValueError, match="device must be one of"):
        TrainConfig(**INPUTS, device="tpu")


def test_epochs_zero_is_the_models_default_resolved_in_one_place():
    for name, spec in model_specs().items():
        assert TrainConfig(**INPUTS | {"model": name}).resolved().epochs == spec.epochs
    assert model_specs()["mlp"].epochs != TrainSettings().epochs
    chosen = TrainConfig(**INPUTS, epochs=3)
    assert chosen.resolved() is chosen
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        TrainConfig(**INPUTS | {"model": "nope"}).resolved()


def test_a_config_json_of_an_older_run_still_loads_and_an_unknown_key_is_named():
    older = asdict(TrainConfig(**INPUTS)) | {"epochs": 50, "patience": 10, "device": "auto", "resume": True}
    assert TrainConfig.from_dict(json.loads(json.dumps(older))).epochs == 50
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['momentum'\]"):
        TrainConfig.from_dict(older | {"momentum": 0.9})
    assert "resume" in RESUMABLE_CHANGES and "epochs" not in RESUMABLE_CHANGES


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("settings_inputs")
    table, _ = synthetic_table()
    pq.write_table(table, root / "synthetic.parquet")
    (root / "genes.txt").write_text("\n".join(GENES) + "\n")
    return root


def argv(data, out, *extra) -> list[str]:
    return mlp_argv(data / "synthetic.parquet", data / "genes.txt", out, *extra, hidden_dim=16, embedding_dim=8)


def test_the_cli_trains_the_models_default_epochs_and_resumes_by_default(data, tmp_path):
    out = tmp_path / "run"
    assert main(argv(data, out, "--stop-after-epochs", "1")) is None  # no --epochs: the model's default
    default = model_specs()["mlp"].epochs
    assert json.loads((out / "config.json").read_text())["epochs"] == default
    last = ckpt.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["config"]["epochs"] == default
    with pytest.raises(ValueError, match=r"settings changed \(lr: 0.001 → 0.002\).*`resume: false`"):
        main(argv(data, out, "--lr", "0.002", "--stop-after-epochs", "1"))  # resumes unless told not to
    assert main(argv(data, out, "--stop-after-epochs", "1")) is None  # the same settings continue: epoch 2
    assert ckpt.load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 2
    assert main(argv(data, out, "--no-resume", "--lr", "0.002", "--stop-after-epochs", "1")) is None
    assert ckpt.load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 1  # started afresh


def test_resuming_on_changed_input_data_is_refused(data, tmp_path):
    dataset, out = tmp_path / "d.parquet", tmp_path / "run"
    pq.write_table(synthetic_table(seed=0)[0], dataset)
    assert main([*argv(data, out, "--epochs", "3", "--stop-after-epochs", "1"), "--dataset", str(dataset)]) is None
    pq.write_table(synthetic_table(seed=1)[0], dataset)  # the dataset was rebuilt since the run was interrupted
    with pytest.raises(ValueError, match=r"settings changed \(inputs_sha256: .*`resume: false`"):
        main([*argv(data, out, "--epochs", "3", "--stop-after-epochs", "1"), "--dataset", str(dataset)])
