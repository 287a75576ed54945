"""Runs the API starts are `medallion` commands in a child process of their own (`run --select`,
`pipelines run NAME`): each takes the project's writer lock as the CLI does, so the server never
holds it, a run outlives a dropped HTTP connection, and a crash of one does not take the server
down. Their output goes to a log file under the state folder (serve/runs/)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medallion.project import Project


def start(project: Project, args: list[str], label: str) -> subprocess.Popen[bytes]:
    """`medallion -p ROOT [--env E] ARGS` in a new process group; reaped by a thread."""
    folder = project.state_dir / "serve" / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    log = Path(folder, f"{stamp}-{os.getpid()}-{label}.log")
    command = [sys.executable, "-m", "medallion", "-p", str(project.root)]
    if project.config.environment:
        command += ["--env", project.config.environment]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=project.root,
            start_new_session=True,  # Ctrl-C on the server does not cut a run short
        )
    proc.log = log  # type: ignore[attr-defined]
    threading.Thread(target=proc.wait, name=f"medallion-child-{proc.pid}", daemon=True).start()
    return proc


def tail(proc: subprocess.Popen[bytes], lines: int = 5) -> str:
    """The last lines a child printed (why it stopped before its run began)."""
    log: Path = proc.log  # type: ignore[attr-defined]
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


#: how the CLI writes an error (cli/main.py): `error: <message>`, then `  hint: <hint>`
_ERROR, _HINT = "error: ", "  hint: "


def failure(proc: subprocess.Popen[bytes]) -> tuple[str, str | None]:
    """Why a child stopped before its run began, as (message, hint): the CLI's last error
    without its `error: ` prefix, else its last lines."""
    text = tail(proc, 20)
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(_ERROR)]
    if not starts:
        return text, None
    message, _, hint = "\n".join(lines[starts[-1] :])[len(_ERROR) :].partition("\n" + _HINT)
    return message.strip(), hint.strip() or None
