"""Starting Spark for medallion: pyspark and Java found (or a message saying how to install
them), the master and the user's configuration applied, and the settings medallion's semantics
need forced (UTC, Parquet timestamps Delta readers take).

Secure by default: on a `local[...]` master the driver listens on 127.0.0.1 only (its RPC and
block manager ports; SPARK_LOCAL_IP for anything else the JVM binds); on any master the Spark UI
is off (it shows SQL text, plans, environment and thread dumps to whoever reaches it, with no
login, and can kill jobs). Off rather than on 127.0.0.1: a medallion command is short, the UI dies
with it, and two commands at once would fight over port 4040; `engine: conf:
{spark.ui.enabled: true}` turns it on (on 127.0.0.1 for a local master). A cluster's executors
must reach the driver, so on `spark://...` it listens where Spark puts it (see the README).

Fails fast: Java is looked for where spark-class looks (JAVA_HOME first), and a `spark://`
master's port is tried before the JVM starts (Spark itself retries an unreachable master for
about a minute).

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
    # no web UI unless the project turns it on (see above)
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    # in local mode the driver's heap is the executors' too; what still comes to the driver
    # (a Python model's toArrow(), check samples, counts) is not capped
    "spark.driver.memory": "4g",
    "spark.driver.maxResultSize": "0",
}

#: defaults for a `local[...]` master: the driver listens on the loopback interface only
LOCAL = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}
#: the driver JVM's own start-up warnings that say nothing to a medallion user (the JVM
#: prints it before any logging is set up)
_NOISE = ("WARNING: Using incubator modules",)
#: seconds a `spark://` master's port is given to accept a connection
CONNECT_TIMEOUT = 5.0

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
    _quiet_query_context_logs()
    active = SparkSession.getActiveSession()
    if active is None:
        active = _start(SparkSession, config)
    session = active.newSession()
    for key, value in FORCED.items():
        session.conf.set(key, value)
    return session


def preflight(config: EngineConfig) -> None:
    """What `spark_session` would fail on before Spark starts (pyspark missing, no Java, a
    `spark://` master not accepting connections), raised now; nothing when a Spark session
    already runs in this process."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine: spark needs pyspark, which is not installed",
            key="engine",
            hint=INSTALL_PYSPARK,
        ) from None
    if SparkSession.getActiveSession() is not None:
        return
    _check_java()
    _check_master(config.master or "local[*]")


def _quiet_query_context_logs() -> None:
    """pyspark logs every SQL error it raises, with the whole Java stack (~10 KB of JSON), on
    its own stderr handler; medallion reports the error itself, in one message. Kept with
    MEDALLION_DEBUG."""
    import logging

    if os.environ.get("MEDALLION_DEBUG"):
        return
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _start(spark_session_class: Any, config: EngineConfig) -> Any:
    master = config.master or "local[*]"
    _check_java()
    _check_master(master)
    local = master.startswith("local")
    if local:
        # what the JVM binds without a setting of its own (the UI when turned on), and no
        # warning that the host name resolves to a loopback address
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    user = {k: _text(v) for k, v in config.conf.items()}
    settings = {**DEFAULTS, **(LOCAL if local else {}), **user, **FORCED}
    settings["spark.driver.extraJavaOptions"] = " ".join(
        o for o in (_log4j_option(), user.get("spark.driver.extraJavaOptions")) if o
    )
    try:
        _launch_quietly(settings)
        builder = spark_session_class.builder.master(master).appName("medallion")
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    except Exception as e:  # the JVM did not start, or the cluster refused the application
        raise ConfigError(
            f"Spark did not start (master {master}): {_start_message(e)}",
            key="engine",
            hint="check Java (java -version: 17 or later) and `engine: conf:`"
            if local
            else f"check that the Spark master at {master} is up and accepts applications, "
            "and `engine: conf:`",
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    # stopped when the command ends: the application finishes (its event log is closed, a
    # cluster frees its executors) instead of dying with the process
    atexit.register(session.stop)
    return session


def _check_java() -> None:
    """Java where spark-class takes it from: JAVA_HOME when set (and then only there), else
    `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        if not os.access(os.path.join(home, "bin", "java"), os.X_OK):
            raise ConfigError(
                f"engine: spark runs Java from JAVA_HOME, and JAVA_HOME ({home}) points to no "
                "java (no bin/java in it)",
                key="engine",
                hint="set JAVA_HOME to a Java 17 installation (the folder holding bin/java), "
                "or unset it to use the java on PATH",
            )
        return
    if shutil.which("java") is None:
        raise ConfigError(
            "engine: spark needs Java, which was not found", key="engine", hint=INSTALL_JAVA
        )


def _check_master(master: str) -> None:
    """A `spark://host:port[,host:port]` master: one of its masters accepts a connection
    within CONNECT_TIMEOUT, else one line naming it (other masters are Spark's to reach)."""
    import socket

    if not master.startswith("spark://"):
        return
    tried = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT):
                return
        except ValueError:
            raise ConfigError(
                f"engine: master {master}: {address!r} is not host:port",
                key="engine.master",
                hint="write it as spark://HOST:PORT (the standalone master's port, 7077 by "
                "default)",
            ) from None
        except OSError as e:
            tried.append(f"{address} ({e.strerror or e})")
    raise ConfigError(
        f"the Spark master {master} cannot be reached: {'; '.join(tried)}",
        key="engine.master",
        hint="check that the master is running (its log says `Starting Spark master at "
        "spark://...`), the host and port in `engine: master:`, and that no firewall is in "
        "between; or run locally: `engine: {type: spark, master: local[*]}` or --engine duckdb",
    )


def _log4j_option() -> str:
    """The JVM option making the driver log with medallion's log4j2 configuration."""
    from pathlib import Path

    return f"-Dlog4j2.configurationFile={(Path(__file__).parent / 'log4j2.properties').as_uri()}"


def _launch_quietly(settings: dict[str, str]) -> None:
    """Start the driver JVM (pyspark's gateway) with its stderr forwarded line by line, less
    the JVM's own start-up warnings (`_NOISE`); errors pass. Nothing when a JVM already runs."""
    import subprocess
    import sys
    import threading

    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    conf = SparkConf(loadDefaults=False)
    for key, value in settings.items():
        conf.set(key, value)
    popen: dict[str, Any] = {"stderr": subprocess.PIPE}
    gateway = launch_gateway(conf, popen_kwargs=popen)
    proc = getattr(gateway, "proc", None)
    if proc is not None and proc.stderr is not None:

        def forward(stream: Any) -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                if not line.startswith(_NOISE):
                    sys.stderr.write(line)
                    sys.stderr.flush()

        threading.Thread(target=forward, args=(proc.stderr,), daemon=True).start()
    SparkContext._ensure_initialized(gateway=gateway)


def _start_message(error: BaseException) -> str:
    """Why Spark did not start, in one line: the innermost cause of a JVM error (not py4j's
    `An error occurred while calling None.org.apache...`)."""
    from medallion.engine.spark.engine import jvm_cause
    from medallion.errors import first_line

    return jvm_cause(error) or first_line(error)


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
