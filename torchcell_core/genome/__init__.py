"""The S288C reference genome: readers for GenBank and SGD GFF/FASTA, and the gene table."""
