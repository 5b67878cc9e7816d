"""The code location loads, and every asset is described, versioned and checked."""

import dagster as dg

from torchcell_assets.definitions import defs

DOMAINS = {"sources", "graph", "datasets", "features", "cell_graphs", "models", "benchmarks", "design", "sweeps"}


def test_definitions_load_with_every_domain():
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert len(keys) == 31  # the first-generation random_forest_digenic and benchmark_table are retired
    groups = {graph.get(key).group_name for key in keys}
    assert groups == DOMAINS
    assert "storage" in definitions.resources


def test_every_asset_has_code_version_description_and_a_check():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    checked = {spec.asset_key for check in definitions.asset_checks for spec in check.check_specs}
    checked |= {spec.asset_key for asset in definitions.assets for spec in asset.check_specs}  # e.g. Pipes-reported
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.code_version, key
        assert node.description, key
    assert checked == set(graph.get_all_asset_keys())
