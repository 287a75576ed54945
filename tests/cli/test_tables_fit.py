"""Every table the CLI prints fits the terminal by one rule (console.Grid): long texts are cut
or wrapped, numbers never are, and a column that does not fit is left out and named — never
squeezed to nothing (the checks' status column was, at 120 and 80 columns)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import medallion as run_cli

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def medallion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fit")
    medallion("init", "shop", "--template", "retail", "--rows", "400", cwd=root)
    medallion("run", cwd=root / "shop")
    return root / "shop"


def shown(on_terminal: Callable[..., tuple[int, str, str]], shop: Path, *args: str, width: int):
    status, text, err = on_terminal(list(args), shop, width)
    assert status == 0, err
    text = ESCAPES.sub("", text)
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert not re.search(r"\d…", text), text  # no number cut short
    return text


@pytest.mark.parametrize("width", [80, 120])
def test_status_keeps_numbers_whole_and_the_status_columns(
    shop: Path, on_terminal: Callable[..., tuple[int, str, str]], width: int
) -> None:
    text = shown(on_terminal, shop, "status", width=width)
    data = json.loads(medallion("status", "--json", cwd=shop).stdout)
    steps, checks = text.split("\n check ", 1)
    header = next(line for line in steps.splitlines() if line.lstrip().startswith("#"))
    assert "status" in header.split() and "written" in header.split()
    for step in data["steps"]:
        assert re.search(rf"\b{step['step_no']}\s+{step['step']}\b.*\bsuccess\b", steps)
        if step["rows_written"] is not None:  # a view writes nothing
            assert f" {step['rows_written']:,} " in steps  # whole, right-aligned
        assert f"{step['layer']}.{step['table_name']} " in steps  # names are never cut
    check_header = "check " + checks.splitlines()[0]
    assert "status" in check_header.split()  # was dropped at 120 and 80 columns
    for c in data["checks"]:
        assert re.search(rf"\b{c['status']}\b", checks)
    assert sum(1 for line in checks.splitlines() if re.search(r"\b(pass|warn)\b", line)) >= len(
        data["checks"]
    )
    if width == 80:  # what did not fit is named, not silently gone
        assert "columns not shown (terminal too narrow): read" in text


@pytest.mark.parametrize("width", [80, 120])
def test_tables_keeps_rows_and_versions_whole(
    shop: Path, on_terminal: Callable[..., tuple[int, str, str]], width: int
) -> None:
    text = shown(on_terminal, shop, "tables", width=width)
    for row in json.loads(medallion("tables", "--json", cwd=shop).stdout):
        if row["rows"] is not None:
            assert re.search(rf"\s{row['rows']:,}\s+v{row['version']}\b", text), row["table"]


def test_query_leaves_out_middle_columns_and_names_them(
    shop: Path, on_terminal: Callable[..., tuple[int, str, str]]
) -> None:
    sql = "select * from gold.reporting_sales_wide order by order_line_id limit 3"
    text = shown(on_terminal, shop, "query", sql, width=60)
    header = text.strip().splitlines()[0].split()
    assert header[0] == "order_line_id" and header[-1] == "order_paid_amount"
    assert "columns not shown (terminal too narrow): order_id, order_date" in " ".join(text.split())


def test_piped_output_has_every_column_whole(shop: Path) -> None:
    text = medallion("status", cwd=shop).stdout
    assert "not shown" not in text and "…" not in text
    assert "relationships_customer_id__silver_dim_customers" in text
