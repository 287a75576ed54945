"""`init --from` on hand-made ERP exports (`;`, latin-1, DD/MM/YYYY, decimal commas), as a new
user fed it: the values the inferred types do not hold exactly fail loudly, a short row does not
make a `;` file one column, a bad date among many is quarantined, thousands separators are
read, a SKU is a key, an ASCII sample says its encoding is unknown, and the project folder is
shared like the files in it."""

from __future__ import annotations

import datetime as dt
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import medallion, table_versions

from medallion.project import Project


def _init(tmp_path: Path, files: dict[str, bytes | str]) -> tuple[Path, str]:
    exports = tmp_path / "exports"
    exports.mkdir()
    for name, text in files.items():
        data = text if isinstance(text, bytes) else text.encode()
        (exports / name).write_bytes(data)
    proc = medallion("init", "proj", "--from", "exports", cwd=tmp_path, check=True)
    return tmp_path / "proj", " ".join(proc.stdout.split())


def _rows(root: Path, sql: str) -> list[dict]:
    return Project.load(root).query(sql).to_pylist()


def _version(root: Path, table: str) -> int:
    return table_versions(Project.load(root))[table]


def _ventes(rows: list[tuple[str, str]]) -> str:
    return "vente_id;montant\n" + "".join(f"{k};{v}\n" for k, v in rows)


@pytest.mark.parametrize(
    ("later", "why"),
    [
        ("10,555", "more decimals than the sample's 2"),
        ("1.234", "a thousands dot where none was seen"),
    ],
)
def test_a_value_the_staging_type_would_round_fails_the_step(
    tmp_path: Path, later: str, why: str
) -> None:
    root, said = _init(tmp_path, {"ventes_2024-01.csv": _ventes([("V1", "12,50"), ("V2", "3,10")])})
    assert "montant: DECIMAL(18,2) (decimals with a decimal comma" in said, said
    medallion("run", cwd=root, check=True)
    version = _version(root, "silver.stg_ventes")
    (tmp_path / "exports" / "ventes_2024-02.csv").write_text(_ventes([("V3", later)]))
    run = medallion("run", cwd=root)
    out = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, (why, out)
    assert f'montant: "{later}" does not convert exactly to DECIMAL(18,2)' in out, out
    # nothing rounded landed: silver keeps its version and rows
    assert _version(root, "silver.stg_ventes") == version
    assert _rows(root, "select montant from silver.stg_ventes order by vente_id") == [
        {"montant": Decimal("12.50")},
        {"montant": Decimal("3.10")},
    ]


def test_thousands_separators_are_read_exactly(tmp_path: Path) -> None:
    root, said = _init(
        tmp_path,
        {
            "ventes.csv": "vente_id;montant\nV1;1.234,56\nV2;12,50\nV3;1.000.000,5\n",
            "sales.csv": 'sale_id,amount\nS1,"1,234.56"\nS2,12.5\n',
        },
    )
    assert "montant: DECIMAL(18,2) (decimals with a decimal comma and '.' between thousands" in said
    assert "amount: DECIMAL(18,2) (decimals and ',' between thousands" in said
    medallion("run", cwd=root, check=True)
    assert _rows(root, "select montant from silver.stg_ventes order by vente_id") == [
        {"montant": Decimal("1234.56")},
        {"montant": Decimal("12.50")},
        {"montant": Decimal("1000000.50")},
    ]
    assert _rows(root, "select amount from silver.stg_sales order by sale_id") == [
        {"amount": Decimal("1234.56")},
        {"amount": Decimal("12.50")},
    ]


def test_one_short_row_does_not_make_a_semicolon_file_one_column(tmp_path: Path) -> None:
    rows = "".join(f"C{i};Name {i};Lyon\n" for i in range(1, 41)) + "C41;short\n"
    root, said = _init(tmp_path, {"clients.csv": "id;name;city\n" + rows})
    assert "delimiter ';' (the header and 40 of 41 lines split into 3 fields by it" in said, said
    assert "key id (unique, not null, named id)" in said
    run = medallion("run", cwd=root, check=True)
    assert "too few fields: 1 of 41 rows violate it (quarantined)" in run.stderr, run.stderr
    got = _rows(root, "select * from silver.stg_clients where id = 'C7'")
    assert [{k: r[k] for k in ("id", "name", "city")} for r in got] == [
        {"id": "C7", "name": "Name 7", "city": "Lyon"}
    ]
    assert _rows(root, "select _line, _raw from bronze.clients__quarantine") == [
        {"_line": 42, "_raw": "C41;short"}
    ]


def test_one_bad_date_among_61_is_quarantined_not_text(tmp_path: Path) -> None:
    lines = [f"O{i};{(i % 28) + 1:02d}/03/2024" for i in range(1, 62)]
    lines[29] = "O30;31/02/2024"
    root, said = _init(tmp_path, {"orders.csv": "order_id;order_date\n" + "\n".join(lines)})
    assert (
        "order_date: DATE (dates %d/%m/%Y; 1 of 61 values is not a date %d/%m/%Y: '31/02/2024': "
        "a run quarantines such rows in bronze (a column is typed when at least 95% of its "
        "values, and 20, fit))" in said
    ), said
    medallion("run", cwd=root, check=True)
    assert _rows(root, "select count(*) as n from silver.stg_orders") == [{"n": 60}]
    assert _rows(root, "select order_date from silver.stg_orders where order_id = 'O1'") == [
        {"order_date": dt.date(2024, 3, 2)}
    ]
    quarantined = _rows(root, "select _error from bronze.orders__quarantine")
    assert quarantined == [{"_error": 'order_date: "31/02/2024" does not convert to DATE'}]


def test_a_sku_is_the_products_key(tmp_path: Path) -> None:
    products = "sku;label\n" + "".join(f"SKU-{i};Item {i}\n" for i in range(1, 6))
    root, said = _init(tmp_path, {"products.csv": products})
    assert "key sku (unique, not null, named a text code)" in said, said
    model = (root / "models" / "silver" / "stg_products.sql").read_text()
    assert "unique_key: sku" in model


def test_an_ascii_sample_says_its_encoding_is_unknown(tmp_path: Path) -> None:
    root, said = _init(tmp_path, {"rayons_2024-01.csv": "rayon_id;nom\nR1;Boucherie\n"})
    assert "encoding utf-8 (assumed: the sample is plain ASCII" in said, said
    assert "set encoding: latin-1" in (root / "medallion.yml").read_text()
    medallion("run", cwd=root, check=True)
    rows = "".join(f"R{i};Rayon {i}\n" for i in range(3, 23))
    (tmp_path / "exports" / "rayons_2024-02.csv").write_bytes(
        f"rayon_id;nom\nR2;Épicerie\n{rows}".encode("latin-1")
    )
    medallion("run", cwd=root, check=True)
    errors = _rows(root, "select _error from bronze.rayons__quarantine")
    assert len(errors) == 1
    assert "set `encoding:` in sources.rayons" in errors[0]["_error"], errors
    assert "medallion run --full-refresh rayons" in errors[0]["_error"], errors
    # the encoding set: plan says the quarantined rows need a full refresh, which reads them
    config = root / "medallion.yml"
    config.write_text(
        config.read_text().replace("    format: csv\n", "    format: csv\n    encoding: latin-1\n")
    )
    plan = " ".join(medallion("plan", cwd=root, check=True).stdout.split())
    assert (
        "rows were read as utf-8, encoding is now latin-1: rows quarantined as not valid utf-8 "
        "are read again by `medallion run --full-refresh rayons`" in plan
    ), plan
    medallion("run", "--full-refresh", "rayons", cwd=root, check=True)
    assert _rows(root, "select nom from silver.stg_rayons where rayon_id = 'R2'") == [
        {"nom": "Épicerie"}
    ]
    assert "--full-refresh" not in medallion("plan", cwd=root, check=True).stdout


def test_the_project_folder_is_shared_like_its_files(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        root, _ = _init(tmp_path, {"rayons.csv": "rayon_id;nom\nR1;Boucherie\n"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(root.stat().st_mode) == 0o775
    assert stat.S_IMODE((root / "medallion.yml").stat().st_mode) == 0o664


@pytest.mark.spark
def test_the_exact_conversion_fails_on_spark_too(tmp_path: Path, spark: Any) -> None:
    """The staging model compiled for Spark keeps the check: `error()` is `raise_error` there."""
    root, _ = _init(tmp_path, {"ventes_2024-01.csv": _ventes([("V1", "12,50"), ("V2", "3,10")])})
    out = Project.load(root).compile("spark").output
    sql = (out / "silver" / "stg_ventes.sql").read_text().rstrip().removesuffix(";")
    spark.sql("CREATE DATABASE IF NOT EXISTS bronze")

    def staged(montant: str) -> list[Any]:
        spark.sql("DROP TABLE IF EXISTS bronze.ventes")
        spark.sql(
            "CREATE TABLE bronze.ventes USING parquet AS SELECT * FROM VALUES "
            f"('V1', '{montant}', current_timestamp(), 'f.csv') "
            "AS t(vente_id, montant, _ingested_at, _source_file)"
        )
        return [r["montant"] for r in spark.sql(sql).collect()]

    try:
        assert staged("12,50") == [Decimal("12.50")]
        with pytest.raises(Exception, match='montant: "10,555" does not convert exactly'):
            staged("10,555")
    finally:
        spark.sql("DROP TABLE IF EXISTS bronze.ventes")


@pytest.mark.postgres
def test_the_exact_conversion_fails_on_postgres_too(tmp_path: Path, pg_db: str) -> None:
    """Compiled for PostgreSQL, `error()` is medallion.error, created by the setup file."""
    import psycopg

    root, _ = _init(tmp_path, {"ventes_2024-01.csv": _ventes([("V1", "12,50"), ("V2", "3,10")])})
    result = Project.load(root).compile("postgres")
    assert result.setup is not None
    sql = (result.output / "silver" / "stg_ventes.sql").read_text()
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(result.setup.read_text().encode())
        conn.execute("CREATE SCHEMA IF NOT EXISTS bronze")
        conn.execute(
            "CREATE TABLE bronze.ventes (vente_id text, montant text, _ingested_at timestamptz, "
            "_source_file text)"
        )
        conn.execute("INSERT INTO bronze.ventes VALUES ('V1', '12,50', now(), 'f.csv')")
        assert [r[1] for r in conn.execute(sql.encode()).fetchall()] == [Decimal("12.50")]
        conn.execute("INSERT INTO bronze.ventes VALUES ('V2', '10,555', now(), 'f.csv')")
        with pytest.raises(psycopg.Error, match='montant: "10,555" does not convert exactly'):
            conn.execute(sql.encode())
