"""The OLTP template's source: a PostgreSQL shop database, created and filled with Faker data.

Schema (what users of the Python extract-load + dbt system have):

    customers(id serial pk, name, email unique, phone, address, created_at, updated_at)
    products(id serial pk, name, description, price numeric(10,2), category, stock_quantity,
             created_at, updated_at)
    orders(id serial pk, customer_id fk, order_date timestamp, status, total_amount numeric(12,2),
           shipping_address, created_at, updated_at)
    order_items(id serial pk, order_id fk, product_id fk, quantity, unit_price numeric(10,2),
                created_at, updated_at)

`generate` drops and re-creates the four tables and fills them (`rows` = order items; orders
~ rows/3, customers ~ orders/4, products ~ rows/50 within [20, 2000]); `generate_increment`
simulates a later day: new customers, orders and items, and updates (order status moves on,
some customers change address, some prices change), each with a newer `updated_at` — what an
incremental extract must pick up. Deterministic for a seed (timestamps are fixed, not now()).

Dirt, as an OLTP application lets through: e-mail case and surrounding spaces are not
normalized (the unique index is on the raw text), names carry stray spaces, status values come
in mixed case from an older client, and about 2% of order totals differ from their items (a
shipping fee or a stale total).

The database is the one `OLTP_SOURCE_DSN` names (the project's medallion.yml reads it too).
Rows are sent with COPY as they are made, COPY_CHUNK rows at a time (orders before their
items), so memory stays about flat as `rows` grows (51 MB at 20,000 order items, 60 MB at
200,000; what still grows is an order date per order and an address per customer).
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.templates._kit import Spellings, faker

if TYPE_CHECKING:
    from faker import Faker

STATUSES = ["pending", "processing", "shipped", "completed", "cancelled", "returned"]
STATUS_WEIGHTS = [5, 8, 12, 60, 8, 7]
CATEGORIES = ["Electronics", "Home", "Garden", "Clothing", "Sports", "Books", "Toys", "Beauty"]
START = datetime(2024, 1, 1, 8, 0, 0)
END = datetime(2024, 6, 30, 20, 0, 0)

SCHEMA = """
DROP TABLE IF EXISTS order_items, orders, products, customers CASCADE;
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    phone text,
    address text,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE TABLE products (
    id serial PRIMARY KEY,
    name text NOT NULL,
    description text,
    price numeric(10,2) NOT NULL,
    category text,
    stock_quantity integer NOT NULL DEFAULT 0,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers(id),
    order_date timestamp NOT NULL,
    status text NOT NULL,
    total_amount numeric(12,2) NOT NULL,
    shipping_address text,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE TABLE order_items (
    id serial PRIMARY KEY,
    order_id integer NOT NULL REFERENCES orders(id),
    product_id integer NOT NULL REFERENCES products(id),
    quantity integer NOT NULL,
    unit_price numeric(10,2) NOT NULL,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL
);
CREATE INDEX ON orders (updated_at);
CREATE INDEX ON order_items (updated_at);
CREATE INDEX ON customers (updated_at);
CREATE INDEX ON products (updated_at);
"""


def source_dsn(dsn: str | None = None) -> str:
    value = dsn or os.environ.get("OLTP_SOURCE_DSN")
    if not value:
        from medallion.errors import TemplateError

        raise TemplateError(
            "the OLTP template's source database is not set",
            hint="export OLTP_SOURCE_DSN=postgresql://user:password@host:5432/shop "
            "(or run `medallion demo --template oltp`, which starts a throwaway PostgreSQL)",
        )
    return value


def _sizes(rows: int) -> tuple[int, int, int, int]:
    items = max(1, int(rows))
    orders = max(1, round(items / 3))
    customers = max(5, orders // 4)
    products = min(max(20, items // 50), 2000)
    return customers, products, orders, items


#: rows a table's COPY buffer holds before it is sent (orders: orders, with their items)
COPY_CHUNK = 5_000


class _Copy:
    """Rows of one table buffered as CSV text and sent with COPY FROM STDIN a chunk at a time
    (several COPY statements in the transaction): memory holds one chunk whatever the scale."""

    def __init__(self, cur: Any, table: str, columns: str) -> None:
        import csv

        self.cur = cur
        self.statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
        self.buf = io.StringIO()
        self._writer = csv.writer(self.buf, lineterminator="\n")
        self.n = 0
        self.pending = 0

    def add(self, *values: object) -> None:
        self._writer.writerow(["" if v is None else v for v in values])
        self.n += 1
        self.pending += 1

    def send(self) -> None:
        if self.pending:
            with self.cur.copy(self.statement) as copy:
                copy.write(self.buf.getvalue())
            self.buf.seek(0)
            self.buf.truncate()
            self.pending = 0


_COLUMNS = {
    "customers": "id, name, email, phone, address, created_at, updated_at",
    "products": "id, name, description, price, category, stock_quantity, created_at, updated_at",
    "orders": "id, customer_id, order_date, status, total_amount, shipping_address, "
    "created_at, updated_at",
    "order_items": "id, order_id, product_id, quantity, unit_price, created_at, updated_at",
}


#: status values an older client wrote (3 % of the orders)
MESSY_STATUS = Spellings("{upper}", "{capitalized}", " {value}")


def _when(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(max(1, span)))


def generate(
    root: Path, rows: int = 3000, seed: int = 42, *, dsn: str | None = None
) -> dict[str, int]:
    """Re-create the source tables and fill them. Returns rows per table."""
    import psycopg

    dsn = source_dsn(dsn)
    fake = faker(seed)
    rng = random.Random(seed)
    n_customers, n_products, n_orders, n_items = _sizes(rows)
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        copies = {table: _Copy(cur, table, columns) for table, columns in _COLUMNS.items()}
        _fill(fake, rng, copies, n_customers, n_products, n_orders, n_items)
        for table in _COLUMNS:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        conn.commit()
    return {table: copy.n for table, copy in copies.items()}


def _fill(
    fake: Faker,
    rng: random.Random,
    copies: dict[str, _Copy],
    n_customers: int,
    n_products: int,
    n_orders: int,
    n_items: int,
) -> None:
    """The initial rows of the four tables, sent as they are made (customers and products
    first: orders refer to them)."""
    customers = copies["customers"]
    addresses: dict[int, str] = {}
    for cid in range(1, n_customers + 1):
        name = fake.name()
        if rng.random() < 0.03:
            name = f" {name}  "
        email = f"{fake.user_name()}{cid}@{fake.free_email_domain()}"
        if rng.random() < 0.03:
            email = f" {email.upper()}"
        address = fake.address().replace("\n", ", ")
        addresses[cid] = address
        created = _when(rng, START - timedelta(days=365), START)
        customers.add(cid, name, email, fake.phone_number(), address, created, created)
        if customers.pending >= COPY_CHUNK:
            customers.send()
    customers.send()

    products = copies["products"]
    prices: list[Decimal] = []
    for pid in range(1, n_products + 1):
        price = Decimal(rng.randrange(199, 99999)) / 100
        prices.append(price)
        created = _when(rng, START - timedelta(days=200), START)
        products.add(
            pid,
            fake.catch_phrase(),
            fake.sentence(nb_words=10),
            price,
            rng.choice(CATEGORIES),
            rng.randrange(0, 500),
            created,
            created,
        )

    products.send()
    _orders(
        rng,
        copies["orders"],
        copies["order_items"],
        addresses,
        prices,
        first_order=1,
        first_item=1,
        n_orders=n_orders,
        n_items=n_items,
        start=START,
        end=END,
        customer_ids=range(1, n_customers + 1),
    )


def _orders(
    rng: random.Random,
    orders: _Copy,
    items: _Copy,
    addresses: dict[int, str],
    prices: list[Decimal],
    *,
    first_order: int,
    first_item: int,
    n_orders: int,
    n_items: int,
    start: datetime,
    end: datetime,
    customer_ids: Sequence[int],
) -> None:
    """Orders with their items (every order has at least one), sent a chunk of orders at a
    time, the orders before their items (which refer to them)."""
    item_id = first_item
    left = n_items
    dates = sorted(_when(rng, start, end) for _ in range(n_orders))
    for i, order_date in enumerate(dates):
        oid = first_order + i
        remaining_orders = n_orders - i
        k = (
            left
            if remaining_orders == 1
            else max(
                1,
                min(
                    left - remaining_orders + 1,
                    1 + int(rng.expovariate(1 / max(0.01, left / remaining_orders - 1))),
                ),
            )
        )
        left -= k
        cid = rng.choice(customer_ids)
        total = Decimal("0")
        for _ in range(k):
            pid = 1 + int(len(prices) * rng.random() ** 1.5)
            qty = rng.choice([1, 1, 1, 2, 2, 3, 4, 5])
            price = prices[pid - 1]
            total += qty * price
            created = order_date + timedelta(seconds=rng.randrange(1, 120))
            items.add(item_id, oid, pid, qty, price, created, created)
            item_id += 1
        if rng.random() < 0.02:
            total += rng.choice([Decimal("4.99"), Decimal("9.99"), Decimal("-5.00")])
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        updated = (
            order_date + timedelta(hours=rng.randrange(0, 72))
            if status != "pending"
            else order_date
        )
        orders.add(
            oid,
            cid,
            order_date,
            MESSY_STATUS.maybe(status, rng, 0.03),
            total,
            addresses.get(cid),
            order_date,
            updated,
        )
        if orders.pending >= COPY_CHUNK:
            orders.send()
            items.send()
    orders.send()
    items.send()


def generate_increment(
    root: Path, day: int, rows: int | None = None, seed: int = 42, *, dsn: str | None = None
) -> dict[str, int]:
    """A later day in the source: inserts and updates stamped `END + (day - 1)` days."""
    import psycopg

    if day < 2:
        raise ValueError("day drops start at day 2 (day 1 is the initial load)")
    dsn = source_dsn(dsn)
    rng = random.Random(f"{seed}:{day}")
    fake = faker(seed * 1000 + day)
    counts = {"new_customers": 0, "new_orders": 0, "new_items": 0, "updated": 0}
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        # the day's changes come after everything already in the database (an extract's
        # watermark is the newest updated_at it saw)
        cur.execute(
            "SELECT max(t) FROM (SELECT max(updated_at) t FROM customers UNION ALL "
            "SELECT max(updated_at) FROM products UNION ALL SELECT max(updated_at) FROM orders "
            "UNION ALL SELECT max(updated_at) FROM order_items) x"
        )
        latest = cur.fetchone()[0] or END  # type: ignore[index]
        moment = max(latest, END) + timedelta(hours=2)
        cur.execute("SELECT max(id), count(*) FROM customers")
        max_cid, n_customers = cur.fetchone()  # type: ignore[misc]
        cur.execute("SELECT max(id), count(*) FROM order_items")
        max_item, n_items_total = cur.fetchone()  # type: ignore[misc]
        cur.execute("SELECT max(id) FROM orders")
        max_oid = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("SELECT price FROM products ORDER BY id")
        prices = [r[0] for r in cur.fetchall()]
        n_items = rows if rows is not None else max(30, n_items_total // 100)
        # new customers
        new = max(1, n_customers // 50)
        addresses: dict[int, str] = {}
        for i in range(new):
            cid = max_cid + 1 + i
            address = fake.address().replace("\n", ", ")
            addresses[cid] = address
            cur.execute(
                "INSERT INTO customers (id, name, email, phone, address, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    cid,
                    fake.name(),
                    f"{fake.user_name()}{cid}@{fake.free_email_domain()}",
                    fake.phone_number(),
                    address,
                    moment,
                    moment,
                ),
            )
        counts["new_customers"] = new
        # some customers move
        movers = rng.sample(range(1, max_cid + 1), min(max_cid, max(3, n_customers // 100)))
        for cid in movers:
            cur.execute(
                "UPDATE customers SET address = %s, updated_at = %s WHERE id = %s",
                (fake.address().replace("\n", ", "), moment + timedelta(minutes=5), cid),
            )
        # some prices change
        repriced = rng.sample(range(1, len(prices) + 1), max(1, len(prices) // 100))
        for pid in repriced:
            cur.execute(
                "UPDATE products SET price = round(price * %s, 2), updated_at = %s WHERE id = %s",
                (Decimal("1.10"), moment + timedelta(minutes=7), pid),
            )
        # open orders move on
        cur.execute(
            "UPDATE orders SET status = CASE lower(trim(status)) WHEN 'pending' THEN 'processing' "
            "WHEN 'processing' THEN 'shipped' ELSE 'completed' END, updated_at = %s "
            "WHERE lower(trim(status)) IN ('pending', 'processing', 'shipped') AND id %% 3 = %s",
            (moment + timedelta(minutes=10), day % 3),
        )
        counts["updated"] = cur.rowcount + len(movers) + len(repriced)
        # new orders and items
        orders = _Copy(cur, "orders", _COLUMNS["orders"])
        items = _Copy(cur, "order_items", _COLUMNS["order_items"])
        ids = range(1, max_cid + new + 1)
        _orders(
            rng,
            orders,
            items,
            addresses,
            prices,
            first_order=max_oid + 1,
            first_item=max_item + 1,
            n_orders=max(1, round(n_items / 3)),
            n_items=n_items,
            start=moment,
            end=moment + timedelta(hours=12),
            customer_ids=ids,
        )
        for table in ("customers", "orders", "order_items"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
    counts["new_orders"], counts["new_items"] = orders.n, items.n
    return counts
