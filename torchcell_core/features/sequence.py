"""Sequence-composition features: codon frequency (CDS), amino-acid composition and protein k-mers.

Each row is a frequency vector summing to 1; a gene without a usable sequence (tRNA, ncRNA, ...)
gets a zero row and `has_data` False. Counting is vectorised over the whole genome at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from torchcell_core.features.registry import GeneFeature, register
from torchcell_core.genome.gene_index import GeneIndex

NUCLEOTIDES = ("A", "C", "G", "TU")  # U (RNA) is read as T
AMINO_ACIDS = tuple("ACDEFGHIKLMNPQRSTVWY")
# Murphy, Wallqvist & Levy (2000) 10-letter reduced alphabet; a group is named by its first letter.
REDUCED_ALPHABETS: dict[str, tuple[str, ...]] = {
    "standard": AMINO_ACIDS,
    "murphy10": ("LVIM", "C", "A", "G", "ST", "P", "FYW", "EDNQ", "KR", "H"),
}
MAX_KMER_DIM = 10_000


def count_words(sequences: Sequence[str | None], groups: Sequence[str], word: int, step: int) -> sp.csr_matrix:
    """Counts [num_sequences, len(groups) ** word] of the words of `word` letters starting every `step`
    letters; letter i of a word is the group holding it. Words touching a letter outside every group
    are skipped, and a trailing part shorter than a word is ignored. Column c is the base-len(groups)
    number whose first digit is the first letter (the order of `itertools.product`)."""
    lookup = np.full(256, -1, dtype=np.int64)
    for code, letters in enumerate(groups):
        for letter in letters:
            lookup[ord(letter.upper())] = lookup[ord(letter.lower())] = code
    texts = ["" if not isinstance(s, str) else s for s in sequences]
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    letters = lookup[np.frombuffer("".join(texts).encode("ascii", errors="replace"), dtype=np.uint8)]
    starts = np.cumsum(lengths) - lengths
    words_per_seq = np.where(lengths >= word, (lengths - word) // step + 1, 0)
    owner = np.repeat(np.arange(len(texts)), words_per_seq)
    first_word = np.repeat(np.cumsum(words_per_seq) - words_per_seq, words_per_seq)
    position = np.repeat(starts, words_per_seq) + (np.arange(len(owner)) - first_word) * step
    codes = np.zeros(len(owner), dtype=np.int64)
    valid = np.ones(len(owner), dtype=bool)
    for offset in range(word):
        letter = letters[position + offset]
        valid &= letter >= 0
        codes = codes * len(groups) + letter.clip(min=0)
    ones = np.ones(int(valid.sum()), dtype=np.float64)
    shape = (len(texts), len(groups) ** word)
    return sp.coo_matrix((ones, (owner[valid], codes[valid])), shape=shape).tocsr()


def word_names(groups: Sequence[str], word: int) -> list[str]:
    """Column names in `count_words` order, each group written as its first letter."""
    return ["".join(p) for p in itertools.product([g[0] for g in groups], repeat=word)]


def frequencies(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Rows divided by their totals ([n, d] float32) and has_data [n] (rows with at least one word)."""
    totals = np.asarray(counts.sum(axis=1)).ravel()
    has_data = totals > 0
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=has_data)
    return (sp.diags(scale) @ counts).toarray().astype(np.float32), has_data


def _proteins(frame: pd.DataFrame) -> list[str | None]:
    """Protein sequences with the terminal stop `*` removed (None stays None)."""
    return [s.rstrip("*") if isinstance(s, str) else None for s in frame["protein_sequence"]]


@register
@dataclass(frozen=True)
class CodonFrequency(GeneFeature):
    """64 codon frequencies per gene from `cds_sequence`, read in frame from the first base.

    The stop codon is counted like any other codon (so "ATGGCTGCTTAA" gives ATG 1/4, GCT 2/4,
    TAA 1/4); codons with a base other than ACGT(U) are skipped, as is a trailing partial codon.
    """

    name: ClassVar[str] = "codon_frequency"
    required_columns: ClassVar[tuple[str, ...]] = ("cds_sequence",)

    @property
    def dim(self) -> int:
        return 64

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[np.ndarray, list[str], np.ndarray]:
        x, has_data = frequencies(count_words(frame["cds_sequence"].tolist(), NUCLEOTIDES, word=3, step=3))
        return x, word_names(NUCLEOTIDES, 3), has_data


@register
@dataclass(frozen=True)
class AminoAcidComposition(GeneFeature):
    """Frequencies of the 20 standard amino acids in `protein_sequence` (the stop `*` stripped;
    other letters such as X or U are not counted)."""

    name: ClassVar[str] = "amino_acid_composition"
    required_columns: ClassVar[tuple[str, ...]] = ("protein_sequence",)

    @property
    def dim(self) -> int:
        return len(AMINO_ACIDS)

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[np.ndarray, list[str], np.ndarray]:
        x, has_data = frequencies(count_words(_proteins(frame), AMINO_ACIDS, word=1, step=1))
        return x, list(AMINO_ACIDS), has_data


@register
@dataclass(frozen=True)
class ProteinKmer(GeneFeature):
    """Frequencies of overlapping k-mers of `protein_sequence` (|alphabet|**k dims: 400 for k=2).

    `alphabet` is "standard" (20 amino acids) or "murphy10" (10 groups of similar residues, each
    named by its first letter). A k-mer containing any other letter is skipped.
    """

    name: ClassVar[str] = "protein_kmer"
    required_columns: ClassVar[tuple[str, ...]] = ("protein_sequence",)
    k: int = 2
    alphabet: str = "standard"

    def __post_init__(self) -> None:
        if self.alphabet not in REDUCED_ALPHABETS:
            raise ValueError(f"protein_kmer: unknown alphabet {self.alphabet!r}; choose from {list(REDUCED_ALPHABETS)}")
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"protein_kmer: k must be a positive integer, got {self.k!r}")
        if self.dim > MAX_KMER_DIM:
            raise ValueError(
                f"protein_kmer: k={self.k} over the {self.alphabet!r} alphabet gives {self.dim} columns "
                f"(at most {MAX_KMER_DIM}); lower k or use alphabet='murphy10'"
            )

    @property
    def dim(self) -> int:
        return len(REDUCED_ALPHABETS[self.alphabet]) ** self.k

    def _compute(self, frame: pd.DataFrame, index: GeneIndex) -> tuple[np.ndarray, list[str], np.ndarray]:
        groups = REDUCED_ALPHABETS[self.alphabet]
        x, has_data = frequencies(count_words(_proteins(frame), groups, word=self.k, step=1))
        return x, word_names(groups, self.k), has_data
