"""Dataset assets: curated DuckDB tables with seeded splits and Parquet exports."""

import dagster as dg
import pandas as pd

from torchcell_assets.defs.sources.paths import COSTANZO_RECORDS
from torchcell_assets.defs.sources.releases import costanzo2016
from torchcell_assets.lib.metadata import preview
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.datasets.digenic import (
    DIGENIC_TABLE,
    RECORDS_TABLE,
    curate_digenic,
    load_records,
    read_digenic,
)
from torchcell_core.datasets.splits import random_split
from torchcell_core.hashing import file_sha256

DIGENIC_PARQUET = ("datasets", "digenic_interactions.parquet")


class DigenicDatasetConfig(dg.Config):
    split_seed: int = 0


@dg.asset(group_name="datasets", code_version="1", deps=[costanzo2016], kinds={"duckdb", "parquet"})
def digenic_interactions(
    context: dg.AssetExecutionContext, config: DigenicDatasetConfig, storage: TorchcellStorage
) -> dg.MaterializeResult:
    """One row per gene pair: mean ε over replicates, with a seeded 80/10/10 split column."""
    with storage.duckdb() as con:
        load_records(con, storage.path(*COSTANZO_RECORDS))
        simulated = bool(con.execute(f"SELECT bool_or(simulated) FROM {RECORDS_TABLE}").fetchone()[0])
        counts = curate_digenic(con)
        dataset = read_digenic(con)
        dataset["split"] = random_split(len(dataset), config.split_seed)
        dataset["simulated"] = simulated
        con.register("dataset_frame", dataset)
        con.execute(f"CREATE OR REPLACE TABLE {DIGENIC_TABLE} AS SELECT * FROM dataset_frame")
        con.unregister("dataset_frame")
    dataset.to_parquet(storage.path(*DIGENIC_PARQUET), index=False)
    version = file_sha256(storage.path(*DIGENIC_PARQUET))[:16]
    context.log.info(f"{counts['records']} records → {counts['pairs']} gene pairs")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(dataset),
            "records_in": counts["records"],
            "replicates_merged": counts["records"] - counts["self_pairs_dropped"] - counts["pairs"],
            "self_pairs_dropped": counts["self_pairs_dropped"],
            "genes": int(pd.concat([dataset["gene_a"], dataset["gene_b"]]).nunique()),
            "split_sizes": dg.MetadataValue.json(dataset["split"].value_counts().to_dict()),
            "epsilon_mean": float(dataset["epsilon"].mean()),
            "epsilon_std": float(dataset["epsilon"].std()),
            "strong_fraction_abs_eps_gt_0.08_p_lt_0.05": float(
                ((dataset["epsilon"].abs() > 0.08) & (dataset["min_p_value"] < 0.05)).mean()
            ),
            "simulated": simulated,
            "duckdb_table": f"{storage.duckdb_path}:{DIGENIC_TABLE}",
            "preview": preview(dataset),
        },
        data_version=dg.DataVersion(version),
    )
