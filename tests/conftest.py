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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors and graphs run fastest on one thread (the thread pool dominates on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
