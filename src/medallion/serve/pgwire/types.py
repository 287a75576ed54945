"""Arrow types as PostgreSQL types, result columns encoded for DataRow, Bind parameters decoded.

A batch is encoded column by column with Arrow compute (a cast to text does the digits of a
million numbers in C), then each cell is length-prefixed once and rows are joined: the only
per-row Python work is one join. Nested values (lists, structs, maps) are sent as JSON text."""

from __future__ import annotations

import functools
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

BOOL, BYTEA, INT8, INT2, INT4, TEXT, OID = 16, 17, 20, 21, 23, 25, 26
JSON, FLOAT4, FLOAT8, UNKNOWN, VARCHAR, BPCHAR = 114, 700, 701, 705, 1043, 1042
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID = (
    1082,
    1083,
    1114,
    1184,
    1186,
    1700,
    2950,
)

#: OID -> (type name, typlen) for RowDescription and the catalog
TYPES: dict[int, tuple[str, int]] = {
    BOOL: ("bool", 1),
    BYTEA: ("bytea", -1),
    INT8: ("int8", 8),
    INT2: ("int2", 2),
    INT4: ("int4", 4),
    TEXT: ("text", -1),
    OID: ("oid", 4),
    JSON: ("json", -1),
    FLOAT4: ("float4", 4),
    FLOAT8: ("float8", 8),
    VARCHAR: ("varchar", -1),
    DATE: ("date", 4),
    TIME: ("time", 8),
    TIMESTAMP: ("timestamp", 8),
    TIMESTAMPTZ: ("timestamptz", 8),
    INTERVAL: ("interval", 16),
    NUMERIC: ("numeric", -1),
    UUID: ("uuid", 16),
}

NULL_CELL = b"\xff\xff\xff\xff"

#: a column's values encoded: an Arrow binary array, or bytes (None for NULL) made in Python
Cells = Any
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_I64 = struct.Struct("!q")
_PG_EPOCH_DAYS = 10957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000
_PG_EPOCH = date(2000, 1, 1)


def pg_type(t: pa.DataType) -> tuple[int, int]:
    """(type OID, typmod) of an Arrow type."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return BOOL, -1
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return INT2, -1
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return INT4, -1
    if pa.types.is_integer(t):
        return (NUMERIC, -1) if pa.types.is_uint64(t) else (INT8, -1)
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return FLOAT4, -1
    if pa.types.is_float64(t):
        return FLOAT8, -1
    if pa.types.is_decimal(t):
        return NUMERIC, ((t.precision << 16) | t.scale) + 4
    if pa.types.is_date(t):
        return DATE, -1
    if pa.types.is_timestamp(t):
        return (TIMESTAMPTZ if t.tz else TIMESTAMP), -1
    if pa.types.is_time(t):
        return TIME, -1
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return BYTEA, -1
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return INTERVAL, -1
    return TEXT, -1  # strings, and nested values as JSON text


def type_name(oid: int) -> str:
    return TYPES.get(oid, ("text", -1))[0]


# -- text format -----------------------------------------------------------------------------


def _plain(arr: pa.Array) -> Cells:
    import pyarrow as pa

    return arr.cast(pa.string()).cast(pa.binary())


def _bool(arr: pa.Array) -> Cells:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(arr, b"t", b"f").cast(pa.binary())


def _float(arr: pa.Array) -> Cells:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = arr.cast(pa.string())
    if pc.any(pc.is_nan(arr).fill_null(False)).as_py() or pc.any(pc.is_inf(arr)).as_py():
        text = pc.replace_substring_regex(text, "^(-?)inf$", r"\1Infinity")
        text = pc.replace_substring(text, "nan", "NaN")
    return text.cast(pa.binary())


def _timestamp(arr: pa.Array) -> Cells:
    import pyarrow as pa
    import pyarrow.compute as pc

    naive = arr.type.tz is None
    if not naive:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    if arr.type.unit != "s" and not (pc.max(pc.subsecond(arr)).as_py() or 0):
        # whole seconds (the common case): cast, not a regex over a million strings
        text = arr.cast(pa.timestamp("s"), safe=False).cast(pa.string())
    else:
        text = _trim_fraction(arr.cast(pa.string()))
    if not naive:
        text = pc.binary_join_element_wise(text, "+00", "")
    return text.cast(pa.binary())


def _timestamptz_in(zone: str) -> Callable[[pa.Array], Cells]:
    """timestamptz as PostgreSQL writes it for a session whose TimeZone is `zone`: the local
    time there and its offset at that instant (`2024-01-01 13:00:00+01`, `+05:30` when the
    offset has minutes), daylight saving included."""

    def encode(arr: pa.Array) -> Cells:
        import pyarrow as pa
        import pyarrow.compute as pc

        unit = arr.type.unit
        utc = arr.cast(pa.timestamp(unit))
        local = pc.local_timestamp(arr.cast(pa.timestamp(unit, zone)))
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
        offsets = pc.divide(pc.subtract(local.cast(pa.int64()), utc.cast(pa.int64())), per_second)
        # a zone has few offsets: format each once, then pick per row
        distinct = pc.unique(offsets.drop_null())
        suffixes = pa.array([_pg_offset(o) for o in distinct.to_pylist()], pa.string())
        suffix = pc.take(suffixes, pc.index_in(offsets, distinct))
        text = _timestamp(local).cast(pa.string())
        return pc.binary_join_element_wise(text, suffix, "").cast(pa.binary())

    return encode


def _pg_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{sign}{hours:02d}"
    if minutes or secs:
        out += f":{minutes:02d}"
    if secs:
        out += f":{secs:02d}"
    return out


def _trim_fraction(text: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    text = pc.replace_substring_regex(text, r"(\.\d*[1-9])0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.0+$", "")


def _time(arr: pa.Array) -> Cells:
    import pyarrow as pa

    return _trim_fraction(arr.cast(pa.string())).cast(pa.binary())


def _bytea(arr: pa.Array) -> Cells:
    return [None if v is None else b"\\x" + v.hex().encode() for v in arr.to_pylist()]


def _json(arr: pa.Array) -> Cells:
    return [
        None if v is None else json.dumps(v, default=_json_default).encode()
        for v in arr.to_pylist()
    ]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _pystr(arr: pa.Array) -> Cells:
    from medallion.errors import display_value

    return [None if v is None else display_value(v).strip("'").encode() for v in arr.to_pylist()]


def text_encoder(t: pa.DataType) -> Callable[[pa.Array], Cells]:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return _bool
    if pa.types.is_floating(t):
        return _float
    if pa.types.is_timestamp(t):
        return _timestamp
    if pa.types.is_time(t):
        return _time
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return _bytea
    if pa.types.is_nested(t):
        return _json
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return _pystr
    if pa.types.is_null(t):
        return lambda arr: [None] * len(arr)
    return _plain  # integers, decimals, dates, strings


# -- binary format ---------------------------------------------------------------------------


def _numeric_binary(value: Decimal) -> bytes:
    """PostgreSQL's binary numeric: base-10000 digits, weight, sign, display scale."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN
        return struct.pack("!hhhh", 0, 0, 0xC000, 0)
    dscale = max(0, -exponent)
    text = "".join(map(str, digits))
    int_len = len(text) + exponent  # digits before the decimal point
    if int_len > 0:
        int_part, frac_part = text[:int_len], text[int_len:]
    else:
        int_part, frac_part = "", "0" * (-int_len) + text
    int_part = int_part.lstrip("0")
    int_part = "0" * (-len(int_part) % 4) + int_part
    frac_part = frac_part + "0" * (-len(frac_part) % 4)
    groups = [int(int_part[i : i + 4]) for i in range(0, len(int_part), 4)]
    weight = len(groups) - 1
    groups += [int(frac_part[i : i + 4]) for i in range(0, len(frac_part), 4)]
    while groups and groups[-1] == 0:
        groups.pop()
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    if not groups:
        weight = 0
    head = struct.pack("!hhHh", len(groups), weight, 0x4000 if sign else 0, dscale)
    return head + b"".join(struct.pack("!H", g) for g in groups)


def binary_encoder(t: pa.DataType) -> Callable[[pa.Array], Cells]:
    import pyarrow as pa
    import pyarrow.compute as pc

    oid, _ = pg_type(t)

    def packed(fmt: str, cast: Callable[[pa.Array], pa.Array] | None = None):
        s = struct.Struct(fmt)

        def encode(arr: pa.Array) -> Cells:
            values = (cast(arr) if cast else arr).to_pylist()
            return [None if v is None else s.pack(v) for v in values]

        return encode

    if oid == BOOL:
        return packed("!?")
    if oid == INT2:
        return packed("!h")
    if oid == INT4:
        return packed("!i")
    if oid == INT8:
        return packed("!q")
    if oid == FLOAT4:
        return packed("!f")
    if oid == FLOAT8:
        return packed("!d")
    if oid == DATE:
        return packed(
            "!i", lambda a: pc.subtract(a.cast(pa.date32()).cast(pa.int32()), _PG_EPOCH_DAYS)
        )
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        return packed(
            "!q",
            lambda a: pc.subtract(
                a.cast(pa.timestamp("us", a.type.tz)).cast(pa.int64()), _PG_EPOCH_US
            ),
        )
    if oid == TIME:
        return packed("!q", lambda a: a.cast(pa.time64("us")).cast(pa.int64()))
    if oid == NUMERIC and pa.types.is_decimal(t):
        return lambda arr: [None if v is None else _numeric_binary(v) for v in arr.to_pylist()]
    if oid == NUMERIC:
        return lambda arr: [
            None if v is None else _numeric_binary(Decimal(v)) for v in arr.to_pylist()
        ]
    if oid == BYTEA:
        return lambda arr: arr.cast(pa.binary())
    text = text_encoder(t)
    return text  # text, JSON text and intervals: the text bytes are the binary form of text


@dataclass
class Column:
    name: str
    oid: int
    typmod: int
    encode: Callable[[pa.Array], Cells]
    binary: bool


def columns(
    schema: pa.Schema, formats: list[int] | None = None, zone: str | None = None
) -> list[Column]:
    """The result columns of a schema; `formats` are Bind's result format codes (none: text, one:
    all, else one per column). `zone`: the session's TimeZone when it is not UTC, in which
    timestamptz text is written (binary timestamptz is UTC microseconds whatever the zone)."""
    import pyarrow as pa

    out = []
    for i, field in enumerate(schema):
        t = field.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        fmt = 0
        if formats:
            fmt = formats[0] if len(formats) == 1 else formats[i] if i < len(formats) else 0
        oid, typmod = pg_type(t)
        if fmt == 1:
            encoder = binary_encoder(t)
        elif zone is not None and pa.types.is_timestamp(t) and t.tz is not None:
            encoder = _timestamptz_in(zone)
        else:
            encoder = text_encoder(t)
        out.append(Column(column_name(field.name), oid, typmod, encoder, fmt == 1))
    return out


_CALL = re.compile(r"([A-Za-z_]\w*)\(.*\)", re.S)


def column_name(name: str) -> str:
    """A result column as PostgreSQL names it: an unnamed call by its function (`count(*)` is
    `count`, DuckDB says `count_star()`; `sum(amount)` is `sum`)."""
    m = _CALL.fullmatch(name)
    if m is None:
        return name
    return "count" if m.group(1) == "count_star" else m.group(1)


def row_description(cols: list[Column]) -> bytes:
    parts = [_I16.pack(len(cols))]
    for c in cols:
        typlen = TYPES.get(c.oid, ("", -1))[1]
        parts.append(
            c.name.encode()
            + b"\0"
            + struct.pack("!ihihih", 0, 0, c.oid, typlen, c.typmod, int(c.binary))
        )
    return b"".join(parts)


def data_rows(batch: pa.RecordBatch, cols: list[Column]) -> tuple[bytes, int]:
    """The DataRow messages of a batch, as one buffer, and how many rows it holds.

    Built in Arrow compute, with no Python work per row: each cell gets its int32 length
    prefix (a `take` from a table of prefixes, NULL as -1), and each row its header ('D', the
    message length, the column count) the same way; one variadic join makes the messages."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    head = _I16.pack(len(cols))
    if not cols:
        return (b"D" + _I32.pack(6) + head) * n, n
    cells = []
    row_len = None
    for c, arr in zip(cols, batch.columns, strict=True):
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        values = c.encode(arr)
        if not isinstance(values, pa.Array):
            values = pa.array(values, pa.binary())
        lengths = pc.binary_length(values)
        longest = pc.max(lengths).as_py() or 0
        if longest >= _PREFIX_LIMIT:
            return _data_rows_python(batch, cols)
        prefixes = pc.take(_prefixes(longest), pc.add(pc.fill_null(lengths, -1), 1))
        cells.append(pc.binary_join_element_wise(prefixes, values.fill_null(b""), b""))
        cell_len = pc.add(pc.fill_null(lengths, 0), 4)
        row_len = cell_len if row_len is None else pc.add(row_len, cell_len)
    assert row_len is not None
    longest_row = pc.max(row_len).as_py() or 0
    if longest_row + 6 >= _PREFIX_LIMIT or pc.sum(row_len).as_py() + 7 * n >= 1 << 30:
        return _data_rows_python(batch, cols)
    headers = pc.take(_headers(longest_row, head), row_len)
    rows = pc.binary_join_element_wise(headers, *cells, b"")
    offsets = rows.buffers()[1]
    start, end = (
        int.from_bytes(offsets[i * 4 : i * 4 + 4], "little") for i in (rows.offset, rows.offset + n)
    )
    return rows.buffers()[2].to_pybytes()[start:end], n


#: cells and rows longer than this are joined in Python (the prefix tables stay small)
_PREFIX_LIMIT = 1 << 16
_PREFIX_TABLE: list[Any] = [None]
_HEADER_TABLES: dict[bytes, Any] = {}


def _prefixes(longest: int) -> pa.Array:
    """int32 length prefixes: index i is the prefix of length i - 1 (index 0: NULL's -1)."""
    import pyarrow as pa

    table = _PREFIX_TABLE[0]
    if table is None or len(table) < longest + 2:
        size = max(256, 1 << (longest + 2).bit_length())
        table = pa.array([_I32.pack(i - 1) for i in range(size)], pa.binary())
        _PREFIX_TABLE[0] = table
    return table


def _headers(longest: int, head: bytes) -> pa.Array:
    """DataRow headers: index i is the header of a row whose cells take i bytes."""
    import pyarrow as pa

    table = _HEADER_TABLES.get(head)
    if table is None or len(table) < longest + 1:
        size = max(256, 1 << (longest + 1).bit_length())
        table = pa.array([b"D" + _I32.pack(i + 6) + head for i in range(size)], pa.binary())
        _HEADER_TABLES[head] = table
    return table


def _encoded(batch: pa.RecordBatch, cols: list[Column]) -> list[list[Any]]:
    """Each column's values in their text (or binary) wire form, None for NULL."""
    import pyarrow as pa

    out = []
    for c, arr in zip(cols, batch.columns, strict=True):
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        values = c.encode(arr)
        out.append(values.to_pylist() if isinstance(values, pa.Array) else values)
    return out


def _data_rows_python(batch: pa.RecordBatch, cols: list[Column]) -> tuple[bytes, int]:
    """The same messages joined in Python (rows with very long values)."""

    pack = _I32.pack
    cells = [
        [NULL_CELL if v is None else pack(len(v)) + v for v in values]
        for values in _encoded(batch, cols)
    ]
    head = _I16.pack(len(cols))
    out = []
    for row in zip(*cells, strict=True):
        body = b"".join(row)
        out.append(b"D" + pack(len(body) + 6) + head + body)
    return b"".join(out), batch.num_rows


# -- parameters ------------------------------------------------------------------------------


def decode_param(data: bytes | None, oid: int, binary: bool) -> Any:
    """A Bind parameter as a Python value (None for NULL)."""
    if data is None:
        return None
    if binary:
        if oid == BOOL:
            return data != b"\0"
        if oid in (INT2, INT4, INT8, OID):
            return int.from_bytes(data, "big", signed=oid != OID)
        if oid == FLOAT4:
            return struct.unpack("!f", data)[0]
        if oid == FLOAT8:
            return struct.unpack("!d", data)[0]
        if oid == DATE:
            return _PG_EPOCH + timedelta(days=_I32.unpack(data)[0])
        if oid in (TIMESTAMP, TIMESTAMPTZ):
            us = _I64.unpack(data)[0]
            value = datetime(2000, 1, 1) + timedelta(microseconds=us)
            return value.replace(tzinfo=UTC) if oid == TIMESTAMPTZ else value
        if oid == NUMERIC:
            return _numeric_from_binary(data)
        if oid == BYTEA:
            return bytes(data)
        if oid == UUID:
            import uuid

            return str(uuid.UUID(bytes=bytes(data)))
        return data.decode()
    text = data.decode()
    if oid in (INT2, INT4, INT8, OID):
        return int(text)
    if oid in (FLOAT4, FLOAT8):
        return float(text)
    if oid == NUMERIC:
        return Decimal(text)
    if oid == BOOL:
        return text.lower() in ("t", "true", "1", "on", "yes", "y")
    if oid == DATE:
        return date.fromisoformat(text)
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        return datetime.fromisoformat(text.replace(" ", "T"))
    if oid == BYTEA and text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    return text


def _numeric_from_binary(data: bytes) -> Decimal:
    ndigits, weight, sign, dscale = struct.unpack_from("!hhHh", data)
    if sign == 0xC000:
        return Decimal("NaN")
    groups = struct.unpack_from(f"!{ndigits}H", data, 8)
    value = Decimal(0)
    for i, g in enumerate(groups):
        value += Decimal(g) * (Decimal(10000) ** (weight - i))
    value = value.quantize(Decimal(1).scaleb(-dscale)) if dscale else value.to_integral_value()
    return -value if sign == 0x4000 else value


def copy_rows(batch: pa.RecordBatch, cols: list[Column], copy: Any) -> bytes:
    """The CopyData messages of a batch's rows, one a row as PostgreSQL sends them (psycopg
    reads a row a message), in COPY's text or csv format (`copy`: a statements.CopyOut)."""

    fields = [
        [None if v is None else bytes(v).decode() for v in values]
        for values in _encoded(batch, cols)
    ]
    out = []
    for row in zip(*fields, strict=True) if fields else [()] * batch.num_rows:
        line = (copy.delimiter.join(_copy_field(v, copy) for v in row) + "\n").encode()
        out.append(b"d" + _I32.pack(len(line) + 4) + line)
    return b"".join(out)


def copy_header(cols: list[Column], copy: Any) -> bytes:
    return (copy.delimiter.join(_copy_field(c.name, copy) for c in cols) + "\n").encode()


_COPY_TEXT_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


@functools.cache
def _copy_text_escapes(delimiter: str) -> dict[int, str]:
    """Text format's escapes, the delimiter's too (a backslash before it, as PostgreSQL)."""
    return str.maketrans({delimiter: "\\" + delimiter, **_COPY_TEXT_ESCAPES})


def _copy_field(value: str | None, copy: Any) -> str:
    if value is None:
        return copy.null
    if not copy.csv:
        return value.translate(_copy_text_escapes(copy.delimiter))
    if value == copy.null or any(ch in value for ch in (copy.delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value
