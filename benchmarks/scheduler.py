"""The scheduler's two targets (issue #21), run by hand; results in docs/benchmarks.md.

    python benchmarks/scheduler.py idle --minutes 10     # CPU of an idle `medallion scheduler`
    python benchmarks/scheduler.py latency --seconds 60  # tick-to-run-start latency

`idle`: a retail project whose pipelines are daily (nothing due during the measure); the
scheduler process's user+system CPU time over the window, as a share of one CPU.
`latency`: a small project with a pipeline every 2 seconds (croniter's six-field form); for
each run the scheduler started, its run log start time minus the tick's scheduled time.
Both start the real `medallion scheduler` in a child process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def _start(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "medallion", "scheduler"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)


def idle(minutes: float) -> None:
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shop"
        subprocess.run(
            [sys.executable, "-m", "medallion", "init", str(root), "-t", "retail"],
            check=True,
            capture_output=True,
        )
        with (root / "medallion.yml").open("a") as f:
            f.write(
                "pipelines:\n"
                "  ingestion: {select: [layer:bronze], schedule: '0 2 * * *'}\n"
                "  transformation: {select: [layer:silver, layer:gold], after: [ingestion]}\n"
            )
        proc = _start(root)
        try:
            time.sleep(10)  # started and settled (imports, first wake-up)
            p = psutil.Process(proc.pid)
            before, t0 = p.cpu_times(), time.monotonic()
            time.sleep(minutes * 60)
            after, t1 = p.cpu_times(), time.monotonic()
            rss = p.memory_info().rss
        finally:
            _stop(proc)
    cpu = (after.user - before.user) + (after.system - before.system)
    wall = t1 - t0
    print(f"idle scheduler: {cpu:.3f} s CPU over {wall:.0f} s = {100 * cpu / wall:.3f}% of one CPU")
    print(f"resident memory: {rss / 2**20:.0f} MiB")


def latency(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tick"
        (root / "landing").mkdir(parents=True)
        (root / "models" / "silver").mkdir(parents=True)
        (root / "landing" / "orders_1.csv").write_text("order_id,amount\nA1,10\nA2,20\n")
        (root / "models" / "silver" / "orders.sql").write_text("select * from bronze.orders")
        (root / "medallion.yml").write_text(
            "name: tick\n"
            "sources:\n  orders: {path: landing/orders*.csv}\n"
            "pipelines:\n  every2s: {schedule: '* * * * * */2'}\n"
        )
        proc = _start(root)
        try:
            time.sleep(seconds)
        finally:
            _stop(proc)
        con = sqlite3.connect(root / ".medallion" / "state.db")
        rows = con.execute(
            "SELECT started_at, scheduled_for, status FROM runs WHERE pipeline = 'every2s'"
            " ORDER BY started_at"
        ).fetchall()
        ticks = con.execute("SELECT status, count(*) FROM ticks GROUP BY 1 ORDER BY 1").fetchall()
        con.close()
    lags = [
        (datetime.fromisoformat(started) - datetime.fromisoformat(due)).total_seconds()
        for started, due, _ in rows
    ]
    print(f"{len(rows)} runs in {seconds:.0f} s; ticks by status: {dict(ticks)}")
    print(
        f"tick-to-run-start latency: median {statistics.median(lags) * 1000:.0f} ms, "
        f"p95 {sorted(lags)[int(0.95 * (len(lags) - 1))] * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("idle").add_argument("--minutes", type=float, default=10)
    sub.add_parser("latency").add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    os.environ.setdefault("NO_COLOR", "1")
    if args.what == "idle":
        idle(args.minutes)
    else:
        latency(args.seconds)


if __name__ == "__main__":
    main()
