"""The writer and scheduler locks: a refusal names the holder (pid, command, host, since)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from medallion.errors import LockError
from medallion.runner.lock import WriterLock


def test_a_second_holder_is_refused_naming_pid_command_host_and_since(tmp_path: Path) -> None:
    first = WriterLock(
        tmp_path, "scheduler", file="scheduler.lock", what="a scheduler is already running"
    ).acquire(0)
    try:
        with pytest.raises(LockError) as info:
            WriterLock(
                tmp_path, "scheduler", file="scheduler.lock", what="a scheduler is already running"
            ).acquire(0)
        message = str(info.value)
        assert "a scheduler is already running: " in message
        assert f"pid {os.getpid()} (scheduler) on {socket.gethostname()}, since 20" in message
    finally:
        first.release()
