"""The Spark engine (`engine: {type: spark}`): the same project on a Spark cluster. Spark is the
compute; delta-rs stays the only Delta reader of logs and writer of commits (the pyspark wheel
has no Delta jars). The only package that imports pyspark."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from medallion.config.schema import EngineConfig
    from medallion.engine.spark.engine import SparkEngine
    from medallion.models.loader import Model
    from medallion.storage.catalog import Catalog

__all__ = ["from_config", "refusals"]


def refusals(models: Mapping[str, Model]) -> None:
    """What the SQL models use that Spark cannot run, as one ModelError (see sql.refusals)."""
    from medallion.engine.spark.sql import refusals as found

    found(models)


def from_config(catalog: Catalog, config: EngineConfig, temp_dir: Path) -> SparkEngine:
    from medallion.engine.spark.engine import SparkEngine
    from medallion.engine.spark.start import spark_session

    return SparkEngine(catalog, spark_session(config), temp_dir)
