"""A later day's file drop for the product-platform template (`medallion generate --day N`).

Day 1 is the initial export (up to 2024-06-30); day N's drop is dated D = 2024-06-30 + (N - 1)
days and lands next to it as ``<stem>_day<N>.<ext>`` (``orders_day2.json``,
``order_lines_day2.parquet``, ...), so the sources' globs pick it up. It is derived from the files
that exist before it (the initial export, other matching files, the drops of earlier days; drops
of day N and later are ignored, so writing day N again gives the same bytes), and holds what the
source systems export that day:

* ``orders`` / ``order_lines`` / ``shipments``: ``rows`` new order lines (default
  ``max(30, existing lines // 90)``, about one day's volume) in new orders placed on D, drawn as
  in the initial export (their shipments leave on D at the earliest), and the orders that moved
  on: an order pending or processing before D ships on D (60 %; otherwise a pending order becomes
  processing), a shipment in transit is delivered on D when its promised date has come (else
  50 %). A moved order is exported again with its new status and ``updated_at``; a delivered
  shipment again with its delivery date: silver keeps the latest row by ``updated_at``;
* ``returns``: lines delivered in the three weeks before D come back on D (0.4 % of them per
  day; never a line returned before), with the initial export's dirt;
* ``customers``: ``max(1, customers // 100)`` new customers (signed up on D) and
  ``max(1, customers // 200)`` who moved (their latest row with a new city and state in the same
  country, ``updated_at`` on D);
* ``products``: ``max(1, products // 50)`` products with a new list price (5-10 % up, ending in
  9), which D's new order lines already use;
* ``waste`` / ``quality_inspections``: D's records (``max(1, rows // 25)`` and
  ``max(1, rows // 15)``), with the initial export's dirt rates (no invalid row forced).

Recipes do not change. Every id continues after the largest existing one; the random streams are
seeded from ``(seed, day)``. Raises ValueError when ``day < 2``, ``rows < 1`` or the initial
files are missing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from medallion.templates._kit import (
    CsvWriter,
    check_drop,
    cumulative,
    drop_name,
    existing_files,
    money,
    other_city,
    publishing,
    require_files,
)
from medallion.templates.product_platform import catalogue as cat
from medallion.templates.product_platform import domains as dom

P_SHIP_TODAY = 0.6
P_DELIVER_EARLY = 0.5
P_RETURN_PER_DAY = 0.004
RETURN_WINDOW_DAYS = 21
OPEN = ("pending", "processing", "shipped")
#: the files a drop writes (recipes do not change from day to day)
DROP_FILES = tuple(name for name in cat.HEADERS if not name.startswith("recipe"))


def _csv_rows(paths: list[Path]) -> Iterator[dict[str, str]]:
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)


def _json_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _code(value: Any) -> str:
    """A code as silver reads it: trimmed, lower case, spaces as underscores."""
    return str(value or "").strip().lower().replace(" ", "_")


def _date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text).strip().replace("/", "-"))
    except ValueError:
        return None


def _cents(text: Any) -> int:
    return round(float(str(text).strip().lstrip("$")) * 100)


class _Latest:
    """The latest row per key (greatest `updated_at`; a tie goes to the later row)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.top = 0

    def add(self, key: int | None, row: dict[str, Any], stamp: str = "") -> None:
        if key is None:
            return
        self.top = max(self.top, key)
        old = self.rows.get(key)
        if old is None or str(old.get("updated_at") or stamp) <= str(
            row.get("updated_at") or stamp
        ):
            self.rows[key] = row


def generate_increment(
    data_dir: Path, day: int, rows: int | None = None, seed: int = 42
) -> dict[str, int]:
    """Write the day-`day` drop (see the module docstring); {file written: rows}."""
    data_dir = Path(data_dir)
    check_drop(day, rows)
    require_files(data_dir, cat.HEADERS)
    files = {name: existing_files(data_dir, name, day) for name in cat.HEADERS}
    today = dom.END_DATE + timedelta(days=day - 1)
    iso = today.isoformat()
    rng = dom.sub_rng(seed, f"day{day}:changes")

    # --- what exists (the latest row of each key)
    products = _Latest()
    for row in _csv_rows(files["products.csv"]):
        products.add(_int(row["product_id"]), row)
    customers = _Latest()
    for row in _csv_rows(files["customers.csv"]):
        customers.add(_int(row["customer_id"]), row)
    orders = _Latest()
    for row in _json_rows(files["orders.json"]):
        orders.add(_int(row["order_id"]), row)
    shipments = _Latest()
    for row in _csv_rows(files["shipments.csv"]):
        shipments.add(_int(row["shipment_id"]), row)
    returned: set[int] = set()
    top_return = 0
    for row in _csv_rows(files["returns.csv"]):
        top_return = max(top_return, _int(row["return_id"]) or 0)
        returned.add(_int(row["order_line_id"]) or 0)
    top_waste = max((_int(r["waste_id"]) or 0 for r in _csv_rows(files["waste.csv"])), default=0)
    top_inspection = max(
        (_int(r["inspection_id"]) or 0 for r in _json_rows(files["quality_inspections.json"])),
        default=0,
    )
    if not products.rows or sorted(products.rows) != list(range(1, len(products.rows) + 1)):
        raise ValueError(f"{data_dir}: the products files must hold product ids 1..N")
    if not customers.rows:
        raise ValueError(f"{data_dir}: the customers files hold no customer")

    # how a customer orders (quantities, channels): its type; an unknown type orders as a consumer
    kinds = {cid: _code(r["customer_type"]) for cid, r in customers.rows.items()}
    kinds = {cid: k if k in cat.CUSTOMER_TYPES else "consumer" for cid, k in kinds.items()}
    by_order: dict[int, dict[str, Any]] = {}  # the order's latest shipment
    for sid in sorted(shipments.rows):
        row = shipments.rows[sid]
        oid = _int(row["order_id"])
        if oid is not None:
            by_order[oid] = row
    window = today - timedelta(days=RETURN_WINDOW_DAYS)
    recently_delivered = {
        oid
        for oid, s in by_order.items()
        if _code(s["status"]) == "delivered"
        and (d := _date(s["delivered_date"])) is not None
        and window <= d < today
    }
    open_orders = sorted(o for o, r in orders.rows.items() if _code(r["status"]) in OPEN)
    lines = _order_lines(files["order_lines.parquet"], {*recently_delivered, *open_orders})

    # --- products: a few new list prices (today's orders use them)
    catalogue = [
        dom.Product(
            pid,
            _code(r["category"]),
            _cents(r["list_price"]),
            _cents(r["standard_cost"]),
        )
        for pid, r in sorted(products.rows.items())
    ]
    price_rng = dom.sub_rng(seed, f"day{day}:products")
    repriced = sorted(price_rng.sample(range(1, len(catalogue) + 1), max(1, len(catalogue) // 50)))
    for pid in repriced:
        product = catalogue[pid - 1]
        product.price = round(product.price * price_rng.uniform(1.05, 1.10)) // 10 * 10 + 9

    top_line = _top_line(files["order_lines.parquet"])
    out = {name: drop_name(name, day) for name in DROP_FILES}
    with publishing(data_dir, out.values()) as tmp, ExitStack() as stack:
        w: dict[str, Any] = {
            name: (dom.Ndjson if name.endswith(".json") else CsvWriter)(
                tmp[out[name]], cat.HEADERS[name], stack
            )
            for name in out
            if not name.endswith(".parquet")
        }
        for pid in repriced:
            row = {
                **products.rows[pid],
                "list_price": money(catalogue[pid - 1].price),
                "updated_at": f"{iso} 06:00:00",
            }
            w["products.csv"].add([row[c] for c in cat.HEADERS["products.csv"]])

        # --- customers: some moved, some new
        pools = dom.Pools(seed)
        n_customers = len(customers.rows)
        moved = sorted(rng.sample(sorted(customers.rows), max(1, n_customers // 200)))
        for cid in moved:
            w["customers.csv"].add(_moved(customers.rows[cid], pools, rng, iso))
        new = dom.customer_kinds(max(1, n_customers // 100), seed, customers.top + 1)
        for c in new:
            c.first_order = today
        dom.write_customers(
            new,
            pools,
            dom.sub_rng(seed, f"day{day}:customers"),
            w["customers.csv"],
            today,
            signup_gap=0,
        )

        # --- orders that moved on, and their shipments
        ids = dom.Ids(orders.top, top_line, shipments.top)
        ids.ret = top_return
        for oid in open_orders:
            _move_on(
                orders.rows[oid],
                by_order.get(oid),
                kinds.get(_int(orders.rows[oid]["customer_id"]) or 0, "consumer"),
                len(lines.get(oid, ())),
                today,
                rng,
                ids,
                w,
            )

        # --- returns of lines delivered lately
        ret_rng = dom.sub_rng(seed, f"day{day}:returns")
        for oid in sorted(recently_delivered):
            kind = kinds.get(_int(orders.rows.get(oid, {}).get("customer_id")) or 0, "consumer")
            for line_id, qty, price, discount in lines.get(oid, ()):
                if line_id in returned or qty <= 0 or price is None:
                    continue
                if ret_rng.random() >= P_RETURN_PER_DAY:
                    continue
                gross = qty * round(price * 100)
                net = gross - round(gross * (discount or 0) / 100)
                ids.ret += 1
                row = dom.return_row(ids.ret, line_id, iso, qty, net, kind, ret_rng)
                w["returns.csv"].add(row, dup=ret_rng.random() < dom.P_DUP)

        # --- today's new orders
        if rows is None:
            rows = max(30, top_line // 90)
        n_orders = max(1, round(rows / 3))
        everyone = [dom.Customer(cid, kinds[cid]) for cid in sorted(customers.rows)] + new
        parquet = dom.ParquetLines(tmp[out["order_lines.parquet"]])
        dom.write_orders(
            iter([today] * n_orders),
            dom.spread(rows, n_orders, dom.sub_rng(seed, f"day{day}:lines_per_order")),
            everyone,
            cumulative(dom.customer_weights(everyone, seed)),
            everyone[-1].cid,
            catalogue,
            seed,
            dom.OrderWriters(w["orders.json"], parquet.add, w["shipments.csv"], w["returns.csv"]),
            end=today,
            ids=ids,
            stream=f"day{day}:",
        )
        parquet.close()

        # --- the plant floor's day
        # a day is small: its dirt comes at the initial export's rates (none forced)
        dom.write_waste(
            max(1, rows // 25),
            catalogue,
            today,
            1,
            seed,
            w["waste.csv"],
            top_waste + 1,
            at_least_one=False,
        )
        dom.write_inspections(
            max(1, rows // 15),
            catalogue,
            today,
            1,
            seed,
            pools,
            w["quality_inspections.json"],
            top_inspection + 1,
            at_least_one=False,
        )
        counts = {out[name]: writer.count for name, writer in w.items()}
        counts[out["order_lines.parquet"]] = parquet.count
    return {out[name]: counts[out[name]] for name in out}


def _top_line(paths: list[Path]) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    top = 0
    for path in paths:
        column = pq.read_table(path, columns=["order_line_id"]).column("order_line_id")
        top = max(top, pc.max(column).as_py() or 0)
    return top


def _order_lines(
    paths: list[Path], order_ids: set[int]
) -> dict[int, list[tuple[int, int, float | None, float | None]]]:
    """order_id -> its distinct lines (id, quantity, unit_price, discount_pct), for `order_ids`."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = pa.array(sorted(order_ids), type=pa.int64())
    out: dict[int, list[tuple[int, int, float | None, float | None]]] = {}
    seen: set[int] = set()
    columns = ["order_line_id", "order_id", "quantity", "unit_price", "discount_pct"]
    for path in paths:
        table = pq.read_table(path, columns=columns)
        table = table.filter(pc.is_in(table.column("order_id"), value_set=wanted))
        for line_id, oid, qty, price, discount in zip(
            *(table.column(c).to_pylist() for c in columns), strict=True
        ):
            if line_id not in seen:
                seen.add(line_id)
                out.setdefault(oid, []).append((line_id, qty, price, discount))
    return out


def _moved(row: dict[str, str], pools: dom.Pools, rng: Any, iso: str) -> list[Any]:
    """A customer's latest row with a new city (and state) in the same country."""
    city, state = other_city(
        rng,
        _code(row["country"]).upper(),
        row["city"],
        us=pools.cities,
        ca_cities=cat.CA_CITIES,
        ca_provinces=cat.CA_PROVINCES,
        gb=cat.GB_CITIES,
    )
    new = {**row, "city": city, "state": state, "updated_at": f"{iso} 12:00:00"}
    return [new[c] for c in cat.HEADERS["customers.csv"]]


def _move_on(
    order: dict[str, Any],
    shipment: dict[str, Any] | None,
    kind: str,
    n_lines: int,
    today: date,
    rng: Any,
    ids: dom.Ids,
    w: dict[str, Any],
) -> None:
    """What happens today to an order that was pending, processing or shipped."""
    iso = today.isoformat()
    status = _code(order["status"])
    if status in ("pending", "processing"):
        if rng.random() < P_SHIP_TODAY:
            carrier = rng.choice(cat.CARRIERS if kind == "consumer" else cat.B2B_CARRIERS)
            promised = today + timedelta(days=cat.TRANSIT_DAYS[carrier])
            cost = 499 + 150 * n_lines if kind == "consumer" else 2500 + 900 * n_lines
            ids.shipment += 1
            w["shipments.csv"].add(
                [
                    ids.shipment,
                    order["order_id"],
                    carrier,
                    f"1Z{rng.randrange(16**12):012X}",
                    iso,
                    promised.isoformat(),
                    "",
                    "In Transit",
                    money(cost),
                    f"{iso} 18:00:00",
                ]
            )
            w["orders.json"].add(_order(order, "shipped", f"{iso} 18:00:00"))
        elif status == "pending":
            w["orders.json"].add(_order(order, "processing", f"{iso} 08:00:00"))
        return
    if shipment is None or _code(shipment["status"]) != "in_transit":
        return  # an exception stays with customer service
    promised = _date(shipment["promised_date"])
    if promised is None or promised <= today or rng.random() < P_DELIVER_EARLY:
        stamp = f"{iso} 17:00:00"
        row = {**shipment, "delivered_date": iso, "status": "Delivered", "updated_at": stamp}
        w["shipments.csv"].add([row[c] for c in cat.HEADERS["shipments.csv"]])
        w["orders.json"].add(_order(order, "delivered", stamp))


def _order(order: dict[str, Any], status: str, stamp: str) -> list[Any]:
    return [{**order, "status": status, "updated_at": stamp}[c] for c in cat.HEADERS["orders.json"]]
