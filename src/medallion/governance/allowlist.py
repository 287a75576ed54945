"""What SQL a user may run: one read-only statement over the tables granted to them.

Admitted: one SELECT (with CTEs, subqueries, set operations, VALUES, UNNEST), or DESCRIBE /
SUMMARIZE / EXPLAIN of one. Every table named must be `layer.table` and readable by the user
(or a CTE of an enclosing WITH); nothing else may appear where rows come from: no table
functions (read_csv, read_parquet, glob, query_table, duckdb_tables(), range()), no file path
('data.csv'), no catalog part (memory.gold.t), no time-travel clause (the --as-of option does
that, through the policy). Functions that read the session's state (current_setting,
getvariable, duckdb_*, pragma_*) are refused wherever they appear. The checked tree is what
runs — rendered again, never the text as written — so a comment, quoting or case trick that
reads differently to DuckDB than to SQLGlot cannot smuggle anything past the check.

It fails closed: SQL SQLGlot cannot parse is refused, and so is every statement not listed.
The DuckDB session adds its own locks below this (external access off, configuration locked).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlglot
import sqlglot.expressions as exp

from medallion.errors import AccessDeniedError, QueryError

#: function names refused anywhere (lower case; a prefix ends with `*`)
DENIED_FUNCTIONS = (
    "duckdb_*",
    "pragma_*",
    "read_*",
    "parquet_*",
    "sniff_csv",
    "glob",
    "query",
    "query_table",
    "current_setting",
    "getvariable",
    "getenv",
    "sql_auto_complete",
    "which_secret",
    "iceberg_*",
    "delta_*",
    "json_execute_serialized_sql",
    "checkpoint",
    "force_checkpoint",
    "enable_*",
    "disable_*",
    "test_*",
    "icu_calendar_names",
    "load_extension",
    "install_extension",
    "arrow_scan*",
    "seq_scan",
    "index_scan",
    "postgres_*",
    "mysql_*",
    "sqlite_*",
    "summary",
    "repeat_row",
)
#: FROM/JOIN may read these besides tables (UNNEST and VALUES make rows from the query itself)
_ROW_SOURCES = (exp.Table, exp.Subquery, exp.Unnest, exp.Values)
_EXPLAIN = re.compile(r"\s*explain\s+(?!analyze\b)(.*)", re.I | re.S)


@dataclass(frozen=True)
class Admitted:
    """A statement that passed: the tree to run and the `layer.table`s it reads."""

    tree: exp.Expression
    tables: tuple[str, ...]
    #: 'select', 'describe', 'summarize' or 'explain'
    kind: str

    def sql(self) -> str:
        """The statement to run: the checked tree rendered for DuckDB (system tables named
        with their catalog, `memory.system.runs`: DuckDB has a catalog called system)."""
        tree = self.tree.copy()
        for table in tree.find_all(exp.Table):
            if table.db.lower() == "system":
                table.set("catalog", exp.to_identifier("memory"))
        text = tree.sql(dialect="duckdb")
        return f"EXPLAIN {text}" if self.kind == "explain" else text


def denied(reason: str, hint: str | None = None) -> AccessDeniedError:
    return AccessDeniedError(
        f"query refused: {reason}",
        hint=hint or "a user's query is one SELECT over the tables granted to them",
    )


def admit(sql: str, readable: Callable[[str], bool], known: Callable[[str], bool]) -> Admitted:
    """The statement `sql`, checked; AccessDeniedError saying why not. `readable(fqn)` says
    whether the user may read a table, `known(fqn)` whether it exists (a denied table that does
    not exist is refused the same way, so names cannot be probed)."""
    kind = "select"
    explain = _EXPLAIN.fullmatch(sql)
    if explain is not None:
        kind, sql = "explain", explain.group(1)
    statements = _parse(sql)
    if len(statements) != 1:
        raise denied(f"{len(statements)} statements; one statement per query")
    tree = statements[0]
    if isinstance(tree, exp.Describe | exp.Summarize):
        if kind == "explain":
            raise denied("EXPLAIN of DESCRIBE/SUMMARIZE")
        kind = "describe" if isinstance(tree, exp.Describe) else "summarize"
        inner = tree.this
        if isinstance(tree, exp.Describe) and any(
            tree.args.get(k) for k in ("style", "kind", "partition", "format")
        ):
            raise denied("DESCRIBE with options")
        if not isinstance(inner, exp.Table | exp.Query):
            raise denied(f"{kind.upper()} of something other than a table or a query")
        if isinstance(inner, exp.Table):
            _table(inner, set(), readable, known)
            return Admitted(tree, (_fqn(inner),), kind)
        tables = _query(inner, readable, known)
        return Admitted(tree, tables, kind)
    if not isinstance(tree, exp.Query):
        raise denied(f"{_statement_name(tree)} is not a SELECT")
    return Admitted(tree, _query(tree, readable, known), kind)


def _parse(sql: str) -> list[exp.Expression]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "falling back to parsing as a Command" is refused below
    try:
        parsed = sqlglot.parse(sql, dialect="duckdb")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as e:
        raise denied(f"it does not parse ({str(e).splitlines()[0][:120]})") from None
    finally:
        logger.setLevel(level)
    return [s for s in parsed if s is not None]


def _statement_name(tree: exp.Expression) -> str:
    if isinstance(tree, exp.Command):
        return str(tree.this).upper()
    return type(tree).__name__.upper()


def _query(
    tree: exp.Expression, readable: Callable[[str], bool], known: Callable[[str], bool]
) -> tuple[str, ...]:
    tables: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Command):
            raise denied(f"{_statement_name(node)} inside a query")
        if isinstance(node, exp.Select) and node.args.get("into") is not None:
            raise denied("SELECT INTO writes a table")
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if _is_denied(name):
                raise denied(f"function {name}() is not allowed")
        if isinstance(node, exp.From | exp.Join):
            source = node.this
            if not isinstance(source, _ROW_SOURCES):
                raise denied(f"{source.sql(dialect='duckdb')[:60]} cannot be read from")
        if isinstance(node, exp.CTE) and node.alias_or_name.startswith("__"):
            raise denied(f"CTE {node.alias_or_name!r}: names starting with __ are reserved")
        if isinstance(node, exp.Lateral | exp.TableFromRows):
            raise denied("table functions are not allowed")
        if isinstance(node, exp.Table):
            fqn = _table(node, _ctes_around(node), readable, known)
            if fqn is not None and fqn not in tables:
                tables.append(fqn)
    return tuple(tables)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _is_denied(name: str) -> bool:
    for pattern in DENIED_FUNCTIONS:
        if (pattern.endswith("*") and name.startswith(pattern[:-1])) or name == pattern:
            return True
    return False


def _ctes_around(node: exp.Expression) -> set[str]:
    """Names of the CTEs of the WITHs enclosing `node` (what an unqualified name may mean)."""
    names: set[str] = set()
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") or parent.args.get("with")
        if isinstance(with_, exp.With):
            names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        parent = parent.parent
    return names


def _fqn(table: exp.Table) -> str:
    return f"{table.db.lower()}.{table.name.lower()}"


def _table(
    table: exp.Table,
    ctes: set[str],
    readable: Callable[[str], bool],
    known: Callable[[str], bool],
) -> str | None:
    """The `layer.table` a table reference reads (None: a CTE); refused unless granted."""
    if not isinstance(table.this, exp.Identifier):
        raise denied(f"{table.this.sql(dialect='duckdb')[:60]} is not a table")
    # what the text said, in SQL words (SQLGlot keeps `AT (VERSION => 0)` as `when`)
    said = {
        "when": "AT / time travel",
        "version": "a VERSION / TIMESTAMP AS OF",
        "changes": "CHANGES",
    }
    for arg in ("when", "version", "changes", "joins", "pivots", "laterals"):
        if table.args.get(arg):
            raise denied(
                f"{said.get(arg, arg.upper())} on a table is not read here",
                hint="read an earlier version with the as-of option (medallion query --as-of, "
                "the HTTP API's as_of)",
            )
    if table.args.get("catalog"):
        raise denied(f"{table.sql(dialect='duckdb')}: name tables as layer.table")
    if not table.db:
        if table.name.startswith("__"):
            # medallion's own relations (raw scans, registered Arrow data) are named so: a CTE
            # of that name that DuckDB does not resolve would fall through to them
            raise denied(f"{table.name!r}: names starting with __ are reserved")
        if table.name.lower() in ctes:
            return None
        raise denied(
            f"{table.name!r} is not a table: name tables as layer.table",
            hint="a user's query names tables as layer.table (gold.sales); `medallion tables` "
            "lists the readable ones",
        )
    fqn = _fqn(table)
    if not known(fqn) or not readable(fqn):
        raise AccessDeniedError(
            f"reading {fqn} is not allowed", hint="ask an admin for a grant on it"
        )
    return fqn


def bind_user(admitted: Admitted, name: str) -> Admitted:
    """The statement with `current_user` and `session_user` replaced by the reader's name, as
    PostgreSQL answers them (DuckDB's own say `duckdb`): a literal, named like the function
    where it is a selected column. Every user's read (SQL endpoint, HTTP, `query --as`)."""
    tree = admitted.tree.copy()
    for node in list(tree.find_all(exp.CurrentUser, exp.SessionUser)):
        value: exp.Expression = exp.Literal.string(name)
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            value = exp.alias_(
                value, "session_user" if isinstance(node, exp.SessionUser) else "current_user"
            )
        node.replace(value)
    return Admitted(tree, admitted.tables, admitted.kind)


def bind_params(admitted: Admitted, params: Sequence[object]) -> Admitted:
    """The statement with its parameters ($1, $2 or ?) replaced by literals (SQLGlot literal
    nodes: a parameter is a value, never SQL)."""
    from medallion.sqltree import lit

    tree = admitted.tree.copy()
    placeholders = list(tree.find_all(exp.Placeholder))
    used: set[int] = set()
    for i, node in enumerate(placeholders):
        name = node.this
        if name is None:
            index = i
        elif str(name).isdigit():
            index = int(str(name)) - 1
        else:
            raise QueryError(f"named parameter ${name} is not supported; use $1, $2, ...")
        if not 0 <= index < len(params):
            raise QueryError(
                f"the query has parameter {'$' + str(index + 1)}, but {len(params)} values "
                "were given"
            )
        used.add(index)
        node.replace(lit(params[index]))
    if len(used) != len(params):
        raise QueryError(f"{len(params)} parameter values for {len(used)} parameters")
    return Admitted(tree, admitted.tables, admitted.kind)
