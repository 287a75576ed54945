"""`init --from` on a folder whose export is one file named with a date (a team's first monthly
export): the source is read through a glob, said in what init prints and in medallion.yml, and
next month's file, dropped beside it, is read by the next run."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.conftest import medallion

from medallion.project import Project


def _init(tmp_path: Path) -> tuple[Path, str, dict]:
    proc = medallion("init", "proj", "--from", "exports", cwd=tmp_path, check=True)
    root = tmp_path / "proj"
    return root, proc.stdout, yaml.safe_load((root / "medallion.yml").read_text())


def test_one_date_named_file_is_read_through_a_glob_and_next_month_is_read(
    tmp_path: Path,
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "orders_2024-03.json").write_text(
        '{"order_id":"O1","customer_id":"C1","total":1}\n'
        '{"order_id":"O2","customer_id":"C2","total":2}\n'
    )
    # pointed at by orders, and dated: a series, not reference data replaced when edited
    (exports / "customers_20240301.csv").write_text("customer_id,name\nC1,Ann\nC2,Bob\n")
    (exports / "products.csv").write_text("product_id,name\nP1,pen\n")
    (exports / "stock_2024.csv").write_text("product_id,qty\nP1,3\n")
    root, said, config = _init(tmp_path)

    sources = config["sources"]
    assert sources["orders"]["path"] == "../exports/orders_*.json"
    assert sources["customers"]["path"] == "../exports/customers_*.csv"
    assert sources["stock"]["path"] == "../exports/stock_*.csv"
    assert sources["products"]["path"] == "../exports/products.csv"  # no date: the file itself
    assert "on_rewrite" not in sources["customers"]
    assert "kind: merge" in (root / "models/silver/stg_customers.sql").read_text()
    assert (
        "orders_2024-03.json is named like one file of a dated series: read through "
        "orders_*.json" in " ".join(said.split())
    )
    assert (
        "# orders_2024-03.json is named like one file of a dated series"
        in (root / "medallion.yml").read_text()
    )

    for _ in range(2):  # the second run finds nothing new
        run = medallion("run", cwd=root, check=True)
        assert "0 failed" in run.stdout
    (exports / "orders_2024-04.json").write_text('{"order_id":"O3","customer_id":"C1","total":3}\n')
    plan = medallion("plan", cwd=root, check=True).stdout
    assert "orders_2024-04.json" in plan or "1 new file" in plan, plan
    medallion("run", cwd=root, check=True)
    rows = Project.load(root).query(
        "select order_id, total from silver.stg_orders order by order_id"
    )
    assert rows.to_pylist() == [
        {"order_id": "O1", "total": 1},
        {"order_id": "O2", "total": 2},
        {"order_id": "O3", "total": 3},
    ]


def test_a_glob_that_would_read_another_source_keeps_the_exact_path(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "sales_2024-03.csv").write_text("sale_id,amount\nS1,1\n")
    (exports / "sales_returns.csv").write_text("return_id,amount\nR1,1\n")
    _, said, config = _init(tmp_path)
    assert config["sources"]["sales"]["path"] == "../exports/sales_2024-03.csv"
    assert config["sources"]["sales_returns"]["path"] == "../exports/sales_returns.csv"
    assert "dated series" not in said
