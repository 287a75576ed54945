"""Synthetic raw input for the ``retail`` template: a small online shop.

The template migrates a pandas + SQLite ETL job (seed 002) whose inputs were five CSV exports.
This module writes look-alike exports in that system's own shape (same file names, columns, keys
and vocabularies, plus the kinds of dirt real exports have) at any scale, so the bronze/silver/gold
pipelines of the template can be developed, tested and benchmarked without the original data.

Public API: :func:`generate` (``python -m medallion.templates.retail.generate --rows N`` for
manual use) and :func:`generate_increment` (a later day's file drop, ``--day N``).

Files and columns (header row, ``,`` delimiter, csv-module minimal quoting, UTF-8, ``\\n``)
----------------------------------------------------------------------------------------
* ``customers.csv``   customer_id, first_name, last_name, email, phone, city, state, country,
  segment
* ``orders.csv``      order_id, customer_id, order_date, channel, total_amount, status
* ``order_lines.csv`` order_line_id, order_id, product_id, quantity, unit_price, discount_amount
* ``payments.csv``    payment_id, order_id, payment_date, payment_method, payment_status,
  payment_amount
* ``products.csv``    product_id, product_name, category, sub_category, brand, unit_price, status

Keys are text codes, a prefix and a zero-padded number: ``CUST0001``, ``ORD0001``, ``OL00001``,
``PAY0001``, ``PROD0001`` (a number past the width has more digits: ``CUST12345``).  Below,
"numbers" are the numbers in those codes.

Scale (``rows`` = number of distinct order lines; the default 3064 is the seed system's)
---------------------------------------------------------------------------------------
* order lines: exactly ``rows`` distinct keys, numbers 1..rows (plus duplicates below);
* orders: ``max(1, round(rows / 3.064))``; every order has >= 1 line (1 + a rounded exponential
  draw, capped at 25, steered so the line total is exactly ``rows``);
* customers: ``max(10, orders // 2)``; of them, exactly ``round(customers * (1 - exp(-orders /
  customers)))`` place an order (as many as if each order picked a customer uniformly): each
  order either opens a new buyer (selection sampling, so the count is exact) or goes to a buyer
  seen before; buyers are a permutation of the customers, 0.5 % of them orphans (a number above
  the largest customer: missing from customers.csv);
* products: ``min(max(20, orders // 10), 5000)``;  payments: exactly one per order;
* order dates: ``days = clamp(orders // 20, 60, 730)`` consecutive days ending 2024-06-30; order
  numbers increase with the date (the source system numbered orders sequentially).

At ``rows=3064`` this gives the seed document's inventory: 1000 orders, 500 customers (432 with an
order), 3064 order lines, 1000 payments, 100 products and 60 days (each file also holds its
duplicate lines).

Clean values (the seed system's vocabularies)
---------------------------------------------
* channel: WEB, MOBILE, STORE; order status: PLACED, SHIPPED, DELIVERED, CANCELLED;
  payment_method: CARD, UPI, PAYPAL, CASH; payment_status: SUCCESS, FAILED, PENDING; segment:
  Retail, Corporate, SME; product status: Active.
* country: 90 % ``US`` (state = USPS code), 6 % ``CA`` (province code), 4 % ``GB`` (state = the
  nation: England, Scotland, Wales, Northern Ireland).
* money: two decimals (``12.50``), computed in integer cents so sums are exact.
* ``order_date`` and ``payment_date``: ISO ``YYYY-MM-DD``; a payment is made on the order day,
  15 % of them 1-3 days later; a few order dates are broken on purpose (below).
* ``order_lines.unit_price`` is the product's ``unit_price`` except for the dirt below;
  ``orders.total_amount`` = sum over its lines of ``quantity * unit_price - discount_amount``
  except for the dirt below (the header is what the source system reports as sales).
* ``payment_amount`` = the order's ``total_amount`` as written (what the customer was charged).
* payment status follows the order: CANCELLED -> FAILED, PLACED -> PENDING, otherwise SUCCESS
  (1.5 % FAILED anyway).

Dirt (each an independent draw per row unless stated; rates are probabilities)
------------------------------------------------------------------------------
customers.csv
  * 1 %  exact duplicate: the whole line is written twice in a row;
  * 3 %  ``first_name`` messy, 3 % ``last_name`` messy: one of UPPER, lower, or surrounded by
    spaces (``"  ALICE "``, ``"smith"``, ``" Smith  "``);
  * 0.5 % ``last_name`` gets a ``", Jr."`` / ``", Sr."`` / ``", III"`` suffix (a comma, so the field
    is quoted);
  * 2 %  ``email`` upper-cased and surrounded by spaces (``" JOHN.DOE12@GMAIL.COM "``);
  * 3 %  ``phone`` empty;  2 % ``segment`` empty;  1 % ``city`` empty;
  * 2 %  ``city`` (when present) with 1-3 trailing spaces;
  * 0.5 % invalid ``email``: ``n/a``, a name with no domain (``jane.doe@``) or no ``@``.
products.csv (no duplicates: the catalogue export was clean apart from gaps)
  * 2 %  ``brand`` empty;  1.5 % ``sub_category`` empty;
  * about 10 % of book titles contain a comma (quoted field).
orders.csv
  * 1 %  exact duplicate line;
  * 3 %  ``channel`` messy, 3 % ``status`` messy: one of ``Web``, ``web``, ``" web "``,
    ``"WEB "``, ``" Web"``;
  * 2 %  ``total_amount`` differs from the sum of the lines: half of them have shipping added
    (+4.99, +9.99 or +14.99), the other half are stale (for multi-line orders the total without
    the last line, for single-line orders 90 % of the sum; never equal to the true sum);
  * 0.3 % of the orders that are not a buyer's first: ``order_date`` is not a date
    (``2024-02-30``, ``N/A``, ``31/12/2023`` or empty), so every buyer keeps a dated order.
order_lines.csv
  * 1 %  exact duplicate line;
  * 2 %  ``unit_price`` differs from the product's price (promotion / price change: x0.90 or
    x1.10, rounded to cents);
  * ``discount_amount``: 80 % ``0.00``, 18 % a discount of 5-20 % of quantity * unit_price,
    2 % empty (meaning 0);
  * 0.3 % ``quantity`` is 0 or negative (a keying error; the order header total still counts
    the line as it was meant to be).
payments.csv
  * 1 %  ``payment_amount`` is ``0.00`` (voucher / internal test order);
  * 0.2 % ``payment_amount`` is negative (a refund booked as a payment);
  * 3 %  ``payment_method`` messy (same variants as ``channel``);  30 % of STORE orders pay CASH;
  * 1 %  exact duplicate line.

Daily drops (:func:`generate_increment`, ``--day N``)
-----------------------------------------------------
A later day's export lands next to the initial files as ``<name>_day<N>.csv`` (N >= 2: day 1 is
the initial export), so the sources' ``data/<name>*.csv`` globs pick it up with the rest.  A drop
is derived from the files that exist before it: the initial export, any other file the glob
matches, and the drops of earlier days (drops of day N itself and later days are ignored, so
writing day N again rewrites the same bytes).  Those files are streamed (the customers files
twice), csv module and the needed columns only, for the largest customer, order, order line and
payment numbers, the distinct customers (a set of numbers) and order lines (key changes from the
previous row: duplicates are written in a row), the last valid ``order_date`` and the current
catalogue (the last row per product).  ``n`` below is the number of existing distinct customers.

* sizes: ``rows`` new distinct order lines (default ``max(30, existing distinct lines // 100)``)
  in ``max(1, round(rows / 3.064))`` orders, lines per order as above; every number continues
  after the largest existing one;
* dates: every new order is dated the day after the last valid existing order date (one day per
  drop: day 3 follows day 2's date), except the broken dates below; payments land that day
  (or 1-3 days later);
* orders, lines and payments follow the rules of the initial export with the same dirt at the
  same rates (the same code), at the catalogue's current prices (the drop's new prices
  included); a drop's order dates may be broken whoever the customer is.  0.5 % of the orders
  are orphans, pointing above the largest customer, the drop's new customers included (an
  orphan of an earlier day may so become a late-arriving customer);
* who orders: 10 % of the orders go to the drop's new customers, 10 % to its moved customers,
  the others to any existing customer (uniformly); the first two non-orphan orders always go to
  the first new and the first moved customer, so every drop has both;
* ``customers_day<N>.csv``: first the moved customers, ``min(n, max(3, n // 100))`` existing
  customers sampled uniformly, in number order: their latest row as written (same customer_id,
  first_name, last_name, email, phone, country, segment) with a new city and state in the same
  country (US: the city pool, CA and GB: the lists above), never the previous city (compared
  trimmed and case-insensitively); 2 % of them get 1-3 trailing spaces on the city and 1 % an
  exact duplicate line.  A merge on customer_id keeps the new city, an SCD2 history the old one
  too.  Then ``max(1, n // 50)`` new customers, numbers after the largest one, drawn like the
  initial customers (same dirt);
* ``products_day<N>.csv`` (always written: at least one price changes): ``max(1, products //
  100)`` products sampled uniformly, in number order, each with its current row and a new
  ``unit_price``: the old one times 0.8, 0.9, 1.1 or 1.25, rounded down to whole units and ending
  in .99 (never the old price);
* determinism: the same existing files, ``day``, ``rows`` and ``seed`` give byte-identical drop
  files; the random streams are seeded from ``(seed, day)`` (named ``day<N>:orders``,
  ``day<N>:customers``, ...), so day N's draws do not depend on the other days' rules;
* errors: ``ValueError`` when ``day < 2``, ``rows < 1``, the folder or one of the five initial
  files is missing, or the existing files lack the needed columns, customers, a valid order date
  or a catalogue with products PROD0001..PROD<N>.

Determinism
-----------
Same ``seed`` and ``rows`` give byte-identical files (for a given Faker version: Faker only
builds name/city/word pools once; every row is drawn from those pools with ``random.Random``
streams seeded per file, so changing the rules of one file does not reshuffle the others).

Performance
-----------
Rows are streamed to the files in chunks (bounded memory at any scale: nothing is kept per order
or customer; who buys is a permutation, not a set); only the product catalogue (<= 5000 rows) and
the pools stay in memory.  Files are written under temporary names and moved into place with
``os.replace`` at the end, so readers never see half-written files.  A daily drop reads the
existing files row by row (the customers files twice) and keeps only the set of customer numbers,
the distinct order dates and the catalogue in memory.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path

from medallion.templates import _kit as kit
from medallion.templates._kit import CsvWriter, money, publishing, sub_rng
from medallion.templates.retail._drops import generate_increment
from medallion.templates.retail._master import Pools, customer_rows, product_rows
from medallion.templates.retail._orders import Buyers, stream_orders
from medallion.templates.retail._vocab import (
    FILES,
    HEADERS,
    LINES_PER_ORDER,
    MAX_DAYS,
    MIN_DAYS,
    P_ORPHAN,
)

__all__ = ["FILES", "HEADERS", "generate", "generate_increment", "main", "sizes"]


def sizes(rows: int) -> dict[str, int]:
    """Distinct entity counts for a given number of order lines (before duplicates): the seed
    system's proportions, so rows=3064 gives its 1000 orders, 500 customers, 432 of them with an
    order, 100 products and 60 days."""
    rows = max(1, int(rows))
    n_orders = max(1, round(rows / LINES_PER_ORDER))
    n_customers = max(10, n_orders // 2)
    return {
        "order_lines": rows,
        "orders": n_orders,
        "customers": n_customers,
        # as many as if each order went to a customer drawn uniformly (the seed's 432 of 500)
        "buyers": min(n_orders, round(n_customers * -math.expm1(-n_orders / n_customers))),
        "products": min(max(20, n_orders // 10), 5000),
        "days": min(max(n_orders // 20, MIN_DAYS), MAX_DAYS),
    }


def generate(data_dir: Path, rows: int = 3064, seed: int = 42) -> dict[str, int]:
    """Write customers.csv, orders.csv, order_lines.csv, payments.csv, products.csv into data_dir
    (created if missing, existing files overwritten atomically: write to a temp name then
    os.replace).  `rows` is the number of ORDER LINES (scale from ~100 to 10,000,000).
    Returns {file name: data rows written} (duplicated lines included)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    n = sizes(rows)
    pools = Pools(seed)

    with publishing(data_dir, FILES) as tmp, ExitStack() as stack:
        w = {name: CsvWriter(tmp[name], HEADERS[name], stack) for name in FILES}

        prices: list[int] = []
        for prow in product_rows(n["products"], pools, sub_rng(seed, "products")):
            prices.append(prow[5])
            w["products.csv"].add((*prow[:5], money(prow[5]), prow[6]))

        for crow in customer_rows(n["customers"], pools, sub_rng(seed, "customers")):
            w["customers.csv"].add(crow)

        buyers = Buyers(n["orders"], n["customers"], n["buyers"], sub_rng(seed, "buyers"), P_ORPHAN)
        stream_orders(
            n["orders"],
            n["order_lines"],
            n["days"],
            prices,
            seed,
            w["orders.csv"].add,
            w["order_lines.csv"].add,
            w["payments.csv"].add,
            pick_customer=buyers,
        )
        counts = {name: w[name].count for name in FILES}
    return counts


#: the command line (`python -m medallion.templates.retail.generate --help`)
main = kit.command(
    __package__,
    generate=generate,
    generate_increment=generate_increment,
    drop_rows="1%% of the existing ones, >= 30",
    default_out=Path("data/retail/raw"),
)

if __name__ == "__main__":
    raise SystemExit(main())
