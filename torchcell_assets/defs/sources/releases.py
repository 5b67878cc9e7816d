"""One asset per raw source: resolve its files (the user's real release, verified, or the
simulated one), parse them into typed Parquet, and record provenance."""

import json

import dagster as dg
import pandas as pd

from torchcell_assets.defs.sources.genome import s288c_genome
from torchcell_assets.defs.sources.paths import (
    GENOME_PARQUET,
    PROVENANCE,
    simulated_dir,
    source_output_dir,
)
from torchcell_assets.defs.sources.simulation import simulated_release
from torchcell_assets.lib.metadata import preview
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import json_digest
from torchcell_core.sources.load import LOADERS
from torchcell_core.sources.registry import REGISTRY, resolve_source

LOADER_VERSION = "1"


def build_source_asset(key: str) -> dg.AssetsDefinition:
    """The asset for registry entry `key`, loading it with `LOADERS[key]`."""
    entry = REGISTRY[key]
    loader = LOADERS[key]
    description = f"{entry.title}. {entry.citation}. Source: {entry.url} (licence: {entry.licence})."
    if entry.simulated:
        description += " Without the real files in $TORCHCELL_RAW_DIR/" + key + "/, the SIMULATED release is used."

    @dg.asset(
        name=key,
        group_name="sources",
        code_version=LOADER_VERSION,
        deps=[s288c_genome, simulated_release] if entry.simulated else [s288c_genome],
        kinds={"python", "parquet"},
        description=description,
    )
    def _source(context: dg.AssetExecutionContext, storage: TorchcellStorage) -> dg.MaterializeResult:
        simulated = simulated_dir(storage, entry.simulated) if entry.simulated else None
        resolved = resolve_source(entry, storage.raw(), simulated)
        context.log.info(f"{key}: {'SIMULATED' if resolved.simulated else 'real'} files in {resolved.directory}")
        genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
        out_dir = source_output_dir(storage, key)
        summary = loader(resolved, out_dir, set(genome["systematic_name"]))
        provenance = {
            "source": key, "version": entry.version, "url": entry.url, "citation": entry.citation,
            "licence": entry.licence, "simulated": resolved.simulated, "directory": str(resolved.directory),
            "files": {name: str(path) for name, path in resolved.files.items()}, "sha256": resolved.sha256,
            "loader_version": LOADER_VERSION, "outputs": summary["outputs"],
        }  # fmt: skip
        (out_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True))
        first_output = next(iter(summary["outputs"]))
        shown = pd.read_parquet(out_dir / first_output).head(5)
        files = {
            name: {"bytes": path.stat().st_size, "sha256": resolved.sha256[name]}
            for name, path in resolved.files.items()
        }
        extra = {k: v for k, v in summary.items() if k not in ("rows", "outputs", "unknown_gene_examples")}
        version = json_digest([resolved.sha256, LOADER_VERSION])
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(summary["rows"]),
                "simulated": resolved.simulated,
                "files": dg.MetadataValue.json(files),
                "directory": dg.MetadataValue.path(str(resolved.directory)),
                "outputs": dg.MetadataValue.json(summary["outputs"]),
                "unknown_gene_examples": ", ".join(summary.get("unknown_gene_examples", [])),
                **{k: (dg.MetadataValue.json(v) if isinstance(v, dict) else v) for k, v in extra.items()},
                "url": dg.MetadataValue.url(entry.url),
                "preview": preview(shown),
            },
            data_version=dg.DataVersion(version),
        )

    return _source


costanzo2016 = build_source_asset("costanzo2016")
kuzmin2018 = build_source_asset("kuzmin2018")
kuzmin2020 = build_source_asset("kuzmin2020")
string_v9_1 = build_source_asset("string_v9_1")
string_v11_0 = build_source_asset("string_v11_0")
string_v12_0 = build_source_asset("string_v12_0")
biogrid = build_source_asset("biogrid")
regulatory = build_source_asset("regulatory")
SOURCE_ASSETS = (costanzo2016, kuzmin2018, kuzmin2020, string_v9_1, string_v11_0, string_v12_0, biogrid, regulatory)
