"""A throwaway Spark standalone cluster on 127.0.0.1: one master and one worker, started from the
pyspark wheel's own `bin/spark-class` (no Spark download, no Hadoop), for the tests that must
show work running on a cluster's executor rather than in the driver.

    with SparkCluster(tmp) as cluster:
        spark = SparkSession.builder.master(cluster.master_url) ...
        cluster.status()                      # the master's JSON: workers, applications
        cluster.executors(spark.sparkContext.uiWebUrl, app_id)   # the application's REST API

The master and the worker listen on free ports of 127.0.0.1 (`SPARK_LOCAL_IP` and `--host`), the
worker offers 1 core and `worker_memory` to executors, each daemon's own heap is bounded
(`daemon_memory`), and their logs and the worker's work folder (executor stdout/stderr) are under
`root`. stop() ends the worker, then the master (SIGTERM, SIGKILL after a grace period), also
after a start that failed. Started one after the other: the worker is launched once the master
reports ALIVE, because a worker that misses the master retries only after 5-15 s. A taken port
fails the start (Spark would otherwise move to the next port). Start-up time: each daemon is two
JVM starts (spark-class runs Spark's launcher first, then the daemon), so the daemons and the
launcher run with C1-only JIT and the serial collector; a start took 8-9 s on 2 cores shared with
other work (load average 7), 12 s without those flags; stop() takes about 1 s.

Needs Java 17 (`java` on PATH or JAVA_HOME) and pyspark (the `spark` extra); SparkClusterError
says how to install what is missing. Standard library only (pyspark is located, not imported).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from medallion.devservers._server import LocalServer, LocalServerError, free_port, wait_dead

__all__ = ["SparkCluster", "SparkClusterError", "find_spark_class"]

INSTALL_JAVA = "install Java 17: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)"
INSTALL_PYSPARK = "install pyspark: pip install 'medallion[spark]'"


#: for the daemons and spark-class's launcher, which do little work: compile with C1 only and
#: collect with one thread, which starts them faster on a small, busy machine
_QUICK_JVM = " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class SparkClusterError(LocalServerError):
    """The cluster could not be found, started or stopped; the message says why."""


def find_spark_class() -> Path:
    """`bin/spark-class` of the installed pyspark wheel (its folder is SPARK_HOME)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SparkClusterError(f"pyspark is not installed: {INSTALL_PYSPARK}")
    home = Path(next(iter(spec.submodule_search_locations)))
    script = home / "bin" / "spark-class"
    if not script.is_file() or not (home / "jars").is_dir():
        raise SparkClusterError(
            f"{home} has no bin/spark-class or jars/ (not a full pyspark wheel): {INSTALL_PYSPARK}"
        )
    return script


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise SparkClusterError(f"Java is not installed: {INSTALL_JAVA}")
    return found


def _get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


class SparkCluster(LocalServer):
    """A Spark standalone master and one worker under `root`; `port` is the master's (free when
    None). `worker_cores` and `worker_memory` (Spark's spelling: "1g", "512m") are what the
    worker offers executors; `daemon_memory` bounds the master's and the worker's own heap;
    `timeout` bounds the start, in seconds."""

    error = SparkClusterError
    product = "the Spark cluster"
    main_process = "the Spark master"
    child_process = "the worker"

    def __init__(
        self,
        root: Path | str,
        *,
        port: int | None = None,
        worker_cores: int = 1,
        worker_memory: str = "1g",
        daemon_memory: str = "256m",
        timeout: float = 90.0,
    ) -> None:
        super().__init__(root, port=port, timeout=timeout)
        self.worker_cores = worker_cores
        self.worker_memory = worker_memory
        self.daemon_memory = daemon_memory
        self.webui_port = free_port(self.host)
        self.worker_port = free_port(self.host)
        self.worker_webui_port = free_port(self.host)
        self.log_path = self.root / "master.log"
        self.worker_log_path = self.root / "worker.log"
        self.work_dir = self.root / "work"
        self._master: subprocess.Popen[bytes] | None = None
        self._worker: subprocess.Popen[bytes] | None = None

    # -- where -----------------------------------------------------------------------------------

    @property
    def master_url(self) -> str:
        """What a SparkSession's `master` is set to: spark://127.0.0.1:PORT."""
        return f"spark://{self.host}:{self.port}"

    @property
    def webui_url(self) -> str:
        """The master's web UI; `status()` reads its JSON."""
        return f"http://{self.host}:{self.webui_port}"

    # -- Spark's own status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The master's JSON status (`/json/`): `status` (ALIVE), `workers` (id, host, cores,
        coresused, memory, state), `activeapps` and `completedapps` (id, name, cores, state)."""
        return dict(_get_json(f"{self.webui_url}/json/"))

    def alive_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.status().get("workers", []) if w.get("state") == "ALIVE"]

    @staticmethod
    def executors(ui_url: str, app_id: str) -> list[dict[str, Any]]:
        """An application's executors from its own REST API (the driver's UI,
        `/api/v1/applications/<id>/executors`): id ("driver" or a number), hostPort,
        totalCores, activeTasks, completedTasks, failedTasks, totalTasks, ..."""
        return list(_get_json(f"{ui_url.rstrip('/')}/api/v1/applications/{app_id}/executors"))

    # -- the lifecycle -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        if self._master is None or self._master.poll() is not None:
            return None
        return self._master.pid

    def _env(self) -> dict[str, str]:
        script = find_spark_class()
        env = dict(os.environ)
        java = _java()
        env.update(
            SPARK_HOME=str(script.parent.parent),
            SPARK_LOCAL_IP=self.host,
            SPARK_LOCAL_HOSTNAME=self.host,
            SPARK_DAEMON_MEMORY=self.daemon_memory,
            SPARK_LOG_DIR=str(self.root),
            SPARK_WORKER_DIR=str(self.work_dir),
            SPARK_LOCAL_DIRS=str(self.root / "tmp"),
            SPARK_NO_DAEMONIZE="1",
            # a taken port is an error, not a silent move to the next one (Spark's default
            # retries 16 ports up: the cluster would not be where master_url says)
            SPARK_DAEMON_JAVA_OPTS=(
                env.get("SPARK_DAEMON_JAVA_OPTS", "")
                + " -Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false"
                + _QUICK_JVM
            ).strip(),
            SPARK_LAUNCHER_OPTS=(env.get("SPARK_LAUNCHER_OPTS", "") + _QUICK_JVM).strip(),
        )
        if "JAVA_HOME" not in env:  # spark-class runs `java` from PATH then; pin the one found
            env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    def _spawn(self, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [str(find_spark_class()), *args],
                env=env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the tests reaches us, and stop() them
            )

    def _master_alive(self) -> bool:
        try:  # asked often while starting: a short wait each time
            return _get_json(f"{self.webui_url}/json/", timeout=2).get("status") == "ALIVE"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def _worker_registered(self) -> bool:
        if self._worker is None or self._worker.poll() is not None:
            return False
        try:
            return any(w.get("port") == self.worker_port for w in self.alive_workers())
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def _start(self, *, keep_port: bool) -> Self:
        if self.running:
            return self
        env = self._env()  # fails first when Java or pyspark is missing
        for folder in (self.root, self.work_dir, self.root / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            self._master = self._spawn(
                [
                    "org.apache.spark.deploy.master.Master",
                    *("--host", self.host, "--port", str(self.port)),
                    *("--webui-port", str(self.webui_port)),
                ],
                self.log_path,
                env,
            )
            if not self._wait_until(self._master_alive, 0.05):
                raise self._failed("the master did not start", self.log_path)
            self._worker = self._spawn(
                [
                    "org.apache.spark.deploy.worker.Worker",
                    *("--host", self.host, "--port", str(self.worker_port)),
                    *("--webui-port", str(self.worker_webui_port)),
                    *("--cores", str(self.worker_cores), "--memory", self.worker_memory),
                    *("--work-dir", str(self.work_dir)),
                    self.master_url,
                ],
                self.worker_log_path,
                env,
            )
            if not self._wait_until(self._worker_registered, 0.1):
                raise self._failed("the worker did not register", self.worker_log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def _failed(self, what: str, log: Path) -> SparkClusterError:
        try:
            tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-15:])
        except OSError:
            tail = "(no log)"
        return SparkClusterError(
            f"{what} within {self.timeout:.0f} s ({self.master_url}); {log}:\n{tail}"
        )

    def stop(self) -> None:
        """The worker, then the master: SIGTERM to each process group, SIGKILL after 10 s."""
        for process in (self._worker, self._master):
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        pids = [p.pid for p in (self._worker, self._master) if p is not None]
        if not wait_dead(pids, 10):
            raise self.error(f"a Spark daemon of {self.master_url} survived SIGKILL")

    def kill(self) -> None:
        """SIGKILL the worker (with its executors) and the master at once."""
        for process in (self._worker, self._master):
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def _where(self) -> str:
        return f" ({self.master_url}, logs in {self.root})"
