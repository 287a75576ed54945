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
    args: list[str], cwd: Path, columns: int, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `medallion ARGS` with stdout on a pseudo-terminal `columns` wide; (exit status,
    what it wrote there, its stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm", **(env or {})},
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal's other end closed: the process has ended
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err.decode()


@pytest.fixture
def on_terminal() -> Callable[..., tuple[int, str, str]]:
    """on_terminal(args, cwd, columns, env=None) -> (exit status, terminal output, stderr)."""
    return run_on_terminal
