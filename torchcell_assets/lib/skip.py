"""Skip a re-materialization whose inputs did not change: same code version, same run config, the same data
version of every input as at the last materialization, and the stored output still there. The asset then
re-reports its last materialization (same data version, so nothing downstream turns stale) in milliseconds
instead of rebuilding, and says so in its metadata (`skipped_unchanged`)."""

from collections.abc import Callable

import dagster as dg

from torchcell_assets.lib.metadata import DATA_VERSION_TAG
from torchcell_core.hashing import json_digest

SKIPPED = "skipped_unchanged"
CONFIG_DIGEST = "config_digest"


def config_digest(config: dg.Config | dict) -> str:
    """A digest of the run config or of the settings that shape the output (a changed one is a changed input)."""
    return json_digest(config if isinstance(config, dict) else config.model_dump())[:16]


def _current_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    record = instance.get_latest_data_version_record(key)
    if record is None or record.asset_materialization is None:
        return None
    return record.asset_materialization.tags.get(DATA_VERSION_TAG)


def unchanged_result(
    context: dg.AssetExecutionContext, digest: str, output_intact: Callable[[str], bool]
) -> dg.MaterializeResult | None:
    """The last materialization re-reported when nothing it was made from changed and `output_intact(data
    version)` confirms the stored output still matches it; None when the asset must be rebuilt."""
    key = context.asset_key
    event = context.instance.get_latest_materialization_event(key)
    provenance = context.get_asset_provenance(key)
    if event is None or provenance is None or provenance.code_version != context.assets_def.code_versions_by_key[key]:
        return None
    previous = event.asset_materialization
    version = previous.tags.get(DATA_VERSION_TAG) if previous.tags else None
    recorded = previous.metadata.get(CONFIG_DIGEST)
    if version is None or recorded is None or recorded.value != digest:
        return None
    for parent in context.assets_def.asset_deps[key]:
        current = _current_version(context.instance, parent)
        if current is None or provenance.input_data_versions.get(parent) != dg.DataVersion(current):
            return None
    if not output_intact(version):
        return None
    context.log.info(
        f"{key.to_user_string()}: inputs, config and code unchanged since the last materialization; skipped"
    )
    return dg.MaterializeResult(metadata={**previous.metadata, SKIPPED: True}, data_version=dg.DataVersion(version))
