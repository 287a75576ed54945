"""The `medallion` command, run as a user runs it: a subprocess in a project folder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import medallion as run_cli


def medallion(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, check=check)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A retail project created and run through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    medallion("init", "shop", "--template", "retail", "--rows", "400", cwd=root)
    shop = root / "shop"
    run = medallion("run", cwd=shop)
    assert "run succeeded" in run.stdout
    return shop


def test_help_lists_commands(tmp_path: Path) -> None:
    out = medallion("--help", cwd=tmp_path).stdout
    for command in ("init", "run", "status", "history", "tables", "query", "lineage", "demo"):
        assert command in out
    assert "0.1.0" in medallion("--version", cwd=tmp_path).stdout


def test_init_without_template_lists_templates(tmp_path: Path) -> None:
    out = medallion("init", cwd=tmp_path).stdout
    assert "retail" in out
    assert not (tmp_path / "medallion.yml").exists()


def test_init_writes_project_with_data(shop: Path) -> None:
    assert (shop / "medallion.yml").is_file()
    assert sorted(p.name for p in (shop / "data").iterdir()) == [
        "customers.csv",
        "order_lines.csv",
        "orders.csv",
        "payments.csv",
        "products.csv",
    ]
    assert (shop / "models" / "gold" / "sales_summary_daily.sql").is_file()


def test_init_refuses_to_overwrite_a_project(shop: Path) -> None:
    proc = medallion("init", ".", "-t", "retail", cwd=shop, check=False)
    assert proc.returncode == 1
    assert "already holds a medallion project" in proc.stderr


def test_unknown_template_suggests(tmp_path: Path) -> None:
    proc = medallion("init", "x", "-t", "retial", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "unknown template 'retial'" in proc.stderr
    assert "did you mean 'retail'?" in proc.stderr


def test_status_json(shop: Path) -> None:
    data = json.loads(medallion("status", "--json", cwd=shop).stdout)
    assert data["run"]["status"] == "success"
    assert data["run"]["trigger"] == "manual"
    assert len(data["steps"]) == 15  # the retail template: 14 tables and a view
    assert {s["status"] for s in data["steps"]} == {"success"}


def test_status_and_history_text(shop: Path) -> None:
    status = medallion("status", cwd=shop).stdout
    assert "gold.sales_summary_daily" in status and "success" in status
    history = json.loads(medallion("history", "--runs", "5", "--json", cwd=shop).stdout)
    assert history[0]["status"] == "success"
    assert history[0]["steps"] == 15
    assert "\x1b[" not in status  # piped output has no colour codes


def test_tables_json(shop: Path) -> None:
    rows = {r["table"]: r for r in json.loads(medallion("tables", "--json", cwd=shop).stdout)}
    assert rows["gold.sales_summary_daily"]["kind"] == "incremental_by_time"
    assert rows["bronze.orders"]["kind"] == "source"
    # 400 order lines, less those the template's rules quarantine
    quarantined = rows.get("silver.fact_order_lines__quarantine", {"rows": 0})["rows"]
    assert rows["silver.fact_order_lines"]["rows"] + quarantined == 400
    assert rows["gold.reporting_sales_wide"]["version"] == 0
    assert rows["gold.reporting_sales_wide"]["size_bytes"] > 0


def test_query_formats(shop: Path, tmp_path: Path) -> None:
    sql = "select order_date, total_sales from gold.sales_summary_daily order by 1 limit 3"
    csv_out = medallion("query", sql, "--format", "csv", cwd=shop).stdout.splitlines()
    assert csv_out[0] == '"order_date","total_sales"'
    assert len(csv_out) == 4
    rows = json.loads(medallion("query", sql, "-f", "json", cwd=shop).stdout)
    assert len(rows) == 3 and set(rows[0]) == {"order_date", "total_sales"}
    target = tmp_path / "out.parquet"
    medallion("query", sql, "-f", "parquet", "-o", str(target), cwd=shop)
    assert pq.read_table(target).num_rows == 3
    table = medallion("query", sql, cwd=shop)
    assert "total_sales" in table.stdout and "3 rows" in table.stderr


def test_query_is_read_only_and_reports_errors(shop: Path) -> None:
    proc = medallion("query", "delete from gold.sales_summary_daily", cwd=shop, check=False)
    assert proc.returncode == 1
    assert "error:" in proc.stderr
    proc = medallion("query", "select * from gold.sales_sumary_daily", cwd=shop, check=False)
    assert proc.returncode == 1
    assert "unknown table gold.sales_sumary_daily" in proc.stderr
    assert "did you mean gold.sales_summary_daily?" in proc.stderr
    proc = medallion("query", "select 1", "-f", "parquet", cwd=shop, check=False)
    assert proc.returncode == 2
    assert "--output" in proc.stderr
    proc = medallion(
        "query", "select 1", "-o", str(shop / "nowhere" / "x.csv"), cwd=shop, check=False
    )
    assert proc.returncode == 2
    assert "nowhere does not exist" in proc.stderr
    proc = medallion("query", "select 1", "-o", str(shop / "x.txt"), cwd=shop, check=False)
    assert proc.returncode == 2
    assert "--format csv|json|parquet" in proc.stderr


def test_messages_and_values_print_as_written(shop: Path, tmp_path: Path) -> None:
    """Text in brackets or colons is data, not Rich markup or emoji codes: printed as is."""
    proc = medallion("query", "select '[/path]'::int", cwd=shop, check=False)
    assert proc.returncode == 1
    assert "Could not convert string '[/path]' to INT32" in proc.stderr
    assert "Traceback" not in proc.stderr
    shown = medallion("query", "select 'a:x:b [red]x' as v", cwd=shop).stdout
    assert "a:x:b [red]x" in shown


def test_query_describes_tables_and_writes_by_suffix(shop: Path, tmp_path: Path) -> None:
    described = medallion("query", "describe gold.sales_summary_daily", "-f", "csv", cwd=shop)
    assert '"order_date","DATE"' in described.stdout
    medallion("query", "select 1 as a", "-o", str(tmp_path / "one.csv"), cwd=shop)
    assert (tmp_path / "one.csv").read_text().splitlines() == ['"a"', "1"]


def test_lineage(shop: Path) -> None:
    text = medallion("lineage", cwd=shop).stdout
    assert "sales_summary_daily" in text and "← silver.fact_orders" in text
    data = json.loads(medallion("lineage", "sales_summary_daily", "--json", cwd=shop).stdout)
    assert data["node"] == "gold.sales_summary_daily"
    assert "bronze.order_lines" in data["upstream"]
    assert data["downstream"] == []
    tree = medallion("lineage", "bronze.orders", cwd=shop).stdout
    assert "downstream" in tree and "gold.reporting_sales_wide" in tree


def test_run_select_and_failing_exit_code(shop: Path) -> None:
    out = json.loads(medallion("run", "--select", "+dim_products", "--json", cwd=shop).stdout)
    assert [s["node"] for s in out["steps"]] == ["bronze.products", "silver.dim_products"]
    proc = medallion("run", "--select", "nope", cwd=shop, check=False)
    assert proc.returncode == 2
    assert "nothing named 'nope'" in proc.stderr


def test_outside_a_project(tmp_path: Path) -> None:
    proc = medallion("status", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "no medallion.yml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_broken_project_file_is_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / "medallion.yml").write_text(
        "name: x\nsources:\n  a:\n    path: a.csv\n    fromat: csv\n"
    )
    proc = medallion("run", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[0] == (
        "error: medallion.yml:5: unknown key 'fromat' in sources.a — did you mean 'format'?"
    )


def test_generate_rescales(tmp_path: Path) -> None:
    medallion("init", "p", "-t", "retail", "--no-data", cwd=tmp_path)
    assert not (tmp_path / "p" / "data").exists()
    out = medallion("generate", "--rows", "90", cwd=tmp_path / "p").stdout
    assert "order_lines.csv" in out
    lines = (tmp_path / "p" / "data" / "order_lines.csv").read_text().splitlines()
    assert len({line.split(",")[0] for line in lines[1:]}) == 90


def test_demo_into_folder(tmp_path: Path) -> None:
    proc = medallion("demo", str(tmp_path / "d"), "--rows", "300", cwd=tmp_path)
    for table in ("gold.sales_summary_daily", "gold.reporting_sales_wide"):
        assert table in proc.stdout
    assert "run summary" in proc.stdout
    assert (tmp_path / "d" / "lakehouse" / "gold" / "sales_summary_daily").is_dir()
    listed = medallion("demo", "--list", cwd=tmp_path).stdout
    assert "retail" in listed


def test_a_source_partition_column_it_lacks(tmp_path: Path) -> None:
    """Named before anything is written, and the unread stream released: no DuckDB objects
    left for the interpreter's teardown to complain about."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "s.csv").write_text("a,b\n1,2\n")
    (tmp_path / "medallion.yml").write_text(
        "name: p\nsources:\n  s:\n    path: data/s.csv\n    partition_by: [nope]\n"
    )
    proc = medallion("run", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    # the step's failure is in the run's summary (stdout); the interpreter's teardown on stderr
    assert "source s: partition_by column 'nope' is not in its data" in proc.stdout
    assert "hint: columns: a, b" in proc.stdout
    assert "leaked" not in proc.stderr
    assert not (tmp_path / "lakehouse" / "bronze" / "s").exists()


def test_unusable_folders_are_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "medallion.yml").write_text("name: p\nstorage: ./afile\n")
    proc = medallion("validate", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "storage: " in proc.stderr and "afile is a file, not a folder" in proc.stderr
    proc = medallion(
        "init", str(tmp_path / "afile" / "shop"), "-t", "retail", cwd=tmp_path, check=False
    )
    assert proc.returncode == 1
    assert "afile/shop" in proc.stderr and "internal error" not in proc.stderr


def test_a_bad_read_option_is_the_files_error_not_the_writers(tmp_path: Path) -> None:
    """Raised inside the stream the Delta writer consumes: printed as medallion's message,
    without the writer's wrapping (a Python traceback in the text)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "s.csv").write_text("a,d\n1,2024-01-01\n")
    (tmp_path / "medallion.yml").write_text(
        "name: p\nsources:\n  s:\n    path: data/s.csv\n    date_format: '%Q'\n"
        "    columns: {d: DATE}\n"
    )
    proc = medallion("run", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    assert "cannot read data/s.csv: Invalid Input Error: Could not parse DATEFORMAT" in output
    assert "Traceback" not in output and 'File "' not in output
