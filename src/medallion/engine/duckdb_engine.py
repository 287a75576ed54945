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
        #: fqn -> (registered name, version) of attached Delta tables
        self.attached: dict[str, tuple[str, int | None]] = {}
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
        layer, name = fqn.split(".", 1)
        internal = f"__medallion_{layer}__{name}__{next(self._counter)}"
        self.con.register(internal, snap.dataset)
        self.con.execute(
            f"CREATE OR REPLACE VIEW {_ident(layer)}.{_ident(name)} "
            f"AS SELECT * FROM {_ident(internal)}"
        )
        old = self.attached.get(fqn)
        if old:
            self.con.unregister(old[0])
        self.attached[fqn] = (internal, snap.version)
        self.rows[fqn] = snap.rows
        return snap.version

    @contextmanager
    def swapped(self, fqn: str, dataset: Any) -> Iterator[None]:
        """Within the block, `<layer>.<name>` reads `dataset` (e.g. only a table's new files)
        instead of the attached table; the model SQL runs unchanged."""
        layer, name = fqn.split(".", 1)
        internal = f"__medallion_swap_{layer}__{name}__{next(self._counter)}"
        self.con.register(internal, dataset)
        self.con.execute(
            f"CREATE OR REPLACE VIEW {_ident(layer)}.{_ident(name)} "
            f"AS SELECT * FROM {_ident(internal)}"
        )
        try:
            yield
        finally:
            original = self.attached[fqn][0]
            self.con.execute(
                f"CREATE OR REPLACE VIEW {_ident(layer)}.{_ident(name)} "
                f"AS SELECT * FROM {_ident(original)}"
            )
            self.con.unregister(internal)

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
