"""The knowledge graph domain (embedded graph database and Neo4j); built out by the graph issue."""
