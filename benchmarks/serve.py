"""`medallion serve`: rows streamed to psql through the PostgreSQL-wire endpoint against DuckDB
reading the same Delta table directly, and many psycopg clients at once.

    python benchmarks/serve.py [--rows 1000000] [--clients 20] [--seconds 60] [--runs 3]
                               [--write-docs]

1. A gold table of --rows rows (8 columns: bigint, date, two texts, int, decimal, timestamp,
   boolean) is built by `medallion run` in a temporary project.
2. The endpoint runs in its own process (a spawned child serving one user, alice, a
   contributor added with `medallion users add`: every query goes through the read policy and
   the access audit, as in production). `psql -c "select *
   from gold.sales_wide"` receives every row (text format, written to /dev/null); the same
   SELECT read by DuckDB in this process (`Project.query_reader`, every Arrow batch consumed)
   is the floor. Median of --runs runs of each; rows/s and the ratio.
3. --clients psycopg connections (threads of this process) run a query mix for --seconds: a
   point lookup with a server-side parameter, a dashboard aggregation over a date range, a top-10
   and a catalog probe (information_schema.tables). Queries/s, p50/p95 latency, errors, and the
   server's peak RSS (sampled every 0.2 s).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, markdown_table, publish

PASSWORD = "bench-pass"
MODEL = """
select i as sale_id, date '2024-01-01' + (i % 365)::int as day, 'store-' || (i % 50) as store,
       'product-' || (i % 1000) as product, (i % 7 + 1)::int as quantity,
       ((i % 10000) / 100.0)::decimal(12, 2) as revenue,
       timestamp '2024-01-01 00:00:00' + to_seconds(i) as updated_at, i % 3 = 0 as promo
from range({rows}) t(i)
"""
SELECT_ALL = "select * from gold.sales_wide"


def build(root: Path, rows: int) -> None:
    (root / "models" / "gold").mkdir(parents=True)
    (root / "medallion.yml").write_text("name: bench\n")
    (root / "models" / "gold" / "sales_wide.sql").write_text(MODEL.format(rows=rows))
    subprocess.run([sys.executable, "-m", "medallion", "run"], cwd=root, check=True)
    # the endpoint's one user, a contributor (reads every table in clear), as an operator adds it
    subprocess.run(
        [sys.executable, "-m", "medallion", "users", "add", "alice", "--role", "contributor",
         "--password-stdin"],
        cwd=root, check=True, input=PASSWORD + "\n", text=True,
    )  # fmt: skip


def serve(root: str, ready: mp.Queue) -> None:  # type: ignore[type-arg]
    """The endpoint's process: one user, alice."""
    from medallion.project import Project
    from medallion.serve.pgwire.backend import ProjectBackend
    from medallion.serve.pgwire.server import Server

    project = Project.load(root)
    server = Server(ProjectBackend(project), port=0)
    ready.put(server.port)
    server.serve_forever()


def stream_psql(port: int) -> float:
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    started = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-At", "-o", "/dev/null", "-h", "127.0.0.1", "-p", str(port), "-U",
         "alice", "-d", "bench", "-c", SELECT_ALL],
        check=True,
        env=env,
    )  # fmt: skip
    return time.perf_counter() - started


def read_duckdb(root: Path) -> float:
    from medallion.project import Project

    project = Project.load(root)
    started = time.perf_counter()
    n = sum(batch.num_rows for batch in project.query_reader(SELECT_ALL))
    elapsed = time.perf_counter() - started
    assert n > 0
    return elapsed


def mix(port: int, clients: int, seconds: float, rows: int) -> dict[str, float]:
    import psycopg

    queries = [
        ("lookup", "select * from gold.sales_wide where sale_id = %s",
         lambda r: (r.randrange(rows),)),
        (
            "dashboard",
            "select store, sum(revenue) as revenue, sum(quantity) as units "
            "from gold.sales_wide where day between %s and %s group by store order by revenue desc",
            lambda r: (date(2024, 1, 1) + timedelta(days=r.randrange(300)),
                       date(2024, 1, 1) + timedelta(days=300 + r.randrange(65))),
        ),
        (
            "top10",
            "select product, sum(quantity) as q from gold.sales_wide group by product "
            "order by q desc limit 10",
            lambda r: (),
        ),
        (
            "catalog",
            "select table_schema, table_name from information_schema.tables order by 1, 2",
            lambda r: (),
        ),
    ]  # fmt: skip
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        r = random.Random(seed)
        dsn = f"host=127.0.0.1 port={port} dbname=bench user=alice password={PASSWORD}"
        with psycopg.connect(dsn, autocommit=True) as con:
            while time.monotonic() < deadline:
                _, sql, params = r.choice(queries)
                started = time.perf_counter()
                try:
                    con.execute(sql, params(r) or None).fetchall()
                except Exception as e:
                    with lock:
                        errors.append(str(e))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "queries": len(latencies),
        "qps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else 0,
        "p95": latencies[int(len(latencies) * 0.95)] * 1000 if latencies else 0,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        out.append(proc.memory_info().rss)
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--note", default="", help="A sentence on the machine's state (shared...).")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        build(root, args.rows)
        ctx = mp.get_context("spawn")  # deltalake must not run in a forked child
        ready = ctx.Queue()
        server = ctx.Process(target=serve, args=(str(root), ready), daemon=True)
        server.start()
        try:
            port = ready.get(timeout=60)
            psql_runs = [stream_psql(port) for _ in range(args.runs)]
            duck_runs = [read_duckdb(root) for _ in range(args.runs)]
            rss: list[int] = []
            stop = threading.Event()
            sampler = threading.Thread(target=peak_rss, args=(server.pid, stop, rss))
            sampler.start()
            result = mix(port, args.clients, args.seconds, args.rows)
            stop.set()
            sampler.join()
        finally:
            server.terminate()
            server.join(10)

    psql_s, duck_s = statistics.median(psql_runs), statistics.median(duck_runs)
    psql_rate, duck_rate = args.rows / psql_s, args.rows / duck_s
    stream = markdown_table(
        ["path", "median s", "rows/s"],
        [
            ["psql through `medallion serve` (text rows, TLS off)", f"{psql_s:.2f}",
             f"{psql_rate:,.0f}"],
            ["DuckDB reading the Delta table (`Project.query_reader`)", f"{duck_s:.2f}",
             f"{duck_rate:,.0f}"],
        ],
        "lrr",
    )  # fmt: skip
    concurrent = markdown_table(
        ["clients", "seconds", "queries", "queries/s", "p50 ms", "p95 ms", "errors",
         "server peak RSS"],
        [[
            str(args.clients), f"{args.seconds:.0f}", f"{result['queries']:,}",
            f"{result['qps']:.1f}", f"{result['p50']:.0f}", f"{result['p95']:.0f}",
            str(result["errors"]), f"{max(rss) / 2**20:.0f} MB",
        ]],
        "rrrrrrrr",
    )  # fmt: skip
    software = machine(("medallion", "duckdb", "deltalake", "pyarrow", "psycopg"))
    text = f"""{date.today().isoformat()}: {software}.
{args.note}

`{command_line()}`

**Streaming {args.rows:,} rows** of a gold table (8 columns) to psql, median of {args.runs} runs:

{stream}

The endpoint delivers {psql_rate / duck_rate:.2f}× DuckDB's own rate (ratio of rows/s): each
batch is cast to PostgreSQL's text forms and joined into DataRow messages with Arrow compute (no
Python work per row), sent over TCP, and parsed and buffered by psql.

**{args.clients} concurrent psycopg clients** for {args.seconds:.0f} s, each picking at random
a point lookup (server-side parameter), a dashboard aggregation over a date range, a top-10 and
a catalog probe:

{concurrent}
"""
    if result["errors"]:
        text += f"\nFirst error: `{result['first_error']}`\n"
    publish(text, "SQL endpoint (medallion serve)", args.write_docs)


if __name__ == "__main__":
    main()
