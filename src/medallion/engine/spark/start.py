"""Starting Spark for medallion: pyspark and Java found (or a message saying how to install
them), the master and the user's configuration applied, and the settings medallion's semantics
need forced (UTC, Parquet timestamps Delta readers take).

One JVM serves a process: the first engine starts it, later ones get a new SparkSession on the
same SparkContext (their temporary views are their own), so a command that makes several engines
pays Spark's start-up (~7 s locally) once.
"""

from __future__ import annotations

import atexit
import os
import shutil
from typing import TYPE_CHECKING, Any

from medallion.errors import ConfigError

if TYPE_CHECKING:
    from medallion.config.schema import EngineConfig

#: settings medallion relies on, whatever `engine: conf:` says
FORCED = {
    # timestamps mean the same on every machine, as on DuckDB
    "spark.sql.session.timeZone": "UTC",
    # Delta readers (delta-rs, DuckDB) read micro-second timestamps; Spark's default is INT96
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
#: defaults a project may change (`engine: conf:`)
DEFAULTS = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    # in local mode the driver's heap is the executors' too; what still comes to the driver
    # (a Python model's toArrow(), check samples, counts) is not capped
    "spark.driver.memory": "4g",
    "spark.driver.maxResultSize": "0",
}

INSTALL_PYSPARK = "pip install 'medallion[spark]' (pyspark 4), or set `engine: {type: duckdb}`"
INSTALL_JAVA = (
    "install Java 17 (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
)


def spark_session(config: EngineConfig) -> Any:
    """A new SparkSession (its own temporary views) on the process's SparkContext, started
    with `config` when there is none yet."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine: spark needs pyspark, which is not installed",
            key="engine",
            hint=INSTALL_PYSPARK,
        ) from None
    active = SparkSession.getActiveSession()
    if active is None:
        active = _start(SparkSession, config)
    session = active.newSession()
    for key, value in FORCED.items():
        session.conf.set(key, value)
    return session


def _start(spark_session_class: Any, config: EngineConfig) -> Any:
    if not _java_found():
        raise ConfigError(
            "engine: spark needs Java, which was not found", key="engine", hint=INSTALL_JAVA
        )
    builder = spark_session_class.builder.master(config.master or "local[*]").appName("medallion")
    for key, value in {
        **DEFAULTS,
        **{k: _text(v) for k, v in config.conf.items()},
        **FORCED,
    }.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # the JVM did not start or the master is unreachable
        from medallion.errors import first_line

        raise ConfigError(
            f"Spark did not start (master {config.master or 'local[*]'}): {first_line(e)}",
            key="engine",
            hint="check `engine: master:` and that the cluster is up; " + INSTALL_JAVA,
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    # stopped when the command ends: the application finishes (its event log is closed, a
    # cluster frees its executors) instead of dying with the process
    atexit.register(session.stop)
    return session


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
