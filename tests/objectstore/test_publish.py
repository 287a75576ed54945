"""Publishing reads the tables on the store: gold.g of a lakehouse on Azurite lands in
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from tests.conftest import medallion
from tests.objectstore.conftest import Store
from tests.objectstore.test_sharing import make

pytestmark = pytest.mark.objectstore

PUBLISH = """
publish:
  wh:
    type: postgres
    dsn: ${WAREHOUSE_DSN}
    schema: marts
    tables: [gold.g, silver.s]
"""


@pytest.mark.postgres
def test_publish_reads_the_tables_on_the_store(az_store: Store, tmp_path: Path, pg_db: str) -> None:
    project = make(tmp_path / "p", az_store)
    config = project / "medallion.yml"
    config.write_text(config.read_text(encoding="utf-8") + PUBLISH, encoding="utf-8")
    env = {**az_store.env(), "WAREHOUSE_DSN": pg_db}
    medallion("run", cwd=project, env=env, check=True)
    medallion("publish", cwd=project, env=env, check=True)
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT n, total FROM marts.g").fetchall() == [(2, 30)]
        assert conn.execute("SELECT id, amount FROM marts.s ORDER BY id").fetchall() == [
            (1, 10),
            (2, 20),
        ]
