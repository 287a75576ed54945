"""A throwaway MariaDB (or MySQL) server for tests and manual experiments.

    with MySqlServer(tmp_path / "my") as my:       # install-db + mariadbd; stopped on exit
        my.create_database("shop")
        dsn = my.dsn("shop")                       # mysql://medallion:secret@127.0.0.1:PORT/shop

It listens on 127.0.0.1 on a free port; TCP clients log in as `medallion` with a password (so a
wrong password is a real "access denied", error 1045); the administrator is `root` over the unix
socket. Tuned for speed, not durability: no binary log, the InnoDB log flushed once a second.
Sessions default to UTC. Run as root, the server runs as root too (`--user=root`): unlike
PostgreSQL, MariaDB allows it when told so.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from medallion.devservers.pgserver import free_port

__all__ = ["MySqlServer", "MySqlServerError"]

USER, PASSWORD = "medallion", "secret"
_SEARCHED = ("/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/opt/homebrew/bin")
_INSTALL_HINT = (
    "MariaDB server binaries not found: install mariadb-server (apt-get install mariadb-server; "
    "dnf install mariadb-server; brew install mariadb) or put mariadbd and mariadb-install-db on "
    "PATH (searched: PATH, " + ", ".join(_SEARCHED) + ")"
)


class MySqlServerError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why."""


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in _SEARCHED if os.access(f"{d}/{name}", os.X_OK)), None
        )
        if found:
            return found
    return None


class MySqlServer:
    def __init__(self, root: Path | str, port: int | None = None) -> None:
        self.root = Path(root).absolute()
        self.data_dir = self.root / "data"
        self.log_path = self.root / "mysqld.log"
        self.port = port or free_port()
        self.password = PASSWORD
        # unix socket paths are limited to ~107 bytes: a short private directory
        self._sock_dir = Path(tempfile.mkdtemp(prefix="my-"))
        self.socket = self._sock_dir / "mysqld.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- public ---------------------------------------------------------------------------

    def dsn(self, database: str = "") -> str:
        return f"mysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MySqlServer:
        server = _find("mariadbd", "mysqld")
        install = _find("mariadb-install-db", "mysql_install_db")
        if server is None or install is None:
            raise MySqlServerError(_INSTALL_HINT)
        self.root.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data_dir / "mysql").exists()
        if fresh:
            done = subprocess.run(
                [
                    install,
                    "--no-defaults",
                    f"--datadir={self.data_dir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    f"--user={self._os_user()}",
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise MySqlServerError(
                    f"{install} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                )
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    server,
                    "--no-defaults",
                    f"--datadir={self.data_dir}",
                    f"--socket={self.socket}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--pid-file={self.root / 'mysqld.pid'}",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=64M",
                    "--innodb-flush-log-at-trx-commit=2",
                    "--default-time-zone=+00:00",
                    "--character-set-server=utf8mb4",
                    f"--user={self._os_user()}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()
        if fresh:
            self.admin(
                f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'",
                f"CREATE USER IF NOT EXISTS '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'",
                f"GRANT ALL ON *.* TO '{USER}'@'%'",
                f"GRANT ALL ON *.* TO '{USER}'@'localhost'",
            )
        return self

    def admin(self, *statements: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run statements as root over the unix socket; the last one's rows."""
        import pymysql

        conn = pymysql.connect(
            unix_socket=str(self.socket), user="root", database=database, autocommit=True
        )
        try:
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = list(cur.fetchall())
            return rows
        finally:
            conn.close()

    def create_database(self, name: str) -> None:
        self.admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS `{name}`")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; the next start runs crash recovery."""
        if not self.running:
            raise MySqlServerError("MariaDB is not running: cannot kill")
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait(10)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._sock_dir, ignore_errors=True)

    def __enter__(self) -> MySqlServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- private --------------------------------------------------------------------------

    @staticmethod
    def _os_user() -> str:
        return pwd.getpwuid(os.geteuid()).pw_name

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import pymysql

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise MySqlServerError(
                    f"mariadbd exited with {self._proc.returncode}:\n{self._log_tail()}"
                )
            with contextlib.suppress(pymysql.err.OperationalError):
                pymysql.connect(unix_socket=str(self.socket), user="root").close()
                return
            time.sleep(0.1)
        self.stop()
        raise MySqlServerError(f"mariadbd did not accept connections in {timeout:.0f} s")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"MySqlServer({self.root}, port={self.port}, running={self.running})"
