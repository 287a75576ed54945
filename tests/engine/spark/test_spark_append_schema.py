"""An append on Spark whose new files add a column: the column reaches the table (through the
driver's writer, which changes the schema; the rows of the columns the table has are cast to
its types first, as the driver's writer casts them), as on DuckDB, also when DuckDB built the
table's first version.

In-process on the session's one local Spark (the `spark` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project

from medallion.project import Project

pytestmark = pytest.mark.spark

CONFIG = """
name: inc
sources:
  orders:
    path: data/orders*.csv
"""
MODELS = {
    "silver/o.sql": """
        /* ---
        kind: append
        --- */
        select * from bronze.orders
    """,
}
COLUMNS = "order_id, amount, region, channel"


def _rows(p: Project) -> list[dict[str, Any]]:
    return p.query(f"select {COLUMNS} from silver.o order by 1").to_pylist()


@pytest.mark.parametrize("first", ["duckdb", "spark"])
def test_a_new_column_reaches_the_table_as_on_duckdb(
    spark: Any, tmp_path: Path, first: str
) -> None:
    built = {}
    for engine in ("duckdb", "spark"):
        root = write_project(
            tmp_path / engine,
            CONFIG + f"engine: {{type: {first if engine == 'spark' else 'duckdb'}}}\n",
            MODELS,
            {"data/orders1.csv": "order_id,amount,region\n1,1.00,n\n2,2.00,s\n"},
        )
        assert Project.load(root).run(trigger="test").ok
        config = (root / "medallion.yml").read_text()
        (root / "medallion.yml").write_text(config.replace(f"type: {first}", f"type: {engine}"))
        (root / "data/orders2.csv").write_text("order_id,amount,region,channel\n3,3.00,n,web\n")
        result = Project.load(root).run(trigger="test")
        assert result.ok, [(s.node, s.error) for s in result.steps if s.error]
        built[engine] = Project.load(root)
    assert _rows(built["spark"]) == _rows(built["duckdb"])
    assert [r["channel"] for r in _rows(built["spark"])] == [None, None, "web"]
    assert built["spark"].verify().ok
