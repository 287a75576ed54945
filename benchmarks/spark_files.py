"""Landing files on Spark: the ecommerce-events template's bronze step (hourly CSV drops ->
bronze.events_raw, partitioned by event_type) with `engine: spark`.

What is measured: `medallion run -s bronze.events_raw` in a fresh project (the generated files
hard-linked into its data/, as `benchmarks/ecommerce.py` does), wall time of the whole command
(interpreter and JVM start-up included), by
- **medallion on DuckDB** (the default engine),
- **medallion on Spark, files read by the executors** (this medallion: `ingest/files/spark.py`),
- **medallion on Spark, files read on the driver** (`--baseline SRC`: a medallion source tree
  from before the Spark file reader, e.g. a checkout of the commit before it; its `src/` is put
  first on PYTHONPATH), when given.

Every contender runs `--repeat` times, interleaved; the bronze tables are checked to hold the
same number of rows. Spark runs on `local[2]` (benchmarks/spark_ecommerce.py's settings).

    python benchmarks/spark_files.py [--rows 200000] [--repeat 3] [--baseline SRC] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

SECTION = "Spark: landing files"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    # (run as a script: this folder is on sys.path, as for the other benchmarks)
    from _common import PYTHON, delta_rows, machine, markdown_table, measure, publish, scale_label
    from ecommerce import generate, new_project
    from spark_ecommerce import with_spark_engine

    here = Path(__file__).resolve().parent.parent / "src"
    contenders = {
        "medallion on DuckDB": (here, False),
        "medallion on Spark, files read by the executors": (here, True),
    }
    if args.baseline is not None:
        contenders["medallion on Spark, files read on the driver (before)"] = (
            args.baseline.resolve() / "src",
            True,
        )
    walls: dict[str, list[float]] = {who: [] for who in contenders}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="medallion-spark-files-") as tmp:
        root = Path(tmp)
        data = generate(args.rows, root)
        print(f"{data.label} events: {data.files} files, {data.mb:.0f} MB")
        for round_no in range(args.repeat):
            for who, (src, spark) in contenders.items():
                project = new_project(data, root / f"run-{round_no}-{len(walls[who])}-{spark}")
                if spark:
                    with_spark_engine(project)
                env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
                argv = [PYTHON, "-m", "medallion", "run", "-s", "bronze.events_raw", "--json"]
                sample = measure(argv, cwd=project, env=env)
                if sample.returncode != 0:
                    raise SystemExit(f"{who} failed:\n{sample.stderr[-3000:]}")
                walls[who].append(sample.wall_s)
                rows[who] = delta_rows(project / "lakehouse" / "bronze" / "events_raw")
                print(f"  {who} run {round_no + 1}: {sample.wall_s:.1f} s ({rows[who]:,} rows)")
                shutil.rmtree(project)
    load = os.getloadavg()[0]
    if len(set(rows.values())) != 1:
        raise SystemExit(f"the bronze tables differ in rows: {rows}")
    table = markdown_table(
        ["events", "contender", "wall s (median)", "runs"],
        [
            [scale_label(args.rows), who, f"{statistics.median(w):.1f}", str(len(w))]
            for who, w in walls.items()
        ],
        "llrr",
    )
    text = (
        "The ecommerce-events template's bronze step (`medallion run -s bronze.events_raw`: "
        f"{data.files} hourly CSV files, {data.mb:.0f} MB, partitioned by event_type) on a "
        "fresh project; wall time of the command (interpreter and JVM start-up included), "
        f"median of {args.repeat} interleaved runs; Spark on local[2]. See the docstring of "
        "`benchmarks/spark_files.py`. The machine was shared with other work while it ran "
        f"(load average {load:.1f} at the end).\n\n" + table + "\n\n" + machine()
    )
    publish(text, SECTION, args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
