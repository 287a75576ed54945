"""A known error, its location and its hint, on stderr (and in the `--log-file`, if any)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.cli.render.console import _escape, err, log, logging_to_file

if TYPE_CHECKING:
    from medallion.errors import MedallionError


def error(e: MedallionError) -> None:
    loc = e.location
    # messages quote user text (SQL, values, paths) that may hold [...]: never markup
    text = f"{loc + ': ' if loc else ''}{e.message}"
    for console in (err(), log()) if logging_to_file() else (err(),):
        console.print(f"[bold red]error:[/] {_escape(text)}")
        if e.hint:
            console.print(f"  [dim]hint:[/] {_escape(e.hint)}")
