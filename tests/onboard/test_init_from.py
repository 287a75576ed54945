"""`medallion init DIR --from PATH` on hand-made folders shaped like real exports: the real CLI
in a subprocess infers the project, the explanation and the files written are checked, then
`medallion run` on the new project is green and silver holds the rows counted by hand."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from tests.conftest import medallion

from medallion.project import Project

FOLDERS = Path(__file__).parent / "folders"


def _exports(tmp_path: Path, folder: str) -> Path:
    """A copy of a hand-made folder, as the user's exports beside the new project."""
    return Path(shutil.copytree(FOLDERS / folder, tmp_path / "exports"))


def _init(tmp_path: Path, exports: Path, name: str = "proj") -> tuple[Path, str, dict]:
    proc = medallion("init", name, "--from", str(exports), cwd=tmp_path, check=True)
    root = tmp_path / name
    config = yaml.safe_load((root / "medallion.yml").read_text(encoding="utf-8"))
    return root, proc.stdout, config


def _run(root: Path) -> str:
    proc = medallion("run", cwd=root, check=True)
    assert "0 failed" in proc.stdout, proc.stdout
    assert "failed" not in proc.stdout.replace("0 failed", ""), proc.stdout
    return proc.stdout


def _rows(root: Path, sql: str) -> list[dict]:
    return Project.load(root).query(sql).to_pylist()


def _model(root: Path, name: str) -> str:
    return (root / "models" / "silver" / f"stg_{name}.sql").read_text(encoding="utf-8")


def test_semicolon_latin1_export_with_text_keys_and_day_first_dates(tmp_path: Path) -> None:
    exports = _exports(tmp_path, "export_fr")
    root, said, config = _init(tmp_path, exports)

    clients = config["sources"]["clients"]
    assert clients["path"] == "../exports/clients.csv"
    assert clients["format"] == "csv"
    assert clients["delimiter"] == ";"
    assert clients["encoding"] == "latin-1"
    assert clients["date_format"] == "%d/%m/%Y"
    assert clients["columns"] == {
        "client_id": "VARCHAR",
        "nom": "VARCHAR",
        "ville": "VARCHAR",
        "code_postal": "VARCHAR",  # 01000: a code, not the number 1000
        "date_inscription": "DATE",
    }
    # a decimal comma stays text in bronze (the reader has none) and is converted in silver
    assert config["sources"]["commandes"]["columns"]["montant"] == "VARCHAR"

    assert "encoding latin-1 (byte 0xE9 on line 2 is not UTF-8)" in said
    assert "delimiter ';'" in said
    assert "code_postal: VARCHAR (a code: leading zeros (01000)" in said
    assert "date_inscription: DATE (dates %d/%m/%Y)" in said
    assert "key client_id (unique, not null, named *_id)" in said
    assert "relationship client_id -> clients.client_id (all 5 values found; same name)" in said
    assert "montant: DECIMAL(18,2) (decimals with a decimal comma (125,50)" in said

    model = _model(root, "commandes")
    assert "kind: merge" in model and "unique_key: commande_id" in model
    assert "- unique: commande_id" in model and "- not_null: commande_id" in model
    assert "- relationships: {column: client_id, to: silver.stg_clients.client_id}" in model
    assert "ELSE replace(nullif(trim(montant), ''), ',', '.')" in model
    assert "END AS DECIMAL(18, 2)) AS montant" in model
    assert "FROM bronze.commandes" in model

    out = _run(root)
    assert "checks: 5 passed" in out
    clients_rows = {r["client_id"]: r for r in _rows(root, "select * from silver.stg_clients")}
    assert len(clients_rows) == 5
    assert clients_rows["CLI0004"]["code_postal"] == "01000"
    assert clients_rows["CLI0004"]["nom"] == "Jérôme Façon"
    assert clients_rows["CLI0003"]["date_inscription"] == dt.date(2024, 2, 29)
    orders = _rows(root, "select * from silver.stg_commandes order by commande_id")
    assert len(orders) == 6
    assert sum(r["montant"] for r in orders) == Decimal("513.49")
    assert orders[1]["date_commande"] == dt.date(2024, 1, 18)
    assert orders[1]["statut"] == "livrée"


def test_monthly_files_are_one_source_and_next_month_is_read_too(tmp_path: Path) -> None:
    exports = _exports(tmp_path, "monthly")
    root, said, config = _init(tmp_path, exports)

    assert set(config["sources"]) == {"orders", "products"}
    orders = config["sources"]["orders"]
    assert orders["path"] == "../exports/orders_*.csv"
    assert "delimiter" not in orders and "encoding" not in orders  # the defaults
    assert orders["columns"] == {
        "order_id": "BIGINT",
        "order_date": "DATE",
        "product_id": "VARCHAR",
        "quantity": "BIGINT",
        "status": "VARCHAR",
    }
    assert config["sources"]["products"]["columns"]["unit_price"] == "DECIMAL(18,2)"
    assert config["sources"]["products"]["columns"]["launched_at"] == "TIMESTAMP"
    assert (
        "3 files orders_2024-01.csv, orders_2024-02.csv, orders_2024-03.csv -> one source "
        "(orders_*.csv: same name but for a date or number)"
    ) in said
    assert "same header in every file" in said
    assert "1 key repeats across files: silver keeps the row of the latest file" in said
    assert "relationship product_id -> products.product_id" in said
    assert "order_by: [_source_file, _ingested_at]" in _model(root, "orders")

    assert "checks: 5 passed" in _run(root)
    assert _rows(root, "select count(*) as n from bronze.orders") == [{"n": 8}]
    rows = {r["order_id"]: r for r in _rows(root, "select * from silver.stg_orders")}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7]
    assert rows[2]["status"] == "shipped"  # February's row of order 2 wins over January's

    # next month lands: the glob reads it, the merge model updates order 7 and adds order 8
    (exports / "orders_2024-04.csv").write_text(
        "order_id,order_date,product_id,quantity,status\n"
        "7,2024-03-09,P-001,4,shipped\n8,2024-04-02,P-002,6,placed\n"
    )
    assert "checks: 3 passed" in _run(root)  # stg_orders' (products did not change)
    rows = {r["order_id"]: r for r in _rows(root, "select * from silver.stg_orders")}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert rows[7]["status"] == "shipped"
    assert rows[8]["quantity"] == 6


def test_reference_data_is_replaced_when_its_file_is_edited(tmp_path: Path) -> None:
    from medallion.onboard.files import replaces_rewrites

    exports = _exports(tmp_path, "monthly")
    root, said, config = _init(tmp_path, exports)
    products = config["sources"]["products"]
    if not replaces_rewrites():
        # file sources without `on_rewrite`: products is keyed and merged like any source
        assert "on_rewrite" not in products
        assert "kind: merge" in _model(root, "products")
        return
    assert products["on_rewrite"] == "replace"
    assert "on_rewrite" not in config["sources"]["orders"]  # a series of files: new rows each
    assert "reference data (one file other sources point at): on_rewrite: replace" in said
    assert "silver.stg_products (table, one row per product_id)" in said
    model = _model(root, "products")
    assert "kind: table" in model and "SELECT DISTINCT" in model and "_source_file" not in model
    _run(root)

    header = "product_id,product_name,unit_price,launched_at\n"
    rows = [
        "P-001,Espresso beans 1kg,19.90,2023-11-02 09:30:00",
        "P-002,Filter papers,3.5,2023-11-02 09:30:00",
        "P-003,Grinder,129.00,2024-01-10 14:05:00",
    ]
    (exports / "products.csv").write_text(
        header + "\n".join([*rows, "P-004,Scale,25,2024-05-01 08:00:00"]) + "\n"
    )
    _run(root)
    prices = {
        r["product_id"]: r["unit_price"] for r in _rows(root, "select * from silver.stg_products")
    }
    assert prices == {
        "P-001": Decimal("19.90"),
        "P-002": Decimal("3.50"),
        "P-003": Decimal("129.00"),
        "P-004": Decimal("25.00"),
    }
    (exports / "products.csv").write_text(header + "\n".join(rows) + "\n")  # P-004 deleted
    _run(root)
    assert _rows(root, "select count(*) as n from bronze.products") == [{"n": 3}]
    ids = _rows(root, "select product_id from silver.stg_products order by 1")
    assert [r["product_id"] for r in ids] == ["P-001", "P-002", "P-003"]


def test_json_folder_array_and_ndjson(tmp_path: Path) -> None:
    exports = _exports(tmp_path, "json_feed")
    root, said, config = _init(tmp_path, exports)

    users, events = config["sources"]["users"], config["sources"]["events"]
    assert users["format"] == events["format"] == "json"
    assert users["json_format"] == "array"
    assert events["json_format"] == "newline_delimited"
    assert users["columns"]["zip"] == "VARCHAR"  # "01234": a code
    assert users["columns"]["signup_date"] == "DATE"
    assert events["columns"]["event_id"] == "BIGINT"
    assert events["columns"]["day"] == "VARCHAR"  # 13/03/2024: parsed in silver
    assert "one JSON array per file" in said
    assert "newline-delimited JSON (NDJSON)" in said
    assert "day: DATE (dates %d/%m/%Y, text in bronze, DATE in silver)" in said
    assert "relationship user_id -> users.user_id" in said
    assert "CAST(strptime(trim(day), '%d/%m/%Y') AS DATE) AS day" in _model(root, "events")

    assert "checks: 5 passed" in _run(root)
    users_rows = {r["user_id"]: r for r in _rows(root, "select * from silver.stg_users")}
    assert users_rows["u-03"]["name"] == "Grace"  # trimmed
    assert users_rows["u-02"]["zip"] == "00100"
    events_rows = {r["event_id"]: r for r in _rows(root, "select * from silver.stg_events")}
    assert len(events_rows) == 4
    assert events_rows[4]["day"] == dt.date(2024, 3, 13)
    assert events_rows[2]["amount"] == 12.5


def test_parquet_folder_written_by_pyarrow(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    exports = tmp_path / "exports"
    exports.mkdir()
    stores = pa.table({"store_id": ["S01", "S02"], "city": ["Lyon", "Nantes"]})
    pq.write_table(stores, exports / "stores.parquet")
    schema = pa.schema(
        [
            ("sale_id", pa.int64()),
            ("store_id", pa.string()),
            ("sku", pa.string()),
            ("sold_on", pa.date32()),
            ("amount", pa.decimal128(10, 2)),
        ]
    )
    day = dt.date(2024, 6, 1)
    pq.write_table(
        pa.table(
            [
                [1, 2, 3],
                ["S01", "S02", "S01"],
                ["00123", "00456", "00123"],
                [day] * 3,
                [Decimal("10.00"), Decimal("2.50"), Decimal("7.25")],
            ],
            schema=schema,
        ),
        exports / "sales_part-001.parquet",
    )
    pq.write_table(
        pa.table(
            [
                [4, 5],
                ["S02", "S02"],
                ["00789", "00123"],
                [day] * 2,
                [Decimal("1.00"), Decimal("3.00")],
            ],
            schema=schema,
        ),
        exports / "sales_part-002.parquet",
    )
    root, said, config = _init(tmp_path, exports)

    sales = config["sources"]["sales_part"]
    assert sales["path"] == "../exports/sales_part-*.parquet"
    assert sales["format"] == "parquet"
    assert "columns" not in sales  # Parquet files carry their types
    assert "Parquet: column types from the files' schema" in said
    assert "key sale_id" in said
    assert "relationship store_id -> stores.store_id" in said

    assert "checks: 5 passed" in _run(root)
    rows = _rows(root, "select * from silver.stg_sales_part order by sale_id")
    assert [r["sale_id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["sku"] == "00123"
    assert sum(r["amount"] for r in rows) == Decimal("23.75")
    assert rows[4]["sold_on"] == day


def test_related_files_exact_duplicates_and_no_false_relationships(tmp_path: Path) -> None:
    exports = _exports(tmp_path, "shop")
    root, said, _ = _init(tmp_path, exports)

    assert "relationship order_id -> orders.order_id" in said
    assert "relationship customer_id -> customers.customer_id" in said
    # quantities 10, 11, 12 are all customer ids, but a quantity is not named like a key
    lines = _model(root, "order_lines")
    assert "column: quantity" not in lines and "column: line_no" not in lines
    assert "- relationships: {column: order_id, to: silver.stg_orders.order_id}" in lines
    assert "- relationships: {column: customer_id, to: silver.stg_customers.customer_id}" in (
        _model(root, "orders")
    )

    assert "checks: 8 passed" in _run(root)
    assert _rows(root, "select count(*) as n from bronze.order_lines") == [{"n": 5}]
    # line 1003 is in the file twice: silver keeps it once
    assert _rows(root, "select count(*) as n from silver.stg_order_lines") == [{"n": 4}]
    names = sorted(r["name"] for r in _rows(root, "select name from silver.stg_customers"))
    assert names == ["Ana", "Ben", "Chloé"]


def test_day_and_month_told_apart_only_by_the_values(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "visits.csv").write_text("visit_id,visited\n1,03/04/2024\n2,05/06/2024\n")
    (exports / "payments.csv").write_text("payment_id,paid\n1,03/14/2024\n2,12/31/2024\n")
    root, said, config = _init(tmp_path, exports)
    assert config["sources"]["visits"]["date_format"] == "%d/%m/%Y"
    assert "no day above 12 tells day from month: day first assumed" in said
    assert config["sources"]["payments"]["date_format"] == "%m/%d/%Y"
    _run(root)
    assert _rows(root, "select paid from silver.stg_payments where payment_id = 2") == [
        {"paid": dt.date(2024, 12, 31)}
    ]


def test_padded_values_and_a_second_date_format_are_converted_in_silver(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "items.csv").write_text(
        "item_id,qty,shipped,received,price\n"
        "1, 12 ,03/01/2024,2024-01-05, 3.50\n2,7,17/01/2024,2024-01-20,4.25\n"
    )
    root, said, config = _init(tmp_path, exports)
    items = config["sources"]["items"]
    assert items["date_format"] == "%d/%m/%Y"
    assert items["columns"] == {
        "item_id": "BIGINT",
        "qty": "VARCHAR",
        "shipped": "DATE",
        "received": "VARCHAR",
        "price": "VARCHAR",
    }
    assert "qty: BIGINT (whole numbers; padded with spaces, text in bronze, BIGINT in silver)" in (
        said
    )
    assert "received: DATE (ISO dates (YYYY-MM-DD); the source's date_format is %d/%m/%Y" in said
    model = _model(root, "items")
    # cast exactly: a value of another shape fails the step instead of being rounded
    assert r"WHEN NOT regexp_matches(nullif(trim(qty), ''), '^([+-]?\d+)$')" in model
    assert "END AS BIGINT) AS qty" in model
    assert r"WHEN NOT regexp_matches(nullif(trim(received), ''), '^(\d{4}-\d{2}-\d{2})$')" in model
    assert "END AS DATE) AS received" in model
    _run(root)
    assert _rows(
        root, "select * exclude (_ingested_at, _source_file) from silver.stg_items order by item_id"
    ) == [
        {
            "item_id": 1,
            "qty": 12,
            "shipped": dt.date(2024, 1, 3),
            "received": dt.date(2024, 1, 5),
            "price": Decimal("3.50"),
        },
        {
            "item_id": 2,
            "qty": 7,
            "shipped": dt.date(2024, 1, 17),
            "received": dt.date(2024, 1, 20),
            "price": Decimal("4.25"),
        },
    ]


def test_a_source_keyed_by_its_own_code(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "countries.csv").write_text("country_code,name\nFR,France\nDE,Germany\n")
    (exports / "customers.csv").write_text(
        "customer_code,country_code,name\n007,FR,Bond\n008,FR,Mathis\n009,DE,Klein\n"
    )
    (exports / "invoices.csv").write_text("invoice_no,customer_code\n1,007\n2,009\n3,007\n")
    root, said, _ = _init(tmp_path, exports)
    assert "key customer_code (unique, not null, named as its own code)" in said
    assert "key country_code (unique, not null, named as its own code)" in said
    assert "key invoice_no (unique, not null, named as its own code)" in said
    assert "relationship customer_code -> customers.customer_code" in said
    assert "relationship country_code -> countries.country_code" in said
    assert "- unique: customer_code" in _model(root, "customers")
    assert "checks: 8 passed" in _run(root)
    codes = _rows(root, "select customer_code from silver.stg_invoices order by invoice_no")
    assert [r["customer_code"] for r in codes] == ["007", "009", "007"]


def test_no_key_gives_a_table_of_distinct_rows(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "readings.csv").write_text("sensor,value\na,1.5\nb,2.0\na,1.5\n")
    root, said, _ = _init(tmp_path, exports)
    model = _model(root, "readings")
    assert "kind: table" in model and "SELECT DISTINCT" in model
    assert (
        "no key: no column named id, *_id, as its own code (customer_code) or a text code (sku, "
        "code, ref); silver keeps distinct rows" in said
    )
    _run(root)
    assert _rows(root, "select count(*) as n from silver.stg_readings") == [{"n": 2}]


def test_a_folder_of_mixed_encodings(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    rows = "city_id,city\n1,Zürich\n2,Genève\n"
    (exports / "bom.csv").write_bytes(rows.encode("utf-8-sig"))
    (exports / "wide.csv").write_bytes(rows.encode("utf-16"))
    (exports / "legacy.csv").write_bytes(rows.encode("latin-1"))
    root, said, config = _init(tmp_path, exports)
    assert "encoding" not in config["sources"]["bom"]
    assert config["sources"]["wide"]["encoding"] == "utf-16"
    assert config["sources"]["legacy"]["encoding"] == "latin-1"
    assert "encoding utf-8 (valid UTF-8 with a byte-order mark)" in said
    assert "encoding utf-16 (a UTF-16 byte-order mark)" in said
    assert "encoding latin-1 (byte 0xFC on line 2 is not UTF-8)" in said
    _run(root)
    for name in ("bom", "wide", "legacy"):
        cities = _rows(root, f"select city from silver.stg_{name} order by city_id")
        assert cities == [{"city": "Zürich"}, {"city": "Genève"}], name


def test_refuses_windows_1252_with_the_command_that_converts_it(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "prices.csv").write_bytes("id;price\r\n1;€3\r\n".encode("cp1252"))
    proc = medallion("init", "proj", "--from", "exports", cwd=tmp_path)
    assert proc.returncode == 1
    assert "prices.csv looks like Windows-1252 ('€' is byte 0x80 on line 2)" in proc.stderr
    assert "iconv -f cp1252 -t utf-8 prices.csv > prices.utf8.csv" in proc.stderr
    assert not (tmp_path / "proj").exists()


def test_dated_folders_a_file_without_header_and_the_current_folder(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    for folder, row in (("2024-01", "1,a"), ("2024-02", "2,b"), ("2024-03", "3,c")):
        (exports / folder).mkdir(parents=True)
        (exports / folder / "sales.csv").write_text(f"sale_id,v\n{row}\n")
    (exports / "codes.txt").write_text("A;1\nB;2\nB;2\n")
    root = tmp_path / "proj"
    root.mkdir()  # empty: the project is written into it
    proc = medallion("init", ".", "--from", "../exports", cwd=root, check=True)
    config = yaml.safe_load((root / "medallion.yml").read_text())
    assert config["sources"]["sales"]["path"] == "../exports/*/sales.csv"
    assert config["sources"]["codes"]["header"] is False
    assert config["sources"]["codes"]["columns"] == {"column0": "VARCHAR", "column1": "BIGINT"}
    assert "next: medallion run" in proc.stdout
    _run(root)
    assert _rows(root, "select count(*) as n from silver.stg_sales") == [{"n": 3}]
    assert _rows(root, "select count(*) as n from silver.stg_codes") == [{"n": 2}]
    # next month's folder is read by the same glob
    (exports / "2024-04").mkdir()
    (exports / "2024-04" / "sales.csv").write_text("sale_id,v\n4,d\n")
    _run(root)
    assert _rows(root, "select count(*) as n from silver.stg_sales") == [{"n": 4}]


def test_relationships_seen_on_a_sample_only_are_warnings(tmp_path: Path) -> None:
    from medallion.ingest.files.infer import infer_folder
    from medallion.onboard.files import staging_model

    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "stores.csv").write_text("store_id\n1\n2\n")
    (exports / "sales.csv").write_text("sale_id,store_id\n1,1\n2,2\n3,1\n4,2\n")
    sources = {s.name: s for s in infer_folder(exports, sample_rows=3)}
    sales = sources["sales"]
    assert not sales.complete and sales.rows == 3
    assert "types and key from the first 3 rows (a sample)" in sales.notes
    model = staging_model(sales, list(sources.values()))
    assert (
        "- relationships: {column: store_id, to: silver.stg_stores.store_id}\n    severity: warn"
        in (model)
    )


# -- refusals: one clear message, a non-zero exit, nothing written -----------------------------


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    exports = _exports(tmp_path, "shop")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "notes.txt").write_text("mine")
    proc = medallion("init", "proj", "--from", str(exports), cwd=tmp_path)
    assert proc.returncode == 1
    assert "proj is not empty: init writes a new project and overwrites nothing" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p.name for p in (tmp_path / "proj").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "no CSV, JSON or Parquet file found"),
        (lambda p: (p.mkdir(), (p / "notes.md").write_text("x")), "(only notes.md)"),
        (lambda p: p.write_text("a,b\n"), "is not a folder"),
    ],
    ids=["missing", "empty", "no-data-files", "a-file"],
)
def test_refuses_a_path_without_files(tmp_path: Path, make, message: str) -> None:
    make(tmp_path / "exports")
    proc = medallion("init", "proj", "--from", "exports", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "proj").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refuses_files_of_one_source_in_different_encodings(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "sales_1.csv").write_bytes("id,city\n1,Orléans\n".encode())
    (exports / "sales_2.csv").write_bytes("id,city\n2,Orléans\n".encode("latin-1"))
    proc = medallion("init", "proj", "--from", "exports", cwd=tmp_path)
    assert proc.returncode == 1
    assert "different encodings (sales_1.csv: utf-8, sales_2.csv: latin-1)" in proc.stderr
    assert not (tmp_path / "proj").exists()


def test_a_file_that_is_not_what_its_extension_says(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "ok.csv").write_text("id\n1\n")
    (exports / "broken.parquet").write_bytes(b"not parquet at all")
    proc = medallion("init", "proj", "--from", "exports", cwd=tmp_path)
    assert proc.returncode == 1
    assert "cannot read broken.parquet as parquet" in proc.stderr
    assert "hint: check the file is PARQUET" in proc.stderr
    assert not (tmp_path / "proj").exists()


def test_from_and_template_do_not_mix(tmp_path: Path) -> None:
    proc = medallion("init", "proj", "--from", "x", "-t", "retail", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--from and --template cannot be combined" in proc.stderr
    assert not (tmp_path / "proj").exists()


def test_a_corrected_older_file_does_not_override_a_newer_one(tmp_path: Path) -> None:
    """Last month's file fixed in place is ingested again after this month's: its unchanged rows
    must not win over this month's (the series' later file wins), as a rebuild decides."""
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "stock_01.csv").write_text("id,qty\nA,1\nB,2\n")
    (exports / "stock_02.csv").write_text("id,qty\nA,5\nC,7\n")
    root, _, _ = _init(tmp_path, exports)
    assert "order_by: [_source_file, _ingested_at]" in _model(root, "stock")
    _run(root)
    (exports / "stock_01.csv").write_text("id,qty\nA,1\nB,3\n")  # B corrected
    _run(root)

    sql = "select id, qty from silver.stg_stock order by id"
    want = [{"id": "A", "qty": 5}, {"id": "B", "qty": 3}, {"id": "C", "qty": 7}]
    assert _rows(root, sql) == want
    medallion("run", "--full-refresh", "stg_stock", cwd=root, check=True)
    assert _rows(root, sql) == want


@pytest.mark.parametrize(
    "names",
    [
        ["stock_1.csv", "stock_2.csv", "stock_10.csv"],  # lengths differ
        ["stock_31-12-2024.csv", "stock_02-01-2025.csv"],  # day first: name order is not time
        ["stock_31122024.csv", "stock_02012025.csv"],
    ],
)
def test_a_series_whose_names_do_not_sort_in_time_is_ordered_by_ingest(
    tmp_path: Path, names: list[str]
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for n, name in enumerate(names):
        (exports / name).write_text(f"id,qty\nK{n},{n}\nA,{n}\n")
    root, _, _ = _init(tmp_path, exports)
    assert "order_by: [_ingested_at, _source_file]" in _model(root, "stock")
