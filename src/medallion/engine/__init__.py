"""The compute boundary: DuckDB today; the same interface for a distributed engine later."""
