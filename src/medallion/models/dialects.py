"""Rewrites that keep a DuckDB model's meaning on another engine, applied to the model's tree
before SQLGlot renders it for the target (`medallion compile`).

SQLGlot renders most of DuckDB for the targets, but some of its translations change what a
query returns, and some constructs it leaves as DuckDB wrote them. Each rewrite here is one
such construct, written as the target spells DuckDB's meaning; what cannot be kept is returned
as a problem (a refusal, with its node for the line):

- `arg_max(x, y)` / `arg_min` (DuckDB: `max_by`) skip rows whose `x` or `y` is NULL; the
  targets' MAX_BY returns NULL when the row with the largest `y` has a NULL `x`, and SQLGlot
  moves a FILTER into `x` (`MAX_BY(IF(c, x, NULL), y)`), which then returns NULL where DuckDB
  returns the newest non-NULL value. Written `MAX_BY(x, CASE WHEN x IS NOT NULL AND c THEN y
  END)`; PostgreSQL, which has no MAX_BY, gets `(ARRAY_AGG(x ORDER BY y DESC) FILTER (WHERE x
  IS NOT NULL AND y IS NOT NULL AND c))[1]`.
- `concat_ws` skips NULLs; Snowflake's returns NULL for any NULL (SQLGlot pads with '' and a
  separator too many), BigQuery has none: `ARRAY_TO_STRING(ARRAY_CONSTRUCT_COMPACT(...), sep)` /
  `ARRAY_TO_STRING([...], sep)`, which skip NULLs.
- `least`/`greatest` skip NULLs; BigQuery's return NULL: each argument is COALESCEd with the
  others.
- `hour()`, `minute()`, `second()` do not exist in PostgreSQL: `EXTRACT(HOUR FROM x)`; the ISO
  day of the week and week (`extract(isodow|week ...)`) are spelled per target (BigQuery's WEEK
  starts on Sunday, Snowflake's follows a session setting).
- `strftime`: BigQuery's FORMAT_DATETIME (SQLGlot's FORMAT_DATE refuses a DATETIME, which a
  DuckDB TIMESTAMP is there); Snowflake has no day names: '%A' alone is a CASE on the ISO day.
- `split_part(s, d, n)` does not exist in BigQuery: `SPLIT(s, d)[SAFE_ORDINAL(n)]`, '' past the
  last part and NULL for a NULL `s`, as DuckDB returns (n a positive number, d a text).
- `/` divides as doubles in DuckDB, decimals exactly elsewhere (1241.465 vs 1241.4649999...,
  which then round to different cents): the dividend is cast to DOUBLE.
- `a // b` on Snowflake: SQLGlot's TRUNC(a / b) truncates a quotient Snowflake rounded to 6
  places: `(a - MOD(a, b)) / b`.
- `round(x[, n])` on a double: PostgreSQL rounds halves to even (and has no round(double, n)),
  Spark rounds the double's decimal text (4524.275 up; DuckDB's binary value 4524.27499... goes
  down): `CASE WHEN x < 0 THEN -1 ELSE 1 END * FLOOR(ABS(x) * 10^n + 0.5) / 10^n`, DuckDB's
  own arithmetic, on every target.
- `try_cast`: PostgreSQL has none (SQLGlot writes CAST, which fails the query on the first bad
  value): `medallion.try_cast(CAST(x AS TEXT), CAST(NULL AS T))`, a function written to
  `medallion_functions.sql` beside the models, to run once in the database. Snowflake's TRY_CAST
  takes text only (SQLGlot writes CAST otherwise): the value is cast to text first.
- A cast to DECIMAL(p, s) rounds to s places; BigQuery's CAST takes no parameters (SQLGlot
  drops them, leaving 9 places): `ROUND(CAST(x AS NUMERIC), s)`.
- A TIMESTAMPTZ cast to TIMESTAMP is its UTC time (medallion's DuckDB runs in UTC); Snowflake
  keeps the offset's wall clock: `CAST(CONVERT_TIMEZONE('UTC', x) AS TIMESTAMPNTZ)`. Other
  targets are assumed to run their sessions in UTC too.
- `UNNEST(list) WITH ORDINALITY AS t(item, n)` numbers from 1; Spark's POSEXPLODE, BigQuery's
  OFFSET and Snowflake's FLATTEN index from 0: `n` is read as `n + 1` there. Nested values live
  as jsonb in PostgreSQL (how medallion publishes them) and as VARIANT in Snowflake: a list
  column unnests with JSONB_ARRAY_ELEMENTS there, and a field of an unnested struct,
  `t.item.field`, is read by its name in any case, as DuckDB reads it (a subquery over
  JSONB_EACH_TEXT / GET_IGNORE_CASE) — text or VARIANT, so it must be inside a CAST to its type
  (else refused).
- Spark: `regexp_replace` replaces the first match unless its options hold 'g' (Spark's every
  match; options as inline flags), the day of the week from Sunday 0, the ISO year and
  `yearweek`, `epoch`, month and day names, `date_trunc`, `strptime` and `x + INTERVAL` in
  DuckDB's types, `date - date` in days, `date_diff` counting boundaries, date parts, `length`
  and `position` as BIGINT; an ordered `list()` and RE2's POSIX classes are refused. Where the
  operand's type is known (`rewrite`'s `schema`: the Spark engine passes the types of the tables
  a query reads), a cast of a DOUBLE or DECIMAL to an integer rounds as DuckDB's (half to even,
  half away from zero; Spark truncates), a DOUBLE cast to DECIMAL(p, s) rounds x * 10^s as
  DuckDB's, and `avg()` of a DECIMAL is DuckDB's DOUBLE (Spark: an exact DECIMAL).
- `error(message)` fails the query: Spark's `raise_error`, BigQuery's `ERROR`, PostgreSQL's
  `medallion.error` (created by the compiled setup file).
- `FILTER (WHERE c)` on an aggregate: BigQuery and Snowflake have none, and SQLGlot's `agg(IF(c,
  x, NULL))` keeps the meaning only for aggregates that skip NULLs: any other is refused there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlglot.expressions as exp

Problems = list[tuple["exp.Expression", str]]

#: what the compiled SQL needs in the target database, by name: written beside the models
SETUP = {
    ("postgres", "try_cast"): """\
-- medallion.try_cast(value, NULL::type): value converted to the type of the second argument,
-- or NULL where it does not convert (DuckDB's TRY_CAST). The compiled models that use it need
-- it created once in the database.
CREATE SCHEMA IF NOT EXISTS medallion;
CREATE OR REPLACE FUNCTION medallion.try_cast(value text, target anyelement)
RETURNS anyelement LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  target := value;  -- the type's own input conversion
  RETURN target;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;
""",
    ("postgres", "error"): """\
-- medallion.error(message): fails the query with the message (DuckDB's error()), as a
-- conversion that would change a value does in the staging models `init --from` writes.
CREATE SCHEMA IF NOT EXISTS medallion;
CREATE OR REPLACE FUNCTION medallion.error(message text)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION '%', message;
END $$;
""",
}


#: the version of the Spark translations: raised when a rewrite changes the values or types a
#: query gives on Spark. A table built on Spark records it; one built with another version (or
#: before versions were recorded) is rebuilt, not given rows of two translations
#: (build/record.py)
SPARK_TRANSLATION = 1


#: the column types of the tables a query reads, by table (`layer.name` or a view's name,
#: lower-case) and column (lower-case), while `rewrite` runs: what `_type_of` reads a column's
#: type from (the Spark engine knows them at run time: the Delta schemas of a model's inputs)
_SCHEMA: ContextVar[Mapping[str, Mapping[str, exp.DataType]] | None] = ContextVar(
    "schema", default=None
)


def rewrite(
    tree: exp.Expression,
    dialect: str,
    schema: Mapping[str, Mapping[str, exp.DataType]] | None = None,
) -> tuple[exp.Expression, Problems, set[str]]:
    """A copy of `tree` with every rewrite for `dialect` applied; the constructs that cannot be
    kept (node, what); the SETUP names the result needs. `schema`: the column types of the
    tables the query reads, where known (a rewrite that depends on a type applies where it is
    known)."""
    problems: Problems = []
    needs: set[str] = set()
    tree = tree.copy()
    token = _SCHEMA.set(schema or {})
    try:
        for step in _REWRITES:
            tree = step(tree, dialect, problems, needs)
    finally:
        _SCHEMA.reset(token)
    return tree, problems, needs


def trusted(node: exp.Expression) -> bool:
    """Whether a function call was written by a rewrite here (not a name the user wrote)."""
    return bool(node.meta.get("medallion_rewrite"))


def _mark(node: exp.Expression) -> exp.Expression:
    node.meta["medallion_rewrite"] = True
    return node


def _is_null(value: exp.Expression) -> exp.Expression:
    import sqlglot.expressions as exp

    return exp.Is(this=value.copy(), expression=exp.Null())


def _not_null(value: exp.Expression) -> exp.Expression:
    import sqlglot.expressions as exp

    return exp.Not(this=_is_null(value))


def _kind(typ: exp.DataType | None) -> str | None:
    """The class of a type the rewrites tell apart: integer, double, decimal, text, date,
    boolean, other; None when not known."""
    import sqlglot.expressions as exp

    if typ is None or typ.is_type(exp.DataType.Type.UNKNOWN):
        return None
    t = exp.DataType.Type
    if typ.is_type(*exp.DataType.INTEGER_TYPES):
        return "integer"
    if typ.is_type(t.DOUBLE, t.FLOAT):
        return "double"
    if typ.is_type(t.DECIMAL, t.BIGDECIMAL):
        return "decimal"
    if typ.is_type(*exp.DataType.TEXT_TYPES):
        return "text"
    if typ.is_type(t.DATE):
        return "date"
    if typ.is_type(t.BOOLEAN):
        return "boolean"
    return "other"


def _decimal_params(typ: exp.DataType) -> tuple[int, int] | None:
    """(precision, scale) of a DECIMAL (DuckDB's bare DECIMAL is (18, 3)); None if not numbers."""
    params = [p.this for p in typ.expressions]
    if not params:
        return 18, 3
    if not all(p.is_int for p in params) or len(params) > 2:
        return None
    return int(params[0].this), int(params[1].this) if len(params) == 2 else 0


def _type_of(node: exp.Expression) -> exp.DataType | None:
    """The DuckDB type of an expression where it is known without running it: a cast, a
    literal, a column of a table whose types are known (through CTEs and subqueries), and
    arithmetic and a few functions of those. None when not known."""
    import sqlglot.expressions as exp

    build = exp.DataType.build
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs | exp.Alias):
        return _type_of(node.this)
    if isinstance(node, exp.Cast):  # TRY_CAST too
        return node.to
    if isinstance(node, exp.Literal):
        if node.is_string:
            return build("varchar")
        text = node.this.lower()
        if "e" in text:
            return build("double")
        if "." in text:
            whole, _, fraction = text.partition(".")
            return build(f"decimal({max(len(whole) + len(fraction), 1)}, {len(fraction)})")
        return build("integer")
    if isinstance(node, exp.Boolean):
        return build("boolean")
    if isinstance(node, exp.CurrentDate | exp.LastDay | exp.DateFromParts | exp.StrToDate):
        return build("date")
    if isinstance(node, exp.Column):
        return _column_type(node)
    if isinstance(node, exp.Div):
        if node.args.get("typed"):  # `//`: an integer
            return build("bigint")
        return build("double")  # DuckDB's `/` divides as doubles
    if isinstance(node, exp.Avg):
        return build("double")
    if isinstance(node, exp.Add | exp.Sub | exp.Mul):
        kinds = {_kind(_type_of(node.this)), _kind(_type_of(node.expression))}
        if kinds == {"integer"}:
            return build("bigint")
        if kinds == {"double"} or kinds == {"double", "integer"} or kinds == {"double", "decimal"}:
            return build("double")
        return None  # decimal arithmetic's precision and scale are DuckDB's to work out
    if isinstance(node, exp.Sum | exp.Min | exp.Max | exp.Round | exp.Floor | exp.Ceil):
        found = _type_of(node.this)
        if isinstance(node, exp.Sum) and _kind(found) == "decimal":
            return None  # DECIMAL(38, s)
        return found
    return None


def _column_type(column: exp.Column) -> exp.DataType | None:
    """The type of a column: found in the FROM and JOINs of the SELECT it is read in."""
    import sqlglot.expressions as exp

    select = column.find_ancestor(exp.Select)
    if select is None:
        return None
    return _read_type(select, column.name.lower(), column.table.lower())


def _read_type(select: exp.Select, name: str, table: str = "") -> exp.DataType | None:
    """The type of the column `name` (of the source aliased `table`, if given) that `select`
    reads from its FROM and JOINs: a table of the schema `rewrite` was given, a CTE's or a
    subquery's output column. None when not known, or when more than one source has it."""
    sources = []
    if (frm := select.args.get("from_")) is not None:
        sources.append(frm.this)
    sources += [j.this for j in select.args.get("joins") or []]
    found = []
    for source in sources:
        if table and table != source.alias_or_name.lower():
            continue
        typ = _output_type(source, name)
        if typ is not None:
            found.append(typ)
        elif not table and _may_have(source, name):
            return None  # it may be this source's column, of a type not known
    return found[0] if len(found) == 1 else None


def _may_have(source: exp.Expression, name: str) -> bool:
    """Whether a source of a FROM may have the column (one whose columns are not known may)."""
    import sqlglot.expressions as exp

    query = source.this if isinstance(source, exp.Subquery) else None
    if _renamed(source):
        return name in _renamed(source)
    if isinstance(source, exp.Table):
        cte = _cte(source)
        if cte is None:
            columns = (_SCHEMA.get() or {}).get(_table_key(source))
            return columns is None or name in columns
        if _renamed(cte):
            return name in _renamed(cte)
        query = cte.this
    while isinstance(query, exp.SetOperation):
        if query.args.get("by_name"):
            return True
        query = query.this  # a UNION's column names are its first SELECT's
    if not isinstance(query, exp.Select):
        return True
    for projection in query.expressions:
        star, table = projection, ""
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            star, table = projection.this, projection.table.lower()
        if not isinstance(star, exp.Star):
            if projection.alias_or_name.lower() == name:
                return True
        elif star.args.get("rename") or _star_may_have(query, name, table, star):
            return True
    return False


def _renamed(source: exp.Expression) -> list[str]:
    """The column names a source's or a CTE's alias gives (`AS t(a, b)`), lower-case."""
    alias = source.args.get("alias")
    return [c.name.lower() for c in alias.columns] if alias is not None else []


def _table_key(table: exp.Table) -> str:
    return ".".join(p for p in (table.db, table.name) if p).lower()


def _cte(table: exp.Table) -> exp.Expression | None:
    """The CTE a one-part table name reads, if one of the enclosing WITHs has it."""
    import sqlglot.expressions as exp

    if table.db:
        return None
    node: exp.Expression | None = table
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        for cte in with_.expressions if with_ is not None else []:
            if cte.alias_or_name.lower() == table.name.lower():
                return cte
        node = node.parent
    return None


def _output_type(source: exp.Expression, name: str) -> exp.DataType | None:
    """The type of the output column `name` of a FROM source: a table of the schema, a CTE or a
    subquery (its SELECT's expression of that name, or what its `*` passes on). None when not
    known for sure: a UNION whose common type is not sure, a name more than one output column
    may have."""
    import sqlglot.expressions as exp

    query: exp.Expression | None = None
    if _renamed(source):
        return None  # `AS t(a, b)`: which column is `name` is not worked out here
    if isinstance(source, exp.Table):
        cte = _cte(source)
        if cte is None:
            return ((_SCHEMA.get() or {}).get(_table_key(source)) or {}).get(name)
        if _renamed(cte):
            return None
        query = cte.this
    elif isinstance(source, exp.Subquery):
        query = source.this
    if isinstance(query, exp.SetOperation):
        return _set_operation_type(query, name)
    if not isinstance(query, exp.Select):
        return None
    found: list[exp.DataType | None] = []
    for projection in query.expressions:
        star, table = projection, ""
        if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            star, table = projection.this, projection.table.lower()
        if not isinstance(star, exp.Star):
            if projection.alias_or_name.lower() == name:
                found.append(_type_of(projection))
            continue
        if star.args.get("rename"):
            return None
        if any(c.alias_or_name.lower() == name for c in star.args.get("except_") or []):
            continue
        replaced = [r for r in star.args.get("replace") or [] if r.alias_or_name.lower() == name]
        if replaced:
            found.append(_type_of(replaced[0]))
        elif _star_may_have(query, name, table, star):
            found.append(_read_type(query, name, table))
    return found[0] if len(found) == 1 else None


def _star_may_have(select: exp.Select, name: str, table: str, star: exp.Star) -> bool:
    """Whether `star` (of the source aliased `table`, if given) of `select` may pass on the
    column `name` (a column of its sources it does not exclude, or one it replaces)."""
    if any(c.alias_or_name.lower() == name for c in star.args.get("except_") or []):
        return False
    if any(r.alias_or_name.lower() == name for r in star.args.get("replace") or []):
        return True
    sources = []
    if (frm := select.args.get("from_")) is not None:
        sources.append(frm.this)
    sources += [j.this for j in select.args.get("joins") or []]
    return any(
        _may_have(source, name)
        for source in sources
        if not table or table == source.alias_or_name.lower()
    )


def _set_operation_type(query: exp.SetOperation, name: str) -> exp.DataType | None:
    """The type of the output column `name` of a UNION (INTERSECT, EXCEPT): DuckDB's common type
    of the types its branches give it (by position, or by name for UNION BY NAME), None where
    that is not sure or a branch's is not known."""
    import sqlglot.expressions as exp

    branches: list[exp.Expression] = []
    stack: list[exp.Expression] = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.SetOperation):
            if node.args.get("by_name") and node is not query:
                return None
            stack += [node.expression, node.this]
        else:
            branches.append(node.this if isinstance(node, exp.Subquery) else node)
    if not all(isinstance(b, exp.Select) for b in branches):
        return None
    if query.args.get("by_name"):
        types = [_output_type(exp.Subquery(this=b), name) for b in branches]
    else:
        first = branches[0].expressions
        names = [p.alias_or_name.lower() for p in first]
        if name not in names or names.count(name) > 1:
            return None
        at = names.index(name)
        types = []
        for branch in branches:
            projections = branch.expressions
            if len(projections) != len(first) or any(p.is_star for p in projections[: at + 1]):
                return None  # a `*` before it: which column is at its place is not known
            types.append(_type_of(projections[at]))
    return _common_type(types)


#: the digits before the point of an integer type as DuckDB widens it to a DECIMAL
_INTEGER_DIGITS = {"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19}


def _common_type(types: list[exp.DataType | None]) -> exp.DataType | None:
    """DuckDB's type of a UNION's column whose branches have `types`, where it is sure: one
    type; a DOUBLE for numbers one of which is a DOUBLE (a FLOAT for FLOATs, DECIMALs and
    integers); a DECIMAL wide enough for DECIMALs and integers, within 38 digits (DuckDB fits
    an integer literal in fewer digits: the rewrites read the kind of type, not its digits).
    None otherwise."""
    import sqlglot.expressions as exp

    if any(t is None for t in types):
        return None
    known = [t for t in types if t is not None]
    if all(t == known[0] for t in known):
        return known[0]
    kinds = {_kind(t) for t in known}
    if "double" in kinds and kinds <= {"double", "decimal", "integer"}:
        double = any(t.is_type(exp.DataType.Type.DOUBLE) for t in known)
        return exp.DataType.build("double" if double else "float")
    if kinds != {"decimal", "integer"} and kinds != {"decimal"}:
        return None
    whole = scale = 0
    for t in known:
        if _kind(t) == "integer":
            digits, places = _INTEGER_DIGITS.get(t.this.name), 0
        else:
            params = _decimal_params(t)
            digits, places = (params[0] - params[1], params[1]) if params else (None, 0)
        if digits is None:
            return None
        whole, scale = max(whole, digits), max(scale, places)
    if whole + scale > 38:
        return None
    return exp.DataType.build(f"decimal({whole + scale}, {scale})")


def _arg_max(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    import sqlglot.expressions as exp

    def convert(node: exp.Expression) -> exp.Expression:
        agg, where = node, None
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArgMax | exp.ArgMin):
            agg, where = node.this, node.expression.this
        elif not isinstance(node, exp.ArgMax | exp.ArgMin) or isinstance(node.parent, exp.Filter):
            return node
        largest = isinstance(agg, exp.ArgMax)
        name = "arg_max" if largest else "arg_min"
        if agg.args.get("count") is not None:
            problems.append((node, f"{name}() with a count (a list of values; no equivalent)"))
            return node
        value, key = agg.this, agg.expression
        if dialect == "postgres":
            if isinstance(node.parent, exp.Window):
                problems.append((node, f"{name}() over a window (no PostgreSQL equivalent)"))
                return node
            keep = exp.and_(_not_null(value), _not_null(key), *([where.copy()] if where else []))
            order = exp.Order(expressions=[exp.Ordered(this=key.copy(), desc=largest)])
            order.set("this", value.copy())
            first = exp.Filter(this=exp.ArrayAgg(this=order), expression=exp.Where(this=keep))
            return exp.Bracket(this=exp.paren(first), expressions=[exp.Literal.number(0)])
        keep = exp.and_(_not_null(value), *([where.copy()] if where else []))
        ranked = exp.Case(ifs=[exp.If(this=keep, true=key.copy())])
        out = exp.ArgMax if largest else exp.ArgMin
        return out(this=value.copy(), expression=ranked)

    return tree.transform(convert, copy=False)


def _concat_ws(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    import sqlglot.expressions as exp

    if dialect not in ("snowflake", "bigquery"):
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.ConcatWs):
            return node
        sep, *parts = node.expressions
        values = [p.copy() for p in parts]
        if dialect == "snowflake":
            items: exp.Expression = _mark(exp.ArrayConstructCompact(expressions=values))
        else:
            items = exp.Array(expressions=values)
        return _mark(exp.ArrayToString(this=items, expression=sep.copy()))

    return tree.transform(convert, copy=False)


def _least(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """DuckDB's least/greatest skip NULLs; BigQuery's return NULL for any NULL argument:
    LEAST(COALESCE(a, b, c), COALESCE(b, a, c), COALESCE(c, a, b)) skips them (an argument's
    NULL becomes another argument, which does not change the result)."""
    import sqlglot.expressions as exp

    if dialect != "bigquery":
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Least | exp.Greatest) or not node.args.get("ignore_nulls"):
            return node
        values = [node.this, *node.expressions]
        if len(values) < 2:
            return node
        firsts = [
            exp.Coalesce(this=v.copy(), expressions=[o.copy() for o in values if o is not v])
            for v in values
        ]
        return type(node)(this=firsts[0], expressions=firsts[1:])

    return tree.transform(convert, copy=False)


def _date_parts(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """Date parts as DuckDB means them: hour()/minute()/second() (none in PostgreSQL), the ISO
    day of the week (Monday 1 .. Sunday 7) and the ISO week, which each target spells its own
    way (BigQuery's WEEK starts on Sunday, Snowflake's follows a session setting)."""
    import sqlglot.expressions as exp

    if dialect == "databricks":
        dialect = "spark"
    parts = {exp.Hour: "HOUR", exp.Minute: "MINUTE", exp.Second: "SECOND"}

    def call(name: str, value: exp.Expression) -> exp.Expression:
        return _mark(exp.Anonymous(this=name, expressions=[value.copy()]))

    def convert(node: exp.Expression) -> exp.Expression:
        part = parts.get(type(node))
        if part is not None and dialect == "postgres":
            return exp.Extract(this=exp.var(part), expression=node.this.copy())
        if not isinstance(node, exp.Extract):
            return node
        unit, value = node.name.upper(), node.expression
        if unit == "ISODOW":
            if dialect == "spark":
                return exp.Extract(this=exp.var("DAYOFWEEK_ISO"), expression=value.copy())
            if dialect == "snowflake":
                return call("DAYOFWEEKISO", value)
            if dialect == "bigquery":  # DAYOFWEEK: Sunday 1 .. Saturday 7
                sunday_first = exp.Extract(this=exp.var("DAYOFWEEK"), expression=value.copy())
                shifted = exp.Add(this=sunday_first, expression=exp.Literal.number(5))
                monday_first = exp.Mod(this=exp.paren(shifted), expression=exp.Literal.number(7))
                return exp.Add(this=monday_first, expression=exp.Literal.number(1))
        if unit == "WEEK":
            if dialect == "snowflake":
                return call("WEEKISO", value)
            if dialect == "bigquery":
                return exp.Extract(this=exp.var("ISOWEEK"), expression=value.copy())
        return node

    return tree.transform(convert, copy=False)


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _strftime(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """strftime() for BigQuery and Snowflake. BigQuery: FORMAT_DATETIME (a DuckDB TIMESTAMP is
    a BigQuery DATETIME, and a DATE converts to one), where SQLGlot writes FORMAT_DATE, which
    refuses a DATETIME. Snowflake has no full day name: '%A' alone becomes a CASE on the ISO day
    of the week; other formats with a day name are refused."""
    import sqlglot.expressions as exp

    if dialect not in ("bigquery", "snowflake"):
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.TimeToStr):
            return node
        fmt = node.args.get("format")
        text = fmt.this if isinstance(fmt, exp.Literal) and fmt.is_string else None
        if dialect == "bigquery":
            if text is None:
                return node
            return _mark(
                exp.Anonymous(this="FORMAT_DATETIME", expressions=[fmt.copy(), node.this.copy()])
            )
        if text == "%A":
            day = _mark(exp.Anonymous(this="DAYOFWEEKISO", expressions=[node.this.copy()]))
            return exp.Case(
                this=day,
                ifs=[
                    exp.If(this=exp.Literal.number(i), true=exp.Literal.string(name))
                    for i, name in enumerate(_DAY_NAMES, start=1)
                ],
            )
        if text is None or "%A" in text or "%a" in text:
            problems.append(
                (
                    node,
                    "strftime() with a day name or a format that is not a text (Snowflake "
                    "has no day names in TO_CHAR): format '%A' alone, or the ISO day number",
                )
            )
        return node

    return tree.transform(convert, copy=False)


def _split_part(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    import sqlglot.expressions as exp

    if dialect != "bigquery":
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.SplitPart):
            return node
        text, delimiter, index = node.this, node.args.get("delimiter"), node.args.get("part_index")
        literal_index = isinstance(index, exp.Literal) and not index.is_string
        if not (
            literal_index
            and int(index.this) > 0
            and isinstance(delimiter, exp.Literal)
            and delimiter.is_string
            and delimiter.this
        ):
            problems.append(
                (
                    node,
                    "split_part() with a part that is not a positive number, or a delimiter "
                    "that is not a text (BigQuery: SPLIT(...)[SAFE_ORDINAL(n)] needs both)",
                )
            )
            return node
        part = exp.Bracket(
            this=exp.Split(this=text.copy(), expression=delimiter.copy()),
            expressions=[exp.Literal.number(int(index.this))],
            offset=1,
            safe=True,
        )
        found = exp.Coalesce(this=part, expressions=[exp.Literal.string("")])
        return exp.Case(ifs=[exp.If(this=_is_null(text), true=exp.Null())], default=found)

    return tree.transform(convert, copy=False)


def _division(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """DuckDB's `/` always divides as doubles (a decimal divided is a DOUBLE); Spark, Snowflake
    and BigQuery divide decimals exactly, so 2482.93 / 2 is 1241.465 there and 1241.4649999...
    in DuckDB, which round(..., 2) then takes to different cents. The dividend is cast to DOUBLE
    there (SQLGlot does so for PostgreSQL itself)."""
    import sqlglot.expressions as exp

    if dialect == "postgres":
        return tree
    double = exp.DataType.build("double")
    for node in list(tree.find_all(exp.Div)):
        if node.args.get("typed") or node.this.is_type(*exp.DataType.REAL_TYPES):
            continue  # integer division (`//`), or already a double
        node.set("this", exp.cast(node.this.copy(), double))
    return tree


def _int_division(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """`a // b` (integers, truncated toward zero): SQLGlot writes TRUNC(a / b) for Snowflake,
    whose `/` rounds the quotient to 6 places (TRUNC(2999999 / 2000000) is 2, not 1).
    `(a - MOD(a, b)) / b` divides exactly, at any size."""
    import sqlglot.expressions as exp

    if dialect != "snowflake":
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.IntDiv):
            return node
        whole = exp.Sub(
            this=node.this.copy(),
            expression=exp.Mod(this=node.this.copy(), expression=node.expression.copy()),
        )
        return exp.paren(
            exp.Div(this=exp.paren(whole), expression=node.expression.copy(), typed=True)
        )

    return tree.transform(convert, copy=False)


def _round(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """round(x[, n]) as DuckDB rounds: x * 10^n half away from zero, in x's own type. The
    targets differ on a double: PostgreSQL rounds halves to even and has no round(double, n),
    Spark rounds the double's shortest decimal text (1241.465 up, where DuckDB's binary value
    1241.4649999... goes down). `CASE WHEN x < 0 THEN -1 ELSE 1 END * FLOOR(ABS(x) * 10^n + 0.5)
    / 10^n` is DuckDB's own arithmetic, exact on decimals, the same IEEE steps on doubles."""
    import sqlglot.expressions as exp

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Round):
            return node
        places = node.args.get("decimals")
        if places is None:
            n = 0
        elif isinstance(places, exp.Literal) and places.is_int:
            n = int(places.this)
        elif isinstance(places, exp.Neg) and places.this.is_int:
            n = -int(places.this.this)
        else:
            problems.append((node, "round() to a number of places that is not a number"))
            return node
        scale = exp.Literal.number(10**n if n >= 0 else f"{10.0**n:.{-n}f}")
        value = node.this
        shifted = exp.Add(
            this=exp.Mul(this=exp.Abs(this=value.copy()), expression=scale.copy()),
            expression=exp.Literal.number("0.5"),
        )
        negative = exp.LT(this=value.copy(), expression=exp.Literal.number(0))
        sign = exp.Case(
            ifs=[exp.If(this=negative, true=exp.Neg(this=exp.Literal.number(1)))],
            default=exp.Literal.number(1),
        )
        rounded = exp.Mul(this=sign, expression=exp.Floor(this=shifted))
        # typed: a plain `/` (untyped, SQLGlot casts the dividend to DOUBLE PRECISION for
        # PostgreSQL, which would turn a numeric into a double); the dividend is never an integer
        return exp.paren(exp.Div(this=rounded, expression=scale, typed=True, safe=False))

    return tree.transform(convert, copy=False)


def _try_cast(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    import sqlglot.expressions as exp

    if dialect not in ("postgres", "snowflake"):
        return tree
    text = exp.DataType.build("text")

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.TryCast):
            return node
        value = exp.cast(node.this.copy(), text)
        if dialect == "snowflake":  # TRY_CAST takes text only
            return exp.TryCast(this=value, to=node.to.copy(), safe=True)
        needs.add("try_cast")
        typed_null = exp.cast(exp.Null(), node.to.copy())
        call = _mark(exp.Anonymous(this="try_cast", expressions=[value, typed_null]))
        # the outer CAST keeps a type's parameters (numeric(12, 2)), which anyelement drops
        return exp.cast(exp.Dot(this=exp.to_identifier("medallion"), expression=call), node.to)

    return tree.transform(convert, copy=False)


def _decimals(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """BigQuery: a cast to DECIMAL(p, s) rounds to s places, as DuckDB's does. SQLGlot drops
    the parameters (CAST(x AS NUMERIC) keeps 9 places): ROUND(CAST(x AS NUMERIC), s)."""
    import sqlglot.expressions as exp

    if dialect != "bigquery":
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Cast) or not node.to.is_type(exp.DataType.Type.DECIMAL):
            return node
        params = [p.this for p in node.to.expressions]
        if len(params) != 2 or not all(isinstance(p, exp.Literal) and p.is_int for p in params):
            return node
        precision, scale = (int(p.this) for p in params)
        # NUMERIC holds 29 digits before the point and 9 after; BIGNUMERIC more
        wide = precision - scale > 29 or scale > 9
        bare = exp.DataType(
            this=exp.DataType.Type.BIGDECIMAL if wide else exp.DataType.Type.DECIMAL
        )
        cast = type(node)(this=node.this.copy(), to=bare)
        if isinstance(node, exp.TryCast):
            cast.set("safe", True)
        return exp.Round(this=cast, decimals=exp.Literal.number(scale))

    return tree.transform(convert, copy=False)


def _timezones(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """A TIMESTAMPTZ cast to TIMESTAMP is its UTC time in medallion (DuckDB runs in UTC);
    Snowflake keeps the wall clock of the value's own offset: CONVERT_TIMEZONE('UTC', x)
    first. (Where x's type is not written in the model, it is not known here.)"""
    import sqlglot.expressions as exp

    if dialect != "snowflake":
        return tree
    zoned = (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ)
    plain = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ)

    def convert(node: exp.Expression) -> exp.Expression:
        inner = node.this if isinstance(node, exp.Cast) else None
        if not (
            isinstance(inner, exp.Cast) and inner.to.is_type(*zoned) and node.to.is_type(*plain)
        ):
            return node
        utc = _mark(
            exp.Anonymous(
                this="CONVERT_TIMEZONE", expressions=[exp.Literal.string("UTC"), inner.copy()]
            )
        )
        return exp.Cast(this=utc, to=node.to.copy())

    return tree.transform(convert, copy=False)


def _unnest(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """UNNEST ... WITH ORDINALITY from 1 everywhere; nested values as PostgreSQL and Snowflake
    hold them (see the module's docstring)."""
    import sqlglot.expressions as exp

    if dialect == "databricks":
        dialect = "spark"
    if dialect in ("postgres", "snowflake"):
        for explode in tree.find_all(exp.Explode):  # unnest() in a select list
            if _reads_a_column(explode):
                problems.append(
                    (
                        explode,
                        f"unnest() of a column in a select list ({_holder(dialect)}): "
                        "unnest it in FROM ... AS t(item)",
                    )
                )
    for unnest in list(tree.find_all(exp.Unnest)):
        alias = unnest.args.get("alias")
        select = unnest.find_ancestor(exp.Select)
        in_from = isinstance(unnest.parent, exp.Join | exp.From)
        if select is None or alias is None or not in_from:
            if dialect == "postgres" and _reads_a_column(unnest):
                problems.append(
                    (
                        unnest,
                        "unnest() of a column outside FROM ... AS t(item) (PostgreSQL "
                        "holds nested values as jsonb; unnest them in FROM)",
                    )
                )
            continue
        name = alias.name
        columns = [c.name for c in alias.columns]
        ordinal = unnest.args.get("offset")
        refs = [c for c in select.find_all(exp.Column) if _in_scope(c, select)]
        if isinstance(ordinal, exp.Identifier) and dialect in ("spark", "bigquery", "snowflake"):
            for ref in refs:
                if ref.name == ordinal.name and ref.table in ("", name):
                    _plus_one(ref, select)
        nested = dialect in ("postgres", "snowflake") and _reads_a_column(unnest)
        if not nested:
            continue
        item = columns[0] if columns else None
        for ref in refs:
            field = _field_of(ref, name, item)
            if field is None:
                if item is not None and ref.name == item and ref.table in ("", name):
                    problems.append(
                        (
                            ref,
                            f"{ref.sql('duckdb')}, an element of an unnested list, used as a "
                            f"value ({_holder(dialect)}): use its fields, each in a CAST",
                        )
                    )
                continue
            if not isinstance(ref.parent, exp.Cast):
                problems.append(
                    (
                        ref,
                        f"{ref.sql('duckdb')}, a field of an unnested struct, outside a CAST "
                        f"({_holder(dialect)}): write cast({ref.sql('duckdb')} as <type>)",
                    )
                )
                continue
            ref.replace(_field(exp.column(item, name), field, dialect))
        if dialect == "postgres":
            elements = _mark(
                exp.Anonymous(this="jsonb_array_elements", expressions=unnest.expressions)
            )
            table = exp.Table(this=elements, alias=alias.copy())
            if isinstance(ordinal, exp.Identifier):
                table.set("ordinality", True)
                table.args["alias"].append("columns", ordinal.copy())
            unnest.replace(table)
    return tree


def _field(holder: exp.Expression, field: str, dialect: str) -> exp.Expression:
    """A struct's field read from the jsonb (PostgreSQL) or VARIANT (Snowflake) holding it, by
    its name in any case, as DuckDB reads a field (a declared `STRUCT(product_id ...)` may be
    stored as PRODUCT_ID)."""
    import sqlglot.expressions as exp

    name = exp.Literal.string(field.lower())
    if dialect == "snowflake":
        return _mark(exp.Anonymous(this="GET_IGNORE_CASE", expressions=[holder, name]))
    # (SELECT f.value FROM JSONB_EACH_TEXT(holder) AS f(key, value) WHERE LOWER(f.key) = name)
    pairs = "__medallion_field"
    each = exp.Table(
        this=_mark(exp.Anonymous(this="jsonb_each_text", expressions=[holder])),
        alias=exp.TableAlias(
            this=exp.to_identifier(pairs),
            columns=[exp.to_identifier("key"), exp.to_identifier("value")],
        ),
    )
    key = exp.Lower(this=exp.column("key", pairs))
    found = (
        exp.select(exp.column("value", pairs)).from_(each).where(exp.EQ(this=key, expression=name))
    )
    return exp.Subquery(this=found)


def _holder(dialect: str) -> str:
    return (
        "PostgreSQL holds nested values as jsonb"
        if dialect == "postgres"
        else ("Snowflake holds them as VARIANT")
    )


def _reads_a_column(unnest: exp.Expression) -> bool:
    """Whether the unnested value comes from a table (stored nested data), not a literal."""
    import sqlglot.expressions as exp

    values = unnest.expressions or [unnest.this]
    return any(isinstance(e, exp.Column) for v in values for e in v.walk())


def _in_scope(column: exp.Expression, select: exp.Expression) -> bool:
    """A column of `select` itself, not of a subquery inside it."""
    import sqlglot.expressions as exp

    return column.find_ancestor(exp.Select) is select


def _field_of(ref: exp.Column, alias: str, item: str | None) -> str | None:
    """`field` when `ref` is `alias.item.field` (or `item.field`)."""
    if item is None:
        return None
    parts = [p.name for p in ref.parts]
    if parts[:-1] in ([alias, item], [item]) and len(parts) >= 2:
        return parts[-1]
    return None


def _plus_one(ref: exp.Column, select: exp.Expression) -> None:
    """`ref` read as `ref + 1`, keeping its name where it is a selected column."""
    import sqlglot.expressions as exp

    shifted = exp.paren(exp.Add(this=ref.copy(), expression=exp.Literal.number(1)))
    if ref.parent is select and ref in select.expressions:
        ref.replace(exp.alias_(shifted, ref.name))
    else:
        ref.replace(shifted)


#: aggregates that skip NULLs: `agg(x) FILTER (WHERE c)` is `agg(IF(c, x, NULL))` for them
def _null_skipping() -> tuple[type, ...]:
    import sqlglot.expressions as exp

    names = (
        "Count Sum Avg Min Max Stddev StddevPop StddevSamp Variance VariancePop GroupConcat "
        "ApproxDistinct CountIf LogicalAnd LogicalOr Corr CovarPop CovarSamp Median Quantile "
        "PercentileCont PercentileDisc ArgMax ArgMin"
    )
    return tuple(getattr(exp, n) for n in names.split() if hasattr(exp, n))


def _filter(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    import sqlglot.expressions as exp

    if dialect not in ("snowflake", "bigquery"):
        return tree
    keeps = _null_skipping()
    for node in tree.find_all(exp.Filter):
        if not isinstance(node.this, keeps):
            name = node.this.sql("duckdb").split("(")[0].lower()
            problems.append(
                (
                    node,
                    f"{name}(...) FILTER (WHERE ...) ({dialect} has no FILTER; as "
                    f"{name}(IF(cond, x, NULL)) it would count the rows filtered out)",
                )
            )
    return tree


def _regexp(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """Snowflake's REGEXP_LIKE matches the whole text, DuckDB's regexp_matches any part of it:
    REGEXP_INSTR(x, p) > 0 keeps DuckDB's meaning."""
    import sqlglot.expressions as exp

    if dialect != "snowflake":
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.RegexpLike):
            found = exp.RegexpInstr(this=node.this, expression=node.expression)
            return exp.paren(exp.GT(this=found, expression=exp.Literal.number(0)))
        return node

    return tree.transform(convert, copy=False)


# -- Spark: what SQLGlot renders with Spark's meaning instead of DuckDB's ------------------------


def _spark(dialect: str) -> bool:
    return dialect in ("spark", "databricks")


def _regexp_options(node: exp.Expression, options: exp.Expression | None, problems: Problems):
    """DuckDB's regexp options as (global, inline flags for Java's regex), or None (refused)."""
    import sqlglot.expressions as exp

    if options is None:
        return False, ""
    text = options.this if isinstance(options, exp.Literal) and options.is_string else None
    if text is None or set(text) - set("gic"):
        problems.append(
            (
                node,
                f"{_written(node)}() with options {options.sql('duckdb')} (Spark keeps 'g' "
                "and 'i' only: write the others as inline flags in the pattern, e.g. (?s))",
            )
        )
        return None
    # DuckDB takes the last of 'i' and 'c' (case-sensitive, the default)
    case = [c for c in text if c in "ic"]
    return "g" in text, "(?i)" if case and case[-1] == "i" else ""


def _posix_classes(
    node: exp.Expression, pattern: exp.Expression | None, problems: Problems
) -> bool:
    """RE2's `[[:alpha:]]` classes are no classes in Java's regex (a set of the letters
    `:alph`): refused, with what to write instead."""
    import sqlglot.expressions as exp

    if isinstance(pattern, exp.Literal) and pattern.is_string and "[:" in pattern.this:
        problems.append(
            (
                node,
                f"{_written(node)}() with a POSIX class [[:...:]] (Java's regex on Spark reads "
                "it as a set of letters): write the class out, e.g. [A-Za-z] or [0-9]",
            )
        )
        return True
    return False


def _java_replacement(text: str, shift: int) -> str:
    """A DuckDB (RE2) replacement as Java's: `\\N` is group N (`$N`, `shift` groups later), `\\\\`
    a backslash; `$` is a literal dollar in RE2 and a group in Java (escaped)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1].isdigit():
            out.append(f"${int(text[i + 1]) + shift}")
            i += 2
            continue
        if c == "\\" and i + 1 < len(text) and text[i + 1] == "\\":
            out.append("\\\\")
            i += 2
            continue
        out.append("\\$" if c == "$" else ("\\\\" if c == "\\" else c))
        i += 1
    return "".join(out)


def _spark_regexp(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """DuckDB's regexp_replace replaces the FIRST match unless its options hold 'g'; Spark's
    replaces every match and SQLGlot drops the options. First match only is written
    `REGEXP_REPLACE(s, '^([\\s\\S]*?)(p)', '$1r')`: the shortest prefix before a match of `p`
    ends where the leftmost match begins, and only one match can follow `^`. The replacement's
    `\\N` (RE2) becomes Java's `$N` (shifted past the two added groups). Option 'i' is the inline
    `(?i)`; regexp_matches/regexp_extract options likewise."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree

    def inline(pattern: exp.Expression, flags: str) -> exp.Expression:
        if not flags:
            return pattern.copy()
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            return exp.Literal.string(flags + pattern.this)
        return _mark(
            exp.Anonymous(this="CONCAT", expressions=[exp.Literal.string(flags), pattern.copy()])
        )

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(
            node, exp.RegexpLike | exp.RegexpExtract | exp.RegexpExtractAll | exp.RegexpSplit
        ):
            if _posix_classes(node, node.expression, problems):
                return node
            key = "flag" if isinstance(node, exp.RegexpLike) else "parameters"
            options = node.args.get(key)
            if options is None:
                return node
            found = _regexp_options(node, options, problems)
            if found is None:
                return node
            copy = node.copy()
            copy.set(key, None)
            copy.set("expression", inline(node.expression, found[1]))
            return copy
        if not isinstance(node, exp.RegexpReplace):
            return node
        if _posix_classes(node, node.expression, problems):
            return node
        found = _regexp_options(node, node.args.get("modifiers"), problems)
        if found is None:
            return node
        every, flags = found
        replacement = node.args.get("replacement")
        if not (isinstance(replacement, exp.Literal) and replacement.is_string):
            problems.append(
                (
                    node,
                    "regexp_replace() with a replacement that is not a text literal (its \\1 "
                    "and $ mean other things in Spark's Java regex)",
                )
            )
            return node
        pattern = inline(node.expression, flags)
        if every:
            return exp.RegexpReplace(
                this=node.this.copy(),
                expression=pattern,
                replacement=exp.Literal.string(_java_replacement(replacement.this, 0)),
            )
        if isinstance(pattern, exp.Literal):
            first: exp.Expression = exp.Literal.string(f"^([\\s\\S]*?)({pattern.this})")
        else:
            first = _mark(
                exp.Anonymous(
                    this="CONCAT",
                    expressions=[
                        exp.Literal.string("^([\\s\\S]*?)("),
                        pattern,
                        exp.Literal.string(")"),
                    ],
                )
            )
        # `\0` (the whole match) is the pattern's own group, 2 after the prefix's
        text = "$1" + _java_replacement(replacement.this, 2)
        return exp.RegexpReplace(
            this=node.this.copy(), expression=first, replacement=exp.Literal.string(text)
        )

    return tree.transform(convert, copy=False)


def _written(node: exp.Expression) -> str:
    """The DuckDB name of a regexp function node, for a refusal (not by rendering it: SQLGlot
    warns on stderr about the options it drops)."""
    names = {
        "RegexpReplace": "regexp_replace",
        "RegexpLike": "regexp_matches",
        "RegexpExtract": "regexp_extract",
        "RegexpExtractAll": "regexp_extract_all",
        "RegexpSplit": "regexp_split_to_array",
    }
    return names.get(type(node).__name__, node.key)


#: DuckDB date parts as Spark computes them (x: the value), each a BIGINT as in DuckDB
_SPARK_PARTS = {
    "year": "EXTRACT(YEAR FROM {x})",
    "month": "EXTRACT(MONTH FROM {x})",
    "day": "EXTRACT(DAY FROM {x})",
    "quarter": "EXTRACT(QUARTER FROM {x})",
    "doy": "EXTRACT(DOY FROM {x})",
    "hour": "HOUR({x})",
    "minute": "MINUTE({x})",
    "second": "SECOND({x})",  # whole seconds; Spark's EXTRACT(SECOND) holds the fraction
    # DuckDB: Sunday 0 .. Saturday 6; Spark's DAYOFWEEK: Sunday 1 .. Saturday 7
    "dow": "DAYOFWEEK({x}) - 1",
    "isodow": "EXTRACT(DAYOFWEEK_ISO FROM {x})",
    "week": "WEEKOFYEAR({x})",  # the ISO week on both
    # the ISO year is the year of the week's Thursday
    "isoyear": "YEAR(DATE_ADD(CAST({x} AS DATE), 4 - EXTRACT(DAYOFWEEK_ISO FROM {x})))",
    "yearweek": "YEAR(DATE_ADD(CAST({x} AS DATE), 4 - EXTRACT(DAYOFWEEK_ISO FROM {x}))) * 100 "
    "+ WEEKOFYEAR({x})",
}
_PART_NAMES = {
    "years": "year",
    "yr": "year",
    "y": "year",
    "yrs": "year",
    "months": "month",
    "mon": "month",
    "mm": "month",
    "days": "day",
    "d": "day",
    "dayofmonth": "day",
    "dayofyear": "doy",
    "dayofweek": "dow",
    "weekday": "dow",
    "weekofyear": "week",
    "weeks": "week",
    "w": "week",
    "hours": "hour",
    "h": "hour",
    "hr": "hour",
    "minutes": "minute",
    "min": "minute",
    "m": "minute",
    "seconds": "second",
    "sec": "second",
    "s": "second",
    "quarters": "quarter",
}


def _part_of(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    """(DuckDB date part, value) of a date part call in any of its spellings."""
    import sqlglot.expressions as exp

    functions = {
        exp.Year: "year",
        exp.Month: "month",
        exp.Day: "day",
        exp.DayOfMonth: "day",
        exp.Quarter: "quarter",
        exp.DayOfYear: "doy",
        exp.Hour: "hour",
        exp.Minute: "minute",
        exp.Second: "second",
        exp.DayOfWeek: "dow",
        exp.DayOfWeekIso: "isodow",
        exp.Week: "week",
        exp.WeekOfYear: "week",
        exp.TimeToUnix: "epoch",
    }
    part = functions.get(type(node))
    if part is not None:
        return part, node.this
    if isinstance(node, exp.Extract):
        return node.name.lower(), node.expression
    name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
    if name in ("isoyear", "yearweek") and len(node.expressions) == 1:
        return name, node.expressions[0]
    if name in ("date_part", "datepart") and len(node.expressions) == 2:
        unit, value = node.expressions
        if isinstance(unit, exp.Literal) and unit.is_string:
            return unit.this.lower(), value
        return "(a part that is not a text)", value
    return None


def _spark_date_parts(
    tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]
) -> Any:
    """Date parts as DuckDB numbers them (a BIGINT each): the day of the week from Sunday 0
    (Spark's DAYOFWEEK counts from 1), the ISO year and `yearweek` (none in Spark), whole
    seconds; a part Spark has no counterpart for is refused."""
    import sqlglot
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    bigint = exp.DataType.build("bigint")

    def convert(node: exp.Expression) -> exp.Expression:
        found = _part_of(node)
        if found is None or trusted(node):
            return node
        part, value = found
        part = _PART_NAMES.get(part, part)
        if part == "epoch":
            micros = _mark(
                exp.Anonymous(
                    this="UNIX_MICROS",
                    expressions=[exp.cast(value.copy(), exp.DataType.build("timestamp"))],
                )
            )
            seconds = exp.Div(
                this=exp.cast(micros, exp.DataType.build("double")),
                expression=exp.Literal.number(1000000),
            )
            return exp.paren(seconds)
        template = _SPARK_PARTS.get(part)
        if template is None:
            problems.append((node, f"date part {part!r} (no Spark equivalent)"))
            return node
        spark = sqlglot.parse_one(template.format(x="__value__"), dialect="spark")
        for placeholder in list(spark.find_all(exp.Column)):
            if placeholder.name == "__value__":
                placeholder.replace(value.copy())
        for call in spark.find_all(exp.Func):
            _mark(call)
        return exp.cast(exp.paren(spark) if not isinstance(spark, exp.Func) else spark, bigint)

    return tree.transform(convert, copy=False)


def _timestamp_like(value: exp.Expression, result: exp.Expression) -> exp.Expression:
    """`result` (a Spark TIMESTAMP_NTZ) in the type DuckDB gives a date/time function of
    `value`: TIMESTAMP for a DATE or TIMESTAMP, TIMESTAMPTZ for a TIMESTAMPTZ. Spark's
    COALESCE takes the wider of TIMESTAMP_NTZ and the value's type, which is that one (the
    value itself is never reached: `result` is NULL only where the value is)."""
    import sqlglot.expressions as exp

    return exp.Coalesce(this=result, expressions=[value.copy()])


def _spark_date_trunc(
    tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]
) -> Any:
    """date_trunc: Spark's is always a TIMESTAMP with time zone; DuckDB's keeps a TIMESTAMP
    (and makes one of a DATE). The truncated wall time (UTC sessions) as TIMESTAMP_NTZ, in the
    value's own type where that is a TIMESTAMPTZ."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    ntz = exp.DataType.build("timestamp_ntz", dialect="spark")

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.TimestampTrunc | exp.DateTrunc) or trusted(node):
            return node
        truncated = _mark(node.copy())
        return _timestamp_like(node.this, exp.cast(truncated, ntz))

    return tree.transform(convert, copy=False)


def _is_a_date(value: exp.Expression) -> bool:
    """Whether `value` is known to be a DATE (written so, or a column of a table whose types
    are known)."""
    return _kind(_type_of(value)) == "date"


def _spark_date_arithmetic(
    tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]
) -> Any:
    """`date - date` is a number of days (BIGINT) in DuckDB, an interval in Spark (which Delta
    cannot store): DATEDIFF where both sides are known to be DATEs (a DATE cast, current_date,
    a DATE column of a table whose types are known, ...). One side alone known is left as
    written: `date - <days>` is a DATE on both engines, and a `date - date` of a type not known
    is refused where Spark binds it (an interval). `x + INTERVAL ...` is a TIMESTAMP in DuckDB
    also for a DATE x (Spark keeps a DATE); `date_add(x, INTERVAL ...)` is `x + INTERVAL ...`
    (Spark's takes days)."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    bigint = exp.DataType.build("bigint")
    ntz = exp.DataType.build("timestamp_ntz", dialect="spark")

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DateAdd) and isinstance(node.expression, exp.Interval):
            node = exp.Add(this=node.this.copy(), expression=node.expression.copy())
        if not isinstance(node, exp.Add | exp.Sub):
            return node
        left, right = node.this, node.expression
        if isinstance(right, exp.Interval) or isinstance(left, exp.Interval):
            value = right if isinstance(left, exp.Interval) else left
            moved = type(node)(this=left.copy(), expression=right.copy())
            return _timestamp_like(value, exp.cast(moved, ntz))
        if isinstance(node, exp.Sub) and _is_a_date(left) and _is_a_date(right):
            days = _mark(exp.DateDiff(this=left.copy(), expression=right.copy()))
            return exp.cast(days, bigint)
        return node

    return tree.transform(convert, copy=False)


def _spark_calendar(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """Spark's MONTHNAME/DAYNAME are abbreviations ('Dec', 'Fri'): DuckDB's full names are
    DATE_FORMAT's 'MMMM'/'EEEE'. strptime is a TIMESTAMP (Spark's TO_TIMESTAMP has a time zone).
    date_diff counts the boundaries crossed (DuckDB), Spark's DATEDIFF whole units: months and
    years from the calendar fields, days as they are, other units refused."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    bigint = exp.DataType.build("bigint")

    def formatted(value: exp.Expression, pattern: str) -> exp.Expression:
        return _mark(
            exp.Anonymous(
                this="DATE_FORMAT", expressions=[value.copy(), exp.Literal.string(pattern)]
            )
        )

    def months(value: exp.Expression) -> exp.Expression:
        year = exp.Mul(this=_mark(exp.Year(this=value.copy())), expression=exp.Literal.number(12))
        return exp.paren(exp.Add(this=year, expression=_mark(exp.Month(this=value.copy()))))

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Monthname):
            return formatted(node.this, "MMMM")
        if isinstance(node, exp.Dayname):
            return formatted(node.this, "EEEE")
        if isinstance(node, exp.StrToTime) and not trusted(node):
            return exp.cast(
                _mark(node.copy()), exp.DataType.build("timestamp_ntz", dialect="spark")
            )
        if not isinstance(node, exp.DateDiff) or trusted(node):
            return node
        unit = (node.text("unit") or "day").lower().rstrip("s")
        end, start = node.this, node.expression
        if unit == "day":
            days = _mark(exp.DateDiff(this=end.copy(), expression=start.copy()))
            return exp.cast(days, bigint)
        if unit == "month":
            return exp.cast(exp.Sub(this=months(end), expression=months(start)), bigint)
        if unit == "year":
            years = exp.Sub(
                this=_mark(exp.Year(this=end.copy())), expression=_mark(exp.Year(this=start.copy()))
            )
            return exp.cast(years, bigint)
        problems.append(
            (
                node,
                f"date_diff() in {unit}s (Spark counts whole units, DuckDB the boundaries "
                "crossed): use days, months or years",
            )
        )
        return node

    return tree.transform(convert, copy=False)


def _spark_bigints(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """length(), position() and array_length() are BIGINT in DuckDB, INT in Spark: cast, so
    that a column keeps its type whichever engine wrote it."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    bigint = exp.DataType.build("bigint")

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Length | exp.StrPosition | exp.ArraySize) and not trusted(node):
            return exp.cast(_mark(node.copy()), bigint)
        return node

    return tree.transform(convert, copy=False)


def _spark_lists(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """list()/array_agg(x ORDER BY y): Spark's COLLECT_LIST keeps no order (SQLGlot drops the
    ORDER BY) and skips NULLs: refused."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    for node in tree.find_all(exp.ArrayAgg):
        if isinstance(node.this, exp.Order):
            problems.append(
                (
                    node,
                    "list()/array_agg() with ORDER BY (Spark's collect_list keeps no order): "
                    "aggregate without an order, or build the text with string_agg(x, sep "
                    "ORDER BY y)",
                )
            )
    return tree


def _spark_casts(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """Casts of a fraction as DuckDB rounds them, where the operand's type is known. To an
    integer: a DOUBLE or FLOAT rounds half to even (2.5 -> 2), a DECIMAL half away from zero
    (2.5 -> 3); Spark truncates both (2.5 -> 2, -2.5 -> -2): `CAST(RINT(x) AS T)` (Java's
    rint, half to even) and `CAST(ROUND(x) AS T)` (ROUND as `_round` writes it). A DOUBLE to
    DECIMAL(p, s): DuckDB rounds x * 10^s half away from zero in doubles (0.145 -> 0.14), Spark
    the double's decimal text HALF_UP (0.145 -> 0.15): `CAST(ROUND(x, s) AS DECIMAL(p, s))`,
    whose double prints as the s-place value it is (p up to 18: ROUND's FLOOR is a BIGINT).
    An integer or a text operand is left as written (a text: DuckDB parses '2.5' as a decimal
    and rounds, Spark refuses it: the query fails on Spark, it gives no other value); one of
    unknown type too (docs/engines.md)."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    t = exp.DataType.Type
    integers = (t.TINYINT, t.SMALLINT, t.INT, t.BIGINT, t.INT128)

    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Cast) or trusted(node):
            return node
        kind = _kind(_type_of(node.this))
        value: exp.Expression | None = None
        if node.to.is_type(*integers) and kind == "double":
            value = _mark(exp.Anonymous(this="RINT", expressions=[node.this.copy()]))
        elif node.to.is_type(*integers) and kind == "decimal":
            value = exp.Round(this=node.this.copy())
        elif node.to.is_type(t.DECIMAL) and kind == "double":
            params = _decimal_params(node.to)
            # ROUND's FLOOR is a BIGINT on Spark: x * 10^s must fit one (it does within
            # 18 digits; a larger value is out of range on DuckDB too)
            if params is not None and params[0] <= 18:
                value = exp.Round(this=node.this.copy(), decimals=exp.Literal.number(params[1]))
        if value is None:
            return node
        cast = _mark(node.copy())
        cast.set("this", value)
        return cast

    return tree.transform(convert, copy=False)


def _spark_avg(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """avg() of a DECIMAL is a DOUBLE in DuckDB, the exact sum as a double divided by the count;
    Spark's is a DECIMAL(p + 4, s + 4), the exact mean rounded HALF_UP (another type, and
    another value once rounded to cents: 0.145 vs 0.14499999...): `CAST(SUM(x) AS DOUBLE) /
    NULLIF(COUNT(x), 0)`, with the aggregate's DISTINCT, FILTER and window on each part. Where
    x's type is not known, left as written (docs/engines.md)."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree
    double = exp.DataType.build("double")

    def part(whole: exp.Expression, avg: exp.Expression, agg: exp.Expression) -> exp.Expression:
        """`whole` (the avg with its FILTER and window) with the avg replaced by `agg`."""
        if whole is avg:
            return agg
        out = whole.copy()
        next(n for n in out.find_all(exp.Avg)).replace(agg)
        return out

    def convert(node: exp.Expression) -> exp.Expression:
        whole, avg = node, node
        if isinstance(whole, exp.Window | exp.Filter):
            avg = whole.this.this if isinstance(whole.this, exp.Filter) else whole.this
        elif isinstance(node.parent, exp.Window | exp.Filter):
            return node  # converted with its FILTER or window
        if not isinstance(avg, exp.Avg) or trusted(avg):
            return node
        value = avg.this
        if isinstance(value, exp.Distinct):  # avg(DISTINCT x)
            value = value.expressions[0] if len(value.expressions) == 1 else None
        if value is None or _kind(_type_of(value)) != "decimal":
            return node
        total = part(whole, avg, _mark(exp.Sum(this=avg.this.copy())))
        count = part(whole, avg, _mark(exp.Count(this=avg.this.copy())))
        mean = exp.Div(
            this=exp.cast(total, double),
            expression=exp.Nullif(this=count, expression=exp.Literal.number(0)),
        )
        return exp.paren(mean)

    return tree.transform(convert, copy=False)


def _spark_template(text: str, **values: exp.Expression) -> exp.Expression:
    """Spark SQL `text` as a tree, each `{name}` the given value, every call in it trusted."""
    import sqlglot
    import sqlglot.expressions as exp

    tree = sqlglot.parse_one(text.format(**{k: f"__{k}__" for k in values}), dialect="spark")
    for column in list(tree.find_all(exp.Column)):
        name = column.name
        if name.startswith("__") and name.strip("_") in values:
            column.replace(values[name.strip("_")].copy())
    for call in tree.find_all(exp.Func):
        _mark(call)
    return tree


def _spark_aggregates(
    tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]
) -> Any:
    """list(x) keeps NULLs in DuckDB, and is NULL over no rows; Spark's COLLECT_LIST skips
    NULLs and gives []: the values are collected inside a struct (never NULL) and taken out
    again, an empty list is NULL. quantile_cont/quantile_disc(x, q) have no
    two-argument form in Spark: PERCENTILE(x, q) (the same interpolation) and PERCENTILE_DISC(q)
    WITHIN GROUP (ORDER BY x). approx_count_distinct's sketches differ between the engines (the
    counts do): refused."""
    import sqlglot.expressions as exp

    if not _spark(dialect):
        return tree

    def convert(node: exp.Expression) -> exp.Expression:
        if trusted(node):
            return node
        where = None
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
            node, where = node.this, node.expression.this
        elif isinstance(node, exp.ArrayAgg) and isinstance(node.parent, exp.Filter):
            return node  # converted with its FILTER
        if isinstance(node, exp.ArrayAgg) and not isinstance(node.this, exp.Order):
            if isinstance(node.parent, exp.Window):
                return node  # (docs/engines.md: NULLs are skipped there)
            values = "COLLECT_LIST(NAMED_STRUCT('v', {x}))"
            if where is not None:
                values += " FILTER (WHERE {c})"
            # no rows: NULL in DuckDB, an empty list in Spark
            text = f"IF(SIZE({values}) = 0, NULL, TRANSFORM({values}, e -> e.v))"
            parts = {"x": node.this} | ({"c": where} if where is not None else {})
            return _spark_template(text, **parts)
        quantile = node.args.get("expression")
        if isinstance(node, exp.PercentileCont) and quantile is not None:
            return _spark_template("PERCENTILE({x}, {q})", x=node.this, q=quantile)
        if isinstance(node, exp.PercentileDisc) and quantile is not None:
            return _spark_template(
                "PERCENTILE_DISC({q}) WITHIN GROUP (ORDER BY {x})", x=node.this, q=quantile
            )
        if isinstance(node, exp.ApproxDistinct):
            problems.append(
                (
                    node,
                    "approx_count_distinct() (Spark's estimate differs from DuckDB's): "
                    "count(distinct x) is exact on both",
                )
            )
        return node

    return tree.transform(convert, copy=False)


def _error(tree: exp.Expression, dialect: str, problems: Problems, needs: set[str]) -> Any:
    """DuckDB's error(message) fails the query with the message: Spark's raise_error,
    BigQuery's ERROR, PostgreSQL's medallion.error (SETUP)."""
    import sqlglot.expressions as exp

    def convert(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "error"):
            return node
        args = [a.copy() for a in node.expressions]
        if _spark(dialect):
            return _mark(exp.Anonymous(this="raise_error", expressions=args))
        if dialect == "bigquery":
            return _mark(exp.Anonymous(this="ERROR", expressions=args))
        if dialect == "postgres":
            needs.add("error")
            call = _mark(exp.Anonymous(this="error", expressions=args))
            return exp.Dot(this=exp.to_identifier("medallion"), expression=call)
        return node  # refused where it has no equivalent

    return tree.transform(convert, copy=False)


_REWRITES: list[Callable[[Any, str, Problems, set[str]], Any]] = [
    _filter,  # judges the FILTERs the user wrote, before _arg_max removes its own
    _spark_casts,  # the casts the user wrote (before the rewrites add their own); before _round
    _spark_avg,
    _error,
    _spark_regexp,
    _spark_date_parts,  # before _date_parts (which spells isodow for the other targets)
    _spark_date_trunc,
    _spark_date_arithmetic,
    _spark_calendar,
    _spark_bigints,
    _spark_lists,
    _spark_aggregates,
    _arg_max,
    _concat_ws,
    _least,
    _date_parts,
    _strftime,
    _split_part,
    _division,  # before _round: the division _round writes is meant as written
    _int_division,
    _round,
    _try_cast,
    _decimals,  # after _try_cast: a try_cast to DECIMAL(p, s) is rounded too
    _timezones,
    _unnest,
    _regexp,
]
