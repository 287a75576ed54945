"""Master data of the retail generator: the Faker pools, the product catalogue and the customers
(with the changes a daily drop brings: a moved customer, a new price)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from medallion.templates._kit import (
    MESSY_NAME,
    expand,
    faker,
    invalid_email,
    new_shop_price,
    other_city,
    us_cities,
)
from medallion.templates.retail._vocab import (
    ADJECTIVES,
    CA_CITIES,
    CA_PROVINCES,
    CATALOGUE,
    CATEGORY_WEIGHTS,
    COLORS,
    EMAIL_DOMAINS,
    GB_CITIES,
    HEADERS,
    NAME_SUFFIXES,
    P_BAD_EMAIL,
    P_BOOK_COMMA,
    P_CITY_TRAILING,
    P_DUP,
    P_MESSY_EMAIL,
    P_MESSY_NAME,
    P_NAME_SUFFIX,
    P_NO_BRAND,
    P_NO_CITY,
    P_NO_PHONE,
    P_NO_SEGMENT,
    P_NO_SUB_CATEGORY,
    PRODUCT_STATUS,
    SEGMENTS,
    code,
)


def _email_part(name: str) -> str:
    """Lower-case ASCII letters only: Faker names can carry apostrophes or spaces."""
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalpha()) or "user"


class Pools:
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
# Products and customers
# ---------------------------------------------------------------------------------------------


def product_rows(n_products: int, pools: Pools, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Yield product rows (PROD0001, ...; the price in cents); the caller keeps the prices (by
    product number) for the order lines."""
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
        yield (
            code("product", pid),
            name,
            category,
            "" if random_() < P_NO_SUB_CATEGORY else sub,
            "" if random_() < P_NO_BRAND else brand,
            cents,
            PRODUCT_STATUS,
        )


def customer_rows(
    n_customers: int, pools: Pools, rng: random.Random, first_id: int = 1
) -> Iterator[tuple[Any, ...]]:
    """Yield customer rows with numbers first_id .. first_id + n_customers - 1 (keys CUST0001,
    ...; dirt included)."""
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
        # Dirt, each an independent draw (see generate.py's docstring).
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
        row = (code("customer", cid), first, last, email, phone, city, state, country, segment)
        yield row
        if random_() < P_DUP:
            yield row


def new_price(cents: int, rng: random.Random) -> int:
    """A shop price (ending in .99) about 10-25 % up or down; never the old price."""
    new = new_shop_price(cents, rng)
    return new if new != cents else new + 100


def moved_customer_row(row: dict[str, str], pools: Pools, rng: random.Random) -> tuple[Any, ...]:
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
