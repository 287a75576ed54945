"""medallion.arrays builds and reads Arrow arrays without pyarrow's pandas probe; the values must
be exactly what pyarrow's own conversions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa

from medallion import arrays


def test_strings_and_ints_with_nulls() -> None:
    texts = ["a", None, "", "é€", None]
    assert arrays.strings(texts).equals(pa.array(texts, pa.string()))
    assert arrays.strings([]).equals(pa.array([], pa.string()))
    numbers = [1, None, -(2**62), 0]
    assert arrays.ints(numbers).equals(pa.array(numbers, pa.int64()))


def test_numpy_values_repeats_and_instants() -> None:
    assert arrays.from_numpy(np.array([3, 1], dtype=np.int32)).to_pylist() == [3, 1]
    assert arrays.repeat(arrays.strings(["run"]), 3).to_pylist() == ["run"] * 3
    at = datetime(2026, 11, 22, 10, 30, 5, 123456, tzinfo=UTC)
    kind = pa.timestamp("us", tz="UTC")
    assert arrays.instants(at, 2, kind).equals(pa.array([at, at], kind))
    flags = pa.chunked_array([[True, False], [False, True, True]])
    assert arrays.bools_to_numpy(flags).tolist() == [1, 0, 0, 1, 1]
    assert arrays.bools_to_numpy(pa.array([True, False, True]).slice(1)).tolist() == [0, 1]


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
