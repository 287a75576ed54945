"""What the throwaway servers share: the lifecycle of a server under a directory of its own.

A LocalServer listens on 127.0.0.1, on a free port unless one is given. start() sets it up if
needed and waits until it takes connections, stop() shuts it down cleanly, kill() crashes it
(SIGKILL), restart() starts it again on the same port, cleanup() (which leaving a `with` block
calls) stops it and deletes the private directories made for it under /tmp. A subclass says how
its server is started and stopped and which process it is (`pid`).

Also here: free_port(), process liveness from /proc (a zombie counts as dead), and the command
prefix that runs a program as another OS user (for a server that refuses to run as root).
Standard library only.
"""

from __future__ import annotations

import abc
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

__all__ = [
    "ChildServer",
    "LocalServer",
    "LocalServerError",
    "child_pids",
    "free_port",
    "pid_alive",
    "run_as",
    "wait_dead",
]


class LocalServerError(RuntimeError):
    """A throwaway server could not be found, created, started or stopped; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rpartition(")")[2].split()


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie: a killed server process is reparented
    to init, and an init that does not reap (as in some containers) leaves it a zombie forever."""
    if Path("/proc/self/stat").exists():
        fields = _proc_stat(pid)
        return fields is not None and fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_pids(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc; empty elsewhere)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return []
    children = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                children.append(int(entry.name))
    return children


def wait_dead(pids: Iterable[int], timeout: float) -> bool:
    """Wait until none of `pids` is alive; False if some still are after `timeout` seconds."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        pending = [pid for pid in pending if pid_alive(pid)]
        if not pending:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def run_as(os_user: str) -> tuple[list[str], tuple[int, int]]:
    """The command prefix that runs a program as `os_user` (`runuser -u USER --`, or `setpriv`
    where runuser is missing) and that user's (uid, gid). Needs root.

    KeyError: no such user. FileNotFoundError: neither runuser nor setpriv (util-linux) is
    installed."""
    entry = pwd.getpwnam(os_user)
    owner = (entry.pw_uid, entry.pw_gid)
    runuser, setpriv = shutil.which("runuser"), shutil.which("setpriv")
    if runuser:
        return [runuser, "-u", os_user, "--"], owner
    if setpriv:
        prefix = [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}"]
        return [*prefix, "--init-groups", "--"], owner
    raise FileNotFoundError("neither runuser nor setpriv is installed")


class LocalServer(abc.ABC):
    """A throwaway server under `root` on 127.0.0.1:`port` (`port=None`: a free one).

    Subclasses set `error` (the exception they raise), the names their messages use, and
    `log_path`; they implement `pid`, `stop()` and `_start()`. `timeout` bounds waiting for the
    server to take connections, in seconds."""

    error: ClassVar[type[LocalServerError]] = LocalServerError
    product: ClassVar[str] = "the server"
    """What the server is, in messages: "PostgreSQL is not running"."""
    main_process: ClassVar[str] = "the server"
    """Its main process, in messages: "the postmaster (pid 12) or a backend survived SIGKILL"."""
    child_process: ClassVar[str] = "a child process"

    log_path: Path

    def __init__(self, root: Path | str, *, port: int | None, timeout: float) -> None:
        self.root = Path(root).absolute()
        self.host = "127.0.0.1"
        self._auto_port = port is None
        self.port: int = free_port(self.host) if port is None else port
        self.timeout = timeout
        self._owner: tuple[int, int] | None = None  # (uid, gid) of the server's OS user if not us
        self._private_dirs: list[Path] = []  # made under /tmp by us, removed by cleanup()

    # -- what a server implements -------------------------------------------------------------

    @property
    @abc.abstractmethod
    def pid(self) -> int | None:
        """The server's main process id while it runs."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Shut down cleanly; nothing to do if the server is not running."""

    @abc.abstractmethod
    def _start(self, *, keep_port: bool) -> Self:
        """Set up and start the server, wait until it takes connections; self. `keep_port`
        (restart()) forbids moving to another port when the chosen one turns out taken."""

    def _where(self) -> str:
        """More about which server, for messages: " (data /path)"."""
        return ""

    def _reap(self) -> None:
        """After kill(): collect the killed process if it is our child (nothing to do if not)."""
        return None

    # -- the lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server's main process is alive."""
        return self.pid is not None

    def start(self) -> Self:
        """Set the server up if needed, start it and wait until it takes connections."""
        return self._start(keep_port=False)

    def kill(self) -> None:
        """SIGKILL the server's main process and its children at once, as a machine crash or an
        OOM kill of the whole server would. (Killing only the main process is not enough: a
        PostgreSQL backend busy streaming a COPY checks for postmaster death only when it has to
        wait, so a fast client can read the whole result from an orphan.) The next start runs
        crash recovery."""
        pid = self.pid
        if pid is None:
            raise self.error(f"{self.product} is not running{self._where()}: cannot kill")
        children = child_pids(pid)
        os.kill(pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self._reap()
        if not wait_dead([pid, *children], 10):
            raise self.error(
                f"{self.main_process} (pid {pid}) or {self.child_process} survived SIGKILL"
            )

    def restart(self) -> None:
        """Stop if running (cleanly), then start again on the same port and data directory;
        after kill() this is a start with crash recovery."""
        if self.running:
            self.stop()
        self._start(keep_port=True)

    def cleanup(self) -> None:
        """Stop the server and delete the directories made for it under /tmp. Files under
        `root` are left alone."""
        self.stop()
        for path in self._private_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._private_dirs.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- helpers ------------------------------------------------------------------------------

    def _chown(self, path: Path) -> None:
        """Give `path` to the server's OS user (when it runs as another user than we do)."""
        if self._owner is not None:
            os.chown(path, *self._owner)

    def _private_dir(self, prefix: str, parent: str | None = None) -> Path:
        """A fresh directory under `parent` (default: the temporary directory), owned by the
        server's OS user; cleanup() deletes it."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._chown(path)
        self._private_dirs.append(path)
        return path

    def _wait_until(self, ready: Callable[[], bool], interval: float) -> bool:
        """Ask `ready()` every `interval` seconds: True once it says so, False when `timeout`
        has passed or the server is no longer running."""
        deadline = time.monotonic() + self.timeout
        while True:
            if ready():
                return True
            if time.monotonic() >= deadline or not self.running:
                return False
            time.sleep(interval)

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_tail(self, lines: int, offset: int = 0) -> str | None:
        """The server log's last `lines` lines written since byte `offset` (or the last lines
        at all when nothing was), "" for an empty log, None when it cannot be read."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return None
        text = data[offset:].decode("utf-8", "replace").strip()
        if not text:
            text = data.decode("utf-8", "replace").strip()
        return "\n".join(text.splitlines()[-lines:])


class ChildServer(LocalServer):
    """A LocalServer that is one child process of ours (`_proc`, set by `_start()`): its pid
    while it runs, stop() as SIGTERM then SIGKILL after `stop_grace` seconds."""

    stop_grace: ClassVar[float] = 20.0

    def __init__(self, root: Path | str, *, port: int | None, timeout: float) -> None:
        super().__init__(root, port=port, timeout=timeout)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait(10)
