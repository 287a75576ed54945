"""dbt data tests as medallion checks.

dbt writes a test as a name (`unique`) or a one-key mapping whose value holds its arguments,
either flat (`accepted_values: {values: [...], severity: warn}`) or, since dbt 1.10, under
`arguments:` with the settings under `config:`. The generic tests dbt ships and the dbt_utils
tests medallion can say exactly become checks; any other test is a TODO with its file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: a test's settings (as opposed to its arguments) in the flat form
_SETTINGS = {
    "severity",
    "where",
    "name",
    "config",
    "error_if",
    "warn_if",
    "limit",
    "tags",
    "store_failures",
    "enabled",
    "meta",
    "alias",
    "description",
    "test_name",
}
_PERIODS = {"minute": "minutes", "hour": "hours", "day": "days"}
#: the tests `_check` translates, and the medallion check each becomes
_TRANSLATED = {
    "unique": "unique",
    "not_null": "not_null",
    "accepted_values": "accepted_values",
    "relationships": "relationships",
    "dbt_utils.unique_combination_of_columns": "unique",
    "dbt_utils.expression_is_true": "expression_is_true",
    "dbt_utils.accepted_range": "expression_is_true",
}


@dataclass
class TestContext:
    """Where a test is and how to resolve what it names."""

    file: str
    line: int | None
    #: renders a Jinja expression such as `ref('customers')` to `layer.name` (None: unknown)
    resolve: Callable[[str], str | None]
    todo: Callable[[str, int | None, str], None]
    note: Callable[[str, int | None, str], None]
    #: renders the Jinja of an argument (on a line) as dbt does (`"{{ var('statuses') }}"`: the
    #: var's value)
    render: Callable[[Any, int | None], Any] = lambda value, line: value


def split_test(item: Any) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(test name, arguments, settings) of one entry of a `data_tests:` list."""
    if isinstance(item, str):
        return item, {}, {}
    if not isinstance(item, dict) or not item:
        return None
    if "test_name" in item:  # the long form: {name: my_test, test_name: unique, ...}
        name, body = str(item["test_name"]), dict(item)
    else:
        keys = [k for k in item if k not in ("name", "config")]
        if len(keys) != 1:
            return None
        name = str(keys[0])
        body = dict(item[name] or {})
        if "config" in item:
            body.setdefault("config", item["config"])
    arguments = dict(body.pop("arguments", None) or {})
    settings = {k: body.pop(k) for k in list(body) if k in _SETTINGS}
    arguments.update(body)
    settings.update(settings.pop("config", None) or {})
    return name, arguments, settings


def to_checks(tests: list[Any], column: str | None, ctx: TestContext) -> list[dict[str, Any]]:
    """The checks of a node's (column=None) or a column's tests, in medallion's short form."""
    out: list[dict[str, Any]] = []
    for item in tests:
        parts = split_test(item)
        line = getattr(item, "line", None) or ctx.line
        if parts is None:
            ctx.todo(ctx.file, line, f"a data test the import cannot read: {item!r}")
            continue
        name, args, settings = parts
        args = {k: ctx.render(v, line) for k, v in args.items()}
        settings = {k: ctx.render(v, line) for k, v in settings.items()}
        check = _check(name.removeprefix("dbt."), args, column, ctx, line)
        if check is None:
            continue
        severity = str(settings.get("severity", "error")).lower()
        if severity == "warn":
            check["severity"] = "warn"
        if settings.get("where"):
            check["where"] = str(settings["where"])
        for ignored in ("error_if", "warn_if", "limit"):
            if ignored in settings:
                ctx.note(
                    ctx.file,
                    line,
                    f"{name} on {column or 'the model'}: `{ignored}` is not carried over (a "
                    "medallion check fails on any failing row; use severity: warn to report only)",
                )
        out.append(check)
    return out


def _check(
    name: str, args: dict[str, Any], column: str | None, ctx: TestContext, line: int | None
) -> dict[str, Any] | None:
    column = args.get("column_name", column)
    if name in ("unique", "not_null") and column:
        return {name: column}
    if name == "accepted_values" and column and isinstance(args.get("values"), list):
        return {"accepted_values": {"column": column, "values": list(args["values"])}}
    if name == "relationships" and column and args.get("to"):
        target = ctx.resolve(str(args["to"]))
        if target is None:
            ctx.todo(ctx.file, line, f"relationships to {args['to']}: no such model or source")
            return None
        return {"relationships": {"column": column, "to": f"{target}.{args.get('field', 'id')}"}}
    if name == "dbt_utils.unique_combination_of_columns" and args.get("combination_of_columns"):
        return {"unique": list(args["combination_of_columns"])}
    if name == "dbt_utils.expression_is_true" and args.get("expression"):
        # dbt_utils fails the rows where the expression is false; NULL passes
        expression = f"{column} {args['expression']}" if column else str(args["expression"])
        return {"expression_is_true": f"coalesce({expression}, true)"}
    if name == "dbt_utils.accepted_range" and column:
        inclusive = args.get("inclusive", True)
        lo, hi = (">=", "<=") if inclusive else (">", "<")
        bounds = []
        if args.get("min_value") is not None:
            bounds.append(f"{column} {lo} {args['min_value']}")
        if args.get("max_value") is not None:
            bounds.append(f"{column} {hi} {args['max_value']}")
        if bounds:
            return {"expression_is_true": f"{column} is null or ({' and '.join(bounds)})"}
    if name == "dbt_utils.not_null_proportion" and column and args.get("at_least") == 1:
        return {"not_null": column}
    if name == "dbt_utils.recency" and args.get("field") and args.get("datepart"):
        unit = str(args["datepart"]).lower()
        if unit in _PERIODS:
            return {
                "freshness": {
                    "column": args["field"],
                    "max_age": f"{args.get('interval', 1)} {_PERIODS[unit]}",
                }
            }
    what = f"column {column}" if column else "the model"
    if name in _TRANSLATED:
        shown = ", ".join(f"{k}: {v!r}" for k, v in args.items())
        ctx.todo(
            ctx.file,
            line,
            f"data test {name} on {what}: the import cannot use its arguments ({shown}); "
            f"write the {_TRANSLATED[name]} check in the model header by hand",
        )
        return None
    ctx.todo(
        ctx.file,
        line,
        f"data test {name} on {what} has no medallion check: write it as a check "
        "(expression_is_true, row_count, ...) in the model header",
    )
    return None


def tidy_checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A node's checks as written: its plain `not_null` checks as one (`not_null: [a, b]`), and
    a `name:` for each check whose default name another one already has (two accepted_values
    on a column, freshness to warn and to fail)."""
    from pydantic import TypeAdapter

    from medallion.config.checks import CheckItem

    adapter: TypeAdapter[Any] = TypeAdapter(CheckItem)
    seen: dict[str, int] = {}
    out = []
    for check in _merge_not_null(checks):
        try:
            name = adapter.validate_python(check).check_name
        except ValueError:
            out.append(check)  # medallion's loader says what is wrong with it
            continue
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1 and "name" not in check:
            suffix = check.get("severity", str(seen[name]))
            check = {**check, "name": f"{name}_{suffix}"}
        out.append(check)
    return out


def _merge_not_null(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    plain = [c for c in checks if set(c) == {"not_null"}]
    if len(plain) < 2:
        return checks
    merged = {"not_null": list(dict.fromkeys(c["not_null"] for c in plain))}
    at = checks.index(plain[0])
    out = [c for c in checks if c not in plain]
    return [*out[:at], merged, *out[at:]]


def freshness_checks(column: str, freshness: dict[str, Any]) -> list[dict[str, Any]]:
    """dbt source freshness (warn_after / error_after) on `loaded_at_field`."""
    out = []
    for key, severity in (("warn_after", "warn"), ("error_after", "error")):
        spec = freshness.get(key)
        if isinstance(spec, dict) and spec.get("count") and spec.get("period") in _PERIODS:
            check: dict[str, Any] = {
                "freshness": {
                    "column": column,
                    "max_age": f"{spec['count']} {_PERIODS[spec['period']]}",
                }
            }
            if severity == "warn":
                check["severity"] = "warn"
            out.append(check)
    return out
