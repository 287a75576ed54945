"""medallion's SQL on Spark: a DuckDB-dialect query (a model as its user wrote it, or a tree
medallion built) as Spark SQL over the engine's temporary views.

Spark's temporary views have one-part names, so `<layer>.<table>` is read as the view
`<layer>__<table>` (table names never hold `__`, companion tables are `<table>__quarantine`),
and `__src` as the view a relation was registered under. The model's meaning is kept by the
rewrites of `medallion compile --dialect spark` (models/dialects.py); what they cannot translate
was refused when the models were loaded (`refusals`), each with its file, line and construct.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medallion.errors import ModelError, QueryError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import sqlglot.expressions as exp

    from medallion.models.loader import Model

DIALECT = "spark"


def view_name(fqn: str) -> str:
    """The temporary view a table `<layer>.<name>` is read through."""
    return fqn.replace(".", "__", 1)


def to_spark(
    query: str | exp.Expression,
    names: Mapping[str, str],
    *,
    confined: bool = False,
    columns: Callable[[str], Mapping[str, exp.DataType] | None] | None = None,
) -> str:
    """`query` (DuckDB SQL text or a tree) as Spark SQL; a table named in `names` (an fqn or
    `__src`) reads the view it maps to. `confined`: any other table (a file path, a table
    function) is refused. `columns`: the column types of a view, by its name (the rewrites that
    depend on a type, such as `date - date`, apply where the types of the tables read are
    known)."""
    import sqlglot
    import sqlglot.expressions as exp
    from sqlglot.errors import ParseError

    from medallion.models.dialects import rewrite
    from medallion.sqltree import ident, render

    if isinstance(query, str):
        try:
            tree = sqlglot.parse_one(query, dialect="duckdb")
        except ParseError as e:
            raise QueryError(f"the SQL does not parse: {e}") from None
    else:
        tree = query
    schema = {}
    if columns is not None:
        for node in tree.find_all(exp.Table):
            key = ".".join(p for p in (node.db, node.name) if p).lower()
            if key in names and key not in schema and (found := columns(names[key])):
                schema[key] = found
    tree, _, _ = rewrite(tree, DIALECT, schema)
    _order_row_numbers(tree)
    _explode_projected_unnests(tree)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for node in list(tree.find_all(exp.Table)):
        key = ".".join(p for p in (node.db, node.name) if p).lower()
        view = names.get(key)
        if view is not None:
            alias = node.args.get("alias")
            if alias is None and node.db:  # `bronze.orders o` keeps `o`; bare keeps `orders`
                alias = exp.TableAlias(this=exp.to_identifier(node.name))
            node.replace(exp.Table(this=ident(view), alias=alias))
        elif confined and (node.db or key not in ctes):
            raise QueryError(
                f"{node.sql(dialect='duckdb')} is not a table of the lakehouse",
                hint="this query may read the lakehouse's tables only",
            )
    if confined and any(isinstance(t.this, exp.Func) for t in tree.find_all(exp.Table)):
        raise QueryError("table functions are not allowed here", hint="read the tables only")
    return render(tree, DIALECT)


def _order_row_numbers(tree: exp.Expression) -> None:
    """`row_number() OVER (PARTITION BY k)` without an order (DuckDB numbers the rows in any
    order; Spark requires one): ordered by a constant, which is any order too."""
    import sqlglot.expressions as exp

    for window in tree.find_all(exp.Window):
        if isinstance(window.this, exp.RowNumber) and window.args.get("order") is None:
            window.set("order", exp.Order(expressions=[exp.Ordered(this=exp.Literal.number(1))]))


def _explode_projected_unnests(tree: exp.Expression) -> None:
    """`SELECT unnest([...]) AS x` (a list's values as rows) as Spark's `explode`: SQLGlot
    translates an UNNEST in FROM, not one in the select list."""
    import sqlglot.expressions as exp

    for node in list(tree.find_all(exp.Unnest)):
        in_projection = isinstance(node.parent, exp.Select) or (
            isinstance(node.parent, exp.Alias) and isinstance(node.parent.parent, exp.Select)
        )
        if in_projection and len(node.expressions) == 1:
            explode: exp.Expression = exp.Explode(this=node.expressions[0])
            alias = node.args.get("alias")  # `unnest(...) AS x` may be held as a table alias
            if isinstance(alias, exp.TableAlias):
                alias = alias.columns[0] if alias.columns else alias.this
            node.replace(exp.alias_(explode, alias.name) if alias is not None else explode)


def refuse_intervals(query: str | exp.Expression, types: Mapping[str, Any]) -> None:
    """Raise a QueryError, with the line of the subtraction, when an output column of the
    query is an interval (`types`: Spark's type of each column by name): Spark subtracts two
    dates as an interval, which Delta cannot store, where DuckDB gives a number of days. The
    rewrites make it DATEDIFF where both sides are known to be DATEs; this is the case where
    a side's type is not known (before anything runs, not at the commit)."""
    import sqlglot
    import sqlglot.expressions as exp

    intervals = [c for c, t in types.items() if "Interval" in type(t).__name__]
    if not intervals:
        return
    tree = sqlglot.parse_one(query, dialect="duckdb") if isinstance(query, str) else query
    line, written = None, ""
    for projection in tree.expressions if isinstance(tree, exp.Select) else []:
        if projection.alias_or_name in intervals:
            sub = projection.find(exp.Sub) or projection
            written = f" (`{sub.sql(dialect='duckdb')}`)"
            line = next((n.meta["line"] for n in sub.walk() if n.meta.get("line")), None)
            break
    raise QueryError(
        f"column {intervals[0]}{written} is an interval on Spark: a subtraction of two dates "
        "whose types medallion does not know (DuckDB gives a number of days; Delta cannot store "
        "an interval)",
        line=line,
        hint="write date_diff('day', start, end), or cast both sides to DATE",
    )


def by_name_unions(tree: exp.Expression) -> list[exp.Union]:
    """The `UNION [ALL] BY NAME`s of a tree (Spark has none: the engine runs them as
    DataFrame.unionByName), innermost first."""
    import sqlglot.expressions as exp

    found = [u for u in tree.find_all(exp.Union) if u.args.get("by_name")]
    return sorted(found, key=lambda u: -u.depth)


def refusals(models: Mapping[str, Model]) -> None:
    """Every SQL model that cannot run on Spark, as one ModelError listing each construct with
    its file and line (what `medallion compile --dialect spark` refuses)."""
    from medallion.errors import CompileError
    from medallion.models.compile import compile_model

    found: list[ModelError] = []
    for model in models.values():
        if model.language != "sql":
            continue
        try:
            compile_model(model, DIALECT)
        except CompileError as e:
            found.extend(getattr(e, "refusals", []))
    if found:
        first = found[0]
        # a misspelt function fails on DuckDB too: running there is no way out
        elsewhere = any(not getattr(e, "unknown_function", False) for e in found)
        raise ModelError(
            f"{len({e.model for e in found})} model(s) cannot run on Spark "
            f"({len(found)} construct(s)):\n"
            + "\n".join(f"  {e.location}: {e.model}: {e.message}" for e in found),
            file=first.file,
            line=first.line,
            model=first.model,
            hint="rewrite each construct in portable SQL (medallion compile --dialect spark "
            "shows the translation)" + (", or run on DuckDB: --engine duckdb" if elsewhere else ""),
        )
