"""Starting Spark for medallion: secure by default (a local master's driver listens on 127.0.0.1
only, the web UI is off unless `engine: conf:` turns it on, and then on 127.0.0.1), quiet on
success (no JVM start-up chatter), and fast and clear on failure (an unreachable `spark://`
master, a JAVA_HOME that points to no java: one line, nothing written, no run recorded).

Each Spark here starts in a child process: this one may hold the session's local Spark (the
`spark` fixture), which a SparkSession builder would return whatever its settings.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

pytestmark = pytest.mark.spark

#: a child that starts Spark through medallion and reports what its JVM listens on
CHILD = textwrap.dedent(
    """
    import json, sys
    import psutil
    from pyspark import SparkContext
    from medallion.config.schema import EngineConfig
    from medallion.engine.spark.start import spark_session

    conf = json.loads(sys.argv[1])
    session = spark_session(EngineConfig(type="spark", master="local[1]", conf=conf))
    assert session.range(3).count() == 3
    jvm = psutil.Process(SparkContext._gateway.proc.pid)
    ports = [c.laddr for c in jvm.net_connections(kind="tcp") if c.status == "LISTEN"]
    settings = session.sparkContext.getConf()
    print(json.dumps({
        "listening": sorted({a.ip for a in ports}),
        "n_ports": len(ports),
        "ui": session.sparkContext.uiWebUrl,
        "ui_enabled": settings.get("spark.ui.enabled"),
        "host": settings.get("spark.driver.host"),
        "bind": settings.get("spark.driver.bindAddress"),
    }))
    """
)


def _child(tmp_path: Path, conf: dict[str, object]) -> tuple[dict[str, object], str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(conf)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _loopback(ip: str) -> bool:
    return ip in ("127.0.0.1", "::ffff:127.0.0.1")


def test_a_local_spark_listens_on_loopback_only_with_no_ui_and_no_chatter(
    tmp_path: Path,
) -> None:
    seen, stderr = _child(tmp_path, {})
    assert seen["ui_enabled"] == "false" and seen["ui"] is None
    assert seen["host"] == "127.0.0.1" and seen["bind"] == "127.0.0.1"
    assert seen["n_ports"] >= 1
    assert all(_loopback(ip) for ip in seen["listening"]), seen  # type: ignore[union-attr]
    for noise in (
        "incubator modules",
        "default log4j profile",
        "resolves to a loopback address",
        "Setting default log level",
        "NativeCodeLoader",
    ):
        assert noise not in stderr, stderr


def test_a_ui_turned_on_listens_on_loopback(tmp_path: Path) -> None:
    seen, _ = _child(tmp_path, {"spark.ui.enabled": True, "spark.ui.port": 0})
    assert str(seen["ui"]).startswith("http://127.0.0.1:"), seen
    assert all(_loopback(ip) for ip in seen["listening"]), seen  # type: ignore[union-attr]


CONFIG = """
name: start
sources:
  orders:
    path: data/orders.csv
    columns: {id: INTEGER}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nothing_happened(root: Path) -> None:
    assert not (root / "lakehouse" / "bronze" / "orders").exists()
    assert "no runs yet" in medallion("history", cwd=root, check=True).stdout


def test_an_unreachable_master_fails_at_once_in_one_line(tmp_path: Path) -> None:
    master = f"spark://127.0.0.1:{_free_port()}"
    root = write_project(
        tmp_path / "p",
        CONFIG + f"engine: {{type: spark, master: '{master}'}}\n",
        files={"data/orders.csv": "id\n1\n"},
    )
    proc = medallion("run", cwd=root, env={**os.environ, "NO_COLOR": "1"}, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert f"the Spark master {master} cannot be reached" in proc.stderr
    assert "Exception" not in proc.stderr and "java" not in proc.stderr.lower()
    assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr
    _nothing_happened(root)


def test_java_home_pointing_to_no_java_is_said_so(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        CONFIG + "engine: {type: spark, master: 'local[1]'}\n",
        files={"data/orders.csv": "id\n1\n"},
    )
    nowhere = tmp_path / "no-java"
    proc = medallion(
        "run", cwd=root, env={**os.environ, "NO_COLOR": "1", "JAVA_HOME": str(nowhere)}
    )
    assert proc.returncode == 1, proc.stderr
    assert f"JAVA_HOME ({nowhere}) points to no java" in proc.stderr, proc.stderr
    assert "bad array subscript" not in proc.stderr
    _nothing_happened(root)
