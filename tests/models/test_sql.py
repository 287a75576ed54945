"""SQL analysis: DuckDB validates, SQLGlot finds the tables a model reads."""

from __future__ import annotations

import pytest
import sqlglot

from medallion.errors import ModelError, QueryError
from medallion.models.sql import is_read_only, parse_select, resolve_refs, table_refs

LAYERS = ["bronze", "silver", "gold"]
KNOWN = {
    "bronze.orders",
    "bronze.customers",
    "bronze.payments",
    "silver.orders",
    "silver.customers",
    "gold.sales",
}


def deps(sql: str) -> list[str]:
    tree = parse_select(sql, error=ModelError)
    return resolve_refs(tree, sql=sql, layers=LAYERS, known=KNOWN, error=ModelError)


def model_error(sql: str) -> ModelError:
    with pytest.raises(ModelError) as info:
        tree = parse_select(sql, error=ModelError, model="silver.m", file="m.sql")
        resolve_refs(tree, sql=sql, layers=LAYERS, known=KNOWN, error=ModelError, model="silver.m")
    assert info.value.model == "silver.m"
    return info.value


# -- dependencies -----------------------------------------------------------------------------


def test_single_table() -> None:
    assert deps("select * from bronze.orders") == ["bronze.orders"]


def test_joins() -> None:
    sql = """
        select *
        from bronze.orders o
        join bronze.customers c on o.customer_id = c.customer_id
        left join bronze.payments p using (order_id)
    """
    assert deps(sql) == ["bronze.orders", "bronze.customers", "bronze.payments"]


def test_ctes_are_not_tables() -> None:
    sql = """
        with recent as (select * from bronze.orders where order_date > '2024-01-01'),
             big as (select * from recent where total > 100)
        select * from big
    """
    assert deps(sql) == ["bronze.orders"]


def test_cte_names_are_case_insensitive() -> None:
    assert deps("with Recent as (select * from bronze.orders) select * from RECENT") == [
        "bronze.orders"
    ]


def test_subqueries() -> None:
    sql = """
        select * from bronze.customers
        where customer_id in (select customer_id from bronze.orders)
    """
    assert deps(sql) == ["bronze.customers", "bronze.orders"]


def test_union() -> None:
    sql = "select id from bronze.orders union all select id from silver.orders"
    assert deps(sql) == ["bronze.orders", "silver.orders"]


def test_table_functions_are_ignored() -> None:
    sql = """
        select *
        from range(10) r
        cross join read_parquet('extra/*.parquet') x
        join bronze.orders o on true
    """
    assert deps(sql) == ["bronze.orders"]


def test_duplicates_collapse() -> None:
    sql = """
        select * from bronze.orders a
        join bronze.customers c on true
        join bronze.orders b on a.id = b.parent_id
    """
    assert deps(sql) == ["bronze.orders", "bronze.customers"]


def test_identifiers_are_case_insensitive() -> None:
    assert deps('select * from Bronze.ORDERS join "bronze"."customers" on true') == [
        "bronze.orders",
        "bronze.customers",
    ]


def test_order_of_first_appearance_with_cte() -> None:
    # bronze.orders appears first in the text (inside the CTE), bronze.customers after it
    sql = """
        with o as (select * from bronze.orders)
        select * from o join bronze.customers c using (customer_id)
    """
    assert deps(sql) == ["bronze.orders", "bronze.customers"]


def test_order_of_first_appearance_with_derived_table() -> None:
    sql = "select * from (select * from bronze.customers) c join bronze.orders o on true"
    assert deps(sql) == ["bronze.customers", "bronze.orders"]


def test_table_refs_positions() -> None:
    sql = "select *\nfrom bronze.orders o\n  join orders x on true"
    qualified, bare = table_refs(parse_select(sql, error=ModelError), sql)
    assert [(r.fqn, r.line, r.column) for r in qualified] == [("bronze.orders", 2, 6)]
    assert [(r.name, r.line, r.column) for r in bare] == [("orders", 3, 8)]


# -- reference errors -------------------------------------------------------------------------


def test_unqualified_table_with_candidate() -> None:
    err = model_error("select *\nfrom orders")
    assert err.message == "table 'orders' is not qualified with a layer"
    assert (err.line, err.column) == (2, 6)
    assert err.hint == "write it as bronze.orders or silver.orders"


def test_unqualified_table_without_candidate() -> None:
    err = model_error("select * from things")
    assert err.message == "table 'things' is not qualified with a layer"
    assert err.hint == "tables are addressed as <layer>.<name>, e.g. bronze.customers"


def test_three_part_name_points_at_its_start() -> None:
    err = model_error("select * from x.y.z")
    assert err.message == "table 'x.y.z' is not qualified with a layer"
    assert (err.line, err.column) == (1, 15)


def test_unknown_layer_with_suggestion() -> None:
    err = model_error("select *\nfrom bronz.orders")
    assert err.message == "unknown layer 'bronz' in bronz.orders"
    assert err.hint == "did you mean bronze.orders?"
    assert (err.line, err.column) == (2, 6)


def test_unknown_layer_without_suggestion() -> None:
    err = model_error("select * from platinum.orders")
    assert err.hint == "layers are: bronze, silver, gold"


def test_unknown_table_with_suggestion_and_position() -> None:
    sql = "select *\nfrom bronze.orders o\n  join   bronze.custmers c on o.id = c.id\n"
    err = model_error(sql)
    assert err.message == "unknown table bronze.custmers"
    assert err.hint == "did you mean bronze.customers?"
    assert (err.line, err.column) == (3, 10)


def test_unknown_table_without_suggestion() -> None:
    err = model_error("select * from gold.zzzzzz")
    assert err.hint == "no source or model of that name; `medallion lineage` lists them"


def test_error_class_is_chosen_by_caller() -> None:
    sql = "select * from bronze.nope"
    tree = parse_select(sql, error=QueryError)
    with pytest.raises(QueryError, match=r"unknown table bronze\.nope"):
        resolve_refs(tree, sql=sql, layers=LAYERS, known=KNOWN, error=QueryError)


# -- syntax and shape -------------------------------------------------------------------------


def test_duckdb_syntax_error_with_line_and_column() -> None:
    sql = "select id,\n  amount\nfrom from bronze.orders\nwhere amount > 0\n"
    err = model_error(sql)
    assert err.message == 'SQL syntax error: syntax error at or near "from"'
    assert (err.line, err.column) == (3, 6)
    assert err.file == "m.sql"
    assert err.hint is not None and "DuckDB" in err.hint


def test_syntax_error_position_after_non_ascii_text() -> None:
    # DuckDB reports a byte offset; line and column must count characters
    sql = "select 'crème brûlée' as dessert,\n  'ü' as x\nfrom from bronze.orders\n"
    err = model_error(sql)
    assert err.message == 'SQL syntax error: syntax error at or near "from"'
    assert (err.line, err.column) == (3, 6)


def test_multiple_statements_rejected() -> None:
    err = model_error("select 1;\nselect 2;")
    assert "a model must be one SELECT statement, found several" in err.message


def test_trailing_semicolon_is_fine() -> None:
    assert deps("select * from bronze.orders;") == ["bronze.orders"]


@pytest.mark.parametrize("sql", ["", "   \n", "-- just a comment\n"])
def test_empty_model_rejected(sql: str) -> None:
    err = model_error(sql)
    assert "a model has no SQL statement; write one SELECT" in err.message


@pytest.mark.parametrize(
    "sql", ["create table silver.x as select 1", "insert into silver.x select 1"]
)
def test_non_select_rejected(sql: str) -> None:
    err = model_error(sql)
    assert "a model must be a single SELECT (or WITH ... SELECT) statement" in err.message


def test_parse_select_returns_a_query_tree() -> None:
    tree = parse_select("with a as (select 1 as x) select x from a", error=ModelError)
    assert isinstance(tree, sqlglot.exp.Query)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1", True),
        ("with a as (select 1) select * from a", True),
        ("select 1 union select 2", True),
        ("describe bronze.orders", True),
        ("insert into t select 1", False),
        ("create table t as select 1", False),
        ("delete from t", False),
        ("update t set a = 1", False),
        ("drop table t", False),
    ],
)
def test_is_read_only(sql: str, expected: bool) -> None:
    assert is_read_only(sqlglot.parse_one(sql, dialect="duckdb")) is expected
