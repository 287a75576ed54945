"""Lineage and timeline SVG benchmark: drawing the lineage of a 500-model project on the server.

What is measured, and why
-------------------------
The web UI's lineage page draws the graph as SVG on the server (`medallion.serve.web`); the
target is the whole graph of a 500-model project in < 1 s (Dagster's global lineage hangs at
200-500 assets). The script writes a project of `--sources` file sources (bronze), `--silver`
silver models and `--gold` gold models, each model reading 1-3 tables picked at random (fixed
seed) from the layer below or earlier in its own layer, so the DAG is layered and several levels
deep; then, in one process (a server's: warm imports),

- `Project.load` and `Project.lineage()` (what the page reads before drawing),
- `lineage_svg` of the whole graph, and of one silver table's neighbourhood (2 levels up and
  down), and
- `timeline_svg` of a run of the same size (one step per table, synthetic times),

each `--repeat` times; the median is reported. The first call of the process (grandalf's import)
is timed apart.

    python benchmarks/lineage_svg.py [--sources 50 --silver 200 --gold 250] [--repeat 5]
        [--note TEXT] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import command_line, machine, markdown_table, publish

from medallion.project import Project
from medallion.serve.web import lineage_svg, timeline_svg


def write_project(root: Path, sources: int, silver: int, gold: int, seed: int = 7) -> None:
    """A layered project: every table has columns (id, v); a model joins its inputs on id."""
    rng = random.Random(seed)
    (root / "data").mkdir(parents=True)
    lines = ["name: wide", "sources:"]
    for i in range(sources):
        (root / "data" / f"s{i:03d}.csv").write_text("id,v\n1,1\n2,2\n", encoding="utf-8")
        lines += [f"  s{i:03d}:", f"    path: data/s{i:03d}.csv"]
    (root / "medallion.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tables = {"bronze": [f"bronze.s{i:03d}" for i in range(sources)], "silver": [], "gold": []}
    for layer, below, count in (("silver", "bronze", silver), ("gold", "silver", gold)):
        folder = root / "models" / layer
        folder.mkdir(parents=True)
        for i in range(count):
            # mostly the layer below, sometimes an earlier table of the same layer: depth
            pool = tables[below] + tables[layer][-40:] if tables[layer] else tables[below]
            inputs = rng.sample(pool, rng.randint(1, 3))
            sql = [f"select t0.id, {' + '.join(f't{k}.v' for k in range(len(inputs)))} as v"]
            sql.append(f"from {inputs[0]} t0")
            sql += [f"join {t} t{k} on t{k}.id = t0.id" for k, t in enumerate(inputs[1:], 1)]
            name = f"{'m' if layer == 'silver' else 'g'}{i:03d}"
            (folder / f"{name}.sql").write_text("\n".join(sql) + "\n", encoding="utf-8")
            tables[layer].append(f"{layer}.{name}")


def fake_steps(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """One step per table, as `Project.steps` returns them, 2 at a time on a clock."""
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    rng = random.Random(3)
    out = []
    for no, node in enumerate(graph, 1):
        layer, table = node.split(".")
        duration = rng.uniform(0.05, 2.0)
        out.append(
            {
                "step_no": no,
                "step": "ingest" if layer == "bronze" else "model",
                "layer": layer,
                "table_name": table,
                "status": "success",
                "started_at": start.isoformat(timespec="microseconds"),
                "duration_s": duration,
                "rows_read": 1000,
                "rows_written": 990,
                "rows_dropped": 5,
                "rows_quarantined": 5,
                "delta_version": 3,
                "error": None,
                "attempts": 1,
                "details": None,
            }
        )
        start += timedelta(seconds=duration)
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def arguments(description: str) -> argparse.Namespace:
    """The generated project's size, the repetitions, and where the results go (this script's
    and benchmarks/web_pages.py's)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--sources", type=int, default=50)
    ap.add_argument("--silver", type=int, default=200)
    ap.add_argument("--gold", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--note", default="")
    ap.add_argument("--write-docs", action="store_true")
    return ap.parse_args()


def main() -> None:
    args = arguments(__doc__.splitlines()[0])

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "wide"
        write_project(root, args.sources, args.silver, args.gold)
        # a fresh Project each time: loading reads and parses the 450 model files, which
        # `Project.load` defers to the first `lineage()`; a server keeps the loaded project
        cold, graph = timed(lambda: Project.load(root).lineage(), args.repeat)
        project = Project.load(root)
        project.lineage()
        read, _ = timed(project.lineage, args.repeat)
    total = len(graph)
    edges = sum(len(e["upstream"]) + len(e["checks_read"]) for e in graph.values())
    focus = "silver.m100"

    def href(node: str) -> str:
        return "/lineage?node=" + node

    t = time.perf_counter()
    lineage_svg(graph, max_nodes=total, link=href)
    first = time.perf_counter() - t
    whole, svg = timed(lambda: lineage_svg(graph, max_nodes=total, link=href), args.repeat)
    near, near_svg = timed(lambda: lineage_svg(graph, focus, 2, 2, link=href), args.repeat)
    steps = fake_steps(graph)
    gantt, gantt_svg = timed(lambda: timeline_svg(steps), args.repeat)
    shown_near = near_svg.count('class="node')

    def row(what: str, times: list[float], size: str) -> list[str]:
        return [
            what,
            f"{statistics.median(times) * 1000:.0f}",
            ", ".join(f"{x * 1000:.0f}" for x in times),
            size,
        ]

    rows = [
        row("`Project.load(...).lineage()`, a fresh project", cold, f"{total} tables"),
        row("`Project.lineage()`, the project loaded", read, f"{edges} edges"),
        row("`lineage_svg`, whole graph", whole, f"{len(svg) / 1024:.0f} KiB"),
        row(
            f"`lineage_svg`, {focus} ±2 levels",
            near,
            f"{shown_near} tables, {len(near_svg) / 1024:.0f} KiB",
        ),
        row(f"`timeline_svg`, {len(steps)} steps", gantt, f"{len(gantt_svg) / 1024:.0f} KiB"),
    ]
    page = statistics.median(read) + statistics.median(whole)
    fresh = statistics.median(cold) + statistics.median(whole)
    load_avg = os.getloadavg()[0]
    text = "\n\n".join(
        [
            f"Run on {date.today().isoformat()} with:\n\n    {command_line()}",
            f"Machine: {machine(('medallion', 'grandalf', 'sqlglot'))}. Load average when it "
            f"started: {load_avg:.1f} on {os.cpu_count()} CPUs."
            + (f" {args.note}" if args.note else ""),
            f"A generated project of {args.sources} sources, {args.silver} silver and "
            f"{args.gold} gold SQL models (1-3 inputs each, a layered DAG); each figure is the "
            f"time of one call in a warm process, median of {args.repeat}. The first "
            f"`lineage_svg` call of the process (importing grandalf) took {first * 1000:.0f} ms.",
            markdown_table(["what", "ms (median)", "every run (ms)", "size"], rows, "lrll"),
            f"Target: the lineage page of the whole {total}-table graph < 1 s: "
            f"`lineage()` + `lineage_svg` = {page * 1000:.0f} ms with the project loaded — "
            + ("holds" if page < 1 else "MISSED")
            + f"; {fresh * 1000:.0f} ms when the project is loaded for the request.",
        ]
    )
    publish(text, "Lineage and timeline SVG", args.write_docs)


if __name__ == "__main__":
    main()
