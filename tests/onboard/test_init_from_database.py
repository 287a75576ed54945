"""`medallion init DIR --from postgresql://...`: one source per table of a real (throwaway)
PostgreSQL, keys and relationships from its catalog, the password never written down; the
first `medallion run` is green."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import yaml
from tests.conftest import medallion

from medallion.project import Project

pytestmark = pytest.mark.postgres


def test_tables_of_a_postgres_database(tmp_path: Path, pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(
            """
            create schema sales;
            create table sales.customers (
                id integer primary key, name text not null, city varchar(40),
                updated_at timestamp not null default '2024-05-01 10:00');
            create table sales.orders (
                order_id integer primary key, customer_id integer references sales.customers(id),
                amount numeric(10, 2), ordered_on date);
            create table public.audit_log (happened_at timestamp, what text);
            insert into sales.customers (id, name, city) values
                (1, 'Ana', ' Lyon '), (2, 'Ben', 'Nantes'), (3, 'Chloé', null);
            insert into sales.orders values
                (10, 1, 12.50, '2024-05-02'), (11, 3, 7.25, '2024-05-03'),
                (12, 1, 100.00, '2024-05-04');
            insert into public.audit_log values
                ('2024-05-01 09:00', 'x'), ('2024-05-01 09:00', 'x');
            """
        )
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    proc = medallion("init", "proj", "--from", pg_db, cwd=tmp_path, env=env, check=True)
    said = proc.stdout
    root = tmp_path / "proj"
    text = (root / "medallion.yml").read_text(encoding="utf-8")
    assert "secret" not in text and "secret" not in said  # the password stays out
    config = yaml.safe_load(text)
    customers = config["sources"]["customers"]
    assert customers["type"] == "postgres"
    assert customers["table"] == "sales.customers"
    assert customers["dsn"] == pg_db.replace(":secret@", ":${PGPASSWORD}@")
    assert customers["cursor"] == "updated_at"
    assert customers["primary_key"] == "id"
    assert config["sources"]["orders"]["primary_key"] == "order_id"
    assert "cursor" not in config["sources"]["orders"]
    assert "primary_key" not in config["sources"]["audit_log"]
    assert "relationship customer_id -> customers.id (a foreign key)" in said
    assert "export PGPASSWORD=... && cd proj && medallion run" in said
    orders_model = (root / "models" / "silver" / "stg_orders.sql").read_text()
    assert "- relationships: {column: customer_id, to: silver.stg_customers.id}" in orders_model
    assert "kind: table" in (root / "models" / "silver" / "stg_audit_log.sql").read_text()

    run = medallion("run", cwd=root, env={**env, "PGPASSWORD": "secret"}, check=True)
    assert "0 failed" in run.stdout and "checks: 5 passed" in run.stdout, run.stdout
    project = Project.load(root)
    cities = project.query("select id, city from silver.stg_customers order by id").to_pylist()
    assert cities == [
        {"id": 1, "city": "Lyon"},
        {"id": 2, "city": "Nantes"},
        {"id": 3, "city": None},
    ]
    assert project.query("select sum(amount) as s from silver.stg_orders").to_pylist()[0]["s"] == (
        pytest.approx(119.75)
    )
    assert project.query("select count(*) as n from silver.stg_audit_log").to_pylist() == [{"n": 1}]


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    proc = medallion(
        "init", "proj", "--from", "postgresql://u:pw@127.0.0.1:9/nothing", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert "cannot read the tables of postgresql://u:***@127.0.0.1:9/nothing" in proc.stderr
    assert "pw@" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "proj").exists()


@pytest.mark.mysql
def test_tables_of_a_mariadb_database(tmp_path: Path, my_db: str) -> None:
    import pymysql

    from medallion.connectors.mysql import parse_dsn

    conn = pymysql.connect(**parse_dsn(my_db), autocommit=True)
    with conn.cursor() as cur:
        for statement in (
            "create table stores (store_code varchar(8) primary key, city varchar(40))",
            "create table sales (sale_id int primary key, store_code varchar(8),"
            " amount decimal(8,2),"
            " modified_at datetime, foreign key (store_code) references stores(store_code))",
            "insert into stores values ('S01', 'Lyon '), ('S02', 'Nantes')",
            "insert into sales values (1, 'S01', 2.50, '2024-05-01 10:00:00'),"
            " (2, 'S02', 4.00, '2024-05-01 11:00:00')",
        ):
            cur.execute(statement)
    conn.close()
    env = {k: v for k, v in os.environ.items() if k != "MYSQL_PASSWORD"}
    said = medallion("init", "proj", "--from", my_db, cwd=tmp_path, env=env, check=True).stdout
    root = tmp_path / "proj"
    config = yaml.safe_load((root / "medallion.yml").read_text(encoding="utf-8"))
    sales = config["sources"]["sales"]
    assert sales["type"] == "mysql" and sales["table"] == "sales"
    assert sales["cursor"] == "modified_at" and sales["primary_key"] == "sale_id"
    assert config["sources"]["stores"]["primary_key"] == "store_code"
    assert "relationship store_code -> stores.store_code (a foreign key)" in said
    password = my_db.split("://", 1)[1].split("@", 1)[0].split(":", 1)
    run_env = dict(env)
    if len(password) == 2:
        assert password[1] not in (root / "medallion.yml").read_text()
        assert "${MYSQL_PASSWORD}" in sales["dsn"]
        run_env["MYSQL_PASSWORD"] = password[1]
    run = medallion("run", cwd=root, env=run_env, check=True)
    assert "0 failed" in run.stdout and "checks: 5 passed" in run.stdout, run.stdout
    cities = Project.load(root).query("select city from silver.stg_stores order by 1").to_pylist()
    assert cities == [{"city": "Lyon"}, {"city": "Nantes"}]
