"""The GO DAG: OBO and GO.db readers, DAG operations and file format, DCell annotation filters."""

import gzip
import sqlite3
from datetime import date

import pandas as pd
import pytest

from torchcell_core.errors import SourceFormatError
from torchcell_core.ontology import (
    DCellFilterConfig,
    GoDag,
    GoEdge,
    GoTerm,
    dcell_filter,
    load_packaged_go_dag,
    read_go_sqlite,
    read_obo,
)
from torchcell_core.ontology.filters import drop_evidence, filter_before_date

BP, MF = "biological_process", "molecular_function"


def make_dag(edges: str, extra_terms=(), alt_ids=None) -> GoDag:
    """Terms named by their ids; `edges` lines read `child parent relation`."""
    links = [tuple(line.split()) for line in edges.strip().splitlines()]
    ids = {end for child, parent, _ in links for end in (child, parent)}
    terms = [GoTerm(i, f"term {i}", BP) for i in sorted(ids)] + list(extra_terms)
    return GoDag(terms, links, alt_ids)


# R is the root; D is part_of B; X is an alt id of C; O is obsolete; M is another namespace.
HAND = """
A R is_a
B A is_a
C A is_a
D B part_of
E R is_a
"""
HAND_EXTRA = (GoTerm("O", "obsolete thing", BP, True), GoTerm("M", "some activity", MF))


def test_dag_navigation():
    dag = make_dag(HAND, HAND_EXTRA, {"X": "C"})
    assert dag.parents("D") == ["B"] and dag.parent_edges("D") == [GoEdge("D", "B", "part_of")]
    assert dag.children("A") == ["B", "C"] and dag.children("D") == []
    assert dag.ancestors("D") == {"B", "A", "R"}
    assert dag.descendants("A") == {"B", "C", "D"}
    assert dag.roots() == ["M", "R"]
    order = dag.topological_order()
    assert all(order.index(e.parent) < order.index(e.child) for e in dag.edges)
    assert dag.depths() == {"R": 0, "A": 1, "E": 1, "B": 2, "C": 2, "D": 3, "M": 0, "O": 0}
    assert dag.resolve("X") == "C" and dag.resolve("C") == "C" and dag.resolve("nope") is None
    with pytest.raises(KeyError):
        dag.parents("X")


def test_dag_depth_is_longest_path():
    dag = make_dag("A R is_a\nB A is_a\nB R part_of")
    assert dag.depths()["B"] == 2


def test_dag_rejects_cycles_and_bad_edges():
    with pytest.raises(ValueError, match="cycle"):
        make_dag("A R is_a\nB A is_a\nA B part_of")
    with pytest.raises(ValueError, match="relation"):
        make_dag("A R regulates")
    with pytest.raises(ValueError, match="not a term"):
        GoDag([GoTerm("A", "a", BP)], [("A", "Z", "is_a")])
    with pytest.raises(ValueError, match="alt id"):
        make_dag("A R is_a", alt_ids={"X": "Q"})


def test_subgraph_keeps_ancestors_and_alt_ids():
    dag = make_dag(HAND, HAND_EXTRA, {"X": "C", "Y": "E"})
    sub = dag.subgraph(["X"])  # alt id of C
    assert set(sub.terms) == {"C", "A", "R"}
    assert sub.edges == [GoEdge("A", "R", "is_a"), GoEdge("C", "A", "is_a")]
    assert dict(sub.alt_ids) == {"X": "C"}
    with pytest.raises(KeyError):
        dag.subgraph(["GO:9999999"])


def test_contract_links_nearest_kept_ancestors():
    dag = make_dag(HAND)
    small = dag.contract(["R", "C", "D"])
    # D part_of B is_a A is_a R composes to part_of; C is_a A is_a R stays is_a.
    assert small.edges == [GoEdge("C", "R", "is_a"), GoEdge("D", "R", "part_of")]


def test_save_load_round_trip(tmp_path):
    dag = make_dag(HAND, HAND_EXTRA, {"X": "C"})
    dag.metadata["go_release"] = "2022-07-01"
    first = dag.save(tmp_path / "a.json.gz")
    second = dag.save(tmp_path / "b.json.gz")
    assert first.read_bytes() == second.read_bytes()
    loaded = GoDag.load(first)
    assert dict(loaded.terms) == dict(dag.terms)
    assert loaded.edges == dag.edges
    assert dict(loaded.alt_ids) == {"X": "C"}
    assert loaded.metadata == {"go_release": "2022-07-01"}
    assert loaded.terms["O"].is_obsolete


def test_load_rejects_bad_files(tmp_path):
    plain = tmp_path / "plain.json.gz"
    plain.write_text("{}")
    with pytest.raises(SourceFormatError, match="plain.json.gz"):
        GoDag.load(plain)
    broken = tmp_path / "broken.json.gz"
    doc = (
        '{"format":"torchcell.go_dag","version":1,"metadata":{},"namespaces":["biological_process"],'
        '"relations":["is_a"],"terms":[["A","a",0,0]],"edges":[[0,5,0]],"alt_ids":[]}'
    )
    broken.write_bytes(gzip.compress(doc.encode()))
    with pytest.raises(SourceFormatError) as caught:
        GoDag.load(broken)
    assert caught.value.column == "edges"


OBO = """\
format-version: 1.2
data-version: releases/2022-07-01
ontology: go
subsetdef: goslim_yeast "Yeast GO slim"

[Term]
id: GO:0000001
name: mitochondrion inheritance
namespace: biological_process
is_a: GO:0048308 ! organelle inheritance
relationship: regulates GO:0000003 ! reproduction

[Term]
id: GO:0048308
name: organelle inheritance
namespace: biological_process
alt_id: GO:0048309
is_a: GO:0008150 {source="GOC:x"} ! biological_process
relationship: part_of GO:0000003 ! reproduction

[Term]
id: GO:0000003
name: reproduction
namespace: biological_process
is_a: GO:0008150

[Term]
id: GO:0008150
name: biological_process
namespace: biological_process

[Term]
id: GO:0000005
name: obsolete ribosomal chaperone activity
namespace: molecular_function
is_obsolete: true

[Typedef]
id: part_of
name: part of
is_transitive: true
"""


def test_read_obo(tmp_path):
    path = tmp_path / "go-basic.obo"
    path.write_text(OBO)
    dag = read_obo(path)
    assert len(dag) == 5
    assert dag.terms["GO:0000001"] == GoTerm("GO:0000001", "mitochondrion inheritance", BP)
    assert dag.terms["GO:0000005"].is_obsolete and dag.terms["GO:0000005"].namespace == MF
    assert dag.parent_edges("GO:0048308") == [
        GoEdge("GO:0048308", "GO:0000003", "part_of"),
        GoEdge("GO:0048308", "GO:0008150", "is_a"),
    ]
    assert dag.parents("GO:0000001") == ["GO:0048308"]  # regulates is skipped
    assert dag.ancestors("GO:0000001") == {"GO:0048308", "GO:0000003", "GO:0008150"}
    assert dag.resolve("GO:0048309") == "GO:0048308"
    assert dag.metadata["go_release"] == "2022-07-01"
    gz = tmp_path / "go-basic.obo.gz"
    gz.write_bytes(gzip.compress(OBO.encode()))
    assert read_obo(gz).edges == dag.edges


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        ("id: GO:0000003\n", "", 21, "id", "without an id"),
        ("is_a: GO:0048308 ! organelle inheritance", "is_a: organelle inheritance", 10, "is_a", "GO id"),
        ("relationship: part_of GO:0000003", "relationship: part_of GO:3", 19, "relationship", "GO id"),
        ("is_a: GO:0008150\n", "is_a: GO:0008151\n", 25, "is_a", "not defined"),
        ("namespace: molecular_function", "namespace: molecular_fun", 35, None, "namespace"),
        ("is_obsolete: true", "is_obsolete: yes", 36, "is_obsolete", "true or false"),
    ],
)
def test_read_obo_errors_name_line_and_tag(tmp_path, old, new, line, column, message):
    path = tmp_path / "go-basic.obo"
    assert old in OBO
    path.write_text(OBO.replace(old, new, 1))
    with pytest.raises(SourceFormatError, match=message) as caught:
        read_obo(path)
    assert (caught.value.path, caught.value.line, caught.value.column) == (path, line, column)


def make_go_sqlite(path, parents_table="go_bp_parents", dangling=False):
    """A GO.db-shaped SQLite with the real table and column names and a few rows."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE metadata (name VARCHAR(80) PRIMARY KEY, value VARCHAR(255));
        CREATE TABLE go_ontology (ontology VARCHAR(9) PRIMARY KEY, term_type VARCHAR(18) NOT NULL UNIQUE);
        CREATE TABLE go_term (_id INTEGER PRIMARY KEY, go_id CHAR(10) NOT NULL UNIQUE, term VARCHAR(255) NOT NULL,
                              ontology VARCHAR(9) NOT NULL, definition TEXT NULL);
        CREATE TABLE go_obsolete (go_id CHAR(10) PRIMARY KEY, term VARCHAR(255) NOT NULL,
                                  ontology VARCHAR(9) NOT NULL, definition TEXT NULL);
        CREATE TABLE go_synonym (_id INTEGER NOT NULL, synonym VARCHAR(255) NOT NULL, secondary CHAR(10) NULL,
                                 like_go_id SMALLINT);
        CREATE TABLE go_bp_parents (_id INTEGER NOT NULL, _parent_id INTEGER NOT NULL,
                                    relationship_type VARCHAR(7) NOT NULL);
        CREATE TABLE go_mf_parents (_id INTEGER NOT NULL, _parent_id INTEGER NOT NULL,
                                    relationship_type VARCHAR(7) NOT NULL);
        CREATE TABLE go_cc_parents (_id INTEGER NOT NULL, _parent_id INTEGER NOT NULL,
                                    relationship_type VARCHAR(7) NOT NULL);
        INSERT INTO metadata VALUES ('GOSOURCENAME', 'Gene Ontology'), ('GOSOURCEDATE', '2022-07-01'),
            ('DBSCHEMAVERSION', '2.1');
        INSERT INTO go_ontology VALUES ('universal', 'universal'), ('BP', 'biological_process'),
            ('MF', 'molecular_function'), ('CC', 'cellular_component');
        INSERT INTO go_term VALUES (2, 'GO:0000001', 'mitochondrion inheritance', 'BP', 'x'),
            (4, 'GO:0000003', 'reproduction', 'BP', NULL), (9, 'GO:0008150', 'biological_process', 'BP', NULL),
            (11, 'GO:0048308', 'organelle inheritance', 'BP', NULL),
            (20, 'GO:0003674', 'molecular_function', 'MF', NULL), (21, 'GO:0003824', 'catalytic activity', 'MF', NULL),
            (30, 'GO:0005575', 'cellular_component', 'CC', NULL), (31, 'GO:0005739', 'mitochondrion', 'CC', NULL),
            (99, 'all', 'all', 'universal', NULL);
        INSERT INTO go_obsolete VALUES ('GO:0000005', 'obsolete ribosomal chaperone activity', 'MF', 'OBSOLETE.');
        INSERT INTO go_synonym VALUES (4, 'GO:0019952', 'GO:0019952', 1), (2, 'mitochondrial inheritance', NULL, 0);
        INSERT INTO go_bp_parents VALUES (2, 11, 'isa'), (2, 4, 'regulates'), (11, 9, 'isa'), (11, 4, 'part of'),
            (4, 9, 'isa'), (9, 99, 'isa');
        INSERT INTO go_mf_parents VALUES (21, 20, 'isa'), (20, 99, 'isa');
        INSERT INTO go_cc_parents VALUES (31, 30, 'isa'), (30, 99, 'isa');
        """
    )
    if dangling:
        db.execute(f"INSERT INTO {parents_table} VALUES (2, 12345, 'isa')")
    db.commit()
    db.close()
    return path


def test_read_go_sqlite(tmp_path):
    dag = read_go_sqlite(make_go_sqlite(tmp_path / "GO.sqlite"))
    assert "all" not in dag and len(dag) == 9  # 8 current + 1 obsolete
    assert dag.roots() == ["GO:0003674", "GO:0005575", "GO:0008150"]
    assert dag.parent_edges("GO:0048308") == [
        GoEdge("GO:0048308", "GO:0000003", "part_of"),
        GoEdge("GO:0048308", "GO:0008150", "is_a"),
    ]
    assert dag.parents("GO:0000001") == ["GO:0048308"]  # regulates dropped
    assert dag.terms["GO:0005739"] == GoTerm("GO:0005739", "mitochondrion", "cellular_component")
    assert dag.terms["GO:0000005"].is_obsolete and dag.parents("GO:0000005") == []
    assert dict(dag.alt_ids) == {"GO:0019952": "GO:0000003"}
    assert dag.metadata["go_release"] == "2022-07-01" and dag.metadata["DBSCHEMAVERSION"] == "2.1"


def test_read_go_sqlite_errors(tmp_path):
    path = make_go_sqlite(tmp_path / "dangling.sqlite", "go_cc_parents", dangling=True)
    with pytest.raises(SourceFormatError, match="12345") as caught:
        read_go_sqlite(path)
    assert caught.value.column == "go_cc_parents._parent_id"
    path = make_go_sqlite(tmp_path / "no_obsolete.sqlite")
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE go_obsolete")
    with pytest.raises(SourceFormatError, match="go_obsolete"):
        read_go_sqlite(path)


def test_packaged_dag(go_frame):
    dag = load_packaged_go_dag()
    assert dag.metadata["go_release"] == "2022-07-01"
    assert dag.roots() == ["GO:0003674", "GO:0005575", "GO:0008150"]
    assert 5000 < len(dag) < 20000 and {e.relation for e in dag.edges} == {"is_a", "part_of"}
    assert {"GO:0051321", "GO:0008150"} <= dag.ancestors("GO:0030437")  # ascospore formation: meiotic cell cycle
    assert all(dag.resolve(go_id) is not None for go_id in go_frame["go_id"].unique())


def hand_annotations() -> pd.DataFrame:
    rows = [
        ("g1", "D", "IDA"),
        ("g2", "D", "IMP"),
        ("g1", "D", "IGI"),  # duplicate pair, other evidence
        ("g4", "C", "IGI,IMP"),  # kept on its IMP support
        ("g5", "X", "IDA"),  # alt id of C
        ("g6", "C", "IGI"),  # dropped: IGI only
        ("g6", "C", "IGI,IGI"),  # dropped: IGI only
        ("g7", "E", "IDA"),  # E ends with one gene: dropped, but g7 stays on R
        ("g8", "O", "IDA"),  # obsolete
        ("g9", "GO:9999999", "IDA"),  # unknown id
        ("g1", "M", "IDA"),  # molecular function
    ]
    return pd.DataFrame(rows, columns=["systematic_name", "go_id", "evidence"])


def test_dcell_filter_by_hand():
    dag = make_dag(HAND, HAND_EXTRA, {"X": "C"})
    result = dcell_filter(hand_annotations(), dag, DCellFilterConfig(min_genes=2))
    # Propagated: D,B={g1,g2}; C={g4,g5}; A={g1,g2,g4,g5}; E={g7}; R=A+{g7}. E < 2 genes;
    # B has the single child D with the same genes, so B goes and D hangs from A (part_of).
    assert result.term_genes == {
        "A": ["g1", "g2", "g4", "g5"],
        "C": ["g4", "g5"],
        "D": ["g1", "g2"],
        "R": ["g1", "g2", "g4", "g5", "g7"],
    }
    assert result.dag.edges == [GoEdge("A", "R", "is_a"), GoEdge("C", "A", "is_a"), GoEdge("D", "A", "part_of")]
    stats = result.stats
    assert stats["input"] == {"rows": 11, "terms": 7, "genes": 8, "annotations": 9}
    assert stats["evidence"]["rows"] == 8
    assert stats["current_ids"] == {
        "rows": 6,
        "terms": 4,
        "genes": 5,
        "annotations": 6,
        "remapped_alt_ids": 1,
        "dropped_obsolete": 1,
        "dropped_unknown": 1,
    }
    assert stats["namespace"] == {"rows": 5, "terms": 3, "genes": 5, "annotations": 5}
    assert stats["propagated"] == {"terms": 6, "genes": 5, "annotations": 16}
    assert stats["min_genes"] == {"terms": 5, "genes": 5, "annotations": 15}
    assert stats["redundancy"] == {"terms": 4, "genes": 5, "annotations": 13}

    kept = dcell_filter(hand_annotations(), dag, DCellFilterConfig(min_genes=2, drop_redundant=False))
    assert set(kept.term_genes) == {"R", "A", "B", "C", "D"} and kept.dag.parents("D") == ["B"]
    with_igi = dcell_filter(hand_annotations(), dag, DCellFilterConfig(min_genes=2, drop_evidence=()))
    assert with_igi.term_genes["C"] == ["g4", "g5", "g6"]
    both = dcell_filter(hand_annotations(), dag, DCellFilterConfig(min_genes=1, namespaces=(BP, MF)))
    assert both.term_genes["M"] == ["g1"] and both.term_genes["E"] == ["g7"]


def test_redundant_chain_collapses_to_lowest_term():
    dag = make_dag("A R is_a\nB A is_a\nC B is_a\nD R is_a")
    frame = pd.DataFrame({"systematic_name": ["g1", "g2", "g3"], "go_id": ["C", "C", "D"], "evidence": "IDA"})
    result = dcell_filter(frame, dag, DCellFilterConfig(min_genes=1))
    # R={g1,g2,g3} has two children; A, B each have one child with the same genes {g1,g2}.
    assert result.term_genes == {"C": ["g1", "g2"], "D": ["g3"], "R": ["g1", "g2", "g3"]}
    assert result.dag.parents("C") == ["R"]


def test_evidence_and_date_filters():
    frame = pd.DataFrame(
        {
            "systematic_name": ["g1", "g2", "g3", "g4"],
            "go_id": ["A", "A", "A", "A"],
            "evidence": ["IGI", "IGI,IMP", "IDA", "IGI,IGI"],
            "date": ["20100105", "2015-06-30", date(2020, 1, 1), "20151231"],
        }
    )
    assert drop_evidence(frame, ("IGI",))["systematic_name"].tolist() == ["g2", "g3"]
    assert drop_evidence(frame, ("IGI", "IMP"))["systematic_name"].tolist() == ["g3"]
    kept = filter_before_date(frame, date(2015, 6, 30))
    assert kept["systematic_name"].tolist() == ["g1", "g2"]
    dag = make_dag("A R is_a")
    result = dcell_filter(frame, dag, DCellFilterConfig(min_genes=1, drop_evidence=(), before_date=date(2015, 12, 31)))
    assert result.stats["date"]["rows"] == 3 and result.term_genes["A"] == ["g1", "g2", "g4"]
    with pytest.raises(ValueError, match="row 1"):
        filter_before_date(frame.assign(date=["20100105", "June", None, "x"]), date(2015, 1, 1))
    with pytest.raises(ValueError, match="'date' column"):
        dcell_filter(frame.drop(columns="date"), dag, DCellFilterConfig(before_date=date(2015, 1, 1)))


def test_dcell_filter_on_yeast_annotations(go_frame):
    dag = load_packaged_go_dag()
    result = dcell_filter(go_frame, dag)
    for step, counts in result.stats.items():
        print(step, counts)
    stats = result.stats
    assert stats["input"]["rows"] == len(go_frame)
    assert stats["evidence"]["rows"] < stats["input"]["rows"]  # IGI-only rows went
    assert stats["current_ids"]["remapped_alt_ids"] > 0 and stats["current_ids"]["dropped_obsolete"] > 0
    assert stats["propagated"]["annotations"] > 3 * stats["namespace"]["annotations"]
    assert 500 <= stats["redundancy"]["terms"] <= 5000
    assert stats["redundancy"]["terms"] < stats["min_genes"]["terms"] < stats["propagated"]["terms"]
    assert result.dag.roots() == ["GO:0008150"]
    assert {t.namespace for t in result.dag.terms.values()} == {BP}
    genes = {t: set(g) for t, g in result.term_genes.items()}
    assert min(map(len, genes.values())) >= 6
    for go_id in result.dag:
        children = result.dag.children(go_id)
        assert all(genes[c] <= genes[go_id] for c in children)
        assert not (len(children) == 1 and genes[children[0]] == genes[go_id])
