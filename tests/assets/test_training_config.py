"""The Dagster run configs are derived from the core's settings dataclasses: every `TrainSettings` field is in
the model and sweep configs with its default and help text, a new setting appears there untouched, `epochs: 0`
resolves to the model's default on the asset path, and `GoDagConfig` round-trips to `DCellFilterConfig`."""

from dataclasses import dataclass, field, fields
from datetime import date

import dagster as dg
import pytest

from torchcell_assets.definitions import defs
from torchcell_assets.defs.models.baselines import BaselinesConfig, classical_baselines
from torchcell_assets.defs.models.partitions import RunSpec
from torchcell_assets.defs.models.training import MODEL_ASSETS, TrainingConfig, train_config
from torchcell_assets.defs.sources.genome import GoDagConfig, go_dag
from torchcell_assets.defs.sweeps.assets import SweepConfig, run_training_config, sweep_plan
from torchcell_assets.lib.config_model import config_class, config_values, to_dataclass
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.models.base import model_specs
from torchcell_core.ontology.filters import DCellFilterConfig
from torchcell_core.train.config import TrainSettings
from torchcell_core.train.sweep import SweepRun


@pytest.mark.parametrize("config", [TrainingConfig, SweepConfig])
def test_every_training_setting_is_in_the_run_config_with_its_one_default(config):
    schema = config.model_json_schema()["properties"]
    for f in fields(TrainSettings):
        assert config.model_fields[f.name].default == f.default, f.name
        assert schema[f.name]["default"] == f.default and schema[f.name]["description"] == f.metadata["help"]
    assert config_values(config(), TrainSettings) == vars(TrainSettings())
    baselines = BaselinesConfig()
    assert (baselines.seed, baselines.bootstrap) == (TrainSettings().seed, TrainSettings().bootstrap)
    assert TrainingConfig().resume is SweepConfig().resume is TrainSettings().resume is True


def test_a_new_core_setting_reaches_the_dagster_config_untouched():
    @dataclass
    class Settings:
        rate: float = field(default=0.5, metadata={"help": "a rate"})
        codes: tuple[str, ...] = ("a", "b")
        cutoff: date | None = None
        label: str | None = None

        def __post_init__(self):
            if self.rate <= 0:
                raise ValueError("rate must be positive")

    derived = config_class(Settings)
    assert derived().model_dump() == {"rate": 0.5, "codes": ["a", "b"], "cutoff": None, "label": None}
    back = to_dataclass(derived(codes=["c"], cutoff="2020-02-03"), Settings)
    assert back == Settings(codes=("c",), cutoff=date(2020, 2, 3))
    with pytest.raises(ValueError, match="rate must be positive"):
        to_dataclass(derived(rate=0), Settings)

    @dataclass
    class Extended(TrainSettings):
        momentum: float = field(default=0.9, metadata={"help": "new"})

    assert config_class(Extended).model_fields["momentum"].default == 0.9


def test_epochs_zero_resolves_to_the_models_default_on_the_asset_path(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path))
    spec = RunSpec("digenic", "")
    default = train_config("mlp", spec, "split_random", TrainingConfig(), storage)
    assert default.epochs == model_specs()["mlp"].epochs and default.device == "auto" and default.resume is True
    chosen = TrainingConfig(epochs=3, lr=0.01, resume=False, hparams=["hidden_dim=8"])
    train = train_config("mlp", spec, "split_random", chosen, storage)
    assert (train.epochs, train.lr, train.resume, train.hparams["hidden_dim"]) == (3, 0.01, False, 8)
    assert train.settings() == to_dataclass(chosen, TrainSettings, epochs=3)
    with pytest.raises(ValueError, match="device must be one of"):
        train_config("mlp", spec, "split_random", TrainingConfig(device="gpu"), storage)


def test_a_sweep_run_is_configured_through_the_same_settings():
    run = SweepRun(
        key="s-000",
        sweep_id="s",
        model="mlp",
        dataset="digenic",
        graph_set="",
        gene_feature="",
        hparams=["hidden_dim=8"],
    )
    older = {"epochs": 20, "split": "split_query", "seed": 1, "device": "cpu", "nproc": 1, "bootstrap": 10}
    config = run_training_config(older, run)
    assert (config.epochs, config.seed, config.device, config.resume, config.patience) == (20, 1, "cpu", True, 4)
    planned = {"split": "split_query", "nproc": 2, **config_values(SweepConfig(lr=0.02), TrainSettings)}
    assert run_training_config(planned, run).lr == 0.02 and run_training_config(planned, run).nproc == 2


def test_go_dag_config_round_trips_to_the_dcell_filter():
    assert to_dataclass(GoDagConfig(), DCellFilterConfig) == DCellFilterConfig()
    chosen = GoDagConfig(min_genes=3, drop_evidence=["IGI", "IEA"], before_date="2019-05-01")
    assert to_dataclass(chosen, DCellFilterConfig) == DCellFilterConfig(
        min_genes=3, drop_evidence=("IGI", "IEA"), before_date=date(2019, 5, 1)
    )
    with pytest.raises(ValueError, match="unknown namespaces"):
        to_dataclass(GoDagConfig(namespaces=["nope"]), DCellFilterConfig)


@pytest.mark.parametrize(
    ("asset", "chosen", "resolved"),
    [
        (MODEL_ASSETS["mlp"], {"epochs": 2, "device": "cpu", "resume": False}, {"patience": TrainSettings().patience}),
        (sweep_plan, {"models": ["mlp"], "epochs": 1}, {"device": TrainSettings().device, "split": "split_query"}),
        (classical_baselines, {"bootstrap": 10}, {"seed": TrainSettings().seed}),
        (go_dag, {"before_date": "2019-05-01", "namespaces": ["molecular_function"]}, {"min_genes": 6}),
    ],
)
def test_the_launchpad_config_validates_with_its_defaults(asset, chosen, resolved):
    probe = dg.define_asset_job("probe", selection=[asset.key])
    job = dg.Definitions(assets=[asset], resources=defs().resources, jobs=[probe]).resolve_job_def("probe")
    op = asset.op.name
    for given in ({}, chosen):  # the launchpad's empty config takes every default
        config = dg.validate_run_config(job, {"ops": {op: {"config": given}}})["ops"][op]["config"]
        assert config.items() >= (resolved | given).items()
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {op: {"config": {"epoch": 2}}}})
