"""The shared console: the two rich consoles (data on stdout, the rest on stderr), the
formatting of numbers, sizes, durations and times, JSON, and aligned rows."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console

_out: Console | None = None
_err: Console | None = None


def out() -> Console:
    global _out
    if _out is None:
        from rich.console import Console

        # Piped output is never cut to 80 columns: scripts and files get whole rows.
        width = None if sys.stdout.isatty() else 100_000
        # emoji=False: a value such as 'a:x:b' is data, not an emoji code
        _out = Console(highlight=False, soft_wrap=False, width=width, emoji=False)
    return _out


def err() -> Console:
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(
            stderr=True,
            highlight=False,
            emoji=False,
            width=None if sys.stderr.isatty() else 100_000,
        )
    return _err


def _table(*columns: str, right: tuple[str, ...] = (), title: str | None = None):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for c in columns:
        wrap = c in ("error", "description")
        t.add_column(c, justify="right" if c in right else "left", no_wrap=not wrap)
    return t


# -- formatting helpers ---------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_json_default, indent=2) + "\n")


def _num(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _secs(s: float | None) -> str:
    if s is None:
        return ""
    if s < 60:
        return f"{s:.2f}s"
    return f"{int(s // 60)}m{s % 60:04.1f}s"


def _when(value: str | datetime | None) -> str:
    """Local time for people; state stores UTC ISO strings."""
    if value is None:
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _status(status: str) -> str:
    colour = {
        "success": "green",
        "failed": "red",
        "skipped": "yellow",
        "running": "cyan",
        "aborted": "red",
    }.get(status, "white")
    return f"[{colour}]{status}[/]"


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


# -- aligned rows ---------------------------------------------------------------------------------


#: on a terminal, a cell longer than this is cut, so one long text does not hide other columns
MAX_CELL = 40


def _numeric(schema: pa.Schema) -> set[str]:
    """The columns aligned right: integers, floats and decimals."""
    import pyarrow as pa

    return {
        f.name
        for f in schema
        if pa.types.is_integer(f.type)
        or pa.types.is_floating(f.type)
        or pa.types.is_decimal(f.type)
    }


def print_rows(names: list[str], numeric: set[str], rows: list[dict[str, Any]]) -> None:
    """An aligned table. On a terminal too narrow for every column, the first and last columns
    are shown and the middle ones elided (and counted), as the DuckDB shell does."""
    console = out()
    cells = [[_plain(row[n]) for n in names] for row in rows]
    shown = list(range(len(names)))
    if console.is_terminal:
        cells = [[c if len(c) <= MAX_CELL else c[: MAX_CELL - 1] + "…" for c in r] for r in cells]
        widths = [max([len(names[i])] + [len(r[i]) for r in cells]) + 3 for i in range(len(names))]
        if sum(widths) > console.width:
            left, right, used = 0, len(names) - 1, 6  # room for the elision column
            keep_left: list[int] = []
            keep_right: list[int] = []
            while left <= right:
                i = left if len(keep_left) <= len(keep_right) else right
                if used + widths[i] > console.width:
                    break
                used += widths[i]
                if i == left:
                    keep_left.append(i)
                    left += 1
                else:
                    keep_right.insert(0, i)
                    right -= 1
            shown = [*keep_left, -1, *keep_right]
    t = _table(*[names[i] if i >= 0 else "…" for i in shown], right=tuple(numeric))
    for r in cells:
        t.add_row(*[_markup(r[i]) if i >= 0 else "…" for i in shown])
    console.print(t)
    if -1 in shown:
        hidden = len(names) - len(shown) + 1
        err().print(f"[dim]{hidden} of {len(names)} columns not shown (terminal too narrow)[/]")


def _plain(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _escape(text: str) -> str:
    """User text (a message, a value) printed as itself, not read as Rich markup."""
    from rich.markup import escape

    return escape(text)


def _markup(text: str) -> str:
    return "[dim]NULL[/]" if text == "NULL" else _escape(text)
