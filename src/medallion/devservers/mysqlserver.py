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

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any, Self

from medallion.devservers._server import ChildServer, LocalServerError

__all__ = ["MySqlServer", "MySqlServerError"]

USER, PASSWORD = "medallion", "secret"
_SEARCHED = ("/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/opt/homebrew/bin")
_INSTALL_HINT = (
    "MariaDB server binaries not found: install mariadb-server (apt-get install mariadb-server; "
    "dnf install mariadb-server; brew install mariadb) or put mariadbd and mariadb-install-db on "
    "PATH (searched: PATH, " + ", ".join(_SEARCHED) + ")"
)


class MySqlServerError(LocalServerError):
    """The server could not be set up, started or stopped; the message says why."""


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in _SEARCHED if os.access(f"{d}/{name}", os.X_OK)), None
        )
        if found:
            return found
    return None


class MySqlServer(ChildServer):
    error = MySqlServerError
    product = "MariaDB"
    main_process = "mariadbd"
    stop_grace = 30.0

    def __init__(self, root: Path | str, port: int | None = None) -> None:
        super().__init__(root, port=port or None, timeout=60.0)
        self.data_dir = self.root / "data"
        self.log_path = self.root / "mysqld.log"
        self.password = PASSWORD
        # unix socket paths are limited to ~107 bytes: a short private directory
        self._sock_dir = self._private_dir("my-")
        self.socket = self._sock_dir / "mysqld.sock"

    # -- public ---------------------------------------------------------------------------

    def dsn(self, database: str = "") -> str:
        return f"mysql://{USER}:{PASSWORD}@{self.host}:{self.port}/{database}"

    def _start(self, *, keep_port: bool) -> Self:
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
                    f"--bind-address={self.host}",
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

    # -- private --------------------------------------------------------------------------

    @staticmethod
    def _os_user() -> str:
        return pwd.getpwuid(os.geteuid()).pw_name

    def _wait_ready(self) -> None:
        import pymysql

        def accepting() -> bool:
            try:
                pymysql.connect(unix_socket=str(self.socket), user="root").close()
            except pymysql.err.OperationalError:
                return False
            return True

        if self._wait_until(accepting, 0.1):
            return
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise MySqlServerError(
                f"mariadbd exited with {self._proc.returncode}:\n{self._log_tail(30) or ''}"
            )
        self.stop()
        raise MySqlServerError(f"mariadbd did not accept connections in {self.timeout:.0f} s")

    def __repr__(self) -> str:
        return f"MySqlServer({self.root}, port={self.port}, running={self.running})"
