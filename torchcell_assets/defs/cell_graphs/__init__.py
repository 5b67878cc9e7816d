"""Cell graphs: torch_geometric HeteroData over every gene, one edge type per network, from the knowledge graph."""
