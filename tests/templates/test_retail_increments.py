"""Daily file drops of the retail template (``generate_increment``), on real files in tmp_path.

The initial export is ``generate(rows=3064, seed=42)``, the seed system's scale: by ``sizes()``
3064 distinct order lines (keys OL00001..OL03064, numbers 1..3064 below) in 1000 orders
(ORD0001..ORD1000), 500 customers (CUST0001..CUST0500), 100 products (PROD0001..PROD0100) and 60
order days ending 2024-06-30.  A default drop on it therefore has max(30, 3064 // 100) = 30 new
lines in round(30 / 3.064) = 10 orders, max(3, 500 // 100) = 5 moved customers, 500 // 50 = 10
new customers and max(1, 100 // 100) = 1 repriced product.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from decimal import Decimal
from pathlib import Path

import faker
import pytest

from medallion.templates.retail.generate import FILES, generate, generate_increment, main

BROKEN_DATES = {"2024-02-30", "N/A", "31/12/2023", ""}
DROP_FILES = ("customers", "orders", "order_lines", "payments", "products")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _n(key: str) -> int:
    """The number of a text key: 'CUST0042' -> 42."""
    return int(key.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _ids(rows: list[dict[str, str]], key: str) -> set[int]:
    return {_n(r[key]) for r in rows}


def _latest(rows: list[dict[str, str]], key: str) -> dict[int, dict[str, str]]:
    """Last row per id, in the order given (initial file first, then the drops by day)."""
    return {_n(r[key]): r for r in rows}


def _before(data: Path, stem: str, day: int) -> list[dict[str, str]]:
    """Rows of the initial file and of the drops of days 2 .. day-1, in load order."""
    rows = _rows(data / f"{stem}.csv")
    for d in range(2, day):
        rows += _rows(data / f"{stem}_day{d}.csv")
    return rows


def _drop(data: Path, stem: str, day: int = 2) -> list[dict[str, str]]:
    return _rows(data / f"{stem}_day{day}.csv")


@pytest.fixture(scope="module")
def initial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("initial") / "data"
    generate(data, rows=3064, seed=42)
    return data


@pytest.fixture
def data(initial: Path, tmp_path: Path) -> Path:
    """A private copy of the initial export (the drops are written next to it)."""
    return Path(shutil.copytree(initial, tmp_path / "data"))


def test_initial_sizes_as_the_module_docstring_says(initial: Path) -> None:
    assert _ids(_rows(initial / "order_lines.csv"), "order_line_id") == set(range(1, 3065))
    assert _ids(_rows(initial / "orders.csv"), "order_id") == set(range(1, 1001))
    assert _ids(_rows(initial / "customers.csv"), "customer_id") == set(range(1, 501))
    assert _ids(_rows(initial / "products.csv"), "product_id") == set(range(1, 101))
    dates = {r["order_date"] for r in _rows(initial / "orders.csv")} - BROKEN_DATES
    assert max(dates) == "2024-06-30"


def test_drop_files_and_counts(data: Path) -> None:
    counts = generate_increment(data, day=2)
    assert list(counts) == [f"{stem}_day2.csv" for stem in DROP_FILES]
    for name, count in counts.items():
        assert len(_rows(data / name)) == count  # data rows, duplicated lines included
    assert len(_ids(_drop(data, "order_lines"), "order_line_id")) == 30
    assert len(_ids(_drop(data, "orders"), "order_id")) == 10
    assert len(_ids(_drop(data, "customers"), "customer_id")) == 5 + 10
    assert len(_drop(data, "products")) == 1
    # the drop is published whole: no temp file is left behind
    assert sorted(p.name for p in data.iterdir() if p.name.startswith(".")) == []


def test_ids_continue_after_the_max(data: Path) -> None:
    max_payment = max(_ids(_rows(data / "payments.csv"), "payment_id"))
    generate_increment(data, day=2)
    orders, lines = _drop(data, "orders"), _drop(data, "order_lines")
    payments, customers = _drop(data, "payments"), _drop(data, "customers")
    assert _ids(orders, "order_id") == set(range(1001, 1011))
    assert _ids(lines, "order_line_id") == set(range(3065, 3095))
    assert _ids(lines, "order_id") == set(range(1001, 1011))  # every order has a line
    pay_ids = sorted(_ids(payments, "payment_id"))
    assert pay_ids == list(range(max_payment + 1, max_payment + 1 + len(pay_ids)))
    assert _ids(payments, "order_id") <= set(range(1001, 1011))
    new_customers = {cid for cid in _ids(customers, "customer_id") if cid > 500}
    assert new_customers == set(range(501, 511))


def test_new_orders_are_dated_the_day_after_the_last_order(data: Path) -> None:
    generate_increment(data, day=2, rows=3064)  # 1000 orders: a few broken dates too
    dates = [r["order_date"] for r in _drop(data, "orders")]
    assert set(dates) - BROKEN_DATES == {"2024-07-01"}
    assert 0 < sum(d in BROKEN_DATES for d in dates) < 20  # 0.3 % of 1000 (+ duplicates)
    pay_days = {r["payment_date"][:10] for r in _drop(data, "payments")}
    # bank transfers clear 1-3 days later (a retry can add up to 30 minutes)
    assert pay_days <= {f"2024-07-0{d}" for d in range(1, 6)}
    assert "2024-07-01" in pay_days


def test_moved_customers_keep_identity_and_change_city(data: Path) -> None:
    before = _latest(_rows(data / "customers.csv"), "customer_id")
    generate_increment(data, day=2)
    moved = [r for r in _drop(data, "customers") if _n(r["customer_id"]) <= 500]
    assert len(_ids(moved, "customer_id")) == 5
    for row in moved:
        old = before[_n(row["customer_id"])]
        for column in ("first_name", "last_name", "email", "phone", "country", "segment"):
            assert row[column] == old[column], column
        assert row["city"].strip() != ""
        assert row["city"].strip().lower() != old["city"].strip().lower()


def test_orders_of_new_and_moved_customers(data: Path) -> None:
    generate_increment(data, day=2)
    customers = _ids(_drop(data, "customers"), "customer_id")
    new, moved = {c for c in customers if c > 500}, {c for c in customers if c <= 500}
    buyers = [_n(r["customer_id"]) for r in _drop(data, "orders")]
    assert any(c in new for c in buyers)
    assert any(c in moved for c in buyers)
    # the first two non-orphan orders go to the first new and the first moved customer (neither
    # order is an orphan in this drop)
    orders = _latest(_drop(data, "orders"), "order_id")
    assert _n(orders[1001]["customer_id"]) == min(new) == 501
    assert _n(orders[1002]["customer_id"]) == min(moved)


def test_repriced_product_keeps_its_other_fields(data: Path) -> None:
    before = _latest(_rows(data / "products.csv"), "product_id")
    generate_increment(data, day=2)
    (row,) = _drop(data, "products")
    old = before[_n(row["product_id"])]
    assert {k: v for k, v in row.items() if k != "unit_price"} == {
        k: v for k, v in old.items() if k != "unit_price"
    }
    assert row["unit_price"] != old["unit_price"]
    assert row["unit_price"].endswith(".99")
    ratio = Decimal(row["unit_price"]) / Decimal(old["unit_price"])
    assert Decimal("0.7") < ratio < Decimal("1.3")


def test_day3_continues_after_day2(data: Path) -> None:
    generate_increment(data, day=2)
    lines_so_far = _before(data, "order_lines", 3)
    customers_so_far = _latest(_before(data, "customers", 3), "customer_id")
    max_payment = max(_ids(_before(data, "payments", 3), "payment_id"))
    generate_increment(data, day=3)

    # default size: max(30, (3064 + 30) // 100) = 30 lines
    assert len(_ids(lines_so_far, "order_line_id")) == 3094
    assert _ids(_drop(data, "order_lines", 3), "order_line_id") == set(range(3095, 3125))
    assert _ids(_drop(data, "orders", 3), "order_id") == set(range(1011, 1021))
    assert min(_ids(_drop(data, "payments", 3), "payment_id")) == max_payment + 1
    dates = {r["order_date"] for r in _drop(data, "orders", 3)} - BROKEN_DATES
    assert dates == {"2024-07-02"}

    # 510 customers now: 510 // 50 = 10 new ones after 510, max(3, 5) = 5 moved ones
    ids = _ids(_drop(data, "customers", 3), "customer_id")
    assert {c for c in ids if c > 510} == set(range(511, 521))
    moved = [r for r in _drop(data, "customers", 3) if _n(r["customer_id"]) <= 510]
    assert len(_ids(moved, "customer_id")) == 5
    for row in moved:  # compared with the latest version, day 2's included
        old = customers_so_far[_n(row["customer_id"])]
        assert (row["first_name"], row["last_name"], row["email"]) == (
            old["first_name"],
            old["last_name"],
            old["email"],
        )
        assert row["city"].strip().lower() != old["city"].strip().lower()


def test_same_inputs_give_the_same_bytes(initial: Path, tmp_path: Path) -> None:
    one = Path(shutil.copytree(initial, tmp_path / "one"))
    two = Path(shutil.copytree(initial, tmp_path / "two"))
    for folder in (one, two):
        generate_increment(folder, day=2)
        generate_increment(folder, day=3, rows=100)
    names = [f"{stem}_day{d}.csv" for d in (2, 3) for stem in DROP_FILES]
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    # writing day 2 again ignores the day-2 and day-3 files: the same bytes again
    day2 = {n: (one / n).read_bytes() for n in names if "_day2" in n}
    generate_increment(one, day=2)
    assert {n: (one / n).read_bytes() for n in day2} == day2
    # another seed draws another drop
    generate_increment(two, day=2, seed=7)
    assert (two / "orders_day2.csv").read_bytes() != day2["orders_day2.csv"]


@pytest.mark.parametrize(("initial_rows", "expected"), [(5000, 50), (1000, 30), (3064, 30)])
def test_default_rows_is_one_percent_at_least_30(
    tmp_path: Path, initial_rows: int, expected: int
) -> None:
    generate(tmp_path, rows=initial_rows)
    generate_increment(tmp_path, day=2)
    lines = _ids(_drop(tmp_path, "order_lines"), "order_line_id")
    assert lines == set(range(initial_rows + 1, initial_rows + expected + 1))


def test_explicit_rows(data: Path) -> None:
    generate_increment(data, day=2, rows=90)
    assert len(_ids(_drop(data, "order_lines"), "order_line_id")) == 90
    assert len(_ids(_drop(data, "orders"), "order_id")) == 29  # round(90 / 3.064)


def test_errors(data: Path, tmp_path: Path) -> None:
    for day in (1, 0, -3):
        with pytest.raises(ValueError, match="day must be >= 2"):
            generate_increment(data, day=day)
    with pytest.raises(ValueError, match="rows must be >= 1"):
        generate_increment(data, day=2, rows=0)
    with pytest.raises(ValueError, match="no data folder"):
        generate_increment(tmp_path / "missing", day=2)
    (data / "orders.csv").unlink()
    with pytest.raises(ValueError, match=r"lacks the initial file\(s\) orders\.csv"):
        generate_increment(data, day=2)
    assert not list(data.glob("*_day2.csv"))  # nothing written


def test_a_large_drop_has_the_same_kinds_of_dirt(data: Path) -> None:
    # 30000 lines in 9791 orders: every rate of the module docstring shows up
    generate_increment(data, day=2, rows=30000)
    orders, lines = _drop(data, "orders"), _drop(data, "order_lines")
    payments = _drop(data, "payments")
    for rows, key in ((orders, "order_id"), (lines, "order_line_id"), (payments, "payment_id")):
        assert len(rows) > len(_ids(rows, key))  # exact duplicate lines
    assert any(r["channel"] not in {"WEB", "MOBILE", "STORE"} for r in orders)
    assert any(r["status"] != r["status"].strip().upper() for r in orders)
    assert any(r["order_date"] in BROKEN_DATES for r in orders)
    assert any(_n(r["customer_id"]) > 510 for r in orders)  # orphans: above the new customers
    assert any(int(r["quantity"]) <= 0 for r in lines)
    assert any(r["discount_amount"] == "" for r in lines)
    assert any(r["payment_amount"].startswith("-") for r in payments)
    assert any(r["payment_amount"] == "0.00" for r in payments)
    assert any(r["payment_method"] != r["payment_method"].strip().upper() for r in payments)
    assert {r["payment_status"] for r in payments} == {"FAILED", "SUCCESS", "PENDING"}
    # one payment per order, as in the seed system
    assert _ids(payments, "order_id") == _ids(orders, "order_id")
    assert len(_ids(payments, "payment_id")) == len(_ids(orders, "order_id"))

    # order totals: the sum of the lines (as meant) except for the bad-total dirt (~2 %)
    net: dict[str, Decimal] = {}
    for r in _latest(lines, "order_line_id").values():
        qty = abs(int(r["quantity"])) or None  # 0 / negative: a keying error, meant >= 1
        if qty is None:
            net[r["order_id"]] = Decimal("NaN")
            continue
        amount = qty * Decimal(r["unit_price"]) - Decimal(r["discount_amount"] or "0")
        net[r["order_id"]] = net.get(r["order_id"], Decimal(0)) + amount
    checked = [o for o in _latest(orders, "order_id").values() if not net[o["order_id"]].is_nan()]
    off = sum(Decimal(o["total_amount"]) != net[o["order_id"]] for o in checked)
    assert 0 < off < len(checked) * 0.04

    # lines of the repriced product use its new price (or the 10 % drift around it)
    (product,) = _drop(data, "products")
    cents = int(Decimal(product["unit_price"]) * 100)
    allowed = {f"{c / 100:.2f}" for c in (cents, round(cents * 0.9), round(cents * 1.1))}
    prices = [r["unit_price"] for r in lines if r["product_id"] == product["product_id"]]
    assert prices
    assert set(prices) <= allowed
    assert product["unit_price"] in prices


def test_cli_day(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(data), "--day", "2", "--rows", "60"]) == 0
    assert len(_ids(_drop(data, "order_lines"), "order_line_id")) == 60
    assert "orders_day2.csv" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "missing"), "--day", "2"])
    assert exc.value.code == 2


# sha256 of generate(rows=3064, seed=42), computed when the export took the seed system's shape
# (text keys, its vocabularies, one payment per order) with the same Faker version: the daily
# drops, or a change in how the files are written (chunking), must not change a byte of the
# initial export.  Faker builds the name/city/word pools, so another Faker version may
# legitimately write other names: the test only applies to the version that made the hashes.
FAKER_VERSION = "40.54.0"
INITIAL_SHA256 = {
    "customers.csv": "66314ac20a51190858bb51cd258143afb38226ce0d2946f48e0830d79f82aacb",
    "orders.csv": "88b79ad8d91d27b4a17af5c5c2bf50765f809c78f5436dd006fc3f3f7f1637b5",
    "order_lines.csv": "0e7e2bfe0ec71e09cb9e0fab4879df788cf2170cb557a8bd1efb9c3463502dcc",
    "payments.csv": "1a961265c36bed7b039f06dce8463d54bf314f2af1909393e864470a9fd020c8",
    "products.csv": "51c70dcec8a89c6b3aee986787282d76ec11f824ad1e11ca7470e3eb990eea1f",
}


@pytest.mark.skipif(
    faker.VERSION != FAKER_VERSION, reason=f"hashes made with Faker {FAKER_VERSION}"
)
def test_initial_export_is_unchanged(initial: Path) -> None:
    assert tuple(INITIAL_SHA256) == FILES
    for name, digest in INITIAL_SHA256.items():
        assert hashlib.sha256((initial / name).read_bytes()).hexdigest() == digest, name


def test_the_shared_initial_export_was_not_written_to(initial: Path) -> None:
    # every test works on a copy (drops are written next to the files they read)
    assert sorted(p.name for p in initial.iterdir()) == sorted(FILES)
