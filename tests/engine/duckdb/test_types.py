"""The Arrow -> DuckDB type names the engine casts table columns to."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from medallion.engine.duckdb.types import _flat_type, duckdb_types

FLAT = [
    pa.bool_(),
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.float32(),
    pa.float64(),
    pa.string(),
    pa.large_string(),
    pa.string_view(),
    pa.binary(),
    pa.large_binary(),
    pa.date32(),
    pa.timestamp("us"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("us", tz="Europe/Paris"),
    pa.decimal128(12, 2),
    pa.decimal128(38, 10),
    pa.decimal128(4, 4),
]


def duckdb_own(arrow_type: pa.DataType) -> str:
    rel = duckdb.connect().from_arrow(pa.schema([pa.field("c", arrow_type)]).empty_table())
    return str(rel.types[0])


@pytest.mark.parametrize("arrow_type", FLAT, ids=str)
def test_flat_types_are_named_as_duckdb_names_them(arrow_type: pa.DataType) -> None:
    assert _flat_type(arrow_type) == duckdb_own(arrow_type)


def test_other_types_are_left_to_duckdb() -> None:
    schema = pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("at", pa.timestamp("ns", tz="UTC")),
            pa.field("n", pa.uint32()),
        ]
    )
    assert [_flat_type(f.type) for f in schema][1:] == [None, None, None]
    assert duckdb_types(duckdb.connect(), schema) == {
        "id": "BIGINT",
        "tags": "VARCHAR[]",
        "at": duckdb_own(pa.timestamp("ns", tz="UTC")),
        "n": "UINTEGER",
    }
