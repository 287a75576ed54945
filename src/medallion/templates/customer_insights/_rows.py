"""The rows of the customer-insights files: vocabularies, dirt rates, Faker pools, and the
vectorized builders of customers, products and orders (rules in generate.py's docstring)."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medallion.templates._kit import MESSY_NAME, faker
from medallion.templates.customer_insights._arrow import (
    DAY,
    Stream,
    as_text,
    cat,
    chance,
    choice,
    index,
    interleave,
    messy_enum,
    money,
    timestamps,
    weighted,
)

FILES = ("customers.csv", "orders.json", "products.parquet")
CUSTOMER_COLUMNS = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "country",
    "signup_date",
    "marketing_opt_in",
    "updated_at",
)
END_DATE = date(2024, 12, 31)
FIRST_ORDER_ID = 100_001
MAX_ITEMS = 8


def _ascii(text: str) -> str:
    """'Grégoire' -> 'gregoire': e-mail local parts are ASCII letters."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalpha()) or "user"


# --- dirt rates (documented in the module docstring; keep both in sync) ---------------------------
P_DUP = 0.01
P_OLD_VERSION = 0.03
P_MESSY_NAME = 0.03
P_MESSY_EMAIL = 0.02
P_BAD_EMAIL = 0.005
P_NO_PHONE = 0.04
P_NO_CITY = 0.01
P_CITY_TRAILING = 0.02
P_COUNTRY_VARIANT = 0.20
P_COUNTRY_PADDED = 0.02
P_NO_OPT_IN = 0.03
P_NO_SIGNUP = 0.01
P_TRUNCATED = 0.001
P_LEGACY_DATE = 0.25
P_BAD_DATE = 0.003
P_ORPHAN_CUSTOMER = 0.005
P_NO_CUSTOMER = 0.003
P_MESSY_ENUM = 0.03
P_NO_ITEMS = 0.005
P_BAD_QUANTITY = 0.003
P_NO_PRICE = 0.002
P_ORPHAN_PRODUCT = 0.002
P_PROMO_PRICE = 0.03
P_DISCOUNT = 0.15
P_PRODUCT_DUP = 0.005
P_NO_SUBCATEGORY = 0.015
P_NO_BRAND = 0.02
P_BAD_PRICE = 0.02

# --- vocabularies ---------------------------------------------------------------------------------

COUNTRIES = {"US": 55, "GB": 12, "DE": 10, "FR": 8, "NL": 5, "CA": 10}
COUNTRY_VARIANTS = {
    "US": ("us", "USA", "United States", "US"),
    "GB": ("gb", "UK", "United Kingdom", "GB"),
    "DE": ("de", "Germany", "Deutschland", "DE"),
    "FR": ("fr", "France", "FRANCE", "FR"),
    "NL": ("nl", "Netherlands", "The Netherlands", "NL"),
    "CA": ("ca", "Canada", "CANADA", "CA"),
}
LOCALES = {
    "US": "en_US",
    "GB": "en_GB",
    "DE": "de_DE",
    "FR": "fr_FR",
    "NL": "nl_NL",
    "CA": "en_US",
}
PHONE_PREFIX = {"US": "+1", "GB": "+44", "DE": "+49", "FR": "+33", "NL": "+31", "CA": "+1"}
CITIES = {
    "GB": ("London", "Manchester", "Birmingham", "Leeds", "Bristol", "Edinburgh", "Glasgow"),
    "DE": ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Leipzig"),
    "FR": ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen"),
    "CA": ("Toronto", "Montréal", "Vancouver", "Calgary", "Ottawa", "Edmonton", "Halifax"),
}
EMAIL_DOMAINS = ("gmail.com",) * 4 + ("outlook.com", "yahoo.com", "icloud.com", "proton.me")
OPT_IN = {True: ("Y", "yes", "true", "1", "TRUE"), False: ("N", "no", "false", "0", "FALSE")}

STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled", "returned")
CHANNELS = {"web": 50, "mobile_app": 30, "marketplace": 12, "phone": 8}
PAYMENT_METHODS = {"card": 60, "paypal": 20, "apple_pay": 10, "gift_card": 5, "bank_transfer": 5}
QUANTITIES = {1: 62, 2: 22, 3: 8, 4: 4, 5: 3, 10: 1}
BAD_DATES = ("N/A", "2024-02-30", "31/12/2024", "")
# status by the order's age in days: (max age, {status: weight}), first match wins
STATUS_BY_AGE = (
    (1, {"pending": 30, "processing": 40, "shipped": 25, "cancelled": 5}),
    (7, {"processing": 10, "shipped": 60, "delivered": 25, "cancelled": 5}),
    (10**9, {"delivered": 88, "cancelled": 6, "returned": 6}),
)
# seconds between the order and the status in `updated_at` (at most)
STATUS_LAG = {
    "pending": 600,
    "processing": 4 * 3600,
    "shipped": 2 * DAY,
    "delivered": 6 * DAY,
    "cancelled": 2 * DAY,
    "returned": 30 * DAY,
}
NEXT_STATUS = {"pending": "processing", "processing": "shipped", "shipped": "delivered"}

# category -> (price range in cents, brands, {subcategory: product nouns})
CATALOGUE: dict[str, tuple[tuple[int, int], tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "Electronics": (
        (1_999, 149_999),
        ("Voltix", "Nordal", "Sonique", "Pixelon"),
        {
            "Audio": ("Headphones", "Earbuds", "Speaker", "Soundbar"),
            "Computers": ("Laptop", "Monitor", "Keyboard", "Mouse"),
            "Phones": ("Smartphone", "Charger", "Phone Case"),
        },
    ),
    "Home": (
        (799, 59_999),
        ("Hearthly", "Oakline", "Brightnest", "Kivo"),
        {
            "Kitchen": ("Chef Knife", "Frying Pan", "Blender", "Coffee Maker"),
            "Furniture": ("Bookshelf", "Desk Chair", "Side Table"),
            "Decor": ("Table Lamp", "Wall Clock", "Vase"),
        },
    ),
    "Clothing": (
        (999, 19_999),
        ("Threadline", "Urban Fox", "Northpeak", "Maison Lys"),
        {
            "Men": ("T-Shirt", "Chinos", "Hoodie", "Rain Jacket"),
            "Women": ("Blouse", "Summer Dress", "Cardigan", "Jeans"),
            "Kids": ("Pajama Set", "Sneakers", "Raincoat"),
        },
    ),
    "Sports": (
        (999, 39_999),
        ("Peakform", "Trailhawk", "Velox"),
        {
            "Outdoor": ("Tent", "Sleeping Bag", "Backpack"),
            "Fitness": ("Yoga Mat", "Dumbbell Set", "Jump Rope"),
        },
    ),
    "Beauty": (
        (499, 9_999),
        ("Lumiere", "Glowra", "Pure Botanica"),
        {
            "Skincare": ("Face Serum", "Moisturizer", "Sunscreen"),
            "Makeup": ("Lipstick", "Mascara", "Foundation"),
        },
    ),
    "Toys": (
        (599, 14_999),
        ("Brickle", "Funwood", "Tinytown"),
        {"Games": ("Board Game", "Puzzle", "Card Game"), "Outdoor Toys": ("Kite", "Water Gun")},
    ),
}
CATEGORY_WEIGHTS = {
    "Electronics": 20,
    "Home": 20,
    "Clothing": 25,
    "Sports": 12,
    "Beauty": 13,
    "Toys": 10,
}
ADJECTIVES = ("Classic", "Pro", "Ultra", "Essential", "Premium", "Compact", "Eco", "Smart", "Lite")
COLORS = ("Black", "White", "Navy", "Grey", "Red", "Green", "Sand")


# ---------------------------------------------------------------------------------------------
# Pools (Faker, once)
# ---------------------------------------------------------------------------------------------


class Pools:
    """Per-country name and city pools, flattened: country k's pool is values[off[k]:off[k+1]]."""

    def __init__(self, seed: int) -> None:
        firsts: list[str] = []
        lasts: list[str] = []
        cities: list[str] = []
        # offset and size of each country's slice of the flat pools, in LOCALES order
        self.first_off: list[int] = []
        self.last_off: list[int] = []
        self.city_off: list[int] = []
        self.first_n: list[int] = []
        self.last_n: list[int] = []
        self.city_n: list[int] = []
        us_cities: list[str] | None = None
        for i, (country, locale) in enumerate(LOCALES.items()):
            fake = faker(seed * 31 + i, locale)
            names_f = [fake.first_name() for _ in range(300)]
            names_l = [fake.last_name() for _ in range(300)]
            if country == "US":
                us_cities = list(dict.fromkeys(fake.city() for _ in range(200)))
            pool_c = list(CITIES.get(country, ())) or us_cities or ["Springfield"]
            for values, pool, off, n in (
                (firsts, names_f, self.first_off, self.first_n),
                (lasts, names_l, self.last_off, self.last_n),
                (cities, pool_c, self.city_off, self.city_n),
            ):
                off.append(len(values))
                n.append(len(pool))
                values.extend(pool)
        self.first = pa.array(firsts)
        self.last = pa.array(lasts)
        self.first_mail = pa.array([_ascii(n) for n in firsts])
        self.last_mail = pa.array([_ascii(n) for n in lasts])
        self.city = pa.array(cities)

    def pick(self, what: str, country_idx: pa.Array, u: pa.Array) -> pa.Array:
        """Index into pool `what` of each row's country."""
        off = pc.take(pa.array(getattr(self, f"{what}_off"), pa.int64()), country_idx)
        n = pc.take(pa.array(getattr(self, f"{what}_n"), pa.int64()), country_idx)
        return pc.add(off, index(u, n))


# ---------------------------------------------------------------------------------------------
# Customers
# ---------------------------------------------------------------------------------------------


def customers_table(
    ids: pa.Array,
    signup: pa.Array,
    updated: pa.Array,
    pools: Pools,
    rnd: Stream,
) -> pa.Table:
    """Customer rows as written (dirt included, all text), one per id, plus older versions and
    duplicates interleaved.  `signup`: days since 1970; `updated`: seconds since 1970."""
    n = len(ids)
    codes = list(COUNTRIES)
    country_idx = pc.cast(weighted(rnd(n), dict(enumerate(COUNTRIES.values()))), pa.int64())
    country = pc.take(pa.array(codes), country_idx)
    fi = pools.pick("first", country_idx, rnd(n))
    li = pools.pick("last", country_idx, rnd(n))
    first = pc.take(pools.first, fi)
    last = pc.take(pools.last, li)
    email = cat(
        pc.take(pools.first_mail, fi),
        ".",
        pc.take(pools.last_mail, li),
        ids,
        "@",
        choice(rnd(n), EMAIL_DOMAINS),
    )
    city = pc.take(pools.city, pools.pick("city", country_idx, rnd(n)))
    number = pc.utf8_lpad(as_text(index(rnd(n), 900_000_000)), 9, "0")
    phone = cat(pc.take(pa.array([PHONE_PREFIX[c] for c in codes]), country_idx), " ", number)
    opt = chance(rnd(n), 0.45)
    style = index(rnd(n), 5)
    yes = pc.take(pa.array(OPT_IN[True]), style)
    no = pc.take(pa.array(OPT_IN[False]), style)
    opt_in = pc.if_else(opt, yes, no)

    # dirt
    def messy_name(values: pa.Array) -> pa.Array:
        respelled = MESSY_NAME.arrays(values, index(rnd(n), len(MESSY_NAME)))
        return pc.if_else(chance(rnd(n), P_MESSY_NAME), respelled, values)

    first = messy_name(first)
    last = messy_name(last)
    email = pc.if_else(chance(rnd(n), P_MESSY_EMAIL), cat(" ", pc.utf8_upper(email), " "), email)
    bad = index(rnd(n), 3)
    bad_email = pc.case_when(
        pc.make_struct(pc.equal(bad, 0), pc.equal(bad, 1)),
        pa.scalar("n/a"),
        cat(pc.take(pools.first_mail, fi), "@"),
        pc.replace_substring(email, "@", "."),
    )
    email = pc.if_else(chance(rnd(n), P_BAD_EMAIL), bad_email, email)
    phone = pc.if_else(chance(rnd(n), P_NO_PHONE), pa.scalar(None, pa.string()), phone)
    pad = choice(rnd(n), (" ", "  ", "   "))
    city = pc.if_else(chance(rnd(n), P_CITY_TRAILING), cat(city, pad), city)
    city = pc.if_else(chance(rnd(n), P_NO_CITY), pa.scalar(None, pa.string()), city)
    variants = pa.array([v for c in codes for v in COUNTRY_VARIANTS[c]])
    variant = pc.take(variants, pc.add(pc.multiply(country_idx, 4), index(rnd(n), 4)))
    country = pc.if_else(chance(rnd(n), P_COUNTRY_VARIANT), variant, country)
    country = pc.if_else(chance(rnd(n), P_COUNTRY_PADDED), cat(" ", country, " "), country)
    opt_in = pc.if_else(chance(rnd(n), P_NO_OPT_IN), pa.scalar(None, pa.string()), opt_in)
    signup_s = timestamps(pc.multiply(signup, DAY), "%Y-%m-%d")
    signup_s = pc.if_else(chance(rnd(n), P_NO_SIGNUP), pa.scalar(None, pa.string()), signup_s)

    table = pa.table(
        {
            "customer_id": ids,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "city": city,
            "country": country,
            "signup_date": signup_s,
            "marketing_opt_in": opt_in,
            "updated_at": timestamps(updated, "%Y-%m-%d %H:%M:%S"),
        }
    )
    # An older version: a few days to months earlier, before the customer moved city or changed
    # e-mail address (the current row keeps the newer values).
    old_mask = chance(rnd(n), P_OLD_VERSION)
    old = table.filter(old_mask)
    m = old.num_rows
    earlier = pc.subtract(pc.filter(updated, old_mask), pc.add(DAY, index(rnd(m), 120 * DAY)))
    # ... but not before the customer signed up
    earlier = pc.max_element_wise(earlier, pc.multiply(pc.filter(signup, old_mask), DAY))
    old_city_idx = pools.pick("city", pc.filter(country_idx, old_mask), rnd(m))
    moved = chance(rnd(m), 0.5)
    old = old.set_column(
        old.schema.get_field_index("city"),
        "city",
        pc.if_else(moved, pc.take(pools.city, old_city_idx), old["city"]),
    )
    old = old.set_column(
        old.schema.get_field_index("email"),
        "email",
        pc.if_else(
            moved,
            old["email"],
            pc.replace_substring_regex(old["email"], r"@.*$", "@hotmail.com"),
        ),
    )
    old = old.set_column(
        old.schema.get_field_index("updated_at"),
        "updated_at",
        timestamps(earlier, "%Y-%m-%d %H:%M:%S"),
    )
    dup = table.filter(chance(rnd(n), P_DUP))
    return interleave([(0, old), (1, table), (2, dup)], "customer_id")


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------

_CATEGORY_ROWS = [  # (category, subcategory, noun) triples, grouped by category
    (cat, sub, noun)
    for cat, (_, _, subs) in CATALOGUE.items()
    for sub, nouns in subs.items()
    for noun in nouns
]


def products_table(ids: pa.Array, updated: pa.Array, rnd: Stream) -> tuple[pa.Table, pa.Array]:
    """(product rows as written, with older versions and duplicates; the current list price in
    cents per id, for the order items).  `updated`: seconds since 1970."""
    n = len(ids)
    cats = list(CATALOGUE)
    cat_idx = pc.cast(
        weighted(rnd(n), {i: CATEGORY_WEIGHTS[c] for i, c in enumerate(cats)}), pa.int64()
    )
    starts = [next(i for i, r in enumerate(_CATEGORY_ROWS) if r[0] == c) for c in cats]
    counts = [sum(1 for r in _CATEGORY_ROWS if r[0] == c) for c in cats]
    row = pc.add(
        pc.take(pa.array(starts, pa.int64()), cat_idx),
        index(rnd(n), pc.take(pa.array(counts, pa.int64()), cat_idx)),
    )
    category = pc.take(pa.array([r[0] for r in _CATEGORY_ROWS]), row)
    subcategory = pc.take(pa.array([r[1] for r in _CATEGORY_ROWS]), row)
    noun = pc.take(pa.array([r[2] for r in _CATEGORY_ROWS]), row)
    brands = [b for c in cats for b in CATALOGUE[c][1]]
    b_start = [sum(len(CATALOGUE[c][1]) for c in cats[:i]) for i in range(len(cats))]
    b_count = [len(CATALOGUE[c][1]) for c in cats]
    brand = pc.take(
        pa.array(brands),
        pc.add(
            pc.take(pa.array(b_start, pa.int64()), cat_idx),
            index(rnd(n), pc.take(pa.array(b_count, pa.int64()), cat_idx)),
        ),
    )
    name = cat(brand, " ", choice(rnd(n), ADJECTIVES), " ", noun)
    name = pc.if_else(chance(rnd(n), 0.5), cat(name, " - ", choice(rnd(n), COLORS)), name)
    lo = pc.take(pa.array([CATALOGUE[c][0][0] for c in cats], pa.int64()), cat_idx)
    hi = pc.take(pa.array([CATALOGUE[c][0][1] for c in cats], pa.int64()), cat_idx)
    # skewed towards the cheap end; shop prices end in .99
    base = pc.add(lo, index(pc.power(rnd(n), 2), pc.subtract(hi, lo)))
    cents = pc.add(pc.multiply(pc.divide(base, 100), 100), 99)
    sku = cat("SKU-", pc.utf8_lpad(as_text(ids), 6, "0"))
    is_active = pc.invert(chance(rnd(n), 0.08))

    # dirt
    price_written = pc.if_else(
        chance(rnd(n), P_BAD_PRICE),
        pc.if_else(chance(rnd(n), 0.5), pa.scalar(0, pa.int64()), pc.negate(cents)),
        cents,
    )
    category_written = messy_enum(rnd(n), rnd(n), category, P_MESSY_NAME)
    subcategory = pc.if_else(
        chance(rnd(n), P_NO_SUBCATEGORY), pa.scalar(None, pa.string()), subcategory
    )
    brand = pc.if_else(chance(rnd(n), P_NO_BRAND), pa.scalar(None, pa.string()), brand)

    def table_of(price_cents: pa.Array, at: pa.Array, mask: pa.Array | None = None) -> pa.Table:
        cols = {
            "product_id": ids,
            "sku": sku,
            "product_name": name,
            "category": category_written,
            "subcategory": subcategory,
            "brand": brand,
            "unit_price": pc.cast(money(price_cents), pa.decimal128(10, 2)),
            "is_active": is_active,
            "updated_at": pc.cast(pc.cast(at, pa.int64()), pa.timestamp("us")),
        }
        if mask is not None:
            cols = {k: pc.filter(v, mask) for k, v in cols.items()}
        return pa.table(cols)

    table = table_of(price_written, pc.multiply(updated, 1_000_000))
    old_mask = chance(rnd(n), P_OLD_VERSION)
    old_price = pc.cast(
        pc.round(pc.multiply(cents, choice(rnd(n), (0.8, 0.9, 1.1, 1.2)))), pa.int64()
    )
    earlier = pc.subtract(updated, pc.add(DAY, index(rnd(n), 200 * DAY)))
    old = table_of(old_price, pc.multiply(earlier, 1_000_000), old_mask)
    dup = table.filter(chance(rnd(n), P_PRODUCT_DUP))
    return interleave([(0, old), (1, table), (2, dup)], "product_id"), cents


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


def _status_for_age(age_days: pa.Array, u: pa.Array) -> pa.Array:
    conditions = []
    choices = []
    for max_age, weights in STATUS_BY_AGE:
        conditions.append(pc.less_equal(age_days, max_age))
        choices.append(weighted(u, weights))
    return pc.case_when(pc.make_struct(*conditions), *choices)


def _json_text(values: pa.Array) -> pa.Array:
    """A JSON string (or null) per value; the generated texts hold no quote or backslash."""
    return pc.fill_null(cat('"', values, '"'), "null")


def orders_table(
    order_ids: pa.Array,
    customer_ids: pa.Array,
    seconds: pa.Array,
    now: int,
    prices: pa.Array,
    max_customer: int,
    rnd: Stream,
) -> pa.Table:
    """Order lines of newline-delimited JSON as written, sorted by order_id (older versions,
    truncated copies and duplicates interleaved).  `seconds`: order time since 1970; `now`: the
    end of the export (status follows the order's age); `prices`: list price in cents by
    product_id - 1."""
    n = len(order_ids)
    n_products = len(prices)
    age = pc.divide(pc.subtract(now, seconds), DAY)
    status = _status_for_age(age, rnd(n))
    lag = pc.take(
        pa.array([STATUS_LAG[s] for s in STATUSES], pa.int64()),
        pc.index_in(status, pa.array(STATUSES)),
    )
    updated = pc.min_element_wise(pc.add(seconds, index(rnd(n), lag)), now)
    channel = weighted(rnd(n), CHANNELS)
    method = weighted(rnd(n), PAYMENT_METHODS)

    # --- items: 1 + exponential (mean about 2), capped; a few orders come with none
    k = pc.add(
        1, pc.cast(pc.floor(pc.multiply(pc.negate(pc.ln(pc.subtract(1, rnd(n)))), 1.1)), pa.int64())
    )
    k = pc.min_element_wise(k, MAX_ITEMS)
    k = pc.if_else(chance(rnd(n), P_NO_ITEMS), pa.scalar(0, pa.int64()), k)
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(k)])
    m = offsets[-1].as_py()
    # popularity skew: low product ids sell more
    product = pc.add(index(pc.power(rnd(m), 1.8), n_products), 1)
    quantity = pc.cast(weighted(rnd(m), QUANTITIES), pa.int64())
    price = pc.take(prices, pc.subtract(product, 1))
    promo = pc.cast(pc.round(pc.multiply(price, choice(rnd(m), (0.9, 1.1)))), pa.int64())
    price = pc.if_else(chance(rnd(m), P_PROMO_PRICE), promo, price)
    gross = pc.multiply(quantity, price)
    discount = pc.cast(
        pc.round(pc.multiply(gross, pc.add(0.05, pc.multiply(rnd(m), 0.15)))), pa.int64()
    )
    discount = pc.if_else(chance(rnd(m), P_DISCOUNT), discount, pa.scalar(0, pa.int64()))
    # item dirt
    quantity = pc.if_else(
        chance(rnd(m), P_BAD_QUANTITY),
        pc.if_else(chance(rnd(m), 0.5), pa.scalar(0, pa.int64()), pc.negate(quantity)),
        quantity,
    )
    product = pc.if_else(
        chance(rnd(m), P_ORPHAN_PRODUCT), pc.add(n_products + 1, index(rnd(m), 100)), product
    )
    price_text = pc.if_else(chance(rnd(m), P_NO_PRICE), pa.scalar("null"), money(price))
    item = cat(
        '{"product_id":',
        product,
        ',"quantity":',
        quantity,
        ',"unit_price":',
        price_text,
        ',"discount":',
        money(discount),
        "}",
    )
    items = cat("[", pc.binary_join(pa.ListArray.from_arrays(offsets, item), ","), "]")

    # --- order dirt
    cust = pc.if_else(
        chance(rnd(n), P_ORPHAN_CUSTOMER),
        pc.add(max_customer + 1, index(rnd(n), 500)),
        customer_ids,
    )
    cust_text = pc.if_else(chance(rnd(n), P_NO_CUSTOMER), pa.scalar("null"), as_text(cust))
    order_date = pc.if_else(
        chance(rnd(n), P_LEGACY_DATE),
        timestamps(seconds, "%Y-%m-%d %H:%M:%S"),
        timestamps(seconds, "%Y-%m-%dT%H:%M:%SZ"),
    )
    order_date = pc.if_else(chance(rnd(n), P_BAD_DATE), choice(rnd(n), BAD_DATES), order_date)
    status_text = messy_enum(rnd(n), rnd(n), status, P_MESSY_ENUM)
    channel_text = messy_enum(rnd(n), rnd(n), channel, P_MESSY_ENUM)

    fields = {
        "order_id": order_ids,
        "customer_id": cust_text,
        "order_date": _json_text(order_date),
        "status": _json_text(status_text),
        "channel": _json_text(channel_text),
        "payment_method": _json_text(method),
        "updated_at": _json_text(timestamps(updated, "%Y-%m-%dT%H:%M:%SZ")),
        "items": items,
    }

    def line(values: dict[str, Any]) -> pa.Array:
        parts: list[Any] = []
        for i, (key, value) in enumerate(values.items()):
            parts += [("{" if i == 0 else ",") + f'"{key}":', value]
        return cat(*parts, "}")

    current = line(fields)
    table = pa.table({"order_id": order_ids, "line": current})
    # an earlier version of a finished order: still processing, an hour after it was placed
    finished = pc.is_in(status, pa.array(["shipped", "delivered", "returned"]))
    old_mask = pc.and_(finished, chance(rnd(n), P_OLD_VERSION))
    earlier = pc.filter(pc.min_element_wise(pc.add(seconds, 3600), updated), old_mask)
    old_fields = {k: pc.filter(v, old_mask) for k, v in fields.items()}
    old_fields["status"] = pa.array(['"processing"'] * len(earlier), pa.string())
    old_fields["updated_at"] = _json_text(timestamps(earlier, "%Y-%m-%dT%H:%M:%SZ"))
    old = pa.table({"order_id": old_fields["order_id"], "line": line(old_fields)})
    # a record cut in the middle (the export was interrupted), then written again in full
    cut_mask = chance(rnd(n), P_TRUNCATED)
    cut = pa.table({"order_id": order_ids, "line": pc.utf8_slice_codeunits(current, 0, 40)}).filter(
        cut_mask
    )
    dup = table.filter(chance(rnd(n), P_DUP))
    parts = [(0, old), (1, cut), (2, table), (3, dup)]
    return interleave(parts, "order_id")


def customer_profiles(n: int, days: int, rnd: Stream) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(signup day offset, first active day, active span in days) per customer, in id order.

    Ids follow the signup date; a sixth of the customers signed up before the window starts.
    Lifetimes of 30-150 % of the window make some customers stop ordering long before its end
    (RFM's "lost" and "hibernating" customers)."""
    start = pc.cast(
        pc.floor(pc.multiply(pc.subtract(pc.multiply(rnd(n), 1.2), 0.2), days)), pa.int64()
    )
    start = pc.take(start, pc.sort_indices(start))  # ids in order of signup
    lifetime = pc.cast(
        pc.floor(pc.multiply(pc.add(0.3, pc.multiply(rnd(n), 1.2)), days)), pa.int64()
    )
    first = pc.max_element_wise(start, 0)
    last = pc.min_element_wise(pc.add(start, lifetime), days - 1)
    last = pc.max_element_wise(last, first)
    return start, first, pc.add(pc.subtract(last, first), 1)
