"""A query's rows as an HTTP body, streamed batch by batch from an Arrow RecordBatchReader:
json (one JSON array of objects), csv (a header line, then rows), parquet (row groups as they
come) and xlsx (openpyxl's write-only mode: rows go to a temporary file, never a whole
workbook in memory; the zip is assembled at the end, so an xlsx starts streaming once built).

A read that fails half-way (a statement timeout, the row cap, an engine error) aborts the
response: the connection is closed before the body's end, so a client sees an incomplete
download, never a short result that looks whole.
"""

from __future__ import annotations

import json
import operator
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from fastapi.responses import StreamingResponse

if TYPE_CHECKING:
    import pyarrow as pa

MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMATS = tuple(MEDIA)
#: a `format=` parameter
Format = Literal["json", "csv", "parquet", "xlsx"]
#: Excel's sheet holds 1,048,576 rows, the header's included
XLSX_MAX_ROWS = 1_048_575
#: bytes a parquet or xlsx body is sent in
CHUNK = 1 << 16


def response(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: str, filename: str
) -> StreamingResponse:
    """The rows as a streamed response in `fmt` (a download named `filename`.<fmt> for all
    but json)."""
    writer = WRITERS[fmt]
    headers = {}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return StreamingResponse(writer(batches, schema), media_type=MEDIA[fmt], headers=headers)


# -- json -------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # as `medallion query --format json` writes it: a number
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    """Each batch's rows as JSON objects, built column by column: numbers, booleans and
    decimals are cast to text by Arrow (a decimal's digits exactly), strings escaped by the
    json module's C escaper; other types through the encoder."""
    keys = [json.dumps(name, ensure_ascii=False) + ":" for name in schema.names]
    first = True
    yield b"["
    for batch in batches:
        if batch.num_rows == 0:
            continue
        batch = _finite(batch)
        columns = [_json_texts(col) for col in batch.columns]
        rows = zip(*columns, strict=True)
        text = ",".join("{" + ",".join(map(operator.add, keys, values)) + "}" for values in rows)
        yield (text if first else "," + text).encode("utf-8")
        first = False
    yield b"]"


def _json_texts(col: pa.Array) -> list[str]:
    """The JSON text of each value of `col`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if any(
        check(t)
        for check in (
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_decimal,
            pa.types.is_boolean,
        )
    ):
        return pc.fill_null(pc.cast(col, pa.string()), "null").to_pylist()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ["null" if v is None else _escape(v) for v in col.to_pylist()]
    return [_encode(v) for v in col.to_pylist()]


_escape = json.encoder.encode_basestring  # type: ignore[attr-defined]
_encode = json.JSONEncoder(default=_json_value, ensure_ascii=False, allow_nan=False).encode


def _finite(batch: pa.RecordBatch) -> pa.RecordBatch:
    """NaN and infinities as null: JSON has no number for them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    floats = [i for i, f in enumerate(batch.schema) if pa.types.is_floating(f.type)]
    if not floats:
        return batch
    columns = list(batch.columns)
    for i in floats:
        columns[i] = pc.if_else(pc.is_finite(columns[i]), columns[i], None)
    return pa.record_batch(columns, schema=batch.schema)


# -- csv --------------------------------------------------------------------------------------


def csv_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = _Pipe()
    with pacsv.CSVWriter(sink, _csv_schema(schema)) as writer:
        for batch in batches:
            writer.write_batch(_csv_batch(batch, pa))
            yield from sink.take()
    yield from sink.take()


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, _csv_type(f.type, pa)) for f in schema])


def _csv_type(t: pa.DataType, pa: Any) -> pa.DataType:
    # nested values have no CSV form: written as their JSON text
    if pa.types.is_nested(t):
        return pa.string()
    if pa.types.is_dictionary(t) and _is_text(t.value_type, pa):
        return t.value_type  # decoded, so its cells can be checked for formulas
    return t


#: a text cell a spreadsheet would read as a formula (OWASP's CSV injection list: = + - @,
#: tab, carriage return) ...
_FORMULA_START = r"^([=+\-@\t\r])"
#: ... is written with a leading apostrophe: Excel and LibreOffice show it as text
_AS_TEXT = r"'\1"


def _csv_batch(batch: pa.RecordBatch, pa: Any) -> pa.RecordBatch:
    """The batch as CSV cells: nested values as JSON text, and every text cell that starts
    like a formula prefixed with an apostrophe. A download opens in a spreadsheet, where an
    ingested `=HYPERLINK(...)` would run (the xlsx download stores such cells as text); the
    CLI's `query --format csv` writes the data unchanged."""
    import pyarrow.compute as pc

    columns = []
    for col, f in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_nested(f.type):
            text = [
                None if v is None else json.dumps(v, default=_json_value) for v in col.to_pylist()
            ]
            col = pa.array(text, pa.string())
        if pa.types.is_dictionary(col.type) and _is_text(col.type.value_type, pa):
            col = col.cast(col.type.value_type)
        if _is_text(col.type, pa):
            col = pc.replace_substring_regex(col, pattern=_FORMULA_START, replacement=_AS_TEXT)
        columns.append(col)
    return pa.record_batch(columns, names=batch.schema.names)


def _is_text(t: pa.DataType, pa: Any) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


# -- parquet ----------------------------------------------------------------------------------


def parquet_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    sink = _Pipe()
    with pq.ParquetWriter(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            if sink.size >= CHUNK:
                yield from sink.take()
    yield from sink.take()


# -- xlsx -------------------------------------------------------------------------------------


def xlsx_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("rows")
    sheet.append([_text_cell(sheet, name) for name in schema.names])
    cells = [_xlsx_cell(f.type, sheet) for f in schema]
    written = 0
    for batch in batches:
        written += batch.num_rows
        if written > XLSX_MAX_ROWS:
            raise ValueError(f"an Excel sheet holds {XLSX_MAX_ROWS} rows: ask for fewer (limit=)")
        columns = [col.to_pylist() for col in batch.columns]
        for row in zip(*columns, strict=True):
            sheet.append([cell(v) for cell, v in zip(cells, row, strict=True)])
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as out:
        book.save(out)
        out.seek(0)
        while chunk := out.read(CHUNK):
            yield chunk


def _text_cell(sheet: Any, value: str | None) -> Any:
    """Text as text: openpyxl would store a value starting with '=' as a live formula (an
    ingested `=HYPERLINK(...)` would run in the reader's Excel)."""
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell


def _xlsx_cell(t: pa.DataType, sheet: Any) -> Callable[[Any], Any]:
    import pyarrow as pa

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return lambda v: _text_cell(sheet, v)
    if pa.types.is_timestamp(t) and t.tz is not None:
        # Excel has no time zones: an instant is written as its UTC wall time
        return lambda v: None if v is None else v.astimezone(UTC).replace(tzinfo=None)
    if pa.types.is_nested(t):
        return lambda v: None if v is None else json.dumps(v, default=_json_value)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return lambda v: None if v is None else v.hex()
    if pa.types.is_duration(t):
        return lambda v: None if v is None else v.total_seconds()
    return _same


def _same(value: Any) -> Any:
    return value


WRITERS: dict[str, Callable[[Iterable[pa.RecordBatch], pa.Schema], Iterator[bytes]]] = {
    "json": json_rows,
    "csv": csv_rows,
    "parquet": parquet_rows,
    "xlsx": xlsx_rows,
}


class _Pipe:
    """A write-only file the Arrow writers write into; `take()` hands over what was written."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0
        self._pos = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> Iterator[bytes]:
        if self._parts:
            data, self._parts, self.size = b"".join(self._parts), [], 0
            yield data
