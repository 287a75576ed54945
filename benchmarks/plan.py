"""`medallion plan` benchmark: how long the plan takes on a built retail project with nothing new.

What is measured, and why
-------------------------
`medallion plan` must answer in under 1 s on a 1M-line retail project when nothing is new: it
reads only the Delta logs (each model's last build commit, its inputs' versions and schemas) and
the landing folder's listing, never the data. Per scale: a project scaffolded from the retail
template with `--rows N` data, one `medallion run` to build it, then `--repeat` timed runs of

- `medallion plan` (CLI, a fresh process: start-up, loading the project, the plan), and
- `medallion run` with nothing new (for comparison: what a run costs when there is nothing to
  do; it also runs the table checks).

A model is then edited (a column added to `silver.fact_orders`) and `medallion plan` timed again:
the plan must say `rebuild: model changed` for it and show the diff, and cost the same.

    python benchmarks/plan.py [--rows 1000000] [--repeat 5] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import date
from pathlib import Path

from _common import MEDALLION, command_line, machine, markdown_table, measure, publish


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        measure([MEDALLION, "init", "shop", "-t", "retail", "--rows", str(args.rows)], cwd=root)
        shop = root / "shop"
        measure([MEDALLION, "run"], cwd=shop)

        def times(*argv: str) -> list[float]:
            return [measure([MEDALLION, *argv], cwd=shop).wall_s for _ in range(args.repeat)]

        plan = times("plan", "--json")
        quiet = measure([MEDALLION, "plan", "--json"], cwd=shop)
        steps = json.loads(quiet.stdout)["steps"]
        assert all(s["action"] == "up to date" for s in steps), steps
        run = times("run", "--json")

        model = shop / "models/silver/fact_orders.sql"
        text = model.read_text()
        model.write_text(text.replace("as status,", "as status,\n    upper(channel) as code,", 1))
        edited = times("plan", "--json")
        steps = {
            s["node"]: s
            for s in json.loads(measure([MEDALLION, "plan", "--json"], cwd=shop).stdout)["steps"]
        }
        assert steps["silver.fact_orders"]["why"] == "model changed", steps["silver.fact_orders"]
        assert "+" in steps["silver.fact_orders"]["diff"]

    rows = [
        [
            "`medallion plan`, nothing new",
            f"{statistics.median(plan):.2f}",
            ", ".join(f"{t:.2f}" for t in plan),
        ],
        [
            "`medallion plan`, a model edited",
            f"{statistics.median(edited):.2f}",
            ", ".join(f"{t:.2f}" for t in edited),
        ],
        [
            "`medallion run`, nothing new",
            f"{statistics.median(run):.2f}",
            ", ".join(f"{t:.2f}" for t in run),
        ],
    ]
    text = "\n\n".join(
        [
            f"Run on {date.today().isoformat()} with:\n\n    {command_line()}",
            f"Machine: {machine()}.",
            f"A retail project at {args.rows:,} order lines, built once; each figure is the wall "
            f"time of a fresh CLI process (start-up included), median of {args.repeat}.",
            markdown_table(["command", "wall s (median)", "every run (s)"], rows, "lrl"),
            f"Target: `medallion plan` with nothing new < 1 s: {statistics.median(plan):.2f} s — "
            + ("holds" if statistics.median(plan) < 1 else "MISSED"),
        ]
    )
    publish(text, "Plan", args.write_docs)


if __name__ == "__main__":
    main()
