"""Types between DuckDB, Arrow and Delta: what Delta cannot store and what it is stored as, and
DuckDB's name for each Arrow type of a Delta table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

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


#: DuckDB's type for the flat Arrow types a Delta table's schema is made of (tests/engine checks
#: each against DuckDB's own mapping); timestamps with a zone and decimals are in _flat_type
_FLAT_TYPES = {
    "bool": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "string_view": "VARCHAR",
    "binary": "BLOB",
    "large_binary": "BLOB",
    "date32[day]": "DATE",
    "timestamp[us]": "TIMESTAMP",
}


def _flat_type(arrow_type: pa.DataType) -> str | None:
    import pyarrow as pa

    if (name := _FLAT_TYPES.get(str(arrow_type))) is not None:
        return name
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us" and arrow_type.tz:
        return "TIMESTAMP WITH TIME ZONE"
    if pa.types.is_decimal128(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
    return None


def duckdb_types(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> dict[str, str]:
    """Column -> DuckDB type of an Arrow schema, as DuckDB itself maps it. Flat schemas (most
    tables) are mapped here, which spares DuckDB's binding; others are asked of DuckDB with an
    empty table (built from a reader: `Schema.empty_table()` makes pyarrow import pandas, 0.25 s,
    wherever it is installed)."""
    import pyarrow as pa

    flat = {f.name: _flat_type(f.type) for f in schema}
    if None not in flat.values():
        return flat  # type: ignore[return-value]
    schema = pa.schema(schema)
    rel = con.from_arrow(pa.RecordBatchReader.from_batches(schema, []).read_all())
    return {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}
