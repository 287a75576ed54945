"""Row generators of the product-platform template, one function per domain (see `generate.py`
for the files, the scale, the consistency rules and the dirt they produce).

Everything draws from `random.Random` streams seeded per file and per day (`sub_rng`), so the
same seed gives the same rows; hot loops draw with `random()` only, which is 3-5x cheaper than
`randint` / `choice`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from medallion.templates import _kit as kit
from medallion.templates._kit import (
    CsvWriter,
    Spellings,
    clock,
    cumulative,
    faker,
    invalid_email,
    money,
    us_cities,
    weighted_index,
)
from medallion.templates.product_platform import catalogue as cat

FILES: tuple[str, ...] = tuple(cat.HEADERS)

END_DATE = date(2024, 6, 30)
MIN_DAYS, MAX_DAYS = 90, 730

# Dirt rates (documented in generate.py's docstring; keep both in sync)
P_DUP = 0.01
P_MESSY = 0.04  # case / whitespace variants of a code or name
P_PRICE_DOLLAR = 0.03
P_SLASH_DATE = 0.03
P_T_SPACE = 0.03
P_NO_SHELF_LIFE = 0.03
P_NO_TYPE = 0.02
P_NO_PHONE = 0.03
P_PROMO = 0.08
P_NO_REFUND = 0.05
P_NO_REASON = 0.02
P_NO_WASTE_COST = 0.04
P_NO_SHIPPING_COST = 0.02
P_NO_RESULT = 0.02
P_NO_INSPECTOR = 0.02
P_OTHER_BOOLEAN = 0.10
P_BAD_YIELD = 0.03
P_BAD_RECIPE_QTY = 0.015
P_BAD_EMAIL = 0.007
P_BAD_TS = 0.005
P_BAD_LINE_QTY = 0.003
P_NO_PRICE = 0.002
P_BAD_DELIVERY = 0.005
P_ZERO_RETURN = 0.01
P_OVER_RETURN = 0.02
P_NEGATIVE_WASTE = 0.015
P_BAD_DEFECTS = 0.01
P_ORPHAN = 0.003
# Business rates
P_CANCELLED = 0.04
P_EXCEPTION = 0.01  # a shipment lost or damaged on the way
P_RETURN = 0.04  # per delivered line
P_OLD_RECIPE = 0.25


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


#: the random stream `name` of a run with `seed` (see kit.sub_rng)
sub_rng = partial(kit.sub_rng, namespace="product-platform")


def weighted(table: dict[str, int]) -> tuple[list[str], list[float]]:
    return list(table), cumulative(list(table.values()))


#: how a code or name is misspelled (P_MESSY of them): UPPER, lower, padded
MESSY = Spellings("{upper}", "{lower}", " {value}", "{value}  ", " {upper} ")


def _ts(day: date, seconds: int) -> str:
    return f"{day.isoformat()}T{clock(seconds)}"


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum()) or "x"


def sizes(rows: int) -> dict[str, int]:
    """How many of each entity `rows` order lines imply (see the module docstring)."""
    orders = max(1, round(rows / 3))
    return {
        "order_lines": rows,
        "orders": orders,
        "customers": max(20, orders // 4),
        "products": min(max(30, rows // 100), 2000),
        "days": min(max(orders // 15, MIN_DAYS), MAX_DAYS),
        "waste": max(10, rows // 25),
        "inspections": max(10, rows // 15),
    }


@dataclass
class Product:
    pid: int
    category: str
    price: int  # cents
    std_cost: int  # cents


@dataclass
class Customer:
    cid: int
    kind: str
    first_order: date | None = None


class Ndjson:
    """One JSON object per line, keys in header order, None as null; opened on `stack` like
    the kit's CsvWriter."""

    def __init__(self, path: Path, header: Sequence[str], stack: ExitStack) -> None:
        # the ExitStack closes it (SIM115 does not see through enter_context)
        self._fh = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))  # noqa: SIM115
        self._header = header
        self.count = 0

    def add(self, values: Sequence[Any], dup: bool = False) -> None:
        line = json.dumps(dict(zip(self._header, values, strict=True))) + "\n"
        self._fh.write(line)
        self.count += 1
        if dup:
            self._fh.write(line)
            self.count += 1


# ---------------------------------------------------------------------------------------------
# Master data: products, recipes, customers
# ---------------------------------------------------------------------------------------------


def write_products_and_recipes(
    n_products: int,
    seed: int,
    products_out: CsvWriter,
    recipes_out: CsvWriter,
    lines_out: CsvWriter,
) -> list[Product]:
    """Write the item master, the recipes and their lines; return the products for the orders."""
    rng = sub_rng(seed, "products")
    rec_rng = sub_rng(seed, "recipes")
    line_rng = sub_rng(seed, "recipe_lines")
    cats, cat_cum = weighted(cat.CATEGORY_WEIGHTS)
    products: list[Product] = []
    recipe_rows: list[list[Any]] = []
    line_rows: list[list[Any]] = []
    for pid in range(1, n_products + 1):
        category = rng.choices(cats, cum_weights=cat_cum)[0]
        prefix, (lo, hi), packs, nouns, ingredients = cat.CATEGORIES[category]
        name = f"{rng.choice(cat.VARIANTS)} {rng.choice(nouns)}"
        price = (lo + int((hi - lo) * rng.random())) // 10 * 10 + 9  # shop prices end in 9
        launch = END_DATE - timedelta(days=rng.randint(120, 1500))
        shelf_life = {"Bakery": 5, "Dairy": 21, "Ready Meals": 7}.get(category, 180)
        shelf_life = max(2, shelf_life + rng.randint(-2, 2) * (shelf_life // 5))
        status = "discontinued" if rng.random() < 0.08 else "active"

        # Recipes: the current one (active) and sometimes the version it replaced.
        versions = 2 if rec_rng.random() < P_OLD_RECIPE else 1
        material = 0.0
        for version in range(1, versions + 1):
            recipe_id = len(recipe_rows) + 1
            active = version == versions
            batch_yield = rec_rng.choice((12, 24, 48, 60, 96, 120, 144, 200, 240))
            target = price * rec_rng.uniform(0.22, 0.40) * batch_yield  # batch material, cents
            picked = rec_rng.sample(ingredients, min(len(ingredients), rec_rng.randint(3, 6)))
            budget = target - batch_yield * cat.INGREDIENTS["packaging"][1]
            shares = [rec_rng.random() + 0.2 for _ in picked]
            total = sum(shares)
            batch_cost = 0.0
            for n, ingredient in enumerate([*picked, "packaging"], start=1):
                base_uom, base_cost = cat.INGREDIENTS[ingredient]
                unit_cost = max(1, round(base_cost * line_rng.uniform(0.9, 1.1)))
                if ingredient == "packaging":
                    qty_base: float = batch_yield
                else:
                    qty_base = max(budget, target * 0.3) * shares[n - 1] / total / unit_cost
                if base_uom == "each":
                    qty_text, uom = str(max(1, round(qty_base))), "each"
                    qty_base = max(1, round(qty_base))
                elif qty_base < 1:
                    small = max(1, round(qty_base * 1000))
                    qty_text, uom, qty_base = str(small), cat.SMALL_UNIT[base_uom], small / 1000
                else:
                    qty_base = round(qty_base, 2)
                    qty_text, uom = f"{qty_base:.2f}", base_uom
                batch_cost += qty_base * unit_cost
                if line_rng.random() < 0.02:
                    uom = line_rng.choice(cat.UNIT_SYNONYMS[uom])
                elif line_rng.random() < P_MESSY:
                    uom = MESSY.pick(uom, line_rng)
                ing = MESSY.maybe(ingredient, line_rng, P_MESSY)
                line_rows.append(
                    [len(line_rows) + 1, recipe_id, n, ing, qty_text, uom, money(unit_cost)]
                )
            if active:
                material = batch_cost / batch_yield
            if rec_rng.random() < P_OTHER_BOOLEAN:
                flag = rec_rng.choice(
                    (("yes", "no"), ("TRUE", "FALSE"), ("1", "0"), ("true", "false"), ("y", "n"))
                )[0 if active else 1]
            else:
                flag = "Y" if active else "N"
            effective = launch + timedelta(days=0 if version == 1 else rec_rng.randint(60, 110))
            recipe_rows.append(
                [
                    recipe_id,
                    pid,
                    f"{name} v{version}",
                    version,
                    batch_yield,
                    rec_rng.choice((45, 60, 90, 120, 180, 240)),
                    flag,
                    effective.isoformat(),
                ]
            )

        std_cost = max(1, round(material * rng.uniform(0.9, 1.1)))
        products.append(Product(pid, category, price, std_cost))
        sku = f"{prefix}-{pid:05d}"
        if rng.random() < P_MESSY:
            sku = rng.choice((sku.lower(), f"{sku} ", f" {sku.lower()}"))
        list_price = money(price)
        if rng.random() < P_PRICE_DOLLAR:
            list_price = "$" + list_price
        launch_text = launch.isoformat()
        if rng.random() < P_SLASH_DATE:
            launch_text = launch_text.replace("-", "/")
        products_out.add(
            [
                pid,
                sku,
                name,
                MESSY.maybe(category, rng, P_MESSY),
                rng.choice(packs),
                list_price,
                money(std_cost),
                "" if rng.random() < P_NO_SHELF_LIFE else shelf_life,
                launch_text,
                MESSY.maybe(status, rng, P_MESSY),
                f"{launch.isoformat()} 08:00:00",
            ]
        )

    # Invalid rows the expectations catch; at least one of each, so every scale shows them.
    spoil(recipe_rows, 4, 0, P_BAD_YIELD, rec_rng)
    spoil(line_rows, 4, "0", P_BAD_RECIPE_QTY, line_rng)
    for row in recipe_rows:
        recipes_out.add(row, dup=rec_rng.random() < P_DUP)
    for row in line_rows:
        lines_out.add(row)
    return products


def spoil(
    rows: list[list[Any]],
    column: int,
    value: Any,
    p: float,
    rng: random.Random,
    *,
    at_least_one: bool = True,
) -> None:
    """Set `column` to `value` (or `value(row)` when callable) in a share `p` of `rows` (and
    in one row at least, unless told otherwise: the invalid values the expectations catch then
    show at every scale)."""
    if not rows:
        return
    hits = [i for i in range(len(rows)) if rng.random() < p]
    if not hits and at_least_one:
        hits = [rng.randrange(len(rows))]
    for i in hits:
        rows[i][column] = value(rows[i]) if callable(value) else value


def spoiled(n: int, p: float, rng: random.Random, *, at_least_one: bool = True) -> set[int]:
    """The rows of `n` that `spoil` would pick (a share `p`, one at least unless told
    otherwise), drawn before the rows are made, so that a file of many rows is written as its
    rows are made instead of held until they are all there."""
    hits = {i for i in range(n) if rng.random() < p}
    if not hits and at_least_one and n:
        hits = {rng.randrange(n)}
    return hits


class Pools:
    """Small value pools built once with Faker; rows draw from them with random.Random."""

    def __init__(self, seed: int) -> None:
        fake = faker(seed)
        self.first_names = [fake.first_name() for _ in range(1000)]
        self.last_names = [fake.last_name() for _ in range(1000)]
        # dict.fromkeys keeps first-seen order (a set would depend on PYTHONHASHSEED)
        self.companies = list(dict.fromkeys(fake.company() for _ in range(1500)))
        self.cities = us_cities(fake, 400)
        self.inspectors = [fake.name() for _ in range(12)]


def customer_kinds(n: int, seed: int, first_id: int = 1) -> list[Customer]:
    rng = sub_rng(seed, f"customer_kinds:{first_id}")
    kinds = list(cat.CUSTOMER_TYPES)
    weights = cumulative([v[0] for v in cat.CUSTOMER_TYPES.values()])
    return [Customer(first_id + i, rng.choices(kinds, cum_weights=weights)[0]) for i in range(n)]


def write_customers(
    customers: list[Customer],
    pools: Pools,
    rng: random.Random,
    out: CsvWriter,
    end: date,
    *,
    signup_gap: int = 400,
) -> None:
    """CRM rows of `customers`; each signed up 0-`signup_gap` days before its first order."""
    for c in customers:
        if c.kind == "consumer":
            first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
            name = f"{first} {last}"
            email = f"{_slug(first)}.{_slug(last)}{c.cid}@{rng.choice(cat.EMAIL_DOMAINS)}"
        else:
            name = rng.choice(pools.companies)
            email = f"purchasing{c.cid}@{_slug(name)[:24]}.com"
        r = rng.random()
        if r < 0.85:
            city, state = rng.choice(pools.cities)
            country = "US"
        elif r < 0.95:
            city, state, country = rng.choice(cat.CA_CITIES), rng.choice(cat.CA_PROVINCES), "CA"
        else:
            (city, state), country = rng.choice(cat.GB_CITIES), "GB"
        phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        first_order = c.first_order or end - timedelta(days=rng.randint(0, 200))
        signup = first_order - timedelta(days=rng.randint(0, signup_gap))
        signup_text = signup.isoformat()
        if rng.random() < P_SLASH_DATE:
            signup_text = signup_text.replace("-", "/")
        kind = c.kind
        if rng.random() < P_NO_TYPE:
            kind = ""
        elif rng.random() < P_MESSY:
            kind = MESSY.pick(kind, rng)
        if rng.random() < P_MESSY:
            name = rng.choice((f" {name}", f"{name}  ", f"  {name} "))
        if rng.random() < P_MESSY:
            email = f" {email.upper()} "
        if rng.random() < P_BAD_EMAIL:
            email = invalid_email(email, rng, at=" at ")
        if rng.random() < P_MESSY:
            country = (
                rng.choice(("us", "USA", " US", "United States"))
                if country == "US"
                else (country.lower())
            )
        out.add(
            [
                c.cid,
                name,
                kind,
                email,
                "" if rng.random() < P_NO_PHONE else phone,
                city,
                state,
                country,
                signup_text,
                f"{signup.isoformat()} 12:00:00",
            ],
            dup=rng.random() < P_DUP,
        )


# ---------------------------------------------------------------------------------------------
# Orders, lines, shipments and returns (one pass: status, shipment and returns follow the lines)
# ---------------------------------------------------------------------------------------------


@dataclass
class OrderWriters:
    orders: Ndjson
    lines: Callable[[list[Any]], None]
    shipments: CsvWriter
    returns: CsvWriter


@dataclass
class Ids:
    order: int = 0
    line: int = 0
    shipment: int = 0
    ret: int = 0


def write_orders(
    order_days: Iterator[date],
    lines_per_order: list[int],
    customers: list[Customer],
    customer_cum: list[float],
    n_customers: int,
    products: list[Product],
    seed: int,
    out: OrderWriters,
    *,
    end: date,
    ids: Ids,
    stream: str = "",
) -> None:
    """Stream orders (one per entry of `lines_per_order`, dated by `order_days`), their lines,
    shipments and returns; nothing happens after `end` (the export date)."""
    rng = sub_rng(seed, f"{stream}orders")
    line_rng = sub_rng(seed, f"{stream}order_lines")
    ship_rng = sub_rng(seed, f"{stream}shipments")
    ret_rng = sub_rng(seed, f"{stream}returns")
    # the hot loop draws with random() only (randint / choice cost 3-5x more)
    rnd, lrnd, srnd, rrnd = rng.random, line_rng.random, ship_rng.random, ret_rng.random
    # best sellers: a heavy-tailed popularity over a random order of the products
    ranks = list(range(len(products)))
    sub_rng(seed, "popularity").shuffle(ranks)
    popularity = cumulative([1.0 / (rank + 1) ** 0.7 for rank in ranks])
    iso = IsoDates()
    for n_lines, day in zip(lines_per_order, order_days, strict=False):
        ids.order += 1
        oid = ids.order
        if rnd() < P_ORPHAN:
            cid, kind = n_customers + 1 + int(rnd() * 50), "consumer"
        else:
            customer = customers[weighted_index(customer_cum, rnd())]
            cid, kind = customer.cid, customer.kind
            if customer.first_order is None or day < customer.first_order:
                customer.first_order = day
        _, _, channels, payments, (q_lo, q_hi), discounts = cat.CUSTOMER_TYPES[kind]
        order_ts = f"{iso[day]}T{clock(6 * 3600 + int(rnd() * 17 * 3600))}"
        promo = ""
        if kind == "consumer" and rnd() < P_PROMO:
            promo = MESSY.maybe(pick(cat.PROMO_CODES, rnd), rng, P_MESSY)

        # Fulfilment: cancelled, or shipped 0-3 days later and delivered after the carrier's
        # transit time (12 % late, 3 % very late); nothing is known past `end`.
        cancelled = rnd() < P_CANCELLED
        carrier = pick(cat.CARRIERS if kind == "consumer" else cat.B2B_CARRIERS, srnd)
        shipped = day + _DAYS[pick((0, 1, 1, 2, 3), srnd)]
        promised = shipped + _DAYS[cat.TRANSIT_DAYS[carrier]]
        u = srnd()
        late = 0 if u < 0.85 else 1 + int(srnd() * 3) if u < 0.97 else 4 + int(srnd() * 5)
        delivered: date | None = promised + _DAYS[late] - _DAYS[int(srnd() * 2)]
        exception = srnd() < P_EXCEPTION
        if exception:
            delivered = None
        if cancelled:
            status, updated = "cancelled", order_ts
        elif shipped > end:
            status = "processing" if day < end else "pending"
            updated = order_ts
        elif delivered is None or delivered > end:
            status, updated = "shipped", f"{iso[shipped]}T18:00:00"
            delivered = None
        else:
            status, updated = "delivered", f"{iso[delivered]}T17:00:00"

        ts_text = order_ts
        if rnd() < P_BAD_TS:
            ts_text = pick(("N/A", "", f"{day.year}-02-30T10:00:00", "31/12/2023 10:00"), rnd)
        elif rnd() < P_T_SPACE:
            ts_text = ts_text.replace("T", " ")
        out.orders.add(
            [
                oid,
                cid,
                ts_text,
                MESSY.maybe(pick(channels, rnd), rng, P_MESSY),
                MESSY.maybe(status, rng, P_MESSY),
                pick(payments, rnd),
                promo or None,
                updated.replace("T", " "),
            ],
            dup=rnd() < P_DUP,
        )

        if status in ("shipped", "delivered"):
            ids.shipment += 1
            ship_date, deliver_date = iso[shipped], iso[delivered] if delivered else ""
            if delivered is not None and srnd() < P_BAD_DELIVERY:
                # keyed the wrong way round: delivered "before" it shipped
                ship_date, deliver_date = deliver_date, ship_date
            ship_status = "Delivered" if delivered else "Exception" if exception else "In Transit"
            cost = 499 + 150 * n_lines if kind == "consumer" else 2500 + 900 * n_lines
            out.shipments.add(
                [
                    ids.shipment,
                    oid,
                    MESSY.maybe(carrier, ship_rng, P_MESSY),
                    f"1Z{int(srnd() * 16**12):012X}",
                    ship_date,
                    iso[promised],
                    deliver_date,
                    MESSY.maybe(ship_status, ship_rng, P_MESSY),
                    "" if srnd() < P_NO_SHIPPING_COST else money(cost),
                    updated.replace("T", " "),
                ],
                dup=srnd() < P_DUP,
            )

        discount = pick(discounts, lrnd)
        if promo:
            discount = max(discount, 10)
        for number in range(1, n_lines + 1):
            ids.line += 1
            product = products[weighted_index(popularity, lrnd())]
            if kind == "consumer" and lrnd() < 0.7:
                qty = 1
            else:
                qty = q_lo + int(lrnd() * (q_hi - q_lo + 1))
            price: float | None = product.price / 100
            good = True
            if lrnd() < P_BAD_LINE_QTY:
                qty, good = pick((0, -1, -qty), lrnd), False
            elif lrnd() < P_NO_PRICE:
                price, good = None, False
            row = [ids.line, oid, number, product.pid, qty, price, float(discount)]
            out.lines(row)
            if lrnd() < P_DUP:
                out.lines(row)
            # Customers return some delivered lines (within 3 weeks, never after `end`).
            if good and delivered is not None and rrnd() < P_RETURN:
                returned = delivered + _DAYS[1 + int(rrnd() * 21)]
                if returned <= end:
                    ids.ret += 1
                    gross = qty * product.price
                    net = gross - round(gross * discount / 100)
                    row = return_row(ids.ret, ids.line, iso[returned], qty, net, kind, ret_rng)
                    out.returns.add(row, dup=rrnd() < P_DUP)


def return_row(
    return_id: int,
    line_id: int,
    returned: str,
    qty: int,
    net_cents: int,
    kind: str,
    rng: random.Random,
) -> list[Any]:
    """A returns log row for `qty` units bought for `net_cents` (dirt included)."""
    rnd = rng.random
    # a consumer sends back any part; a business a few units of a case at most
    back = 1 + int(rnd() * (qty if kind == "consumer" else max(1, qty // 4)))
    refund = money(net_cents * back // qty)
    if rnd() < P_ZERO_RETURN:
        back = 0
    elif rnd() < P_OVER_RETURN:
        back = qty + 1 + int(rnd() * 3)
    reasons, reason_cum = _RETURN_REASONS
    reason = reasons[weighted_index(reason_cum, rnd())]
    no_reason = rnd() < P_NO_REASON
    return [
        return_id,
        line_id,
        returned,
        back,
        "" if no_reason else MESSY.maybe(reason, rng, P_MESSY),
        "" if rnd() < P_NO_REFUND else refund,
        pick(cat.RETURN_CONDITIONS, rnd),
    ]


_DAYS = [timedelta(days=n) for n in range(32)]
_RETURN_REASONS = (list(cat.RETURN_REASONS), cumulative(list(cat.RETURN_REASONS.values())))


def pick(seq: Sequence[Any], rnd: Callable[[], float]) -> Any:
    return seq[int(rnd() * len(seq))]


class IsoDates(dict[date, str]):
    """date -> 'YYYY-MM-DD', formatted once per distinct date."""

    def __missing__(self, key: date) -> str:
        value = self[key] = key.isoformat()
        return value


def spread(total: int, n: int, rng: random.Random) -> list[int]:
    """`n` counts >= 1 adding up to `total` (>= n): one each, the rest at random."""
    counts = [1] * n
    rnd = rng.random
    for _ in range(total - n):
        counts[int(rnd() * n)] += 1
    return counts


def order_days(n_orders: int, start: date, days: int) -> Iterator[date]:
    """Order dates spread evenly over `days` days from `start`, non-decreasing with the id."""
    for i in range(n_orders):
        yield start + timedelta(days=i * days // n_orders)


# ---------------------------------------------------------------------------------------------
# Plant floor: waste and quality inspections
# ---------------------------------------------------------------------------------------------


def _batch_code(day: date, product: Product, rng: random.Random) -> str:
    return f"B{day:%y%m%d}-{product.pid:05d}-{rng.randint(1, 3)}"


def write_waste(
    n: int,
    products: list[Product],
    start: date,
    days: int,
    seed: int,
    out: CsvWriter,
    first_id: int,
    *,
    at_least_one: bool = True,
) -> None:
    rng = sub_rng(seed, f"waste:{first_id}")
    reasons, reason_cum = weighted(cat.WASTE_REASONS)
    # a write-back keyed as waste
    negative = spoiled(
        n, P_NEGATIVE_WASTE, sub_rng(seed, f"waste:{first_id}:negative"), at_least_one=at_least_one
    )
    for i in range(n):
        day = start + timedelta(days=i * days // n)
        product = rng.choice(products)
        reason = rng.choices(reasons, cum_weights=reason_cum)[0]
        bulk = reason in ("Production scrap", "Overproduction")
        qty = rng.randint(20, 400) if bulk else rng.randint(1, 60)
        row = [
            first_id + i,
            day.isoformat(),
            MESSY.maybe(rng.choice(cat.FACILITIES), rng, P_MESSY),
            product.pid,
            _batch_code(day, product, rng),
            MESSY.maybe(reason, rng, P_MESSY),
            -qty if i in negative else qty,
            "" if rng.random() < P_NO_WASTE_COST else money(qty * product.std_cost),
        ]
        out.add(row, dup=rng.random() < P_DUP)


def _result(defects: int, sample: int) -> str:
    """The acceptance rule (silver derives a missing result the same way)."""
    # in integers: defects / sample <= 2 %  <=>  defects * 50 <= sample
    if defects * 50 <= sample:
        return "pass"
    return "conditional" if defects * 20 <= sample else "fail"


def write_inspections(
    n: int,
    products: list[Product],
    start: date,
    days: int,
    seed: int,
    pools: Pools,
    out: Ndjson,
    first_id: int,
    *,
    at_least_one: bool = True,
) -> None:
    rng = sub_rng(seed, f"inspections:{first_id}")
    types, type_cum = weighted(cat.INSPECTION_TYPES)
    # more defects than units sampled (the sample size typed into the defects field)
    too_many = spoiled(
        n,
        P_BAD_DEFECTS,
        sub_rng(seed, f"inspections:{first_id}:defects"),
        at_least_one=at_least_one,
    )
    for i in range(n):
        day = start + timedelta(days=i * days // n)
        product = rng.choice(products)
        sample = rng.choice(cat.SAMPLE_SIZES)
        u = rng.random()
        # most batches are clean; a few have a real problem
        defects = 0 if u < 0.7 else rng.randint(1, 2) if u < 0.92 else rng.randint(2, sample // 6)
        result: str | None = _result(defects, sample).upper()
        if rng.random() < P_NO_RESULT:
            result = None
        elif rng.random() < P_MESSY:
            result = MESSY.pick(result.capitalize(), rng)
        row = [
            first_id + i,
            _batch_code(day, product, rng),
            product.pid,
            _ts(day, rng.randint(7 * 3600, 19 * 3600)),
            MESSY.maybe(rng.choices(types, cum_weights=type_cum)[0], rng, P_MESSY),
            None if rng.random() < P_NO_INSPECTOR else rng.choice(pools.inspectors),
            sample,
            sample + 1 + (first_id + i) % 10 if i in too_many else defects,
            result,
        ]
        out.add(row, dup=rng.random() < P_DUP)


LINES_SCHEMA_FIELDS = (
    ("order_line_id", "int64"),
    ("order_id", "int64"),
    ("line_number", "int32"),
    ("product_id", "int64"),
    ("quantity", "int32"),
    ("unit_price", "float64"),
    ("discount_pct", "float64"),
)
LINES_CHUNK = 50_000  # order lines per Parquet row group (bounded memory at any scale)


class ParquetLines:
    """Order lines buffered column-wise and written as Parquet row groups."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self.schema = pa.schema([(n, t) for n, t in LINES_SCHEMA_FIELDS])
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._rows: list[list[Any]] = []
        self.count = 0

    def add(self, row: list[Any]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= LINES_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            arrays = [
                self._pa.array(col, type=f.type)
                for col, f in zip(zip(*self._rows, strict=True), self.schema, strict=True)
            ]
            self._writer.write_table(self._pa.Table.from_arrays(arrays, schema=self.schema))
            self._rows = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


def customer_weights(customers: list[Customer], seed: int) -> list[float]:
    """How often each customer orders: its type's weight times a heavy-tailed factor."""
    rng = sub_rng(seed, f"customer_weights:{customers[0].cid if customers else 0}")
    return [cat.CUSTOMER_TYPES[c.kind][1] * min(rng.paretovariate(1.5), 20.0) for c in customers]
