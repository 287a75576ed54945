"""The embedded DuckDB engine: a connection that sees the lakehouse as schemas.

Each layer is a DuckDB schema; each Delta table is a view `<layer>.<name>` reading the data files
of the table's current (or requested) version — the list comes from the Delta log (deltalake) —
with DuckDB's own Parquet reader (`read_parquet`), so a model's SQL is run as written, with
projection and filter pushdown into the files. View models are DuckDB views. DuckDB's delta
extension is not used: extensions cannot be downloaded on offline machines, and taking the file
list from deltalake keeps one Delta implementation for reads and writes.

Why `read_parquet` rather than registering pyarrow datasets: on selective queries — an
incremental merge reading 1% of a 10M-row table through a semi join — DuckDB's reader prunes row
groups and streams, where the Arrow scan materialized whole batches (docs/benchmarks.md).

A DuckDB connection runs one query at a time: while a result streams into the Delta writer, the
work the writer's callbacks do (staging the rows of a merge) goes to `side()`, a second session
on the same database. Results leave as Arrow RecordBatchReaders.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.engine.base import SRC
from medallion.engine.duckdb import errors
from medallion.engine.duckdb.scan import file_rows_sql, ident, scan_sql
from medallion.engine.duckdb.types import delta_safe_type
from medallion.errors import ExecutionError, StorageError, first_line

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import sqlglot.expressions as exp

    from medallion.engine.base import WriteTarget
    from medallion.models.loader import Model
    from medallion.storage.catalog import Catalog
    from medallion.storage.snapshot import FileSet

BATCH_ROWS = 128 * 1024
_names = itertools.count()

_SCRATCH: Any = None


def _scratch_connection() -> duckdb.DuckDBPyConnection:
    """A new cursor of a private in-memory DuckDB database (~0.1 ms, where a new database costs
    ~15 ms), for small jobs away from an engine's connections."""
    global _SCRATCH
    if _SCRATCH is None:
        import atexit

        import duckdb

        _SCRATCH = duckdb.connect()
        atexit.register(_close_scratch)
    return _SCRATCH.cursor()


def _close_scratch() -> None:
    """Closed and dropped at exit: DuckDB objects alive at interpreter shutdown are reported
    as leaks."""
    global _SCRATCH
    if _SCRATCH is not None:
        _SCRATCH.close()
        _SCRATCH = None


class Session:
    """Runs queries on one DuckDB connection. Relations are DuckDB relations: bound, not run,
    until read (`reader`, `fetch`, `count`)."""

    dialect = "duckdb"
    writes_files = False

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        #: names registered on the connection (Arrow data, file lists read through pyarrow)
        self._registered: list[str] = []
        #: relations named for queries (`name`), alive as long as their views
        self._kept: list[Any] = []

    def _name(self, prefix: str) -> str:
        return f"__medallion_{prefix}_{next(_names)}"

    # -- relations ------------------------------------------------------------------------

    def relation(self, query: str | exp.Expression) -> duckdb.DuckDBPyRelation:
        """A query (the user's SQL as written, or a tree rendered for DuckDB), bound."""
        from medallion.sqltree import render

        return self.con.sql(query if isinstance(query, str) else render(query, self.dialect))

    def over(self, rel: duckdb.DuckDBPyRelation, query: exp.Expression) -> duckdb.DuckDBPyRelation:
        """`query` run over `rel`, which it reads as the table `__src` (SRC). A relation is
        bound when it is made, so every query can use that one name."""
        from medallion.sqltree import render

        simple = _relational(rel, query, self.dialect)
        if simple is not None:
            return simple
        return rel.query(SRC, render(query, self.dialect))

    def arrow(self, data: pa.Table | pa.RecordBatchReader) -> duckdb.DuckDBPyRelation:
        """A relation over Arrow data (a reader is read once, as the relation is)."""
        return self.con.from_arrow(data)

    def name(self, rel: duckdb.DuckDBPyRelation) -> exp.Table:
        """A name for a relation, to read it inside queries (until the session closes)."""
        from medallion.sqltree import table

        name = self._name("view")
        rel.create_view(name, replace=True)
        self._kept.append(rel)  # the view may scan what the relation holds (Arrow data)
        return table(name)

    def register(self, data: pa.Table | pa.RecordBatchReader) -> exp.Table:
        """A name for Arrow data, to read it inside queries (until the session closes)."""
        from medallion.sqltree import table

        name = self._name("data")
        self.con.register(name, data)
        self._registered.append(name)
        return table(name)

    def files(self, files: FileSet) -> duckdb.DuckDBPyRelation:
        """The rows of data files, in their table's columns and types (see scan_sql)."""
        body, names = scan_sql(self.con, files, self._name("scan"))
        self._registered.extend(names)
        return self.con.sql(body)

    def file_rows(self, files: FileSet, columns: list[str]) -> duckdb.DuckDBPyRelation | None:
        """`columns` of every row of `files`, and the data file holding it (`filename`); None
        when the files cannot tell (see file_rows_sql)."""
        sql = file_rows_sql(files, columns)
        return None if sql is None else self.con.sql(sql)

    @contextmanager
    def staged(
        self, data: duckdb.DuckDBPyRelation | pa.RecordBatchReader, *, whole: bool = False
    ) -> Iterator[duckdb.DuckDBPyRelation]:
        """`data` materialized in a temporary table (spilling to disk when large) for the
        block, so it can be read by several queries (always whole)."""
        name = self._name("staged")
        rel = data if hasattr(data, "create") else self.con.from_arrow(data)
        rel.create(name)
        try:
            yield self.con.table(name)
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {ident(name)}")

    # -- reading ---------------------------------------------------------------------------

    def columns(self, rel: duckdb.DuckDBPyRelation) -> list[str]:
        return list(rel.columns)

    def schema(self, rel: duckdb.DuckDBPyRelation) -> pa.Schema:
        """The Arrow schema the relation's rows would have (nothing is run)."""
        return rel.limit(0).arrow().schema

    def count(self, rel: duckdb.DuckDBPyRelation) -> int:
        return int(rel.aggregate("count(*)").fetchall()[0][0])

    def fetch(self, rel: duckdb.DuckDBPyRelation) -> pa.Table:
        """The whole (small) result as an Arrow table."""
        return rel.arrow().read_all()

    def reader(
        self, rel: duckdb.DuckDBPyRelation, batch_rows: int = BATCH_ROWS
    ) -> pa.RecordBatchReader:
        """The result as a stream of batches of `batch_rows` rows."""
        return rel.arrow(batch_size=batch_rows)

    def delta_safe(self, rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """Cast the relation's columns whose DuckDB type Delta cannot store (see .types)."""
        casts = {
            col: target
            for col, typ in zip(rel.columns, rel.types, strict=True)
            if (target := delta_safe_type(str(typ))) is not None
        }
        if not casts:
            return rel
        import sqlglot.expressions as exp

        from medallion.sqltree import col, render

        projection = [
            exp.Cast(this=col(c), to=exp.DataType.build(casts[c], dialect=self.dialect)).as_(
                c, quoted=True
            )
            if c in casts
            else col(c)
            for c in rel.columns
        ]
        return rel.project(", ".join(render(p, self.dialect) for p in projection))

    def model_error(self, error: str | BaseException, model: Model) -> ExecutionError:
        """A DuckDB error of a model as an ExecutionError naming the model's file and line."""
        return errors.model_error(error, model)

    def write_table(self, rel: duckdb.DuckDBPyRelation, target: WriteTarget) -> tuple[int, int]:
        """The rows streamed into the kind's writer (delta-rs), counted on their way."""
        from medallion.faults import fault_point
        from medallion.storage.tables import RowCounter

        counter = RowCounter()
        stream = counter.wrap(
            self.reader(rel), lambda: fault_point(target.fault), lambda: target.check(counter.rows)
        )
        return target.stream(stream), counter.rows

    def close(self) -> None:
        for name in self._registered:
            self.con.unregister(name)
        self._registered.clear()
        self._kept.clear()
        self.con.close()


class DuckDBEngine(Session):
    """The engine of a command: an in-memory DuckDB whose schemas are the lakehouse's layers."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        temp_dir: Path | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        import duckdb

        super().__init__(duckdb.connect(":memory:"))
        self.catalog = catalog
        con = self.con
        if temp_dir is not None:
            temp_dir.mkdir(parents=True, exist_ok=True)
            con.execute(f"SET temp_directory = '{_sql_str(str(temp_dir))}'")
        if memory_limit:
            con.execute(f"SET memory_limit = '{_sql_str(memory_limit)}'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        # Run SQL in UTC so timestamps mean the same on every machine.
        con.execute("SET TimeZone = 'UTC'")
        # Parquet footers are read once per connection, not by every query over a table.
        con.execute("SET enable_object_cache = true")
        for layer in catalog.layers:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(layer)}")
        #: fqn -> (the SELECT its view runs, version) of attached Delta tables
        self.attached: dict[str, tuple[str, int | None]] = {}
        self._table_names: dict[str, list[str]] = {}
        self.views: set[str] = set()
        self._view_sql: dict[str, str] = {}
        self._side: Session | None = None
        #: fqn -> row count of the attached version (from the Delta log, not a scan)
        self.rows: dict[str, int] = {}
        #: each attached table's schema, as its Delta log has it
        self.schemas: dict[str, pa.Schema] = {}
        #: the folders of the attached tables' data files (what `confine` still allows)
        self._folders: set[str] = set()
        # interrupt() comes from another thread: never on a connection being closed
        self._open_lock = threading.Lock()
        self._open = True

    # -- sessions ----------------------------------------------------------------------------

    def side(self) -> Session:
        """A second session on the same database (same schemas and tables), for work while
        this one streams a result; kept open for the engine's lifetime."""
        if self._side is None:
            self._side = Session(self.con.cursor())
        return self._side

    def scratch(self) -> Session:
        """A session of a private database, for small jobs on Arrow data while both of the
        engine's sessions may be busy (close it after use)."""
        return Session(_scratch_connection())

    def result_relation(self, value: Any) -> duckdb.DuckDBPyRelation:
        """A Python model's return value (a DuckDB relation, an Arrow table, batch or reader,
        anything with an Arrow stream) as a relation; TypeError naming the type otherwise."""
        if hasattr(value, "types") and hasattr(value, "arrow") and hasattr(value, "query"):
            return value
        # the side session: the value may itself be a pending result of this connection (a
        # model returning `ctx.sql(...).arrow()`), which the same connection cannot scan
        return self.side().arrow(as_reader(value))

    def native(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection itself (for Python models' `ctx.con`; not governed by read
        policies)."""
        return self.con

    def files_connection(self) -> duckdb.DuckDBPyConnection:
        """The connection landing files are read with: this engine's own."""
        return self.con

    def file_landing(self) -> None:
        """None: landing files are read by this engine's connection (`files_connection`)."""
        return None

    # -- making tables visible (only medallion.engine.attach calls these) -------------------

    def is_attached(self, fqn: str) -> bool:
        """Whether `fqn` is readable: an attached table or view."""
        return fqn in self.attached or fqn in self.views

    def version_of(self, fqn: str) -> int | None:
        """The version of the attached table `fqn` (None: an empty table, not stored yet)."""
        return self.attached[fqn][1]

    def rows_of(self, fqn: str) -> int:
        """Rows of the attached version of `fqn` (from the Delta log, not a scan)."""
        return self.rows.get(fqn, 0)

    def schema_of(self, fqn: str) -> pa.Schema | None:
        """The Delta schema of the attached table `fqn` (None: not attached)."""
        return self.schemas.get(fqn)

    def attached_versions(self) -> dict[str, int | None]:
        """Every attached table and its version."""
        return {fqn: version for fqn, (_, version) in self.attached.items()}

    def _scan(self, files: FileSet) -> tuple[str, list[str]]:
        return scan_sql(self.con, files, self._name("scan"))

    def attach_table(self, fqn: str, version: int | None = None) -> int:
        """Expose the Delta table `fqn` (at `version`, default latest) as view `<layer>.<name>`.
        Returns the version attached."""
        from medallion.storage import snapshot

        path = self.catalog.path(fqn)
        try:
            snap = snapshot.snapshot(path, version)
        except StorageError:
            raise
        except Exception as e:
            raise StorageError(f"cannot read table {fqn}: {e}", file=path) from None
        remote = snap.files.filesystem is not None
        # (on an object store a vacuumed file is found by the read, not by a request per file)
        missing = [] if remote else [f for f in snap.files.paths if not os.path.exists(f)]
        if missing:
            raise StorageError(
                f"{len(missing)} of the data files of {fqn} version {snap.version} were removed "
                "by vacuum (or by hand)",
                file=path,
                hint="time travel reaches back as far as the layer's retention "
                "(medallion.yml `retention:`)",
            )
        body, names = self._scan(snap.files)
        self._point(fqn, body)
        if not remote:
            home = os.path.join(os.path.realpath(path), "")
            self._folders.add(home)
            self._folders.update(  # a file the log names outside the table's folder
                os.path.join(os.path.dirname(f), "")
                for f in snap.files.paths
                if not f.startswith(home)
            )
        for old in self._table_names.pop(fqn, []):
            self.con.unregister(old)
        self._table_names[fqn] = names
        self.attached[fqn] = (body, snap.version)
        self.rows[fqn] = snap.rows
        self.schemas[fqn] = snap.schema
        return snap.version

    def confine(self) -> None:
        """DuckDB's own switch: file and network access off (`enable_external_access`, which
        cannot be turned back on), except for the attached tables' folders. What the views of
        attached tables read stays readable; read_csv('/etc/passwd'), a glob, a URL, an
        extension are refused with a Permission Error. Spilling to temp_directory still works."""
        folders = ", ".join(f"'{_sql_str(f)}'" for f in sorted(self._folders))
        self.con.execute(f"SET allowed_directories = [{folders}]")
        self.con.execute("SET enable_external_access = false")
        # no SET afterwards: allowed_directories, memory and the rest stay as they are
        self.con.execute("SET lock_configuration = true")

    def restrict(self, fqn: str, query: exp.Select) -> None:
        """`<layer>.<name>` reads `query` over what is attached (as __src): a user's masks
        and row filter, applied at the view every read goes through."""
        from medallion.sqltree import render

        body = self.attached[fqn][0] if fqn in self.attached else self._view_sql[fqn]
        self._point(fqn, f"WITH {SRC} AS ({body}) {render(query, self.dialect)}")

    def attach_empty(self, fqn: str, schema: pa.Schema) -> None:
        """Expose `fqn` as an empty table with `schema` (a table that has no rows yet, such as a
        quarantine nothing was sent to)."""
        from medallion.storage.snapshot import FileSet

        body, _ = self._scan(FileSet([], schema, []))
        self._point(fqn, body)
        self.attached[fqn] = (body, None)
        self.rows[fqn] = 0
        self.schemas[fqn] = schema

    def attach_data(self, fqn: str, data: pa.Table) -> None:
        """Expose Arrow data as `fqn` (a system table from the state database). Named with
        the catalog (`memory.system.runs`): DuckDB's own `system` catalog would make the
        two-part name ambiguous, so queries name it that way too (allowlist)."""
        layer, name = fqn.split(".", 1)
        registered = self._name("data")
        self.con.register(registered, data)
        self._registered.append(registered)
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{ident(layer)}")
        body = f"SELECT * FROM {registered}"
        self.con.execute(f"CREATE OR REPLACE VIEW memory.{ident(layer)}.{ident(name)} AS {body}")
        self.attached[fqn] = (body, None)
        self.rows[fqn] = data.num_rows
        self.schemas[fqn] = data.schema

    def _point(self, fqn: str, body: str) -> None:
        layer, name = fqn.split(".", 1)
        self.con.execute(f"CREATE OR REPLACE VIEW {ident(layer)}.{ident(name)} AS {body}")

    @contextmanager
    def swapped(
        self, fqn: str, sources: list[tuple[FileSet, tuple[str, ...] | None]]
    ) -> Iterator[None]:
        """Within the block, `<layer>.<name>` reads only `sources` — (files, change types)
        pairs, e.g. a table's new data files and the inserted rows of its change feed — instead
        of the attached table; the model SQL runs unchanged. Change types mean change-feed
        files: their rows of those `_change_type`s are read, without that column."""
        from medallion.storage import snapshot, tables

        bodies, names = [], []
        for files, change_types in sources:
            body, registered = self._scan(files)
            names.extend(registered)
            if change_types:
                kinds = ", ".join(f"'{_sql_str(t)}'" for t in change_types)
                body = (
                    f"SELECT * EXCLUDE (_change_type) FROM ({body}) WHERE _change_type IN ({kinds})"
                )
            bodies.append(body)
        if not bodies:
            schema = tables.schema(self.catalog.path(fqn))
            body, registered = self._scan(snapshot.FileSet([], schema, []))
            names.extend(registered)
            bodies.append(body)
        self._point(fqn, " UNION ALL ".join(f"({b})" for b in bodies))
        try:
            yield
        finally:
            self._point(fqn, self.attached[fqn][0])
            for n in names:
                self.con.unregister(n)

    def attach_view(self, fqn: str, sql: str) -> None:
        layer, name = fqn.split(".", 1)
        try:
            self.con.execute(f"CREATE OR REPLACE VIEW {ident(layer)}.{ident(name)} AS {sql}")
        except Exception as e:
            raise ExecutionError(
                f"view {fqn} does not compile: {first_line(e)}", model=fqn
            ) from None
        self.views.add(fqn)
        self._view_sql[fqn] = sql

    def interrupt(self) -> None:
        with self._open_lock:
            if self._open:
                self.con.interrupt()

    def close(self) -> None:
        with self._open_lock:
            self._open = False
        if self._side is not None:
            self._side.close()
        super().close()


#: what a SELECT over __src may have for the relation API to run it (see _relational)
_SIMPLE_SELECT = {"expressions", "from_", "where", "distinct"}


def _relational(
    rel: duckdb.DuckDBPyRelation, query: exp.Expression, dialect: str
) -> duckdb.DuckDBPyRelation | None:
    """`SELECT [DISTINCT] columns FROM __src [WHERE condition]` through DuckDB's relation API
    (filter, project, distinct), None for any other query. Why: `rel.query` binds the whole
    plan under `rel` again (a model's joins and aggregates), which cost 1-3 ms per call; the
    relation API extends the bound plan."""
    import sqlglot.expressions as exp

    from medallion.sqltree import render

    if not isinstance(query, exp.Select):
        return None
    args = {k: v for k, v in query.args.items() if v}
    source = args.get("from_")
    if set(args) - _SIMPLE_SELECT or source is None:
        return None
    table = source.this
    if not isinstance(table, exp.Table) or table.name != SRC or table.db or table.alias:
        return None
    distinct = args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        return None
    out = rel
    where = args.get("where")
    if where is not None:
        out = out.filter(render(where.this, dialect))
    columns = query.expressions
    if not (len(columns) == 1 and isinstance(columns[0], exp.Star) and not columns[0].args):
        out = out.project(", ".join(render(c, dialect) for c in columns))
    if distinct is not None:
        out = out.distinct()
    return out


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def as_reader(value: Any) -> pa.RecordBatchReader:
    """Whatever a Python model returned, as a RecordBatchReader; TypeError if not tabular."""
    import pyarrow as pa

    if isinstance(value, pa.RecordBatchReader):
        return value
    if isinstance(value, pa.Table):
        return value.to_reader(max_chunksize=BATCH_ROWS)
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value]).to_reader()
    if hasattr(value, "arrow") and hasattr(value, "columns") and hasattr(value, "types"):
        result = value.arrow(batch_size=BATCH_ROWS)  # a DuckDB relation
        return result if isinstance(result, pa.RecordBatchReader) else result.to_reader()
    if hasattr(value, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(value)
    raise TypeError(type(value).__name__)
