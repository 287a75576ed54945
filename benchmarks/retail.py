"""Retail pipeline benchmark: medallion against the floor, and CLI start-up.

What is measured, and why
-------------------------
The retail template (5 CSV sources -> 5 bronze tables -> 5 silver models -> 3 gold models) is run
end to end at each scale (number of order lines; default 100k and 1M) by:

- **medallion**: a fresh project scaffolded from the template, the generated data hard-linked
  into its data/ folder, then `Project.load(root).run()` — everything a user's run does: config
  and model validation, file discovery, CSV reading with rejects captured for the quarantine,
  audit columns, Delta commits with run metadata, the state database, rows counted per step;
- **the floor** (benchmarks/floor_retail.py): the same work written by hand with DuckDB and
  deltalake and nothing else — the minimum correct work producing the same tables (including
  the quarantine tables of the models' expectations), so the ratio medallion / floor is
  medallion's overhead: its de-duplication by key, table checks, run log and bookkeeping.
  The target is medallion wall time <= 1.5 x the floor;
- **the CLI**: `medallion run` in a fresh project, once per scale, for information (it adds the
  console reporter and the CLI start-up to the API run);
- **`medallion --help`**: start-up of the command, median of 10 runs; target < 0.3 s. The
  `-X importtime` breakdown of `import medallion.cli.main` is reported next to it.

Each measured run is a fresh child process on a fresh, empty lakehouse, so the peak RSS is that
run's own (its VmHWM, polled by `_common.measure`) and no warm DuckDB or Arrow state carries
over. Wall time is seen from the parent and so includes interpreter start-up and imports, as a
user sees it; CPU time is user + system of the child. Runs are interleaved (medallion, floor,
medallion, ...) so a drift in machine load hits both; figures are medians of `--repeat` runs.
The input files are generated once per scale and are in the page cache for every run;
medallion's bytecode is compiled first, as an install would have it.

Every run's tables are checked: medallion, the floor and the CLI must produce the same tables
with the same row counts and the same sum of gold.sales_summary_daily.total_sales; the benchmark
fails loudly otherwise.

    python benchmarks/retail.py [--rows 100000 1000000] [--repeat 3] [--write-docs]

With --write-docs the "Retail pipeline" section of docs/benchmarks.md is replaced (other sections
are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import floor_retail
from _common import (
    BENCH_DIR,
    DOC,
    MEDALLION,
    PYTHON,
    Sample,
    Summary,
    command_line,
    compile_bytecode,
    machine,
    markdown_table,
    measure,
    package_source,
    publish,
    scale_label,
    shown,
)

SECTION = "Retail pipeline"
FLOOR_SCRIPT = BENCH_DIR / "floor_retail.py"

RATIO_TARGET = 1.5
HELP_TARGET_S = 0.3
HELP_RUNS = 10
CHECK_TABLE, CHECK_COLUMN = "gold.sales_summary_daily", "total_sales"

#: the measured medallion run: what a script using the API does (argv[1]: project root)
MEDALLION_CHILD = """\
import json, sys
from medallion.project import Project
result = Project.load(sys.argv[1]).run()
print(json.dumps({"ok": result.ok, "error": result.error, "run_s": result.duration_s,
                  "steps": {s.node: s.duration_s for s in result.steps}}))
sys.exit(0 if result.ok else 1)
"""


# -- data and projects ------------------------------------------------------------------------


@dataclass
class Dataset:
    rows: int
    folder: Path
    counts: dict[str, int]  # file name -> data rows (duplicates included)
    sizes: dict[str, int]  # file name -> bytes

    @property
    def label(self) -> str:
        return scale_label(self.rows)

    @property
    def mb(self) -> float:
        return sum(self.sizes.values()) / 1e6


def generate(rows: int, workdir: Path) -> Dataset:
    from medallion.templates.retail.generate import generate as generate_retail

    folder = workdir / f"data-{rows}"
    counts = generate_retail(folder, rows=rows, seed=42)
    sizes = {name: (folder / name).stat().st_size for name in counts}
    return Dataset(rows, folder, counts, sizes)


def template_project() -> Path:
    from medallion.templates import get_template

    return get_template("retail").project_files()


def new_project(data: Dataset, dest: Path) -> Path:
    """A fresh project from the retail template, its data/ hard-linked to the generated files."""
    from medallion.templates import get_template

    get_template("retail").scaffold(dest)
    (dest / "data").mkdir()
    for name in data.counts:
        try:
            os.link(data.folder / name, dest / "data" / name)
        except OSError:  # another file system
            shutil.copy2(data.folder / name, dest / "data" / name)
    return dest


def check_floor_matches_template(project: Path) -> None:
    """The floor must declare the template's column types and run its models in a valid order."""
    import yaml

    from medallion.project import Project

    config = yaml.safe_load((project / "medallion.yml").read_text(encoding="utf-8"))
    declared = {
        name: {col: typ.upper() for col, typ in src.get("columns", {}).items()}
        for name, src in config["sources"].items()
    }
    if declared != floor_retail.SOURCES:
        sys.exit(f"floor_retail.SOURCES differs from the template's medallion.yml: {declared}")
    models = Project.load(project).models
    rules = {
        fqn: {name: e.expect for name, e in m.config.expectations.items()}
        for fqn, m in models.items()
        if m.config.expectations
    }
    if rules != floor_retail.EXPECTATIONS or any(
        e.action != "quarantine" for m in models.values() for e in m.config.expectations.values()
    ):
        sys.exit(f"floor_retail.EXPECTATIONS differs from the template's expectations: {rules}")
    scd2 = {fqn for fqn, m in models.items() if m.config.kind == "scd2"}
    if scd2 != set(floor_retail.SCD2):
        sys.exit(f"floor_retail.SCD2 differs from the template's scd2 models: {sorted(scd2)}")
    views = {fqn for fqn, m in models.items() if m.config.kind == "view"}
    if views != set(floor_retail.VIEWS):
        sys.exit(f"floor_retail.VIEWS differs from the template's views: {sorted(views)}")
    if set(models) != set(floor_retail.MODELS):
        sys.exit(f"floor_retail.MODELS differs from the template's models: {sorted(models)}")
    done = {f"bronze.{name}" for name in declared}
    for fqn in floor_retail.MODELS:
        missing = [dep for dep in models[fqn].depends_on if dep not in done]
        if missing:
            sys.exit(f"floor_retail.MODELS runs {fqn} before {missing[0]}")
        done.add(fqn)


# -- checking outputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    rows: tuple[tuple[str, int], ...]  # (layer.table, rows), sorted
    check_sum: Decimal

    def describe(self) -> str:
        tables = ", ".join(f"{t}={n}" for t, n in self.rows)
        return f"{tables}; sum({CHECK_TABLE}.{CHECK_COLUMN})={self.check_sum}"


def read_output(lakehouse: Path) -> Output:
    """Row counts of every Delta table in the lakehouse and the checked sum.

    Counts come from the Delta log's per-file statistics and the sum from the Parquet files
    directly: reading through `DeltaTable.to_pyarrow_dataset()` in this long-lived parent can
    abort the interpreter at exit (a known pyarrow / deltalake shutdown race)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    rows: list[tuple[str, int]] = []
    check_sum: Decimal | None = None
    for log in sorted(lakehouse.glob("*/*/_delta_log")):
        path = log.parent
        fqn = f"{path.parent.name}.{path.name}"
        dt = DeltaTable(str(path))
        actions = pa.table(dt.get_add_actions(flatten=True))
        rows.append((fqn, int(pc.sum(actions["num_records"]).as_py() or 0)))
        if fqn == CHECK_TABLE:
            column = pq.read_table(dt.file_uris(), columns=[CHECK_COLUMN])[CHECK_COLUMN]
            check_sum = Decimal(pc.sum(column).as_py() or 0)
    if check_sum is None:
        raise SystemExit(f"{CHECK_TABLE} was not written in {shown(lakehouse)}")
    return Output(tuple(rows), check_sum)


def same_output(expected: Output, got: Output, what: str) -> None:
    if got != expected:
        raise SystemExit(
            f"OUTPUT MISMATCH: {what} produced different tables\n"
            f"  expected: {expected.describe()}\n  got:      {got.describe()}"
        )


# -- measuring --------------------------------------------------------------------------------


@dataclass
class ScaleResult:
    data: Dataset
    medallion: list[Sample] = field(default_factory=list)
    floor: list[Sample] = field(default_factory=list)
    cli: Sample | None = None
    output: Output | None = None

    def steps(self, samples: list[Sample]) -> dict[str, float]:
        """Median seconds per step, from the children's JSON reports."""
        reports = [json.loads(s.stdout.strip().splitlines()[-1])["steps"] for s in samples]
        return {k: statistics.median(r[k] for r in reports) for k in reports[0]}


def check(result: ScaleResult, lakehouse: Path, what: str) -> None:
    out = read_output(lakehouse)
    if result.output is None:
        result.output = out
    else:
        same_output(result.output, out, what)


def bench_scale(data: Dataset, repeat: int, workdir: Path) -> ScaleResult:
    result = ScaleResult(data)
    models = template_project() / "models"
    for i in range(1, repeat + 1):
        project = new_project(data, workdir / f"medallion-{data.rows}-{i}")
        if i == 1:
            check_floor_matches_template(project)
        sample = measure([PYTHON, "-c", MEDALLION_CHILD, project])
        result.medallion.append(sample)
        check(result, project / "lakehouse", f"medallion run {i}")
        shutil.rmtree(project)
        print(f"  {data.label} medallion run {i}: {sample.wall_s:.2f} s", flush=True)

        lakehouse = workdir / f"floor-{data.rows}-{i}"
        floor_argv = [PYTHON, FLOOR_SCRIPT, "--data", data.folder, "--models", models]
        sample = measure([*floor_argv, "--lakehouse", lakehouse])
        result.floor.append(sample)
        check(result, lakehouse, f"floor run {i}")
        shutil.rmtree(lakehouse)
        print(f"  {data.label} floor run {i}:     {sample.wall_s:.2f} s", flush=True)

    project = new_project(data, workdir / f"cli-{data.rows}")
    result.cli = measure([MEDALLION, "run"], cwd=project, env={**os.environ, "NO_COLOR": "1"})
    check(result, project / "lakehouse", "`medallion run` (CLI)")
    shutil.rmtree(project)
    print(f"  {data.label} medallion run (CLI): {result.cli.wall_s:.2f} s", flush=True)
    return result


@dataclass
class StartupResult:
    help: Summary
    import_ms: float  # cumulative -X importtime of medallion.cli.main
    heaviest: list[tuple[str, float]]  # its heaviest direct imports, ms


def bench_startup() -> StartupResult:
    measure([MEDALLION, "--help"])  # warm the page cache and the .pyc files
    help_runs = [measure([MEDALLION, "--help"]) for _ in range(HELP_RUNS)]
    trace = measure([PYTHON, "-X", "importtime", "-c", "import medallion.cli.main"]).stderr
    import_ms, heaviest = parse_importtime(trace, "medallion.cli.main")
    return StartupResult(Summary.of(help_runs), import_ms, heaviest)


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def parse_importtime(trace: str, module: str) -> tuple[float, list[tuple[str, float]]]:
    """Cumulative ms of `module` and its three heaviest direct imports, from -X importtime."""
    block: list[tuple[int, str, float]] = []  # (indent, name, cumulative ms) since last top level
    for line in trace.splitlines():
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        # one space separates the columns; each nesting level adds two
        indent, name, cumulative = len(m.group(3)) - 1, m.group(4), int(m.group(2)) / 1000
        if indent == 0 and name == module:
            direct = [(n, ms) for i, n, ms in block if i == 2]
            return cumulative, sorted(direct, key=lambda x: -x[1])[:3]
        block = [] if indent == 0 else [*block, (indent, name, cumulative)]
    return float("nan"), []


# -- reporting --------------------------------------------------------------------------------


def _s(value: float) -> str:
    return f"{value:.2f}"


def results_table(results: list[ScaleResult], repeat: int) -> str:
    rows: list[list[str]] = []
    for r in results:
        floor = Summary.of(r.floor)
        med = Summary.of(r.medallion)
        assert r.cli is not None
        lines = [
            (f"medallion (`Project.run`, median of {repeat})", med),
            (f"floor (duckdb + deltalake, median of {repeat})", floor),
            ("`medallion run` (CLI, 1 run)", Summary.of([r.cli])),
        ]
        for tool, s in lines:
            ratio = f"{s.wall_s / floor.wall_s:.2f}×"
            rows.append([r.data.label, tool, _s(s.wall_s), _s(s.cpu_s), f"{s.rss_mb:.0f}", ratio])
    return markdown_table(
        ["scale", "tool", "wall s (median)", "CPU s", "peak RSS MB", "wall ratio to floor"],
        rows,
        "llrrrr",
    )


def steps_table(r: ScaleResult) -> str:
    med, floor = r.steps(r.medallion), r.steps(r.floor)
    rows = [[f"`{k}`", _s(med[k]), _s(floor.get(k, float("nan")))] for k in med]
    med_wall, floor_wall = Summary.of(r.medallion).wall_s, Summary.of(r.floor).wall_s
    rows.append(
        [
            "outside the steps (wall − sum of the steps: start-up, imports, loading, exit)",
            _s(med_wall - sum(med.values())),
            _s(floor_wall - sum(floor.values())),
        ]
    )
    rows.append(["**wall**", f"**{_s(med_wall)}**", f"**{_s(floor_wall)}**"])
    return markdown_table(["step", "medallion s", "floor s"], rows, "lrr")


def data_table(results: list[ScaleResult]) -> str:
    rows = []
    for r in results:
        for name, count in r.data.counts.items():
            rows.append([r.data.label, name, f"{count:,}", f"{r.data.sizes[name] / 1e6:.1f}"])
        rows.append(
            [r.data.label, "**total**", f"{sum(r.data.counts.values()):,}", f"{r.data.mb:.1f}"]
        )
    return markdown_table(["scale", "file", "rows", "MB"], rows, "llrr")


def all_walls(results: list[ScaleResult]) -> str:
    parts = []
    for r in results:
        for tool, samples in (("medallion", r.medallion), ("floor", r.floor)):
            walls = ", ".join(f"{s.wall_s:.2f}" for s in samples)
            parts.append(f"{r.data.label} {tool} {walls}")
    return "; ".join(parts)


def targets(results: list[ScaleResult], startup: StartupResult) -> list[str]:
    lines = []
    for r in results:
        ratio = Summary.of(r.medallion).wall_s / Summary.of(r.floor).wall_s
        ok = "holds" if ratio <= RATIO_TARGET else "**MISSED**"
        lines.append(
            f"- {r.data.label}: medallion wall ≤ {RATIO_TARGET} × floor: {ratio:.2f}× — {ok}"
        )
    ok = "holds" if startup.help.wall_s < HELP_TARGET_S else "**MISSED**"
    lines.append(
        f"- `medallion --help` < {HELP_TARGET_S} s: {startup.help.wall_s:.3f} s "
        f"(median of {startup.help.n}) — {ok}"
    )
    return lines


def report(results: list[ScaleResult], startup: StartupResult, repeat: int, command: str) -> str:
    heaviest = ", ".join(f"{name} {ms:.0f} ms" for name, ms in startup.heaviest)
    largest = results[-1]
    out = largest.output
    assert out is not None
    runs = f"{repeat} run{'s' if repeat != 1 else ''}"
    parts = [
        f"Run on {date.today().isoformat()} with:",
        f"    {command}",
        f"Machine: {machine()}.",
        f"Code measured: {package_source('medallion')}.",
        "Each figure is one fresh process on a fresh, empty lakehouse; wall, CPU (user + system)"
        f" and peak RSS are medians of {runs} (the CLI row is one run). *medallion* is "
        "`Project.load(root).run()` on a project scaffolded from the retail template: 5 CSV "
        "sources to bronze, 6 silver and 3 gold models with their expectations and table checks "
        "(4 quarantine tables). The *floor* "
        "([floor_retail.py](../benchmarks/floor_retail.py)) does the same work with DuckDB and "
        "deltalake alone: `read_csv` with the template's column types, the three audit columns, "
        "`write_deltalake` from `rel.arrow()`, and the template's model SQL over views of "
        "`DeltaTable(...).to_pyarrow_dataset()`, the expectations' rows split into each table and "
        "its quarantine through a DuckDB temporary table — no de-duplication by key (the SQL "
        "already yields one row per key), no CSV rejects, no run log, no table checks. Every "
        f"run produced the same {len(out.rows)} tables with the same row counts and the same "
        f"sum of `{CHECK_TABLE}.{CHECK_COLUMN}` ({out.check_sum} at {largest.data.label}).",
        results_table(results, repeat),
        "Every run's wall time, in order (s): " + all_walls(results) + ".",
        "Targets:\n\n" + "\n".join(targets(results, startup)),
        f"`medallion --help`: {startup.help.wall_s:.3f} s wall, {startup.help.rss_mb:.0f} MB "
        f"peak RSS (median of {startup.help.n}); `import medallion.cli.main` takes "
        f"{startup.import_ms:.0f} ms (`-X importtime`; heaviest direct imports: {heaviest}).",
        f"Where the time goes at {largest.data.label} (median seconds per step, as each "
        "reports it; medallion's step times include its bookkeeping for that step):",
        steps_table(largest),
        "Input data (generated once per scale by `medallion.templates.retail.generate`, seed 42; "
        "rows include the deliberate duplicate lines):",
        data_table(results),
    ]
    return "\n\n".join(parts) + "\n"


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the retail pipeline: medallion vs plain DuckDB + deltalake."
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        help="scales, in order lines (default: 100000 1000000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and scale")
    parser.add_argument(
        "--write-docs", action="store_true", help=f"replace '{SECTION}' in {DOC.name}"
    )
    parser.add_argument("--workdir", type=Path, help="where temporary files go (default: TMPDIR)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(r < 1 for r in args.rows):
        parser.error("--rows and --repeat must be positive")
    if not MEDALLION.exists():
        parser.error(
            f"{shown(MEDALLION)} not found: run with the Python of medallion's environment"
        )
    command = command_line()

    compile_bytecode("medallion")
    print("medallion --help start-up ...", flush=True)
    startup = bench_startup()
    results = []
    with tempfile.TemporaryDirectory(prefix="medallion-bench-", dir=args.workdir) as tmp:
        for rows in args.rows:
            print(f"generating {scale_label(rows)} order lines ...", flush=True)
            data = generate(rows, Path(tmp))
            print(f"  {data.mb:.1f} MB in 5 files", flush=True)
            results.append(bench_scale(data, args.repeat, Path(tmp)))

    text = report(results, startup, args.repeat, command)
    publish(text, SECTION, args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
