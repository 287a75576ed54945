"""What the CLI tests share: running `medallion` with its output on a terminal of a given width
(a pseudo-terminal, as a user's shell gives it), where tables are fitted to the width."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def run_on_terminal(
    args: list[str],
    cwd: Path,
    columns: int,
    env: dict[str, str] | None = None,
    stderr_too: bool = False,
) -> tuple[int, str, str]:
    """Run `medallion ARGS` with stdout on a pseudo-terminal `columns` wide (and stderr on
    another one with `stderr_too`, else a pipe); (exit status, stdout's text, stderr's text)."""
    terminals = [pty.openpty() for _ in range(2 if stderr_too else 1)]
    for _, slave in terminals:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        stdout=terminals[0][1],
        stderr=terminals[1][1] if stderr_too else subprocess.PIPE,
        env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm", **(env or {})},
    )
    for _, slave in terminals:
        os.close(slave)
    open_fds = {master: bytearray() for master, _ in terminals}
    read = dict(open_fds)
    deadline = time.monotonic() + 300
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 1.0)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the terminal's other end closed: the process has ended
                data = b""
            if data:
                open_fds[fd].extend(data)
            else:
                del open_fds[fd]
                os.close(fd)
        if not ready and proc.poll() is not None:
            break
    for fd in open_fds:
        os.close(fd)
    piped = proc.communicate(timeout=60)[1]
    texts = [bytes(b).decode().replace("\r\n", "\n") for b in read.values()]
    err = texts[1] if stderr_too else piped.decode()
    return proc.returncode, texts[0], err


@pytest.fixture
def on_terminal() -> Callable[..., tuple[int, str, str]]:
    """on_terminal(args, cwd, columns, env=None, stderr_too=False) -> (exit status, stdout,
    stderr)."""
    return run_on_terminal
