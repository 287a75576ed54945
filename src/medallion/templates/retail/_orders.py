"""Orders, order lines and payments of the retail generator, in one streaming pass (an order's
total needs its lines, its payments the total)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from medallion.templates._kit import expand, money, sub_rng
from medallion.templates.retail._vocab import (
    CHANNELS,
    END_DATE,
    ENUM_SPELLINGS,
    MAX_LINES_PER_ORDER,
    ORDER_STATUSES,
    P_BAD_DATE,
    P_BAD_QUANTITY,
    P_BAD_TOTAL,
    P_DISCOUNT,
    P_DISCOUNT_EMPTY,
    P_DUP,
    P_FAILED_PAYMENT,
    P_LATE_PAYMENT,
    P_MESSY_ENUM,
    P_NEGATIVE_PAYMENT,
    P_PRICE_DRIFT,
    P_ZERO_PAYMENT,
    PAYMENT_METHODS,
    QUANTITIES,
    code,
)


class Buyers:
    """Who places each order of the initial export, streamed: exactly `buyers` distinct
    customer numbers over `n_orders` orders, so "customers with any order" is an exact count (the
    seed's 432 of 500).

    Order i opens a new buyer with the probability that still fits (Knuth's selection sampling:
    the first order always does), else goes to a buyer seen before, uniformly. The j-th buyer is
    customer 1 + (a * j + b) mod n_customers (a coprime with it: a permutation), or, with
    probability `p_orphan` (a hash of j), an orphan: a number above n_customers, missing from
    customers.csv. Nothing is kept per customer, so memory does not grow with the scale."""

    def __init__(
        self, n_orders: int, n_customers: int, buyers: int, rng: random.Random, p_orphan: float
    ) -> None:
        self.n_customers = n_customers
        self.left_orders = n_orders
        self.left_buyers = max(1, min(buyers, n_orders, n_customers))
        self.seen = 0
        self.a = rng.randrange(1, max(2, n_customers))
        while math.gcd(self.a, n_customers) != 1:
            self.a = rng.randrange(1, max(2, n_customers))
        self.b = rng.randrange(n_customers)
        self.salt = rng.getrandbits(32)
        self.p_orphan = p_orphan

    def _customer(self, j: int) -> int:
        # a multiplicative hash of j, not a draw: a repeat order finds the same buyer again
        if ((j * 2_654_435_761 + self.salt) % 2**32) / 2**32 < self.p_orphan:
            return self.n_customers + 1 + j
        return 1 + (self.a * j + self.b) % self.n_customers

    def __call__(self, rand: Callable[[], float]) -> tuple[int, bool]:
        """(customer number, True when the order is the buyer's first)."""
        u = rand()
        first = self.seen == 0 or u * self.left_orders < self.left_buyers
        self.left_orders -= 1
        if first and self.left_buyers > 0:
            self.left_buyers -= 1
            self.seen += 1
            return self._customer(self.seen - 1), True
        return self._customer(int(rand() * self.seen)), False


def _with_messy(table: list[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    return table, {v: ENUM_SPELLINGS.all(v) for v in dict.fromkeys(table)}


def stream_orders(
    n_orders: int,
    n_lines: int,
    days: int,
    prices: list[int],
    seed: int,
    orders_out: Callable[[tuple[Any, ...]], None],
    lines_out: Callable[[tuple[Any, ...]], None],
    payments_out: Callable[[tuple[Any, ...]], None],
    *,
    pick_customer: Callable[[Callable[[], float]], tuple[int, bool]],
    end_date: date = END_DATE,
    last_ids: tuple[int, int, int] = (0, 0, 0),
    stream: str = "",
) -> None:
    """Stream `n_orders` orders with `n_lines` lines in total over `days` days ending `end_date`,
    and one payment per order.

    Ids continue after `last_ids` = (order, order line, payment numbers).  An order's customer
    is `pick_customer(random)` = (customer number, whether it is the customer's first order: a
    first order always has a valid date, so every buyer keeps a dated order).  `stream` prefixes
    the names of the random streams (the daily drops use "day<N>:")."""
    # Three streams so that e.g. the payment rules can change without reshuffling orders/lines.
    ro, rl, rp = (sub_rng(seed, stream + n) for n in ("orders", "order_lines", "payments"))
    o_rand, l_rand, p_rand = ro.random, rl.random, rp.random

    start = end_date - timedelta(days=days - 1)
    # +4 days of slack: late payments land up to 3 days after the last order day.
    day_str = [(start + timedelta(days=d)).isoformat() for d in range(days + 4)]

    channels, channel_messy = _with_messy(expand(CHANNELS))
    statuses, status_messy = _with_messy(expand(ORDER_STATUSES))
    methods, method_messy = _with_messy(expand(PAYMENT_METHODS))
    quantities = expand(QUANTITIES)
    n_ch, n_st, n_me, n_q = len(channels), len(statuses), len(methods), len(quantities)
    n_products = len(prices)
    price_str = [money(c) for c in prices]
    product_code = [code("product", p) for p in range(1, n_products + 1)]
    shipping = (499, 999, 1499)

    order_base, line_id, payment_id = last_ids
    lines_left = n_lines
    for oid in range(1, n_orders + 1):
        order_id = code("order", order_base + oid)
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
            # Popularity skew: low product numbers sell more (power law on a uniform draw).
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
            row = (code("order_line", line_id), order_id, product_code[pid - 1], qty, price, disc_s)
            lines_out(row)
            if l_rand() < P_DUP:
                lines_out(row)

        # --- order header
        cust, first_order = pick_customer(o_rand)
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
        if o_rand() < P_BAD_DATE and not first_order:
            order_date = ("2024-02-30", "N/A", "31/12/2023", "")[int(o_rand() * 4)]
        row = (
            order_id,
            code("customer", cust),
            order_date,
            channel_s,
            money(shown_total),
            status_s,
        )
        orders_out(row)
        if o_rand() < P_DUP:
            orders_out(row)

        # --- its payment (one per order, as in the seed system: 1000 orders, 1000 payments)
        method = methods[int(p_rand() * n_me)]
        if channel == "STORE" and p_rand() < 0.3:
            method = "CASH"
        pay_day = day + (1 + int(p_rand() * 3) if p_rand() < P_LATE_PAYMENT else 0)
        amount = "0.00" if p_rand() < P_ZERO_PAYMENT else money(shown_total)
        if p_rand() < P_NEGATIVE_PAYMENT:
            amount = "-" + amount  # a refund booked as a negative payment
        if status == "CANCELLED" or p_rand() < P_FAILED_PAYMENT:
            pay_status = "FAILED"
        elif status == "PLACED":
            pay_status = "PENDING"
        else:
            pay_status = "SUCCESS"
        payment_id += 1
        method_s = method_messy[method][int(p_rand() * 5)] if p_rand() < P_MESSY_ENUM else method
        row = (
            code("payment", payment_id),
            order_id,
            day_str[pay_day],
            method_s,
            pay_status,
            amount,
        )
        payments_out(row)
        if p_rand() < P_DUP:
            payments_out(row)
