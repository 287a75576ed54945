"""Types between DuckDB, Arrow and Delta: what Delta cannot store and what it is stored as, and
DuckDB's name for each Arrow type of a Delta table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import sqlglot.expressions as exp

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


# -- converting a value to a declared type, and telling when the conversion loses something -----
#
# DuckDB's casts round where a user expects a rejection: '1.5' AS BIGINT is 2, '1.234' AS
# DECIMAL(12,2) is 1.23, '2024-01-05 10:00' AS DATE drops the time, and '... 10:00:00 garbage' AS
# TIMESTAMP ignores the text after the time (as does '+02:00', an offset). Its CSV reader does the
# same, and accepts '2024-01-05x' as a DATE besides. A file source's rows are converted here
# instead, with a check of what each conversion kept; a value it changes is a rejected row.

#: a float input and its converted value that differ by more than this share of the input have
#: lost something (a fraction, decimals): 1.5 -> 2. Less is noise of binary floating point
#: (0.1 + 0.2 written out as 0.30000000000000004 is 0.30 as DECIMAL(12,2)), and the double
#: rounding DuckDB does for decimals of 16 or more digits
_FLOAT_TOLERANCE = 1e-12
#: doubles hold every integer below 2^53 exactly
_EXACT_IN_DOUBLE = 2**53
#: a decimal of up to 15 digits is exact from the double nearest to its text
_DECIMAL_DIGITS_IN_DOUBLE = 15

_INTEGERS = frozenset(
    {"TINYINT", "SMALLINT", "INT", "BIGINT", "UTINYINT", "USMALLINT", "UINT", "UBIGINT", "INT128"}
)
_FLOATS = frozenset({"FLOAT", "DOUBLE"})
_TEMPORAL = frozenset({"DATE", "TIMESTAMPNTZ", "TIMESTAMP", "TIMESTAMPTZ"})


def type_class(duck_type: str) -> str:
    """text | integer | decimal | float | date | timestamp | timestamptz | boolean | other."""
    import sqlglot.expressions as exp

    try:
        t = exp.DataType.build(duck_type, dialect="duckdb", udt=True).this.name
    except Exception:
        return "other"
    if t in ("TEXT", "VARCHAR", "CHAR", "NCHAR", "NVARCHAR"):
        return "text"
    if t in _INTEGERS:
        return "integer"
    if t == "DECIMAL":
        return "decimal"
    if t in _FLOATS:
        return "float"
    if t == "DATE":
        return "date"
    if t in ("TIMESTAMPNTZ", "TIMESTAMP"):
        return "timestamp"
    if t == "TIMESTAMPTZ":
        return "timestamptz"
    if t == "BOOLEAN":
        return "boolean"
    return "other"


def parses_lossily(duck_type: str) -> bool:
    """Whether DuckDB's parsing of text into this type can change a value instead of failing
    (so the text is read as it is and converted by `conversion`): integers and decimals round,
    dates and timestamps drop what follows, a FLOAT overflows to infinity. (A DOUBLE does too,
    but only from a text no double holds, which the check cannot tell from 'inf'.)"""
    import sqlglot.expressions as exp

    cls = type_class(duck_type)
    if cls == "float":
        return exp.DataType.build(duck_type, dialect="duckdb", udt=True).this.name == "FLOAT"
    return cls in ("integer", "decimal", "date", "timestamp")


@dataclass(frozen=True)
class Conversion:
    """How one column is converted, in two steps: `ref`, a reading of the input to compare with
    (None: none), then `value(ref)`, the converted value (NULL where the input does not
    convert); `loss(value, ref)` is true where the input converted but not exactly (None: it
    cannot). The reader computes each once, as columns of successive SELECTs."""

    ref: exp.Expression | None
    value: Callable[[exp.Expression], exp.Expression]
    loss: Callable[[exp.Expression, exp.Expression], exp.Expression] | None
    #: what a lost conversion did, for the rejected row's reason
    loss_reason: str

    @staticmethod
    def of(value: exp.Expression) -> Conversion:
        """A conversion that cannot lose anything."""
        return Conversion(None, lambda _: value.copy(), None, "")


def conversion(
    x: exp.Expression, from_type: str, to_type: str, *, fmt: str | None = None
) -> Conversion:
    """Convert `x` (of DuckDB type `from_type`) to `to_type`, checking what it keeps.

    Text to an integer: the value must equal the text read as a double ('1.5' is no BIGINT, '2.0'
    and '1e3' are); to a decimal, within _FLOAT_TOLERANCE of it ('1.234' is no DECIMAL(12,2)).
    Text to DATE: a time of day other than midnight is lost. Text to TIMESTAMP: the text must also
    read as a TIMESTAMPTZ at the same instant (the engine's session is UTC), so an offset other
    than UTC, a zone name or text after the time is lost. `fmt` (strptime) parses dates and
    timestamps instead; its match is exact. Numbers and temporals to another type must convert
    back to what they were (floats: within the tolerance). Converting to floats loses nothing
    but range (overflow to infinity); to text nothing.

    Numbers are read once, as a double, and the value taken from it where that is exact
    (integers below 2^53, decimals of up to 15 digits; others are converted from the text again):
    on the 1M order lines of the retail template (6 checked columns, 2 cores) the query takes
    0.40 s of CPU, 0.47 s with a second reading of the text; DuckDB's typed CSV read 0.23 s."""
    import sqlglot.expressions as exp

    def typ(name: str) -> exp.DataType:
        return exp.DataType.build(name, dialect="duckdb", udt=True)

    def fn(name: str, *args: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this=name, expressions=list(args))

    def ne(a: exp.Expression, b: exp.Expression) -> exp.Expression:
        return exp.NEQ(this=a, expression=b)

    def as_double(e: exp.Expression) -> exp.Expression:
        return exp.Cast(this=e, to=typ("DOUBLE"))

    def far(v: exp.Expression, r: exp.Expression) -> exp.Expression:
        # |v - r| > |r| * tolerance, as doubles
        diff = exp.Abs(this=exp.Sub(this=as_double(v), expression=r.copy()))
        bound = exp.Mul(
            this=exp.Abs(this=r.copy()), expression=exp.Literal.number(_FLOAT_TOLERANCE)
        )
        return exp.GT(this=diff, expression=bound)

    def round_trip(v: exp.Expression, r: exp.Expression) -> exp.Expression:
        # converted back to the input's type it must be the input (NULL: it does not go back)
        back = exp.TryCast(this=v, to=typ(from_type))
        return exp.Coalesce(this=ne(back, x.copy()), expressions=[exp.true()])

    source, target = type_class(from_type), type_class(to_type)
    to = typ(to_type)
    cast = exp.TryCast(this=x.copy(), to=to)
    if target == "text" or source == target == "other":
        return Conversion.of(cast)
    if source == "text" and fmt and target in ("date", "timestamp", "timestamptz"):
        parsed = fn("try_strptime", x.copy(), exp.Literal.string(fmt))
        if target != "date" or not _has_time_of_day(fmt):
            return Conversion.of(exp.TryCast(this=parsed, to=to))
        return Conversion(
            parsed,
            lambda r: exp.TryCast(this=r, to=to),
            lambda v, r: ne(exp.Cast(this=v, to=typ("TIMESTAMP")), r),
            "has a time of day that DATE would drop",
        )
    if target in ("integer", "decimal"):
        what = (
            f"is not a whole number ({to_type} would round it)"
            if target == "integer"
            else f"has more decimals than {to_type} keeps"
        )
        if source == "text":
            number = exp.TryCast(this=x.copy(), to=typ("DOUBLE"))
            if target == "integer":
                # from the double below 2^53 (exact there), else from the text; equal to the
                # double exactly: a fraction in an integer's text is no float noise
                def value(r: exp.Expression) -> exp.Expression:
                    small = exp.LT(
                        this=exp.Abs(this=r), expression=exp.Literal.number(_EXACT_IN_DOUBLE)
                    )
                    return exp.Case(
                        ifs=[exp.If(this=small, true=exp.TryCast(this=r.copy(), to=to))],
                        default=cast.copy(),
                    )

                return Conversion(number, value, lambda v, r: ne(as_double(v), r), what)
            precision = int(to.expressions[0].name) if to.expressions else 18
            if precision <= _DECIMAL_DIGITS_IN_DOUBLE:  # exact from the double
                return Conversion(number, lambda r: exp.TryCast(this=r, to=to), far, what)
            return Conversion(number, lambda _: cast.copy(), far, what)
        if source == "float":
            return Conversion(None, lambda _: cast.copy(), lambda v, r: far(v, x), what)
        if source in ("integer", "decimal", "boolean"):
            return Conversion(None, lambda _: cast.copy(), round_trip, what)
        return Conversion.of(cast)
    if target == "float":
        if source not in ("text", "integer", "decimal", "float"):
            return Conversion.of(cast)
        ref = exp.TryCast(this=x.copy(), to=typ("DOUBLE")) if source == "text" else as_double(x)
        return Conversion(
            ref,
            lambda _: cast.copy(),
            lambda v, r: exp.and_(fn("isinf", as_double(v)), exp.not_(fn("isinf", r))),
            f"is out of the range of {to_type}",
        )
    if target == "date":
        why = "has a time of day that DATE would drop"
        if source == "text":
            # only a text longer than YYYY-MM-DD can hold a time: the others are not read twice
            longer = exp.GT(this=fn("strlen", x.copy()), expression=exp.Literal.number(10))
            as_ts = exp.Case(
                ifs=[exp.If(this=longer, true=exp.TryCast(this=x.copy(), to=typ("TIMESTAMP")))]
            )
            return Conversion(
                as_ts,
                lambda _: cast.copy(),
                lambda v, r: ne(exp.Cast(this=v, to=typ("TIMESTAMP")), r),
                why,
            )
        if source in ("timestamp", "timestamptz"):
            return Conversion(None, lambda _: cast.copy(), round_trip, why)
        return Conversion.of(cast)
    if target == "timestamp":
        if source != "text":
            return Conversion.of(cast)
        return Conversion(
            exp.TryCast(this=x.copy(), to=typ("TIMESTAMPTZ")),
            lambda _: cast.copy(),
            lambda v, r: exp.Coalesce(
                this=ne(exp.Cast(this=r, to=typ("TIMESTAMP")), v), expressions=[exp.true()]
            ),
            "has a UTC offset, a time zone or text after the time that TIMESTAMP would drop",
        )
    if target == "boolean" and source in ("integer", "decimal", "float"):
        return Conversion(None, lambda _: cast.copy(), round_trip, "is not 0 or 1")
    if target == "timestamptz" or source == "text":
        return Conversion.of(cast)
    return Conversion(
        None, lambda _: cast.copy(), round_trip, f"changes when converted to {to_type}"
    )


def _has_time_of_day(fmt: str) -> bool:
    """Whether a strptime format reads a time of day (hours, minutes, seconds, parts of them)."""
    return any(f"%{d}" in fmt for d in "HIMSfgnpXcT")
