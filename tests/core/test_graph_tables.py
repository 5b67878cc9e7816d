"""Sources → graph node/edge tables: ids, sharing of genotypes and alleles, the neutral marker."""

import pandas as pd
import pytest

from torchcell_core.graph.schema import NODES, RELS
from torchcell_core.graph.tables import SourceOutputs, build_graph_tables


@pytest.fixture(scope="module")
def tables(tmp_path_factory, genes_frame):
    src = tmp_path_factory.mktemp("sources")
    genes_frame.to_parquet(src / "genes.parquet")
    costanzo = pd.DataFrame(
        {
            "query_strain": ["YAL002W_sn1", "YAL002W_sn1", "YAL002W_sn1"],
            "query_gene": ["YAL002W"] * 3,
            "query_kind": ["sn"] * 3,
            "query_allele": ["vps8"] * 3,
            "array_strain": ["YBR066C_dma2", "YBR066C_dma2", "YAL001C_tsa3"],
            "array_gene": ["YBR066C", "YBR066C", "YAL001C"],
            "array_kind": ["dma", "dma", "tsa"],
            "array_allele": ["nrg2", "nrg2", "tfc3-1"],
            "array_type": ["DMA", "DMA", "TSA"],
            "temperature": [26, 30, 26],
            "epsilon": [-0.1, -0.2, 0.05],
            "p_value": [0.01, 0.02, 0.5],
            "query_smf": [0.9] * 3,
            "array_smf": [0.8] * 3,
            "dmf": [0.62, 0.52, 0.77],
            "dmf_std": [0.02] * 3,
            "source_file": ["SGA_NxN.txt", "SGA_NxN.txt", "SGA_ExN_NxE.txt"],
            "simulated": [True] * 3,
        }
    )
    costanzo.to_parquet(src / "costanzo.parquet")
    kuzmin = pd.DataFrame(
        {
            "query_strain": ["YDL227C+YAL002W_tm9", "YAL001C+YAL002W_tm8"],
            "query_gene_1": ["YAL002W", "YAL001C"],
            "query_gene_2": [None, "YAL002W"],
            "array_strain": ["YBR066C_dma2", "YBR066C_dma2"],
            "array_gene": ["YBR066C", "YBR066C"],
            "array_kind": ["dma", "dma"],
            "mutant_type": ["digenic", "trigenic"],
            "raw_score": [-0.1, -0.2],
            "adjusted_score": [-0.1, -0.15],
            "p_value": [0.01, 0.01],
            "query_fitness": [0.9, 0.7],
            "array_fitness": [0.8, 0.8],
            "combined_fitness": [0.62, 0.36],
            "combined_fitness_std": [0.02, 0.03],
            "source_file": ["aao1729_data_s1.tsv"] * 2,
            "line": [2, 3],
            "simulated": [True, True],
        }
    )
    kuzmin.to_parquet(src / "kuzmin.parquet")
    out = tmp_path_factory.mktemp("tables")
    datasets = tuple(
        {
            "id": d,
            "name": d,
            "version": "1",
            "citation": "c",
            "url": "https://doi.org",
            "source_sha256": "{}",
            "simulated": True,
        }
        for d in ("costanzo2016", "kuzmin2018")
    )
    outputs = SourceOutputs(
        genes=src / "genes.parquet",
        costanzo_records=src / "costanzo.parquet",
        kuzmin2018_records=src / "kuzmin.parquet",
        datasets=datasets,
    )
    counts = build_graph_tables(outputs, out)
    again_dir = tmp_path_factory.mktemp("tables_again")
    assert build_graph_tables(outputs, again_dir) == counts
    return out, counts, again_dir


def read(out, name):
    return pd.read_parquet(out / f"{name}.parquet")


def test_every_schema_table_is_written_with_its_columns(tables):
    out, counts, _ = tables
    for node in NODES:
        assert list(read(out, node.label).columns) == node.names, node.label
    for rel in RELS:
        assert list(read(out, rel.type).columns) == rel.names, rel.type
    assert counts["Gene"] == 6399


def test_genotypes_are_shared_across_temperatures_and_the_marker_is_no_allele(tables):
    out, counts, _ = tables
    assert counts["Experiment"] == 5  # 3 Costanzo rows + 2 Kuzmin rows
    experiments = read(out, "Experiment")
    assert experiments["id"].is_unique
    genotype_of = read(out, "OF_GENOTYPE").set_index("from")["to"]
    costanzo = experiments[experiments["source_file"] == "SGA_NxN.txt"]["id"]
    assert genotype_of[costanzo].nunique() == 1  # same strains at 26° and 30° → one genotype
    alleles = read(out, "Allele")
    assert "YDL227C" not in set(alleles["gene"])
    trigenic = experiments[experiments["n_perturbations"] == 3]
    assert len(trigenic) == 1 and trigenic["interaction"].iloc[0] == -0.15
    has = read(out, "HAS_ALLELE")
    assert len(has[has["from"] == genotype_of[trigenic["id"].iloc[0]]]) == 3
    assert set(read(out, "OF_GENE")["to"]) == {"YAL002W", "YBR066C", "YAL001C"}


def test_ids_are_deterministic(tables):
    out, _, again_dir = tables
    for name in ("Experiment", "Genotype", "Allele"):
        assert sorted(read(out, name)["id"]) == sorted(read(again_dir, name)["id"]), name


def test_orphan_query_finds_an_experiment_without_genotype(tables, tmp_path):
    """The knowledge_graph check's query reports dangling experiments (and 0 when intact)."""
    import shutil

    from torchcell_core.graph.ladybug_backend import LadybugBackend

    out, counts, _ = tables
    broken = tmp_path / "tables"
    shutil.copytree(out, broken)
    links = read(out, "OF_GENOTYPE")
    links.iloc[1:].to_parquet(broken / "OF_GENOTYPE.parquet", index=False)
    for directory, expected in ((out, 0), (broken, 1)):
        backend = LadybugBackend(tmp_path / f"graph_{expected}", buffer_pool_size=256 * 2**20)
        backend.build(directory, {**counts, "OF_GENOTYPE": counts["OF_GENOTYPE"] - expected})
        (row,) = backend.query("orphans", {}).to_pylist()
        backend.close()
        assert row == {
            "experiments_without_genotype": expected,
            "experiments_without_dataset": 0,
            "alleles_without_gene": 0,
        }
