"""Orders, order lines and payments of the retail generator, in one streaming pass (an order's
total needs its lines, its payments the total)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from medallion.templates._kit import clock, expand, money, sub_rng
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
    P_FAILED_SINGLE,
    P_MESSY_ENUM,
    P_NEGATIVE_PAYMENT,
    P_NO_PAYMENT,
    P_ORPHAN,
    P_PRICE_DRIFT,
    P_RETRY_PAYMENT,
    P_ZERO_PAYMENT,
    PAYMENT_METHODS,
    QUANTITIES,
)


def _with_messy(table: list[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    return table, {v: ENUM_SPELLINGS.all(v) for v in dict.fromkeys(table)}


def stream_orders(
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
