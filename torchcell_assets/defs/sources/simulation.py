"""The simulated release: every screen and network file, written from one seeded ground truth.

Used by each source asset whose real files are not in the raw directory. Everything it
writes is labelled simulated (a SIMULATED.json beside the files, a flag in metadata).
"""

import json
import shutil

import dagster as dg
import pandas as pd

from torchcell_assets.defs.sources.genome import s288c_genome
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_ANNOTATIONS_PARQUET
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.publish import publish, recover, staging_dir
from torchcell_core.simulate.costanzo2016 import SIMULATOR_VERSION, simulate_costanzo2016
from torchcell_core.simulate.kuzmin import simulate_kuzmin
from torchcell_core.simulate.networks import simulate_networks
from torchcell_core.simulate.world import WorldConfig, build_world

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

SIMULATORS = {"costanzo2016": simulate_costanzo2016, "kuzmin": simulate_kuzmin, "networks": simulate_networks}


class SimulationConfig(dg.Config):
    """`size="demo"` runs in seconds; `"full"` writes the published scale (20.7M Costanzo rows)."""

    size: str = "demo"
    seed: int = WorldConfig.seed


def written_rows(manifest: dict) -> dict[str, int]:
    """Rows written per file, from a simulator's manifest: `rows` (screens) or each entry of `files` (networks)."""
    if isinstance(manifest.get("rows"), dict):
        return dict(manifest["rows"])
    return {file: entry["rows"] for file, entry in manifest.get("files", {}).items() if "rows" in entry}


@dg.asset(group_name="sources", code_version=CODE_VERSION, deps=[s288c_genome], kinds={"python"})
def simulated_release(
    context: dg.AssetExecutionContext, config: SimulationConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """SIMULATED Costanzo 2016, Kuzmin 2018/2020, STRING, BioGRID and regulatory files in the
    published formats, from one ground truth over the real genome, with the truth beside them."""
    if config.size not in ("demo", "full"):
        raise ValueError(f"size must be 'demo' or 'full', not {config.size!r}")
    genes = pd.read_parquet(storage.path(*GENOME_PARQUET))
    go = pd.read_parquet(storage.path(*GO_ANNOTATIONS_PARQUET))
    world = build_world(genes, go, WorldConfig(seed=config.seed))
    target = storage.root() / "simulated"
    shutil.rmtree(storage.root() / "simulated.partial", ignore_errors=True)  # left by the layout before publish
    for action in recover(target):
        context.log.info(action)
    staging = staging_dir(target)
    try:
        manifests = {}
        for name, simulate in SIMULATORS.items():
            manifests[name] = simulate(world, staging / name, size=config.size, seed=config.seed, log=context.log.info)
            context.log.info(f"{name}: rows written per file {written_rows(manifests[name])}")
        world_json = json.dumps({"config": world.config.__dict__, "size": config.size}, default=str)
        (staging / "world.json").write_text(world_json)
        publish(staging, target)  # readers never see a half-written release
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    rows = {f"{name}/{file}": n for name, m in manifests.items() for file, n in written_rows(m).items()}
    return dg.MaterializeResult(
        metadata={
            "simulated": True,
            "size": config.size,
            "seed": config.seed,
            "directory": dg.MetadataValue.path(storage.relative(target)),
            "rows": dg.MetadataValue.json(rows),
            "noise": dg.MetadataValue.json({name: m.get("noise", {}) for name, m in manifests.items()}),
            "essential_genes": int(world.genes["essential"].sum()),
            "modules": dg.MetadataValue.json(world.modules["kind"].value_counts().to_dict()),
        },
        data_version=dg.DataVersion(f"{config.size}-{config.seed}-v{SIMULATOR_VERSION}"),
    )
