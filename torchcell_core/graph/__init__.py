"""The knowledge graph: one schema, table builder, and backends (embedded ladybug, Neo4j)."""
