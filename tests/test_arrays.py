"""medallion.arrays builds and reads Arrow arrays without pyarrow's pandas probe; the values must
be exactly what pyarrow's own conversions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa

from medallion import arrays
from medallion.quality.expectations import OK_PREFIX, _failed_lists


def test_strings_and_ints_with_nulls() -> None:
    texts = ["a", None, "", "é€", None, "x", "y", "z", "w"]  # the bitmap spans two bytes
    assert arrays.strings(texts).equals(pa.array(texts, pa.string()))
    assert arrays.strings([]).equals(pa.array([], pa.string()))
    numbers = [1, None, -(2**62), 0, None, 5, 6, 7, 8, None]
    assert arrays.ints(numbers).equals(pa.array(numbers, pa.int64()))


def test_fixed_width_values_repeats_and_instants() -> None:
    assert arrays.fixed([3, 1], pa.int32()).equals(pa.array([3, 1], pa.int32()))
    assert arrays.fixed(range(2**40, 2**40 + 2), pa.int64()).to_pylist() == [2**40, 2**40 + 1]
    assert arrays.repeat(arrays.strings(["run"]), 3).to_pylist() == ["run"] * 3
    assert arrays.repeat(arrays.strings(["run"]), 0).to_pylist() == []
    at = datetime(2026, 11, 22, 10, 30, 5, 123456, tzinfo=UTC)
    kind = pa.timestamp("us", tz="UTC")
    assert arrays.instants(at, 2, kind).equals(pa.array([at, at], kind))


def test_rows_and_values_give_aware_timestamps_in_utc() -> None:
    east = timezone(timedelta(hours=2))
    when = datetime(2026, 1, 1, 12, 0, tzinfo=east)
    table = pa.table(
        {
            "at": pa.array([when, None], pa.timestamp("us", tz="+02:00")),
            "naive": pa.array([datetime(2026, 1, 1), None], pa.timestamp("us")),
            "n": [1, 2],
        }
    )
    rows = arrays.rows(table)
    assert rows == [
        {"at": when.astimezone(UTC), "naive": datetime(2026, 1, 1), "n": 1},
        {"at": None, "naive": None, "n": 2},
    ]
    assert rows[0]["at"].tzinfo is UTC
    assert arrays.rows(table.to_batches()[0]) == rows
    assert arrays.values(table.column("at")) == [when.astimezone(UTC), None]
    assert arrays.values(table.column("n")) == [1, 2]


def test_failed_expectation_lists_follow_rows_and_header_order() -> None:
    oks = {
        f"{OK_PREFIX}0": [False, True, False, True],
        f"{OK_PREFIX}1": [True, True, False, False],
        f"{OK_PREFIX}2": [False, False, False, True],
    }
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3, 4], **oks})
    assert _failed_lists(batch.slice(0), ["a", "b", "c"]).to_pylist() == [
        ["a", "c"],
        ["c"],
        ["a", "b", "c"],
        ["b"],
    ]
    assert _failed_lists(batch.slice(1, 2), ["a", "b", "c"]).to_pylist() == [["c"], ["a", "b", "c"]]
