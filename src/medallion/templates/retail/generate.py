"""Synthetic raw input for the ``retail`` template: a small online shop.

The template migrates a pandas + SQLite ETL job whose inputs were five CSV exports.  This module
writes look-alike exports (same file names, same columns, same kinds of dirt) at any scale, so the
bronze/silver/gold pipelines of the template can be developed, tested and benchmarked without the
original data.

Public API: :func:`generate` (``python -m medallion.templates.retail.generate --rows N`` for
manual use).

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
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

__all__ = ["FILES", "HEADERS", "generate", "sizes"]

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
CHUNK = 20_000  # rows buffered per file before a writerows() call

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


def _table(weights: dict[Any, int]) -> list[Any]:
    """Expand {value: integer weight} to a flat list so a weighted draw is a single index."""
    return [value for value, weight in weights.items() for _ in range(weight)]


def _money(cents: int) -> str:
    """Format integer cents as '12.34' (negative amounts never occur here)."""
    return f"{cents // 100}.{cents % 100:02d}"


def _enum_variants(value: str) -> tuple[str, ...]:
    """The messy spellings a hand-typed or legacy source produced for an enum value."""
    return (value.capitalize(), value.upper(), f" {value}", f"{value} ", f" {value.upper()} ")


def _messy_name(name: str, rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return f"  {name.upper()} "
    if kind == 1:
        return name.lower()
    return f" {name}  "


def _email_part(name: str) -> str:
    """Lower-case ASCII letters only: Faker names can carry apostrophes or spaces."""
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalpha()) or "user"


def _sub_rng(seed: int, name: str) -> random.Random:
    # str seeds are hashed with SHA-512 by random.seed(), so this is stable across processes
    # (unlike hash()), and each file gets an independent stream.
    return random.Random(f"{seed}:{name}")


class _Pools:
    """Small value pools built once with Faker; rows are drawn from them with random.Random."""

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        # Keep duplicates in the name pools: frequent names then stay frequent, as in real data.
        self.first_names = [fake.first_name() for _ in range(2000)]
        self.last_names = [fake.last_name() for _ in range(2000)]
        self.us_cities = [
            (
                fake.city(),
                fake.state_abbr(include_territories=False, include_freely_associated_states=False),
            )
            for _ in range(500)
        ]
        # dict.fromkeys keeps first-seen order; a set would depend on PYTHONHASHSEED.
        words = dict.fromkeys(w.capitalize() for w in fake.words(nb=600) if len(w) > 2)
        self.title_words = list(words)


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


class _ChunkWriter:
    """csv.writer with a row buffer: one writerows() call per CHUNK rows keeps the C fast path."""

    def __init__(self, path: Path, header: Sequence[str], stack: ExitStack) -> None:
        # The ExitStack owned by generate() closes it (SIM115 does not see through enter_context).
        fh = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))  # noqa: SIM115
        self._writer = csv.writer(fh, lineterminator="\n")
        self._writer.writerow(header)
        self._buf: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self._buf.append(row)
        if len(self._buf) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._writer.writerows(self._buf)
            self.count += len(self._buf)
            self._buf.clear()


def _products(n_products: int, pools: _Pools, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Yield product rows; the caller keeps (id -> price in cents) for the order lines."""
    cat_table = _table(CATEGORY_WEIGHTS)
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
    segments = _table(SEGMENTS)
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
            first = _messy_name(first, rng)
        if random_() < P_NAME_SUFFIX:
            last = last + rng.choice(NAME_SUFFIXES)
        if random_() < P_MESSY_NAME:
            last = _messy_name(last, rng)
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
            email = rng.choice(
                ("n/a", f"{first_mail[fi]}.{last_mail[li]}@", email.replace("@", "."))
            )
        row = (cid, first, last, email, phone, city, state, country, segment)
        yield row
        if random_() < P_DUP:
            yield row


def _with_messy(table: list[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    return table, {v: _enum_variants(v) for v in dict.fromkeys(table)}


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
    ro, rl, rp = (_sub_rng(seed, stream + n) for n in ("orders", "order_lines", "payments"))
    o_rand, l_rand, p_rand = ro.random, rl.random, rp.random

    start = end_date - timedelta(days=days - 1)
    # +5 days of slack: payments (bank transfers) can land after the last order day.
    day_str = [(start + timedelta(days=d)).isoformat() for d in range(days + 5)]

    channels, channel_messy = _with_messy(_table(CHANNELS))
    statuses, status_messy = _with_messy(_table(ORDER_STATUSES))
    methods, method_messy = _with_messy(_table(PAYMENT_METHODS))
    quantities = _table(QUANTITIES)
    n_ch, n_st, n_me, n_q = len(channels), len(statuses), len(methods), len(quantities)
    n_products = len(prices)
    price_str = [_money(c) for c in prices]
    shipping = (499, 999, 1499)

    def ts(second: int) -> str:
        """Seconds since the first order day -> 'YYYY-MM-DD HH:MM:SS'."""
        d, s = divmod(second, 86_400)
        h, s = divmod(s, 3_600)
        m, s = divmod(s, 60)
        return f"{day_str[d]} {h:02d}:{m:02d}:{s:02d}"

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
                price = _money(cents)
            else:
                price = price_str[pid - 1]
            gross = qty * cents
            r = l_rand()
            if r < P_DISCOUNT:
                disc = round(gross * (0.05 + 0.15 * l_rand()))
                disc_s = _money(disc)
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
        row = (order_id, cust, order_date, channel_s, _money(shown_total), status_s)
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
        amount = "0.00" if p_rand() < P_ZERO_PAYMENT else _money(shown_total)
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

    # Temp names are hidden and pid-tagged so concurrent runs and globbing readers ignore them.
    tmp = {name: data_dir / f".{name}.{os.getpid()}.tmp" for name in FILES}
    try:
        with ExitStack() as stack:
            w = {name: _ChunkWriter(tmp[name], HEADERS[name], stack) for name in FILES}

            prices: list[int] = []
            for prow in _products(n["products"], pools, _sub_rng(seed, "products")):
                prices.append(prow[5])
                w["products.csv"].add((*prow[:5], _money(prow[5]), prow[6]))

            for crow in _customers(n["customers"], pools, _sub_rng(seed, "customers")):
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
            for writer in w.values():
                writer.flush()
            counts = {name: w[name].count for name in FILES}
        # Only publish once every file is complete, so a failure leaves the old set intact.
        for name in FILES:
            os.replace(tmp[name], data_dir / name)
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the raw CSV files of the retail template."
    )
    parser.add_argument("--rows", type=int, default=3000, help="number of order lines")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("data/retail/raw"), help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = generate(args.out, rows=args.rows, seed=args.seed)
    elapsed = time.perf_counter() - started
    for name, count in counts.items():
        size = (args.out / name).stat().st_size
        print(f"{name:<16} {count:>12,} rows {size / 1e6:>10.2f} MB")
    print(f"written to {args.out} in {elapsed:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
