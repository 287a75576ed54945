"""The shared consoles and the formatting every other module uses: numbers, sizes, durations,
times, JSON, and tables (Grid).

Where output goes: data and a command's result (a run's summary) on stdout, so that
`medallion run > run.log` keeps what happened; progress and messages on stderr, or in the file
of `--log-file` (`log()`), errors on stderr in any case. `NO_COLOR` (or `--no-color`, or
TERM=dumb) leaves no escape code anywhere: no colour, no bold, no live spinner."""

from __future__ import annotations

import json
import os
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
_log: Console | None = None


def plain() -> bool:
    """No escape codes: NO_COLOR set to anything (no-color.org), or a dumb terminal."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def _console(stream: Any, is_tty: bool, **kwargs: Any) -> Console:
    from rich.console import Console

    return Console(
        file=stream,
        highlight=False,
        emoji=False,  # a value such as 'a:x:b' is data, not an emoji code
        soft_wrap=False,
        # piped output is never cut to 80 columns: scripts and files get whole rows
        width=None if is_tty else 100_000,
        # rich drops colours for NO_COLOR but keeps bold and dim: no styles at all instead
        color_system=None if plain() else "auto",
        **kwargs,
    )


def out() -> Console:
    global _out
    if _out is None:
        # no file: rich writes to sys.stdout as it is at each print (a caller may replace it)
        _out = _console(None, sys.stdout.isatty())
    return _out


def err() -> Console:
    global _err
    if _err is None:
        _err = _console(None, sys.stderr.isatty(), stderr=True)
    return _err


def log() -> Console:
    """Where progress goes: the `--log-file` if one was given, else stderr."""
    return _log or err()


def log_to(path: Path) -> None:
    """Send progress to `path` (appended; plain text, whole lines) from now on."""
    global _log
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)
    _log = _console(stream, False)  # not a terminal: rich writes no escape codes to it


def logging_to_file() -> bool:
    return _log is not None


def _table(
    *columns: str,
    right: tuple[str, ...] = (),
    whole: tuple[str, ...] = (),
    wrap: tuple[str, ...] = ("error", "description"),
    drop: tuple[str, ...] | None = None,
    title: str | None = None,
) -> Grid:
    """A table printed by the one rule of `Grid` (see there for what the options mean)."""
    return Grid(*columns, right=right, whole=whole, wrap=wrap, drop=drop, title=title)


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
        "interrupted": "yellow",
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
#: what a cut column keeps (at least its header), and a wrapped one, before columns are left out
MIN_CUT = 16
MIN_WRAP = 20


class Grid:
    """Rows under a header, printed by one rule on every table the CLI shows (a query's rows,
    status, tables, history, checks...). Piped output gets every cell whole. On a terminal:

    1. a text cell longer than MAX_CELL is cut (…), so one long text does not hide the rest;
    2. if the rows are still wider than the terminal, the widest text columns give way: `wrap`
       columns (messages) wrap onto more lines, the others are cut, each down to MIN_WRAP or
       MIN_CUT (or its header); `right` columns (numbers) and `whole` ones (versions, times,
       statuses) are never cut;
    3. if that is not enough, whole columns are left out, in `drop` order (by default from the
       middle outwards, as DuckDB's shell does: the first and last columns stay), and a line
       under the table names them.

    Cells are Rich markup (escape user text with `_escape`); add them with `add_row`."""

    def __init__(
        self,
        *columns: str,
        right: tuple[str, ...] | set[str] = (),
        whole: tuple[str, ...] = (),
        wrap: tuple[str, ...] = (),
        drop: tuple[str, ...] | None = None,
        title: str | None = None,
    ) -> None:
        self.columns = list(columns)
        self.right = set(right)
        self.whole = set(whole) | self.right
        self.wrap = set(wrap) - self.whole
        if drop is None:  # middle first: alternately left and right of the centre
            order = sorted(range(len(columns)), key=lambda i: -min(i, len(columns) - 1 - i))
            drop = tuple(columns[i] for i in order[: max(len(columns) - 1, 0)])
        self.drop = [c for c in drop if c in self.columns]
        self.title = title
        self.rows: list[list[str]] = []
        #: the columns left out of the last rendering (terminal too narrow)
        self.hidden: list[str] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def __rich_console__(self, console: Console, options: Any) -> Any:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        cells = [[Text.from_markup(c, emoji=False) for c in row] for row in self.rows]
        n = len(self.columns)
        if console.is_terminal:
            for row in cells:
                for i, text in enumerate(row):
                    name = self.columns[i]
                    if name not in self.whole and name not in self.wrap:
                        text.truncate(MAX_CELL, overflow="ellipsis")
        natural = [max([len(self.columns[i])] + [r[i].cell_len for r in cells]) for i in range(n)]
        shown, widths = self._fit(natural, options.max_width if console.is_terminal else None)
        self.hidden = [self.columns[i] for i in range(n) if i not in shown]
        table = Table(box=box.SIMPLE_HEAD, title=self.title, title_justify="left", pad_edge=False)
        layout = [i for i in range(n) if i in shown]
        for i in layout:
            name = self.columns[i]
            table.add_column(
                name,
                justify="right" if name in self.right else "left",
                no_wrap=name not in self.wrap,
                overflow="fold" if name in self.wrap else "ellipsis",
                width=widths.get(i),
            )
        for row in cells:
            table.add_row(*[row[i] for i in layout])
        yield table
        if self.hidden:
            named = ", ".join(self.hidden[:6]) + (", …" if len(self.hidden) > 6 else "")
            yield Text(
                f"{len(self.hidden)} of {n} columns not shown (terminal too narrow): {named}",
                style="dim",
            )

    def _fit(self, natural: list[int], room: int | None) -> tuple[set[int], dict[int, int]]:
        """The columns shown and the width of each that must be narrower than its content."""
        n = len(natural)
        everything = set(range(n))
        if room is None:
            return everything, {}
        floors = [self._floor(i, natural[i]) for i in range(n)]
        dropped: list[int] = []
        for name in [None, *self.drop]:
            if name is not None:
                dropped.append(self.columns.index(name))
            shown = everything - set(dropped)
            # each column: its content and 2 of padding, 1 between columns, 2 of edges, less
            # the outer padding (pad_edge=False)
            overhead = 3 * len(shown) - 1
            if sum(floors[i] for i in shown) + overhead <= room:
                return shown, self._shrink(natural, floors, shown, room - overhead)
        return {0}, {0: max(room - 2, 1)}

    def _floor(self, i: int, natural: int) -> int:
        name = self.columns[i]
        if name in self.whole:
            return natural
        least = MIN_WRAP if name in self.wrap else MIN_CUT
        return min(natural, max(least, len(name)))

    @staticmethod
    def _shrink(
        natural: list[int], floors: list[int], shown: set[int], room: int
    ) -> dict[int, int]:
        """Narrow the widest shrinkable columns, one character at a time, until the shown
        columns fit in `room` characters of content."""
        widths = {i: natural[i] for i in shown}
        excess = sum(widths.values()) - room
        while excess > 0:
            i = max((i for i in shown if widths[i] > floors[i]), key=lambda i: widths[i])
            widths[i] -= 1
            excess -= 1
        return {i: w for i, w in widths.items() if w < natural[i]}


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
    """Rows of data (a query's, a table's first rows) as a Grid: values as text, NULL dimmed."""
    grid = Grid(*names, right=numeric)
    for row in rows:
        grid.add_row(*[_markup(_plain(row[n])) for n in names])
    out().print(grid)


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
