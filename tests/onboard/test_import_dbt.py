"""`medallion import dbt` against real dbt: the dbt projects under dbt_projects/ are built by
dbt-core + dbt-duckdb (in their own virtualenv) and, imported, by medallion; every table dbt
builds must equal the imported project's table of the same name, row for row.

The dbt virtualenv is `.venv-dbt/` at the repo root, created by the `dbt` fixture from
dbt-requirements.txt the first time and reused while that file is unchanged. It is never
skipped: when it cannot be created the test fails with pip's error.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.conftest import medallion

from medallion.config.schema import FileSource
from medallion.project import Project

HERE = Path(__file__).resolve().parent
PROJECTS = HERE / "dbt_projects"
REQUIREMENTS = HERE / "dbt-requirements.txt"
VENV = HERE.parents[1] / ".venv-dbt"
#: the columns medallion adds to every bronze row (where it came from, when, which run)
AUDIT = {"_source_file", "_ingested_at", "_run_id"}


@pytest.fixture(scope="session")
def dbt() -> Path:
    """The `dbt` executable of the test virtualenv, created when missing or out of date."""
    stamp = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    exe = VENV / "bin" / "dbt"
    if exe.exists() and stamp.is_file() and stamp.read_text() == wanted:
        return exe
    shutil.rmtree(VENV, ignore_errors=True)
    for step in (
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
    ):
        proc = subprocess.run(step, capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            command = " ".join(step)
            pytest.fail(
                f"cannot create the dbt virtualenv ({command}):\n{proc.stdout}{proc.stderr}"
            )
    stamp.write_text(wanted)
    return exe


def dbt_build(dbt: Path, project: Path) -> Path:
    """`dbt build` of `project` into a DuckDB file beside it; returns the file."""
    database = project.parent / "dbt.duckdb"
    name = next(
        line.split(":", 1)[1].strip()
        for line in (project / "dbt_project.yml").read_text().splitlines()
        if line.startswith("profile:")
    )
    (project / "profiles.yml").write_text(
        f"{name}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {database}\n      threads: 1\n"
    )
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    # local packages (packages.yml) install without a network
    commands = [["deps"]] if (project / "packages.yml").is_file() else []
    for command in [*commands, ["build"]]:
        proc = subprocess.run(
            [str(dbt), *command, "--profiles-dir", str(project), "--project-dir", str(project)],
            cwd=project,  # dbt-duckdb reads external_location relative to where dbt runs
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert proc.returncode == 0, f"dbt {command[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return database


def value(v: Any) -> Any:
    """A cell as both sides can be compared: numbers as rounded floats, times as text."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int | float | Decimal):
        f = float(v)
        return round(f, 6) if math.isfinite(f) else str(f)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def rows(table: Any, columns: list[str]) -> list[tuple[Any, ...]]:
    data = table.select(columns).to_pylist()
    return sorted(
        (tuple(value(r[c]) for c in columns) for r in data),
        key=lambda t: tuple((x is None, str(x)) for x in t),
    )


def dbt_tables(database: Path, project: Path, reads: dict[str, str]) -> dict[str, Any]:
    """Every table and view dbt built, and what its sources read (`reads`: name -> the
    relation dbt-duckdb reads for an external source): name -> Arrow table."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        # dbt's views over external sources name their files relative to the dbt project
        con.execute("set file_search_path = ?", [str(project)])
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
        out = {t: con.sql(f'select * from "{s}"."{t}"').to_arrow_table() for s, t in names}
        for name, relation in reads.items():
            out[name] = con.sql(f"select * from {relation}").to_arrow_table()
        return out
    finally:
        con.close()


def compare(
    database: Path,
    mdl: Path,
    *,
    reads: dict[str, str],
    ephemeral: tuple[str, ...] = (),
    snapshots: tuple[str, ...] = (),
) -> list[str]:
    """Assert every table dbt built or read equals the medallion table of its name; returns
    the names. dbt builds no table for an `ephemeral` model (medallion: a view)."""
    project = Project.load(mdl)
    fqns = {fqn.split(".", 1)[1]: fqn for fqn in [*project.source_tables, *project.models]}
    built = dbt_tables(database, database.parent / "dbt", reads)
    assert set(built) == set(fqns) - set(ephemeral), "dbt and medallion built different tables"
    for name, theirs in sorted(built.items()):
        ours = project.query(f"select * from {fqns[name]}")
        their_cols = theirs.column_names
        if name in snapshots:
            # dbt's history columns under medallion's names (scd2); the version ids differ
            assert {"valid_from", "valid_to", "is_current"} <= set(ours.column_names)
            current = ours.column("is_current").to_pylist()
            assert current == [v is None for v in ours.column("valid_to").to_pylist()]
            theirs = theirs.rename_columns(
                [
                    {"dbt_valid_from": "valid_from", "dbt_valid_to": "valid_to"}.get(c, c)
                    for c in their_cols
                ]
            ).drop_columns(["dbt_scd_id", "dbt_updated_at"])
            their_cols = theirs.column_names
            ours = ours.drop_columns(["is_current"])
        our_cols = [c for c in ours.column_names if c not in AUDIT]
        assert sorted(our_cols) == sorted(their_cols), f"{name}: columns differ"
        assert rows(ours, their_cols) == rows(theirs, their_cols), f"{name}: rows differ"
    return sorted(built)


def import_and_run(src: Path, tmp_path: Path) -> Path:
    proc = medallion("import", "dbt", str(src), "mdl", cwd=tmp_path, check=True)
    assert "TODO" not in proc.stderr, proc.stderr
    mdl = tmp_path / "mdl"
    medallion("run", cwd=mdl, check=True)
    return mdl


def test_files_sources_and_a_jinja_loop_build_what_dbt_builds(dbt: Path, tmp_path: Path) -> None:
    src = tmp_path / "dbt"
    shutil.copytree(PROJECTS / "shop_files", src)
    database = dbt_build(dbt, src)
    mdl = import_and_run(src, tmp_path)

    reads = {t: f"'data/{t}.csv'" for t in ("raw_customers", "raw_orders", "raw_payments")}
    tables = compare(database, mdl, reads=reads, ephemeral=("int_order_payments",))
    assert tables == [
        "customers",
        "orders",
        "raw_customers",
        "raw_orders",
        "raw_payments",
        "segments",
        "stg_customers",
        "stg_orders",
        "stg_payments",
    ]
    # the loop over var('payment_methods') is written out, one column per method
    orders = (mdl / "models" / "gold" / "orders.sql").read_text()
    assert "{" not in orders.split("--- */", 1)[1]
    for method in ("credit_card", "coupon", "bank_transfer", "gift_card"):
        assert f"coalesce(payments.{method}_amount, 0) as {method}_amount" in orders
    # the external sources are files sources, their files copied; the seed too
    config = (mdl / "medallion.yml").read_text()
    assert "path: data/raw_orders.csv" in config
    assert "path: data/seeds/segments.csv" in config
    if "on_rewrite" in FileSource.model_fields:
        # a seed edited in place replaces its rows, as `dbt seed` does
        assert "path: data/seeds/segments.csv\n    on_rewrite: replace" in config
    assert (mdl / "data" / "seeds" / "segments.csv").read_bytes() == (
        src / "seeds" / "segments.csv"
    ).read_bytes()
    # dbt's tests are the project's checks, and they pass as dbt's did
    checks = Project.load(mdl).checks
    names = {c.check_name for cs in checks.tables.values() for c in cs}
    assert {
        "unique_customer_id",
        "accepted_values_segment_code",
        "relationships_segment_code__bronze_segments",
        "relationships_customer_id__silver_stg_customers",
    } <= names
    status = medallion("status", "--json", cwd=mdl, check=True)
    assert '"fail"' not in status.stdout


def test_an_incremental_model_and_a_macro_build_what_dbt_builds_day_after_day(
    dbt: Path, tmp_path: Path
) -> None:
    src = tmp_path / "dbt"
    shutil.copytree(PROJECTS / "ledger", src)
    database = dbt_build(dbt, src)
    mdl = import_and_run(src, tmp_path)
    snapshots = ("accounts_snapshot",)
    reads = {"transactions": "'data/transactions_*.csv'"}
    assert compare(database, mdl, reads=reads, snapshots=snapshots) == [
        "account_balances",
        "accounts",
        "accounts_snapshot",
        "fct_transactions",
        "stg_accounts",
        "stg_transactions",
        "transactions",
    ]
    fct = (mdl / "models" / "gold" / "fct_transactions.sql").read_text()
    assert "kind: merge" in fct and "unique_key: transaction_id" in fct
    # that a merge follows changed inputs where dbt keeps its rows is said in IMPORT.md
    changed = (mdl / "IMPORT.md").read_text().split("## Changed on purpose", 1)[1]
    assert "`models/marts/fct_transactions.sql`: incremental in dbt, kind: merge" in changed
    assert "dbt's incremental run keeps the rows it wrote before" in changed
    assert "is_incremental" not in fct and "{{" not in fct
    # the project's macro, rendered where it was called; the package's, dispatched, calling
    # dbt's own cross-database macros
    stg = (mdl / "models" / "silver" / "stg_transactions.sql").read_text()
    assert "round(amount_cents / 100.0, 2) as amount" in stg
    assert (
        "md5(cast(coalesce(cast(t.transaction_id as varchar), '_null_') || '-' || "
        "coalesce(cast(t.account_id as varchar), '_null_') as varchar)) as transaction_key"
    ) in fct
    assert "date_trunc('month', t.booked_at) as booked_month" in fct

    # day 2: a new export corrects transaction 3 and adds transaction 9, to both sides
    day2 = (
        "transaction_id,account_id,kind,amount_cents,booked_at,updated_at\n"
        "3,A02,deposit,1990,2024-03-02 12:30:00,2024-03-07 09:00:00\n"
        "9,A04,withdrawal,5000,2024-03-07 10:00:00,2024-03-07 10:00:00\n"
    )
    (src / "data" / "transactions_2024_03_b.csv").write_text(day2)
    (mdl / "data" / "transactions_2024_03_b.csv").write_text(day2)
    database = dbt_build(dbt, src)
    medallion("run", cwd=mdl, check=True)
    compare(database, mdl, reads=reads, snapshots=snapshots)
    fct_rows = Project.load(mdl).query(
        "select transaction_id, amount from gold.fct_transactions order by 1"
    )
    assert fct_rows.num_rows == 9
    assert fct_rows.to_pylist()[2] == {"transaction_id": 3, "amount": 19.9}


def test_a_loop_ending_lines_in_a_tag_and_tests_valued_by_a_var_build_what_dbt_builds(
    dbt: Path, tmp_path: Path
) -> None:
    src = tmp_path / "dbt"
    shutil.copytree(PROJECTS / "statuses", src)
    database = dbt_build(dbt, src)
    mdl = import_and_run(src, tmp_path)
    assert compare(database, mdl, reads={}) == [
        "customer_totals",
        "int_orders_status",
        "raw_orders",
        "stg_orders",
    ]
    # the newline after `{% endif %}` is kept, as dbt keeps it; the tag-only lines leave no
    # blank line
    sql = (mdl / "models" / "silver" / "int_orders_status.sql").read_text()
    assert sql.split("--- */\n", 1)[1].splitlines() == [
        "select",
        "  customer_id,",
        "  sum(case when status = 'DELIVERED' then amount else 0 end) as delivered_amount,",
        "  sum(case when status = 'SHIPPED' then amount else 0 end) as shipped_amount,",
        "  sum(case when status = 'CANCELLED' then amount else 0 end) as cancelled_amount",
        "from silver.stg_orders",
        "group by customer_id",
    ]
    # the accepted_values tests whose values are a var are checks, on the model and the seed
    statuses = ["DELIVERED", "SHIPPED", "CANCELLED"]
    checks = Project.load(mdl).checks.tables
    for table in ("silver.stg_orders", "bronze.raw_orders"):
        (accepted,) = [c for c in checks[table] if c.check_name == "accepted_values_status"]
        assert accepted.values == statuses  # type: ignore[union-attr]
    medallion("test", cwd=mdl, check=True)

    # a status outside the var fails both checks
    seed = mdl / "data" / "seeds" / "raw_orders.csv"
    seed.write_text(seed.read_text() + "7,C3,LOST,1.00\n")
    medallion("run", cwd=mdl)
    proc = medallion("test", "--json", cwd=mdl)
    assert proc.returncode == 1
    failed = {
        (r["table_name"], r["name"])
        for r in json.loads(proc.stdout)["checks"]
        if r["status"] == "fail"
    }
    assert failed == {
        ("silver.stg_orders", "accepted_values_status"),
        ("bronze.raw_orders", "accepted_values_status"),
    }
