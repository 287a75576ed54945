"""Synthetic raw input for the ``retail`` template: a small online shop.

The template migrates a pandas + SQLite ETL job whose inputs were five CSV exports.  This module
writes look-alike exports (same file names, same columns, same kinds of dirt) at any scale, so the
bronze/silver/gold pipelines of the template can be developed, tested and benchmarked without the
original data.

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

Scale (``rows`` = number of distinct order lines)
------------------------------------------------
* order lines: exactly ``rows`` distinct ``order_line_id`` values 1..rows (plus duplicates below);
* orders: ``max(1, round(rows / 3))``; every order has >= 1 line (1 + a rounded exponential draw,
  capped at 25, steered so the line total is exactly ``rows``);
* customers: ``max(10, orders // 2)``;  products: ``min(max(20, rows // 30), 5000)``;
* payments: about one per order (see below);
* order dates: ``days = clamp(orders // 20, 60, 730)`` consecutive days ending 2024-06-30; order
  ids increase with the date (the source system numbered orders sequentially).

At ``rows=3064`` this gives 1021 orders, 510 customers, 102 products and 60 days, close to the
seed system (1000 / 500 / 100 / 60).

Clean values
------------
* channel: web, mobile, store, marketplace; order status: completed, shipped, pending, cancelled,
  returned; payment_method: credit_card, paypal, bank_transfer, gift_card, cash; payment_status:
  completed, failed, declined, refunded, pending; segment: consumer, corporate, small_business;
  product status: active, discontinued.
* country: 90 % ``US`` (state = USPS code), 6 % ``CA`` (province code), 4 % ``GB`` (state = the
  nation: England, Scotland, Wales, Northern Ireland).
* money: two decimals (``12.50``), computed in integer cents so sums are exact.
* ``order_date``: ``YYYY-MM-DD``; ``payment_date``: ``YYYY-MM-DD HH:MM:SS`` (shortly after the
  order; bank transfers 1-3 days later); a few order dates are broken on purpose (below).
* ``order_lines.unit_price`` is the product's ``unit_price`` except for the dirt below;
  ``orders.total_amount`` = sum over its lines of ``quantity * unit_price - discount_amount``.
* ``payment_amount`` = the order's ``total_amount`` as written (what the customer was charged).
* single-payment status follows the order: returned/cancelled -> refunded, pending -> pending,
  otherwise completed.

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
  * 0.5 % orphan ``customer_id``: a value above the largest customer id (no such customer);
  * 3 %  ``channel`` messy, 3 % ``status`` messy: one of ``Web``, ``WEB``, ``" web"``,
    ``"web "``, ``" WEB "``;
  * 2 %  ``total_amount`` differs from the sum of the lines: half of them have shipping added
    (+4.99, +9.99 or +14.99), the other half are stale (for multi-line orders the total without
    the last line, for single-line orders 90 % of the sum; never equal to the true sum);
  * 0.3 % ``order_date`` is not a date: ``2024-02-30``, ``N/A``, ``31/12/2023`` or empty.
order_lines.csv
  * 1 %  exact duplicate line;
  * 2 %  ``unit_price`` differs from the product's price (promotion / price change: x0.90 or
    x1.10, rounded to cents);
  * ``discount_amount``: 80 % ``0.00``, 18 % a discount of 5-20 % of quantity * unit_price,
    2 % empty (meaning 0);
  * 0.3 % ``quantity`` is 0 or negative (a keying error; the order header total still counts
    the line as it was meant to be).
payments.csv
  * per order: 2 % no payment row at all; 2 % are retry candidates: if the order's payment is
    ``completed`` (not refunded/pending) it gets two rows, a ``failed`` or ``declined`` attempt
    then, 1-30 minutes later, the ``completed`` payment (about 1.6 % of orders overall); every
    other order gets one row;
  * 1.5 % of single payments are ``failed`` or ``declined`` (so the order was never paid);
  * 1 %  ``payment_amount`` is ``0.00`` (voucher / internal test order);
  * 0.2 % ``payment_amount`` is negative (a refund booked as a payment);
  * 3 %  ``payment_method`` messy (same variants as ``channel``);
  * 1 %  exact duplicate line.

Daily drops (:func:`generate_increment`, ``--day N``)
-----------------------------------------------------
A later day's export lands next to the initial files as ``<name>_day<N>.csv`` (N >= 2: day 1 is
the initial export), so the sources' ``data/<name>*.csv`` globs pick it up with the rest.  A drop
is derived from the files that exist before it: the initial export, any other file the glob
matches, and the drops of earlier days (drops of day N itself and later days are ignored, so
writing day N again rewrites the same bytes).  Those files are streamed (the customers files
twice), csv module and the needed columns only, for the largest customer_id, order_id,
order_line_id and payment_id, the distinct customers (a set of ids) and order lines (id changes
from the previous row: duplicates are written in a row), the last valid ``order_date`` and the
current catalogue (the last row per product_id).  ``n`` below is the number of existing distinct
customers.

* sizes: ``rows`` new distinct order lines (default ``max(30, existing distinct lines // 100)``)
  in ``max(1, round(rows / 3))`` orders, lines per order as above; every id continues after the
  largest existing one;
* dates: every new order is dated the day after the last valid existing order date (one day per
  drop: day 3 follows day 2's date), except the broken dates below; payments land that day
  (bank transfers 1-3 days later);
* orders, lines and payments follow the rules of the initial export with the same dirt at the
  same rates (the same code: messy enums, duplicates, bad totals, price drift, discounts, failed
  and retried payments, orphans, bad quantities, broken dates, zero and negative payments), at
  the catalogue's current prices (the drop's new prices included).  Orphans point above the
  largest customer id, the drop's new customers included (an orphan of an earlier day may so
  become a late-arriving customer);
* who orders: 10 % of the orders go to the drop's new customers, 10 % to its moved customers,
  the others to any existing customer (uniformly); the first two non-orphan orders always go to
  the first new and the first moved customer, so every drop has both;
* ``customers_day<N>.csv``: first the moved customers, ``min(n, max(3, n // 100))`` existing
  customers sampled uniformly, in id order: their latest row as written (same customer_id,
  first_name, last_name, email, phone, country, segment) with a new city and state in the same
  country (US: the city pool, CA and GB: the lists above), never the previous city (compared
  trimmed and case-insensitively); 2 % of them get 1-3 trailing spaces on the city and 1 % an
  exact duplicate line.  A merge on customer_id keeps the new city, an SCD2 history the old one
  too.  Then ``max(1, n // 50)`` new customers, ids after the largest one, drawn like the
  initial customers (same dirt);
* ``products_day<N>.csv`` (always written: at least one price changes): ``max(1, products //
  100)`` products sampled uniformly, in id order, each with its current row and a new
  ``unit_price``: the old one times 0.8, 0.9, 1.1 or 1.25, rounded down to whole units and ending
  in .99 (never the old price);
* determinism: the same existing files, ``day``, ``rows`` and ``seed`` give byte-identical drop
  files; the random streams are seeded from ``(seed, day)`` (named ``day<N>:orders``,
  ``day<N>:customers``, ...), so day N's draws do not depend on the other days' rules;
* errors: ``ValueError`` when ``day < 2``, ``rows < 1``, the folder or one of the five initial
  files is missing, or the existing files lack the needed columns, customers, a valid order date
  or a catalogue with product ids 1..N.

Determinism
-----------
Same ``seed`` and ``rows`` give byte-identical files (for a given Faker version: Faker only
builds name/city/word pools once; every row is drawn from those pools with ``random.Random``
streams seeded per file, so changing the rules of one file does not reshuffle the others).

Performance
-----------
Rows are streamed to the files in chunks (bounded memory at any scale); only the product
catalogue (<= 5000 rows) and the pools stay in memory.  Files are written under temporary names
and moved into place with ``os.replace`` at the end, so readers never see half-written files.
A daily drop reads the existing files row by row (the customers files twice) and keeps only the
set of customer ids, the distinct order dates and the catalogue in memory: about 2 s for a 1 %
drop on 1,000,000 existing order lines, most of it csv parsing.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from medallion.templates import _kit as kit
from medallion.templates._kit import (
    MESSY_NAME,
    CsvWriter,
    Spellings,
    check_drop,
    clock,
    drop_name,
    existing_files,
    expand,
    faker,
    invalid_email,
    money,
    new_shop_price,
    other_city,
    publishing,
    require_files,
    sub_rng,
    us_cities,
)

__all__ = ["FILES", "HEADERS", "generate", "generate_increment", "sizes"]

# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------

HEADERS: dict[str, tuple[str, ...]] = {
    "customers.csv": (
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "city",
        "state",
        "country",
        "segment",
    ),
    "orders.csv": ("order_id", "customer_id", "order_date", "channel", "total_amount", "status"),
    "order_lines.csv": (
        "order_line_id",
        "order_id",
        "product_id",
        "quantity",
        "unit_price",
        "discount_amount",
    ),
    "payments.csv": (
        "payment_id",
        "order_id",
        "payment_date",
        "payment_method",
        "payment_status",
        "payment_amount",
    ),
    "products.csv": (
        "product_id",
        "product_name",
        "category",
        "sub_category",
        "brand",
        "unit_price",
        "status",
    ),
}
FILES: tuple[str, ...] = tuple(HEADERS)

END_DATE = date(2024, 6, 30)
MIN_DAYS, MAX_DAYS = 60, 730
MAX_LINES_PER_ORDER = 25

# ---------------------------------------------------------------------------------------------
# Dirt rates (documented in the module docstring; keep both in sync)
# ---------------------------------------------------------------------------------------------

P_DUP = 0.01  # exact duplicate line (customers, orders, order_lines, payments)
P_MESSY_NAME = 0.03  # per name field
P_NAME_SUFFIX = 0.005
P_MESSY_EMAIL = 0.02
P_NO_PHONE = 0.03
P_NO_SEGMENT = 0.02
P_NO_CITY = 0.01
P_CITY_TRAILING = 0.02
P_NO_BRAND = 0.02
P_NO_SUB_CATEGORY = 0.015
P_BOOK_COMMA = 0.10
P_ORPHAN = 0.005
P_MESSY_ENUM = 0.03  # channel, status, payment_method
P_BAD_TOTAL = 0.02
P_PRICE_DRIFT = 0.02
P_DISCOUNT = 0.18
P_DISCOUNT_EMPTY = 0.02
P_NO_PAYMENT = 0.02
P_RETRY_PAYMENT = 0.02
P_FAILED_SINGLE = 0.015
P_ZERO_PAYMENT = 0.01
# Dirt the template's data-quality rules catch (silver expectations quarantine these rows).
P_BAD_EMAIL = 0.005  # "n/a", no domain, no '@'
P_BAD_QUANTITY = 0.003  # 0 or a negative quantity on an order line
P_BAD_DATE = 0.003  # an order_date that is not a date
P_NEGATIVE_PAYMENT = 0.002  # a refund booked as a negative payment

# ---------------------------------------------------------------------------------------------
# Fixed vocabularies
# ---------------------------------------------------------------------------------------------

# Weighted tables are expanded to 100-entry lists so a draw is one random() and one index.
CHANNELS = {"web": 45, "mobile": 30, "store": 15, "marketplace": 10}
ORDER_STATUSES = {"completed": 70, "shipped": 12, "pending": 8, "cancelled": 6, "returned": 4}
PAYMENT_METHODS = {"credit_card": 50, "paypal": 25, "bank_transfer": 10, "gift_card": 10, "cash": 5}
SEGMENTS = {"consumer": 70, "corporate": 15, "small_business": 15}
# Quantity is mostly 1; the tail makes line amounts less uniform.
QUANTITIES = {1: 60, 2: 22, 3: 9, 4: 5, 5: 3, 10: 1}

CA_PROVINCES = ("ON", "QC", "BC", "AB", "MB", "NS", "SK", "NB")
CA_CITIES = (
    "Toronto",
    "Montreal",
    "Vancouver",
    "Calgary",
    "Ottawa",
    "Edmonton",
    "Winnipeg",
    "Halifax",
    "Quebec City",
    "Victoria",
)
GB_CITIES = (
    ("London", "England"),
    ("Manchester", "England"),
    ("Birmingham", "England"),
    ("Leeds", "England"),
    ("Bristol", "England"),
    ("Edinburgh", "Scotland"),
    ("Glasgow", "Scotland"),
    ("Cardiff", "Wales"),
    ("Swansea", "Wales"),
    ("Belfast", "Northern Ireland"),
)
EMAIL_DOMAINS = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "example.com",
)
NAME_SUFFIXES = (", Jr.", ", Sr.", ", III")

# category -> (price range in cents, brands, {sub_category: product nouns})
CATALOGUE: dict[str, tuple[tuple[int, int], tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "Electronics": (
        (1_999, 199_999),
        ("Voltix", "Nordal", "Sonique", "Pixelon", "Arcwave", "Kestrel"),
        {
            "Phones": ("Smartphone", "Phone Case", "Charger", "Screen Protector"),
            "Laptops": ("Laptop", "Ultrabook", "Laptop Stand", "Docking Station"),
            "Audio": ("Headphones", "Earbuds", "Bluetooth Speaker", "Soundbar"),
            "Cameras": ("Action Camera", "Webcam", "Tripod", "Camera Bag"),
        },
    ),
    "Home": (
        (499, 89_999),
        ("Hearthly", "Casa Nova", "Oakline", "Brightnest", "Kivo"),
        {
            "Kitchen": ("Chef Knife", "Frying Pan", "Blender", "Coffee Maker", "Cutting Board"),
            "Furniture": ("Bookshelf", "Desk Chair", "Side Table", "Sofa Bed"),
            "Decor": ("Table Lamp", "Wall Clock", "Vase", "Picture Frame"),
            "Bedding": ("Duvet Cover", "Pillow", "Throw Blanket", "Sheet Set"),
        },
    ),
    "Clothing": (
        (799, 24_999),
        ("Threadline", "Urban Fox", "Northpeak", "Maison Lys", "Riverstone"),
        {
            "Men": ("T-Shirt", "Oxford Shirt", "Chinos", "Hoodie", "Rain Jacket"),
            "Women": ("Blouse", "Summer Dress", "Cardigan", "Jeans", "Trench Coat"),
            "Kids": ("Pajama Set", "Sneakers", "Raincoat", "Sweatshirt"),
        },
    ),
    "Sports": (
        (999, 59_999),
        ("Peakform", "Trailhawk", "Velox", "Ironclad", "Summit Co"),
        {
            "Outdoor": ("Tent", "Sleeping Bag", "Hiking Backpack", "Camping Stove"),
            "Fitness": ("Yoga Mat", "Dumbbell Set", "Resistance Bands", "Jump Rope"),
            "Cycling": ("Bike Helmet", "Bike Light", "Cycling Gloves", "Water Bottle"),
        },
    ),
    "Books": (
        (499, 4_999),
        ("Penfold Press", "Bluefern Books", "Harbor House", "Quillmark"),
        {"Fiction": (), "Non-fiction": (), "Children": ()},  # names come from Faker words
    ),
    "Beauty": (
        (399, 12_999),
        ("Lumiere", "Glowra", "Pure Botanica", "Velvette"),
        {
            "Skincare": ("Face Serum", "Moisturizer", "Sunscreen SPF 50", "Cleanser"),
            "Makeup": ("Lipstick", "Mascara", "Foundation", "Eyeshadow Palette"),
        },
    ),
}
CATEGORY_WEIGHTS = {
    "Electronics": 22,
    "Home": 20,
    "Clothing": 22,
    "Sports": 14,
    "Books": 12,
    "Beauty": 10,
}
ADJECTIVES = (
    "Classic",
    "Pro",
    "Ultra",
    "Essential",
    "Premium",
    "Compact",
    "Deluxe",
    "Eco",
    "Smart",
    "Lite",
    "Max",
    "Everyday",
    "Wireless",
    "Vintage",
    "Modern",
)
COLORS = ("Black", "White", "Navy", "Grey", "Red", "Green", "Blue", "Sand", "Olive", "Rose")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _email_part(name: str) -> str:
    """Lower-case ASCII letters only: Faker names can carry apostrophes or spaces."""
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalpha()) or "user"


#: the messy spellings of the enum columns (channel, status, payment_method)
ENUM_SPELLINGS = Spellings("{capitalized}", "{upper}", " {value}", "{value} ", " {upper} ")


class _Pools:
    """Small value pools built once with Faker; rows are drawn from them with random.Random."""

    def __init__(self, seed: int) -> None:
        fake = faker(seed)
        # Keep duplicates in the name pools: frequent names then stay frequent, as in real data.
        self.first_names = [fake.first_name() for _ in range(2000)]
        self.last_names = [fake.last_name() for _ in range(2000)]
        self.us_cities = us_cities(fake, 500)
        # dict.fromkeys keeps first-seen order; a set would depend on PYTHONHASHSEED.
        words = dict.fromkeys(w.capitalize() for w in fake.words(nb=600) if len(w) > 2)
        self.title_words = list(words)


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def _products(n_products: int, pools: _Pools, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Yield product rows; the caller keeps (id -> price in cents) for the order lines."""
    cat_table = expand(CATEGORY_WEIGHTS)
    random_ = rng.random
    words = pools.title_words
    for pid in range(1, n_products + 1):
        category = cat_table[int(random_() * len(cat_table))]
        (lo, hi), brands, subs = CATALOGUE[category]
        sub = rng.choice(tuple(subs))
        brand = rng.choice(brands)
        if category == "Books":
            first, second, third = (rng.choice(words) for _ in range(3))
            if random_() < P_BOOK_COMMA:
                name = f"{first}, {second} and {third}"  # forces csv quoting downstream
            else:
                name = f"The {first} {second}"
        else:
            noun = rng.choice(subs[sub])
            name = f"{brand} {rng.choice(ADJECTIVES)} {noun}"
            if random_() < 0.5:
                name += f" - {rng.choice(COLORS)}"
        # Shop prices end in .99 / .49 / .00; skew towards the cheap end of the range.
        base = lo + int((hi - lo) * random_() ** 2)
        cents = base // 100 * 100 + rng.choice((99, 99, 99, 49, 0))
        status = "discontinued" if random_() < 0.10 else "active"
        yield (
            pid,
            name,
            category,
            "" if random_() < P_NO_SUB_CATEGORY else sub,
            "" if random_() < P_NO_BRAND else brand,
            cents,
            status,
        )


def _customers(
    n_customers: int, pools: _Pools, rng: random.Random, first_id: int = 1
) -> Iterator[tuple[Any, ...]]:
    """Yield customer rows with ids first_id .. first_id + n_customers - 1 (dirt included)."""
    random_ = rng.random
    firsts, lasts, cities = pools.first_names, pools.last_names, pools.us_cities
    n_first, n_last, n_city = len(firsts), len(lasts), len(cities)
    first_mail = [_email_part(n) for n in firsts]
    last_mail = [_email_part(n) for n in lasts]
    segments = expand(SEGMENTS)
    n_dom = len(EMAIL_DOMAINS)
    for cid in range(first_id, first_id + n_customers):
        fi = int(random_() * n_first)
        li = int(random_() * n_last)
        first, last = firsts[fi], lasts[li]
        email = f"{first_mail[fi]}.{last_mail[li]}{cid}@{EMAIL_DOMAINS[int(random_() * n_dom)]}"
        r = random_()
        if r < 0.90:
            country = "US"
            city, state = cities[int(random_() * n_city)]
            phone = f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        elif r < 0.96:
            country = "CA"
            city, state = rng.choice(CA_CITIES), rng.choice(CA_PROVINCES)
            phone = f"{rng.randint(204, 905)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        else:
            country = "GB"
            city, state = rng.choice(GB_CITIES)
            phone = f"+44 {rng.randint(7000, 7999)} {rng.randint(100000, 999999)}"
        # Dirt, each an independent draw (see module docstring).
        if random_() < P_MESSY_NAME:
            first = MESSY_NAME.pick(first, rng)
        if random_() < P_NAME_SUFFIX:
            last = last + rng.choice(NAME_SUFFIXES)
        if random_() < P_MESSY_NAME:
            last = MESSY_NAME.pick(last, rng)
        if random_() < P_MESSY_EMAIL:
            email = f" {email.upper()} "
        if random_() < P_NO_PHONE:
            phone = ""
        if random_() < P_NO_CITY:
            city = ""
        elif random_() < P_CITY_TRAILING:
            city = city + " " * rng.randint(1, 3)
        segment = "" if random_() < P_NO_SEGMENT else segments[int(random_() * len(segments))]
        if random_() < P_BAD_EMAIL:
            email = invalid_email(email, rng, local=f"{first_mail[fi]}.{last_mail[li]}")
        row = (cid, first, last, email, phone, city, state, country, segment)
        yield row
        if random_() < P_DUP:
            yield row


def _with_messy(table: list[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    return table, {v: ENUM_SPELLINGS.all(v) for v in dict.fromkeys(table)}


# ---------------------------------------------------------------------------------------------
# Orders, lines and payments (one streaming pass: an order's total needs its lines)
# ---------------------------------------------------------------------------------------------


def _orders(
    n_orders: int,
    n_lines: int,
    n_customers: int,
    days: int,
    prices: list[int],
    seed: int,
    orders_out: Callable[[tuple[Any, ...]], None],
    lines_out: Callable[[tuple[Any, ...]], None],
    payments_out: Callable[[tuple[Any, ...]], None],
    *,
    end_date: date = END_DATE,
    last_ids: tuple[int, int, int] = (0, 0, 0),
    pick_customer: Callable[[float], int] | None = None,
    stream: str = "",
) -> None:
    """Stream `n_orders` orders with `n_lines` lines in total over `days` days ending `end_date`.

    Ids continue after `last_ids` = (order_id, order_line_id, payment_id).  A regular order's
    customer is 1 + int(u * n_customers) for a uniform draw u, or `pick_customer(u)` when given;
    an orphan's is above `n_customers` (so `n_customers` must be the largest customer id).
    `stream` prefixes the names of the random streams (the daily drops use "day<N>:").  The
    defaults give the initial export, draw for draw."""
    # Three streams so that e.g. the payment rules can change without reshuffling orders/lines.
    ro, rl, rp = (sub_rng(seed, stream + n) for n in ("orders", "order_lines", "payments"))
    o_rand, l_rand, p_rand = ro.random, rl.random, rp.random

    start = end_date - timedelta(days=days - 1)
    # +5 days of slack: payments (bank transfers) can land after the last order day.
    day_str = [(start + timedelta(days=d)).isoformat() for d in range(days + 5)]

    channels, channel_messy = _with_messy(expand(CHANNELS))
    statuses, status_messy = _with_messy(expand(ORDER_STATUSES))
    methods, method_messy = _with_messy(expand(PAYMENT_METHODS))
    quantities = expand(QUANTITIES)
    n_ch, n_st, n_me, n_q = len(channels), len(statuses), len(methods), len(quantities)
    n_products = len(prices)
    price_str = [money(c) for c in prices]
    shipping = (499, 999, 1499)

    def ts(second: int) -> str:
        """Seconds since the first order day -> 'YYYY-MM-DD HH:MM:SS'."""
        d, s = divmod(second, 86_400)
        return f"{day_str[d]} {clock(s)}"

    order_id_base, line_id, payment_id = last_ids
    lines_left = n_lines
    for oid in range(1, n_orders + 1):
        order_id = order_id_base + oid
        orders_left = n_orders - oid + 1
        # --- how many lines: 1 + rounded exponential around the *remaining* mean, so the grand
        # total hits n_lines exactly without one giant last order.
        max_k = min(lines_left - (orders_left - 1), MAX_LINES_PER_ORDER)
        if orders_left == 1:
            k = lines_left
        else:
            extra_mean = lines_left / orders_left - 1.0
            k = 1 + int(rl.expovariate(1.0 / extra_mean) + 0.5) if extra_mean > 0 else 1
            k = max(1, min(k, max_k))
        lines_left -= k

        # --- lines
        total = 0
        last_net = 0
        for _ in range(k):
            line_id += 1
            # Popularity skew: low product ids sell more (power law on a uniform draw).
            pid = int(n_products * l_rand() ** 1.6) + 1
            qty = quantities[int(l_rand() * n_q)]
            cents = prices[pid - 1]
            if l_rand() < P_PRICE_DRIFT:
                cents = max(1, round(cents * (0.9 if l_rand() < 0.5 else 1.1)))
                price = money(cents)
            else:
                price = price_str[pid - 1]
            gross = qty * cents
            r = l_rand()
            if r < P_DISCOUNT:
                disc = round(gross * (0.05 + 0.15 * l_rand()))
                disc_s = money(disc)
            elif r < P_DISCOUNT + P_DISCOUNT_EMPTY:
                disc, disc_s = 0, ""  # empty means 0 in the source system
            else:
                disc, disc_s = 0, "0.00"
            last_net = gross - disc
            total += last_net
            if l_rand() < P_BAD_QUANTITY:
                qty = 0 if l_rand() < 0.5 else -qty  # a keying error the header total missed
            row = (line_id, order_id, pid, qty, price, disc_s)
            lines_out(row)
            if l_rand() < P_DUP:
                lines_out(row)

        # --- order header
        if o_rand() < P_ORPHAN:
            cust = n_customers + 1 + int(o_rand() * 1000)  # customer missing from customers.csv
        elif pick_customer is None:
            cust = int(o_rand() * n_customers) + 1
        else:
            cust = pick_customer(o_rand())
        # ids increase with the date; counted back from the end so the last order is always
        # on END_DATE, even when there are fewer orders than days.
        day = days - 1 - (n_orders - oid) * days // n_orders
        channel = channels[int(o_rand() * n_ch)]
        status = statuses[int(o_rand() * n_st)]
        shown_total = total
        if o_rand() < P_BAD_TOTAL:
            if o_rand() < 0.5:
                shown_total = total + shipping[int(o_rand() * 3)]
            elif k > 1:
                shown_total = total - last_net  # stale: computed before the last line was added
            else:
                shown_total = total * 9 // 10
        channel_s = (
            channel_messy[channel][int(o_rand() * 5)] if o_rand() < P_MESSY_ENUM else channel
        )
        status_s = status_messy[status][int(o_rand() * 5)] if o_rand() < P_MESSY_ENUM else status
        order_date = day_str[day]
        if o_rand() < P_BAD_DATE:
            order_date = ("2024-02-30", "N/A", "31/12/2023", "")[int(o_rand() * 4)]
        row = (order_id, cust, order_date, channel_s, money(shown_total), status_s)
        orders_out(row)
        if o_rand() < P_DUP:
            orders_out(row)

        # --- payments
        r = p_rand()
        if r < P_NO_PAYMENT:
            continue
        method = methods[int(p_rand() * n_me)]
        if channel == "store" and p_rand() < 0.3:
            method = "cash"
        if method == "bank_transfer":
            delay = 86_400 + int(p_rand() * 2 * 86_400)  # transfers clear 1-3 days later
        else:
            delay = int(p_rand() * 600)
        when = day * 86_400 + int(p_rand() * 86_000) + delay
        amount = "0.00" if p_rand() < P_ZERO_PAYMENT else money(shown_total)
        if p_rand() < P_NEGATIVE_PAYMENT:
            amount = "-" + amount  # a refund booked as a negative payment
        if status == "returned" or status == "cancelled":
            final_status = "refunded"
        elif status == "pending":
            final_status = "pending"
        else:
            final_status = "completed"
        attempts: list[tuple[int, str]] = []
        if r < P_NO_PAYMENT + P_RETRY_PAYMENT and final_status == "completed":
            attempts.append((when, "failed" if p_rand() < 0.5 else "declined"))
            when += 60 + int(p_rand() * 29 * 60)  # retried 1-30 minutes later
            attempts.append((when, final_status))
        elif p_rand() < P_FAILED_SINGLE:
            attempts.append((when, "failed" if p_rand() < 0.5 else "declined"))
        else:
            attempts.append((when, final_status))
        for when_i, pay_status in attempts:
            payment_id += 1
            method_s = (
                method_messy[method][int(p_rand() * 5)] if p_rand() < P_MESSY_ENUM else method
            )
            row = (payment_id, order_id, ts(when_i), method_s, pay_status, amount)
            payments_out(row)
            if p_rand() < P_DUP:
                payments_out(row)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def sizes(rows: int) -> dict[str, int]:
    """Distinct entity counts for a given number of order lines (before duplicates)."""
    rows = max(1, int(rows))
    n_orders = max(1, round(rows / 3))
    return {
        "order_lines": rows,
        "orders": n_orders,
        "customers": max(10, n_orders // 2),
        "products": min(max(20, rows // 30), 5000),
        "days": min(max(n_orders // 20, MIN_DAYS), MAX_DAYS),
    }


def generate(data_dir: Path, rows: int = 3000, seed: int = 42) -> dict[str, int]:
    """Write customers.csv, orders.csv, order_lines.csv, payments.csv, products.csv into data_dir
    (created if missing, existing files overwritten atomically: write to a temp name then
    os.replace).  `rows` is the number of ORDER LINES (scale from ~100 to 10,000,000).
    Returns {file name: data rows written} (duplicated lines included)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    n = sizes(rows)
    pools = _Pools(seed)

    with publishing(data_dir, FILES) as tmp, ExitStack() as stack:
        w = {name: CsvWriter(tmp[name], HEADERS[name], stack) for name in FILES}

        prices: list[int] = []
        for prow in _products(n["products"], pools, sub_rng(seed, "products")):
            prices.append(prow[5])
            w["products.csv"].add((*prow[:5], money(prow[5]), prow[6]))

        for crow in _customers(n["customers"], pools, sub_rng(seed, "customers")):
            w["customers.csv"].add(crow)

        _orders(
            n["orders"],
            n["order_lines"],
            n["customers"],
            n["days"],
            prices,
            seed,
            w["orders.csv"].add,
            w["order_lines.csv"].add,
            w["payments.csv"].add,
        )
        counts = {name: w[name].count for name in FILES}
    return counts


# ---------------------------------------------------------------------------------------------
# Daily drops (documented in the module docstring, "Daily drops")
# ---------------------------------------------------------------------------------------------

DROP_LINES_SHARE = 0.01  # default drop size: share of the existing distinct order lines ...
MIN_DROP_LINES = 30  # ... but at least this many
NEW_CUSTOMERS_SHARE = 0.02  # new customers per drop, share of the existing customers (>= 1)
MOVED_CUSTOMERS_SHARE = 0.01  # existing customers with a new city per drop ...
MIN_MOVED_CUSTOMERS = 3  # ... but at least this many
REPRICED_SHARE = 0.01  # products with a new unit_price per drop (>= 1)
P_ORDER_NEW_CUSTOMER = 0.10  # share of a drop's orders placed by its new customers
P_ORDER_MOVED_CUSTOMER = 0.10  # share of a drop's orders placed by its moved customers


def _header(
    path: Path, reader: Iterator[list[str]], columns: Sequence[str]
) -> tuple[list[str], list[int]]:
    """Read the header row: (column names, positions of `columns`); ValueError if one is missing."""
    header = [h.lstrip("\ufeff").strip() for h in next(reader, [])]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} in the header")
    return header, [header.index(c) for c in columns]


def _ints(paths: Sequence[Path], column: str) -> Iterator[int]:
    """Stream the integer values of one column (by header name) of CSV files, in file order;
    values that are not integers (and short rows) are skipped."""
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            _, (i,) = _header(path, reader, (column,))
            for row in reader:
                try:
                    yield int(row[i])
                except (IndexError, ValueError):
                    continue


def _scan_orders(paths: Sequence[Path]) -> tuple[int, set[str]]:
    """(largest order_id, the distinct order_date values as written) of the orders files."""
    top = 0
    dates: set[str] = set()
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            _, (i, j) = _header(path, reader, ("order_id", "order_date"))
            for row in reader:
                try:
                    value = int(row[i])
                    dates.add(row[j])
                except (IndexError, ValueError):
                    continue
                if value > top:
                    top = value
    return top, dates


def _latest_rows(
    paths: Sequence[Path], key: str, wanted: set[int] | None = None
) -> dict[int, dict[str, str]]:
    """{id: row as {column: value}} of the last row per id in load order (all ids, or `wanted`)."""
    latest: dict[int, dict[str, str]] = {}
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header, (k,) = _header(path, reader, (key,))
            for row in reader:
                try:
                    value = int(row[k])
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


def _new_price(cents: int, rng: random.Random) -> int:
    """A shop price (ending in .99) about 10-25 % up or down; never the old price."""
    new = new_shop_price(cents, rng)
    return new if new != cents else new + 100


def _moved(row: dict[str, str], pools: _Pools, rng: random.Random) -> tuple[Any, ...]:
    """A customer's row with a new city (and state) in the same country: the other fields are
    the latest version's, as written."""
    city, state = other_city(
        rng,
        row.get("country", "").strip().upper(),
        row.get("city", ""),
        us=pools.us_cities,
        ca_cities=CA_CITIES,
        ca_provinces=CA_PROVINCES,
        gb=GB_CITIES,
    )
    if rng.random() < P_CITY_TRAILING:
        city = city + " " * rng.randint(1, 3)
    new = {**row, "city": city, "state": state}
    return tuple(new.get(column, "") for column in HEADERS["customers.csv"])


def generate_increment(
    data_dir: Path, day: int, rows: int | None = None, seed: int = 42
) -> dict[str, int]:
    """Write a day-`day` file drop (day >= 2) next to the initial files: customers_day{day}.csv,
    orders_day{day}.csv, order_lines_day{day}.csv, payments_day{day}.csv (and products_day{day}.csv
    when some prices change). `rows` = new order lines (default: 1% of the existing distinct order
    lines, at least 30). Returns {file name: data rows written}.

    The existing files (the initial export and the drops of earlier days) are streamed once for
    the ids, dates and prices they hold; the rules are in the module docstring ("Daily drops").
    Raises ValueError when day < 2, rows < 1, or data_dir does not hold the initial files."""
    data_dir = Path(data_dir)
    check_drop(day, rows)
    require_files(data_dir, FILES)
    files = {name: existing_files(data_dir, name, day) for name in FILES}

    # --- what exists: ids, the last order date, the catalogue (streamed, needed columns only)
    known = sorted(set(_ints(files["customers.csv"], "customer_id")))
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
    for value in _ints(files["order_lines.csv"], "order_line_id"):
        if value != previous:
            n_lines += 1
            previous = value
        if value > max_line:
            max_line = value
    max_payment = max(_ints(files["payments.csv"], "payment_id"), default=0)

    products = _latest_rows(files["products.csv"], "product_id")
    if not products or sorted(products) != list(range(1, len(products) + 1)):
        raise ValueError(f"{data_dir}: the products files must hold product ids 1..N, no gaps")
    prices = [
        _cents(products[pid].get("unit_price", ""), f"product {pid}")
        for pid in range(1, len(products) + 1)
    ]

    # --- what changes (one random stream per kind of change, all seeded from (seed, day))
    n_new = max(1, int(len(known) * NEW_CUSTOMERS_SHARE))
    n_moved = min(len(known), max(MIN_MOVED_CUSTOMERS, int(len(known) * MOVED_CUSTOMERS_SHARE)))
    moved_rng = sub_rng(seed, f"day{day}:customer_changes")
    moved = sorted(moved_rng.sample(known, n_moved))
    latest = _latest_rows(files["customers.csv"], "customer_id", set(moved))
    new_ids = list(range(max_customer + 1, max_customer + n_new + 1))

    price_rng = sub_rng(seed, f"day{day}:products")
    n_repriced = max(1, int(len(prices) * REPRICED_SHARE))
    repriced = sorted(price_rng.sample(range(1, len(prices) + 1), n_repriced))
    for pid in repriced:
        prices[pid - 1] = _new_price(prices[pid - 1], price_rng)

    if rows is None:
        rows = max(MIN_DROP_LINES, int(n_lines * DROP_LINES_SHARE))
    n_orders = max(1, round(rows / 3))

    # The first two orders go to a new and to a moved customer, so every drop has both.
    first_picks = [new_ids[0], moved[0]]
    n_known, n_moved_ids = len(known), len(moved)
    p_new, p_moved = P_ORDER_NEW_CUSTOMER, P_ORDER_MOVED_CUSTOMER
    p_known = 1.0 - p_new - p_moved

    def pick_customer(u: float) -> int:
        if first_picks:
            return first_picks.pop(0)
        if u < p_new:
            return new_ids[min(int(u / p_new * n_new), n_new - 1)]
        u -= p_new
        if u < p_moved:
            return moved[min(int(u / p_moved * n_moved_ids), n_moved_ids - 1)]
        u -= p_moved
        return known[min(int(u / p_known * n_known), n_known - 1)]

    # --- write (temp names, published together at the end, as in generate()); at least one
    # price changes, so products_day<N>.csv is always part of the drop.
    out = {name: drop_name(name, day) for name in FILES}
    with publishing(data_dir, out.values()) as tmp, ExitStack() as stack:
        w = {name: CsvWriter(tmp[out[name]], HEADERS[name], stack) for name in FILES}
        for pid in repriced:
            new = {**products[pid], "unit_price": money(prices[pid - 1])}
            w["products.csv"].add(tuple(new.get(c, "") for c in HEADERS["products.csv"]))

        pools = _Pools(seed)
        for cid in moved:
            row = _moved(latest[cid], pools, moved_rng)
            w["customers.csv"].add(row)
            if moved_rng.random() < P_DUP:
                w["customers.csv"].add(row)
        new_rng = sub_rng(seed, f"day{day}:customers")
        for crow in _customers(n_new, pools, new_rng, first_id=max_customer + 1):
            w["customers.csv"].add(crow)

        _orders(
            n_orders,
            rows,
            max_customer + n_new,  # orphans point above the new customers too
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


def main(argv: Sequence[str] | None = None) -> int:
    return kit.main(
        argv,
        description="Generate the raw CSV files of the retail template.",
        rows_help="number of order lines (default 3000; with --day: 1%% of the existing ones, "
        ">= 30)",
        default_rows=3000,
        generate=generate,
        generate_increment=generate_increment,
        default_out=Path("data/retail/raw"),
    )


if __name__ == "__main__":
    raise SystemExit(main())
