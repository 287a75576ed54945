"""Daily file drops of the customer-insights template (rules in generate.py's docstring,
"Daily drops"): what exists is read back from the files, and a day's new and changed rows are
written next to them."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from medallion.templates._kit import (
    check_drop,
    drop_name,
    existing_files,
    money,
    new_shop_price,
    publishing,
    require_files,
    sub_rng,
)
from medallion.templates.customer_insights._arrow import (
    DAY,
    Stream,
    chance,
    date_seconds,
    index,
    write_csv,
    write_lines,
)
from medallion.templates.customer_insights._rows import (
    CITIES,
    CUSTOMER_COLUMNS,
    FILES,
    NEXT_STATUS,
    Pools,
    customers_table,
    orders_table,
    products_table,
)

NEW_ORDERS_SHARE = 0.01  # default drop size: share of the existing distinct orders ...
MIN_NEW_ORDERS = 20  # ... but at least this many
P_ORDER_BY_NEW_CUSTOMER = 0.15
NEW_CUSTOMERS_SHARE = 0.02  # of the existing customers (>= 1)
MOVED_CUSTOMERS_SHARE = 0.01  # (>= 2)
REPRICED_SHARE = 0.01  # of the catalogue (>= 1), and as many new products
OPEN_ORDER_DAYS = 14  # open orders older than this are not moved on (stuck, or lost)
P_PENDING_CANCELLED = 0.10


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    text = text.strip().rstrip("Z").replace("T", " ")
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _scan_orders(paths: Sequence[Path]) -> tuple[int, int, date, dict[int, dict[str, Any]]]:
    """(largest order_id, distinct orders, last valid order day, the latest version of every
    order still open - pending, processing, shipped - by id), streaming the files once.
    Malformed lines are skipped, as bronze quarantines them."""
    top = 0
    ids: set[int] = set()
    last: datetime | None = None
    open_: dict[int, dict[str, Any]] = {}
    closed: dict[int, str] = {}  # orders seen open, then closed: when (a stale copy stays closed)
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for text in fh:
                try:
                    record = json.loads(text)
                    oid = int(record["order_id"])
                except (ValueError, KeyError, TypeError):
                    continue
                ids.add(oid)
                top = max(top, oid)
                when = _parse_time(record.get("order_date"))
                if when is not None and (last is None or when > last):
                    last = when
                stamp = str(record.get("updated_at"))
                seen = open_.get(oid)
                if (seen is not None and stamp < str(seen["updated_at"])) or stamp < closed.get(
                    oid, ""
                ):
                    continue  # an older version than one already read
                if str(record.get("status") or "").strip().lower() in NEXT_STATUS:
                    open_[oid] = record
                elif seen is not None:
                    del open_[oid]
                    closed[oid] = stamp
    if last is None:
        raise ValueError(f"{paths[0].parent}: the orders files hold no valid order_date")
    return top, len(ids), last.date(), open_


def _drop_products(
    files: list[Path], drop_day: date, seed: int, day: int, rng: random.Random
) -> tuple[pa.Table, list[int]]:
    """(the drop's product rows: repriced and new products; list price in cents by
    product_id - 1 as of the drop, for its orders)."""
    schema = pq.read_schema(files[0])
    products = pa.concat_tables(pq.read_table(p).cast(schema) for p in files)
    catalogue: dict[int, dict[str, Any]] = {}
    for prod in products.sort_by([("updated_at", "ascending")]).to_pylist():
        catalogue[prod["product_id"]] = prod  # the latest version wins
    top = max(catalogue)
    n_changed = max(1, int(len(catalogue) * REPRICED_SHARE))
    changed = []
    at = datetime(drop_day.year, drop_day.month, drop_day.day, 6)
    for pid in sorted(rng.sample(sorted(catalogue), n_changed)):
        old = abs(int(catalogue[pid]["unit_price"] * 100)) or 999
        # a shop price (ending in .99) 10-25 % up or down; a broken price gets a real one
        cents = new_shop_price(old, rng)
        changed.append({**catalogue[pid], "unit_price": money(cents)})
        changed[-1]["updated_at"] = at
    new, new_prices = products_table(
        pa.array(range(top + 1, top + n_changed + 1), pa.int64()),
        pa.array([date_seconds(drop_day) + 8 * 3600] * n_changed, pa.int64()),
        Stream(seed, f"day{day}:products"),
    )
    text_price = new.schema.set(
        new.schema.get_field_index("unit_price"), pa.field("unit_price", pa.string())
    )
    repriced = pa.Table.from_pylist(changed, schema=text_price).cast(new.schema)

    prices = []
    current = {**catalogue, **{c["product_id"]: c for c in changed}}
    for pid in range(1, top + 1):
        cents = round(float(current[pid]["unit_price"]) * 100) if pid in current else 0
        prices.append(cents if cents > 0 else 999)  # a missing or broken price: sold at 9.99
    return pa.concat_tables([repriced, new]), prices + new_prices.to_pylist()


def _drop_customers(
    files: list[Path], drop_day: date, pools: Pools, seed: int, day: int, rng: random.Random
) -> tuple[pa.Table, list[int], int]:
    """(the drop's customer rows: moved customers, then new ones; the existing ids; the number
    of new customers, whose ids follow the largest existing one)."""
    strings = pa_csv.ConvertOptions(column_types=dict.fromkeys(CUSTOMER_COLUMNS, pa.string()))
    existing = pa.concat_tables(
        pa_csv.read_csv(p, convert_options=strings).select(list(CUSTOMER_COLUMNS)) for p in files
    )
    known = sorted({int(v) for v in existing["customer_id"].to_pylist() if v})
    if not known:
        raise ValueError(f"{files[0].parent}: the customers files hold no customer")
    moved = set(rng.sample(known, min(len(known), max(2, int(len(known) * MOVED_CUSTOMERS_SHARE)))))
    wanted = existing.filter(pc.is_in(existing["customer_id"], pa.array([str(c) for c in moved])))
    latest: dict[int, dict[str, Any]] = {}
    for row in sorted(wanted.to_pylist(), key=lambda r: r["updated_at"] or ""):
        latest[int(row["customer_id"])] = row
    us_cities = pools.city.to_pylist()[pools.city_off[0] : pools.city_off[0] + pools.city_n[0]]
    rows = []
    for cid in sorted(latest):
        row = dict(latest[cid])
        country = (row["country"] or "").strip().upper()
        pool = next((CITIES[c] for c in CITIES if country.startswith(c)), None) or us_cities
        old_city = (row["city"] or "").strip()
        row["city"] = rng.choice([c for c in pool if c != old_city] or list(pool))
        row["updated_at"] = f"{drop_day.isoformat()} {rng.randint(8, 20):02d}:00:00"
        rows.append(row)
    n_new = max(1, int(len(known) * NEW_CUSTOMERS_SHARE))
    rnd = Stream(seed, f"day{day}:customers")
    drop_s = date_seconds(drop_day)
    new = customers_table(
        pa.array(range(known[-1] + 1, known[-1] + n_new + 1), pa.int64()),
        pa.array([drop_s // DAY] * n_new, pa.int64()),
        pc.add(drop_s + 9 * 3600, index(rnd(n_new), 8 * 3600)),
        pools,
        rnd,
    )
    text_id = new.schema.set(0, pa.field("customer_id", pa.string()))
    moved_t = pa.Table.from_pylist(rows, schema=text_id).cast(new.schema)
    return pa.concat_tables([moved_t, new]), known, n_new


def _moved_on(
    open_orders: dict[int, dict[str, Any]], drop_day: date, rng: random.Random
) -> list[str]:
    """The open orders of the last OPEN_ORDER_DAYS days, one status further, as JSON lines."""
    horizon = datetime.combine(drop_day - timedelta(days=OPEN_ORDER_DAYS), datetime.min.time())
    lines = []
    for oid in sorted(open_orders):
        record = dict(open_orders[oid])
        when = _parse_time(record.get("order_date"))
        if when is None or when < horizon:
            continue
        status = str(record["status"]).strip().lower()
        cancelled = status == "pending" and rng.random() < P_PENDING_CANCELLED
        record["status"] = "cancelled" if cancelled else NEXT_STATUS[status]
        record["updated_at"] = (
            f"{drop_day.isoformat()}T{rng.randint(0, 6):02d}:{rng.randint(0, 59):02d}:00Z"
        )
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return lines


def generate_increment(
    data_dir: Path, day: int, rows: int | None = None, seed: int = 42
) -> dict[str, int]:
    """Write a day-`day` file drop (day >= 2) next to the initial files: customers_day<N>.csv,
    orders_day<N>.json, products_day<N>.parquet.  `rows` = new orders (default 1 % of the
    existing ones, at least 20).  Returns {file name: rows written}.  Raises ValueError when
    day < 2, rows < 1, or `data_dir` does not hold the initial files."""
    data_dir = Path(data_dir)
    check_drop(day, rows)
    require_files(data_dir, FILES)
    files = {name: existing_files(data_dir, name, day) for name in FILES}
    max_order, n_orders, last_day, open_orders = _scan_orders(files["orders.json"])
    drop_day = last_day + timedelta(days=1)
    drop_s = date_seconds(drop_day)
    # one stream of Python draws for the row-by-row changes, seeded from (seed, day)
    rng = sub_rng(seed, f"day{day}:changes")
    pools = Pools(seed)
    products, prices = _drop_products(files["products.parquet"], drop_day, seed, day, rng)
    customers, known, n_new = _drop_customers(
        files["customers.csv"], drop_day, pools, seed, day, rng
    )

    # new orders: 15 % by the drop's new customers, the others by existing ones (uniformly)
    rnd = Stream(seed, f"day{day}:orders")
    n = rows if rows is not None else max(MIN_NEW_ORDERS, int(n_orders * NEW_ORDERS_SHARE))
    first_new = known[-1] + 1
    who = pc.if_else(
        chance(rnd(n), P_ORDER_BY_NEW_CUSTOMER),
        pc.add(first_new, index(rnd(n), n_new)),
        pc.take(pa.array(known, pa.int64()), index(rnd(n), len(known))),
    )
    seconds = pc.add(drop_s + 7 * 3600, index(rnd(n), 15 * 3600))
    by_time = pc.sort_indices(seconds)
    who = pc.take(who, by_time)
    # the day's first order is always a new customer's, so every drop has one
    who = pa.concat_arrays([pa.array([first_new], pa.int64()), who[1:]])
    orders = orders_table(
        pa.array(range(max_order + 1, max_order + n + 1), pa.int64()),
        who,
        pc.take(seconds, by_time),
        drop_s + DAY - 1,
        pa.array(prices, pa.int64()),
        first_new + n_new - 1,
        rnd,
    )
    lines = pa.concat_arrays(
        [
            pa.array(_moved_on(open_orders, drop_day, rng), pa.string()),
            orders["line"].combine_chunks(),
        ]
    )

    out = {name: drop_name(name, day) for name in FILES}
    with publishing(data_dir, out.values()) as tmp:
        write_csv(customers, tmp[out["customers.csv"]])
        write_lines(lines, tmp[out["orders.json"]])
        pq.write_table(products, tmp[out["products.parquet"]])
    return {
        out["customers.csv"]: customers.num_rows,
        out["orders.json"]: len(lines),
        out["products.parquet"]: products.num_rows,
    }
