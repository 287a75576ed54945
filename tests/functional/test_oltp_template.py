"""The OLTP template end to end on real PostgreSQL databases: generate the shop, extract it
incrementally, build the marts, publish them to the warehouse; then a later day of changes.

The marts in the warehouse are checked against values computed independently, with plain SQL on
the SOURCE database (not from the lakehouse): what a full rebuild would give.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from medallion.devservers.pgserver import PgServer
from medallion.project import Project
from medallion.storage import tables
from medallion.templates import get_template

pytestmark = pytest.mark.postgres

TABLES = ("customers", "products", "orders", "order_items")

# per order, from the source: what gold.fct_orders must hold
SOURCE_ORDERS = """
SELECT o.id, o.customer_id, o.order_date, lower(trim(o.status)), count(i.id),
       coalesce(sum(i.quantity), 0), o.total_amount,
       coalesce(sum(i.quantity * i.unit_price), 0),
       o.total_amount <> coalesce(sum(i.quantity * i.unit_price), 0)
FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
GROUP BY o.id ORDER BY o.id
"""
MART_ORDERS = """
SELECT order_id, customer_id, order_date, status, item_count, units, header_total, items_total,
       total_mismatch
FROM marts.fct_orders ORDER BY order_id
"""
SOURCE_SALES = """
SELECT i.id, i.order_id, o.order_date, lower(trim(o.status)), o.customer_id, i.product_id,
       coalesce(nullif(trim(p.category), ''), 'Uncategorised'), i.quantity, i.unit_price,
       i.quantity * i.unit_price
FROM order_items i JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id
ORDER BY i.id
"""
MART_SALES = """
SELECT order_item_id, order_id, order_date, order_status, customer_id, product_id, category,
       quantity, unit_price, line_total
FROM marts.fct_sales ORDER BY order_item_id
"""
SOURCE_CUSTOMERS = """
SELECT id, trim(name), lower(trim(email)), nullif(trim(address), ''), created_at
FROM customers ORDER BY id
"""
MART_CUSTOMERS = """
SELECT customer_id, customer_name, email, address, customer_since
FROM marts.dim_customers ORDER BY customer_id
"""
SOURCE_PRODUCTS = "SELECT id, trim(name), price, stock_quantity FROM products ORDER BY id"
MART_PRODUCTS = (
    "SELECT product_id, product_name, price, stock_quantity FROM marts.dim_products "
    "ORDER BY product_id"
)


def fetch(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query.encode(), params or None).fetchall()


@pytest.fixture
def dbs(pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(source DSN, warehouse DSN): two fresh databases, exported as the template expects."""
    suffix = os.urandom(4).hex()
    names = (f"oltp_src_{suffix}", f"oltp_wh_{suffix}")
    for name in names:
        pg.create_database(name)
    source, warehouse = pg.dsn(names[0]), pg.dsn(names[1])
    monkeypatch.setenv("OLTP_SOURCE_DSN", source)
    monkeypatch.setenv("WAREHOUSE_DSN", warehouse)
    yield source, warehouse
    for name in names:
        pg.drop_database(name)


def assert_marts_match_source(source: str, warehouse: str) -> None:
    for src_query, mart_query in (
        (SOURCE_ORDERS, MART_ORDERS),
        (SOURCE_SALES, MART_SALES),
        (SOURCE_CUSTOMERS, MART_CUSTOMERS),
        (SOURCE_PRODUCTS, MART_PRODUCTS),
    ):
        expected, got = fetch(source, src_query), fetch(warehouse, mart_query)
        assert len(got) == len(expected), mart_query
        mismatched = [(e, g) for e, g in zip(expected, got, strict=True) if e != g]
        assert not mismatched, (mart_query, mismatched[:3])


def build(root: Path) -> tuple[Project, dict[str, int], Any]:
    """Scaffold the template in `root`, generate 600 order items, run it."""
    template = get_template("oltp")
    template.scaffold(root)
    counts = template.generate(root, rows=600)
    assert counts["order_items"] == 600
    project = Project.load(root)
    result = project.run()
    assert result.ok, [(s.node, s.step, s.error) for s in result.steps if s.error]
    return project, counts, result


def test_oltp_template_first_run(tmp_path: Path, dbs: tuple[str, str]) -> None:
    source, warehouse = dbs
    _, counts, first = build(tmp_path / "p")
    for table in TABLES:
        n = fetch(source, f"SELECT count(*) FROM {table}")[0][0]
        assert first.step(f"bronze.{table}").rows_written == n == counts[table], table
    published = {s.node for s in first.steps if s.step == "publish" and s.status == "success"}
    assert published == {
        "gold.dim_customers",
        "gold.dim_products",
        "gold.fct_sales",
        "gold.fct_orders",
    }
    assert fetch(warehouse, "SELECT count(*) FROM marts.fct_sales") == fetch(
        source, "SELECT count(*) FROM order_items"
    )
    assert fetch(warehouse, "SELECT count(*) FROM marts.dim_customers") == fetch(
        source, "SELECT count(*) FROM customers"
    )
    statuses = {r[0] for r in fetch(warehouse, "SELECT DISTINCT status FROM marts.fct_orders")}
    assert statuses <= {"pending", "processing", "shipped", "completed", "cancelled", "returned"}
    assert (
        fetch(source, "SELECT count(*) FROM orders WHERE status <> lower(trim(status))")[0][0] > 0
    )
    mismatches = fetch(warehouse, "SELECT count(*) FROM marts.fct_orders WHERE total_mismatch")
    assert mismatches == fetch(
        source,
        "SELECT count(*) FROM orders o WHERE total_amount <> (SELECT sum(quantity * unit_price) "
        "FROM order_items i WHERE i.order_id = o.id)",
    )
    assert mismatches[0][0] > 0
    assert_marts_match_source(source, warehouse)


def versions_in_source(dsn: str) -> dict[str, dict[int, Any]]:
    return {t: dict(fetch(dsn, f"SELECT id, updated_at FROM {t}")) for t in TABLES}


def test_oltp_template_next_day_is_incremental(tmp_path: Path, dbs: tuple[str, str]) -> None:
    source, warehouse = dbs
    project, counts, _ = build(tmp_path / "p")
    marks = {
        t: tables.history(project.catalog.path(f"bronze.{t}"))[0]["medallion.watermark"]
        for t in TABLES
    }
    before = versions_in_source(source)
    get_template("oltp").generate(project.root, day=2)
    after = versions_in_source(source)
    changed = {t: {i for i, u in after[t].items() if before[t].get(i) != u} for t in TABLES}
    assert all(changed.values()), changed
    window = {  # what the extract must read: past the watermark minus the 1 hour lookback
        t: fetch(
            source,
            f"SELECT count(*) FROM {t} WHERE updated_at > %s::timestamp - interval '1 hour'",
            marks[t],
        )[0][0]
        for t in TABLES
    }
    second = Project.load(project.root).run()
    for table in TABLES:
        step = second.step(f"bronze.{table}")
        assert step.rows_written == window[table], table
        newest = fetch(source, f"SELECT max(updated_at) FROM {table}")[0][0]
        assert step.details["watermark"] == newest.isoformat()
        landed = project.query(
            f"select distinct id from bronze.{table} where _run_id = '{second.run_id}'"
        )
        missed = changed[table] - {r["id"] for r in landed.to_pylist()}
        assert not missed, f"{table}: {len(missed)} rows changed on day 2 were not extracted"
    assert second.ok, [(s.node, s.step, s.error) for s in second.steps if s.error]
    bronze = project.query("select count(*) as n from bronze.orders").to_pylist()[0]["n"]
    assert bronze == counts["orders"] + window["orders"]  # every version kept
    assert_marts_match_source(source, warehouse)


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Any, Path, list[Path]]]:
    """`medallion demo -t oltp DIR` run once: (completed process, DIR, clusters it left in
    /tmp). DIR is made as the demo makes its own (readable by the server's OS user, so the
    cluster is kept there), and removed afterwards with any cluster left in /tmp."""
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="medallion-demo-test-"))
    parent.chmod(0o755)
    root = parent / "d"
    env = {k: v for k, v in os.environ.items() if k not in ("OLTP_SOURCE_DSN", "WAREHOUSE_DSN")}
    done = subprocess.run(
        [sys.executable, "-m", "medallion", "demo", "-t", "oltp", "--rows", "300", str(root)],
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    port = re.search(r"@127\.0\.0\.1:(\d+)/shop", done.stdout)
    orphans = [
        d
        for d in Path("/tmp").glob("medallion-pg-*")
        if port and f'"port={port.group(1)}"' in _read(d / "data" / "postmaster.opts")
    ]
    yield done, root, orphans
    for orphan in orphans:
        shutil.rmtree(orphan, ignore_errors=True)
    PgServer(root / ".pgdata").cleanup()  # a test that failed half-way may have started it
    shutil.rmtree(parent, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_demo_command_runs_the_oltp_template(demo: tuple[Any, Path, list[Path]]) -> None:
    done, root, _ = demo
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "fct_orders" in done.stdout
    assert "OLTP_SOURCE_DSN=postgresql://medallion:***@127.0.0.1:" in done.stdout
    assert ":secret@" not in done.stdout + done.stderr
    project = Project.load(root, env={})  # reading the lakehouse needs no database variable
    assert project.runs(1)[0]["status"] == "success"
    assert project.query("select count(*) as n from gold.fct_sales").to_pylist() == [{"n": 300}]


def test_the_demo_s_suggested_command_runs_as_printed(
    demo: tuple[Any, Path, list[Path]],
) -> None:
    # in a fresh shell, without the demo's variables: the query reads the lakehouse only
    done, _, _ = demo
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("try: "))
    words = shlex.split(line.removeprefix("try: "))
    assert words[0] == "medallion"
    env = {k: v for k, v in os.environ.items() if k not in ("OLTP_SOURCE_DSN", "WAREHOUSE_DSN")}
    ran = subprocess.run(
        [sys.executable, "-m", "medallion", *words[1:]],
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert "customer" in ran.stdout or "order" in ran.stdout


def test_the_demo_says_how_to_extract_a_second_day(demo: tuple[Any, Path, list[Path]]) -> None:
    """The demo's last lines start its database again, add a day of changes and run: pasted
    into a shell without the variables, they extract the new rows incrementally and stop the
    server again."""
    done, root, _ = demo
    lines = done.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("A second day of orders"))
    script = "\n".join(["set -e", *lines[at + 1 : at + 4]])
    assert 'eval "$(' in script and "generate --day 2" in script and "--stop" in script
    env = {k: v for k, v in os.environ.items() if k not in ("OLTP_SOURCE_DSN", "WAREHOUSE_DSN")}
    # `medallion` on PATH, as where the user ran the demo
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    ran = subprocess.run(
        ["bash", "-c", script],
        env={**env, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    project = Project.load(root, env={})
    first, second = project.runs(2)[1], project.runs(2)[0]
    assert (first["trigger"], second["status"]) == ("demo", "success")
    day_two = project.steps(second["run_id"])
    extracted = {s["layer"] + "." + s["table_name"]: s["rows_written"] for s in day_two}
    # only the day's new and changed rows were read (300 items on day 1, ~1% added)
    assert 0 < extracted["bronze.order_items"] < 300
    assert not PgServer(root / ".pgdata").running  # the last line stopped it


def test_demo_keeps_its_cluster_where_it_says(demo: tuple[Any, Path, list[Path]]) -> None:
    """The demo says where its cluster is: kept in <DIR>/.pgdata when the server's user can
    reach that folder (then it is there), else removed (then nothing is left under /tmp)."""
    done, root, orphans = demo
    text = " ".join(done.stdout.split())
    assert not orphans, f"the demo left its PostgreSQL cluster in {orphans[0]}"
    if f"data stay in {root / '.pgdata'}" in text:
        assert (root / ".pgdata" / "data" / "PG_VERSION").exists()
    else:
        assert "it was removed" in text
