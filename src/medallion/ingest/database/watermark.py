"""What a database source reads each run: the cursor's range past the watermark.

Watermark semantics (a cursor column such as `updated_at` or an id):
- the first run (and `--full-refresh`) reads every row, including rows whose cursor is NULL;
- each run reads, in one consistent snapshot, the rows with `low < cursor <= high`, where `high`
  is the largest cursor value when the run starts and `low` is the previous run's `high` minus
  `lookback` (rows committed late with an older cursor value are re-read, not lost; the repeats
  are ordinary duplicates in bronze, which a merge model keyed on `primary_key` absorbs);
- the new watermark (`high`) is recorded in the same Delta commit as the rows, so it advances
  only when they are committed; a failed extract commits nothing and leaves it where it was.

`read_range` decides the range once for every driver; each driver writes it in its SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError

if TYPE_CHECKING:
    import sqlglot.expressions as exp

    from medallion.config.schema import DatabaseSource


def watermark_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def low_bound(watermark: str | None, lookback: str | float | None, like: Any = None) -> Any:
    """The exclusive lower bound of the next read: the watermark minus the lookback, as a value
    of the cursor's kind (`like` is a current cursor value: a number stays a number even when
    its digits would read as a date, e.g. 20240101)."""
    if watermark is None:
        return None
    if isinstance(like, str):  # a text column (SQLite has no time type): compared as text
        return watermark if lookback is None else _text_time_minus(watermark, lookback)
    value: Any = watermark
    if isinstance(like, int | float | Decimal) and not isinstance(like, bool):
        value = Decimal(watermark)
    elif isinstance(like, datetime | date) or like is None:
        try:
            value = datetime.fromisoformat(watermark)
        except ValueError:
            try:
                value = Decimal(watermark)
            except ArithmeticError:
                return watermark
    if lookback is None:
        return value
    if isinstance(value, datetime):
        from medallion.config.durations import duration_seconds

        seconds = lookback if isinstance(lookback, int | float) else duration_seconds(lookback)
        return value - timedelta(seconds=float(seconds))
    return value - Decimal(str(lookback if not isinstance(lookback, str) else lookback.split()[0]))


def _text_time_minus(watermark: str, lookback: str | float) -> str:
    """A time held as text minus the lookback, written back the way the watermark is (date or
    date and time, 'T' or ' ' between them), so the text comparison stays a time comparison."""
    from medallion.config.durations import duration_seconds

    try:
        value = datetime.fromisoformat(watermark)
    except ValueError:
        raise SourceError(
            f"the cursor holds text that is not a time ({watermark!r}), so a lookback cannot be "
            "subtracted from it",
            hint="remove `lookback`, or use a numeric or timestamp cursor column",
        ) from None
    seconds = lookback if isinstance(lookback, int | float) else duration_seconds(lookback)
    value -= timedelta(seconds=float(seconds))
    if len(watermark) == 10 and value.time() == datetime.min.time():  # a date: stays a date
        return value.date().isoformat()
    return value.isoformat(sep="T" if "T" in watermark else " ")


@dataclass(frozen=True)
class Range:
    """The cursor values a run reads: `low < cursor <= high` (either end open when None), and
    with `nulls` the rows whose cursor is NULL; `nothing` when there is nothing to read."""

    low: Any = None
    high: Any = None
    nulls: bool = False
    nothing: bool = False


def read_range(high: Any, watermark: str | None, lookback: str | float | None, full: bool) -> Range:
    """The range of a run whose cursor's largest value is now `high` (None: the table is
    empty), after `watermark` (None: never read)."""
    low = None if full else low_bound(watermark, lookback, high)
    if watermark is not None and not full and high is None:
        return Range(nothing=True)  # the table is empty now
    if low is not None:
        return Range(low, high)
    if high is not None:
        return Range(None, high, nulls=True)  # a full read: up to high, and no cursor value
    return Range()


def check_cursor(source: DatabaseSource, name: str, columns: list[str]) -> None:
    """The cursor column must be one of the source's columns."""
    if source.cursor is not None and source.cursor not in columns:
        raise SourceError(
            f"cursor column {source.cursor!r} is not in {source.table or 'the query'}",
            source=name,
            key=f"sources.{name}.cursor",
            hint=f"columns: {', '.join(columns)}",
        )


def source_relation(source: DatabaseSource) -> exp.Expression:
    """The table a source reads (`schema.table`), or its query as a derived table (the
    user's SQL as written)."""
    import sqlglot.expressions as exp

    from medallion.sqltree import ident

    if source.table is not None:
        parts = source.table.split(".")
        return exp.Table(this=ident(parts[-1]), db=ident(parts[-2]) if len(parts) > 1 else None)
    return exp.Subquery(
        this=exp.Var(this=source.query),
        alias=exp.TableAlias(this=exp.Identifier(this="medallion_query")),
    )


def range_filter(cursor: str, rows: Range) -> tuple[list[exp.Expression], list[Any]]:
    """`rows` as conditions on `cursor` with placeholders, and the values they take in order
    (for drivers that take parameters: MySQL, SQLite)."""
    import sqlglot.expressions as exp

    from medallion.sqltree import col

    if rows.nothing:
        return [exp.false()], []
    c = col(cursor)
    if rows.low is not None:
        where: list[exp.Expression] = [exp.GT(this=c, expression=exp.Placeholder())]
        params = [rows.low]
        if rows.high is not None:
            where.append(exp.LTE(this=c.copy(), expression=exp.Placeholder()))
            params.append(rows.high)
        return where, params
    if rows.high is not None:
        upto = exp.LTE(this=c, expression=exp.Placeholder())
        return [exp.paren(exp.or_(upto, exp.Is(this=c.copy(), expression=exp.Null())))], [rows.high]
    return [], []


def max_cursor(source: DatabaseSource) -> exp.Select:
    """SELECT max(cursor) FROM the source."""
    import sqlglot.expressions as exp

    from medallion.sqltree import col

    assert source.cursor is not None
    return exp.select(exp.Max(this=col(source.cursor))).from_(source_relation(source))


def rows_query(source: DatabaseSource, where: list[exp.Expression]) -> exp.Select:
    """SELECT * FROM the source [WHERE ...]."""
    import sqlglot.expressions as exp

    from medallion.sqltree import and_

    query = exp.select(exp.Star()).from_(source_relation(source))
    return query.where(and_(*where)) if where else query
