"""Arrow arrays to and from Python values without pyarrow's pandas probe.

pyarrow imports pandas (0.25-0.5 s), wherever it is installed, when it meets a Python value whose
type it must check (`pa.array([...])`, `pa.table({...: [...]})`, `pa.scalar(...)`), when it
turns booleans into NumPy (`to_numpy`), and when it turns a time-zone-aware timestamp into a
Python datetime (`to_pylist`). A run needs none of that: these helpers build arrays from buffers
(the standard library's `array`: NumPy is not a dependency of medallion, nor of pyarrow), and
read rows with the time zone attached in Python. `tests/runner/test_imports.py` checks that a
run imports no pandas.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: `array` type codes by byte width
_CODES = {4: "i", 8: "q"}


def fixed(values: Iterable[int], kind: pa.DataType) -> pa.Array:
    """Python integers as an Arrow array without NULLs of the fixed-width `kind`: a 32- or
    64-bit integer type, or a type stored as one (timestamps: their count since the epoch)."""
    import pyarrow as pa

    data = array(_CODES[kind.bit_width // 8], values)
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])


def ints(numbers: list[int | None]) -> pa.Array:
    """Python integers (None: NULL) as an Arrow int64 array."""
    import pyarrow as pa

    data = array("q", (0 if v is None else v for v in numbers))
    valid = _validity([v is not None for v in numbers])
    return pa.Array.from_buffers(pa.int64(), len(data), [valid, pa.py_buffer(data)])


def strings(texts: list[str | None]) -> pa.Array:
    """Python strings (None: NULL) as an Arrow string array."""
    import pyarrow as pa

    data = [b"" if t is None else t.encode() for t in texts]
    offsets = array("i", accumulate((len(d) for d in data), initial=0))
    valid = _validity([t is not None for t in texts])
    return pa.Array.from_buffers(
        pa.string(), len(data), [valid, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )


def instants(at: datetime, n: int, kind: pa.DataType) -> pa.Array:
    """The aware datetime `at`, `n` times, as a timestamp array of `kind` (microseconds)."""
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return fixed(array("q", [micros]) * n, kind)


def repeat(values: pa.Array, n: int) -> pa.Array:
    """The first value of `values`, `n` times."""
    import pyarrow as pa

    return values.take(fixed(array("i", [0]) * n, pa.int32()))


def rows(data: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """`data.to_pylist()`, time-zone-aware timestamps as UTC datetimes (the instant is the
    same; DuckDB runs in UTC)."""
    zoned = _zoned(data.schema)
    if not zoned:
        return data.to_pylist()
    out = _naive(data, zoned).to_pylist()
    for row in out:
        for name in zoned:
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=UTC)
    return out


def values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """`column.to_pylist()`, time-zone-aware timestamps as UTC datetimes."""
    import pyarrow as pa

    kind = column.type
    if not (pa.types.is_timestamp(kind) and kind.tz):
        return column.to_pylist()
    naive = column.cast(pa.timestamp(kind.unit))
    return [None if v is None else v.replace(tzinfo=UTC) for v in naive.to_pylist()]


def _validity(present: list[bool]) -> pa.Buffer | None:
    """An Arrow validity bitmap (least significant bit first), None when nothing is NULL."""
    import pyarrow as pa

    if all(present):
        return None
    bits = bytearray((len(present) + 7) // 8)
    for i, p in enumerate(present):
        if p:
            bits[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(bytes(bits))


def _zoned(schema: pa.Schema) -> list[str]:
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz]


def _naive(data: pa.Table | pa.RecordBatch, zoned: list[str]) -> pa.Table | pa.RecordBatch:
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit), f.nullable) if f.name in zoned else f
        for f in data.schema
    ]
    return data.cast(pa.schema(fields))
