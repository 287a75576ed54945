"""The output columns a model's header keys name: its kind's (`unique_key`, `order_by`,
`delete_when`, scd2's `track` and `valid_from`, `time_column`) and `partition_by`.

Each is read over the rows the model's SELECT outputs, so a key naming a column the SELECT does
not output fails only when the kind runs it, as the engine's binder error on SQL medallion
wrote. `validate` and the run both check them against the model's output columns first
(`missing_key_column`), and report the key, its line in the header and the columns there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.errors import ExecutionError

if TYPE_CHECKING:
    from medallion.models.header import ModelConfig
    from medallion.models.loader import Model

#: (header key, where its value is in the header (for its line), a column it names, how it is
#: matched: "exact" (a column list, matched by name in Arrow), "bound" (a column of an
#: expression, bound by the engine, which ignores case) or "unparsed" (the expression's text,
#: which does not parse))
Named = tuple[str, tuple[str | int, ...], str, str]


def named_columns(config: ModelConfig) -> list[Named]:
    """The output columns the header's keys name, for the keys the model's kind reads."""
    found: list[Named] = []
    kind = config.kind

    def columns(key: str, values: list[str]) -> None:
        found.extend((key, (key, i), c, "exact") for i, c in enumerate(values))

    def expressions(key: str, value: str | list[str] | None) -> None:
        if value is None:
            return
        texts = (
            {(key,): value}
            if isinstance(value, str)
            else {(key, i): v for i, v in enumerate(value)}
        )
        for loc, text in texts.items():
            names = _columns_of(text)
            if names is None:
                found.append((key, loc, text, "unparsed"))
            else:
                found.extend((key, loc, c, "bound") for c in names)

    if kind in ("merge", "scd2"):
        columns("unique_key", config.unique_key)
        expressions("order_by", config.order_by)
    if kind == "merge":
        expressions("delete_when", config.delete_when)
    if kind == "scd2":
        columns("track", config.track or [])
        expressions("valid_from", config.valid_from)
    if kind == "incremental_by_time" and config.time_column:
        found.append(("time_column", ("time_column",), config.time_column, "exact"))
    if kind != "view":
        columns("partition_by", config.partition_by)
    return found


def _columns_of(text: str) -> list[str] | None:
    """The column names an expression of the header reads (None: it does not parse)."""
    import sqlglot.expressions as exp

    from medallion.sqltree import parse

    try:
        tree = parse(text)
    except Exception:
        return None
    names: list[str] = []
    for column in tree.find_all(exp.Column):
        if column.name and column.name not in names:
            names.append(column.name)
    return names


def missing_key_column(
    model: Model, output: list[str], added: list[str] | None = None
) -> ExecutionError | None:
    """The error of the first header key naming a column not in `output` (the model's output
    columns; `added`: those its kind adds, which only `partition_by` may name), None when
    every one is there."""
    from medallion.models.header import header_line

    for key, loc, column, how in named_columns(model.config):
        if how == "unparsed":
            return ExecutionError(
                f"{key} {column!r} is not a SQL expression",
                file=model.path,
                line=header_line(model.path, loc),
                key=key,
                model=model.fqn,
                hint=f"write {key} as an expression over the model's output columns (in a YAML "
                'list, quote one holding a comma: "coalesce(a, b)")',
            )
        have = [*output, *(added or [])] if key == "partition_by" else output
        if column in have or (how == "bound" and column.lower() in {c.lower() for c in have}):
            continue
        cased = next((c for c in have if c.lower() == column.lower()), None)
        hint = (
            f"the model outputs {cased}: write it as {cased} in {key} (names match exactly)"
            if cased
            else f"output columns: {', '.join(output)}; add {column} to the SELECT, or name "
            f"one of those in {key}"
        )
        return ExecutionError(
            f"{key} column {column!r} is not in the model's output",
            file=model.path,
            line=header_line(model.path, loc),
            key=key,
            model=model.fqn,
            hint=hint,
        )
    return None
