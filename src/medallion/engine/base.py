"""The Engine protocol: what medallion needs from the compute that runs SQL over the lakehouse.

`medallion.engine.duckdb` implements it on embedded DuckDB; another engine (Spark) implements
the same methods. Code above the engine layer
- sees tables only through `medallion.engine.attach`, which calls the attach_* methods;
- passes SQL as SQLGlot trees (medallion.sqltree) — a query over a relation reads it as the
  table `__src` (`Session.over`) — and the engine renders them for its dialect; the user's own
  SQL (a model) is passed as the text they wrote;
- holds relations as opaque values it gives back to the engine, and gets data out as Arrow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.errors import ExecutionError
    from medallion.models.loader import Model
    from medallion.storage.snapshot import FileSet

#: a relation of an engine: a query bound against the attached tables, not yet run
Relation = Any
#: the table name a query passed to `Session.over` reads its input relation by
SRC = "__src"


@dataclass
class WriteTarget:
    """A table written from a relation, in one commit (`Session.write_table`): where, how
    (`overwrite` the table, or `append` to it), the commit's metadata; `stream` is the kind's
    own writer of a stream of the rows (returns the version), `check(rows)` runs before the
    commit and may raise to stop it, `fault` names the crash tests' fault point between the data
    and the commit.

    `replace` (with `append`): a predicate over the table's columns (SQLGlot, any dialect)
    selecting the rows the new ones replace (an incremental_by_time model's periods): an engine
    that writes the data files itself rewrites only the files holding such a row (the others
    are kept as they are). `app_transaction` (app id, version) and `configuration` (table
    properties of a new table) are committed as `storage.tables.write` commits them.

    `write_rel(session, relation) -> (version, rows read)`: a kind whose commit is more than a
    write of its rows (a merge) commits them itself; an engine that writes the files itself
    (`Session.writes_files`) calls it with the relation, so the rows stay in the engine; one
    that streams calls `stream`."""

    path: Path
    run_id: str
    stream: Callable[[pa.RecordBatchReader], int]
    check: Callable[[int], None]
    fault: str
    mode: str = "overwrite"
    partition_by: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    replace: exp.Expression | None = None
    app_transaction: tuple[str, int] | None = None
    configuration: dict[str, str] | None = None
    write_rel: Callable[[Session, Relation], tuple[int, int]] | None = None


class Session(Protocol):
    """Runs queries. One session runs one query at a time: while a result streams, other work
    goes to another session (`Engine.side`)."""

    dialect: str
    #: `write_table` writes the data files itself (Spark's executors), adding and removing
    #: files (`WriteTarget.replace`); False: rows stream through the driver into delta-rs,
    #: whose MERGE a merge uses
    writes_files: bool

    def relation(self, query: str | exp.Expression) -> Relation: ...
    def over(self, rel: Relation, query: exp.Expression) -> Relation: ...
    def arrow(self, data: pa.Table | pa.RecordBatchReader) -> Relation: ...
    def name(self, rel: Relation) -> exp.Table: ...
    def register(self, data: pa.Table | pa.RecordBatchReader) -> exp.Table: ...
    def files(self, files: FileSet) -> Relation: ...
    def file_rows(self, files: FileSet, columns: list[str]) -> Relation | None: ...
    def staged(
        self, data: Relation | pa.RecordBatchReader, *, whole: bool = False
    ) -> AbstractContextManager[Relation]:
        """`data` read alike by every query of the block; `whole`: every value of every row
        computed now (a value that fails to compute fails here, before anything is written)."""

    def columns(self, rel: Relation) -> list[str]: ...
    def schema(self, rel: Relation) -> pa.Schema: ...
    def count(self, rel: Relation) -> int: ...
    def fetch(self, rel: Relation) -> pa.Table: ...
    def reader(self, rel: Relation, batch_rows: int = ...) -> pa.RecordBatchReader: ...
    def delta_safe(self, rel: Relation) -> Relation: ...
    def model_error(self, error: str | BaseException, model: Model) -> ExecutionError: ...
    def write_table(self, rel: Relation, target: WriteTarget) -> tuple[int, int]:
        """The relation's rows as the table at `target.path`, one commit: (version, rows). The
        engine streams them into `target.stream` or writes the data files itself."""

    def close(self) -> None: ...


class Engine(Session, Protocol):
    """The engine of one command: its main session, with the lakehouse's tables attached."""

    # -- sessions ------------------------------------------------------------------------------
    def side(self) -> Session: ...
    def scratch(self) -> Session: ...
    def result_relation(self, value: Any) -> Relation: ...
    def native(self) -> Any: ...
    def files_connection(self) -> Any:
        """The DuckDB connection landing files are read with (`medallion.ingest.files`): the
        engine's own, or one on the driver for an engine that is not DuckDB."""

    def file_landing(self) -> Any:
        """The engine's own reader and writer of landing files (`medallion.ingest.files.spark`
        uses it), or None: the files are read with `files_connection()` and written by the
        driver."""

    # -- tables (only medallion.engine.attach calls these) ----------------------------------
    def attach_table(self, fqn: str, version: int | None = None) -> int: ...
    def attach_empty(self, fqn: str, schema: pa.Schema) -> None: ...
    def attach_view(self, fqn: str, sql: str) -> None: ...
    def attach_data(self, fqn: str, data: pa.Table) -> None: ...
    def is_attached(self, fqn: str) -> bool: ...
    def version_of(self, fqn: str) -> int | None: ...
    def rows_of(self, fqn: str) -> int: ...
    def schema_of(self, fqn: str) -> pa.Schema | None: ...
    def attached_versions(self) -> dict[str, int | None]: ...
    def restrict(self, fqn: str, query: exp.Select) -> None:
        """From now on the attached table or view `fqn` reads as `query` over what was
        attached (named `__src` in it): a user's masks and row filter."""

    def interrupt(self) -> None:
        """Stop the statement running on this engine now (called from another thread): it
        fails with the engine's interrupt error. A no-op when nothing runs or once closed."""

    def confine(self) -> None:
        """From now on read the tables attached so far and nothing else (no other file, no
        URL), with the session's configuration locked; irreversible for this engine."""

    def swapped(
        self, fqn: str, sources: list[tuple[FileSet, tuple[str, ...] | None]]
    ) -> AbstractContextManager[None]: ...


class Interrupt:
    """A read's stop button. The caller makes one and passes it with the query
    (`Project.query_reader(interrupt=...)`); the read binds the engine it runs on; `press()`,
    from any thread (a cancel request, a statement timeout), stops the statement inside the
    engine, not only between result batches. An engine forgets a press that lands while none
    of its statements runs (between the attach statements and the query), so a caller that
    must stop the read presses again until the read has failed (`pressed` says it was)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self.pressed = False

    def bind(self, engine: Engine) -> None:
        with self._lock:
            self._engine = engine

    def press(self) -> None:
        with self._lock:  # not while another thread binds: an engine pressed is a whole one
            self.pressed = True
            if self._engine is not None:
                self._engine.interrupt()
