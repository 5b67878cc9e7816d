"""One asset per raw source: resolve its files (the user's real release, verified, or the
simulated one), parse them into typed Parquet, and record provenance.

Every output of a source is written into a staging folder and published together (one atomic link swap, see
`torchcell_core.publish`) only after the whole parse succeeded and the row count did not drop sharply against
the last materialization: a failed or suspicious parse replaces nothing.
"""

import json
import shutil
from pathlib import Path

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
from torchcell_assets.lib.code_versions import code_version
from torchcell_assets.lib.metadata import preview
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.hashing import json_digest
from torchcell_core.loaders import LOADERS
from torchcell_core.publish import publish, recover, staging_dir
from torchcell_core.sources.load import load_with_progress
from torchcell_core.sources.quality import ValueRules
from torchcell_core.sources.registry import REGISTRY, ResolvedSource, SourceEntry, resolve_source

CODE_VERSION = code_version(__name__)  # the source of this module and the core code it runs

LOADER_VERSION = "1"
SHOWN_KEYS = ("rows", "outputs", "unknown_gene_examples")  # in metadata under their own names


class SourceConfig(dg.Config):
    """Guards of a source's parse. A row count below (1 − `max_row_drop_fraction`) of the last materialization's
    stops the run, unless `allow_row_drop` says the drop is expected; a parse drops at most
    `max_out_of_range_fraction` of its rows for out-of-range values (above it, it fails)."""

    allow_row_drop: bool = False
    max_row_drop_fraction: float = 0.5
    max_out_of_range_fraction: float = 0.001


def previous_row_count(context: dg.AssetExecutionContext) -> int | None:
    """`dagster/row_count` of this asset's latest materialization, if there is one."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get("dagster/row_count") if materialization is not None else None
    return int(value.value) if value is not None else None


def check_row_drop(key: str, previous: int | None, rows: int, config: SourceConfig) -> None:
    """Raise `dg.Failure` when `rows` fell below (1 − max_row_drop_fraction)·`previous` and the drop is not allowed."""
    if previous is None or config.allow_row_drop or rows >= previous * (1 - config.max_row_drop_fraction):
        return
    raise dg.Failure(
        description=(
            f"{key}: the new release parses to {rows} rows, down from {previous} at the last materialization "
            f"(a drop of {1 - rows / previous:.0%}, more than max_row_drop_fraction={config.max_row_drop_fraction}); "
            "nothing was replaced. "
            f"If the drop is expected, rerun with run config ops: {key}: config: allow_row_drop: true"
        ),
        metadata={"previous_row_count": previous, "row_count": rows},
    )


def _provenance(entry: SourceEntry, resolved: ResolvedSource, summary: dict) -> dict:
    return {
        "source": entry.key,
        "version": entry.version,
        "url": entry.url,
        "citation": entry.citation,
        "licence": entry.licence,
        "simulated": resolved.simulated,
        "directory": str(resolved.directory),
        "files": {name: str(path) for name, path in resolved.files.items()},
        "sha256": resolved.sha256,
        "loader_version": LOADER_VERSION,
        "outputs": summary["outputs"],
    }


def _metadata_value(value: object) -> object:
    return dg.MetadataValue.json(value) if isinstance(value, dict | list) else value


def build_source_asset(key: str) -> dg.AssetsDefinition:
    """The asset for registry entry `key`, loading it with `LOADERS[key]`."""
    entry = REGISTRY[key]
    loader = LOADERS[key]
    description = f"{entry.title}. {entry.citation}. Source: {entry.url} (licence: {entry.licence})."
    if entry.simulated:
        description += " Without the real files in $TORCHCELL_RAW_DIR/" + key + "/, the SIMULATED release is used."
    description += " All outputs are replaced together, only after a full parse without a sharp drop in rows."

    @dg.asset(
        name=key,
        group_name="sources",
        code_version=CODE_VERSION,
        deps=[s288c_genome, simulated_release] if entry.simulated else [s288c_genome],
        kinds={"python", "parquet"},
        description=description,
    )
    def _source(
        context: dg.AssetExecutionContext, config: SourceConfig, storage: TorchcellStorage
    ) -> dg.MaterializeResult:
        simulated = simulated_dir(storage, entry.simulated) if entry.simulated else None
        resolved = resolve_source(entry, storage.raw(), simulated)
        context.log.info(f"{key}: {'SIMULATED' if resolved.simulated else 'real'} files in {resolved.directory}")
        genome = pd.read_parquet(storage.path(*GENOME_PARQUET), columns=["systematic_name"])
        out_dir = source_output_dir(storage, key)
        for action in recover(out_dir):
            context.log.info(action)
        staging = staging_dir(out_dir)
        try:
            rules = ValueRules(config.max_out_of_range_fraction)
            summary = load_with_progress(
                key, loader, resolved, staging, set(genome["systematic_name"]), rules, log=context.log.info
            )
            previous = previous_row_count(context)
            check_row_drop(key, previous, int(summary["rows"]), config)
            provenance = _provenance(entry, resolved, summary)
            (staging / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True))
            shown = pd.read_parquet(staging / next(iter(summary["outputs"]))).head(5)
            version_dir = publish(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        context.log.info(f"{key}: published {out_dir} -> {version_dir.name}")
        files = {
            name: {"bytes": Path(path).stat().st_size, "sha256": resolved.sha256[name]}
            for name, path in resolved.files.items()
        }
        extra = {k: _metadata_value(v) for k, v in summary.items() if k not in SHOWN_KEYS}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(summary["rows"]),
                **({"previous_row_count": previous} if previous is not None else {}),
                "simulated": resolved.simulated,
                "files": dg.MetadataValue.json(files),
                "directory": dg.MetadataValue.path(storage.relative(resolved.directory)),
                "outputs": dg.MetadataValue.json(summary["outputs"]),
                "unknown_gene_examples": ", ".join(summary.get("unknown_gene_examples", [])),
                **extra,
                "url": dg.MetadataValue.url(entry.url),
                "preview": preview(shown),
            },
            data_version=dg.DataVersion(json_digest([resolved.sha256, LOADER_VERSION])),
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
