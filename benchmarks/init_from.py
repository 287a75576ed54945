"""`medallion init DIR --from PATH` benchmark: inference reads a bounded sample, so its time and
memory must not grow with the size of the files.

What is measured, and why
-------------------------
A folder shaped like a European ERP export: `orders_1.csv` and `orders_2.csv` (`;`-delimited,
text customer codes with leading zeros, `dd/mm/yyyy` dates, decimal commas; ROWS lines in all)
and a small `customers.csv` they point at. Per scale, `--repeat` timed runs of
`medallion init proj --from exports` (a fresh CLI process: start-up, inference on the first
100,000 rows of each source and 4 MiB of each file for its encoding, writing and loading the
project), its wall time and peak RSS. At the smallest scale, the first `medallion run` of the
project is timed too and must be green (it reads every row).

    python benchmarks/init_from.py [--rows 100000 1000000 10000000] [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from datetime import date
from pathlib import Path

import duckdb
from _common import MEDALLION, command_line, machine, markdown_table, measure, publish


def write_exports(folder: Path, rows: int) -> int:
    """The export folder at `rows` order lines; returns its size in bytes."""
    folder.mkdir()
    con = duckdb.connect()
    con.execute(
        f"""
        copy (select 'C' || lpad((i % 5000)::varchar, 5, '0') as customer_code,
                     'Client ' || i as customer_name
              from range(5000) t(i))
        to '{folder / "customers.csv"}' (header, delimiter ';')
        """
    )
    half = rows // 2
    for part, (lo, hi) in enumerate(((0, half), (half, rows)), start=1):
        con.execute(
            f"""
            copy (select i as order_id,
                         'C' || lpad((i * 7 % 5000)::varchar, 5, '0') as customer_code,
                         strftime(date '2024-01-01' + (i % 365)::int, '%d/%m/%Y') as order_date,
                         replace(printf('%.2f', (i % 10000) / 100.0), '.', ',') as amount
                  from range({lo}, {hi}) t(i))
            to '{folder / f"orders_{part}.csv"}' (header, delimiter ';')
            """
        )
    con.close()
    return sum(f.stat().st_size for f in folder.iterdir())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    load = os.getloadavg()[0]
    table = []
    first_run = None
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            size = write_exports(root / "exports", rows)
            samples = []
            for _ in range(args.repeat):
                shutil.rmtree(root / "proj", ignore_errors=True)
                samples.append(measure([MEDALLION, "init", "proj", "--from", "exports"], cwd=root))
            said = samples[-1].stdout
            assert "orders (csv" in said and "relationship customer_code" in said, said
            if rows == min(args.rows):
                run = measure([MEDALLION, "run"], cwd=root / "proj")
                assert "0 failed" in run.stdout, run.stdout
                first_run = (rows, run)
        wall = statistics.median(s.wall_s for s in samples)
        rss = statistics.median(s.rss_mb for s in samples)
        table.append(
            [
                f"{rows:,}",
                f"{size / 1e6:,.0f}",
                f"{wall:.2f}",
                ", ".join(f"{s.wall_s:.2f}" for s in samples),
                f"{rss:,.0f}",
            ]
        )
    parts = [
        f"Run on {date.today().isoformat()} with:\n\n    {command_line()}",
        f"Machine: {machine()}. Load average when it started: {load:.1f} on {os.cpu_count()} "
        "CPUs (above the CPU count: the machine was shared with other work, and times vary "
        "with it).",
        "Each figure is a fresh CLI process (start-up included), median of "
        f"{args.repeat}; the folder is two `;`-delimited order files (text codes, dd/mm/yyyy "
        "dates, decimal commas) and a 5,000-line customers file.",
        markdown_table(
            ["order lines", "folder MB", "init wall s", "every run (s)", "peak RSS MB"],
            table,
            "rrrlr",
        ),
    ]
    if first_run:
        rows, run = first_run
        parts.append(
            f"The first `medallion run` of the project at {rows:,} lines: {run.wall_s:.2f} s, "
            "green (every check passed)."
        )
    publish("\n\n".join(parts), "Init from files", args.write_docs)


if __name__ == "__main__":
    main()
