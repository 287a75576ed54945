"""Daily file drops of the retail template (rules in generate.py's docstring, "Daily drops"):
what exists is streamed back from the files, and a day's new and changed rows are written next
to them."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from medallion.templates._kit import (
    CsvWriter,
    check_drop,
    drop_name,
    existing_files,
    money,
    publishing,
    require_files,
    sub_rng,
)
from medallion.templates.retail._master import (
    Pools,
    customer_rows,
    moved_customer_row,
    new_price,
)
from medallion.templates.retail._orders import stream_orders
from medallion.templates.retail._vocab import (
    FILES,
    HEADERS,
    LINES_PER_ORDER,
    P_DUP,
    P_ORPHAN,
    number,
)

DROP_LINES_SHARE = 0.01  # default drop size: share of the existing distinct order lines ...
MIN_DROP_LINES = 30  # ... but at least this many
NEW_CUSTOMERS_SHARE = 0.02  # new customers per drop, share of the existing customers (>= 1)
MOVED_CUSTOMERS_SHARE = 0.01  # existing customers with a new city per drop ...
MIN_MOVED_CUSTOMERS = 3  # ... but at least this many
REPRICED_SHARE = 0.01  # products with a new unit_price per drop (>= 1)
P_ORDER_NEW_CUSTOMER = 0.10  # share of a drop's orders placed by its new customers
P_ORDER_MOVED_CUSTOMER = 0.10  # share of a drop's orders placed by its moved customers


def _readers(
    paths: Sequence[Path], columns: Sequence[str]
) -> Iterator[tuple[list[str], list[int], Iterator[list[str]]]]:
    """Per CSV file, in order: (column names, positions of `columns`, a reader of its data rows).
    ValueError when a file's header lacks one of `columns`."""
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = [h.lstrip("\ufeff").strip() for h in next(reader, [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise ValueError(f"{path}: no column {', '.join(missing)} in the header")
            yield header, [header.index(c) for c in columns], reader


def _numbers(paths: Sequence[Path], column: str, entity: str) -> Iterator[int]:
    """Stream the numbers of the `entity` keys in one column (by header name) of CSV files, in
    file order (CUST0007 -> 7); values that are not such keys (and short rows) are skipped."""
    for _, (i,), rows in _readers(paths, (column,)):
        for row in rows:
            try:
                yield number(entity, row[i])
            except (IndexError, ValueError):
                continue


def _scan_orders(paths: Sequence[Path]) -> tuple[int, set[str]]:
    """(largest order number, the distinct order_date values as written) of the orders files."""
    top = 0
    dates: set[str] = set()
    for _, (i, j), rows in _readers(paths, ("order_id", "order_date")):
        for row in rows:
            try:
                value = number("order", row[i])
                dates.add(row[j])
            except (IndexError, ValueError):
                continue
            if value > top:
                top = value
    return top, dates


def _latest_rows(
    paths: Sequence[Path], key: str, entity: str, wanted: set[int] | None = None
) -> dict[int, dict[str, str]]:
    """{key number: row as {column: value}} of the last row per key in load order (all keys, or
    the numbers `wanted`)."""
    latest: dict[int, dict[str, str]] = {}
    for header, (k,), rows in _readers(paths, (key,)):
        for row in rows:
            try:
                value = number(entity, row[k])
            except (IndexError, ValueError):
                continue
            if wanted is None or value in wanted:
                latest[value] = dict(zip(header, row, strict=False))
    return latest


def _iso_date(text: str) -> date | None:
    text = text.strip()
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _cents(text: str, where: str) -> int:
    try:
        return int(Decimal(text.strip()) * 100)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{where}: unit_price {text!r} is not an amount") from None


def generate_increment(
    data_dir: Path, day: int, rows: int | None = None, seed: int = 42
) -> dict[str, int]:
    """Write a day-`day` file drop (day >= 2) next to the initial files: customers_day{day}.csv,
    orders_day{day}.csv, order_lines_day{day}.csv, payments_day{day}.csv (and products_day{day}.csv
    when some prices change). `rows` = new order lines (default: 1% of the existing distinct order
    lines, at least 30). Returns {file name: data rows written}.

    The existing files (the initial export and the drops of earlier days) are streamed once for
    the ids, dates and prices they hold; the rules are in generate.py's docstring ("Daily drops").
    Raises ValueError when day < 2, rows < 1, or data_dir does not hold the initial files."""
    data_dir = Path(data_dir)
    check_drop(day, rows)
    require_files(data_dir, FILES)
    files = {name: existing_files(data_dir, name, day) for name in FILES}

    # --- what exists: ids, the last order date, the catalogue (streamed, needed columns only)
    known = sorted(set(_numbers(files["customers.csv"], "customer_id", "customer")))
    if not known:
        raise ValueError(f"{data_dir}: the customers files hold no customer")
    max_customer = known[-1]

    max_order, order_dates = _scan_orders(files["orders.csv"])
    valid_dates = [d for d in map(_iso_date, order_dates) if d is not None]
    if not valid_dates:
        raise ValueError(f"{data_dir}: the orders files hold no valid order_date")
    order_date = max(valid_dates) + timedelta(days=1)

    # Distinct order lines: duplicates are written in a row, so count id changes (no id set).
    max_line = 0
    n_lines = 0
    previous: int | None = None
    for value in _numbers(files["order_lines.csv"], "order_line_id", "order_line"):
        if value != previous:
            n_lines += 1
            previous = value
        if value > max_line:
            max_line = value
    max_payment = max(_numbers(files["payments.csv"], "payment_id", "payment"), default=0)

    products = _latest_rows(files["products.csv"], "product_id", "product")
    if not products or sorted(products) != list(range(1, len(products) + 1)):
        raise ValueError(
            f"{data_dir}: the products files must hold products PROD0001..PROD<N>, no gaps"
        )
    prices = [
        _cents(products[pid].get("unit_price", ""), f"product {pid}")
        for pid in range(1, len(products) + 1)
    ]

    # --- what changes (one random stream per kind of change, all seeded from (seed, day))
    n_new = max(1, int(len(known) * NEW_CUSTOMERS_SHARE))
    n_moved = min(len(known), max(MIN_MOVED_CUSTOMERS, int(len(known) * MOVED_CUSTOMERS_SHARE)))
    moved_rng = sub_rng(seed, f"day{day}:customer_changes")
    moved = sorted(moved_rng.sample(known, n_moved))
    latest = _latest_rows(files["customers.csv"], "customer_id", "customer", set(moved))
    new_ids = list(range(max_customer + 1, max_customer + n_new + 1))

    price_rng = sub_rng(seed, f"day{day}:products")
    n_repriced = max(1, int(len(prices) * REPRICED_SHARE))
    repriced = sorted(price_rng.sample(range(1, len(prices) + 1), n_repriced))
    for pid in repriced:
        prices[pid - 1] = new_price(prices[pid - 1], price_rng)

    if rows is None:
        rows = max(MIN_DROP_LINES, int(n_lines * DROP_LINES_SHARE))
    n_orders = max(1, round(rows / LINES_PER_ORDER))

    # The first two orders go to a new and to a moved customer, so every drop has both.
    first_picks = [new_ids[0], moved[0]]
    n_known, n_moved_ids = len(known), len(moved)
    p_new, p_moved = P_ORDER_NEW_CUSTOMER, P_ORDER_MOVED_CUSTOMER
    p_known = 1.0 - p_new - p_moved

    top = max_customer + n_new  # orphans point above the new customers too

    def pick(u: float) -> int:
        if first_picks:
            return first_picks.pop(0)
        if u < p_new:
            return new_ids[min(int(u / p_new * n_new), n_new - 1)]
        u -= p_new
        if u < p_moved:
            return moved[min(int(u / p_moved * n_moved_ids), n_moved_ids - 1)]
        u -= p_moved
        return known[min(int(u / p_known * n_known), n_known - 1)]

    def pick_customer(rand: Callable[[], float]) -> tuple[int, bool]:
        if rand() < P_ORPHAN:
            return top + 1 + int(rand() * 1000), False  # missing from the customers files
        return pick(rand()), False

    # --- write (temp names, published together at the end, as in generate()); at least one
    # price changes, so products_day<N>.csv is always part of the drop.
    out = {name: drop_name(name, day) for name in FILES}
    with publishing(data_dir, out.values()) as tmp, ExitStack() as stack:
        w = {name: CsvWriter(tmp[out[name]], HEADERS[name], stack) for name in FILES}
        for pid in repriced:
            new = {**products[pid], "unit_price": money(prices[pid - 1])}
            w["products.csv"].add(tuple(new.get(c, "") for c in HEADERS["products.csv"]))

        pools = Pools(seed)
        for cid in moved:
            row = moved_customer_row(latest[cid], pools, moved_rng)
            w["customers.csv"].add(row)
            if moved_rng.random() < P_DUP:
                w["customers.csv"].add(row)
        new_rng = sub_rng(seed, f"day{day}:customers")
        for crow in customer_rows(n_new, pools, new_rng, first_id=max_customer + 1):
            w["customers.csv"].add(crow)

        stream_orders(
            n_orders,
            rows,
            1,
            prices,
            seed,
            w["orders.csv"].add,
            w["order_lines.csv"].add,
            w["payments.csv"].add,
            end_date=order_date,
            last_ids=(max_order, max_line, max_payment),
            pick_customer=pick_customer,
            stream=f"day{day}:",
        )
        counts = {out[name]: w[name].count for name in FILES}
    return counts
