"""A medallion model (or singular check) that still holds dbt's Jinja gets a message that says
medallion does not render Jinja and what to write instead, not DuckDB's syntax error."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import medallion, write_project

CONFIG = """
    name: shop
    sources:
      orders:
        path: data/orders.csv
"""
FILES = {"data/orders.csv": "order_id,amount\n1,10\n"}


@pytest.mark.parametrize(
    ("sql", "where", "hint"),
    [
        (
            "select *\nfrom {{ ref('orders') }}\n",
            "stg_orders.sql:2:6",
            "write the table as bronze.orders instead of ref(...)",
        ),
        (
            "select * from {{ source('shop', 'orders') }}\n",
            "stg_orders.sql:1:15",
            "write the table as bronze.orders instead of source(...)",
        ),
        (
            "{{ config(materialized='incremental', unique_key='order_id') }}\n"
            "select * from bronze.orders\n",
            "stg_orders.sql:1:1",
            "header: /* --- kind: merge",
        ),
        (
            "select * from bronze.orders\n{% if is_incremental() %}\nwhere amount > 0\n"
            "{% endif %}\n",
            "stg_orders.sql:2:1",
            "drop the is_incremental() block",
        ),
        (
            "select\n  {% for c in ['a', 'b'] %} {{ c }}, {% endfor %} order_id\n"
            "from bronze.orders\n",
            "stg_orders.sql:2:3",
            "write out the SQL the block produces",
        ),
    ],
)
def test_jinja_in_a_model_says_what_to_write_instead(
    tmp_path: Path, sql: str, where: str, hint: str
) -> None:
    write_project(tmp_path, CONFIG, {"silver/stg_orders.sql": sql}, FILES)
    proc = medallion("validate", cwd=tmp_path)
    assert proc.returncode == 1
    assert f"{where}: the model holds Jinja" in proc.stderr
    assert "medallion does not render Jinja" in proc.stderr
    assert hint in proc.stderr
    assert "medallion import dbt PATH DIR" in proc.stderr
    assert "syntax error" not in proc.stderr


def test_braces_in_a_string_are_data_and_a_real_syntax_error_stays_one(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        CONFIG,
        {"silver/stg_orders.sql": "select '{{ not jinja }}' as label, 1 as x frm bronze.orders"},
        FILES,
    )
    proc = medallion("validate", cwd=tmp_path)
    assert proc.returncode == 1
    assert "SQL syntax error" in proc.stderr and "Jinja" not in proc.stderr


def test_jinja_in_a_singular_check_says_so_too(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        CONFIG,
        {"silver/stg_orders.sql": "select * from bronze.orders\n"},
        {**FILES, "checks/positive.sql": "select * from {{ ref('stg_orders') }} where amount < 0"},
    )
    proc = medallion("validate", cwd=tmp_path)
    assert proc.returncode == 1
    assert "positive.sql:1:15: the model holds Jinja" in proc.stderr
    assert "write the table as silver.stg_orders" in proc.stderr
