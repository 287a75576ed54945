"""Arrow arrays to and from Python values without pyarrow's pandas probe.

pyarrow imports pandas (0.25-0.5 s), wherever it is installed, when it meets a Python value whose
type it must check (`pa.array([...])`, `pa.table({...: [...]})`, `pa.scalar(...)`), when it
turns booleans into NumPy (`to_numpy`), and when it turns a time-zone-aware timestamp into a
Python datetime (`to_pylist`). A run needs none of that: these helpers build arrays from NumPy
buffers, and read rows with the time zone attached in Python. `tests/runner/test_imports.py`
checks that a run imports no pandas.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def from_numpy(values: Any, kind: pa.DataType | None = None) -> pa.Array:
    """A NumPy array of fixed-width values (int32 unless `kind` says otherwise: any type of the
    same width, e.g. int64 for timestamps) as an Arrow array without NULLs."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind or pa.int32(), len(values), [None, pa.py_buffer(values)])


def strings(texts: list[str | None]) -> pa.Array:
    """Python strings (None: NULL) as an Arrow string array."""
    import numpy as np
    import pyarrow as pa

    data = [b"" if t is None else t.encode() for t in texts]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    present = np.array([t is not None for t in texts], dtype=bool)
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(), len(data), [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )


def ints(numbers: list[int | None]) -> pa.Array:
    """Python integers (None: NULL) as an Arrow int64 array."""
    import numpy as np
    import pyarrow as pa

    present = np.array([v is not None for v in numbers], dtype=bool)
    data = np.array([0 if v is None else v for v in numbers], dtype=np.int64)
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(pa.int64(), len(data), [validity, pa.py_buffer(data)])


def instants(at: datetime, n: int, kind: pa.DataType) -> pa.Array:
    """The aware datetime `at`, `n` times, as a timestamp array of `kind` (microseconds)."""
    import numpy as np

    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return from_numpy(np.full(n, micros, dtype=np.int64), kind)


def repeat(array: pa.Array, n: int) -> pa.Array:
    """The first value of `array`, `n` times."""
    import numpy as np

    return array.take(from_numpy(np.zeros(n, dtype=np.int32)))


def bools_to_numpy(column: pa.Array | pa.ChunkedArray) -> Any:
    """A boolean Arrow column without NULLs as a NumPy int8 array of 0 and 1."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ints = pc.cast(column, pa.int8())
    if isinstance(ints, pa.ChunkedArray):
        ints = ints.combine_chunks()
    return np.frombuffer(ints.buffers()[1], dtype=np.int8, count=len(ints), offset=ints.offset)


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
