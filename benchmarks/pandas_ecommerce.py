"""The pandas contender of the e-commerce benchmark: the ecommerce-events pipeline as a pandas
script (the seed 002 system is a pandas pipeline) writing the same Delta tables with deltalake.

Straightforward, idiomatic pandas, as a data engineer would write it — no chunking, no heroic
optimisation:

- bronze: `pd.read_csv` of every hourly file (missing values only where a field is empty),
  `pd.concat`, `pd.to_datetime` with the timestamp format, the three audit columns; written with
  `write_deltalake` partitioned by `event_type`;
- silver: the model's cleaning as vectorised string methods (strip, lower, empty -> NULL), the
  event id as the MD5 of the same key text (`hashlib`, one call per row: pandas has no vectorised
  MD5), the four rules as boolean masks (a missing value fails, as in medallion); failing rows,
  duplicates included, with the names of the rules they broke, go to the quarantine table; the
  passing rows are de-duplicated on (event_date, event_id) with `drop_duplicates(keep="last")`
  — rows are in file order, so the last is the copy of the latest file, which is medallion's
  "highest `_source_file` wins" — and written partitioned by `event_date`;
- gold: `groupby(...).agg(...)`, `nunique` for the distinct counts, `merge` for the funnel join.

pandas keeps every layer in memory and goes on from it: it does not read its bronze and silver
Delta tables back, as medallion and the floor do (a cheaper path than theirs). Money is float64
in pandas (it has no decimal type); sums are rounded to cents and stored as DECIMAL, rates and
averages are computed exactly as the template does (an integer division one digit finer than the
result, rounded half up; docs/engines.md), so the tables have medallion's schemas and values.

    python benchmarks/pandas_ecommerce.py --data DATA_DIR --lakehouse OUT_DIR

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
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

CSV_DTYPES = {
    "event_time": "str",
    "event_type": "str",
    "product_id": "int64",
    "category_id": "int64",
    "category_code": "str",
    "brand": "str",
    "price": "float64",
    "user_id": "int64",
    "user_session": "str",
}
RULES = ("known_event_type", "price_in_range", "valid_product_id", "valid_user_id")
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]

STR, I64, I32, F64 = pa.string(), pa.int64(), pa.int32(), pa.float64()
TS, TS_UTC, DATE = pa.timestamp("us"), pa.timestamp("us", tz="UTC"), pa.date32()
MONEY, MONEY18 = pa.decimal128(12, 2), pa.decimal128(18, 2)


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


BRONZE = _schema(
    ("event_time", TS),
    ("event_type", STR),
    ("product_id", I64),
    ("category_id", I64),
    ("category_code", STR),
    ("brand", STR),
    ("price", MONEY),
    ("user_id", I64),
    ("user_session", STR),
    ("_source_file", STR),
    ("_ingested_at", TS_UTC),
    ("_run_id", STR),
)
SILVER = _schema(
    ("event_id", STR),
    ("event_time", TS),
    ("event_date", DATE),
    ("event_hour", I32),
    ("event_type", STR),
    ("product_id", I64),
    ("category_id", I64),
    ("category_code", STR),
    ("category_l1", STR),
    ("brand", STR),
    ("price", MONEY),
    ("user_id", I64),
    ("user_session", STR),
    ("_source_file", STR),
    ("_ingested_at", TS_UTC),
)
QUARANTINE = _schema(
    *zip(SILVER.names, SILVER.types, strict=True),
    ("_failed_expectations", pa.list_(STR)),
    ("_run_id", STR),
    ("_quarantined_at", TS_UTC),
    ("_quarantine_id", STR),
)
CUSTOMER_METRICS = _schema(
    ("user_id", I64),
    ("total_events", I64),
    ("views", I64),
    ("cart_adds", I64),
    ("cart_removals", I64),
    ("purchases", I64),
    ("revenue", MONEY18),
    ("sessions", I64),
    ("products_viewed", I64),
    ("first_activity", TS),
    ("last_activity", TS),
    ("view_to_cart_rate", F64),
    ("cart_to_purchase_rate", F64),
    ("conversion_rate", F64),
    ("avg_purchase_value", MONEY18),
    ("segment", STR),
)
DAILY_SALES_SUMMARY = _schema(
    ("event_date", DATE),
    ("total_events", I64),
    ("active_users", I64),
    ("sessions", I64),
    ("views", I64),
    ("cart_adds", I64),
    ("cart_removals", I64),
    ("purchases", I64),
    ("buyers", I64),
    ("revenue", MONEY18),
    ("avg_purchase_value", MONEY18),
    ("revenue_per_user", MONEY18),
    ("buyer_conversion_rate", F64),
    ("view_to_purchase_rate", F64),
)
PRODUCT_PERFORMANCE = _schema(
    ("product_id", I64),
    ("category_id", I64),
    ("category_code", STR),
    ("category_l1", STR),
    ("brand", STR),
    ("views", I64),
    ("cart_adds", I64),
    ("cart_removals", I64),
    ("purchases", I64),
    ("revenue", MONEY18),
    ("unique_viewers", I64),
    ("unique_buyers", I64),
    ("avg_purchase_price", MONEY18),
    ("view_to_cart_rate", F64),
    ("view_to_purchase_rate", F64),
    ("first_seen", TS),
    ("last_seen", TS),
)
CONVERSION_FUNNEL = _schema(
    ("event_date", DATE),
    ("category_l1", STR),
    ("sessions", I64),
    ("sessions_with_view", I64),
    ("sessions_with_cart", I64),
    ("sessions_with_purchase", I64),
    ("users", I64),
    ("users_with_view", I64),
    ("users_with_cart", I64),
    ("users_with_purchase", I64),
    ("view_to_cart_rate", F64),
    ("cart_to_purchase_rate", F64),
    ("view_to_purchase_rate", F64),
    ("abandoned_carts", I64),
    ("cart_abandonment_rate", F64),
)


# -- helpers ------------------------------------------------------------------------------------


def exact_ratio(units: pd.Series, denominator: pd.Series, digits: int, scale: int = 0) -> pd.Series:
    """units / 10^scale / denominator rounded half up to `digits` places, NULL (NaN) where the
    denominator is 0, as the template computes it (docs/engines.md): an integer division one
    digit finer than the result, then rounded (non-negative values: floor == truncation)."""
    ok = denominator.fillna(0) != 0
    num = units.where(ok, 0).astype("int64")
    den = denominator.where(ok, 1).astype("int64")
    finer = num * 10 ** (digits + 1 - scale) // den
    return ((finer + 5) // 10 / 10.0**digits).where(ok)


def rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """round(numerator / nullif(denominator, 0), 4), exactly."""
    return exact_ratio(numerator, denominator, 4)


def money_ratio(money: pd.Series, denominator: pd.Series) -> pd.Series:
    """Money (a float of whole cents) / denominator, exactly rounded half up to cents."""
    return exact_ratio(np.round(money * 100), denominator, 2, scale=2)


def clean(text: pd.Series) -> pd.Series:
    """nullif(lower(trim(x)), '')."""
    out = text.str.strip(" ").str.lower()
    return out.where(out != "")


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame as an Arrow table of `schema`; float money columns become DECIMAL via whole
    cents (pyarrow's float -> decimal cast truncates, 0.29 would become 0.28)."""
    columns = []
    for field in schema:
        values = df[field.name]
        if pa.types.is_decimal(field.type):
            cents = pa.array(np.round(values.to_numpy(dtype="float64") * 100), from_pandas=True)
            cents = cents.cast(pa.int64()).cast(pa.decimal128(19, 0))
            money = pc.multiply(cents, pa.scalar(Decimal("0.01"), pa.decimal128(3, 2)))
            columns.append(money.cast(field.type))
        else:
            columns.append(pa.array(values, from_pandas=True).cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def write(lakehouse: Path, fqn: str, df: pd.DataFrame, schema: pa.Schema, partition_by=None):
    layer, name = fqn.split(".")
    write_deltalake(
        str(lakehouse / layer / name),
        to_arrow(df, schema),
        mode="overwrite",
        partition_by=partition_by,
    )


# -- the pipeline -------------------------------------------------------------------------------


def bronze(data: Path, run_id: str) -> pd.DataFrame:
    frames = []
    for path in sorted(glob.glob(str(data / "events" / "**" / "*.csv"), recursive=True)):
        df = pd.read_csv(path, dtype=CSV_DTYPES, keep_default_na=False, na_values=[""])
        df["_source_file"] = "data/" + os.path.relpath(path, data).replace(os.sep, "/")
        frames.append(df)
    raw = pd.concat(frames, ignore_index=True)
    raw["event_time"] = pd.to_datetime(raw["event_time"], format="%Y-%m-%d %H:%M:%S UTC")
    raw["_ingested_at"] = pd.Timestamp.now(tz="UTC")
    raw["_run_id"] = run_id
    return raw


def silver(raw: pd.DataFrame, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver rows, quarantined rows)."""
    s = pd.DataFrame({"event_time": raw["event_time"]})
    s["event_type"] = clean(raw["event_type"])
    s["product_id"] = raw["product_id"]
    s["category_id"] = raw["category_id"]
    s["category_code"] = clean(raw["category_code"])
    s["brand"] = clean(raw["brand"])
    s["price"] = raw["price"]
    s["user_id"] = raw["user_id"]
    session = raw["user_session"].str.strip(" ")
    s["user_session"] = session.where(session != "")
    key = (
        s["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
        + "|"
        + s["event_type"].fillna("")
        + "|"
        + s["product_id"].astype(str)
        + "|"
        + s["user_id"].astype(str)
        + "|"
        + s["user_session"].fillna("")
    )
    s["event_id"] = [hashlib.md5(k.encode()).hexdigest()[:16] for k in key]
    s["event_date"] = s["event_time"].dt.normalize()
    s["event_hour"] = s["event_time"].dt.hour
    s["category_l1"] = s["category_code"].str.split(".", n=1).str[0]
    s["_source_file"] = raw["_source_file"]
    s["_ingested_at"] = raw["_ingested_at"]

    ok = pd.DataFrame(
        {
            "known_event_type": s["event_type"].isin(EVENT_TYPES),
            "price_in_range": s["price"].between(0, 100000),
            "valid_product_id": s["product_id"] > 0,
            "valid_user_id": s["user_id"] > 0,
        }
    )
    good = ok.all(axis=1)
    names = np.array(RULES)
    quarantine = s[~good].copy()
    quarantine["_failed_expectations"] = [list(names[~row]) for row in ok[~good].to_numpy()]
    quarantine["_run_id"] = run_id
    quarantine["_quarantined_at"] = pd.Timestamp.now(tz="UTC")
    quarantine["_quarantine_id"] = [f"{run_id}:{i}" for i in range(len(quarantine))]
    # rows are in file order: the last copy of an event is the one of the latest file
    cleaned = s[good].drop_duplicates(subset=["event_date", "event_id"], keep="last")
    return cleaned, quarantine


def with_flags(s: pd.DataFrame) -> pd.DataFrame:
    purchase = s["event_type"] == "purchase"
    return s.assign(
        is_view=s["event_type"] == "view",
        is_cart=s["event_type"] == "cart",
        is_removal=s["event_type"] == "remove_from_cart",
        is_purchase=purchase,
        purchase_price=s["price"].where(purchase, 0.0),
    )


def customer_metrics(e: pd.DataFrame) -> pd.DataFrame:
    g = e.groupby("user_id").agg(
        total_events=("event_id", "size"),
        views=("is_view", "sum"),
        cart_adds=("is_cart", "sum"),
        cart_removals=("is_removal", "sum"),
        purchases=("is_purchase", "sum"),
        revenue=("purchase_price", "sum"),
        sessions=("user_session", "nunique"),
        first_activity=("event_time", "min"),
        last_activity=("event_time", "max"),
    )
    viewed = e[e["is_view"]].groupby("user_id")["product_id"].nunique()
    g["products_viewed"] = viewed.reindex(g.index, fill_value=0)
    g["revenue"] = g["revenue"].round(2)
    g["view_to_cart_rate"] = rate(g["cart_adds"], g["views"])
    g["cart_to_purchase_rate"] = rate(g["purchases"], g["cart_adds"])
    g["conversion_rate"] = rate(g["purchases"], g["views"])
    g["avg_purchase_value"] = money_ratio(g["revenue"], g["purchases"])
    g["segment"] = np.select(
        [
            g["purchases"] >= 10,
            g["purchases"] >= 5,
            g["purchases"] >= 2,
            g["purchases"] == 1,
            g["cart_adds"] > 0,
            g["views"] > 10,
        ],
        [
            "Champion",
            "Loyal",
            "Potential Loyalist",
            "New Customer",
            "Cart Abandoner",
            "Engaged Browser",
        ],
        default="Visitor",
    )
    return g.reset_index()


def daily_sales_summary(e: pd.DataFrame) -> pd.DataFrame:
    g = e.groupby("event_date").agg(
        total_events=("event_id", "size"),
        active_users=("user_id", "nunique"),
        sessions=("user_session", "nunique"),
        views=("is_view", "sum"),
        cart_adds=("is_cart", "sum"),
        cart_removals=("is_removal", "sum"),
        purchases=("is_purchase", "sum"),
        revenue=("purchase_price", "sum"),
    )
    buyers = e[e["is_purchase"]].groupby("event_date")["user_id"].nunique()
    g.insert(7, "buyers", buyers.reindex(g.index, fill_value=0))
    g["revenue"] = g["revenue"].round(2)
    g["avg_purchase_value"] = money_ratio(g["revenue"], g["purchases"])
    g["revenue_per_user"] = money_ratio(g["revenue"], g["active_users"])
    g["buyer_conversion_rate"] = rate(g["buyers"], g["active_users"])
    g["view_to_purchase_rate"] = rate(g["purchases"], g["views"])
    return g.reset_index()


def product_performance(e: pd.DataFrame) -> pd.DataFrame:
    # the latest non-missing category and brand of each product (groupby.last skips NaN)
    latest = (
        e.sort_values("event_time", kind="stable")
        .groupby("product_id")[["category_id", "category_code", "brand"]]
        .last()
    )
    g = e.groupby("product_id").agg(
        views=("is_view", "sum"),
        cart_adds=("is_cart", "sum"),
        cart_removals=("is_removal", "sum"),
        purchases=("is_purchase", "sum"),
        revenue=("purchase_price", "sum"),
        first_seen=("event_time", "min"),
        last_seen=("event_time", "max"),
    )
    g = latest.join(g)
    g.insert(3, "category_l1", g["category_code"].str.split(".", n=1).str[0])
    viewers = e[e["is_view"]].groupby("product_id")["user_id"].nunique()
    buyers = e[e["is_purchase"]].groupby("product_id")["user_id"].nunique()
    g["unique_viewers"] = viewers.reindex(g.index, fill_value=0)
    g["unique_buyers"] = buyers.reindex(g.index, fill_value=0)
    g["revenue"] = g["revenue"].round(2)
    g["avg_purchase_price"] = money_ratio(g["revenue"], g["purchases"])
    g["view_to_cart_rate"] = rate(g["cart_adds"], g["views"])
    g["view_to_purchase_rate"] = rate(g["purchases"], g["views"])
    return g.reset_index()


def conversion_funnel(e: pd.DataFrame) -> pd.DataFrame:
    ev = e[["event_date", "user_id", "user_session", "is_view", "is_cart", "is_purchase"]].assign(
        category_l1=e["category_l1"].fillna("unknown")
    )
    flags = {"viewed": ("is_view", "any"), "carted": ("is_cart", "any")}
    flags["purchased"] = ("is_purchase", "any")
    keys = ["event_date", "category_l1"]
    per_session = (
        ev[ev["user_session"].notna()].groupby([*keys, "user_session"]).agg(**flags).reset_index()
    )
    per_session["abandoned"] = per_session["carted"] & ~per_session["purchased"]
    sessions = per_session.groupby(keys).agg(
        sessions=("user_session", "size"),
        sessions_with_view=("viewed", "sum"),
        sessions_with_cart=("carted", "sum"),
        sessions_with_purchase=("purchased", "sum"),
        abandoned_carts=("abandoned", "sum"),
    )
    per_user = ev.groupby([*keys, "user_id"]).agg(**flags).reset_index()
    users = per_user.groupby(keys).agg(
        users=("user_id", "size"),
        users_with_view=("viewed", "sum"),
        users_with_cart=("carted", "sum"),
        users_with_purchase=("purchased", "sum"),
    )
    f = users.join(sessions, how="left").reset_index()
    f["view_to_cart_rate"] = rate(f["sessions_with_cart"], f["sessions_with_view"])
    f["cart_to_purchase_rate"] = rate(f["sessions_with_purchase"], f["sessions_with_cart"])
    f["view_to_purchase_rate"] = rate(f["sessions_with_purchase"], f["sessions_with_view"])
    f["cart_abandonment_rate"] = rate(f["abandoned_carts"], f["sessions_with_cart"])
    counts = [*sessions.columns]
    f[counts] = f[counts].fillna(0).astype("int64")
    return f


GOLD = {
    "gold.conversion_funnel": (conversion_funnel, CONVERSION_FUNNEL),
    "gold.customer_metrics": (customer_metrics, CUSTOMER_METRICS),
    "gold.daily_sales_summary": (daily_sales_summary, DAILY_SALES_SUMMARY),
    "gold.product_performance": (product_performance, PRODUCT_PERFORMANCE),
}


def run(data: Path, lakehouse: Path) -> dict[str, float]:
    run_id = uuid.uuid4().hex
    steps: dict[str, float] = {}
    started = time.perf_counter()
    raw = bronze(data, run_id)
    write(lakehouse, "bronze.events_raw", raw, BRONZE, ["event_type"])
    steps["bronze.events_raw"] = time.perf_counter() - started

    started = time.perf_counter()
    cleaned, quarantine = silver(raw, run_id)
    del raw
    write(lakehouse, "silver.events_cleaned", cleaned, SILVER, ["event_date"])
    write(lakehouse, "silver.events_cleaned__quarantine", quarantine, QUARANTINE)
    steps["silver.events_cleaned"] = time.perf_counter() - started

    started = time.perf_counter()
    events = with_flags(cleaned)
    del cleaned
    flags_s = time.perf_counter() - started
    for fqn, (build, schema) in GOLD.items():
        started = time.perf_counter()
        write(lakehouse, fqn, build(events), schema)
        steps[fqn] = time.perf_counter() - started + flags_s / len(GOLD)
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
