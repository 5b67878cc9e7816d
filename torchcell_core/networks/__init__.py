"""Gene networks parsed as published into edge tables (gene_a, gene_b, weight, ...) with parse stats.

- `string_db`: STRING `4932.protein.links.detailed.v*.txt.gz`, one undirected graph per channel.
- `biogrid`: BioGRID TAB3, physical and genetic undirected graphs of S288C records.
- `regulatory`: torchcell's TF -> target TSV format, one directed graph.
"""

from torchcell_core.networks.biogrid import read_biogrid_tab3
from torchcell_core.networks.regulatory import read_regulatory_tsv
from torchcell_core.networks.string_db import STRING_CHANNELS, read_string_detailed

__all__ = ["STRING_CHANNELS", "read_biogrid_tab3", "read_regulatory_tsv", "read_string_detailed"]
