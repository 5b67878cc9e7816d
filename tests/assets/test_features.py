"""Gene features: hand-checked small cases, the real S288C genome, the registry, files, asset and checks."""

import time
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from torchcell_assets.defs.features import checks
from torchcell_assets.defs.features.assets import (
    GeneFeaturesConfig,
    configured_features,
    gene_features,
    read_manifest,
)
from torchcell_assets.defs.sources.paths import GENOME_PARQUET, GO_EDGES, GO_TERMS
from torchcell_assets.lib.storage import TorchcellStorage
from torchcell_core.errors import SourceFormatError
from torchcell_core.features import registry
from torchcell_core.features.registry import (
    BUILTIN_FEATURES,
    GeneFeature,
    feature_names,
    get_feature,
    register,
)
from torchcell_core.features.store import load_gene_feature, read_feature_file, save_gene_feature
from torchcell_core.genome.gene_index import GeneIndex
from torchcell_core.hashing import file_sha256
from torchcell_core.ontology import load_packaged_go_dag

ALL_CHECKS = [
    checks.rows_follow_gene_index,
    checks.finite_values,
    checks.frequencies_sum_to_one,
    checks.random_reproducible,
]


def tiny_genes() -> pd.DataFrame:
    """Four genes given out of order; YC1 is a tRNA without CDS or protein."""
    return pd.DataFrame(
        {
            "systematic_name": ["YB2", "YA1", "YC1", "YD4"],
            "cds_sequence": ["ATGAAATGA", "ATGGCTGCTTAA", None, "atgNNNtagC"],
            "protein_sequence": ["MK*", "MAA*", None, "MX*"],
        }
    )


def column(x: torch.Tensor, columns: list[str], name: str) -> torch.Tensor:
    return x[:, columns.index(name)]


# -- sequence features on hand-made frames ------------------------------------------------------


def test_codon_frequency_of_known_sequences_counts_the_stop_codon():
    frame = tiny_genes()
    matrix = get_feature("codon_frequency").matrix(frame, GeneIndex(frame["systematic_name"]))
    assert matrix.genes == ["YA1", "YB2", "YC1", "YD4"] and matrix.x.shape == (4, 64)
    ya1 = dict(zip(matrix.columns, matrix.x[0].tolist(), strict=True))
    assert {c: v for c, v in ya1.items() if v} == {"ATG": 0.25, "GCT": 0.5, "TAA": 0.25}
    # Lower case is read; the codon with N is skipped; the trailing partial codon "C" is ignored.
    yd4 = {c: v for c, v in zip(matrix.columns, matrix.x[3].tolist(), strict=True) if v}
    assert yd4 == {"ATG": 0.5, "TAG": 0.5}
    assert matrix.x[2].abs().sum() == 0 and matrix.has_data.tolist() == [True, True, False, True]


def test_amino_acid_composition_strips_the_stop_and_skips_unknown_letters():
    frame = tiny_genes()
    matrix = get_feature("amino_acid_composition").matrix(frame, GeneIndex(frame["systematic_name"]))
    assert matrix.columns == list("ACDEFGHIKLMNPQRSTVWY")
    assert column(matrix.x, matrix.columns, "A").tolist() == pytest.approx([2 / 3, 0, 0, 0])
    assert column(matrix.x, matrix.columns, "M").tolist() == pytest.approx([1 / 3, 0.5, 0, 1.0])
    assert matrix.x.sum(dim=1).tolist() == pytest.approx([1, 1, 0, 1])


def test_protein_kmer_counts_overlapping_pairs_and_reduced_alphabet():
    frame = pd.DataFrame({"systematic_name": ["G1", "G2"], "protein_sequence": ["MAAAK*", "MLVXW"]})
    index = GeneIndex(frame["systematic_name"])
    matrix = get_feature("protein_kmer").matrix(frame, index)
    assert len(matrix.columns) == 400 and matrix.columns[:2] == ["AA", "AC"]
    g1 = {c: v for c, v in zip(matrix.columns, matrix.x[0].tolist(), strict=True) if v}
    assert g1 == pytest.approx({"MA": 0.25, "AA": 0.5, "AK": 0.25})
    g2 = {c: v for c, v in zip(matrix.columns, matrix.x[1].tolist(), strict=True) if v}
    assert g2 == pytest.approx({"ML": 0.5, "LV": 0.5})  # pairs touching X are skipped
    reduced = get_feature("protein_kmer", k=2, alphabet="murphy10").matrix(frame, index)
    assert len(reduced.columns) == 100
    # M, L and V are one group (named L): both pairs of G2 are "LL".
    assert {c: v for c, v in zip(reduced.columns, reduced.x[1].tolist(), strict=True) if v} == {"LL": 1.0}
    trimers = get_feature("protein_kmer", k=3).matrix(frame, index)
    assert column(trimers.x, trimers.columns, "AAA")[0] == pytest.approx(1 / 3)


def test_bad_feature_settings_fail_clearly():
    with pytest.raises(ValueError, match="160000 columns"):
        get_feature("protein_kmer", k=4)
    with pytest.raises(ValueError, match="unknown alphabet 'dayhoff'"):
        get_feature("protein_kmer", alphabet="dayhoff")
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        get_feature("random", dim=0)
    with pytest.raises(ValueError, match=r"no setting \['kmer'\]"):
        get_feature("protein_kmer", kmer=3)
    with pytest.raises(KeyError, match="unknown gene feature 'esm9'"):
        get_feature("esm9")


def test_bad_gene_tables_fail_naming_the_problem():
    frame = tiny_genes()
    index = GeneIndex(frame["systematic_name"])
    with pytest.raises(ValueError, match=r"needs gene table columns \['cds_sequence'\]"):
        get_feature("codon_frequency").matrix(frame.drop(columns=["cds_sequence"]), index)
    with pytest.raises(ValueError, match="'YA1' appears twice"):
        get_feature("codon_frequency").matrix(pd.concat([frame, frame.iloc[[1]]]), index)
    with pytest.raises(ValueError, match="'YZZ' is not in the gene index"):
        get_feature("codon_frequency").matrix(frame.assign(systematic_name=["YB2", "YA1", "YC1", "YZZ"]), index)


@pytest.fixture(scope="module")
def real(genes_frame, go_frame):
    """Every built-in feature of the real genome, computed once, and the seconds that took."""
    index = GeneIndex(genes_frame["systematic_name"])
    started = time.perf_counter()
    matrices = {}
    for name in BUILTIN_FEATURES:
        config = {"annotations": go_frame} if name == "go_annotation" else {}
        matrices[name] = get_feature(name, **config).matrix(genes_frame, index)
    seconds = time.perf_counter() - started
    print(f"all built-in features of the real genome: {seconds:.2f}s")
    return index, matrices, seconds


def test_rows_follow_the_index_whatever_the_input_order(genes_frame, real):
    index, matrices, _ = real
    shuffled = genes_frame.sample(frac=1.0, random_state=7)
    codons = get_feature("codon_frequency").matrix(shuffled, index)
    assert torch.equal(codons.x, matrices["codon_frequency"].x) and codons.genes == index.genes
    gene = "YAL067C"
    cds = genes_frame.set_index("systematic_name").loc[gene, "cds_sequence"]
    expected = Counter(cds[i : i + 3] for i in range(0, len(cds), 3))
    row = codons.x[index.positions([gene])[0]]
    assert row[codons.columns.index("ATG")] == pytest.approx(expected["ATG"] / (len(cds) // 3))
    # A gene of the index missing from the table gets a zero row.
    partial = get_feature("amino_acid_composition").matrix(shuffled.iloc[1:], index)
    missing = index.positions([shuffled["systematic_name"].iloc[0]])[0]
    assert not partial.has_data[missing] and partial.x[missing].abs().sum() == 0


# -- the real genome ---------------------------------------------------------------------------


def test_codon_frequency_on_the_real_genome_has_one_stop_codon_per_cds(genes_frame, real):
    index, matrices, _ = real
    matrix = matrices["codon_frequency"]
    table = genes_frame.set_index("systematic_name").loc[index.genes]
    coding = table["cds_sequence"].notna().to_numpy()
    assert matrix.x.shape == (6399, 64) and matrix.has_data.numpy().tolist() == coding.tolist()
    codons_per_gene = torch.tensor(table["cds_sequence"].fillna("").str.len().to_numpy() // 3)
    stops = sum(column(matrix.x, matrix.columns, c) for c in ("TAA", "TAG", "TGA")) * codons_per_gene
    # A translated CDS has one stop, at its end; the few untranslated ones (pseudogenes) have internal stops.
    translated = coding & table["protein_sequence"].notna().to_numpy()
    assert 5900 < translated.sum() < coding.sum()
    assert torch.allclose(stops[translated], torch.ones(int(translated.sum())), atol=1e-3)
    assert (stops[coding & ~translated] > 1.5).all()
    assert (column(matrix.x, matrix.columns, "ATG")[torch.tensor(coding)] > 0).all()


def test_aa_and_kmer_features_match_a_direct_count_on_real_proteins(genes_frame, real):
    index, matrices, _ = real
    aa, kmers = matrices["amino_acid_composition"], matrices["protein_kmer"]
    proteins = genes_frame.set_index("systematic_name")["protein_sequence"]
    for gene in ("YAL068C", "YBR160W", "YPL031C"):
        protein = proteins[gene].rstrip("*")
        row = index.positions([gene])[0]
        letters = Counter(protein)
        assert aa.x[row].tolist() == pytest.approx([letters[a] / len(protein) for a in aa.columns], abs=1e-6)
        pairs = Counter(protein[i : i + 2] for i in range(len(protein) - 1))
        assert kmers.x[row, kmers.columns.index("LL")] == pytest.approx(pairs["LL"] / (len(protein) - 1))
    assert int((~aa.has_data).sum()) == int(proteins.isna().sum())


def test_go_annotation_on_the_real_genome_equals_descendant_annotations(go_frame, real):
    index, matrices, _ = real
    matrix = matrices["go_annotation"]
    dag = load_packaged_go_dag()
    term = "GO:0006281"  # DNA repair
    below = {term, *dag.descendants(term)}
    expected = sorted(set(go_frame.loc[go_frame["go_id"].map(lambda t: dag.resolve(t) in below), "systematic_name"]))
    dense = matrix.x.to_dense()
    found = [index.genes[i] for i in torch.nonzero(column(dense, matrix.columns, term)).ravel().tolist()]
    assert found == expected and len(found) > 100
    assert dense.sum(dim=0).min() >= 3 and matrix.columns == sorted(matrix.columns)


def test_every_builtin_feature_on_the_real_genome_takes_seconds(real):
    _, matrices, seconds = real
    shapes = {name: tuple(m.x.shape) for name, m in matrices.items()}
    assert {name: shape[0] for name, shape in shapes.items()} == dict.fromkeys(BUILTIN_FEATURES, 6399)
    assert shapes["one_hot"] == (6399, 6399) and shapes["protein_kmer"] == (6399, 400)
    assert shapes["random"] == (6399, 64) and shapes["go_annotation"][1] > 1000
    assert all(torch.isfinite(m.x.to_dense() if m.x.is_sparse else m.x).all() for m in matrices.values())
    assert seconds < 30, f"all built-in features took {seconds:.1f}s"


# -- GO propagation, registry, local models, files ----------------------------------------------


def test_go_annotations_propagate_to_ancestors_over_is_a_and_part_of_only():
    genes = pd.DataFrame({"systematic_name": ["g1", "g2", "g3", "g4"]})
    annotations = pd.DataFrame(
        {"systematic_name": ["g1", "g2", "g3", "g4", "g9"], "go_id": ["T3", "T4", "T2", "T5", "T3"]}
    )  # g9 is outside the index: ignored
    edges = pd.DataFrame(
        {
            "child": ["T3", "T4", "T2", "T5"],
            "parent": ["T2", "T2", "T1", "T1"],
            "relation": ["is_a", "part_of", "is_a", "regulates"],
        }
    )
    index = GeneIndex(genes["systematic_name"])
    every = get_feature("go_annotation", min_genes=1, annotations=annotations, edges=edges).matrix(genes, index)
    members = {
        t: [index.genes[i] for i in torch.nonzero(every.x.to_dense()[:, j]).ravel().tolist()]
        for j, t in enumerate(every.columns)
    }
    assert members == {"T1": ["g1", "g2", "g3"], "T2": ["g1", "g2", "g3"], "T3": ["g1"], "T4": ["g2"], "T5": ["g4"]}
    common = get_feature("go_annotation", min_genes=2, annotations=annotations, edges=edges).matrix(genes, index)
    assert common.columns == ["T1", "T2"] and common.has_data.tolist() == [True, True, True, False]
    # By default the annotations come from the gene table's nested `go_annotations` column.
    nested = pa.table({"systematic_name": ["g1", "g2"], "go_annotations": [[{"go_id": "T3", "evidence": "IMP"}], []]})
    from_table = get_feature("go_annotation", min_genes=1, edges=edges).matrix(nested, GeneIndex(["g1", "g2"]))
    assert from_table.columns == ["T1", "T2", "T3"] and from_table.x.to_dense().tolist() == [[1, 1, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match=r"edges lack columns \['parent'\]"):
        get_feature("go_annotation", annotations=annotations, edges=edges.drop(columns=["parent"]))


def test_a_new_feature_is_one_registered_class(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register
    @dataclass(frozen=True)
    class NameLength(GeneFeature):
        name: ClassVar[str] = "name_length"
        scale: float = 1.0

        @property
        def dim(self) -> int:
            return 1

        def _compute(self, frame, index):
            lengths = frame["systematic_name"].str.len().to_numpy(dtype=np.float32) * self.scale
            return lengths[:, None], ["length"], np.ones(len(index), dtype=bool)

    assert "name_length" in feature_names() and set(BUILTIN_FEATURES) < set(feature_names())
    feature = get_feature("name_length", scale=2.0)
    assert feature.describe() == "name_length(scale=2.0): 1 dims"
    x = feature.compute(pd.DataFrame({"systematic_name": ["YAL001C", "Q0010"]}), GeneIndex(["YAL001C", "Q0010"]))
    assert x.dtype == torch.float32 and x.ravel().tolist() == [10.0, 14.0]  # sorted: Q0010 first

    @dataclass(frozen=True)
    class Impostor(GeneFeature):
        name: ClassVar[str] = "name_length"

    with pytest.raises(ValueError, match="'name_length' is taken"):
        register(Impostor)


def test_local_model_feature_reads_a_local_file_and_never_downloads(tmp_path):
    index = GeneIndex(["YA1", "YB2", "YC3"])
    genes = pd.DataFrame({"systematic_name": index.genes})
    missing = tmp_path / "esm2.pt"
    with pytest.raises(FileNotFoundError, match="no embedding file at .*esm2.pt.*never downloads"):
        get_feature("local_model", path=str(missing)).compute(genes, index)
    with pytest.raises(ValueError, match="set `path`"):
        get_feature("local_model").compute(genes, index)
    vectors = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    np.savez(tmp_path / "emb.npz", genes=np.array(["YC3", "YA1", "YZZ"]), x=vectors)
    pd.DataFrame({"systematic_name": ["YB2"], "embedding": [[7.0, 8.0]]}).to_parquet(tmp_path / "emb.parquet")
    torch.save({"YA1": torch.tensor([9.0, 9.0])}, tmp_path / "emb.pt")
    from_npz = get_feature("local_model", path=str(tmp_path / "emb.npz")).matrix(genes, index)
    assert from_npz.x.tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]
    assert from_npz.has_data.tolist() == [True, False, True]
    assert get_feature("local_model", path=str(tmp_path / "emb.parquet")).compute(genes, index)[1].tolist() == [7, 8]
    assert get_feature("local_model", path=str(tmp_path / "emb.pt")).compute(genes, index)[0].tolist() == [9, 9]


def test_feature_files_round_trip_and_bad_files_are_named(tmp_path):
    frame = tiny_genes()
    index = GeneIndex(frame["systematic_name"])
    one_hot = get_feature("one_hot").matrix(frame, index)
    path = save_gene_feature(one_hot, tmp_path / "one_hot.pt")
    genes, x = load_gene_feature(path)
    assert genes == index.genes and torch.equal(x, torch.eye(4))
    assert read_feature_file(path).x.is_sparse  # stored sparse, densified on load
    again = save_gene_feature(one_hot, tmp_path / "again" / "one_hot.pt")
    assert file_sha256(again) == file_sha256(path)  # the bytes depend only on the content and file name
    codons = get_feature("codon_frequency").matrix(frame.sample(frac=1.0, random_state=1), index)
    document = torch.load(save_gene_feature(codons, tmp_path / "codons.pt"), weights_only=True)
    assert set(document) >= {"name", "genes", "x", "columns", "config"} and document["columns"][0] == "AAA"
    torch.save({**document, "genes": document["genes"][::-1]}, tmp_path / "reversed.pt")
    with pytest.raises(SourceFormatError, match="reversed.pt, column 'genes': genes are not sorted"):
        load_gene_feature(tmp_path / "reversed.pt")
    torch.save({k: v for k, v in document.items() if k != "columns"}, tmp_path / "no_columns.pt")
    with pytest.raises(SourceFormatError, match="column 'columns': missing key"):
        load_gene_feature(tmp_path / "no_columns.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(SourceFormatError, match="not a torch feature file"):
        load_gene_feature(tmp_path / "junk.pt")


# -- the Dagster asset and its checks -----------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """`gene_features` materialized with its checks on a hand-made four-gene data dir."""
    storage = TorchcellStorage(data_dir=str(tmp_path_factory.mktemp("features_data")))
    tiny_genes().to_parquet(storage.path(*GENOME_PARQUET), index=False)
    pd.DataFrame({"go_id": ["GO:1", "GO:2"], "genes": [["YA1", "YB2", "YD4"], ["YA1", "YB2"]]}).to_parquet(
        storage.path(*GO_TERMS), index=False
    )
    pd.DataFrame({"child": ["GO:2"], "parent": ["GO:1"], "relation": ["is_a"]}).to_parquet(storage.path(*GO_EDGES))
    run_config = dg.RunConfig(ops={"gene_features": {"config": {"random_dim": 8, "go_min_genes": 2}}})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [gene_features, *ALL_CHECKS], instance=instance, resources={"storage": storage}, run_config=run_config
        )
        yield result, storage


def test_the_asset_writes_every_builtin_feature_and_its_checks_pass(small_run):
    result, storage = small_run
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 4 and all(e.passed for e in evaluations), [
        (e.check_name, e.metadata) for e in evaluations if not e.passed
    ]
    manifest = read_manifest(storage)
    assert set(manifest["features"]) == set(BUILTIN_FEATURES) and manifest["genes"] == 4
    assert manifest["features"]["random"]["dim"] == 8 and manifest["features"]["codon_frequency"]["dim"] == 64
    assert manifest["features"]["codon_frequency"]["genes_without_data"] == 1
    assert manifest["features"]["protein_kmer"]["genes_without_data"] == 2  # YD4 "MX": no countable pair
    genes, go = load_gene_feature(storage.feature_file("go_annotation"))
    assert genes == ["YA1", "YB2", "YC1", "YD4"] and read_feature_file(storage.feature_file("go_annotation")).columns
    assert go.tolist() == [[1, 1], [1, 1], [0, 0], [1, 0]]
    event = result.get_asset_materialization_events()[0].event_specific_data.materialization
    features = {record.data["feature"]: record.data for record in event.metadata["features"].value.records}
    assert features["codon_frequency"]["dim"] == 64
    assert event.tags["dagster/data_version"]


def test_an_unknown_feature_name_fails_before_anything_is_computed(small_run):
    _, storage = small_run
    with pytest.raises(KeyError, match="unknown gene feature 'esm9'"):
        configured_features(GeneFeaturesConfig(features=["random", "esm9"]), storage)
    local = configured_features(
        GeneFeaturesConfig(features=["local_model"], local_paths={"local_model": "/x.pt"}), storage
    )
    assert local[0].config() == {"path": "/x.pt"}


def dense_document(path):
    """A stored feature file's dict with x dense (tiny matrices are stored sparse), ready to corrupt."""
    document = torch.load(path, weights_only=True)
    return {**document, "x": document["x"].to_dense() if document["x"].is_sparse else document["x"]}


def test_checks_fail_on_corrupted_feature_files(small_run, tmp_path):
    _, storage = small_run
    bad = TorchcellStorage(data_dir=str(tmp_path / "corrupt"))
    for parts in (GENOME_PARQUET, ("features", "manifest.json")):
        bad.path(*parts).write_bytes(storage.path(*parts).read_bytes())
    for name in BUILTIN_FEATURES:
        bad.feature_file(name).write_bytes(storage.feature_file(name).read_bytes())
    assert all(check(storage=bad).passed for check in ALL_CHECKS)

    codons = dense_document(bad.feature_file("codon_frequency"))
    codons["x"][0, 0] = float("nan")
    torch.save(codons, bad.feature_file("codon_frequency"))
    assert checks.finite_values(storage=bad).passed is False
    kmers = dense_document(bad.feature_file("protein_kmer"))
    kmers["x"][1] *= 2  # YB2 has a protein: its row must sum to 1
    torch.save(kmers, bad.feature_file("protein_kmer"))
    result = checks.frequencies_sum_to_one(storage=bad)
    assert result.passed is False and "YB2 sums to 2" in str(result.metadata["problems"].value)

    noise = dense_document(bad.feature_file("random"))
    torch.save({**noise, "x": noise["x"] + 1e-3}, bad.feature_file("random"))
    assert checks.random_reproducible(storage=bad).passed is False

    amino = dense_document(bad.feature_file("amino_acid_composition"))
    torch.save(
        {**amino, "genes": amino["genes"][:-1], "x": amino["x"][:-1], "has_data": amino["has_data"][:-1]},
        bad.feature_file("amino_acid_composition"),
    )
    result = checks.rows_follow_gene_index(storage=bad)
    assert result.passed is False and "amino_acid_composition" in str(result.metadata["problems"].value)
    bad.feature_file("one_hot").write_bytes(b"truncated")
    assert "unreadable" in str(checks.rows_follow_gene_index(storage=bad).metadata["problems"].value)
