"""SQL of models and queries, handled as SQLGlot trees.

Two parsers look at every model: DuckDB's own (the authority on what will run: syntax errors come
with DuckDB's message and position) and SQLGlot's (the tree we analyse: which tables a model
reads, read-only checks, transpiling). Table references are `<layer>.<name>`; anything else that
looks like a table is an error at load time, with the line and column.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medallion.errors import MedallionError, line_col, suggest

if TYPE_CHECKING:
    import sqlglot.expressions as exp

DIALECT = "duckdb"


@dataclass(frozen=True)
class TableRef:
    layer: str
    name: str
    line: int | None
    column: int | None

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.name}"


_PARSER: Any = None


def _parser_connection() -> Any:
    """A DuckDB connection for its parser's verdicts, kept for the process and closed (and
    dropped) at exit: DuckDB objects alive at interpreter shutdown are reported as leaks."""
    global _PARSER
    if _PARSER is None:
        import atexit

        import duckdb

        _PARSER = duckdb.connect()
        atexit.register(_close_parser)
    return _PARSER


def _close_parser() -> None:
    global _PARSER
    if _PARSER is not None:
        _PARSER.close()
        _PARSER = None


def duckdb_syntax_error(sql: str, subject: str = "a model") -> tuple[str, int | None] | None:
    """DuckDB's parser verdict on one SELECT: None if fine, else (message, char offset).
    `subject` names what the SQL is in messages ("a model", "a query")."""
    con = _parser_connection().cursor()  # a cursor per call: threads (server sessions) share it
    try:
        # the common verdict cheaply: one statement that parses as a SELECT; the serialized
        # tree (three times slower) only to word a problem and find its position
        try:
            statements = con.extract_statements(sql)
        except Exception:
            statements = None
        if statements is not None and len(statements) == 1 and statements[0].type.name == "SELECT":
            return None
        result = json.loads(con.execute("select json_serialize_sql(?)", [sql]).fetchall()[0][0])
    finally:
        con.close()
    if result.get("error"):
        msg = result.get("error_message", "syntax error")
        if "Only SELECT statements" in msg:
            msg = f"{subject} must be a single SELECT (or WITH ... SELECT) statement"
        pos = result.get("position")
        if pos in (None, ""):
            return msg, None
        # DuckDB reports a UTF-8 byte offset; line_col counts characters
        return msg, len(sql.encode()[: int(pos)].decode(errors="ignore"))
    statements = result.get("statements", [])
    if not statements:
        return f"{subject} has no SQL statement; write one SELECT", None
    if len(statements) > 1:
        return f"{subject} must be one SELECT statement, found several (remove the extra ';')", None
    return None


#: statement types that only read (DuckDB's names): DESCRIBE and SUMMARIZE are SELECTs, a
#: PIVOT is MULTI
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "MULTI"})


def statement_kinds(sql: str) -> list[str]:
    """What each statement of `sql` does, as its first keyword (INSERT, DROP, COPY, INSTALL...;
    DuckDB's statement type where the text starts with WITH or a parenthesis), SELECT for the
    statements that only read; [] if DuckDB cannot parse the text (its syntax error is reported
    elsewhere). `WITH x AS (...) INSERT ...` is an INSERT."""
    con = _parser_connection()
    try:
        statements = con.extract_statements(sql)
    except Exception:  # a syntax error: duckdb_syntax_error words it
        return []
    kinds = []
    for statement in statements:
        kind = statement.type.name
        if kind in READ_STATEMENTS:
            kinds.append("SELECT")
            continue
        word = statement.query.strip().split(None, 1)[0].upper() if statement.query.strip() else ""
        kinds.append(word if word.isalpha() and word != "WITH" else kind)
    return kinds


def expression_syntax_error(text: str) -> tuple[str, int | None] | None:
    """DuckDB's parser verdict on one expression written by the user (an expectation, a check's
    `where`): its text is wrapped in a SELECT as it is — the one place medallion composes SQL
    text, because the text is what is being judged."""
    return duckdb_syntax_error("SELECT (" + text + ")")


def parse_select(
    sql: str, *, error: type[MedallionError], subject: str = "a model", **where: object
) -> exp.Expression:
    """Validate with DuckDB's parser, then parse with SQLGlot. Raises `error` with line:col;
    `subject` names what the SQL is in messages ("a model", "a query")."""
    import sqlglot
    import sqlglot.expressions as exp

    bad = duckdb_syntax_error(sql, subject)
    if bad is not None:
        msg, pos = bad
        line = col = None
        if pos is not None:
            line, col = line_col(sql, pos)
        raise error(
            f"SQL syntax error: {msg}",
            line=line,
            column=col,
            hint="the SQL is run by DuckDB; see https://duckdb.org/docs/sql/introduction",
            **where,  # type: ignore[arg-type]
        )
    try:
        tree = sqlglot.parse_one(sql, dialect=DIALECT)
    except sqlglot.errors.ParseError as e:
        first = e.errors[0] if e.errors else {}
        raise error(
            f"medallion cannot analyse this SQL: {first.get('description', e)}",
            line=first.get("line"),
            column=first.get("col"),
            hint="DuckDB accepts it, but SQLGlot (used for lineage) does not; "
            "please rewrite the construct or report it",
            **where,  # type: ignore[arg-type]
        ) from None
    if not isinstance(tree, exp.Query):
        raise error(
            "expected a SELECT statement", hint=f"{subject} is one SELECT; no DDL or DML", **where
        )  # type: ignore[arg-type]
    return tree


def table_refs(
    tree: exp.Expression, sql: str | None = None
) -> tuple[list[TableRef], list[TableRef]]:
    """(qualified refs `<db>.<name>`, unqualified refs that are not CTE names) in the tree, in
    order of appearance in the text.

    With the SQL text, positions are the line and column where the reference starts."""
    import sqlglot.expressions as exp

    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: list[tuple[int, int, exp.Table, int | None, int | None]] = []
    for i, table in enumerate(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions: range(), read_parquet(), ...
        first = table.args.get("catalog") or table.args.get("db") or table.this
        meta = first.meta or {}
        line, col = meta.get("line"), meta.get("col")
        if sql is not None and meta.get("start") is not None:
            line, col = line_col(sql, meta["start"])
        # tree walks are breadth-first; the text offset gives the order a reader sees
        found.append((meta.get("start", 1 << 62), i, table, line, col))
    qualified: list[TableRef] = []
    bare: list[TableRef] = []
    for _, _, table, line, col in sorted(found, key=lambda f: (f[0], f[1])):
        if table.args.get("catalog"):
            bare.append(TableRef("", table.sql(dialect=DIALECT), line, col))
        elif table.db:
            qualified.append(TableRef(table.db.lower(), table.name.lower(), line, col))
        elif table.name.lower() not in cte_names:
            bare.append(TableRef("", table.name.lower(), line, col))
    return qualified, bare


def resolve_refs(
    tree: exp.Expression,
    *,
    sql: str | None = None,
    layers: list[str],
    known: set[str],
    error: type[MedallionError],
    unbuilt: Mapping[str, str] | None = None,
    **where: object,
) -> list[str]:
    """The fully qualified tables a query reads, in order of first appearance.

    Raises `error` for an unqualified table, an unknown layer or an unknown table, naming the
    line and suggesting the closest known name. `unbuilt`: tables the project declares that
    have no data yet (fqn -> 'landed' for a source, 'built' for a model); reading one says so
    and how to make it, rather than calling it unknown."""
    unbuilt = unbuilt or {}
    qualified, bare = table_refs(tree, sql)
    for ref in bare:
        candidates = sorted(t for t in {*known, *unbuilt} if t.split(".", 1)[1] == ref.name)
        hint = (
            f"write it as {' or '.join(candidates)}"
            if candidates
            else "tables are addressed as <layer>.<name>, e.g. "
            + (sorted(known)[0] if known else "silver.orders")
        )
        raise error(
            f"table {ref.name!r} is not qualified with a layer",
            line=ref.line,
            column=ref.column,
            hint=hint,
            **where,  # type: ignore[arg-type]
        )
    out: list[str] = []
    for ref in qualified:
        if ref.layer not in layers:
            guess = suggest(ref.layer, layers)
            raise error(
                f"unknown layer {ref.layer!r} in {ref.fqn}",
                line=ref.line,
                column=ref.column,
                hint=f"did you mean {guess}.{ref.name}?"
                if guess
                else f"layers are: {', '.join(layers)}",
                **where,  # type: ignore[arg-type]
            )
        if ref.fqn not in known and ref.fqn in unbuilt:
            raise error(
                f"{ref.fqn} has not been {unbuilt[ref.fqn]} yet",
                line=ref.line,
                column=ref.column,
                hint=f"run `medallion run` (or `medallion run --select {ref.fqn}`)",
                **where,  # type: ignore[arg-type]
            )
        if ref.fqn not in known:
            guess = suggest(ref.fqn, sorted(known))
            raise error(
                f"unknown table {ref.fqn}",
                line=ref.line,
                column=ref.column,
                hint=f"did you mean {guess}?"
                if guess
                else "no source or model of that name; `medallion lineage` lists them",
                **where,  # type: ignore[arg-type]
            )
        if ref.fqn not in out:
            out.append(ref.fqn)
    return out


def is_read_only(tree: exp.Expression) -> bool:
    import sqlglot.expressions as exp

    return isinstance(tree, exp.Query | exp.Describe | exp.Show) and not any(
        isinstance(node, exp.Insert | exp.Delete | exp.Update | exp.Create | exp.Drop | exp.Merge)
        for node in tree.walk()
    )
