"""The DuckDB engine: the default, embedded compute of medallion (the only package, with
`medallion.ingest.files`, that imports duckdb)."""

from medallion.engine.duckdb.engine import DuckDBEngine

__all__ = ["DuckDBEngine"]
