"""The state database: runs, steps, ingested-file cache (SQLite)."""
