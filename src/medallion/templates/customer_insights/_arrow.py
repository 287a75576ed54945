"""Vectorized building blocks of the customer-insights generator: seeded uniform draws as Arrow
arrays, picks from value tables, string assembly, exact money and timestamp formatting, and the
file writers. No Python loop runs per row."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from medallion.templates._kit import Spellings, clock, expand

DAY = 86_400
EPOCH = date(1970, 1, 1)

# ---------------------------------------------------------------------------------------------
# Vectorized random draws
# ---------------------------------------------------------------------------------------------


class Stream:
    """Uniform draws in [0, 1) as Arrow arrays.  Every call is its own sub-stream seeded from
    (seed, name, call number): deterministic, and changing the rules of one file does not
    reshuffle the draws of another."""

    def __init__(self, seed: int, name: str) -> None:
        self.seed = seed
        self.name = name
        self.calls = 0

    def __call__(self, n: int) -> pa.Array:
        key = f"{self.seed}:{self.name}:{self.calls}".encode()
        self.calls += 1
        # blake2b, not hash(): stable across processes and PYTHONHASHSEED
        init = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1
        return pc.random(n, initializer=init)


def index(u: pa.Array, n: int | pa.Array) -> pa.Array:
    """floor(u * n) as int64: a uniform index in [0, n)."""
    return pc.cast(pc.floor(pc.multiply(u, n)), pa.int64())


def choice(u: pa.Array, values: Sequence[Any], type_: pa.DataType | None = None) -> pa.Array:
    return pc.take(pa.array(list(values), type_), index(u, len(values)))


def weighted(u: pa.Array, weights: dict[Any, int]) -> pa.Array:
    """A weighted draw: the weights expand to a flat table, so it is one index per row."""
    return choice(u, expand(weights))


def chance(u: pa.Array, p: float) -> pa.Array:
    return pc.less(u, p)


def cat(*parts: Any) -> pa.Array:
    """Element-wise string concatenation of arrays and Python strings (null if any is null)."""
    return pc.binary_join_element_wise(*[as_text(p) for p in parts], "")


def as_text(value: Any) -> Any:
    if isinstance(value, (pa.Array, pa.ChunkedArray)) and not pa.types.is_string(value.type):
        return pc.cast(value, pa.string())
    return value


def money(cents: pa.Array) -> pa.Array:
    """Integer cents -> '12.34' / '-3.00' (exact: no floats)."""
    absolute = pc.abs(cents)
    text = cat(
        pc.divide(absolute, 100), ".", pc.utf8_lpad(as_text(pc.remainder(absolute, 100)), 2, "0")
    )
    return pc.if_else(pc.less(cents, 0), cat("-", text), text)


_CLOCK: list[pa.Array] = []


def timestamps(seconds: pa.Array, fmt: str) -> pa.Array:
    """Seconds since 1970-01-01 (UTC) -> 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS' or
    'YYYY-MM-DDTHH:MM:SSZ' (`fmt` in strftime notation, one of those three).

    Arrow's strftime is slow (a time-zone aware formatter per value); the dates of a few hundred
    days and the 86,400 clock times are formatted once in Python and picked by index instead."""
    seconds = pc.cast(seconds, pa.int64())
    if len(seconds) == 0:
        return pa.array([], pa.string())
    days = pc.divide(seconds, DAY)  # integer division rounding down for the dates used here
    lo, hi = pc.min(days).as_py(), pc.max(days).as_py()
    names = pa.array([(EPOCH + timedelta(days=d)).isoformat() for d in range(lo, hi + 1)])
    day_text = pc.take(names, pc.subtract(days, lo))
    if fmt == "%Y-%m-%d":
        return day_text
    if not _CLOCK:
        _CLOCK.append(pa.array([clock(s) for s in range(DAY)]))
    time_of_day = pc.take(_CLOCK[0], pc.subtract(seconds, pc.multiply(days, DAY)))
    if fmt == "%Y-%m-%d %H:%M:%S":
        return cat(day_text, " ", time_of_day)
    if fmt == "%Y-%m-%dT%H:%M:%SZ":
        return cat(day_text, "T", time_of_day, "Z")
    raise ValueError(f"unsupported timestamp format {fmt!r}")


def date_seconds(day: date) -> int:
    return (day - EPOCH).days * DAY


#: how a hand-typed enum value (status, channel, category) is misspelled
ENUM_SPELLINGS = Spellings("{capitalized}", "{upper}", " {value}", " {upper} ")


def messy_enum(u: pa.Array, v: pa.Array, values: pa.Array, p: float) -> pa.Array:
    """Where u < p, one of the ENUM_SPELLINGS of each value (picked by v)."""
    respelled = ENUM_SPELLINGS.arrays(values, index(v, len(ENUM_SPELLINGS)))
    return pc.if_else(chance(u, p), respelled, values)


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def interleave(parts: Sequence[tuple[int, pa.Table]], key: str) -> pa.Table:
    """Concatenate tables of rows and sort them by (key, part rank): an older version (rank 0)
    lands right before the current row (1), a duplicate (2) right after it."""
    tagged = [
        t.append_column("__rank", pa.array([rank] * t.num_rows, pa.int8())) for rank, t in parts
    ]
    table = pa.concat_tables(tagged).sort_by([(key, "ascending"), ("__rank", "ascending")])
    return table.drop_columns(["__rank"])


def write_csv(table: pa.Table, path: Path) -> None:
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))


class CsvFile:
    """A CSV file written a table at a time, as `write_csv` writes one table: one header, the
    first table's schema (a later table is cast to it: a block's all-null column has no type)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pa_csv.CSVWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> CsvFile:
        return self

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            options = pa_csv.WriteOptions(quoting_style="needed")
            self._schema = table.schema
            self._writer = pa_csv.CSVWriter(self.path, table.schema, write_options=options)
        self._writer.write_table(table.cast(self._schema))

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()


def write_lines(lines: pa.Array | pa.ChunkedArray, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        append_lines(lines, fh)


def append_lines(lines: pa.Array | pa.ChunkedArray, fh: TextIO) -> None:
    """Write each text of `lines` and a newline to the open text file `fh`."""
    chunk = 100_000
    for start in range(0, len(lines), chunk):
        fh.write("\n".join(lines[start : start + chunk].to_pylist()))
        fh.write("\n")
