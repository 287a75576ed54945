"""SQL as SQLGlot trees: the one set of helpers that build identifiers, tables, columns and
literals, and render a tree for an engine's dialect.

medallion builds every statement it runs as a tree (never by formatting strings), so that values
and names are always quoted correctly and the same tree renders for DuckDB, Spark or the Delta
writer's SQL (DataFusion, which reads PostgreSQL's syntax). The user's own SQL (a model, a query)
is the one thing passed on as the text they wrote.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlglot.expressions as exp


def ident(name: str) -> exp.Identifier:
    import sqlglot.expressions as exp

    return exp.Identifier(this=name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column, optionally qualified by a table alias."""
    import sqlglot.expressions as exp

    return exp.Column(this=ident(name), table=exp.Identifier(this=table) if table else None)


def table(name: str, alias: str | None = None) -> exp.Table:
    """A table: `<layer>.<name>` (both quoted), or a bare name (a view, a temporary table)."""
    import sqlglot.expressions as exp

    layer, dot, rest = name.partition(".")
    out = exp.Table(this=ident(rest), db=ident(layer)) if dot else exp.Table(this=ident(name))
    return aliased(out, alias) if alias else out


def aliased(source: exp.Table, alias: str) -> exp.Table:
    """A copy of a table reference under an alias."""
    import sqlglot.expressions as exp

    out = source.copy()
    out.set("alias", exp.TableAlias(this=exp.Identifier(this=alias)))
    return out


def lit(value: Any) -> exp.Expression:
    """A Python value as a SQL literal of its type: text, numbers, booleans, NULL; dates and
    times as typed literals (a time with a zone as TIMESTAMPTZ)."""
    import sqlglot.expressions as exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        text = str(value) if isinstance(value, Decimal) else repr(value)
        return exp.Literal(this=text, is_string=False)
    if isinstance(value, datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return exp.Cast(
            this=exp.Literal(this=value.isoformat(sep=" "), is_string=True),
            to=exp.DataType.build(kind),
        )
    if isinstance(value, date):
        return exp.Cast(
            this=exp.Literal(this=value.isoformat(), is_string=True), to=exp.DataType.build("DATE")
        )
    return exp.Literal(this=str(value), is_string=True)


def select_star(source: exp.Expression | str) -> exp.Select:
    import sqlglot.expressions as exp

    return exp.select(exp.Star()).from_(source)


def and_(*terms: exp.Expression | None) -> exp.Expression:
    """The conjunction of `terms` (TRUE when there are none)."""
    import sqlglot.expressions as exp

    return _fold(exp.And, exp.true(), terms)


def or_(*terms: exp.Expression | None) -> exp.Expression:
    """The disjunction of `terms` (FALSE when there are none)."""
    import sqlglot.expressions as exp

    return _fold(exp.Or, exp.false(), terms)


def _fold(
    connective: type[exp.Connector], empty: exp.Expression, terms: tuple[exp.Expression | None, ...]
) -> exp.Expression:
    found = [t for t in terms if t is not None]
    if not found:
        return empty
    out = found[0]
    for t in found[1:]:
        out = connective(this=out, expression=t)
    return out


def is_in(column: exp.Expression, values: list[Any]) -> exp.Expression:
    """`column IN (values...)` (FALSE for no values)."""
    import sqlglot.expressions as exp

    if not values:
        return exp.false()
    return exp.In(this=column, expressions=[lit(v) for v in values])


def qualify(tree: exp.Expression, alias: str) -> exp.Expression:
    """A copy of an expression over a table's columns with every column qualified by `alias`
    (for a merge's SQL, where source and target have the same column names)."""
    import sqlglot.expressions as exp

    t = tree.copy()
    for c in t.find_all(exp.Column):
        c.set("table", exp.Identifier(this=alias))
        c.this.set("quoted", True)
    return t


def parse(text: str, dialect: str = "duckdb") -> exp.Expression:
    """An expression written by the user (a predicate in a model header), as a tree."""
    import sqlglot

    return sqlglot.parse_one(text, dialect=dialect)


def render(tree: exp.Expression, dialect: str = "duckdb") -> str:
    """The tree as text in `dialect`. Trees built here are rendered as they are (no copy:
    restrictions can hold thousands of values, and copying doubled the time)."""
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(dialect).generate(tree, copy=False)
