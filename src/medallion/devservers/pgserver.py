"""A throwaway PostgreSQL server for tests and manual experiments (standard library only).

    with PgServer(tmp_path / "pg") as pg:          # initdb + pg_ctl start; stopped on exit
        pg.create_database("shop")
        dsn = pg.dsn("shop")                       # postgresql://medallion:secret@127.0.0.1:PORT/shop

    python -m medallion.devservers.pgserver DIR       # start one, print its DSN, stop on Ctrl-C

The server listens on 127.0.0.1 only, on a free port chosen automatically. TCP connections need
the password (scram-sha-256, so a wrong password is a real authentication failure, SQLSTATE
28P01); the unix socket (mode 0700, for the server's OS user only) is trusted. It is tuned for
speed, not durability against an OS crash: fsync and full_page_writes are off (committed data
still survives kill(), a crash of the server: synchronous_commit stays on), shared_buffers is
small, the time zone is UTC.

Layout under `root`: `data/` (the cluster, reused by a later PgServer on the same root),
`postgres.log` and `sock/` (the unix socket; a short directory under /tmp instead when `root` is so
deep that the socket path would exceed the ~107 bytes a unix socket path may have).

Run as root, PostgreSQL refuses to start, so initdb, pg_ctl and postgres run as an unprivileged OS
user (`os_user`, default `postgres`) through `runuser -u USER --` (or `setpriv`), and what they
write is chowned to that user. When that user cannot reach `root` (pytest's
/tmp/pytest-of-root is mode 0700), the cluster lives in a private directory under /tmp instead,
deleted by cleanup() (which leaving the `with` block calls).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Self
from urllib.parse import quote

from medallion.devservers._server import (
    LocalServer,
    LocalServerError,
    free_port,
    pid_alive,
    run_as,
)

__all__ = ["PgServer", "PgServerError", "find_pg_bin", "free_port", "main"]

REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
"""What a PostgreSQL bin directory must hold to be usable."""

_SEARCHED = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG packages)
    "/opt/homebrew/opt/postgresql@*/bin",  # macOS, Homebrew
    "/usr/local/opt/postgresql@*/bin",
)
_INSTALL_HINT = (
    "PostgreSQL server binaries not found: install postgresql (apt-get install postgresql; "
    "dnf install postgresql-server; brew install postgresql) or put the directory holding "
    "initdb, pg_ctl and postgres on PATH (searched: PATH, " + ", ".join(_SEARCHED) + ")"
)
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS, including the NUL
_SOCKET_NAME_MAX = len("/.s.PGSQL.65535")
_LOG_TAIL_LINES = 40

DEFAULT_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_permissions": "0700",
    "password_encryption": "scram-sha-256",
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "50",
    "timezone": "UTC",
    "log_timezone": "UTC",
}
"""postgresql.conf settings written when the cluster is created (`settings=` overrides them)."""


class PgServerError(LocalServerError):
    """The server could not be found, created, started or stopped; the message says why."""


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin, (9, 6) for .../9.6/bin, (16,) for postgresql@16."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def _has_binaries(bin_dir: Path) -> bool:
    return all(
        (bin_dir / name).is_file() and os.access(bin_dir / name, os.X_OK)
        for name in REQUIRED_BINARIES
    )


def find_pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None.

    First pg_ctl's directory on PATH (with symlinks resolved: /usr/local/bin/pg_ctl may link into
    /usr/lib/postgresql/15/bin, which also holds psql; then as found), then the highest version
    under /usr/lib/postgresql/*/bin (and the RHEL and Homebrew equivalents)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        for candidate in (Path(on_path).resolve().parent, Path(on_path).parent):
            if _has_binaries(candidate):
                return candidate
    candidates: list[Path] = []
    for pattern in _SEARCHED:
        anchor, _, rest = pattern[1:].partition("/")
        candidates.extend(Path("/" + anchor).glob(rest))
    for candidate in sorted(candidates, key=_version_key, reverse=True):
        if _has_binaries(candidate):
            return candidate
    return None


def _conf_value(value: object) -> str:
    """A postgresql.conf value, single-quoted (any setting may be quoted)."""
    if isinstance(value, bool):
        value = "on" if value else "off"
    return "'" + str(value).replace("'", "''") + "'"


def _literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class PgServer(LocalServer):
    """One PostgreSQL cluster under `root`, started with start() and stopped with stop().

    `port=None` picks a free port (kept across restart()). `user`/`password` are the superuser
    that dsn() connects as. `bin_dir` overrides find_pg_bin(); `os_user` is who runs the server
    when this process is root; `settings` are extra server settings (`-c name=value` on every
    start, over DEFAULT_SETTINGS); `timeout` bounds each start and stop, in seconds.

    A later PgServer on the same root reuses the cluster (created with the first one's user and
    password)."""

    error = PgServerError
    product = "PostgreSQL"
    main_process = "the postmaster"
    child_process = "a backend"

    def __init__(
        self,
        root: Path | str,
        *,
        port: int | None = None,
        user: str = "medallion",
        password: str = "secret",
        bin_dir: Path | str | None = None,
        os_user: str = "postgres",
        settings: Mapping[str, object] | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(root, port=port, timeout=timeout)
        self.user = user
        self.password = password
        self.os_user = os_user
        self.settings = dict(settings or {})
        self._bin_override = Path(bin_dir) if bin_dir is not None else None
        self.bin_dir: Path | None = None
        # Where things go; _prepare() may move them (private directory, short socket path).
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.socket_dir = self.root / "sock"
        self._prepared = False
        self._as_server: list[str] = []  # command prefix that runs as the server's OS user

    # -- public API ---------------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        """postgresql://user:password@127.0.0.1:port/database (parts percent-encoded)."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(database, safe='')}"
        )

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (on this data directory)."""
        pid = self._postmaster_pid()
        return pid if pid is not None and pid_alive(pid) else None

    def stop(self) -> None:
        """Shut down cleanly (`pg_ctl stop -m fast`: connections are closed, no recovery needed
        on the next start). Nothing to do if the server is not running."""
        if not self._prepared:
            if not (self.data_dir / "postmaster.pid").exists():
                return  # never started by this object, no server of an earlier one under root
            self._prepare()
        pid = self._postmaster_pid()
        if pid is None:
            return
        if not pid_alive(pid):
            self._remove_stale_pidfile()
            return
        offset = self._log_size()
        result = self._run(
            [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", *self._wait()],
            as_server=True,
        )
        if result.returncode != 0 and self.running:
            raise PgServerError(
                f"PostgreSQL did not stop (data {self.data_dir}): pg_ctl exited "
                f"{result.returncode}: {(result.stderr or result.stdout).strip()}"
                + self._log_excerpt(offset)
            )
        # A non-reaping init leaves the stopped postmaster a zombie with its pid file removed;
        # nothing else to clean up.

    def create_database(self, name: str) -> None:
        """CREATE DATABASE name (owned by `user`)."""
        self.psql(f"CREATE DATABASE {_ident(name)}")

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS name, disconnecting anyone still connected to it."""
        self.psql(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql over TCP as `user`; its unaligned, tuples-only output."""
        psql = self._psql_binary()
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        for var in ("PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE"):
            env.pop(var, None)
        cmd = [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.host]
        cmd += ["-p", str(self.port), "-U", self.user, "-d", database, "-c", sql]
        result = subprocess.run(
            cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300
        )
        if result.returncode != 0:
            raise PgServerError(f"psql failed on {sql!r}: {result.stderr.strip()}")
        return result.stdout

    def cleanup(self) -> None:
        """Stop the server and delete the directories made under /tmp (a private cluster
        directory, a short socket directory). Files under `root` are left alone."""
        super().cleanup()
        self._prepared = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"PgServer({self.host}:{self.port}, data={str(self.data_dir)!r}, {state})"

    def _where(self) -> str:
        return f" (data {self.data_dir})"

    # -- set-up -------------------------------------------------------------------------------

    def _bin(self, name: str) -> str:
        assert self.bin_dir is not None
        return str(self.bin_dir / name)

    def _psql_binary(self) -> str:
        if self.bin_dir is None:
            self.bin_dir = self._find_bin()
        if (self.bin_dir / "psql").is_file():
            return str(self.bin_dir / "psql")
        found = shutil.which("psql")
        if found is None:
            raise PgServerError(
                f"psql not found (not in {self.bin_dir}, not on PATH): install the PostgreSQL "
                "client (apt-get install postgresql-client)"
            )
        return found

    def _find_bin(self) -> Path:
        if self._bin_override is not None:
            if not _has_binaries(self._bin_override):
                missing = [n for n in REQUIRED_BINARIES if not (self._bin_override / n).is_file()]
                raise PgServerError(
                    f"{_INSTALL_HINT}; the bin_dir given, {self._bin_override}, "
                    f"lacks {', '.join(missing)}"
                )
            return self._bin_override
        found = find_pg_bin()
        if found is None:
            raise PgServerError(_INSTALL_HINT)
        return found

    def _set_identity(self) -> None:
        """As root: run the server as `os_user` through runuser (or setpriv)."""
        if os.geteuid() != 0:
            self._as_server, self._owner = [], None
            return
        try:
            self._as_server, self._owner = run_as(self.os_user)
        except KeyError:
            raise PgServerError(
                f"running as root, but PostgreSQL refuses to run as root and the unprivileged OS "
                f"user {self.os_user!r} to run it as does not exist: create it (useradd --system "
                f"{self.os_user}), pass os_user=..., or run as a non-root user"
            ) from None
        except FileNotFoundError:
            raise PgServerError(
                "running as root needs runuser or setpriv (util-linux) to run PostgreSQL as "
                f"{self.os_user!r}: install util-linux, or run as a non-root user"
            ) from None

    def _server_can_reach(self, path: Path) -> bool:
        if not self._as_server:
            return True
        result = self._run(["test", "-x", str(path)], as_server=True)
        return result.returncode == 0

    def _short_private_dir(self, prefix: str) -> Path:
        """A fresh directory with a short path under /tmp, owned by the server's user."""
        return self._private_dir(prefix, "/tmp" if Path("/tmp").is_dir() else tempfile.gettempdir())

    def _prepare(self) -> None:
        """Find the binaries, decide who runs the server and where its files go."""
        if self._prepared:
            return
        self.bin_dir = self._find_bin()
        self._set_identity()
        self.root.mkdir(parents=True, exist_ok=True)
        base = self.root
        if not self._server_can_reach(self.root):
            base = self._short_private_dir("medallion-pg-")
        self.data_dir = base / "data"
        self.log_path = base / "postgres.log"
        self.socket_dir = base / "sock"
        if len(str(self.socket_dir)) + _SOCKET_NAME_MAX > _SOCKET_PATH_MAX:
            self.socket_dir = self._short_private_dir("pgsock-")
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.socket_dir)
        self.log_path.touch(exist_ok=True)
        self._chown(self.log_path)
        self._prepared = True

    def _initdb(self) -> None:
        """Create the cluster unless `data_dir` already holds one."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._chown(self.data_dir)
        pwfile = self.data_dir.parent / f".pwfile-{os.getpid()}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password + "\n")
        self._chown(pwfile)
        try:
            result = self._run(
                [
                    *(self._bin("initdb"), "-D", str(self.data_dir), "-U", self.user),
                    *(f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"),
                    *("--encoding=UTF8", "--locale=C", "--no-sync"),
                ],
                as_server=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PgServerError(
                f"initdb failed (data {self.data_dir}), exit {result.returncode}:\n"
                + (result.stderr or result.stdout).strip()
            )
        conf = "\n# medallion.devservers.pgserver\n" + "".join(
            f"{key} = {_conf_value(value)}\n" for key, value in DEFAULT_SETTINGS.items()
        )
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as handle:
            handle.write(conf)
        (self.data_dir / "pg_hba.conf").write_text(
            "# medallion.devservers.pgserver: trust the unix socket (mode 0700: the server's OS\n"
            "# user only), a scram-sha-256 password for TCP from 127.0.0.1.\n"
            "local   all           all                   trust\n"
            "host    all           all   127.0.0.1/32    scram-sha-256\n"
            "host    replication   all   127.0.0.1/32    scram-sha-256\n",
            encoding="utf-8",
        )

    # -- start and stop -----------------------------------------------------------------------

    def _start(self, *, keep_port: bool) -> Self:
        """Create the cluster if needed, start it and wait until it accepts TCP connections.

        A server already running on this data directory is adopted (its port included)."""
        self._prepare()
        self._initdb()
        if self.running:
            port = self._pidfile_line(3)
            if port is not None and port.isdigit():
                self.port = int(port)
            return self
        self._remove_stale_pidfile()
        attempts = 5 if self._auto_port and not keep_port else 1
        for attempt in range(attempts):
            offset = self._log_size()
            result = self._pg_ctl_start()
            if result.returncode == 0 and self._wait_accepting():
                return self
            excerpt = self._log_excerpt(offset)
            self._stop_immediately()
            if "already in use" in excerpt and attempt + 1 < attempts:
                self.port = free_port(self.host)  # lost a race for the port: take another
                continue
            output = (result.stderr or result.stdout).strip()
            raise PgServerError(
                f"PostgreSQL failed to start (data {self.data_dir}, port {self.port}, "
                f"binaries {self.bin_dir}): pg_ctl exited {result.returncode}"
                + (f": {output}" if output else "")
                + excerpt
            )
        raise AssertionError("unreachable")

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        options = {
            "port": str(self.port),
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.socket_dir),
            **{key: str(value) for key, value in self.settings.items()},
        }
        postgres_args = " ".join(
            f"-c {shlex.quote(f'{key}={value}')}" for key, value in options.items()
        )
        return self._run(
            [
                *(self._bin("pg_ctl"), "start", "-D", str(self.data_dir)),
                *("-l", str(self.log_path), *self._wait(), "-o", postgres_args),
            ],
            as_server=True,
            new_session=True,  # terminal signals (Ctrl-C) must not reach the postmaster
        )

    def _wait_accepting(self) -> bool:
        """pg_ctl -w waited for "ready"; confirm the TCP port takes connections."""

        def accepting() -> bool:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return True
            except OSError:
                return False

        return self._wait_until(accepting, 0.05)

    def _stop_immediately(self) -> None:
        """After a failed start: make sure no half-started postmaster lingers."""
        pid = self._postmaster_pid()
        if pid is not None and pid_alive(pid):
            self._run(
                [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"],
                as_server=True,
            )

    # -- helpers ------------------------------------------------------------------------------

    def _run(
        self, cmd: Sequence[str], *, as_server: bool, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        full = [*self._as_server, *cmd] if as_server else list(cmd)
        try:
            return subprocess.run(
                full,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                cwd="/",  # the server's OS user may not be allowed into our working directory
                env={**os.environ, "LC_ALL": "C"},
                start_new_session=new_session,
                timeout=self.timeout + 30,
            )
        except subprocess.TimeoutExpired as exc:
            raise PgServerError(
                f"{shlex.join(full)} did not finish in {self.timeout + 30:.0f}s"
                + self._log_excerpt(0)
            ) from exc

    def _wait(self) -> list[str]:
        """pg_ctl options: wait (up to `timeout`), print only errors."""
        return ["-w", "-t", str(max(1, int(self.timeout))), "-s"]

    def _pidfile_line(self, index: int) -> str | None:
        """Line `index` of postmaster.pid (0 pid, 1 data dir, 2 start time, 3 port, ...)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        return lines[index].strip() if index < len(lines) else None

    def _postmaster_pid(self) -> int | None:
        line = self._pidfile_line(0)
        return int(line) if line is not None and line.isdigit() else None

    def _remove_stale_pidfile(self) -> None:
        """Remove the lock files a killed server left: postmaster.pid and the socket's
        .s.PGSQL.PORT.lock. Postgres ignores them itself only when their pid does not exist at
        all, and a killed postmaster may live on as a zombie (an init that does not reap)."""
        lock_files = [self.data_dir / "postmaster.pid", *self.socket_dir.glob(".s.PGSQL.*.lock")]
        for lock_file in lock_files:
            try:
                first = lock_file.read_text().split("\n", 1)[0].strip()
            except (OSError, UnicodeDecodeError):
                continue
            if first.isdigit() and not pid_alive(int(first)):
                lock_file.unlink(missing_ok=True)
                if lock_file.name.endswith(".lock"):  # the socket file itself
                    lock_file.with_name(lock_file.name.removesuffix(".lock")).unlink(
                        missing_ok=True
                    )

    def _log_excerpt(self, offset: int) -> str:
        """The server log's last lines written since `offset` (or the last lines at all)."""
        tail = self._log_tail(_LOG_TAIL_LINES, offset)
        if tail is None:
            return ""
        if not tail:
            return f"\n(the server log {self.log_path} is empty)"
        return f"\n--- last lines of {self.log_path} ---\n" + tail


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m medallion.devservers.pgserver DIR`: start a server, print its DSN, wait for Ctrl-C
    (or SIGTERM), stop it. With `--export NAME=DATABASE` it prints shell `export` lines instead
    (creating the databases that do not exist); with `--detach` it leaves the server running
    and returns (`eval "$(... --detach --export ...)"` sets a shell up); `--stop` stops it."""
    parser = argparse.ArgumentParser(
        prog="python -m medallion.devservers.pgserver",
        description="Start a throwaway PostgreSQL server under DIR and print its DSN; "
        "Ctrl-C stops it.",
    )
    parser.add_argument("dir", type=Path, help="directory for the cluster (created if missing)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    parser.add_argument("--user", default="medallion", help="superuser name (default medallion)")
    parser.add_argument("--password", default="secret", help="its password (default secret)")
    parser.add_argument("--database", default="postgres", help="database in the printed DSN")
    parser.add_argument(
        "--export",
        action="append",
        default=[],
        metavar="NAME=DATABASE",
        help="print `export NAME=<DSN of DATABASE>` (repeatable) instead of the DSN",
    )
    parser.add_argument(
        "--detach", action="store_true", help="leave the server running and exit (see --stop)"
    )
    parser.add_argument("--stop", action="store_true", help="stop the server running under DIR")
    args = parser.parse_args(argv)
    exports = [tuple(e.split("=", 1)) for e in args.export]
    bad = [
        e for e, pair in zip(args.export, exports, strict=True) if len(pair) != 2 or not all(pair)
    ]
    if bad:
        parser.error(f"--export {bad[0]}: write NAME=DATABASE")

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    server = PgServer(args.dir, port=args.port, user=args.user, password=args.password)
    if args.stop:
        was = server.running if (server.data_dir / "postmaster.pid").exists() else False
        try:
            server.cleanup()
        except PgServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"stopped {server.data_dir}" if was else "not running", file=sys.stderr)
        return 0
    try:
        server.start()
        private = {server.data_dir.parent, server.socket_dir.parent} != {server.root}
        if args.detach and private:
            # a cluster (or socket) the server had to place under /tmp is this process's to
            # delete (cleanup): detached, nothing would ever remove it
            raise PgServerError(
                f"cannot --detach: the server's OS user cannot reach {server.root} (or its path "
                "is too long for a socket), so the cluster would live in a private folder under "
                "/tmp that nothing removes; use a folder others can read (chmod 755)"
            )
    except PgServerError as exc:
        server.cleanup()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        for database in [args.database] + [db for _, db in exports]:
            exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = {_literal(database)}")
            if not exists.strip():
                server.create_database(database)
        if exports:
            for name, database in exports:
                print(f"export {name}={shlex.quote(server.dsn(database))}", flush=True)
        else:
            print(server.dsn(args.database), flush=True)
        if args.detach:
            print(
                f"PostgreSQL runs on 127.0.0.1:{server.port} (data {server.data_dir}); stop it "
                f"with: python -m medallion.devservers.pgserver {shlex.quote(str(args.dir))} "
                "--stop",
                file=sys.stderr,
                flush=True,
            )
            return 0
        note = " (private: deleted on exit)" if server.data_dir.parent != server.root else ""
        print(
            f"data {server.data_dir}{note}, log {server.log_path}, socket {server.socket_dir}; "
            "Ctrl-C stops the server",
            file=sys.stderr,
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except PgServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        server.cleanup()
        return 1
    finally:
        if not args.detach:
            server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
