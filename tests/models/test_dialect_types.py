"""The Spark rewrites that depend on an operand's type: applied where the type is known (a cast,
a literal, a column of a table whose types `rewrite` is given, through CTEs, subqueries and `*`),
left as written where it is an integer or a text, or not known. What the rewritten SQL returns
is checked against DuckDB in tests/engine/spark/test_spark_semantics.py."""

from __future__ import annotations

import sqlglot
import sqlglot.expressions as exp

from medallion.models.dialects import rewrite
from medallion.sqltree import render

B = exp.DataType.build
SCHEMA = {
    "silver.a": {
        "d1": B("date"),
        "x": B("double"),
        "m": B("decimal(12,2)"),
        "n": B("bigint"),
        "ts": B("timestamp"),
    },
    "silver.b": {"d2": B("date"), "s": B("varchar")},
}


def spark(sql: str, schema: dict | None = SCHEMA) -> str:
    tree, problems, _ = rewrite(sqlglot.parse_one(sql, dialect="duckdb"), "spark", schema)
    assert not problems
    return render(tree, "spark")


def test_casts_of_fractions_to_integers_round_as_duckdb_where_the_type_is_known() -> None:
    out = spark(
        "select cast(t.x as integer) a, try_cast(t.x as bigint) b, cast(t.m as int) c, "
        "cast(t.n as int) d, cast(s as int) e, cast(o.q as int) f "
        "from silver.a t join silver.b on true, other o"
    )
    assert "CAST(RINT(t.x) AS INT) AS a" in out  # a DOUBLE: half to even
    assert "TRY_CAST(RINT(t.x) AS BIGINT) AS b" in out
    assert "FLOOR(ABS(t.m) * 1 + 0.5)" in out  # a DECIMAL: half away from zero
    assert "CAST(t.n AS INT) AS d" in out and "CAST(s AS INT) AS e" in out
    assert "CAST(o.q AS INT) AS f" in out  # `other`'s column, of unknown type
    # unqualified, `x` may be `other`'s: not known
    assert "CAST(x AS INT)" in spark("select cast(x as integer) from silver.a, other")
    assert "CAST(x AS INT)" in spark("select cast(x as integer) from silver.a", schema=None)


def test_a_double_cast_to_a_decimal_rounds_x_times_10_to_the_scale_as_duckdb() -> None:
    out = spark("select cast(x as decimal(12, 2)) a, cast(x as decimal(38, 10)) b from silver.a")
    assert "FLOOR(ABS(x) * 100 + 0.5) / 100) AS DECIMAL(12, 2)) AS a" in out
    assert "CAST(x AS DECIMAL(38, 10)) AS b" in out  # beyond a BIGINT's 18 digits: as written


def test_avg_of_a_decimal_is_duckdbs_double_with_its_distinct_filter_and_window() -> None:
    out = spark(
        "with c as (select * from silver.a) select avg(m) a, avg(distinct m) filter "
        "(where n > 0) b, avg(x) c, avg(m) over (partition by n) d from c"
    )
    assert "CAST(SUM(m) AS DOUBLE) / NULLIF(COUNT(m), 0)) AS a" in out
    assert (
        "CAST(SUM(DISTINCT m) FILTER(WHERE n > 0) AS DOUBLE) / "
        "NULLIF(COUNT(DISTINCT m) FILTER(WHERE n > 0), 0)) AS b"
    ) in out
    assert "AVG(x) AS c" in out
    assert "NULLIF(COUNT(m) OVER (PARTITION BY n), 0)) AS d" in out


def test_date_minus_date_of_upstream_columns_is_a_day_count() -> None:
    out = spark(
        "select d1 - d2 a, q.d1 - n b from (select * from silver.a) q join "
        "(select d2, s from silver.b) r on true"
    )
    assert "CAST(DATEDIFF(d1, d2) AS BIGINT) AS a" in out
    assert "q.d1 - n AS b" in out  # a date minus a number of days: a DATE on both
    # a timestamp minus a date is an interval on both engines: not a day count
    assert "ts - d2" in spark("select ts - d2 from silver.a, silver.b")
    assert "d1 - d2" in spark("select d1 - d2 from silver.a, silver.b", schema=None)
    # one side alone known to be a DATE: left as written (a date minus days is a DATE on both)
    assert "d1 - COALESCE(n, 0)" in spark("select d1 - coalesce(n, 0) from silver.a")
    assert "d1 - CASE" in spark("select d1 - case when n > 1 then 1 else 0 end from silver.a")


def test_a_union_a_star_with_exclude_or_replace_and_renamed_columns_type_as_duckdb() -> None:
    def cast_of(source: str) -> str:
        return spark(f"select cast(v as integer) as i from {source}")

    # a UNION's column: DuckDB's common type (DECIMAL and DOUBLE: a DOUBLE, rounding half to
    # even; DECIMAL and INTEGER: a DECIMAL, half away from zero), a type only where it is sure
    assert "CAST(RINT(v) AS INT)" in cast_of(
        "(select m as v from silver.a where n < 0 union all select x from silver.a)"
    )
    assert "CAST(RINT(v) AS INT)" in cast_of(
        "(select x as v from silver.a union all select x from silver.a union select x + 1 "
        "from silver.a)"
    )
    assert "FLOOR(ABS(v) * 1 + 0.5)" in cast_of("(select m as v from silver.a union select 1)")
    assert "CAST(v AS INT)" in cast_of(
        "(select ts as v from silver.a union select x from silver.a)"
    )
    assert "CAST(v AS INT)" in cast_of("(select m as v from silver.a union select q from other)")
    # a `*` ahead of the column in a branch: which column is in its place is not known
    assert "CAST(v AS INT)" in cast_of("(select x as v from silver.a union all select * from t)")
    # a column excluded from `*` or replaced, given again later: the later one's type
    assert "CAST(RINT(v) AS INT)" in cast_of(
        "(select * exclude (v), x as v from (select m as v, x from silver.a))"
    )
    assert "CAST(RINT(v) AS INT)" in cast_of(
        "(select * replace (x as v) from (select m as v, x from silver.a))"
    )
    assert "CAST(RINT(v) AS INT)" in spark(
        "with c as (select * exclude (m), x as v from silver.a) select cast(v as int) as i from c"
    )
    # the same name twice (a `*`'s and a later column's): not known
    assert "CAST(v AS INT)" in cast_of("(select *, x as v from (select m as v, x from silver.a))")
    # columns renamed by the alias (`t(a, b)`, a CTE's `c(a, b)`): not known
    assert "CAST(v AS INT)" in cast_of("(select x, m from silver.a) t(m, v)")
    assert "CAST(v AS INT)" in spark(
        "with c(x, v) as (select x, m from silver.a) select cast(v as int) as i from c"
    )
