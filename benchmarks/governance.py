"""Access-control overhead: the same dashboard queries read as the project, as an admin (the
allow-list, the audit, no policy) and as a viewer through a row filter and two masks.

What is measured, and why
-------------------------
A user's query is checked (allow-list), each table attached through its policy (masks as
columns, the row filter as WHERE), the DuckDB session locked, and an audit row written. The
question is what that costs on a dashboard-sized query over a 1M-row gold table. A project
with one source (Parquet, `--rows` rows: order id, state out of 50, email, phone, amount, day)
and a gold table over it is built once; then, in this process, each query is run `--repeat`
times per reader, timing the whole `Project.query` (engine made, tables attached, rows read):

- `project`: `user=None`, the unrestricted read pipelines and `medallion query` use;
- `admin`: an admin user: allow-list, audit, configuration lock, no masks or filter;
- `viewer`: a viewer whose group is granted the table, through
  `state in (...25 states...)` as the row filter and `email: email`, `phone: partial(...)`.

The viewer reads fewer rows (the filter keeps half the states): the overhead of the policy is
compared with the admin's time for the same query *with the same WHERE written by hand*.

    python benchmarks/governance.py [--rows 1000000] [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from _common import command_line, machine, markdown_table, publish

STATES = [f"S{i:02d}" for i in range(50)]
KEPT = STATES[:25]
FILTER = "state in (" + ", ".join(f"'{s}'" for s in KEPT) + ")"
CONFIG = f"""
name: bench
sources:
  sales: {{path: data/sales.parquet}}
access:
  grants:
    analysts: [gold.sales_wide]
  row_filters:
    gold.sales_wide: "{FILTER}"
  masks:
    gold.sales_wide.email: email
    gold.sales_wide.phone: "partial(0, 'XXX-XXX-', 4)"
"""
QUERIES = {
    "aggregate by state": (
        "select state, count(*) as orders, sum(amount) as revenue "
        "from gold.sales_wide group by state order by state"
    ),
    "masked columns, top 1,000": (
        "select order_id, email, phone, amount from gold.sales_wide "
        "order by amount desc, order_id limit 1000"
    ),
    "masked columns, every row": "select email, phone from gold.sales_wide",
}


def write_project(root: Path, rows: int) -> None:
    import random
    from datetime import timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(7)
    first = date(2026, 1, 1)
    table = pa.table(
        {
            "order_id": pa.array(range(rows), pa.int64()),
            "state": pa.array([STATES[rng.randrange(50)] for _ in range(rows)]),
            "email": pa.array([f"user{i}@example.com" for i in range(rows)]),
            "phone": pa.array([f"555-{i % 1000:03d}-{i % 10000:04d}" for i in range(rows)]),
            "amount": pa.array([rng.randrange(1, 10_000) for _ in range(rows)], pa.int64()),
            "day": pa.array([first + timedelta(days=rng.randrange(365)) for _ in range(rows)]),
        }
    )
    (root / "data").mkdir(parents=True)
    pq.write_table(table, root / "data/sales.parquet")
    (root / "models/gold").mkdir(parents=True)
    (root / "models/gold/sales_wide.sql").write_text("select * from bronze.sales\n")
    (root / "medallion.yml").write_text(CONFIG)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--shared", action="store_true", help="say the machine was shared")
    args = ap.parse_args()

    from medallion.project import Project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        write_project(root, args.rows)
        project = Project.load(root)
        assert project.run(trigger="test").ok
        admin = project.add_user("ada", "admin", [])
        viewer = project.add_user("val", "viewer", ["analysts"])

        def timed(sql: str, user: object) -> tuple[float, int]:
            times, rows = [], 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                rows = project.query(sql, user=user).num_rows  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
            return statistics.median(times), rows

        table_rows = []
        for label, sql in QUERIES.items():
            by_hand = sql.replace("from gold.sales_wide", f"from gold.sales_wide where {FILTER}")
            plain, n_plain = timed(sql, None)
            as_admin, _ = timed(sql, admin)
            filtered, n_filtered = timed(by_hand, admin)
            governed, n_governed = timed(sql, viewer)
            assert n_governed == n_filtered, (label, n_governed, n_filtered)
            table_rows.append(
                [
                    label,
                    f"{n_plain:,}",
                    f"{plain * 1000:,.0f}",
                    f"{as_admin * 1000:,.0f} ({(as_admin / plain - 1) * 100:+.0f}%)",
                    f"{filtered * 1000:,.0f}",
                    f"{n_governed:,}",
                    f"{governed * 1000:,.0f} ({(governed / filtered - 1) * 100:+.0f}%)",
                ]
            )
        project.audit_log.flush()

    text = "\n\n".join(
        [
            f"Measured {date.today().isoformat()} on {machine()}."
            + (" The machine was shared with other work while measured." if args.shared else ""),
            f"`{command_line()}`: a gold table of {args.rows:,} rows; each cell is the median of "
            f"{args.repeat} runs of `Project.query` in one process (engine made, tables attached, "
            "every row read into Arrow), in milliseconds. `admin` adds the allow-list, the audit "
            "and the locked session to `project`; `viewer` reads through the row filter (25 of "
            "50 states) and two masks (email, partial phone) and is compared with the admin "
            "running the same query with the filter written by hand (`admin + WHERE`).",
            markdown_table(
                [
                    "query",
                    "rows",
                    "project ms",
                    "admin ms (vs project)",
                    "admin + WHERE ms",
                    "viewer rows",
                    "viewer ms (vs admin + WHERE)",
                ],
                table_rows,
                "lrrrrrr",
            ),
        ]
    )
    publish(text, "Access control overhead", args.write_docs)


if __name__ == "__main__":
    main()
