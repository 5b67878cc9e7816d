"""Shared fixtures: the real reference gene table (cached once per session)."""

import pandas as pd
import pytest

from torchcell_core.genome.gene_table import go_annotations_frame
from torchcell_core.genome.reference import load_reference_gene_table


@pytest.fixture(scope="session")
def gene_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gene_cache")


@pytest.fixture(scope="session")
def reference(gene_cache_dir):
    table, provenance = load_reference_gene_table(gene_cache_dir)
    return table, provenance


@pytest.fixture(scope="session")
def genes_frame(reference) -> pd.DataFrame:
    return reference[0].drop_columns(["go_annotations"]).to_pandas()


@pytest.fixture(scope="session")
def go_frame(reference) -> pd.DataFrame:
    return go_annotations_frame(reference[0])


@pytest.fixture(scope="session")
def make_world(genes_frame, go_frame):
    """`make_world(seed)`: the simulator's ground truth over the real genome, built once per seed per session
    (seconds each) and shared by every test module that draws from it."""
    from torchcell_core.simulate.world import WorldConfig, build_world

    built: dict = {}

    def make(seed: int = 5):
        if seed not in built:
            built[seed] = build_world(genes_frame, go_frame, WorldConfig(seed=seed))
        return built[seed]

    return make


@pytest.fixture(scope="session")
def world(make_world):
    """The world most tests draw from (seed 5)."""
    return make_world(5)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors and graphs run fastest on one thread (the thread pool dominates on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
