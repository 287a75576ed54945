"""The ecommerce-events template on the Spark engine against the same project on DuckDB.

Each contender runs `medallion run --json` in a fresh project scaffolded from the template (the
generated files hard-linked into its data/), as a fresh child process measured by
`_common.measure` (wall, CPU of the Python process — Spark's JVM is a child of it and is not
counted in CPU —, peak RSS of the Python process):

- **medallion on DuckDB** (the default engine);
- **medallion on Spark**: `engine: {type: spark, master: local[2]}` in medallion.yml; its wall
  time includes starting the JVM (~7 s).

The runs are interleaved, the order rotating every round. After each run the row counts of every
table (from the Delta log) must equal those of the first DuckDB run; the benchmark stops on a
difference. The hand-written PySpark job the issue compares with lives in `benchmarks/spark_*.py`
of the Spark cluster work.

    python benchmarks/spark_engine.py [--rows 1000000] [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    command_line,
    delta_rows,
    machine,
    markdown_table,
    measure,
    publish,
    scale_label,
)
from ecommerce import generate, new_project

PACKAGES = ("medallion", "pyspark", "duckdb", "deltalake", "pyarrow")
SECTION = "Spark engine: ecommerce-events on Spark and on DuckDB"
#: the template's `engine:` (DuckDB's memory_limit) gets these keys
SPARK = """engine:
  type: spark
  master: local[2]
  conf: {spark.ui.enabled: false, spark.sql.shuffle.partitions: 8}
"""


def run_once(data: object, workdir: Path, engine: str, n: int) -> tuple[object, dict[str, int]]:
    root = new_project(data, workdir / f"{engine}-{n}")  # type: ignore[arg-type]
    if engine == "spark":
        config = root / "medallion.yml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("engine:\n", SPARK, 1), encoding="utf-8")
    sample = measure([sys.executable, "-m", "medallion", "run", "--json"], cwd=root)
    counts = {
        f"{t.parent.name}.{t.name}": delta_rows(t)
        for t in sorted((root / "lakehouse").glob("*/*"))
        if (t / "_delta_log").is_dir()
    }
    return sample, counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        for rows in args.rows:
            data = generate(rows, Path(tmp))
            samples: dict[str, list[object]] = {"duckdb": [], "spark": []}
            reference: dict[str, int] | None = None
            for n in range(args.repeat):
                order = ["duckdb", "spark"] if n % 2 == 0 else ["spark", "duckdb"]
                for engine in order:
                    sample, counts = run_once(data, Path(tmp), engine, n)
                    reference = reference or counts
                    if counts != reference:
                        raise SystemExit(f"{engine} wrote other rows: {counts} != {reference}")
                    samples[engine].append(sample)
                    print(f"{scale_label(rows)} {engine} run {n + 1}: {sample.wall_s:.1f} s")
            duck = statistics.median(s.wall_s for s in samples["duckdb"])  # type: ignore[attr-defined]
            for engine, label in (
                ("duckdb", "medallion on DuckDB"),
                ("spark", "medallion on Spark (local[2])"),
            ):
                got = samples[engine]
                wall = statistics.median(s.wall_s for s in got)  # type: ignore[attr-defined]
                rows_out.append(
                    [
                        scale_label(rows),
                        label,
                        f"{wall:.1f}",
                        f"{statistics.median(s.cpu_s for s in got):.1f}",  # type: ignore[attr-defined]
                        f"{statistics.median(s.rss_mb for s in got):.0f}",  # type: ignore[attr-defined]
                        f"{rows / wall / 1000:.0f} k",
                        f"{wall / duck:.2f}×",
                    ]
                )
    table = markdown_table(
        [
            "events",
            "contender",
            "wall s",
            "CPU s (Python)",
            "peak RSS MB (Python)",
            "events/s",
            "wall / DuckDB",
        ],
        rows_out,
        "llrrrrr",
    )
    text = f"Run with:\n\n    {command_line()}\n\nMachine: {machine(PACKAGES)}\n\n" + table
    publish(text, SECTION, args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
