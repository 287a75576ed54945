"""Synthetic raw input for the ``customer-insights`` template (the Fabric workspace of seed 000).

The seed's ingestion notebook loads ``customers.csv`` (a CRM export), ``orders.json`` (an order
API's export, one JSON object per line, line items nested) and ``products.parquet`` (the product
catalogue).  This module writes look-alike files at any scale, with the dirt such sources have,
so the template's bronze -> silver -> gold models can be developed, tested and benchmarked
without the original data.

Public API: :func:`generate` and :func:`generate_increment` (a later day's file drop);
``python -m medallion.templates.customer_insights.generate --rows N [--day N]`` for manual use.

Files and fields
----------------
* ``customers.csv`` (header row, ``,``, every text value quoted, UTF-8): customer_id,
  first_name, last_name, email, phone, city, country, signup_date (``YYYY-MM-DD``),
  marketing_opt_in, updated_at (``YYYY-MM-DD HH:MM:SS``, when the CRM last changed the record).
* ``orders.json`` (newline-delimited JSON): ``{"order_id", "customer_id", "order_date",
  "status", "channel", "payment_method", "updated_at", "items": [{"product_id", "quantity",
  "unit_price", "discount"}]}``; amounts are JSON numbers with two decimals.
* ``products.parquet``: product_id (int64), sku, product_name, category, subcategory, brand,
  unit_price (decimal(10,2)), is_active (bool), updated_at (timestamp).

Scale (``rows`` = distinct orders)
----------------------------------
* orders: exactly ``rows`` distinct order ids, 100001 upwards in order of their timestamp;
* customers: ``max(20, rows // 4)``;  products: ``min(max(40, rows // 25), 5000)``;
* days: ``min(730, max(365, rows // 100))`` consecutive days ending 2024-12-31;
* items per order: 1 + an exponential draw (mean about 2), at most 8.

Customers have a life: each has a first active day (a sixth were customers before the window
starts) and a lifetime of 30-150 % of the window; their orders fall inside it.  Who orders is
skewed (a random "propensity" order of customers, u ** 1.4), so order counts range from one to
dozens and RFM scores spread: some customers are recent and frequent, others stopped long ago.
Products sell with a popularity skew (low ids sell more).  Order status follows the order's
age: orders of the last days are pending / processing / shipped, older ones delivered,
cancelled (6 %) or returned (6 %).

Dirt (independent draws per row; rates are probabilities)
---------------------------------------------------------
customers.csv
  * 1 % exact duplicate line; 3 % of customers also have an older version (an earlier
    ``updated_at``, another city or email) on the line before their current one;
  * 3 % ``first_name`` and 3 % ``last_name`` upper-cased, lower-cased or padded with spaces;
  * 2 % ``email`` upper-cased and padded; 0.5 % invalid (``n/a``, no domain, no ``@``);
  * 4 % ``phone`` missing; 1 % ``city`` missing; 2 % ``city`` with trailing spaces;
  * ``country``: 80 % the ISO code, else one of its spellings (``us``, ``USA``, ``United
    States``; ``UK``, ``United Kingdom``; ``Deutschland``, ...), 2 % padded with spaces;
  * ``marketing_opt_in`` written as ``Y``/``N``, ``yes``/``no``, ``true``/``false``, ``1``/``0``
    (3 % missing); 1 % ``signup_date`` missing.
orders.json
  * 1 % exact duplicate line (an API retry); 3 % of delivered, shipped or returned orders also
    have an earlier version (status ``processing``, an earlier ``updated_at``);
  * 0.1 % a truncated line (the export was cut mid-record, then the record written again in
    full on the next line): bronze quarantines the malformed line, nothing is lost;
  * ``order_date``: 75 % ``YYYY-MM-DDTHH:MM:SSZ``, 25 % ``YYYY-MM-DD HH:MM:SS`` (a second
    system); 0.3 % not a date (``N/A``, ``2024-02-30``, ``31/12/2024``, empty);
  * 0.5 % ``customer_id`` of no customer (above the largest id); 0.3 % ``customer_id`` null;
  * 3 % ``status``, 3 % ``channel`` mis-cased or padded (``Delivered``, ``" WEB "``);
  * 0.5 % an empty ``items`` list; per item: 0.3 % quantity 0 or negative, 0.2 %
    ``unit_price`` null, 0.2 % a ``product_id`` not in the catalogue, 3 % a promotional price
    (x0.9 or x1.1 the list price), 15 % a discount of 5-20 % of the line.
products.parquet
  * 3 % of products also have an older version (another price, an earlier ``updated_at``);
    0.5 % exact duplicate rows;
  * 3 % ``category`` mis-cased or padded; 1.5 % ``subcategory`` and 2 % ``brand`` null;
  * 2 % ``unit_price`` zero or negative (a catalogue error the silver rules catch).

Daily drops (:func:`generate_increment`, ``--day N``)
-----------------------------------------------------
A later day's export lands next to the initial files as ``customers_day<N>.csv``,
``orders_day<N>.json`` and ``products_day<N>.parquet`` (N >= 2), so the sources' globs pick them
up.  A drop is derived from the files that exist before it (the initial export, other matching
files, and the drops of earlier days; drops of day N and later are ignored, so writing day N
again writes the same bytes):

* orders: ``rows`` new orders (default ``max(20, existing distinct orders // 100)``) dated the
  day after the last valid order date, ids after the largest one, 15 % of them (and always the
  day's first) by the drop's new customers, the others by existing customers (uniformly), with
  the same dirt; and every open order (pending, processing, shipped in its latest version) of
  the last 14 days again, one status further (pending -> processing or cancelled, processing ->
  shipped, shipped -> delivered) with the drop day's ``updated_at``: a merge on order_id
  replaces it;
* customers: ``max(1, n // 50)`` new customers (ids after the largest) who signed up that day,
  and ``max(2, n // 100)`` existing customers with a new city and ``updated_at`` (their latest
  row otherwise as written);
* products: ``max(1, n // 100)`` products with a new price and ``max(1, n // 100)`` new products
  (ids after the largest; the new orders may buy them).

Determinism and performance
---------------------------
Same ``seed`` and ``rows`` give byte-identical files (for given pyarrow and Faker versions).
Faker only builds small pools of names and cities, once; every row is drawn from them with
``pyarrow.compute.random`` streams seeded from (seed, file, draw), and all columns are computed
as Arrow arrays (no Python loop per row).  Customers and orders are made and written in
blocks of 20,000 (``BLOCK``), each with its own streams (``customers:<block>``,
``orders:<block>``), so memory stays about flat as ``rows`` grows: 180 MB at 50,000 orders,
230 MB at 500,000 (what still grows is a few integers per order and customer: who ordered
when).  Files are written under temporary names and moved into place at the end, so readers
never see half a file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medallion.templates import _kit as kit
from medallion.templates._kit import publishing
from medallion.templates.customer_insights._arrow import (
    DAY,
    CsvFile,
    Stream,
    append_lines,
    date_seconds,
    index,
)
from medallion.templates.customer_insights._drops import generate_increment
from medallion.templates.customer_insights._rows import (
    END_DATE,
    FILES,
    FIRST_ORDER_ID,
    Pools,
    customer_profiles,
    customers_table,
    orders_table,
    products_table,
)

__all__ = ["FILES", "generate", "generate_increment", "sizes"]

MIN_DAYS, MAX_DAYS = 365, 730
#: customers and orders are made and written this many at a time, each block with its own
#: random streams (``customers:<block>``, ``orders:<block>``): the memory a block takes does not
#: grow with the scale, and the files do not depend on how blocks are written
BLOCK = 20_000


def sizes(rows: int) -> dict[str, int]:
    """Distinct entity counts for `rows` orders."""
    rows = max(1, int(rows))
    return {
        "orders": rows,
        "customers": max(20, rows // 4),
        "products": min(max(40, rows // 25), 5000),
        "days": min(MAX_DAYS, max(MIN_DAYS, rows // 100)),
    }


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def generate(data_dir: Path, rows: int = 2000, seed: int = 42) -> dict[str, int]:
    """Write customers.csv, orders.json and products.parquet into `data_dir` (created if
    missing; existing files replaced atomically).  `rows` is the number of distinct ORDERS.
    Returns {file name: rows written} (older versions and duplicates included)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    n = sizes(rows)
    days = n["days"]
    start_s = date_seconds(END_DATE - timedelta(days=days - 1))
    now = start_s + days * DAY - 1
    pools = Pools(seed)

    # products
    rnd = Stream(seed, "products")
    p_ids = pa.array(range(1, n["products"] + 1), pa.int64())
    p_updated = pc.subtract(start_s, index(rnd(len(p_ids)), 365 * DAY))
    products, prices = products_table(p_ids, p_updated, rnd)

    # customers: profiles decide when each one orders
    rnd = Stream(seed, "customers")
    n_c = n["customers"]
    signup, first, span = customer_profiles(n_c, days, rnd)
    c_ids = pa.array(range(1, n_c + 1), pa.int64())
    signup_days = pc.subtract(
        pc.add(start_s // DAY, signup), index(rnd(n_c), 20)
    )  # signed up up to 20 days before the first possible order
    signup_s = pc.multiply(signup_days, DAY)
    c_updated = pc.add(signup_s, index(rnd(n_c), pc.subtract(now, signup_s)))

    # orders: who (propensity skew), when (inside the customer's active span)
    rnd = Stream(seed, "orders")
    n_o = n["orders"]
    propensity = pc.sort_indices(rnd(n_c))
    who = pc.take(propensity, index(pc.power(rnd(n_o), 1.4), n_c))
    day = pc.add(pc.take(first, who), index(rnd(n_o), pc.take(span, who)))
    seconds = pc.add(pc.add(start_s, pc.multiply(day, DAY)), index(rnd(n_o), DAY))
    by_time = pc.sort_indices(seconds)
    seconds = pc.take(seconds, by_time)
    customer_ids = pc.add(pc.take(who, by_time), 1)
    del who, day, by_time, propensity

    customer_rows = lines = 0
    with publishing(data_dir, FILES) as tmp:
        pq.write_table(products, tmp["products.parquet"])
        with CsvFile(tmp["customers.csv"]) as out:
            for block, start in enumerate(range(0, n_c, BLOCK)):
                stop = min(n_c, start + BLOCK)
                customers = customers_table(
                    c_ids[start:stop],
                    signup_days[start:stop],
                    c_updated[start:stop],
                    pools,
                    Stream(seed, f"customers:{block}"),
                )
                out.write(customers)
                customer_rows += customers.num_rows
        with open(tmp["orders.json"], "w", encoding="utf-8", newline="\n") as fh:
            for block, start in enumerate(range(0, n_o, BLOCK)):
                stop = min(n_o, start + BLOCK)
                orders = orders_table(
                    pa.array(range(FIRST_ORDER_ID + start, FIRST_ORDER_ID + stop), pa.int64()),
                    customer_ids[start:stop],
                    seconds[start:stop],
                    now,
                    prices,
                    n_c,
                    Stream(seed, f"orders:{block}"),
                )
                append_lines(orders["line"], fh)
                lines += orders.num_rows
    return {
        "customers.csv": customer_rows,
        "orders.json": lines,
        "products.parquet": products.num_rows,
    }


#: the command line (`python -m medallion.templates.customer_insights.generate --help`)
main = kit.command(
    __package__,
    generate=generate,
    generate_increment=generate_increment,
    drop_rows="1%% of the existing ones, >= 20",
)

if __name__ == "__main__":
    raise SystemExit(main())
