"""What `medallion import dbt` cannot translate is left as it was, marked TODO with the dbt
file and line, and listed; what it changes on purpose is said. No dbt needed: these projects
are written by the tests and only imported."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import medallion

from medallion.project import Project, import_dbt


def write_dbt(root: Path, files: dict[str, str]) -> Path:
    files = {
        "dbt_project.yml": """
            name: warehouse
            profile: warehouse
            config-version: 2
            vars:
              start_date: '2024-01-01'
            models:
              warehouse:
                staging: {+materialized: view}
                finance: {+materialized: table}
        """,
        **files,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


SOURCES = """
    version: 2
    sources:
      - name: erp
        schema: raw
        tables:
          - name: orders
            loaded_at_field: _loaded_at
            freshness:
              warn_after: {count: 12, period: hour}
              error_after: {count: 1, period: day}
"""


def test_what_cannot_be_translated_is_kept_as_it_was_and_listed_with_its_line(
    tmp_path: Path,
) -> None:
    src = write_dbt(
        tmp_path / "dbt",
        {
            "models/staging/sources.yml": SOURCES,
            "models/staging/stg_orders.sql": """
                select
                    {{ dbt_utils.generate_surrogate_key(['order_id', 'line']) }} as order_key,
                    order_id,
                    amount
                from {{ source('erp', 'orders') }}
                where order_date >= '{{ var("start_date") }}'
                  and region = '{{ var("region") }}'
            """,
            "models/finance/revenue.sql": """
                {{ config(materialized='materialized_view') }}
                select order_id, sum(amount) as revenue
                from {{ ref('stg_orders') }}
                group by order_id
            """,
            "models/finance/schema.yml": """
                version: 2
                models:
                  - name: revenue
                    data_tests:
                      - dbt_utils.unique_combination_of_columns:
                          arguments:
                            combination_of_columns: [order_id]
                    columns:
                      - name: revenue
                        data_tests:
                          - dbt_utils.accepted_range:
                              arguments: {min_value: 0}
                          - dbt_expectations.expect_column_values_to_be_between:
                              min_value: 0
            """,
            "models/finance/forecast.py": "def model(dbt, session):\n    return None\n",
            "tests/no_negative_revenue.sql": """
                {{ config(severity='warn') }}
                select * from {{ ref('revenue') }} where revenue < 0
            """,
        },
    )
    report = import_dbt(src, tmp_path / "mdl", layers=["finance=gold"])
    todos = {t.where: t.message for t in report.todos}

    # a package's macro: the Jinja is kept, at its line, and the model says TODO at the top
    assert "dbt_utils.generate_surrogate_key(...)" in todos["models/staging/stg_orders.sql:2"]
    assert "var 'region' has no value" in todos["models/staging/stg_orders.sql:7"]
    assert "materialized_view" in todos["models/finance/revenue.sql:1"]
    assert "expect_column_values_to_be_between" in todos["models/finance/schema.yml:13"]
    assert "Python model" in todos["models/finance/forecast.py"]
    assert "erp.orders is a table of the warehouse" in todos["models/staging/sources.yml:6"]
    stg = (tmp_path / "mdl" / "models" / "silver" / "stg_orders.sql").read_text()
    assert stg.startswith("-- imported from dbt: models/staging/stg_orders.sql\n-- TODO(")
    assert "{{ dbt_utils.generate_surrogate_key(['order_id', 'line']) }} as order_key" in stg
    assert "where order_date >= '2024-01-01'" in stg  # a var with a value is rendered
    assert "from bronze.orders" in stg

    # what maps, maps: dbt_utils tests as checks, freshness, the singular test as a check
    revenue = (tmp_path / "mdl" / "models" / "gold" / "revenue.sql").read_text()
    assert "kind: table" in revenue
    assert "- unique: [order_id]" in revenue
    assert "- expression_is_true: revenue is null or (revenue >= 0)" in revenue
    config = (tmp_path / "mdl" / "medallion.yml").read_text()
    assert "dsn: ${ERP_DSN}" in config and "table: raw.orders" in config
    assert "max_age: 12 hours" in config and "max_age: 1 days" in config
    check = (tmp_path / "mdl" / "checks" / "no_negative_revenue.sql").read_text()
    assert "severity: warn" in check and "select * from gold.revenue where revenue < 0" in check
    notes = (tmp_path / "mdl" / "IMPORT.md").read_text()
    assert "`models/staging/stg_orders.sql:2`: `dbt_utils.generate_surrogate_key(...)`" in notes

    # the project refuses to run until the TODO is done, pointing at the Jinja left
    proc = medallion("validate", cwd=tmp_path / "mdl")
    assert proc.returncode != 0
    lines = stg.splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith("    {{ dbt_utils"))
    assert f"stg_orders.sql:{line}:5: the model holds Jinja" in proc.stderr
    assert "Traceback" not in proc.stderr

    # done by hand: the project loads
    stg = stg.replace(
        "{{ dbt_utils.generate_surrogate_key(['order_id', 'line']) }}", "md5(order_id)"
    ).replace("{{ var('region') }}", "EU")
    (tmp_path / "mdl" / "models" / "silver" / "stg_orders.sql").write_text(stg)
    Project.load(tmp_path / "mdl").validate()


def test_the_cli_lists_todos_and_json_says_the_same(tmp_path: Path) -> None:
    write_dbt(
        tmp_path / "dbt",
        {
            "models/staging/sources.yml": SOURCES,
            "models/staging/stg_orders.sql": "select * from {{ source('erp', 'orders') }}\n",
            "models/finance/big_orders.sql": """
                select * from {{ ref('stg_orders') }}
                where amount > {{ var('threshold', 100) }}
            """,
        },
    )
    proc = medallion("import", "dbt", "dbt", cwd=tmp_path)
    # written, but not done: exit 1 while a TODO is left
    assert proc.returncode == 1
    assert "bronze.orders" in proc.stdout and "silver.big_orders" in proc.stdout
    assert "no layer for folder 'finance': put in silver" in proc.stderr
    assert "TODO (1)" in proc.stderr
    assert "models/staging/sources.yml:6: source erp.orders" in proc.stderr
    assert "the imported project loads, but does what the dbt project did only once" in (
        proc.stderr
    )
    assert (tmp_path / "warehouse" / "medallion.yml").is_file()  # named after the dbt project
    # a source's TODO has no model file: medallion.yml is marked with it
    config = (tmp_path / "warehouse" / "medallion.yml").read_text()
    assert "# TODO(models/staging/sources.yml:6): source erp.orders" in config

    proc = medallion(
        "import", "dbt", "dbt", "other", "--json", "--layer", "finance=silver", cwd=tmp_path
    )
    data = json.loads(proc.stdout)
    assert [t["fqn"] for t in data["tables"]] == [
        "bronze.orders",
        "silver.big_orders",
        "silver.stg_orders",
    ]
    assert data["todos"][0]["where"] == "models/staging/sources.yml:6"
    assert proc.returncode == 1


def test_an_existing_folder_is_not_touched_and_a_folder_without_dbt_is_refused(
    tmp_path: Path,
) -> None:
    src = write_dbt(tmp_path / "dbt", {"models/staging/a.sql": "select 1 as a\n"})
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    proc = medallion("import", "dbt", str(src), str(dest), cwd=tmp_path)
    assert proc.returncode == 1
    assert "already exists and is not empty" in proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".taken")]

    proc = medallion("import", "dbt", str(tmp_path / "taken"), "x", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no dbt_project.yml in this folder" in proc.stderr
    assert not (tmp_path / "x").exists()

    proc = medallion("import", "dbt", str(src), "y", "--layer", "staging=platinum", cwd=tmp_path)
    assert proc.returncode == 1 and "--layer staging=platinum" in proc.stderr
    assert not (tmp_path / "y").exists()


def test_a_file_read_in_a_model_becomes_a_files_source(tmp_path: Path) -> None:
    src = write_dbt(
        tmp_path / "dbt",
        {
            "exports/sales_2024.csv": "id,amount\n1,5\n2,-7\n3,4\n",
            "models/staging/stg_sales.sql": """
                select id, amount * 2 as doubled
                from read_csv('exports/sales_*.csv', header = true) as s
                where amount > 0
            """,
        },
    )
    report = import_dbt(src, tmp_path / "mdl")
    assert not report.todos
    assert any("header = TRUE) are not carried over" in n.message for n in report.notes)
    config = (tmp_path / "mdl" / "medallion.yml").read_text()
    assert "sales:\n    path: data/exports/sales_*.csv" in config
    sql = (tmp_path / "mdl" / "models" / "silver" / "stg_sales.sql").read_text()
    assert "FROM bronze.sales AS s" in sql and "read_csv" not in sql
    medallion("run", cwd=tmp_path / "mdl", check=True)
    doubled = Project.load(tmp_path / "mdl").query(
        "select doubled from silver.stg_sales order by 1"
    )
    assert doubled.column("doubled").to_pylist() == [8, 10]


def test_dbt_context_vars_macros_dispatch_and_branches(tmp_path: Path) -> None:
    write_dbt(
        tmp_path / "dbt",
        {
            "macros/util.sql": """
                {% macro limit_rows(n) %}
                {{ return(adapter.dispatch('limit_rows')(n)) }}
                {% endmacro %}
                {% macro default__limit_rows(n) %}limit {{ n }}{% endmacro %}
                {% macro schema_of(x) %}{{ return('s_' ~ x) }}{% endmacro %}
            """,
            "models/staging/a.sql": """
                select {{ var('start_date') }} as start_date,
                       '{{ schema_of('x') }}' as schema_name,
                       '{{ env_var('REGION', 'eu') }}' as region
                {% if target.name == 'prod' %}
                from big_table
                {% endif %}
                {% if unknown_flag %}where 1 = 0{% endif %}
                {{ limit_rows(5) }}
            """,
        },
    )
    proc = medallion(
        "import", "dbt", "dbt", "mdl", "--json", "--vars", "{start_date: 20240301}", cwd=tmp_path
    )
    data = json.loads(proc.stdout)
    sql = (tmp_path / "mdl" / "models" / "silver" / "a.sql").read_text()
    body = sql.split("--- */\n", 1)[1]
    assert body.splitlines() == [
        "select 20240301 as start_date,",
        "       's_x' as schema_name,",
        "       'eu' as region",
        "limit 5",
    ]
    notes = {n["where"]: n["message"] for n in data["notes"]}
    assert "rendered as its default 'eu'" in notes["models/staging/a.sql:3"]
    assert "target.name" in notes["models/staging/a.sql:4"]
    assert [t["where"] for t in data["todos"]] == ["models/staging/a.sql:7"]
    assert "`unknown_flag` is not known" in data["todos"][0]["message"]


def test_a_broken_dbt_project_file_is_named_with_its_line(tmp_path: Path) -> None:
    write_dbt(tmp_path / "dbt", {"dbt_project.yml": "name: x\nmodels:\n  x: [unclosed\n"})
    proc = medallion("import", "dbt", "dbt", "mdl", cwd=tmp_path)
    assert proc.returncode == 1
    assert "dbt/dbt_project.yml:4" in proc.stderr and "not valid YAML" in proc.stderr
    assert not (tmp_path / "mdl").exists()


def test_models_at_the_root_of_the_model_path_take_its_mapping(tmp_path: Path) -> None:
    src = write_dbt(
        tmp_path / "dbt",
        {
            "models/staging/stg_a.sql": "select 1 as a\n",
            "models/a_summary.sql": "select count(*) as n from {{ ref('stg_a') }}\n",
        },
    )
    report = import_dbt(src, tmp_path / "silver_default")
    assert "(choose with --layer models=LAYER)" in report.notes[0].message
    report = import_dbt(src, tmp_path / "mapped", layers=["models=gold"])
    assert [t.fqn for t in report.tables] == ["gold.a_summary", "silver.stg_a"]
    assert not report.notes and not report.todos


def test_jinja_that_fails_at_import_is_kept_and_listed(tmp_path: Path) -> None:
    src = write_dbt(
        tmp_path / "dbt",
        {
            "macros/bad.sql": "{% macro ratio(a, b) %}{{ a / b }}{% endmacro %}\n",
            "models/staging/x.sql": "select 1 as a,\n  {{ ratio(1, 0) }} as b\n",
        },
    )
    report = import_dbt(src, tmp_path / "mdl")
    assert [(t.where, t.message.split(";")[0]) for t in report.todos] == [
        (
            "models/staging/x.sql:2",
            "the Jinja fails at import (ZeroDivisionError: division by zero)",
        )
    ]
    kept = (tmp_path / "mdl" / "models" / "silver" / "x.sql").read_text()
    assert kept.endswith("--- */\nselect 1 as a,\n  {{ ratio(1, 0) }} as b\n")


def test_tests_of_sources_may_name_tables_declared_after_them(tmp_path: Path) -> None:
    src = write_dbt(
        tmp_path / "dbt",
        {
            "exports/orders.csv": "id,customer_id\n1,7\n",
            "exports/customers.csv": "id\n7\n",
            "models/staging/sources.yml": """
                version: 2
                sources:
                  - name: erp
                    meta: {external_location: "exports/{name}.csv"}
                    tables:
                      - name: orders
                        columns:
                          - name: customer_id
                            data_tests:
                              - relationships:
                                  arguments: {to: "source('erp', 'customers')", field: id}
                              - relationships:
                                  arguments: {to: "ref('stg_customers')", field: id}
                      - name: customers
            """,
            "models/staging/stg_customers.sql": "select id from {{ source('erp', 'customers') }}",
        },
    )
    report = import_dbt(src, tmp_path / "mdl")
    assert not report.todos
    config = (tmp_path / "mdl" / "medallion.yml").read_text()
    assert "to: bronze.customers.id" in config and "to: silver.stg_customers.id" in config
    medallion("run", cwd=tmp_path / "mdl", check=True)


def test_a_materialization_set_for_a_folder_is_named_at_its_line_of_dbt_project_yml(
    tmp_path: Path,
) -> None:
    src = write_dbt(
        tmp_path / "dbt",
        {
            "dbt_project.yml": """
                name: warehouse
                models:
                  warehouse:
                    marts:
                      +materialized: dynamic_table
            """,
            "models/marts/totals.sql": "select 1 as total\n",
        },
    )
    report = import_dbt(src, tmp_path / "mdl")
    assert [(t.where, t.message.split(":")[0]) for t in report.todos] == [
        (
            "dbt_project.yml:5",
            "materialized='dynamic_table' is specific to a warehouse or a package",
        )
    ]


def test_a_source_over_a_seed_reads_the_seed(tmp_path: Path) -> None:
    # dbt's newer jaffle-shop: `dbt seed` loads raw_customers, the models read it as a source
    src = write_dbt(
        tmp_path / "dbt",
        {
            "seeds/raw_customers.csv": "id,name\n1,Ann\n2,Bob\n",
            "models/staging/__sources.yml": """
                version: 2
                sources:
                  - name: ecom
                    schema: raw
                    tables:
                      - name: raw_customers
                        description: One record per person who has purchased one or more items
                        columns:
                          - name: id
                            data_tests: [unique]
            """,
            "models/staging/stg_customers.sql": """
                select id as customer_id, name from {{ source('ecom', 'raw_customers') }}
            """,
        },
    )
    report = import_dbt(src, tmp_path / "mdl")
    assert not report.todos
    assert [t.fqn for t in report.sources] == ["bronze.raw_customers"]
    assert "is the table the seed raw_customers loads" in report.notes[0].message
    config = (tmp_path / "mdl" / "medallion.yml").read_text()
    assert "description: One record per person" in config and "- unique: id" in config
    medallion("run", cwd=tmp_path / "mdl", check=True)
    assert Project.load(tmp_path / "mdl").row_count("silver.stg_customers") == 2


def test_rendered_sql_that_does_not_parse_is_a_todo_at_its_line_and_the_import_exits_1(
    tmp_path: Path,
) -> None:
    write_dbt(
        tmp_path / "dbt",
        {
            "seeds/raw.csv": "id,status,amount\n1,DELIVERED,2\n",
            # renders, but is not SQL: the TODO names this file's line 5
            "models/staging/bad.sql": """
                {{ config(materialized='table') }}
                select
                  id,
                {% if var('start_date') %}
                  amount as x y
                {% endif %}
                from {{ ref('raw') }}
            """,
            "models/staging/good.sql": "select id, status from {{ ref('raw') }}\n",
            # another TODO: the SQL check is made all the same
            "models/staging/schema.yml": """
                version: 2
                models:
                  - name: good
                    columns:
                      - name: status
                        data_tests:
                          - dbt_expectations.expect_column_values_to_be_in_set:
                              value_set: [DELIVERED]
                          - accepted_values:
                              arguments:
                                values: "{{ var('statuses') }}"
            """,
        },
    )
    proc = medallion("import", "dbt", "dbt", "mdl", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "TODO (4)" in proc.stderr
    assert "models/staging/bad.sql:5: the SQL as rendered does not parse" in proc.stderr
    assert "the imported project does not load yet" in proc.stderr
    assert "\n  dbt_project.yml" not in proc.stderr  # no TODO blames it

    # marked at the top of the model, naming its line as written
    bad = (tmp_path / "mdl" / "models" / "silver" / "bad.sql").read_text()
    lines = bad.splitlines()
    assert lines[0] == "-- imported from dbt: models/staging/bad.sql"
    assert lines[1].startswith("-- TODO(models/staging/bad.sql:5): the SQL as rendered does not")
    at = next(i for i, text in enumerate(lines, 1) if text == "  amount as x y")
    assert f"(models/silver/bad.sql:{at}:15: SQL syntax error" in lines[1]
    proc = medallion("validate", cwd=tmp_path / "mdl")
    assert proc.returncode == 1 and f"bad.sql:{at}:15: SQL syntax error" in proc.stderr

    # a test's TODOs are marked at the top of the model it tests, not only in IMPORT.md
    good = (tmp_path / "mdl" / "models" / "silver" / "good.sql").read_text()
    marks = [line for line in good.splitlines() if line.startswith("-- TODO(")]
    assert marks[0].startswith(
        "-- TODO(models/staging/schema.yml:7): data test "
        "dbt_expectations.expect_column_values_to_be_in_set on column status has no medallion check"
    )
    # a var without a value: said, and the test is not called one medallion does not have
    assert any(
        m.startswith("-- TODO(models/staging/schema.yml:9): var 'statuses' has no") for m in marks
    )
    assert any(
        "accepted_values on column status: the import cannot use its arguments" in m for m in marks
    )
    notes = (tmp_path / "mdl" / "IMPORT.md").read_text()
    assert "`models/staging/bad.sql:5`: the SQL as rendered does not parse" in notes


def test_a_model_that_parses_but_does_not_load_is_a_todo_of_that_model(tmp_path: Path) -> None:
    write_dbt(
        tmp_path / "dbt",
        {
            "models/staging/orders.sql": "select *\nfrom analytics.raw_orders\n",
            "models/staging/other.sql": "select 1 as a\n",
            # another TODO: the load is checked all the same
            "models/staging/schema.yml": """
                version: 2
                models:
                  - name: other
                    data_tests: [dbt_expectations.expect_table_row_count_to_equal]
            """,
        },
    )
    report = import_dbt(tmp_path / "dbt", tmp_path / "mdl")
    assert not report.loads
    assert [(t.where, t.model) for t in report.todos] == [
        ("models/staging/schema.yml:3", "silver.other"),
        ("models/staging/orders.sql:2", "silver.orders"),
    ]
    message = report.todos[1].message
    assert message.startswith("the imported project does not load (models/silver/orders.sql:")
    sql = (tmp_path / "mdl" / "models" / "silver" / "orders.sql").read_text()
    assert sql.splitlines()[1] == f"-- TODO(models/staging/orders.sql:2): {message}"
    line = int(message.split("orders.sql:", 1)[1].split(":", 1)[0])
    assert sql.splitlines()[line - 1] == "from analytics.raw_orders"


def test_jinja_that_reads_its_own_text_renders_as_dbt_renders_it(tmp_path: Path) -> None:
    # the lines are traced by rendering again with a marker at each newline: a block captured
    # by {% set %} and filtered must come out as dbt writes it, with no marker left
    src = write_dbt(
        tmp_path / "dbt",
        {
            "models/staging/a.sql": """
                {% set cols %}
                a,
                b
                {% endset %}
                select {{ cols | trim }}
                {% if cols | length > 4 %}
                from (select 1 as a, 2 as b)
                {% endif %}
            """,
        },
    )
    report = import_dbt(src, tmp_path / "mdl")
    assert not report.todos and report.loads
    sql = (tmp_path / "mdl" / "models" / "silver" / "a.sql").read_text()
    assert "\ue000" not in sql
    assert sql.split("--- */\n", 1)[1] == "select a,\nb\n\nfrom (select 1 as a, 2 as b)\n"
