"""What a training run reads besides the dataset: the GO DAG, restricted to the genes a dataset perturbs."""

import pyarrow as pa
import pyarrow.parquet as pq

from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.train.data import load_go


def test_go_restricted_to_the_dataset_genes_keeps_an_ancestor_closed_dag(tmp_path):
    genes = GeneIndex(["YA", "YB", "YC", "YD"])
    terms = [
        {"go_id": "GO:1", "name": "root", "namespace": "biological_process", "genes": ["YA", "YB", "YC", "YD"]},
        {"go_id": "GO:2", "name": "left", "namespace": "biological_process", "genes": ["YA", "YB"]},
        {"go_id": "GO:3", "name": "right", "namespace": "biological_process", "genes": ["YC", "YD"]},
        {"go_id": "GO:4", "name": "leaf", "namespace": "biological_process", "genes": ["YD"]},
    ]
    edges = [
        {"child": c, "parent": p, "relation": "is_a"} for c, p in (("GO:2", "GO:1"), ("GO:3", "GO:1"), ("GO:4", "GO:3"))
    ]
    pq.write_table(pa.Table.from_pylist(terms), tmp_path / "terms.parquet")
    pq.write_table(pa.Table.from_pylist(edges), tmp_path / "edges.parquet")
    dag, sets = load_go(tmp_path / "terms.parquet", tmp_path / "edges.parquet", genes)
    assert len(dag) == 4 and sets["GO:4"] == [3]
    dag, sets = load_go(tmp_path / "terms.parquet", tmp_path / "edges.parquet", genes, only={0, 2})  # YA, YC
    assert sorted(dag) == ["GO:1", "GO:2", "GO:3"] and sets == {"GO:1": [0, 2], "GO:2": [0], "GO:3": [2]}
    assert dag.children("GO:3") == []
