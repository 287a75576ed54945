"""Synthetic raw input for the ``product-platform`` template: a specialty food manufacturer.

The seed system (a dbt + Airflow warehouse on Databricks / Snowflake / BigQuery) loaded eight
domains exported by the company's systems. This module writes look-alike exports at any scale,
with consistent foreign keys and the dirt the silver layer must handle.

Public API: :func:`generate` (``python -m medallion.templates.product_platform.generate --rows N``)
and :func:`generate_increment` (a later day's file drop, ``--day N``).

Files (one per source system, in the format that system exports)
-----------------------------------------------------------------
* ``products.csv`` (ERP item master)  product_id, sku, product_name, category, pack_size,
  list_price, standard_cost, shelf_life_days, launch_date, status, updated_at
* ``recipes.csv`` (recipe management)  recipe_id, product_id, recipe_name, version, batch_yield,
  batch_minutes, is_active, effective_date
* ``recipe_lines.csv``  recipe_line_id, recipe_id, line_number, ingredient, quantity, uom,
  unit_cost (per kg, litre or piece: the ingredient's base unit)
* ``customers.csv`` (CRM)  customer_id, customer_name, customer_type, email, phone, city, state,
  country, signup_date, updated_at
* ``orders.json`` (order platform API, one JSON object per line)  order_id, customer_id,
  order_ts, channel, status, payment_method, promo_code, updated_at
* ``order_lines.parquet`` (order platform table dump)  order_line_id, order_id, line_number,
  product_id, quantity, unit_price (double), discount_pct (double)
* ``shipments.csv`` (3PL)  shipment_id, order_id, carrier, tracking_number, shipped_date,
  promised_date, delivered_date, status, shipping_cost, updated_at
* ``returns.csv`` (customer service)  return_id, order_line_id, return_date, quantity_returned,
  return_reason, refund_amount, item_condition
* ``waste.csv`` (plant floor logs)  waste_id, waste_date, facility, product_id, batch_code,
  waste_reason, quantity, waste_cost
* ``quality_inspections.json`` (QA tablet app)  inspection_id, batch_code, product_id,
  inspected_at, inspection_type, inspector, sample_size, defects_found, result

Scale (``rows`` = order lines)
------------------------------
orders ``max(1, round(rows / 3))`` (every order has >= 1 line, ``rows`` lines in total);
customers ``max(20, orders // 4)``; products ``min(max(30, rows // 100), 2000)``, each with one
active recipe (25 % also have an older, inactive version) of 3-6 ingredients plus packaging;
``days = clamp(orders // 15, 90, 730)`` days of orders ending 2024-06-30 (order ids increase
with time); waste records ``max(10, rows // 25)``; inspections ``max(10, rows // 15)``; about
one shipment per order that left the warehouse and returns for about 4 % of delivered lines.

Consistency
-----------
Every foreign key points at a generated row (except the orphans below): lines -> orders and
products, recipes -> products, recipe lines -> recipes, shipments -> orders, returns -> order
lines, waste and inspections -> products. Order status follows the shipment: an order whose
shipment arrived by 2024-06-30 is ``delivered``, one still travelling ``shipped``, one not yet
shipped ``processing`` / ``pending``; 4 % are ``cancelled`` (no shipment). Returns come
after delivery, of lines with a quantity and a price, for at most the quantity bought (except the
over-returns below). A recipe's
ingredient quantities are drawn so its material cost per unit is 22-40 % of the list price;
``standard_cost`` is that cost +-10 % (the ERP's standard is updated yearly, the recipe is
current). Inspection results follow the acceptance rule the silver layer documents (defect rate
<= 2 % pass, <= 5 % conditional, else fail). Money is computed in integer cents.

Dirt (independent draws; rates per row)
---------------------------------------
* exact duplicate rows, 1 %: customers, recipes, orders, order lines, shipments, returns, waste,
  inspections;
* case / whitespace variants of codes, 4 % each: category, sku, status, customer_type, country
  (also ``USA`` / ``United States``), channel, order status, carrier, shipment status, reasons,
  facility, inspection type and result, ingredient, uom (also ``grams`` / ``gr`` / ``pcs`` ...,
  2 %), promo codes; customer names padded with spaces, e-mails upper-cased and padded;
* other spellings: ``is_active`` as Y/N, yes/no, true/false, 1/0; ``list_price`` with a ``$``;
  dates as ``YYYY/MM/DD`` (launch, signup); timestamps with a space instead of ``T``;
* missing values: shelf_life_days 3 %, customer_type 2 %, phone 3 %, promo codes (most orders
  have none), refund_amount 5 %, return_reason 2 %, waste_cost 4 %, shipping_cost 2 %,
  inspection result 2 % and inspector 2 %;
* invalid values the expectations catch: batch_yield 0 (3 % of recipes, at least one), recipe
  line quantity 0 (1.5 %, at least one), e-mails ``n/a`` / without a domain (0.7 %, a warning),
  order timestamps that are not timestamps (0.5 %: ``N/A``, empty, ``2024-02-30T10:00:00``,
  ``31/12/2023 10:00``), order line quantity <= 0 (0.3 %) and missing unit price (0.2 %),
  delivery before shipping (0.5 %), returned quantity 0 (1 %) or above the quantity bought
  (2 %), negative waste quantity (1.5 %, at least one), more defects than the sample (1 %, at
  least one);
* orphans: 0.3 % of orders name a customer id above the largest one (reported, not blocking).

Determinism and speed
---------------------
Same ``seed`` and ``rows`` -> byte-identical files (for a given Faker and pyarrow version): Faker
only builds name pools once, every row is drawn with ``random.Random`` streams seeded per file.
Orders, lines, shipments, returns, waste and inspections stream to the files as they are made
(order lines in Parquet row groups of 50,000; the rows a rule spoils are drawn before a file's
rows); products, recipes and customers are built in memory (small: a few objects per
customer), so memory stays about flat as ``rows`` grows (110 MB at 50,000 order lines, 130 MB
at 500,000). 1,000,000 order lines take about 12-15 s on one core. Files are written under
temporary names and moved into place at the end, so a failure leaves the previous set intact.

Daily drops (``generate_increment``, ``--day N``): see ``increment.py``.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from medallion.templates import _kit as kit
from medallion.templates._kit import CsvWriter, cumulative, publishing
from medallion.templates.product_platform import catalogue as cat
from medallion.templates.product_platform.domains import (
    END_DATE,
    FILES,
    Ids,
    Ndjson,
    OrderWriters,
    ParquetLines,
    Pools,
    customer_kinds,
    customer_weights,
    order_days,
    sizes,
    spread,
    sub_rng,
    write_customers,
    write_inspections,
    write_orders,
    write_products_and_recipes,
    write_waste,
)

__all__ = ["FILES", "HEADERS", "generate", "generate_increment", "sizes"]

HEADERS = cat.HEADERS


def generate(data_dir: Path, rows: int, seed: int = 42) -> dict[str, int]:
    """Write the ten export files for `rows` order lines into `data_dir`; {file: rows written}."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    n = sizes(rows)
    start = END_DATE - timedelta(days=n["days"] - 1)
    with publishing(data_dir, FILES) as tmp, ExitStack() as stack:
        w = {
            name: (Ndjson if name.endswith(".json") else CsvWriter)(tmp[name], HEADERS[name], stack)
            for name in FILES
            if not name.endswith(".parquet")
        }
        products = write_products_and_recipes(
            n["products"], seed, w["products.csv"], w["recipes.csv"], w["recipe_lines.csv"]
        )
        customers = customer_kinds(n["customers"], seed)
        lines = ParquetLines(tmp["order_lines.parquet"])
        write_orders(
            order_days(n["orders"], start, n["days"]),
            spread(rows, n["orders"], sub_rng(seed, "lines_per_order")),
            customers,
            cumulative(customer_weights(customers, seed)),
            n["customers"],
            products,
            seed,
            OrderWriters(w["orders.json"], lines.add, w["shipments.csv"], w["returns.csv"]),
            end=END_DATE,
            ids=Ids(),
        )
        lines.close()
        pools = Pools(seed)
        write_customers(customers, pools, sub_rng(seed, "customers"), w["customers.csv"], END_DATE)
        write_waste(n["waste"], products, start, n["days"], seed, w["waste.csv"], 1)
        write_inspections(
            n["inspections"],
            products,
            start,
            n["days"],
            seed,
            pools,
            w["quality_inspections.json"],
            1,
        )
        counts = {name: writer.count for name, writer in w.items()}
        counts["order_lines.parquet"] = lines.count
    return {name: counts[name] for name in FILES}


def generate_increment(
    data_dir: Path, day: int, rows: int | None = None, seed: int = 42
) -> dict[str, int]:
    """Write the day-`day` file drop next to the existing files (see `increment.py`)."""
    from medallion.templates.product_platform.increment import generate_increment as drop

    return drop(data_dir, day, rows, seed)


#: the command line (`python -m medallion.templates.product_platform.generate --help`)
main = kit.command(
    __package__,
    generate=generate,
    generate_increment=generate_increment,
    drop_rows="about one day's volume",
)

if __name__ == "__main__":
    raise SystemExit(main())
