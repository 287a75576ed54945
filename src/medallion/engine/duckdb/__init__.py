"""The DuckDB engine: the default, embedded compute of medallion (the only package, with
`medallion.ingest.files`, that imports duckdb)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.engine.duckdb.engine import DuckDBEngine

if TYPE_CHECKING:
    from pathlib import Path

    from medallion.config.schema import EngineConfig
    from medallion.storage.catalog import Catalog

__all__ = ["DuckDBEngine", "from_config"]


def from_config(catalog: Catalog, config: EngineConfig, temp_dir: Path) -> DuckDBEngine:
    return DuckDBEngine(
        catalog, temp_dir=temp_dir, memory_limit=config.memory_limit, threads=config.threads
    )
