"""The compute boundary: an embedded DuckDB connection that sees the lakehouse as schemas.

Each layer is a DuckDB schema; each Delta table is a view `<layer>.<name>` over a pyarrow dataset
of the table's current (or requested) version, so a model's SQL is run as written, with
projection and filter pushdown into the Parquet files. View models are DuckDB views. DuckDB's
delta extension is not used: extensions cannot be downloaded on offline machines, and reading
through deltalake keeps one Delta implementation for reads and writes.

Results leave the engine as Arrow RecordBatchReaders, ready to stream into a Delta writer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import ExecutionError, StorageError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from medallion.storage.catalog import Catalog

BATCH_ROWS = 128 * 1024

# DuckDB types that Delta Lake cannot store, and what a model's column of that type is stored as.
# (A model that sums integers gets HUGEINT from DuckDB; users expect an integer column.)
_DELTA_SAFE_CASTS = {
    "HUGEINT": "BIGINT",
    "UHUGEINT": "BIGINT",
    "UBIGINT": "DECIMAL(20,0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "SMALLINT",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIME": "VARCHAR",
    "TIME WITH TIME ZONE": "VARCHAR",
    "INTERVAL": "VARCHAR",
    "UUID": "VARCHAR",
    "BIT": "VARCHAR",
    "BIGNUM": "VARCHAR",
    "VARINT": "VARCHAR",
}


def delta_safe_type(duck_type: str) -> str | None:
    """The type to cast a DuckDB column to before writing it to Delta, or None if it is fine."""
    if duck_type in _DELTA_SAFE_CASTS:
        return _DELTA_SAFE_CASTS[duck_type]
    if duck_type.startswith("ENUM("):
        return "VARCHAR"
    return None


class Engine:
    def __init__(
        self,
        catalog: Catalog,
        *,
        temp_dir: Path | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        import duckdb

        self.catalog = catalog
        self.con: duckdb.DuckDBPyConnection = duckdb.connect(":memory:")
        if temp_dir is not None:
            temp_dir.mkdir(parents=True, exist_ok=True)
            self.con.execute(f"SET temp_directory = '{_sql_str(str(temp_dir))}'")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{_sql_str(memory_limit)}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        # Run SQL in UTC so timestamps mean the same on every machine.
        self.con.execute("SET TimeZone = 'UTC'")
        for layer in catalog.layers:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(layer)}")
        self._counter = itertools.count()
        #: fqn -> (the SELECT its view runs, version) of attached Delta tables
        self.attached: dict[str, tuple[str, int | None]] = {}
        self._registered: dict[str, list[str]] = {}
        self._parts: dict[str, list[Any]] = {}
        self.views: set[str] = set()
        self._side: duckdb.DuckDBPyConnection | None = None
        #: fqn -> row count of the attached version (from the Delta log, not a scan)
        self.rows: dict[str, int] = {}

    # -- making tables visible ------------------------------------------------------------

    def attach_table(self, fqn: str, version: int | None = None) -> int:
        """Expose the Delta table `fqn` (at `version`, default latest) as view `<layer>.<name>`.
        Returns the version attached."""
        from medallion.storage import delta

        path = self.catalog.path(fqn)
        try:
            snap = delta.snapshot(path, version)
        except StorageError:
            raise
        except Exception as e:
            raise StorageError(f"cannot read table {fqn}: {e}", file=path) from None
        body, names = self._register_parts(fqn, snap.parts, snap.schema)
        self._point(fqn, body)
        for old in self._registered.pop(fqn, []):
            self.con.unregister(old)
        self._registered[fqn] = names
        self._parts[fqn] = list(snap.parts)
        self.attached[fqn] = (body, snap.version)
        self.rows[fqn] = snap.rows
        return snap.version

    def attached_parts(self, fqn: str) -> list[Any]:
        """The datasets behind an attached table (e.g. to check its files exist)."""
        return self._parts.get(fqn, [])

    def _register_parts(self, fqn: str, parts: list[Any], schema: Any) -> tuple[str, list[str]]:
        """Register datasets; returns the SELECT reading them all (a UNION ALL when the table's
        files come in several physical layouts, see storage.delta._parts)."""
        layer, name = fqn.split(".", 1)
        names = []
        for part in parts:
            internal = f"__medallion_{layer}__{name}__{next(self._counter)}"
            self.con.register(internal, part)
            names.append(internal)
        if not names:
            import pyarrow as pa

            internal = f"__medallion_{layer}__{name}__{next(self._counter)}"
            self.con.register(internal, pa.schema(schema).empty_table())
            names.append(internal)
        body = " UNION ALL ".join(f"SELECT * FROM {_ident(n)}" for n in names)
        return body, names

    def _point(self, fqn: str, body: str) -> None:
        layer, name = fqn.split(".", 1)
        self.con.execute(f"CREATE OR REPLACE VIEW {_ident(layer)}.{_ident(name)} AS {body}")

    @contextmanager
    def swapped(self, fqn: str, sources: list[tuple[list[Any], str | None]]) -> Iterator[None]:
        """Within the block, `<layer>.<name>` reads only `sources` — (datasets, filter) pairs,
        e.g. a table's new data files and the inserted rows of its change feed — instead of the
        attached table; the model SQL runs unchanged. A filter means change-feed rows: they are
        filtered on `_change_type`, which is then dropped."""
        from medallion.storage import delta

        schema = delta.open_table(self.catalog.path(fqn)).schema().to_arrow()
        bodies, names = [], []
        for parts, where in sources:
            body, registered = self._register_parts(fqn, parts, schema)
            names.extend(registered)
            if where:
                body = f"SELECT * EXCLUDE (_change_type) FROM ({body}) WHERE {where}"
            bodies.append(body)
        if not bodies:
            body, registered = self._register_parts(fqn, [], schema)
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
            self.con.execute(f"CREATE OR REPLACE VIEW {_ident(layer)}.{_ident(name)} AS {sql}")
        except Exception as e:
            raise ExecutionError(
                f"view {fqn} does not compile: {first_line(e)}", model=fqn
            ) from None
        self.views.add(fqn)

    # -- running SQL ----------------------------------------------------------------------

    def relation(self, sql: str) -> duckdb.DuckDBPyRelation:
        return self.con.sql(sql)

    def reader(self, rel: duckdb.DuckDBPyRelation) -> pa.RecordBatchReader:
        return rel.arrow(batch_size=BATCH_ROWS)

    def delta_safe(self, rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """Cast the relation's columns whose DuckDB type Delta cannot store (see table above)."""
        casts = {
            col: target
            for col, typ in zip(rel.columns, rel.types, strict=True)
            if (target := delta_safe_type(str(typ))) is not None
        }
        if not casts:
            return rel
        import sqlglot.expressions as exp

        projection = [
            exp.cast(exp.column(col, quoted=True), to=casts[col], dialect="duckdb").as_(
                col, quoted=True
            )
            if col in casts
            else exp.column(col, quoted=True)
            for col in rel.columns
        ]
        return rel.project(", ".join(p.sql(dialect="duckdb") for p in projection))

    def side_connection(self) -> duckdb.DuckDBPyConnection:
        """A second connection to the same in-memory database (same schemas and views), kept
        open for the engine's lifetime."""
        if self._side is None:
            self._side = self.con.cursor()
        return self._side

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
        self.con.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def first_line(err: BaseException) -> str:
    """DuckDB errors repeat context over several lines; the first one says what is wrong."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def duckdb_error_detail(err: BaseException) -> str:
    """The DuckDB message without Python-side noise, keeping the LINE pointer when present."""
    return str(err).strip()


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
