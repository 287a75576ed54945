"""The wire encodings checked against PostgreSQL's own forms: DataRows built in Arrow compute
equal the ones built value by value, text forms are PostgreSQL's, binary numerics round-trip,
and statements split on semicolons outside quotes and comments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pyarrow as pa

from medallion.serve.pgwire import statements, types


def test_arrow_datarows_equal_the_python_ones_with_nulls_and_long_values() -> None:
    batch = pa.record_batch(
        {
            "i": pa.array([1, None, -3], pa.int64()),
            "s": pa.array(["a", "x" * 70_000, None]),
            "d": pa.array([Decimal("1.50"), None, Decimal("-0.01")], pa.decimal128(10, 2)),
            "t": pa.array([datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 10, 0, 0, 500000), None]),
            "b": pa.array([True, False, None]),
        }
    )
    cols = types.columns(batch.schema)
    short = batch.slice(0, 1)
    assert types.data_rows(short, cols) == types._data_rows_python(short, cols)
    assert types.data_rows(batch, cols) == types._data_rows_python(batch, cols)  # the long one
    data, n = types.data_rows(batch.slice(2, 1), cols)
    assert n == 1
    # D, length, 5 columns: 2 bytes '-3', NULL, '-0.01', NULL, NULL
    assert data == (
        b"D" + (4 + 2 + 4 + 2 + 4 + 4 + 5 + 4 + 4).to_bytes(4, "big") + b"\x00\x05"
        + b"\x00\x00\x00\x02-3" + types.NULL_CELL + b"\x00\x00\x00\x05-0.01"
        + types.NULL_CELL + types.NULL_CELL
    )  # fmt: skip


def test_text_forms_are_postgres_ones() -> None:
    def text(arr: pa.Array) -> list[bytes | None]:
        out = types.text_encoder(arr.type)(arr)
        return out.to_pylist() if isinstance(out, pa.Array) else out

    assert text(pa.array([True, False, None])) == [b"t", b"f", None]
    assert text(pa.array([float("inf"), float("-inf"), float("nan"), 1.5])) == [
        b"Infinity", b"-Infinity", b"NaN", b"1.5",
    ]  # fmt: skip
    stamps = [datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 10, 0, 0, 250000)]
    assert text(pa.array(stamps)) == [b"2024-01-01 10:00:00", b"2024-01-01 10:00:00.25"]
    assert text(pa.array(stamps[:1], pa.timestamp("us", "UTC"))) == [b"2024-01-01 10:00:00+00"]
    assert text(pa.array([[1, 2], None], pa.list_(pa.int64()))) == [b"[1, 2]", None]
    assert text(pa.array([b"\x00\xff"])) == [b"\\x00ff"]


def test_binary_numeric_round_trips() -> None:
    for value in ("0", "1.50", "-20.25", "12345678.9012", "0.0001", "100000000", "-0.00"):
        encoded = types._numeric_binary(Decimal(value))
        assert types._numeric_from_binary(encoded) == Decimal(value)


def test_statements_split_outside_quotes_and_comments() -> None:
    sql = "select 'a;b' as x; -- c;d\nselect \"e;f\" from t /* g; */ ;; show timezone"
    assert [s.keyword for s in statements.split(sql)] == ["SELECT", "SELECT", "SHOW"]
    assert statements.split(sql)[0].text == "select 'a;b' as x"
    assert statements.split("  ;  -- nothing\n") == []
    assert statements.parse_set("SET TIME ZONE 'UTC'") == ("timezone", "UTC")
    assert statements.parse_set("set application_name to 'my app'") == (
        "application_name",
        "my app",
    )
    assert statements.is_catalog("select * from pg_catalog.pg_class")
    assert not statements.is_catalog("select * from gold.t join pg_class on true")
    # set-returning functions the drivers' probes use stay catalog probes
    assert statements.is_catalog("select * from pg_catalog.unnest(array[1, 2])")
    assert statements.is_catalog("select * from generate_series(1, 3)")
    # what reaches files, settings or variables goes to the read policy instead
    for sql in (
        "select * from read_csv('data/orders.csv')",
        "select * from duckdb_settings()",
        "select * from pg_class where relname = current_setting('x')",
        "select getvariable('x')",
        "explain select * from pg_catalog.pg_class",
    ):
        assert not statements.is_catalog(sql), sql


def test_unnamed_calls_are_named_as_postgres_names_them() -> None:
    assert types.column_name("count_star()") == "count"
    assert types.column_name("sum(amount)") == "sum"
    assert types.column_name("round(sum(x), 2)") == "round"
    assert types.column_name("total") == "total"
    assert types.column_name("a + b") == "a + b"
