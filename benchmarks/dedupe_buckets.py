"""De-duplicating a large stream: one window query vs buckets (build/incremental/buckets.py).

Run by hand (each mode in a fresh process, for its own peak RSS):

    python benchmarks/dedupe_buckets.py generate --rows 42000000 --workdir $TMPDIR/dd
    python benchmarks/dedupe_buckets.py none|window|buckets --workdir $TMPDIR/dd

`generate` writes a Parquet file shaped like the ecommerce-events silver table (16-hex event
ids, 61 days, 15 columns; 0.5% of the events twice). Each mode streams it from one DuckDB
connection into a second one as Arrow (as a first build does: the model's query in the engine's
session, the de-duplication in its side session), under a 1 GB memory limit, and counts the rows
that come out: `none` passes them through (the floor), `window` runs the single
`row_number()` window a first build ran before, `buckets` cuts the stream by a hash of
event_date into 64 Arrow files and de-duplicates each in memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path

WINDOW = (
    "select * from s qualify row_number() over (partition by event_date, event_id "
    "order by _ingested_at desc, _source_file desc) = 1"
)


def generate(rows: int, out: Path) -> None:
    import duckdb

    keys = int(rows * 0.995)
    day = f"to_seconds(((i % {keys}) * 5270400) // {rows})"
    duckdb.connect().execute(
        f"""COPY (
        SELECT left(md5((i % {keys})::varchar), 16) AS event_id,
               TIMESTAMP '2019-10-01' + {day} AS event_time,
               (TIMESTAMP '2019-10-01' + {day})::date AS event_date,
               ((i * 7) % 24)::int AS event_hour,
               ['view', 'cart', 'remove_from_cart', 'purchase'][1 + (i % 4)] AS event_type,
               (i % 200000)::bigint AS product_id, (i % 3000)::bigint AS category_id,
               'electronics.smartphone' AS category_code, 'electronics' AS category_l1,
               'samsung' AS brand, ((i % 10000) / 7.0)::decimal(12, 2) AS price,
               (i % 3000000)::bigint AS user_id, uuid()::varchar AS user_session,
               'data/events/h' || (i % 1464)::varchar || '.csv' AS _source_file,
               TIMESTAMPTZ '2026-12-06 00:00:00+00' + to_seconds(i // 30000) AS _ingested_at
        FROM range({rows}) t(i)
    ) TO '{out}' (FORMAT parquet)"""
    )


def run(mode: str, workdir: Path) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    def connect() -> duckdb.DuckDBPyConnection:
        return duckdb.connect(
            config={"memory_limit": "1GB", "temp_directory": str(workdir / "tmp")}
        )

    src, side = connect(), connect()
    reader = src.sql(f"select * from read_parquet('{workdir / 'src.parquet'}')").arrow()
    started = time.perf_counter()
    side.register("s", reader)
    if mode == "none":
        out = side.sql("select * from s").arrow()
    elif mode == "window":
        out = side.sql(WINDOW).arrow()
    else:
        buckets = workdir / "tmp" / "buckets"
        buckets.mkdir(parents=True, exist_ok=True)
        tagged = side.sql("select *, hash(event_date) % 64 as __b from s").arrow()
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        for batch in tagged:
            tags = batch.column("__b")
            order = pc.sort_indices(tags)
            rows, tags = batch.drop_columns(["__b"]).take(order), tags.take(order)
            runs = pc.run_end_encode(tags)
            start = 0
            for end, b in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                if b not in writers:
                    writers[b] = pa.ipc.new_stream(str(buckets / f"{b}.arrow"), rows.schema)
                writers[b].write_batch(rows.slice(start, end - start))
                start = end
        for w in writers.values():
            w.close()

        def each() -> object:
            for b in sorted(writers):
                with pa.memory_map(str(buckets / f"{b}.arrow")) as f:
                    side.register("s", pa.ipc.open_stream(f))
                    yield from side.sql(WINDOW).arrow()
                    side.unregister("s")

        out = each()
    n = sum(batch.num_rows for batch in out)  # type: ignore[attr-defined]
    wall = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{mode}: {n:,} rows out in {wall:.1f} s, peak RSS {rss:,.0f} MB")
    shutil.rmtree(workdir / "tmp", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["generate", "none", "window", "buckets"])
    parser.add_argument("--rows", type=int, default=42_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.mode == "generate":
        generate(args.rows, args.workdir / "src.parquet")
    else:
        run(args.mode, args.workdir)


if __name__ == "__main__":
    main()
