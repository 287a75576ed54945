"""The Polars contender of the e-commerce benchmark: the ecommerce-events pipeline with Polars'
lazy API, writing the same Delta tables (Polars writes Delta through deltalake).

Idiomatic Polars, layer by layer as the lakehouse does it:

- bronze: `pl.scan_csv` over every hourly file with the declared schema (`Decimal(12, 2)` for the
  price; empty fields are NULL), `str.strptime` for the time, the audit columns, streamed to Delta
  with `sink_delta`, partitioned by `event_type`;
- silver: `pl.scan_delta` of bronze, the model's cleaning as expressions, the event id as the MD5
  of the same key text (`hashlib` in `map_batches`: Polars has no MD5 expression), the four rules
  as boolean expressions (a NULL fails, as in medallion); failing rows, duplicates included, with
  the names of the rules they broke go to the quarantine table; passing rows keep, per
  (event_date, event_id), the copy of the latest file (`_source_file` = its max over the key, as
  medallion's `order_by`), streamed with `sink_delta` partitioned by `event_date`;
- gold: `pl.scan_delta` of silver, `group_by().agg()` per table (filtered counts and distinct
  counts as expressions, the funnel's left join), collected and written with `write_delta`.

Rates and averages are computed exactly as the template does (an integer division one digit
finer than the result, rounded half up; docs/engines.md), so the tables have medallion's schemas
and values.

    python benchmarks/polars_ecommerce.py --data DATA_DIR --lakehouse OUT_DIR

Prints one JSON line: seconds per step and in total (after imports).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

SCHEMA = {
    "event_time": pl.String,
    "event_type": pl.String,
    "product_id": pl.Int64,
    "category_id": pl.Int64,
    "category_code": pl.String,
    "brand": pl.String,
    "price": pl.Decimal(12, 2),
    "user_id": pl.Int64,
    "user_session": pl.String,
}
RULES = {
    "known_event_type": pl.col("event_type").is_in(
        ["view", "cart", "remove_from_cart", "purchase"]
    ),
    "price_in_range": pl.col("price").is_between(0, 100000),
    "valid_product_id": pl.col("product_id") > 0,
    "valid_user_id": pl.col("user_id") > 0,
}
SILVER_COLUMNS = [
    "event_id",
    "event_time",
    "event_date",
    "event_hour",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "category_l1",
    "brand",
    "price",
    "user_id",
    "user_session",
    "_source_file",
    "_ingested_at",
]
UTC_US = pl.Datetime("us", "UTC")
MONEY = pl.Decimal(18, 2)


def _exact(units: pl.Expr, den: pl.Expr, digits: int, scale: int) -> pl.Expr:
    """units / 10^scale / den in whole units of 10^-digits, rounded half up, NULL where den is
    0, as the template computes it (docs/engines.md): an integer division one digit finer than
    the result, then rounded (the values are non-negative: floor division truncates)."""
    finer = units * 10 ** (digits + 1 - scale) // den
    return pl.when(den != 0).then((finer + 5) // 10)


def rate(numerator: str, denominator: str) -> pl.Expr:
    """round(numerator / nullif(denominator, 0), 4), exactly."""
    whole = _exact(pl.col(numerator).cast(pl.Int64), pl.col(denominator).cast(pl.Int64), 4, 0)
    return whole / 10_000.0


def money_ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator (DECIMAL(18, 2)) / nullif(denominator, 0), exactly rounded half up to cents."""
    cents = (pl.col(numerator).cast(pl.Float64) * 100).round().cast(pl.Int64)
    whole = _exact(cents, pl.col(denominator).cast(pl.Int64), 2, 2)
    return (whole.cast(pl.Decimal(18, 0)) * pl.lit(Decimal("0.01"), pl.Decimal(3, 2))).cast(MONEY)


def clean(column: str) -> pl.Expr:
    """nullif(lower(trim(x)), '')."""
    text = pl.col(column).str.strip_chars(" ").str.to_lowercase()
    return pl.when(text != "").then(text)


def md5_16(keys: pl.Series) -> pl.Series:
    return pl.Series(
        [hashlib.md5(k.encode()).hexdigest()[:16] for k in keys.to_list()], dtype=pl.String
    )


def count(expr: pl.Expr) -> pl.Expr:
    """count(*) filter (where expr)."""
    return expr.sum().cast(pl.Int64)


def is_type(name: str) -> pl.Expr:
    return pl.col("event_type") == name


# -- the pipeline -------------------------------------------------------------------------------


def bronze(data: Path, path: Path, run_id: str) -> None:
    files = sorted(glob.glob(str(data / "events" / "**" / "*.csv"), recursive=True))
    prefix = str(data) + os.sep
    lf = pl.scan_csv(files, schema=SCHEMA, include_file_paths="_source_file").with_columns(
        pl.col("event_time").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S UTC"),
        (pl.lit("data/") + pl.col("_source_file").str.strip_prefix(prefix)).alias("_source_file"),
        pl.lit(datetime.now(UTC)).cast(UTC_US).alias("_ingested_at"),
        pl.lit(run_id).alias("_run_id"),
    )
    lf.sink_delta(str(path), mode="overwrite", delta_write_options={"partition_by": ["event_type"]})


def silver(bronze_path: Path, path: Path, quarantine_path: Path, run_id: str) -> None:
    normalised = pl.scan_delta(str(bronze_path)).select(
        "event_time",
        clean("event_type").alias("event_type"),
        "product_id",
        "category_id",
        clean("category_code").alias("category_code"),
        clean("brand").alias("brand"),
        "price",
        "user_id",
        pl.col("user_session").str.strip_chars(" ").alias("user_session"),
        "_source_file",
        "_ingested_at",
    )
    normalised = normalised.with_columns(
        pl.when(pl.col("user_session") != "").then(pl.col("user_session")).alias("user_session")
    ).with_columns(*(rule.fill_null(False).alias(f"__ok_{name}") for name, rule in RULES.items()))
    key = pl.concat_str(
        [
            pl.col("event_time").dt.strftime("%Y-%m-%d %H:%M:%S"),
            pl.col("event_type").fill_null(""),
            pl.col("product_id").cast(pl.String).fill_null(""),
            pl.col("user_id").cast(pl.String).fill_null(""),
            pl.col("user_session").fill_null(""),
        ],
        separator="|",
    )
    derived = [
        key.map_batches(md5_16, return_dtype=pl.String, is_elementwise=True).alias("event_id"),
        pl.col("event_time").dt.date().alias("event_date"),
        pl.col("event_time").dt.hour().cast(pl.Int32).alias("event_hour"),
        pl.col("category_code").str.split(".").list.first().alias("category_l1"),
    ]
    oks = [pl.col(f"__ok_{name}") for name in RULES]
    all_ok = pl.all_horizontal(oks)

    good = (
        normalised.filter(all_ok)
        .with_columns(derived)
        .filter(
            pl.col("_source_file") == pl.col("_source_file").max().over("event_date", "event_id")
        )
        .unique(subset=["event_date", "event_id"], keep="any")
        .select(SILVER_COLUMNS)
    )
    good.sink_delta(
        str(path), mode="overwrite", delta_write_options={"partition_by": ["event_date"]}
    )

    failed = pl.concat_list(
        [pl.when(~ok).then(pl.lit(name)) for ok, name in zip(oks, RULES, strict=True)]
    )
    bad = (
        normalised.filter(~all_ok)
        .with_columns(derived)
        .with_row_index("__n")
        .select(
            *SILVER_COLUMNS,
            failed.list.drop_nulls().alias("_failed_expectations"),
            pl.lit(run_id).alias("_run_id"),
            pl.lit(datetime.now(UTC)).cast(UTC_US).alias("_quarantined_at"),
            (pl.lit(f"{run_id}:") + pl.col("__n").cast(pl.String)).alias("_quarantine_id"),
        )
    )
    bad.sink_delta(str(quarantine_path), mode="overwrite")


def customer_metrics(s: pl.LazyFrame) -> pl.LazyFrame:
    purchase = is_type("purchase")
    return (
        s.group_by("user_id")
        .agg(
            pl.len().cast(pl.Int64).alias("total_events"),
            count(is_type("view")).alias("views"),
            count(is_type("cart")).alias("cart_adds"),
            count(is_type("remove_from_cart")).alias("cart_removals"),
            count(purchase).alias("purchases"),
            pl.col("price").filter(purchase).sum().cast(MONEY).alias("revenue"),
            pl.col("user_session").drop_nulls().n_unique().cast(pl.Int64).alias("sessions"),
            pl.col("product_id")
            .filter(is_type("view"))
            .n_unique()
            .cast(pl.Int64)
            .alias("products_viewed"),
            pl.col("event_time").min().alias("first_activity"),
            pl.col("event_time").max().alias("last_activity"),
        )
        .with_columns(
            rate("cart_adds", "views").alias("view_to_cart_rate"),
            rate("purchases", "cart_adds").alias("cart_to_purchase_rate"),
            rate("purchases", "views").alias("conversion_rate"),
            money_ratio("revenue", "purchases").alias("avg_purchase_value"),
            pl.when(pl.col("purchases") >= 10)
            .then(pl.lit("Champion"))
            .when(pl.col("purchases") >= 5)
            .then(pl.lit("Loyal"))
            .when(pl.col("purchases") >= 2)
            .then(pl.lit("Potential Loyalist"))
            .when(pl.col("purchases") == 1)
            .then(pl.lit("New Customer"))
            .when(pl.col("cart_adds") > 0)
            .then(pl.lit("Cart Abandoner"))
            .when(pl.col("views") > 10)
            .then(pl.lit("Engaged Browser"))
            .otherwise(pl.lit("Visitor"))
            .alias("segment"),
        )
    )


def daily_sales_summary(s: pl.LazyFrame) -> pl.LazyFrame:
    purchase = is_type("purchase")
    return (
        s.group_by("event_date")
        .agg(
            pl.len().cast(pl.Int64).alias("total_events"),
            pl.col("user_id").n_unique().cast(pl.Int64).alias("active_users"),
            pl.col("user_session").drop_nulls().n_unique().cast(pl.Int64).alias("sessions"),
            count(is_type("view")).alias("views"),
            count(is_type("cart")).alias("cart_adds"),
            count(is_type("remove_from_cart")).alias("cart_removals"),
            count(purchase).alias("purchases"),
            pl.col("user_id").filter(purchase).n_unique().cast(pl.Int64).alias("buyers"),
            pl.col("price").filter(purchase).sum().cast(MONEY).alias("revenue"),
        )
        .with_columns(
            money_ratio("revenue", "purchases").alias("avg_purchase_value"),
            money_ratio("revenue", "active_users").alias("revenue_per_user"),
            rate("buyers", "active_users").alias("buyer_conversion_rate"),
            rate("purchases", "views").alias("view_to_purchase_rate"),
        )
    )


def product_performance(s: pl.LazyFrame) -> pl.LazyFrame:
    purchase = is_type("purchase")

    def latest(column: str) -> pl.Expr:
        """arg_max(column, event_time) filter (where column is not null)."""
        return pl.col(column).sort_by("event_time").drop_nulls().last()

    return (
        s.group_by("product_id")
        .agg(
            latest("category_id").alias("category_id"),
            latest("category_code").alias("category_code"),
            latest("brand").alias("brand"),
            count(is_type("view")).alias("views"),
            count(is_type("cart")).alias("cart_adds"),
            count(is_type("remove_from_cart")).alias("cart_removals"),
            count(purchase).alias("purchases"),
            pl.col("price").filter(purchase).sum().cast(MONEY).alias("revenue"),
            pl.col("user_id")
            .filter(is_type("view"))
            .n_unique()
            .cast(pl.Int64)
            .alias("unique_viewers"),
            pl.col("user_id").filter(purchase).n_unique().cast(pl.Int64).alias("unique_buyers"),
            pl.col("event_time").min().alias("first_seen"),
            pl.col("event_time").max().alias("last_seen"),
        )
        .with_columns(
            pl.col("category_code").str.split(".").list.first().alias("category_l1"),
            money_ratio("revenue", "purchases").alias("avg_purchase_price"),
            rate("cart_adds", "views").alias("view_to_cart_rate"),
            rate("purchases", "views").alias("view_to_purchase_rate"),
        )
        .select(
            "product_id",
            "category_id",
            "category_code",
            "category_l1",
            "brand",
            "views",
            "cart_adds",
            "cart_removals",
            "purchases",
            "revenue",
            "unique_viewers",
            "unique_buyers",
            "avg_purchase_price",
            "view_to_cart_rate",
            "view_to_purchase_rate",
            "first_seen",
            "last_seen",
        )
    )


def conversion_funnel(s: pl.LazyFrame) -> pl.LazyFrame:
    keys = ["event_date", "category_l1"]
    events = s.select(
        "event_date",
        pl.col("category_l1").fill_null("unknown"),
        "user_id",
        "user_session",
        "event_type",
    )
    flags = [
        is_type("view").any().alias("viewed"),
        is_type("cart").any().alias("carted"),
        is_type("purchase").any().alias("purchased"),
    ]
    sessions = (
        events.filter(pl.col("user_session").is_not_null())
        .group_by(*keys, "user_session")
        .agg(flags)
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("sessions"),
            count(pl.col("viewed")).alias("sessions_with_view"),
            count(pl.col("carted")).alias("sessions_with_cart"),
            count(pl.col("purchased")).alias("sessions_with_purchase"),
            count(pl.col("carted") & ~pl.col("purchased")).alias("abandoned_carts"),
        )
    )
    users = (
        events.group_by(*keys, "user_id")
        .agg(flags)
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("users"),
            count(pl.col("viewed")).alias("users_with_view"),
            count(pl.col("carted")).alias("users_with_cart"),
            count(pl.col("purchased")).alias("users_with_purchase"),
        )
    )
    return users.join(sessions, on=keys, how="left").select(
        *keys,
        *(pl.col(c).fill_null(0) for c in ("sessions", "sessions_with_view", "sessions_with_cart")),
        pl.col("sessions_with_purchase").fill_null(0),
        "users",
        "users_with_view",
        "users_with_cart",
        "users_with_purchase",
        rate("sessions_with_cart", "sessions_with_view").alias("view_to_cart_rate"),
        rate("sessions_with_purchase", "sessions_with_cart").alias("cart_to_purchase_rate"),
        rate("sessions_with_purchase", "sessions_with_view").alias("view_to_purchase_rate"),
        pl.col("abandoned_carts").fill_null(0),
        rate("abandoned_carts", "sessions_with_cart").alias("cart_abandonment_rate"),
    )


GOLD = {
    "gold.conversion_funnel": conversion_funnel,
    "gold.customer_metrics": customer_metrics,
    "gold.daily_sales_summary": daily_sales_summary,
    "gold.product_performance": product_performance,
}


def run(data: Path, lakehouse: Path) -> dict[str, float]:
    run_id = uuid.uuid4().hex
    steps: dict[str, float] = {}
    bronze_path = lakehouse / "bronze" / "events_raw"
    silver_path = lakehouse / "silver" / "events_cleaned"
    started = time.perf_counter()
    bronze(data, bronze_path, run_id)
    steps["bronze.events_raw"] = time.perf_counter() - started

    started = time.perf_counter()
    silver(bronze_path, silver_path, lakehouse / "silver" / "events_cleaned__quarantine", run_id)
    steps["silver.events_cleaned"] = time.perf_counter() - started

    for fqn, build in GOLD.items():
        started = time.perf_counter()
        layer, name = fqn.split(".")
        table = build(pl.scan_delta(str(silver_path))).collect()
        table.write_delta(str(lakehouse / layer / name), mode="overwrite")
        steps[fqn] = time.perf_counter() - started
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding events/")
    parser.add_argument("--lakehouse", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    steps = run(args.data.resolve(), args.lakehouse)
    print(json.dumps({"run_s": time.perf_counter() - started, "steps": steps}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
