"""Sources that are read past a cursor (databases, REST APIs), by type: a new type is a module
with the same three things and a line in KINDS, never a branch in bronze or the runner.

Each kind offers `extract(source, name, watermark, full, root) -> Extract` (the rows past the
watermark as one stream, and the new watermark), `has_new_rows(source, watermark, root)` (whether
a run may find rows: how `run --watch` polls), `describe(source)` (what is being read, for
messages, without secrets) and `classifier(source)` (how its errors are told apart: transient —
the extract is retried — or terminal; None: not retried, or the kind retries by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.config.schema import DatabaseSource, RestSource
    from medallion.connectors.retry import Classifier

    CursorSourceConfig = DatabaseSource | RestSource


@dataclass
class Extract:
    """An open extraction: a stream of rows and the watermark it covers."""

    reader: pa.RecordBatchReader
    high: str | None  # the new watermark as text (None: no cursor)
    origin: str  # e.g. postgres:public.orders, for _source_file
    close: Any
    #: what ended the stream early, as raised by the driver: whoever reads `reader` through
    #: DuckDB sees only an OSError carrying its message, not its type (what retries go by)
    failure: BaseException | None = None


class CursorKind(Protocol):
    def extract(
        self, source: Any, name: str, watermark: str | None, full: bool, root: Path
    ) -> Extract: ...
    def has_new_rows(self, source: Any, watermark: str | None, root: Path) -> bool: ...
    def describe(self, source: Any) -> str: ...
    def classifier(self, source: Any) -> Classifier | None: ...


def cursor_kind(source: CursorSourceConfig) -> CursorKind:
    """The module reading sources of this one's type."""
    from medallion.ingest import database, rest

    kinds: dict[str, Any] = {
        "postgres": database,
        "mysql": database,
        "sqlite": database,
        "rest": rest,
    }
    return kinds[source.type]
