"""Synthetic raw input for the ``ecommerce-events`` template: a multi-category web shop's
clickstream, with the columns of the public "eCommerce behavior data from multi category store"
dataset (REES46, on Kaggle), which the migrated Databricks pipeline ingested with Auto Loader.

Public API: :func:`generate` (the initial landing folder) and :func:`generate_increment` (a later
day's file drop, ``medallion generate --day N``); ``python -m
medallion.templates.ecommerce_events.generate --rows N --out DIR`` for manual use.

Files and columns
-----------------
One CSV file per hour of events, as an upstream exporter drops them into a landing folder::

    events/2019-10-01/events_2019-10-01T00.csv
    events/2019-10-01/events_2019-10-01T01.csv ...

(hours without a single event have no file). Header row, ``,`` delimiter, no quoting (no value
holds a comma or a quote), UTF-8, ``\\n``. Columns, as in the public dataset::

    event_time     2019-10-01 00:00:00 UTC
    event_type     view | cart | remove_from_cart | purchase
    product_id     e.g. 1004856 (category number * 1,000,000 + a counter)
    category_id    19-digit id of the product's category
    category_code  dotted taxonomy, e.g. electronics.smartphone; empty for uncoded categories
    brand          lower-case; empty for unbranded products
    price          two decimals (the product's price at the time of the event)
    user_id        e.g. 512000042
    user_session   a UUID, one per visit

Rows are sorted by event_time within a file (except the re-delivered rows, below).

Scale (``rows`` = lines written, duplicates included)
-----------------------------------------------------
* days: ``clamp(rows // 3000, 7, 61)`` consecutive days from 2019-10-01 (61 days, Oct-Nov 2019
  like the dataset, from 183,000 rows on); one file per hour: 168 files at the default 20,000
  rows, 1,464 from 183,000 rows on;
* products: ``clamp(rows // 100, 60, 200_000)`` in 30 categories (24 with a category_code);
  users: ``max(20, rows // 12)``; sessions: as many as the events need (about 6 events each).

Sessions and funnels
--------------------
A session belongs to one user (activity is skewed: user i is picked with weight
``(i + 1) ** -0.6``, so a few users come back often enough to buy 10+ times; exact for the first
65,536 users, through the inverse of the weights' integral beyond) and one category. Each hour
of the window starts sessions until it has the share of the events its weight on a diurnal
curve gives it (night low, evening peak; every day alike); a session starts at a uniform second
of its hour and runs to its end, also past the hour; events are 2 s to a few minutes apart.
Products are drawn within the category, popular ones more often. Session kinds:

* 62 % browse: 1 + ~2.5 views (some products viewed twice);
* 20 % cart abandonment: views, 1-2 of the viewed products added to the cart, in 30 % of them one
  removed again (``remove_from_cart``), never bought;
* 18 % purchase: views, carts, and each carted product bought with 90 % (at least one); 10 % of
  them also buy a viewed product directly ("buy now", no cart event).

5 % of sessions see promotional prices (the product's price * 0.9).

Dirt (independent draws per row, at these rates; duplicates: exactly 0.5 % of the lines)
-----------------------------------------------------------------------------------------
* 0.5 % exact duplicate lines (each hour's share by its weight): 70 % right after the original
  (an exporter retry), 30 % at the start of the next hour's file (re-delivery; the last hour's
  duplicates stay in their file);
* 1 %   event_type in other case or padded: ``View``, ``CART``, `` purchase``, ``view ``;
* 0.2 % unknown event_type: ``click``, ``wishlist``, ``add_to_wishlist`` or empty;
* 2 %   brand (when present) in other case or padded: ``Samsung``, ``APPLE``, `` xiaomi ``;
* 0.5 % category_code (when present) in other case or padded: ``Electronics.Smartphone``;
* 0.1 % negative price (a refund logged as an event); 0.05 % absurd price (above 100,000: a
  price in cents or a test product); 0.2 % price 0.00 (a free sample: valid);
* 0.1 % product_id 0; 0.1 % user_id 0 (tracking without a resolved id);
* 0.05 % empty user_session;
* product level: 8 % of products have no brand, the 6 uncoded categories no category_code.

The silver rules catch the unknown types, prices outside 0..100,000 and zero ids; the rest is
normalised (case, whitespace) or deduplicated.

Daily drops (:func:`generate_increment`)
---------------------------------------
Day N's drop (N >= 2) is the next calendar day after the latest date among the files that exist
before it (the initial files and the drops of days < N; drops of day N and later are ignored, so
writing day N again rewrites the same bytes), written as that day's hourly files with a
``_day<N>`` suffix: ``events/2019-10-08/events_2019-10-08T00_day2.csv``. It continues what the
latest date's files show (read with pyarrow, strings only):

* returning users (85 % of sessions, picked in proportion to their events that day) and new users
  (ids ``600,000,000 + N * 1,000,000 + k``); products of that day's catalogue at their list price;
* sessions still active in the last 30 minutes of that day continue after midnight (1-3 more
  events on the product they last saw, often the purchase);
* 0.3 % late events: events of that earlier day arriving late (at the start of the first file);
* 1 % re-delivered rows: exact copies of rows already landed that day (at the start of the first
  file), which silver must not count twice;
* the same dirt as the initial files at the same rates.

``rows`` defaults to the number of rows of that latest day's files.

Determinism and speed
---------------------
The same ``seed`` and ``rows`` (and, for a drop, the same existing files and ``day``) give
byte-identical files. Faker only builds the pool of long-tail brand names; rows are drawn with
``random.Random`` streams seeded per purpose and hour (``catalogue``, ``sessions:<h>``,
``dirt:<h>``, ``layout:<h>``, ``day<N>:...``), so an hour's file does not depend on how the
others were made. :func:`generate` works an hour at a time: it simulates the sessions starting
in that hour, writes the hour's file (the events whose time falls in it, the rows re-delivered
from the hour before first) and keeps only the events of sessions still going on and the rows
the next file re-delivers: memory does not grow with ``rows`` (about 80 MB of peak resident
memory at 50,000 or 500,000 rows, the catalogue and the first 65,536 users' weights included;
42,000,000 rows, 5.8 GB of CSV, in 7-13 min on a shared 2-core machine: docs/benchmarks.md).
Columns are built as Python lists and written with pyarrow's CSV writer; files are written under
hidden temporary names and moved into place at the end (readers never see half a file; files
of an earlier ``generate`` that the new data does not have are removed). About 7 s for
1,000,000 rows on one core (most of it the session simulation).
"""

from __future__ import annotations

import bisect
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

from medallion.templates import _kit as kit
from medallion.templates._kit import (
    Spellings,
    check_drop,
    cumulative,
    faker,
    publishing,
    sub_rng,
    weighted_index,
)

__all__ = ["COLUMNS", "generate", "generate_increment", "sizes"]

COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
VIEW, CART, REMOVE, PURCHASE = range(4)

START = datetime(2019, 10, 1, tzinfo=UTC)
DAY = 86_400
MIN_DAYS, MAX_DAYS = 7, 61
EVENTS_PER_DAY = 3000  # days = clamp(rows // EVENTS_PER_DAY, MIN_DAYS, MAX_DAYS)
USER_BASE = 512_000_000
NEW_USER_BASE = 600_000_000  # + day * 1_000_000 + k: drops' new users never collide
MAX_MONEY = 100_000_00  # cents: the silver rule's upper bound on prices

# Session kinds (cumulative shares) and funnel probabilities
P_BROWSE, P_ABANDON = 0.62, 0.82  # browse < 0.62 <= abandon < 0.82 <= purchase
P_REVIEW = 0.20  # a view goes back to a product already viewed in the session
P_SECOND_CART = 0.30
P_REMOVE = 0.30
P_BUY_CARTED = 0.90
P_BUY_NOW = 0.10
P_PROMO_SESSION = 0.05
MEAN_EXTRA_VIEWS = 2.5
MEAN_GAP_S = 45.0
USER_SKEW = 0.6

# Dirt (documented in the module docstring; keep both in sync)
P_DUP = 0.005
P_DUP_NEXT_FILE = 0.30
P_MESSY_TYPE = 0.01
P_UNKNOWN_TYPE = 0.002
P_MESSY_BRAND = 0.02
P_MESSY_CATEGORY = 0.005
P_NEGATIVE_PRICE = 0.001
P_ABSURD_PRICE = 0.0005
P_ZERO_PRICE = 0.002
P_ZERO_PRODUCT = 0.001
P_ZERO_USER = 0.001
P_NO_SESSION = 0.0005
P_NO_BRAND = 0.08
# Daily drops
P_REDELIVERED = 0.01
P_LATE = 0.003
P_NEW_USER_SESSION = 0.15
CARRY_WINDOW_S = 1800

UNKNOWN_TYPES = ("click", "wishlist", "add_to_wishlist", "")
# Traffic by hour of day (UTC): low at night, peak in the evening.
HOUR_WEIGHTS = (3, 2, 1, 1, 1, 2, 4, 6, 8, 9, 10, 10, 10, 10, 10, 10, 11, 12, 14, 15, 15, 13, 9, 5)

# (category_code, price range in whole currency units, brands, traffic weight); "" = uncoded
# (the public dataset leaves category_code empty for about a third of its categories).
CATEGORIES: tuple[tuple[str, tuple[int, int], tuple[str, ...], int], ...] = (
    (
        "electronics.smartphone",
        (80, 1500),
        ("samsung", "apple", "xiaomi", "huawei", "oppo", "meizu"),
        30,
    ),
    ("electronics.audio.headphone", (10, 400), ("sony", "jbl", "apple", "samsung", "xiaomi"), 6),
    ("electronics.video.tv", (150, 3000), ("samsung", "lg", "sony", "philips", "tcl"), 5),
    ("electronics.clocks", (20, 800), ("casio", "apple", "samsung", "garmin"), 4),
    ("electronics.tablet", (100, 1200), ("apple", "samsung", "lenovo", "huawei"), 3),
    ("computers.notebook", (300, 3000), ("lenovo", "hp", "asus", "acer", "apple", "dell"), 6),
    ("computers.desktop", (300, 2500), ("hp", "lenovo", "dell", "acer"), 2),
    ("computers.peripherals.printer", (60, 600), ("hp", "canon", "epson", "brother"), 2),
    ("appliances.kitchen.washer", (200, 1200), ("samsung", "lg", "bosch", "indesit", "beko"), 4),
    ("appliances.kitchen.refrigerators", (250, 2500), ("samsung", "lg", "bosch", "atlant"), 4),
    ("appliances.environment.vacuum", (50, 700), ("samsung", "dyson", "philips", "bosch"), 4),
    ("appliances.environment.water_heater", (40, 400), ("ariston", "aqua", "thermex"), 2),
    ("appliances.personal.hair_cutter", (10, 150), ("philips", "braun", "remington"), 2),
    ("apparel.shoes", (20, 250), ("nike", "adidas", "puma", "reebok", "skechers"), 4),
    ("apparel.costume", (15, 200), ("adidas", "nike", "puma"), 2),
    ("furniture.living_room.sofa", (150, 2000), ("ikea", "askona", "sonline"), 2),
    ("furniture.bedroom.bed", (100, 1500), ("ikea", "askona", "ormatek"), 1),
    ("auto.accessories.player", (30, 400), ("pioneer", "kenwood", "sony", "jvc"), 1),
    ("construction.tools.drill", (30, 500), ("bosch", "makita", "dewalt", "metabo"), 2),
    ("kids.toys", (5, 150), ("lego", "hasbro", "mattel"), 2),
    ("sport.bicycle", (150, 2500), ("stels", "trek", "giant", "merida"), 1),
    ("accessories.bag", (10, 300), ("samsonite", "xiaomi", "tigernu"), 1),
    ("country_yard.lawn_mower", (80, 900), ("bosch", "makita", "huter"), 1),
    ("medicine.tools.tonometer", (20, 120), ("omron", "and", "microlife"), 1),
    ("", (2, 60), (), 4),  # cosmetics without a code: long-tail brands from Faker
    ("", (1, 40), (), 3),
    ("", (5, 120), (), 2),
    ("", (10, 300), (), 2),
    ("", (3, 80), (), 1),
    ("", (20, 600), (), 1),
)
CATEGORY_ID_BASE = 2_053_013_552_226_107_603

_FILE_RE = re.compile(r"^events_(\d{4}-\d{2}-\d{2})T(\d{2})(?:_day(\d+))?\.csv$")


def sizes(rows: int) -> dict[str, int]:
    """Days, products and users for `rows` events (see the module docstring)."""
    return {
        "days": min(max(rows // EVENTS_PER_DAY, MIN_DAYS), MAX_DAYS),
        "products": min(max(rows // 100, 60), 200_000),
        "users": max(20, rows // 12),
    }


#: the random stream `name` of a run with `seed` (see sub_rng)
_rng = partial(sub_rng, namespace="ecommerce-events")


# ---------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    """Products as parallel lists (index = product index), and product indexes per category."""

    product_id: list[int] = field(default_factory=list)
    category_id: list[int] = field(default_factory=list)
    category_code: list[str] = field(default_factory=list)
    brand: list[str] = field(default_factory=list)
    price: list[int] = field(default_factory=list)  # list price in cents
    by_category: list[list[int]] = field(default_factory=list)
    category_cum: list[float] = field(default_factory=list)

    def add(self, pid: int, cid: int, code: str, brand: str, price: int, category: int) -> None:
        self.by_category[category].append(len(self.product_id))
        self.product_id.append(pid)
        self.category_id.append(cid)
        self.category_code.append(code)
        self.brand.append(brand)
        self.price.append(price)


def _long_tail_brands(seed: int) -> list[str]:
    """Brand names for the uncoded (cosmetics-like) categories, from Faker: lower-case words as
    the dataset's brands are."""
    fake = faker(seed)
    names = dict.fromkeys(  # dict keeps first-seen order (a set would depend on PYTHONHASHSEED)
        re.sub(r"[^a-z]", "", fake.last_name().lower()) for _ in range(400)
    )
    return [n for n in names if len(n) > 2][:120]


def _catalogue(n_products: int, seed: int) -> Catalogue:
    rng = _rng(seed, "catalogue")
    tail = _long_tail_brands(seed)
    cat = Catalogue(by_category=[[] for _ in CATEGORIES])
    cat.category_cum = cumulative([c[3] for c in CATEGORIES])
    counters = [0] * len(CATEGORIES)
    # every category gets products (round robin first), the rest follow traffic weights
    for i in range(n_products):
        ci = i if i < len(CATEGORIES) else weighted_index(cat.category_cum, rng.random())
        code, (lo, hi), brands, _ = CATEGORIES[ci]
        counters[ci] += 1
        pool = brands or tail[ci * 7 % len(tail) :] + tail[: ci * 7 % len(tail)]
        # Zipf-like: the first brands of a category are the big ones
        brand = pool[min(int(len(pool) * rng.random() ** 2.5), len(pool) - 1)]
        if rng.random() < P_NO_BRAND:
            brand = ""
        # log-uniform over the range, cheap end more frequent; shop prices end in .99/.90/.00
        whole = int(lo * (hi / lo) ** (rng.random() ** 1.3))
        cents = whole * 100 + rng.choice((99, 99, 90, 0, 49))
        cat.add(
            (ci + 1) * 1_000_000 + counters[ci],
            CATEGORY_ID_BASE + ci * 1_000_003_171,
            code,
            brand,
            cents,
            ci,
        )
    return cat


# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------

#: users drawn from an exact cumulative table; the tail beyond, through the inverse of its integral
EXACT_USERS = 1 << 16


class _Users:
    """Draws user ids, user i with weight (i + 1) ** -USER_SKEW, in memory that does not grow
    with the number of users: the first EXACT_USERS from their cumulative weights (exact), the
    rest by inverting the integral of x ** -USER_SKEW over [i + 0.5, i + 1.5) (relative error
    below 1e-6 there). One uniform draw per user."""

    def __init__(self, n_users: int) -> None:
        self.n = n_users
        head = min(n_users, EXACT_USERS)
        self.cum = cumulative((i + 1) ** -USER_SKEW for i in range(head))
        a = 1 - USER_SKEW
        self._a = a
        self._lo = (head + 0.5) ** a  # the tail's integral starts at user `head`
        tail = ((n_users + 0.5) ** a - self._lo) / a if n_users > head else 0.0
        self.total = self.cum[-1] + tail

    def __call__(self, u: float) -> int:
        v = u * self.total
        if v < self.cum[-1]:
            return USER_BASE + min(bisect.bisect_right(self.cum, v), len(self.cum) - 1)
        x = ((v - self.cum[-1]) * self._a + self._lo) ** (1 / self._a)
        return USER_BASE + min(max(int(x - 0.5), len(self.cum)), self.n - 1)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------

#: one event before layout: (ts, session, step, type, product index, user id, price cents)
Event = tuple[int, int, int, int, int, int, int]


@dataclass
class Carry:
    """A session that was active when the previous day ended (drops continue it)."""

    user_id: int
    session: str
    product: int  # catalogue index of the product last seen
    last_type: int


class _Simulator:
    def __init__(self, cat: Catalogue, rng: random.Random) -> None:
        self.cat = cat
        self.rng = rng
        self.sessions: list[str] = []  # session index -> UUID text
        self.events: list[Event] = []
        self.hour_cum = cumulative(HOUR_WEIGHTS)

    def _session_id(self) -> int:
        # a version-4 UUID from the seeded stream (uuid.uuid4() reads os.urandom)
        h = f"{self.rng.getrandbits(128):032x}"
        variant = "89ab"[int(h[16], 16) & 3]
        self.sessions.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}")
        return len(self.sessions) - 1

    def run(
        self,
        n_events: int,
        t0: int,
        days: int,
        pick_user: Callable[[float], int],
        carry: Sequence[Carry] = (),
    ) -> list[Event]:
        """Sessions starting in [t0, t0 + days) until exactly n_events events exist (the last
        session is cut short; events past the window end their session)."""
        rng = self.rng
        budget = n_events
        for c in carry:
            if budget <= 0:
                break
            budget -= self._continue(c, t0, budget)
        end = t0 + days * DAY
        while budget > 0:
            day = rng.randrange(days)
            hour = weighted_index(self.hour_cum, rng.random())
            t = t0 + day * DAY + hour * 3600 + rng.randrange(3600)
            budget -= self._session(t, end, pick_user(rng.random()), budget)
        return self.events

    def _continue(self, c: Carry, t0: int, budget: int) -> int:
        rng = self.rng
        self.sessions.append(c.session)
        s = len(self.sessions) - 1
        price = self.cat.price[c.product]
        t = t0 + rng.randrange(1, 600)
        # a viewer looks again or buys; a carted product is bought; after a purchase or a
        # removal the visitor looks around once more
        if c.last_type == VIEW:
            steps = [VIEW] if rng.random() < 0.5 else [CART, PURCHASE]
        else:
            steps = [PURCHASE] if c.last_type == CART else [VIEW]
        n = 0
        for step, kind in enumerate(steps[:budget]):
            self.events.append((t, s, step, kind, c.product, c.user_id, price))
            t += 2 + int(rng.expovariate(1 / MEAN_GAP_S))
            n += 1
        return n

    def _session(self, t: int, end: int, user: int, budget: int) -> int:
        rng = self.rng
        random_ = rng.random
        cat = self.cat
        s = self._session_id()
        ci = weighted_index(cat.category_cum, random_())
        products = cat.by_category[ci]
        promo = random_() < P_PROMO_SESSION
        kind = random_()
        out = self.events
        n = 0

        def emit(event_type: int, p: int) -> bool:
            nonlocal t, n
            if n >= budget or t >= end:
                return False
            price = cat.price[p]
            if promo:
                price = price * 9 // 10
            out.append((t, s, n, event_type, p, user, price))
            n += 1
            t += 2 + int(rng.expovariate(1 / MEAN_GAP_S))
            return True

        viewed: list[int] = []
        for _ in range(1 + min(int(rng.expovariate(1 / MEAN_EXTRA_VIEWS)), 30)):
            if viewed and random_() < P_REVIEW:
                p = viewed[int(len(viewed) * random_())]
            else:
                p = products[min(int(len(products) * random_() ** 2), len(products) - 1)]
            if not emit(VIEW, p):
                return n
            if p not in viewed:
                viewed.append(p)
        if kind < P_BROWSE:
            return n
        carted = [viewed[-1]]
        if len(viewed) > 1 and random_() < P_SECOND_CART:
            carted.append(viewed[0])
        for p in carted:
            if not emit(CART, p):
                return n
        if kind < P_ABANDON:
            if random_() < P_REMOVE:
                emit(REMOVE, carted[0])
            return n
        bought = [p for p in carted if random_() < P_BUY_CARTED] or carted[:1]
        if len(viewed) > len(carted) and random_() < P_BUY_NOW:
            bought.append(next(p for p in viewed if p not in carted))
        for p in bought:
            if not emit(PURCHASE, p):
                return n
        return n


# ---------------------------------------------------------------------------------------------
# Columns, dirt and files
# ---------------------------------------------------------------------------------------------


#: how a code (event type, brand, category code) is misspelled: capitalised, upper case, padded
MESSY_CODE = Spellings("{capitalized_parts}", "{upper}", " {value}", "{value} ")


def _hits(rng: random.Random, n: int, p: float) -> Iterator[int]:
    """The rows of `n` hit by an independent draw of probability `p` each, in order: the gaps
    between hits are geometric, so a rare dirt costs one draw per hit, not one per row."""
    log_miss = math.log1p(-p)
    i = -1
    while True:
        i += 1 + int(math.log(1.0 - rng.random()) / log_miss)
        if i >= n:
            return
        yield i


def _columns(
    events: Sequence[Event], sessions: Sequence[str], cat: Catalogue, rng: random.Random
) -> dict[str, list[Any]]:
    """The CSV columns of sorted events, as text, with the row-level dirt applied
    (`sessions[i]`: row i's session UUID)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = pa.array([e[0] for e in events], pa.timestamp("s"))
    cols: dict[str, list[Any]] = {
        # the cast spells "2019-10-01 00:00:00" (and is four times faster than strftime)
        "event_time": pc.binary_join_element_wise(ts.cast(pa.string()), " UTC", "").to_pylist(),
        "event_type": [EVENT_TYPES[e[3]] for e in events],
        "product_id": [str(cat.product_id[e[4]]) for e in events],
        "category_id": [str(cat.category_id[e[4]]) for e in events],
        "category_code": [cat.category_code[e[4]] for e in events],
        "brand": [cat.brand[e[4]] for e in events],
        "price": [e[6] for e in events],  # cents until the dirt is applied
        "user_id": [str(e[5]) for e in events],
        "user_session": list(sessions),
    }
    n = len(events)
    types, brands, codes, prices = (
        cols["event_type"],
        cols["brand"],
        cols["category_code"],
        cols["price"],
    )
    for i in _hits(rng, n, P_MESSY_TYPE):
        types[i] = MESSY_CODE.pick(types[i], rng)
    for i in _hits(rng, n, P_UNKNOWN_TYPE):
        types[i] = rng.choice(UNKNOWN_TYPES)
    for i in _hits(rng, n, P_MESSY_BRAND):
        if brands[i]:
            brands[i] = MESSY_CODE.pick(brands[i], rng)
    for i in _hits(rng, n, P_MESSY_CATEGORY):
        if codes[i]:
            codes[i] = MESSY_CODE.pick(codes[i], rng)
    for i in _hits(rng, n, P_NEGATIVE_PRICE):
        prices[i] = -max(prices[i], 100)
    for i in _hits(rng, n, P_ABSURD_PRICE):
        prices[i] = MAX_MONEY + prices[i] * 100  # a price written in cents, or worse
    for i in _hits(rng, n, P_ZERO_PRICE):
        prices[i] = 0
    for i in _hits(rng, n, P_ZERO_PRODUCT):
        cols["product_id"][i] = "0"
    for i in _hits(rng, n, P_ZERO_USER):
        cols["user_id"][i] = "0"
    for i in _hits(rng, n, P_NO_SESSION):
        cols["user_session"][i] = ""
    # cents -> "12.34" exactly, vectorized: decimal(19, 0) * 0.01 has scale 2
    cents = pa.array(prices, pa.int64()).cast(pa.decimal128(19, 0))
    cols["price"] = (
        pc.multiply(cents, pa.scalar(Decimal("0.01"), pa.decimal128(3, 2)))
        .cast(pa.string())
        .to_pylist()
    )
    return cols


def _layout(
    files: list[int], n_dup: int, rng: random.Random, n_files: int, head: int = 0
) -> tuple[list[int], list[int]]:
    """Row order and rows per file. `files[i]` is row i's file; `n_dup` rows are written twice:
    right after themselves, or at the start of the next file (a re-delivery). The first `head`
    rows (a drop's late and re-delivered rows) are never duplicated."""
    n = len(files)
    dups = sorted(rng.sample(range(head, n), min(n_dup, n - head))) if n_dup > 0 else []
    per_file: list[list[int]] = [[] for _ in range(n_files)]
    redelivered: list[list[int]] = [[] for _ in range(n_files)]
    twice: set[int] = set()
    for i in dups:
        f = files[i]
        if f + 1 < n_files and rng.random() < P_DUP_NEXT_FILE:
            redelivered[f + 1].append(i)
        else:
            twice.add(i)
    for i in range(n):
        per_file[files[i]].append(i)
        if i in twice:
            per_file[files[i]].append(i)
    rows = [redelivered[f] + per_file[f] for f in range(n_files)]
    return [i for file_rows in rows for i in file_rows], [len(r) for r in rows]


def _hours(
    cat: Catalogue, users: _Users, seed: int, n_events: int, n_dup: int, days: int
) -> Iterator[tuple[int, pa.Table]]:
    """(hour index, the rows of its file as a table of text) for every hour whose file has
    rows, in order, made an hour at a time: memory holds one hour's events, the sessions still
    going on at its end and the rows re-delivered with the next file, whatever the scale.

    Each hour draws from its own random streams (``sessions:<h>``, ``dirt:<h>``,
    ``layout:<h>``), so an hour's rows depend on the seed and the scale only. Hour h gets the
    events and duplicates its traffic weight's share says (sessions run to their end: one that
    overshoots an hour's share is taken from the next hour's; only the last session of all is
    cut short); its file holds the events whose time falls in it, whichever hour their session
    started in."""
    import pyarrow as pa

    t0 = int(START.timestamp())
    n_hours = days * 24
    end = t0 + days * DAY
    hour_cum = cumulative(HOUR_WEIGHTS[h % 24] for h in range(n_hours))
    made = dups = 0
    going_on: list[tuple[Any, ...]] = []  # events past the hours written so far
    redelivered: pa.Table | None = None  # rows that open the next file
    for h in range(n_hours):
        last = h == n_hours - 1
        share = hour_cum[h] / hour_cum[-1]
        rng = _rng(seed, f"sessions:{h}")
        sim = _Simulator(cat, rng)
        start = t0 + h * 3600
        target = n_events if last else round(n_events * share)
        while made < target:
            made += sim._session(
                start + rng.randrange(3600), end, users(rng.random()), n_events - made
            )
        # (time, hour << 32 | session, step, type, product, user, price, session UUID): the
        # first three sort the events uniquely, in the same order whatever else is held
        going_on += [(e[0], h << 32 | e[1], *e[2:], sim.sessions[e[1]]) for e in sim.events]
        hour_end = start + 3600
        ready = sorted(e for e in going_on if e[0] < hour_end)
        going_on = [e for e in going_on if e[0] >= hour_end]

        parts = [] if redelivered is None else [redelivered]
        redelivered = None
        if ready:
            cols = _columns(ready, [e[7] for e in ready], cat, _rng(seed, f"dirt:{h}"))
            table = pa.table({c: pa.array(cols[c], pa.string()) for c in COLUMNS})
            layout = _rng(seed, f"layout:{h}")
            want = (n_dup if last else round(n_dup * share)) - dups
            chosen = sorted(layout.sample(range(len(ready)), min(max(want, 0), len(ready))))
            dups += len(chosen)
            twice: set[int] = set()
            later: list[int] = []
            for i in chosen:
                if not last and layout.random() < P_DUP_NEXT_FILE:
                    later.append(i)
                else:
                    twice.add(i)
            order = [i for i in range(len(ready)) for _ in range(1 + (i in twice))]
            parts.append(table.take(pa.array(order, pa.int64())))
            if later:
                redelivered = table.take(pa.array(later, pa.int64()))
        if parts:
            yield h, pa.concat_tables(parts)


def _file_name(hour_start: datetime, day: int | None) -> str:
    d = hour_start.strftime("%Y-%m-%d")
    suffix = f"_day{day}" if day is not None else ""
    return f"{d}/events_{d}T{hour_start:%H}{suffix}.csv"


def _write_file(path: Path, table: pa.Table) -> None:
    """`table` (text columns) as an event file at `path`: header, no quoting."""
    import pyarrow.csv as pacsv

    path.parent.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as fh:
        # pyarrow quotes the header whatever the style: written by hand, unquoted like the data
        fh.write((",".join(COLUMNS) + "\n").encode())
        pacsv.write_csv(table, fh, write_options=options)


def _write(
    events_dir: Path,
    cols: dict[str, list[Any]],
    order: list[int],
    counts: list[int],
    names: list[str],
) -> dict[str, int]:
    """Write the rows in `order`, `counts[k]` of them to `names[k]`, under temporary names,
    then move every file into place. Returns {events/<name>: rows}."""
    import pyarrow as pa

    table = pa.table({c: pa.array(cols[c], pa.string()) for c in COLUMNS})
    table = table.take(pa.array(order, pa.int64()))
    written = {name: count for name, count in zip(names, counts, strict=True) if count}
    with publishing(events_dir, written) as tmp:
        offset = 0
        for name, count in written.items():
            _write_file(tmp[name], table.slice(offset, count))
            offset += count
    return {f"events/{name}": count for name, count in written.items()}


def _event_files(events_dir: Path) -> list[tuple[Path, date, int | None]]:
    """(path, date, drop day or None) of every event file under events_dir, sorted by path."""
    found = []
    for path in sorted(events_dir.glob("*/events_*.csv")):
        m = _FILE_RE.match(path.name)
        if m:
            day = int(m.group(3)) if m.group(3) else None
            found.append((path, date.fromisoformat(m.group(1)), day))
    return found


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate(data_dir: Path, rows: int = 20_000, seed: int = 42) -> dict[str, int]:
    """Write `rows` event lines (duplicates included) as hourly CSV files under
    `data_dir/events/<date>/`, replacing the event files of an earlier generate (drops too).
    Returns {events/<date>/<file>: rows written}."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    data_dir = Path(data_dir)
    events_dir = data_dir / "events"
    n = sizes(rows)
    cat = _catalogue(n["products"], seed)
    n_dup = round(rows * P_DUP)
    names = [_file_name(START + timedelta(hours=h), None) for h in range(n["days"] * 24)]
    old = {p for p, _, _ in _event_files(events_dir)}
    written: dict[str, int] = {}
    with publishing(events_dir, names, optional=True) as tmp:
        for h, table in _hours(cat, _Users(n["users"]), seed, rows - n_dup, n_dup, n["days"]):
            _write_file(tmp[names[h]], table)
            written[f"events/{names[h]}"] = table.num_rows
    # files of an earlier generate (another scale, or drops) would mix with the new data
    for path in sorted(old - {events_dir / name.removeprefix("events/") for name in written}):
        path.unlink(missing_ok=True)
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()
    return written


def generate_increment(
    data_dir: Path, day: int, rows: int | None = None, seed: int = 42
) -> dict[str, int]:
    """Write day `day`'s drop: the next calendar day's hourly files (``_day<N>`` suffix), with
    returning and new users, sessions continued past midnight, late events and re-delivered
    duplicates of the latest day's rows (see the module docstring). Returns {file: rows}."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    check_drop(day, rows)
    data_dir = Path(data_dir)
    events_dir = data_dir / "events"
    existing = [(p, d) for p, d, k in _event_files(events_dir) if k is None or k < day]
    if not existing:
        raise ValueError(f"{events_dir}: no event files; generate the initial data first")
    last = max(d for _, d in existing)
    new_day = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    t0 = int(new_day.timestamp())

    # --- what the latest day shows (strings, as landed)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(COLUMNS, pa.string()), strings_can_be_null=False
    )
    landed = pa.concat_tables(
        pacsv.read_csv(p, convert_options=convert).select(list(COLUMNS))
        for p, d in existing
        if d == last
    )
    raw = {c: landed.column(c).to_pylist() for c in COLUMNS}
    if rows is None:
        rows = max(1, landed.num_rows)

    cat = Catalogue(by_category=[[] for _ in CATEGORIES])
    cat.category_cum = cumulative([c[3] for c in CATEGORIES])
    code_index = {c[0]: i for i, c in enumerate(CATEGORIES) if c[0]}
    product_index: dict[int, int] = {}
    activity: Counter[int] = Counter()
    # session -> (event_time text, user, product index, event type) of its last event; the
    # text sorts like the time it spells
    sessions_seen: dict[str, tuple[str, int, int, int]] = {}
    for i in range(landed.num_rows):
        try:
            pid, uid = int(raw["product_id"][i]), int(raw["user_id"][i])
            cents = round(float(raw["price"][i]) * 100)
        except ValueError:
            continue
        etype = raw["event_type"][i].strip().lower()
        if pid <= 0 or uid <= 0 or etype not in EVENT_TYPES or not 0 < cents <= MAX_MONEY:
            continue
        if pid not in product_index:
            code = raw["category_code"][i].strip().lower()
            # uncoded categories are told apart by category_id
            ci = code_index.get(code)
            if ci is None:
                ci = (int(raw["category_id"][i]) - CATEGORY_ID_BASE) // 1_000_003_171
                ci = ci if 0 <= ci < len(CATEGORIES) else len(CATEGORIES) - 1
            product_index[pid] = len(cat.product_id)
            cat.add(pid, int(raw["category_id"][i]), code, raw["brand"][i].strip().lower(), 0, ci)
        p = product_index[pid]
        cat.price[p] = max(cat.price[p], cents)  # the list price (promotions are lower)
        activity[uid] += 1
        session = raw["user_session"][i].strip()
        if session:
            when = raw["event_time"][i]
            seen = sessions_seen.get(session)
            if seen is None or when >= seen[0]:
                sessions_seen[session] = (when, uid, p, EVENT_TYPES.index(etype))
    if not product_index or not activity:
        raise ValueError(f"{events_dir}: the files of {last} hold no valid event")
    # a category with no product that day borrows the whole catalogue (drawn by traffic)
    everything = list(range(len(cat.product_id)))
    cat.by_category = [products or everything for products in cat.by_category]

    # --- who comes back, who is new, which sessions go on after midnight
    returning = sorted(activity)  # ids in order: a stable population for the draws
    returning_cum = cumulative([activity[u] for u in returning])
    n_new_users = max(5, rows // 60)
    new_base = NEW_USER_BASE + day * 1_000_000

    def pick_user(u: float) -> int:
        if u < P_NEW_USER_SESSION:
            return new_base + min(int(u / P_NEW_USER_SESSION * n_new_users), n_new_users - 1)
        return returning[
            weighted_index(returning_cum, (u - P_NEW_USER_SESSION) / (1 - P_NEW_USER_SESSION))
        ]

    active_since = (new_day - timedelta(seconds=CARRY_WINDOW_S)).strftime("%Y-%m-%d %H:%M:%S UTC")
    carry = [
        Carry(uid, session, p, etype)
        for session, (when, uid, p, etype) in sorted(sessions_seen.items())
        if when >= active_since
    ]

    n_redelivered = min(round(rows * P_REDELIVERED), landed.num_rows)
    n_late = round(rows * P_LATE)
    n_dup = round(rows * P_DUP)
    n_new = max(0, rows - n_redelivered - n_late - n_dup)
    sim = _Simulator(cat, _rng(seed, f"day{day}:sessions"))
    events = sorted(sim.run(n_new, t0, 1, pick_user, carry=carry))
    n_main = len(events)
    # late events: sessions of the previous day's last six hours, delivered with this drop
    events += sorted(_late(sim, n_late, t0, pick_user))
    cols = _columns(events, [sim.sessions[e[1]] for e in events], cat, _rng(seed, f"day{day}:dirt"))

    # re-delivered rows (exact copies of landed rows) and late rows open the first file
    pick = _rng(seed, f"day{day}:redelivered")
    again = sorted(pick.sample(range(landed.num_rows), n_redelivered))
    late_rows = range(n_main, len(events))
    merged: dict[str, list[Any]] = {
        c: [raw[c][i] for i in again] + [cols[c][i] for i in late_rows] + cols[c][:n_main]
        for c in COLUMNS
    }
    head = len(again) + len(late_rows)
    files = [0] * head + [(e[0] - t0) // 3600 for e in events[:n_main]]
    order, counts = _layout(files, n_dup, _rng(seed, f"day{day}:layout"), 24, head=head)
    names = [_file_name(new_day + timedelta(hours=h), day) for h in range(24)]
    return _write(events_dir, merged, order, counts, names)


def _late(sim: _Simulator, n: int, t0: int, pick_user: Callable[[float], int]) -> list[Event]:
    """`n` events of sessions in the six hours before t0 (delivered late)."""
    start = len(sim.events)
    rng = sim.rng
    budget = n
    while budget > 0:
        t = t0 - 6 * 3600 + rng.randrange(6 * 3600)
        budget -= sim._session(t, t0, pick_user(rng.random()), budget)
    return sim.events[start:]


#: the command line (`python -m medallion.templates.ecommerce_events.generate --help`)
main = kit.command(
    __package__,
    generate=generate,
    generate_increment=generate_increment,
    drop_rows="as many as the latest day's files",
    summary=True,  # one file per hour
)

if __name__ == "__main__":
    raise SystemExit(main())
