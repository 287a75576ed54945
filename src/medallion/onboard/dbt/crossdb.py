"""dbt's own cross-database macros (`dbt.concat`, `dbt.date_trunc`, ...), as dbt-duckdb
renders them: models and package macros (dbt_utils) call them, and a medallion project runs on
DuckDB. One that is not here is a TODO where it is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _dateadd(datepart: str, interval: Any, from_date_or_timestamp: Any) -> str:
    unit = str(datepart).lower()
    if unit == "quarter":
        return f"({from_date_or_timestamp} + (cast({interval} as bigint) * 3) * interval 1 month)"
    if unit == "week":
        return f"({from_date_or_timestamp} + (cast({interval} as bigint) * 7) * interval 1 day)"
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {unit})"


def _datediff(first_date: Any, second_date: Any, datepart: str) -> str:
    if str(datepart).lower() == "week":
        days = _datediff(first_date, second_date, "day")
        return (
            f"({days} // 7 + case when date_part('dow', ({first_date})::timestamp) <= "
            f"date_part('dow', ({second_date})::timestamp) then case when {first_date} <= "
            f"{second_date} then 0 else -1 end else case when {first_date} <= {second_date} "
            "then 1 else 0 end end)"
        )
    return f"(date_diff('{datepart}', {first_date}::timestamp, {second_date}::timestamp))"


def _type(name: str) -> Callable[[], str]:
    return lambda: name


MACROS: dict[str, Callable[..., Any]] = {
    "concat": lambda fields: " || ".join(str(f) for f in fields),
    "hash": lambda field: f"md5(cast({field} as varchar))",
    "safe_cast": lambda field, type: f"cast({field} as {type})",
    "cast": lambda field, type: f"cast({field} as {type})",
    "date_trunc": lambda datepart, date: f"date_trunc('{datepart}', {date})",
    "dateadd": _dateadd,
    "datediff": _datediff,
    "any_value": lambda expression: f"arbitrary({expression})",
    "bool_or": lambda expression: f"bool_or({expression})",
    "split_part": lambda s, delimiter, part: f"split_part({s}, {delimiter}, {part})",
    "cast_bool_to_text": lambda field: f"cast({field} as varchar)",
    "replace": lambda field, old, new: f"replace({field}, {old}, {new})",
    "length": lambda expression: f"length({expression})",
    "position": lambda substring, string: f"position({substring} in {string})",
    "right": lambda string, length: f"right({string}, {length})",
    "current_timestamp": lambda: "now()",
    "escape_single_quotes": lambda expression: str(expression).replace("'", "''"),
    "string_literal": lambda value: "'" + str(value).replace("'", "''") + "'",
    "type_string": _type("varchar"),
    "type_int": _type("integer"),
    "type_bigint": _type("bigint"),
    "type_float": _type("float"),
    "type_numeric": _type("numeric(28,6)"),
    "type_timestamp": _type("timestamp"),
    "type_boolean": _type("boolean"),
}
