"""`medallion serve --http-port`: a gold table's rows streamed by the HTTP API, against
`medallion query --format csv` writing the same rows.

    python benchmarks/http_api.py [--rows 1000000] [--xlsx-rows 100000] [--runs 3] [--write-docs]

1. A gold table of --rows rows (8 columns: bigint, date, two texts, int, decimal, timestamp,
   boolean; benchmarks/serve.py's) is built by `medallion run` in a temporary project; its one
   user, alice, is a contributor (every read goes through the read policy and the audit).
2. `medallion serve --sql-port 0 --http-port 0` runs as a user runs it; a client in this
   process GETs `/api/v1/tables/gold/sales_wide/rows?format=F` with HTTP Basic and reads the
   body to its end (discarded), for csv, json and parquet, and xlsx for the first --xlsx-rows
   rows. `medallion query --format csv "select * from gold.sales_wide"` (its output to
   /dev/null) is the CLI's time for the same rows, process start included. Median of --runs.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, markdown_table, publish

from serve import PASSWORD, build


def fetch(url: str) -> tuple[float, int]:
    """Seconds to read the whole body, and its size."""
    request = urllib.request.Request(url)
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    started = time.perf_counter()
    size = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
    return time.perf_counter() - started, size


def cli_csv(root: Path) -> float:
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            [sys.executable, "-m", "medallion", "query", "--format", "csv",
             "select * from gold.sales_wide"],
            cwd=root, check=True, stdout=sink,
        )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--xlsx-rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--note", default="", help="A sentence on the machine's state (shared...).")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    results: dict[str, tuple[float, int, int]] = {}  # label -> (median s, bytes, rows)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        build(root, args.rows)
        server = subprocess.Popen(
            [sys.executable, "-m", "medallion", "serve", "--sql-port", "0", "--http-port", "0"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert server.stdout is not None
            port = None
            while port is None:
                line = server.stdout.readline()
                if not line:
                    raise SystemExit("medallion serve stopped before it listened")
                m = re.search(r"HTTP API: http://127\.0\.0\.1:(\d+)/", line)
                port = m.group(1) if m else None
            base = f"http://127.0.0.1:{port}/api/v1/tables/gold/sales_wide/rows"
            for fmt, limit in (("csv", None), ("json", None), ("parquet", None),
                               ("xlsx", args.xlsx_rows)):  # fmt: skip
                url = f"{base}?format={fmt}" + (f"&limit={limit}" if limit else "")
                runs = [fetch(url) for _ in range(args.runs)]
                seconds = statistics.median(r[0] for r in runs)
                results[f"API {fmt}"] = (seconds, runs[0][1], limit or args.rows)
            cli = statistics.median(cli_csv(root) for _ in range(args.runs))
            results["`medallion query --format csv`"] = (cli, 0, args.rows)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)

    csv_s = results["API csv"][0]
    rows = [
        [label, f"{rows:,}", f"{seconds:.2f}", f"{rows / seconds:,.0f}",
         f"{size / 2**20:,.1f} MB" if size else ""]
        for label, (seconds, size, rows) in results.items()
    ]  # fmt: skip
    table = markdown_table(["path", "rows", "median s", "rows/s", "body"], rows, "lrrrr")
    software = machine(("medallion", "duckdb", "deltalake", "pyarrow", "fastapi", "uvicorn"))
    text = f"""{date.today().isoformat()}: {software}.
{args.note}

`{command_line()}`

A gold table of {args.rows:,} rows (8 columns) read through `medallion serve --http-port` by
an HTTP client with Basic authentication (a contributor: the read policy and the audit apply),
median of {args.runs} runs:

{table}

API CSV / CLI CSV: **{csv_s / cli:.2f}** (the CLI's time includes starting its process). JSON
is slower: Arrow has no JSON writer, so numbers are cast to text by Arrow but each row is put
together in Python. xlsx goes through openpyxl cell by cell (write-only mode, so memory
stays flat), by far the slowest: it is for spreadsheets, not bulk export.
"""
    publish(text, "HTTP API (medallion serve --http-port)", args.write_docs)


if __name__ == "__main__":
    main()
