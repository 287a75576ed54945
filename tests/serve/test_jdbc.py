"""pgJDBC (Debian's libpostgresql-jdbc-java), the driver of DBeaver and Tableau, against the
endpoint: a small Java probe run with Java 17's single-file source launcher connects, lists
tables (getTables) and columns (getColumns) and runs a prepared statement past the driver's
prepareThreshold (a named server-side statement)."""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

from tests.serve.conftest import PASSWORD, Endpoint

PROBE = Path(__file__).with_name("Probe.java")


def jdbc_jar() -> str:
    """Debian's pgJDBC: postgresql.jar links to the versioned jar."""
    jars = sorted(glob.glob("/usr/share/java/postgresql*.jar"))
    assert jars, "pgJDBC is missing: apt-get install libpostgresql-jdbc-java (.ci/run does)"
    return next((j for j in jars if j.endswith("/postgresql.jar")), jars[0])


def probe(endpoint: Endpoint, tmp_path: Path, sslmode: str) -> list[str]:
    java = shutil.which("java")
    assert java, "Java 17 is missing: apt-get install openjdk-17-jre-headless (.ci/run does)"
    url = f"jdbc:postgresql://127.0.0.1:{endpoint.port}/shop?sslmode={sslmode}"
    out = subprocess.run(
        [java, "-cp", jdbc_jar(), str(PROBE), url, "alice", PASSWORD],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


def test_jdbc_tables_columns_and_a_prepared_statement(endpoint: Endpoint, tmp_path: Path) -> None:
    lines = probe(endpoint, tmp_path, "require")
    assert lines[0] == "product PostgreSQL 16.4"
    tables = {line.split()[1] for line in lines if line.startswith("table ")}
    assert tables == {
        "bronze.orders",
        "bronze.numbers",
        "silver.orders",
        "gold.sales_by_customer",
        "gold.sales_by_day",
    }
    columns = [line.split()[1:] for line in lines if line.startswith("column ")]
    # name, PostgreSQL type name, java.sql.Types code
    assert columns == [
        ["order_id", "int4", "4"],
        ["customer", "text", "12"],
        ["amount", "numeric", "2"],
        ["ordered_at", "timestamp", "93"],
        ["paid", "bool", "-7"],
        ["order_date", "date", "91"],
        ["pair", "text", "12"],
    ]
    rows = [line for line in lines if line.startswith("row ")]
    assert rows == [
        "row 1 alice 10.50 2024-01-01 10:00:00.0 true",
        "row 3 alice 5.00 2024-01-03 09:15:00.0 true",
    ]
    assert "write 25006" in lines
