"""Database sources: a table or query of PostgreSQL, MySQL / MariaDB or SQLite, read
incrementally past a watermark (see `watermark` for its semantics).

Each driver is a module of this package (`postgres`, `mysql`, `sqlite`) offering `extract`
(open one consistent snapshot and stream the rows past the watermark), `max_cursor` (the
cursor's largest value now: how `run --watch` polls without reading rows) and `classify` (its
errors as transient, retried, or terminal; None: nothing is retried). A new database is a new
module and a line in DRIVERS.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from medallion.ingest.database import mysql, postgres, sqlite
from medallion.ingest.database.watermark import low_bound, watermark_text
from medallion.ingest.sources import Extract

if TYPE_CHECKING:
    from medallion.config.schema import DatabaseSource
    from medallion.connectors.retry import Classifier

DRIVERS: dict[str, ModuleType] = {"postgres": postgres, "mysql": mysql, "sqlite": sqlite}


def driver(source: DatabaseSource) -> ModuleType:
    return DRIVERS[source.type]


def extract(
    source: DatabaseSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    """Open a consistent snapshot of the source and stream its rows past `watermark` (all of
    them when `full`). The caller consumes the reader and then calls `close()`."""
    return driver(source).extract(source, name, watermark, full, root)


def classifier(source: DatabaseSource) -> Classifier | None:
    """How the driver's errors are told apart (None: SQLite, a local file, is not retried)."""
    return driver(source).classify


def describe(source: DatabaseSource) -> str:
    """What an extract reads, for messages (the password masked)."""
    from medallion.errors import mask_dsn

    return f"reading {source.table or 'the query'} ({mask_dsn(source.dsn)})"


def has_new_rows(source: DatabaseSource, watermark: str | None, root: Path) -> bool:
    """Whether the source's cursor has moved past `watermark` (one `SELECT max(cursor)`): how
    `run --watch` polls a database without running anything. A source without a cursor is
    re-read whole by every run, so it always has "new" rows."""
    if source.cursor is None or watermark is None:
        return True
    high = driver(source).max_cursor(source, root)
    if high is None:
        return False
    low = low_bound(watermark, None, high)
    try:
        return bool(high > low)
    except TypeError:  # e.g. SQLite text against a parsed timestamp
        return watermark_text(high) != watermark


__all__ = ["DRIVERS", "Extract", "classifier", "describe", "driver", "extract", "has_new_rows"]
