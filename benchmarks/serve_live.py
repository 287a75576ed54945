"""What following edits costs `medallion serve`: the look at the project's files before each
login, statement and request (`serve.live.LiveProject.current()`), by number of model files.

    python benchmarks/serve_live.py [--models 10,100,300] [--runs 3] [--note ...] [--write-docs]

For each size a project with that many SQL model files (and medallion.yml) is written to a
temporary folder; then, median of --runs runs of 2,000 calls each:
- `current()` with nothing edited (what every request pays: a stat of medallion.yml, and the
  listing of the models folder once per MODELS_EVERY seconds);
- the full change test (`_code_stamp`: the scheduler's, which lists every model file), what a
  look per request would cost without the medallion.yml fast path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, markdown_table, publish

CALLS = 2000


def write(root: Path, models: int) -> None:
    (root / "models" / "silver").mkdir(parents=True)
    (root / "medallion.yml").write_text(
        "name: bench\nsources:\n  orders:\n    path: data/orders.csv\n", encoding="utf-8"
    )
    for i in range(models):
        (root / "models" / "silver" / f"m{i}.sql").write_text(
            "select * from bronze.orders\n", encoding="utf-8"
        )


def per_call_us(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(CALLS):
            fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="10,100,300")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--note", default="", help="A sentence on the machine's state (shared...).")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    from medallion.orchestrate.watch import _code_stamp
    from medallion.project import Project
    from medallion.serve.live import MODELS_EVERY, LiveProject

    rows = []
    for n in (int(x) for x in args.models.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "bench"
            write(root, n)
            live = LiveProject(Project.load(root))
            fast = per_call_us(live.current, args.runs)
            full = per_call_us(lambda root=root: _code_stamp(root, "models"), args.runs)
        rows.append([f"{n:,}", f"{fast:,.1f}", f"{full:,.1f}"])
    table = markdown_table(
        ["model files", "current() µs per request", "full change test µs"], rows, "rrr"
    )
    text = "\n\n".join(
        [
            f"{time.strftime('%Y-%m-%d')}: {machine()}." + (f" {args.note}" if args.note else ""),
            f"`{command_line()}`",
            f"Median of {args.runs} runs of {CALLS:,} calls each. medallion.yml (the `access:` "
            "policy) is looked at before every login, statement and request; the model files "
            f"every {MODELS_EVERY:g} s (a new model's table is known within it).",
            table,
        ]
    )
    publish(text, "Following edits (medallion serve)", args.write_docs)


if __name__ == "__main__":
    main()
