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

__all__ = ["from_config", "preflight", "refusals"]


def refusals(models: Mapping[str, Model]) -> None:
    """What the SQL models use that Spark cannot run, as one ModelError (see sql.refusals)."""
    from medallion.engine.spark.sql import refusals as found

    found(models)


def preflight(config: EngineConfig) -> None:
    """Raise the ConfigError of what starting Spark would fail on (pyspark, Java, a
    `spark://` master's port), in one line, without starting anything."""
    from medallion.engine.spark.start import preflight as check

    check(config)


def from_config(catalog: Catalog, config: EngineConfig, temp_dir: Path) -> SparkEngine:
    from medallion.engine.spark.engine import SparkEngine
    from medallion.engine.spark.start import spark_session

    if catalog.remote:
        from medallion.errors import ConfigError

        # the engine reads and writes tables as local paths, and Spark would need Hadoop's
        # abfss/s3a/gs connectors (jars pyspark does not ship) to reach a store
        raise ConfigError(
            f"engine: spark does not run on a lakehouse on object storage yet ({catalog.root})",
            key="engine",
            hint="run it on DuckDB (the default), or put the lakehouse on a file system the "
            "driver and every executor mount at the same path",
        )
    return SparkEngine(catalog, spark_session(config), temp_dir)
