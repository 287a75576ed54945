"""The bypass corpus: attempts to read past the policy through `medallion query --as`, as a
viewer of the `analysts` group (granted gold.* and silver.dim_customers, masked and filtered).
Each must be refused (exit 77) and audited as denied; the attempts that read a granted table
another way must see only masked values and filtered rows."""

from __future__ import annotations

import hashlib
import json

import pytest
from tests.conftest import medallion

from medallion.project import Project

DENIED = [
    # tables not granted, however they are spelled
    "select * from bronze.customers",
    "SeLeCt * FrOm BrOnZe.CuStOmErS",
    'select * from "bronze"."customers"',
    'select * from "BRONZE"."Customers"',
    "select * from bronze . customers",
    'select * from "bronze.customers"',
    "select * from memory.bronze.customers",
    "select * from governed.bronze.customers",
    "select * from memory.silver.dim_customers",
    "select * from bronze.customers__quarantine",
    "select * from bronze.\uff43ustomers",
    # file and table functions
    "select * from read_csv('data/customers.csv')",
    "select * from read_csv_auto('data/customers.csv')",
    "select * from 'data/customers.csv'",
    "select * from read_parquet('lakehouse/silver/dim_customers/*.parquet')",
    "select * from parquet_scan('lakehouse/silver/dim_customers/*.parquet')",
    "select * from glob('*')",
    "select * from read_text('medallion.yml')",
    "select * from read_blob('.medallion/state.db')",
    "select * from sqlite_scan('.medallion/state.db', 'users')",
    "select * from query_table('bronze.customers')",
    "select * from query('select * from bronze.customers')",
    "select * from range(10)",
    "select count(*) from (select * from read_csv('data/customers.csv'))",
    # system catalogs and settings
    "select * from duckdb_settings()",
    "select * from duckdb_tables()",
    "select sql from duckdb_views()",
    "select * from information_schema.tables",
    "select * from pg_catalog.pg_tables",
    "select * from pragma_table_info('bronze.customers')",
    "select current_setting('allowed_directories')",
    "select getvariable('x')",
    "select * from system.access_audit",
    "select * from system.runs",
    # statements that are not a SELECT
    "SET enable_external_access = true",
    "set lock_configuration = false",
    "PRAGMA database_list",
    "ATTACH 'stolen.db' AS stolen",
    "COPY silver.dim_customers TO 'out.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "create table t as select 1",
    "select * into t from gold.sales_by_state",
    "pivot bronze.customers on state using count(*)",
    "CALL pragma_version()",
    # multi-statements, comment and quoting tricks
    "select 1; select * from bronze.customers",
    "select * from gold.sales_by_state; drop view gold.sales_by_state",
    "select * from gold.sales_by_state /* ; */ ; select * from bronze.orders",
    "select * from gold.sales_by_state --\n; select * from bronze.orders",
    "select 1 /*/ select * from bronze.customers */ union all select id from bronze.orders",
    # CTEs and subqueries naming denied tables
    "with customers as (select * from bronze.customers) select * from customers",
    "with bronze_customers as (select 1) select * from bronze.customers",
    "select * from (with x as (select 1) select * from x) t, x",
    "select (select count(*) from bronze.orders)",
    "with a as (select * from __medallion_data_0), __medallion_data_0 as (select 1) "
    "select * from a",
    "select * from __medallion_scan_0",
    "select * from main.__medallion_view_0",
    "with a as (select * from b), b as (select * from bronze.customers) select * from a",
    "select * from gold.sales_by_state t, lateral (select * from bronze.orders) o",
    "select/**/*/**/from/**/bronze.customers",
    "select * from gold.sales_by_state where state in (from bronze.customers select state)",
    "select * from gold.sales_by_state where exists (select 1 from bronze.customers)",
    "select state from gold.sales_by_state union all select state from bronze.customers",
    # time travel clause, EXPLAIN / DESCRIBE / SUMMARIZE of denied tables
    "select * from silver.dim_customers at (version => 0)",
    "explain select * from bronze.customers",
    "explain analyze select * from gold.sales_by_state",
    "describe bronze.customers",
    "summarize bronze.orders",
]


@pytest.mark.parametrize("sql", DENIED)
def test_denied(governed: Project, sql: str) -> None:
    proc = medallion("query", "--as", "val", sql, cwd=governed.root)
    assert proc.returncode == 77, f"{sql!r} was not refused:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    assert "example.com" not in proc.stdout + proc.stderr


def test_time_travel_of_a_denied_table_is_refused(governed: Project) -> None:
    proc = medallion(
        "query", "--as", "val", "--as-of", "0", "select * from bronze.customers", cwd=governed.root
    )
    assert proc.returncode == 77, proc.stdout + proc.stderr


def test_every_attempt_is_audited_as_denied(governed: Project) -> None:
    for sql in DENIED[:5]:
        medallion("query", "--as", "nobody", sql, cwd=governed.root)
    rows = governed.audit(user="nobody").to_pylist()
    denied = [r for r in rows if r["action"] == "query" and r["response_status"] == "denied"]
    assert [json.loads(r["request"])["statement"] for r in denied] == DENIED[:5]
    assert all(r["response_error"] for r in denied)


def test_the_corpus_left_denied_rows_in_the_audit(governed: Project) -> None:
    """Runs after the corpus (same module, in order): one denied row per attempt of val."""
    rows = governed.audit(user="val").to_pylist()
    statements = {
        json.loads(r["request"])["statement"]
        for r in rows
        if r["action"] == "query" and r["response_status"] == "denied"
    }
    assert set(DENIED) <= statements


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


#: silver.dim_customers as val sees it: names hashed, emails and phones masked, TX filtered out
VAL_CUSTOMERS = [
    {
        "id": 1,
        "name": _sha("Ann"),
        "email": "aXXX@XXXX.com",
        "phone": "XXX-XXX-4567",
        "state": "CA",
    },
    {
        "id": 2,
        "name": _sha("Bob"),
        "email": "bXXX@XXXX.com",
        "phone": "XXX-XXX-3333",
        "state": "NY",
    },
]

LEAKS = [
    "select * from silver.dim_customers",
    "select email, phone, name from (select * from silver.dim_customers) t",
    "select email from silver.dim_customers union select email from silver.dim_customers",
    "select c from silver.dim_customers c",
    "select to_json(c) from silver.dim_customers c",
    "select columns(*) from silver.dim_customers",
    "select * exclude (id) from silver.dim_customers",
    "select string_agg(email, ',') from silver.dim_customers",
    "with s as (select * from silver.dim_customers) select * from s",
    "select * from silver.dim_customers where email like '%example.com'",
    "select * from silver.dim_customers where state = 'TX' or true",
    "select * from silver.dim_customers__quarantine",
    "describe silver.dim_customers",
]


@pytest.mark.parametrize("sql", LEAKS)
def test_masked_columns_stay_masked(governed: Project, sql: str) -> None:
    proc = medallion("query", "--as", "val", "--format", "json", sql, cwd=governed.root)
    assert proc.returncode == 0, proc.stderr
    for secret in ("example.com", "Ann", "Bob", "Cid", "555-", "TX"):
        assert secret not in proc.stdout, f"{secret!r} leaked by {sql!r}:\n{proc.stdout}"


def test_time_travel_through_the_cli_is_masked_and_filtered(governed: Project) -> None:
    proc = medallion(
        "query",
        "--as",
        "val",
        "--as-of",
        "0",
        "--format",
        "json",
        "select * from silver.dim_customers order by id",
        cwd=governed.root,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == VAL_CUSTOMERS


def test_masks_and_row_filter_hand_computed(governed: Project) -> None:
    val = governed.authenticate("val")
    got = governed.query("select * from silver.dim_customers order by id", user=val).to_pylist()
    assert got == VAL_CUSTOMERS
    # the same rows at the first version: time travel is masked and filtered too
    old = governed.query(
        "select * from silver.dim_customers order by id", as_of=0, user=val
    ).to_pylist()
    assert old == VAL_CUSTOMERS
    # tex passes the filter by name (current_user()), still masked
    tex = governed.authenticate("tex")
    rows = governed.query("select id, email from silver.dim_customers order by id", user=tex)
    assert rows.to_pylist() == [
        {"id": 1, "email": "aXXX@XXXX.com"},
        {"id": 2, "email": "bXXX@XXXX.com"},
        {"id": 3, "email": "cXXX@XXXX.com"},
    ]
    # cora is in `compliance` (unmask): clear values, still filtered
    cora = governed.authenticate("cora")
    rows = governed.query(
        "select id, email, phone from silver.dim_customers order by id", user=cora
    )
    assert rows.to_pylist() == [
        {"id": 1, "email": "ann@example.com", "phone": "555-123-4567"},
        {"id": 2, "email": "bob@example.com", "phone": "555-222-3333"},
    ]


def test_row_filter_by_group(governed: Project) -> None:
    sql = "select state, total, orders from gold.sales_by_state order by state"
    sam = governed.query(sql, user=governed.authenticate("sam")).to_pylist()
    assert sam == [
        {"state": "CA", "total": 30, "orders": 2},
        {"state": "NY", "total": 5, "orders": 1},
    ]
    rex = governed.query(sql, user=governed.authenticate("rex")).to_pylist()  # all_regions
    assert rex == [*sam, {"state": "TX", "total": 100, "orders": 1}]
    # admins and members read everything in clear
    ada = governed.query(sql, user=governed.authenticate("ada")).to_pylist()
    assert ada == rex


def test_quarantine_inherits_the_policy(governed: Project) -> None:
    """Dee (WA, no email) was quarantined; val reads her row masked (phone '12' is too short to
    keep any of it), sam (no grant on silver.dim_customers) not at all."""
    val = governed.authenticate("val")
    rows = governed.query(
        "select id, name, email, phone, state from silver.dim_customers__quarantine", user=val
    ).to_pylist()
    assert rows == [
        {"id": 4, "name": _sha("Dee"), "email": None, "phone": "XXX-XXX-", "state": "WA"}
    ]
    proc = medallion(
        "query", "--as", "sam", "select * from silver.dim_customers__quarantine", cwd=governed.root
    )
    assert proc.returncode == 77


def test_allowed_queries_are_audited_with_tables_policies_and_rows(governed: Project) -> None:
    medallion(
        "query", "--as", "cora", "select * from gold.sales_by_state", cwd=governed.root, check=True
    )
    row = governed.audit(user="cora").to_pylist()[-1]
    assert row["action"] == "query" and row["response_status"] == "ok"
    assert row["response_rows"] == 2
    request = json.loads(row["request"])
    assert request["tables"] == ["gold.sales_by_state"]
    assert request["policies"] == {
        "gold.sales_by_state": ["row filter: is_member('all_regions') or state in ('CA', 'NY')"]
    }


def test_tables_listing_shows_only_readable_tables(governed: Project) -> None:
    proc = medallion("tables", "--as", "sam", "--json", cwd=governed.root, check=True)
    names = [f"{t['layer']}.{t['name']}" for t in json.loads(proc.stdout)]
    assert names == ["gold.sales_by_state"]
    proc = medallion("lineage", "--as", "sam", "--json", cwd=governed.root, check=True)
    graph = json.loads(proc.stdout)
    assert list(graph) == ["gold.sales_by_state"]
    assert graph["gold.sales_by_state"]["upstream"] == []  # its inputs are not sam's to see
    proc = medallion("lineage", "--as", "sam", "silver.dim_customers", cwd=governed.root)
    assert proc.returncode == 77
    listed = governed.readable_tables(governed.authenticate("val"))
    by_name = {t["name"]: dict(t["columns"]) for t in listed}
    assert "bronze.customers" not in by_name and "system.runs" not in by_name
    assert str(by_name["silver.dim_customers"]["name"]) == "string"  # a hash is text
    admin = {t["name"] for t in governed.readable_tables(governed.authenticate("ada"))}
    assert {"bronze.customers", "system.access_audit", "system.runs"} <= admin


def test_system_tables_for_admins_and_members(governed: Project) -> None:
    ada = governed.authenticate("ada")
    runs = governed.query("select status, kind from system.runs", user=ada).to_pylist()
    assert {"status": "success", "kind": "run"} in runs
    mia = governed.authenticate("mia")
    steps = governed.query("select count(*) as n from system.run_steps", user=mia)
    assert steps.column("n")[0].as_py() > 0
    with pytest.raises(Exception, match="not allowed"):
        governed.query("select * from system.access_audit", user=mia)


def test_parameters_are_values_never_sql(governed: Project) -> None:
    val = governed.authenticate("val")
    sql = "select id, state from silver.dim_customers where state = $1 or id = $2 order by id"
    rows = governed.query_reader(sql, user=val, params=["NY", 1]).read_all().to_pylist()
    assert rows == [{"id": 1, "state": "CA"}, {"id": 2, "state": "NY"}]
    # SQL in a parameter is a string compared, not run
    sneaky = "x' union select id, email from bronze.customers --"
    rows = governed.query_reader(sql, user=val, params=[sneaky, 0]).read_all()
    assert rows.num_rows == 0
    # the TX row stays filtered whatever the parameters say
    rows = governed.query_reader(sql, user=val, params=["TX", 3]).read_all()
    assert rows.num_rows == 0
    with pytest.raises(Exception, match=r"\$2"):
        governed.query_reader(sql, user=val, params=["NY"])


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("select * from gold.sales_by_state at (version => 0)", "AT / time travel on a table"),
        ("select * from gold.sales_by_state version as of 0", "VERSION / TIMESTAMP AS OF"),
    ],
)
def test_time_travel_in_the_sql_is_refused_in_its_own_words(
    governed: Project, sql: str, said: str
) -> None:
    proc = medallion("query", "--as", "val", sql, cwd=governed.root)
    assert proc.returncode == 77
    assert said in proc.stdout + proc.stderr and "--as-of" in proc.stdout + proc.stderr
