"""A bug of medallion (an exception no error class names) exits 70 with one line saying so, and
with MEDALLION_DEBUG=1 prints the traceback and exits 70 too (a re-raise exited 1, as a user's
error does): scripts tell the two apart whatever the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: the CLI's entry point over a command that fails as a bug would
CHILD = textwrap.dedent(
    """
    import click
    import medallion.cli.main as entry

    @click.command()
    def broken():
        raise RuntimeError("a bug")

    entry.cli = broken
    entry.main([])
    """
)


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_exits_70_with_or_without_debug(tmp_path: Path, debug: bool) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MEDALLION_DEBUG"}
    if debug:
        env["MEDALLION_DEBUG"] = "1"
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 70, proc.stderr
    if debug:
        assert "Traceback" in proc.stderr and "RuntimeError: a bug" in proc.stderr
    else:
        assert "internal error: RuntimeError: a bug" in proc.stderr
        assert "Traceback" not in proc.stderr
