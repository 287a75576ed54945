"""Incremental runs benchmark: what a run costs after a small file drop, and a merge's memory.

What is measured, and why
-------------------------
Two targets (from the issue):

1. *On the retail pipeline, a run after adding 1% new files takes at most 25% of the full run's
   wall time at 1M order lines, at most 10% at 10M* (issue 19; `--rows` takes several scales,
   each measured in turn and reported in its own table). Per repetition, full, incremental and
   no-new-data runs follow each other (interleaved, so load from other work hits them alike),
   in a fresh project scaffolded from the retail template with the data hard-linked into data/:

   - **full**: `medallion run --json` on the fresh lakehouse — ingestion, every model, checks;
   - **incremental**: the day-2 file drop (`generate_increment(day=2)`: ~1% new order lines, new
     and moved customers, repriced products; generated once, before timing, and hard-linked into
     data/ — the generator is deterministic, so every repetition sees the same files) then
     `medallion run --json` again: only the run is timed;
   - **no new data**: `medallion run --json` once more, with nothing new: the fixed cost of a run
     (CLI start-up, loading and validating the project, reading the Delta logs, the state
     database, and the checks, which run on whole tables even when nothing changed).

   Once, a **reference full run** over day 1 + day 2 in a fresh lakehouse: the incremental result
   must equal it (row count and an order-independent hash of every column except the audit
   columns `_*`, for every table but the quarantines and `silver.customers_history`, whose
   versions depend on when each file was ingested; for the same reason the customer columns of
   `gold.reporting_sales_wide`, joined point in time to that history, are left out). Each
   incremental run must ingest exactly the drop's rows and build every incremental model
   incrementally; the benchmark fails otherwise.

2. *A merge of 1% changed rows into a 10M-row table stays under 2 GB peak RSS.* A project with one
   Parquet source (`--merge-rows`, default 10M rows, 8 columns, made by DuckDB) and one silver
   model `kind: merge, unique_key: id, order_by: updated_at` that selects its columns. After a
   full first run (measured once, for information) a file of changes lands: 1% of the ids with
   new values, spread evenly over the id range (id % 100 = 37, so every data file of the table
   is touched, as random updates would), plus `--new-ids` new ids. The incremental run is
   measured on a fresh copy of the project after the first run, each repetition. Correctness:
   the table holds N + new rows, one per id, and every changed or new id has exactly the values
   of the changes file.

Every measured run is a fresh child process measured by the parent with `_common.measure` (its
own wall, CPU = user + system and peak RSS, the child's polled VmHWM). Project copies hard-link
the files nothing rewrites in place (input files, Delta data files) and copy the rest (Delta logs,
state database, models).

Where the time goes
-------------------
Each run's step durations come from `medallion run --json`. To see inside the steps, the same
incremental run is repeated (`--phase-runs` times, not part of the targets) in a child that wraps
medallion's and deltalake's functions with timers — finding the new files in the Delta log, the
touched keys, the restriction to them, the model query and staging, delta-rs MERGE, Delta writes,
opening Delta tables (log reads), attaching inputs, checks, the state database — and samples
the process RSS every 20 ms, attributing it to the innermost phase running. Phase times are
exclusive (a nested phase is not counted in its caller); what no phase covers is "other" (SQL
building and parsing, Python bookkeeping). Only calls on the main thread are timed: delta-rs
pulls the model's stream on a thread of its own, so that work shows under the Delta write.

    python benchmarks/incremental.py [--rows 1000000 [10000000 ...]] [--repeat 3]
        [--merge-rows 10000000] [--merge-repeat 3] [--phase-runs 3] [--parts retail merge]
        [--write-docs]

With --write-docs the "Incremental runs" section of docs/benchmarks.md is replaced (with
`--parts retail` alone: the "Incremental cost after a 1% drop (retail)" section; other sections
are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from _common import (
    DOC,
    MEDALLION,
    PYTHON,
    Sample,
    Summary,
    command_line,
    compile_bytecode,
    delta_rows,
    machine,
    markdown_table,
    measure,
    package_source,
    publish,
    scale_label,
    shown,
)

SECTION = "Incremental runs"
#: where `--parts retail` writes (the retail target of issue 19: cost follows the change)
RETAIL_SECTION = "Incremental cost after a 1% drop (retail)"
ENV = {**os.environ, "NO_COLOR": "1"}
SEED = 42
DAY = 2

#: incremental run <= this share of the full run's wall time: 25% at 1M order lines, 10% from 10M
#: on (the fixed cost of a run - start-up, loading, checks - weighs more on a small run)
TIME_TARGETS = ((10_000_000, 0.10), (0, 0.25))


def time_target(rows: int) -> float:
    return next(share for at_least, share in TIME_TARGETS if rows >= at_least)


RSS_TARGET_MB = 2000.0  # merge peak RSS < 2 GB (decimal MB, as Sample.rss_mb reports it)

#: tables not compared with the reference run (see the module docstring)
NOT_COMPARED = ("silver.customers_history",)
#: columns not compared with the reference run: the one-big-table shows each order's customer
#: as they were when the order was ingested (a point-in-time join to customers_history), so
#: after a drop the old orders of a customer who moved keep the old city, where a reference
#: run over all files at once knows only the latest version
AS_IT_WAS = {
    "gold.reporting_sales_wide": (
        "customer_name",
        "customer_email",
        "customer_city",
        "customer_state",
        "customer_country",
        "customer_segment",
    )
}


# -- phase timing (runs in a child: --phases-child) --------------------------------------------

#: phase -> the functions it times ("module:Class.attr", "module:func"; "module:Class.*": every
#: public method of the class). A function that no longer exists is skipped and reported.
PHASES: dict[str, list[str]] = {
    "load and validate the project (parse every model)": ["medallion.project:Project.validate"],
    "ingest: read new files, write bronze": ["medallion.runner.execute:_ingest"],
    "new rows since the watermark (Delta log)": [
        "medallion.build.incremental.increment:Increment.__init__"
    ],
    # the kinds import these by name: timed where they are called
    "touched keys (SQL on the new rows)": [
        f"medallion.build.incremental.{kind}:find_scope" for kind in ("merge", "scd2", "by_time")
    ],
    "restriction to the touched keys (IN list or semi join)": [
        f"medallion.build.incremental.{kind}:restrict" for kind in ("merge", "scd2", "by_time")
    ],
    "keys the recomputation no longer produces (DuckDB)": [
        "medallion.build.incremental.merge:MergeBuild._gone"
    ],
    "expectations: bind the predicates": ["medallion.quality.expectations:wrap"],
    "model query, routed into a staging table (DuckDB)": [
        "medallion.engine.duckdb.engine:DuckDBEngine.reader",
        "medallion.engine.duckdb.engine:DuckDBEngine.staged",
    ],
    "row counts (DuckDB)": ["medallion.engine.duckdb.engine:DuckDBEngine.count"],
    "delta-rs MERGE": ["deltalake.table:TableMerger.execute"],
    "Delta write (write_deltalake, pulls the query)": ["deltalake:write_deltalake"],
    "Delta log reads (opening a table)": ["deltalake.table:DeltaTable.__init__"],
    "attach tables to DuckDB": ["medallion.engine.duckdb.engine:DuckDBEngine.attach_table"],
    "checks": ["medallion.runner.execute:run_table_checks"],
    "state database (SQLite)": ["medallion.state.store:StateStore.*"],
}
OTHER = "other (SQL building and parsing, Python)"
BETWEEN = "(outside the steps)"


def phases_child(root: Path) -> None:
    """Run the project once with every PHASES function timed; print the times as JSON."""
    import importlib
    import threading
    import time

    main_thread = threading.get_ident()
    page = os.sysconf("SC_PAGE_SIZE")
    current = {"node": BETWEEN}
    stack: list[list[Any]] = []  # [phase, started, time of nested phases]
    seconds: dict[str, dict[str, float]] = {}
    rss_mb: dict[str, dict[str, float]] = {}
    windows: dict[str, float] = {}

    def timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != main_thread:
                return fn(*args, **kwargs)
            frame = [phase, time.perf_counter(), 0.0]
            stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                stack.pop()
                elapsed = time.perf_counter() - frame[1]
                per_node = seconds.setdefault(current["node"], {})
                per_node[phase] = per_node.get(phase, 0.0) + elapsed - frame[2]
                if stack:
                    stack[-1][2] += elapsed

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    missing: list[str] = []
    for phase, targets in PHASES.items():
        for target in targets:
            module_name, _, attr = target.partition(":")
            *path, name = attr.split(".")
            try:
                owner: Any = importlib.import_module(module_name)
                for part in path:
                    owner = getattr(owner, part)
                if name != "*":
                    getattr(owner, name)
            except (ImportError, AttributeError):
                missing.append(target)
                continue
            names = (
                [n for n, v in vars(owner).items() if callable(v) and not n.startswith("_")]
                if name == "*"
                else [name]
            )
            for n in names:
                if n == "connect":  # a context manager used by the others
                    continue
                setattr(owner, n, timed(phase, getattr(owner, n)))

    stop = threading.Event()

    def sample_rss() -> None:
        with open("/proc/self/statm") as statm:
            while not stop.wait(0.02):
                statm.seek(0)
                mb = int(statm.read().split()[1]) * page / 1e6
                phase = stack[-1][0] if stack else OTHER
                per_node = rss_mb.setdefault(current["node"], {})
                per_node[phase] = max(per_node.get(phase, 0.0), mb)

    class Reporter:
        started = 0.0

        def run_started(self, run_id: str, plan: list[tuple[str, str]]) -> None:
            pass

        def step_started(self, step_no: int, node: str, step: str) -> None:
            current["node"] = node
            self.started = time.perf_counter()

        def step_finished(self, result: Any) -> None:
            if result.node == current["node"]:
                windows[result.node] = time.perf_counter() - self.started
            current["node"] = BETWEEN

        def run_finished(self, result: Any) -> None:
            pass

    from medallion.project import Project

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = Project.load(root).run(reporter=Reporter())
    total = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if not result.ok:
        raise SystemExit(f"the profiled run failed: {result.error}")
    for node, window in windows.items():
        seconds.setdefault(node, {})[OTHER] = window - sum(seconds.get(node, {}).values())
    report = {"run_s": total, "windows": windows, "seconds": seconds, "rss_mb": rss_mb}
    print(json.dumps({**report, "missing": missing}))


@dataclass
class Phases:
    """Medians over the profiled runs: node -> phase -> seconds (0 in a run without that
    phase), node -> phase -> max RSS MB (over the runs where a sample fell in that phase), and
    the profiled processes' peak RSS (`_common.measure`)."""

    runs: int
    run_s: float
    windows: dict[str, float]
    seconds: dict[str, dict[str, float]]
    rss_mb: dict[str, dict[str, float]]
    peak_mb: float
    missing: list[str]  # PHASES functions not found in the code measured

    @classmethod
    def of(cls, reports: list[dict[str, Any]], peaks: list[float]) -> Phases:
        def med(key: str, missing: float | None) -> dict[str, dict[str, float]]:
            nodes = {n for r in reports for n in r[key]}
            out: dict[str, dict[str, float]] = {}
            for n in nodes:
                phases = {p for r in reports for p in r[key].get(n, {})}
                out[n] = {}
                for p in phases:
                    values = [r[key].get(n, {}).get(p, missing) for r in reports]
                    out[n][p] = statistics.median(v for v in values if v is not None)
            return out

        windows = {
            n: statistics.median(r["windows"].get(n, 0.0) for r in reports)
            for n in reports[0]["windows"]
        }
        return cls(
            len(reports),
            statistics.median(r["run_s"] for r in reports),
            windows,
            med("seconds", 0.0),
            med("rss_mb", None),
            statistics.median(peaks),
            sorted({m for r in reports for m in r.get("missing", [])}),
        )

    def totals(self) -> dict[str, float]:
        """Seconds per phase over every step (and outside them)."""
        out: dict[str, float] = {}
        for per_node in self.seconds.values():
            for phase, s in per_node.items():
                out[phase] = out.get(phase, 0.0) + s
        return out


def profile_phases(make_project: Callable[[Path], None], runs: int, workdir: Path) -> Phases:
    reports, peaks = [], []
    for i in range(runs):
        root = workdir / f"phases-{i + 1}"
        make_project(root)
        sample = measure([PYTHON, __file__, "--phases-child", root])
        reports.append(json.loads(sample.stdout.strip().splitlines()[-1]))
        peaks.append(sample.rss_mb)
        shutil.rmtree(root)
        print(f"  profiled run {i + 1}: {reports[-1]['run_s']:.2f} s", flush=True)
    return Phases.of(reports, peaks)


# -- projects, copies and outputs -------------------------------------------------------------


def link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def clone_project(src: Path, dest: Path) -> None:
    """A copy of a project that runs exactly as the original would: the files nothing rewrites
    in place (input files under data/, Delta data files) hard-linked; everything else — Delta
    logs, state database, project and model files — copied, so editing the copy never changes
    the original."""

    def copy(s: str, d: str) -> None:
        parts = Path(s).relative_to(src).parts
        immutable = parts[0] == "data" or (parts[0] == "lakehouse" and "_delta_log" not in parts)
        if immutable:
            link_or_copy(Path(s), Path(d))
        else:
            shutil.copy2(s, d)

    shutil.copytree(src, dest, copy_function=copy)


#: 1-minute load average just before each measured run (other work on the machine shows here)
LOADS: list[float] = []


def run_cli(project: Path) -> tuple[Sample, dict[str, Any]]:
    """`medallion run --json` in `project`: the measured sample and the run's JSON report."""
    LOADS.append(os.getloadavg()[0])
    sample = measure([MEDALLION, "run", "--json"], cwd=project, env=ENV)
    report = json.loads(sample.stdout)
    if report["status"] != "success":
        raise SystemExit(f"run failed in {shown(project)}: {report['error']}")
    return sample, report


def steps_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{s['layer']}.{s['table']}": s for s in report["steps"]}


def fingerprints(lakehouse: Path) -> dict[str, tuple[int, int]]:
    """Per table (quarantines excepted): rows, and the sum of a hash of each row over every
    column but the audit columns `_*` — equal tables give equal fingerprints, in any order."""
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    out: dict[str, tuple[int, int]] = {}
    for log in sorted(lakehouse.glob("*/*/_delta_log")):
        path = log.parent
        fqn = f"{path.parent.name}.{path.name}"
        if fqn.endswith("__quarantine"):
            continue
        files = [u.removeprefix("file://") for u in DeltaTable(str(path)).file_uris()]
        if not files:
            out[fqn] = (0, 0)
            continue
        rel = con.read_parquet(files, union_by_name=True)
        skip = AS_IT_WAS.get(fqn, ())
        cols = ", ".join(f'"{c}"' for c in rel.columns if not c.startswith("_") and c not in skip)
        rows, digest = rel.aggregate(
            f"count(*), coalesce(sum(hash({cols})), 0)::VARCHAR"
        ).fetchall()[0]
        out[fqn] = (int(rows), int(digest))
    con.close()
    return out


# -- 1. retail: full run vs incremental run -----------------------------------------------------


@dataclass
class RetailData:
    rows: int
    folder: Path  # the initial export
    drop: dict[str, Path]  # day-2 file name -> path
    counts: dict[str, int]  # file name -> data rows (initial and day 2)
    sizes: dict[str, int]  # file name -> bytes

    @property
    def label(self) -> str:
        return scale_label(self.rows)


def retail_data(rows: int, workdir: Path) -> RetailData:
    from medallion.templates.retail.generate import generate, generate_increment

    folder = workdir / f"retail-data-{rows}"
    counts = generate(folder, rows=rows, seed=SEED)
    day = workdir / f"retail-data-{rows}-day{DAY}"
    for name in counts:
        link_or_copy(folder / name, day / name)
    drop_counts = generate_increment(day, day=DAY, seed=SEED)
    drop = {name: day / name for name in drop_counts}
    all_counts = {**counts, **drop_counts}
    sizes = {n: (folder / n if n in counts else drop[n]).stat().st_size for n in all_counts}
    return RetailData(rows, folder, drop, all_counts, sizes)


def retail_project(data: RetailData, dest: Path, with_drop: bool = False) -> Path:
    from medallion.templates import get_template

    get_template("retail").scaffold(dest)
    for path in data.folder.iterdir():
        link_or_copy(path, dest / "data" / path.name)
    if with_drop:
        add_drop(data, dest)
    return dest


def add_drop(data: RetailData, project: Path) -> None:
    for name, path in data.drop.items():
        link_or_copy(path, project / "data" / name)


@dataclass
class RetailResult:
    data: RetailData
    full: list[Sample] = field(default_factory=list)
    incremental: list[Sample] = field(default_factory=list)
    noop: list[Sample] = field(default_factory=list)
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reference: Sample | None = None
    compared: int = 0
    phases: Phases | None = None
    noop_phases: Phases | None = None

    def add(self, what: str, sample: Sample, report: dict[str, Any]) -> None:
        getattr(self, what).append(sample)
        self.reports.setdefault(what, []).append(report)

    def step_s(self, what: str) -> dict[str, float]:
        reports = self.reports[what]
        nodes = [f"{s['layer']}.{s['table']}" for s in reports[0]["steps"]]
        return {n: statistics.median(steps_of(r)[n]["duration_s"] for r in reports) for n in nodes}

    def run_s(self, what: str) -> float:
        return statistics.median(r["duration_s"] for r in self.reports[what])

    def steps_sum(self, what: str) -> list[float]:
        """Per run: the sum of its steps' durations."""
        return [sum(s["duration_s"] for s in r["steps"]) for r in self.reports[what]]

    def outside_steps(self, what: str) -> list[float]:
        """Per run: wall time not spent in a step."""
        samples = getattr(self, what)
        return [s.wall_s - t for s, t in zip(samples, self.steps_sum(what), strict=True)]


def check_incremental(data: RetailData, project: Path, report: dict[str, Any]) -> None:
    """The run ingested exactly the drop and built every incremental model incrementally."""
    import yaml

    from medallion.project import Project

    config = yaml.safe_load((project / "medallion.yml").read_text(encoding="utf-8"))
    steps = steps_of(report)
    problems = []
    for source in config["sources"]:
        name = f"{source}_day{DAY}.csv"
        got = steps[f"bronze.{source}"]["rows_read"]
        if got != data.counts.get(name, 0):
            problems.append(f"bronze.{source} read {got} rows, the drop has {data.counts[name]}")
    for fqn, model in Project.load(project).models.items():
        if model.config.incremental and steps[fqn]["details"].get("mode") != "incremental":
            problems.append(f"{fqn} ran in mode {steps[fqn]['details'].get('mode')!r}")
    if problems:
        raise SystemExit("WRONG INCREMENTAL RUN:\n  " + "\n  ".join(problems))


def check_noop(report: dict[str, Any]) -> None:
    wrote = [n for n, s in steps_of(report).items() if s.get("rows_written")]
    if wrote:
        raise SystemExit(f"a run with no new data wrote rows to {', '.join(wrote)}")


def same_tables(incremental: Path, reference: Path) -> int:
    """Compare the lakehouses; returns the number of tables compared."""
    got, want = fingerprints(incremental), fingerprints(reference)
    problems = [f"tables differ: {sorted(set(got) ^ set(want))}"] if set(got) != set(want) else []
    compared = [t for t in sorted(want) if t not in NOT_COMPARED and t in got]
    for table in compared:
        if got[table] != want[table]:
            problems.append(
                f"{table}: incremental {got[table][0]} rows (hash {got[table][1]}), "
                f"full rebuild {want[table][0]} rows (hash {want[table][1]})"
            )
    if problems:
        raise SystemExit(
            "INCREMENTAL RESULT DIFFERS FROM A FULL REBUILD:\n  " + "\n  ".join(problems)
        )
    return len(compared)


def bench_retail(rows: int, repeat: int, phase_runs: int, workdir: Path) -> RetailResult:
    print(f"retail: generating {scale_label(rows)} order lines and the day-{DAY} drop ...")
    data = retail_data(rows, workdir)
    result = RetailResult(data)
    snapshot = workdir / "retail-after-full"
    after_incremental = workdir / "retail-after-incremental"
    for i in range(1, repeat + 1):
        project = retail_project(data, workdir / f"retail-{i}")
        sample, report = run_cli(project)
        result.add("full", sample, report)
        print(f"  run {i} full:        {sample.wall_s:6.2f} s, {sample.rss_mb:5.0f} MB", flush=True)
        if i == 1:
            clone_project(project, snapshot)
        add_drop(data, project)
        sample, report = run_cli(project)
        check_incremental(data, project, report)
        result.add("incremental", sample, report)
        print(f"  run {i} incremental: {sample.wall_s:6.2f} s, {sample.rss_mb:5.0f} MB", flush=True)
        if i == 1:
            clone_project(project, after_incremental)
        sample, report = run_cli(project)
        check_noop(report)
        result.add("noop", sample, report)
        print(f"  run {i} no new data: {sample.wall_s:6.2f} s, {sample.rss_mb:5.0f} MB", flush=True)
        if i == 1:
            reference = retail_project(data, workdir / "retail-reference", with_drop=True)
            result.reference, _ = run_cli(reference)
            print(f"  reference full run over day 1 + {DAY}: {result.reference.wall_s:.2f} s")
            result.compared = same_tables(project / "lakehouse", reference / "lakehouse")
            print(f"  incremental result = full rebuild ({result.compared} tables)", flush=True)
            shutil.rmtree(reference)
        shutil.rmtree(project)

    if phase_runs:

        def make(root: Path) -> None:
            clone_project(snapshot, root)
            add_drop(data, root)

        print("  profiling the incremental run ...", flush=True)
        result.phases = profile_phases(make, phase_runs, workdir)
        print("  profiling the run with no new data ...", flush=True)
        result.noop_phases = profile_phases(
            lambda root: clone_project(after_incremental, root), phase_runs, workdir
        )
    shutil.rmtree(snapshot)
    shutil.rmtree(after_incremental)
    return result


# -- 2. merge of 1% changed rows into a large table ---------------------------------------------

MERGE_YML = """\
name: merge_bench
storage: ./lakehouse
state: .medallion
layers: [bronze, silver]
models: models
sources:
  orders:
    path: data/orders*.parquet
"""

MERGE_MODEL = """\
/* ---
kind: merge
unique_key: id
order_by: updated_at
description: One row per order; the latest update wins.
--- */
select id, customer_id, order_date, status, channel, quantity, amount, updated_at
from bronze.orders
"""

MERGE_TABLE = "silver.orders"
CHANGED_STATUS = "amended"  # a status only changed and new rows have


@dataclass
class MergeData:
    rows: int
    changed: int
    new: int
    base: Path
    changes: Path
    base_mb: float
    changes_mb: float

    @property
    def label(self) -> str:
        return scale_label(self.rows)


def merge_data(rows: int, new_ids: int, workdir: Path) -> MergeData:
    """orders.parquet (ids 1..rows) and orders_changes.parquet (1% of the ids changed — every id
    ending in 37 — and `new_ids` ids after the last), written by DuckDB from hashes of the id."""
    import duckdb

    folder = workdir / "merge-data"
    folder.mkdir(parents=True)
    base, changes = folder / "orders.parquet", folder / "orders_changes.parquet"
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            SELECT
                i AS id,
                1 + hash(i, {SEED}, 'customer') % 1000000 AS customer_id,
                DATE '2023-01-01' + (hash(i, {SEED}, 'date') % 730)::INTEGER AS order_date,
                (['pending', 'paid', 'shipped', 'delivered', 'cancelled'])
                    [1 + (hash(i, {SEED}, 'status') % 5)::INTEGER] AS status,
                (['web', 'store', 'app', 'phone'])[1 + (hash(i, {SEED}, 'channel') % 4)::INTEGER]
                    AS channel,
                (1 + hash(i, {SEED}, 'quantity') % 10)::INTEGER AS quantity,
                ((hash(i, {SEED}, 'amount') % 100000)::DECIMAL(12, 0) / 100)::DECIMAL(12, 2)
                    AS amount,
                TIMESTAMP '2024-01-01'
                    + to_seconds((hash(i, {SEED}, 'updated') % 31536000)::BIGINT) AS updated_at
            FROM range(1, {rows} + 1) AS t(i)
        ) TO '{base}' (FORMAT parquet)
        """
    )
    con.execute(
        f"""
        COPY (
            SELECT
                id, customer_id, order_date, '{CHANGED_STATUS}' AS status, channel,
                quantity + 1 AS quantity, (amount + 1)::DECIMAL(12, 2) AS amount,
                TIMESTAMP '2025-06-01 12:00:00' AS updated_at
            FROM read_parquet('{base}')
            WHERE id % 100 = 37
            UNION ALL
            SELECT
                i, 1 + i % 1000, DATE '2025-06-01', '{CHANGED_STATUS}', 'web', 1, 9.99,
                TIMESTAMP '2025-06-01 12:00:00'
            FROM range({rows} + 1, {rows} + {new_ids} + 1) AS t(i)
            ORDER BY id
        ) TO '{changes}' (FORMAT parquet)
        """
    )
    row = con.execute(
        f"SELECT count(*) FILTER (id <= {rows}), count(*) FILTER (id > {rows}) "
        f"FROM read_parquet('{changes}')"
    ).fetchone()
    con.close()
    assert row is not None
    mb = (base.stat().st_size / 1e6, changes.stat().st_size / 1e6)
    return MergeData(rows, int(row[0]), int(row[1]), base, changes, *mb)


def merge_project(data: MergeData, dest: Path) -> Path:
    (dest / "models" / "silver").mkdir(parents=True)
    (dest / "medallion.yml").write_text(MERGE_YML, encoding="utf-8")
    (dest / "models" / "silver" / "orders.sql").write_text(MERGE_MODEL, encoding="utf-8")
    link_or_copy(data.base, dest / "data" / data.base.name)
    return dest


def check_merge(data: MergeData, project: Path, report: dict[str, Any]) -> None:
    """One row per id, N + new rows, and every changed or new id holds the changes file's values
    (and no other row has the changed status)."""
    import duckdb
    from deltalake import DeltaTable

    step = steps_of(report)[MERGE_TABLE]
    problems = []
    merge = step["details"].get("merge", {})
    if step["details"].get("mode") != "incremental":
        problems.append(f"mode {step['details'].get('mode')!r}, not incremental")
    if merge.get("updated") != data.changed or merge.get("inserted") != data.new:
        problems.append(f"merge metrics {merge}, expected {data.changed} updated, {data.new} new")
    path = project / "lakehouse" / "silver" / "orders"
    want = data.rows + data.new
    if delta_rows(path) != want:
        problems.append(f"the Delta log counts {delta_rows(path)} rows, expected {want}")
    files = [u.removeprefix("file://") for u in DeltaTable(str(path)).file_uris()]
    con = duckdb.connect()
    con.read_parquet(files).create_view("t")
    row = con.execute(
        f"""
        SELECT
            (SELECT count(*) FROM t),
            (SELECT count(DISTINCT id) FROM t),
            (SELECT count(*) FROM t WHERE status = '{CHANGED_STATUS}'),
            (SELECT count(*) FROM t JOIN read_parquet('{data.changes}') AS c USING (id)
             WHERE t.customer_id = c.customer_id AND t.order_date = c.order_date
               AND t.status = c.status AND t.channel = c.channel AND t.quantity = c.quantity
               AND t.amount = c.amount AND t.updated_at = c.updated_at)
        """
    ).fetchone()
    con.close()
    assert row is not None
    rows, ids, amended, matching = (int(v) for v in row)
    changed = data.changed + data.new
    if (rows, ids) != (want, want):
        problems.append(f"{rows} rows and {ids} distinct ids, expected {want} of each")
    if amended != changed or matching != changed:
        problems.append(
            f"{matching} rows equal their change and {amended} have status "
            f"{CHANGED_STATUS!r}; expected {changed}"
        )
    if problems:
        raise SystemExit("WRONG MERGE RESULT:\n  " + "\n  ".join(problems))


@dataclass
class MergeResult:
    data: MergeData
    full: Sample | None = None
    full_report: dict[str, Any] = field(default_factory=dict)
    incremental: list[Sample] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    table_mb: float = 0.0
    phases: Phases | None = None

    def step_median(self, node: str) -> float:
        return statistics.median(steps_of(r)[node]["duration_s"] for r in self.reports)


def bench_merge(
    rows: int, new_ids: int, repeat: int, phase_runs: int, workdir: Path
) -> MergeResult:
    print(f"merge: generating {scale_label(rows)} rows and the changes ...", flush=True)
    data = merge_data(rows, new_ids, workdir)
    result = MergeResult(data)
    snapshot = merge_project(data, workdir / "merge-after-full")
    result.full, result.full_report = run_cli(snapshot)
    print(f"  full first run: {result.full.wall_s:.2f} s, {result.full.rss_mb:.0f} MB", flush=True)
    if delta_rows(snapshot / "lakehouse" / "silver" / "orders") != rows:
        raise SystemExit(f"{MERGE_TABLE} does not hold {rows} rows after the first run")
    table = snapshot / "lakehouse" / "silver" / "orders"
    result.table_mb = sum(p.stat().st_size for p in table.glob("*.parquet")) / 1e6

    def make(root: Path) -> None:
        clone_project(snapshot, root)
        link_or_copy(data.changes, root / "data" / data.changes.name)

    for i in range(1, repeat + 1):
        root = workdir / f"merge-{i}"
        make(root)
        sample, report = run_cli(root)
        check_merge(data, root, report)
        result.incremental.append(sample)
        result.reports.append(report)
        shutil.rmtree(root)
        print(
            f"  run {i} incremental merge: {sample.wall_s:.2f} s, CPU {sample.cpu_s:.2f} s, "
            f"{sample.rss_mb:.0f} MB",
            flush=True,
        )
    if phase_runs:
        result.phases = profile_phases(make, phase_runs, workdir)
    shutil.rmtree(snapshot)
    return result


# -- reporting --------------------------------------------------------------------------------


def _s(value: float) -> str:
    return f"{value:.2f}"


def _pct(value: float, base: float) -> str:
    return f"{value / base * 100:.1f}%"


def retail_table(r: RetailResult) -> str:
    full = Summary.of(r.full)
    lines = [
        ("**full** first run, fresh lakehouse (a)", r.full, r.run_s("full")),
        (f"**incremental**: after the day-{DAY} drop (b)", r.incremental, r.run_s("incremental")),
        ("**no new data**: the same again", r.noop, r.run_s("noop")),
    ]
    rows = []
    for label, samples, run_s in lines:
        s = Summary.of(samples)
        rows.append(
            [
                label,
                str(s.n),
                _s(s.wall_s),
                _s(run_s),
                _s(s.cpu_s),
                f"{s.rss_mb:.0f}",
                _pct(s.wall_s, full.wall_s),
            ]
        )
    if r.reference is not None:
        ref = r.reference
        rows.append(
            [
                f"reference: full run over day 1 + day {DAY}, fresh lakehouse",
                "1",
                _s(ref.wall_s),
                "",
                _s(ref.cpu_s),
                f"{ref.rss_mb:.0f}",
                _pct(ref.wall_s, full.wall_s),
            ]
        )
    header = ["run", "N", "wall s", "of which run s", "CPU s", "peak RSS MB", "wall / full"]
    return markdown_table(header, rows, "lrrrrrr")


def _details(step: dict[str, Any]) -> str:
    d = step["details"]
    parts = []
    if step.get("note"):
        parts.append(step["note"])
    if "touched" in d:
        parts.append(f"{d['touched']:,} keys touched")
    if "merge_path" in d:
        parts.append(d["merge_path"])
    if "merge" in d and d.get("mode") == "incremental":
        m = d["merge"]
        parts.append(f"merge +{m.get('inserted')} ~{m.get('updated')} -{m.get('deleted')}")
    if "scd2" in d and d.get("mode") == "incremental":
        parts.append("scd2 " + ", ".join(f"{k} {v}" for k, v in d["scd2"].items()))
    if "periods" in d:
        parts.append(f"{len(d['periods'])} periods")
    return "; ".join(parts)


def retail_steps_table(r: RetailResult) -> str:
    full, inc, noop = r.step_s("full"), r.step_s("incremental"), r.step_s("noop")
    last = steps_of(r.reports["incremental"][0])
    rows = []
    for node in full:
        step = last[node]
        checks = len(step.get("checks", []))
        rows.append(
            [
                f"`{node}`",
                _s(full[node]),
                _s(inc[node]),
                _s(noop[node]),
                f"{step.get('rows_written') or 0:,}",
                str(checks),
                _details(step),
            ]
        )
    whats = ("full", "incremental", "noop")
    walls = [Summary.of(getattr(r, w)).wall_s for w in whats]
    sums = [statistics.median(r.steps_sum(w)) for w in whats]
    outside = [statistics.median(r.outside_steps(w)) for w in whats]
    rows.append(["sum of the steps", *map(_s, sums), "", "", ""])
    rows.append(
        [
            "outside the steps (start-up, imports, loading, validation, lock, exit)",
            *map(_s, outside),
            "",
            "",
            "",
        ]
    )
    rows.append(["**wall**", *(f"**{_s(w)}**" for w in walls), "", "", ""])
    header = [
        "step",
        "full s",
        "incremental s",
        "no new data s",
        "rows written (incr.)",
        "checks",
        "incremental run (first repetition)",
    ]
    return markdown_table(header, rows, "lrrrrrl")


def phases_table(inc: Phases, noop: Phases | None, top: int = 3) -> str:
    """Seconds per phase over the run's steps (and between them) for the incremental run, with
    its heaviest steps, and for the run with no new data."""

    def in_steps(p: Phases) -> dict[str, float]:
        out: dict[str, float] = {}
        for node, per in p.seconds.items():
            if node != BETWEEN:
                for phase, sec in per.items():
                    out[phase] = out.get(phase, 0.0) + sec
        return out

    inc_steps = in_steps(inc)
    noop_steps = in_steps(noop) if noop is not None else {}
    phases = {*inc.totals(), *(noop.totals() if noop is not None else {})}
    rows = []
    for phase in sorted(phases, key=lambda k: -inc_steps.get(k, 0.0)):
        per_node = {n: per.get(phase, 0.0) for n, per in inc.seconds.items() if n != BETWEEN}
        heaviest = sorted((n for n in per_node if per_node[n] >= 0.005), key=lambda n: -per_node[n])
        row = [
            phase,
            _s(inc_steps.get(phase, 0.0)),
            ", ".join(f"`{n}` {per_node[n]:.2f}" for n in heaviest[:top]),
            _s(inc.seconds.get(BETWEEN, {}).get(phase, 0.0)),
        ]
        if noop is not None:
            row += [
                _s(noop_steps.get(phase, 0.0)),
                _s(noop.seconds.get(BETWEEN, {}).get(phase, 0.0)),
            ]
        rows.append(row)
    total = [
        "**total**",
        f"**{_s(sum(inc_steps.values()))}**",
        "",
        _s(sum(inc.seconds.get(BETWEEN, {}).values())),
    ]
    if noop is not None:
        total += [
            f"**{_s(sum(noop_steps.values()))}**",
            _s(sum(noop.seconds.get(BETWEEN, {}).values())),
        ]
    rows.append(total)
    header = ["phase", "incremental: in steps s", "heaviest steps (s)", "between steps s"]
    if noop is not None:
        header += ["no new data: in steps s", "between steps s"]
    return markdown_table(header, rows, "lrlrrr"[: len(header)])


def merge_phases_table(p: Phases) -> str:
    node = MERGE_TABLE
    seconds = p.seconds.get(node, {})
    rss = p.rss_mb.get(node, {})
    rows = [
        [phase, _s(seconds[phase]), f"{rss[phase]:.0f}" if phase in rss else ""]
        for phase in sorted(seconds, key=lambda k: -seconds[k])
        if seconds[phase] >= 0.005 or phase in rss
    ]
    rows.append(
        [f"**step `{node}`**", f"**{_s(p.windows.get(node, 0.0))}**", f"{p.peak_mb:.0f} (peak)"]
    )
    return markdown_table(["phase", "s", "max RSS MB while running"], rows, "lrr")


def missing_note(p: Phases) -> list[str]:
    if not p.missing:
        return []
    names = ", ".join(f"`{m}`" for m in p.missing)
    return [f"Not found in the code measured, so not timed (their time is in *other*): {names}."]


def retail_data_table(d: RetailData) -> str:
    rows = [[name, f"{count:,}", f"{d.sizes[name] / 1e6:.1f}"] for name, count in d.counts.items()]
    return markdown_table(["file", "rows", "MB"], rows, "lrr")


def retail_verdict(r: RetailResult) -> tuple[str, bool]:
    full, inc = Summary.of(r.full).wall_s, Summary.of(r.incremental).wall_s
    target = time_target(r.data.rows)
    ok = inc <= target * full
    return (
        f"- retail at {r.data.label}: incremental run ≤ {target:.0%} of the full run: "
        f"{inc:.2f} s / {full:.2f} s = {inc / full:.1%} — {'holds' if ok else '**MISSED**'}",
        ok,
    )


def merge_verdict(m: MergeResult) -> tuple[str, bool]:
    rss = Summary.of(m.incremental).rss_mb
    worst = max(s.rss_mb for s in m.incremental)
    ok = worst < RSS_TARGET_MB
    return (
        f"- merge of 1% changed rows into {m.data.label} rows: peak RSS < 2 GB: {rss:.0f} MB "
        f"median, {worst:.0f} MB worst of {len(m.incremental)} — {'holds' if ok else '**MISSED**'}",
        ok,
    )


def retail_report(r: RetailResult, repeat: int) -> list[str]:
    d = r.data
    drop = sum(c for n, c in d.counts.items() if n in d.drop)
    new_lines = d.counts.get(f"order_lines_day{DAY}.csv", 0)
    lines = d.counts.get("order_lines.csv", 0)
    parts = [
        f"### Retail pipeline at {d.label} order lines: full run vs a run after a 1% drop",
        f"Each repetition ({repeat}) scaffolds a fresh retail project (5 CSV sources, 6 silver "
        "and 4 gold models - one a view - with their checks), runs `medallion run --json` on "
        f"the empty lakehouse (a), adds the day-{DAY} file drop of `generate_increment` "
        "(generated once, hard-linked in; not timed) and runs again (b), then once more with "
        "nothing new. "
        f"The drop has {drop:,} rows in {len(d.drop)} files, {new_lines:,} of them new order "
        f"lines ({new_lines / lines:.2%} of {lines:,}). Figures are medians; wall is the "
        "process as the parent sees it, *run s* is the run as it reports itself "
        "(`duration_s`, without start-up and loading).",
        retail_table(r),
        f"Every incremental run read exactly the drop's rows in bronze and built every "
        f"incremental model incrementally; its {r.compared} tables (all but the quarantines "
        f"and `{'`, `'.join(NOT_COMPARED)}`) equal, row for row, those of the reference full "
        "run over the same files (row counts and a hash of every non-audit column; the "
        "customer columns of `gold.reporting_sales_wide` excepted: they show each order's "
        "customer as they were when the order was ingested, so a customer who moved keeps "
        "their old city on their old orders, which a run over all files at once cannot know).",
        "Every run's wall time, in order (s): "
        + "; ".join(
            f"{what} " + ", ".join(f"{s.wall_s:.2f}" for s in getattr(r, what))
            for what in ("full", "incremental", "noop")
        )
        + ".",
        "Per step (median seconds as each run reports them; a step's time includes its "
        "checks and its state-database bookkeeping; the last rows are medians of each run's "
        "own sum, so the column does not add up exactly):",
        retail_steps_table(r),
    ]
    if r.phases is not None:
        p, q = r.phases, r.noop_phases
        noop = f" and of the run with no new data ({q.run_s:.2f} s)" if q is not None else ""
        parts += [
            f"Where the time goes, by phase: median of {p.runs} profiled runs of the incremental "
            f"run ({p.run_s:.2f} s from `Project.load` to the end){noop}, each in a fresh "
            "process on a copy of the project; exclusive seconds (see the script's docstring). "
            "*Between steps* is before the first step and after the last (validation, the "
            "state database).",
            phases_table(p, q),
            *missing_note(p),
        ]
    parts += ["Input files (seed 42):", retail_data_table(d)]
    return parts


def merge_report(m: MergeResult, repeat: int) -> list[str]:
    d = m.data
    inc = Summary.of(m.incremental)
    assert m.full is not None
    metrics = steps_of(m.reports[0])[MERGE_TABLE]["details"].get("merge", {})
    rows = [
        [
            f"full first run (bronze + `{MERGE_TABLE}`)",
            "1",
            _s(m.full.wall_s),
            _s(steps_of(m.full_report)[MERGE_TABLE]["duration_s"]),
            _s(m.full.cpu_s),
            f"{m.full.rss_mb:.0f}",
        ],
        [
            "**incremental merge** of the changes",
            str(inc.n),
            _s(inc.wall_s),
            _s(m.step_median(MERGE_TABLE)),
            _s(inc.cpu_s),
            f"**{inc.rss_mb:.0f}**",
        ],
    ]
    parts = [
        f"### Merge of 1% changed rows into a {d.label}-row table",
        f"`{d.base.name}`: {d.rows:,} rows, 8 columns (id, customer_id, order_date, status, "
        f"channel, quantity, amount, updated_at), {d.base_mb:.0f} MB; "
        f"`{MERGE_TABLE}` is `kind: merge, unique_key: id, order_by: updated_at` over "
        f"`bronze.orders` ({m.table_mb:.0f} MB of Parquet after the first run). "
        f"`{d.changes.name}`: {d.changed + d.new:,} rows — {d.changed:,} existing ids (every id "
        f"ending in 37, so every data file of the table is touched) with a new status, "
        f"quantity, amount and updated_at, and {d.new:,} new ids. Each incremental run is "
        f"`medallion run --json` in a fresh copy of the project after the first run; "
        f"median of {repeat}.",
        markdown_table(
            ["run", "N", "wall s", f"`{MERGE_TABLE}` step s", "CPU s", "peak RSS MB"],
            rows,
            "lrrrrr",
        ),
        "Peak RSS of every incremental run (MB): "
        + ", ".join(f"{s.rss_mb:.0f}" for s in m.incremental)
        + "; wall (s): "
        + ", ".join(f"{s.wall_s:.2f}" for s in m.incremental)
        + f". delta-rs reported {metrics.get('updated'):,} rows updated and "
        f"{metrics.get('inserted'):,} inserted; every run was checked: "
        f"{d.rows + d.new:,} rows, one per id, and the {d.changed + d.new:,} changed or new "
        "ids hold exactly the changes file's values.",
    ]
    if m.phases is not None:
        parts += [
            f"Inside the `{MERGE_TABLE}` step of the incremental run, by phase (median of "
            f"{m.phases.runs} profiled runs; max RSS: the process's resident memory sampled "
            "every 20 ms while the phase was the innermost one running — sampling misses short "
            "spikes, so the profiled processes' own peak RSS (VmHWM) is on the last "
            "line):",
            merge_phases_table(m.phases),
            *missing_note(m.phases),
        ]
    return parts


def report(
    retail: list[RetailResult],
    merge: MergeResult | None,
    args: argparse.Namespace,
    command: str,
    load: tuple[float, float],
) -> str:
    verdicts = [retail_verdict(r)[0] for r in retail]
    if merge is not None:
        verdicts.append(merge_verdict(merge)[0])
    parts = [
        f"Run on {date.today().isoformat()} with:",
        f"    {command}",
        f"Machine: {machine(('medallion', 'duckdb', 'deltalake', 'pyarrow', 'sqlglot'))}.",
        f"Code measured: {package_source('medallion')}.",
        f"Load average (1 min) before / after the benchmark: {load[0]:.2f} / {load[1]:.2f}; "
        f"just before each measured run: median {statistics.median(LOADS):.2f}, max "
        f"{max(LOADS):.2f} (on {os.cpu_count()} CPUs: the benchmark alone keeps it near the CPU "
        "count; more means other work was running, which slows the runs and widens the spread).",
        "Every figure is one fresh `medallion run --json` process (wall and CPU = user + "
        "system from `os.wait4`, peak RSS its own VmHWM); see "
        "[incremental.py](../benchmarks/incremental.py) for the method.",
        "Targets:\n\n" + "\n".join(verdicts),
    ]
    for r in retail:
        parts += retail_report(r, args.repeat)
    if merge is not None:
        parts += merge_report(merge, args.merge_repeat)
    return "\n\n".join(parts) + "\n"


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark incremental runs: retail after a 1% drop, and a large merge."
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000],
        help="retail order lines, one or more scales measured in turn (default 1M)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="retail repetitions (default 3)")
    parser.add_argument(
        "--merge-rows", type=int, default=10_000_000, help="rows of the merged table (default 10M)"
    )
    parser.add_argument(
        "--new-ids", type=int, default=1_000, help="new ids among the changes (default 1000)"
    )
    parser.add_argument(
        "--merge-repeat", type=int, default=3, help="incremental merge runs (default 3)"
    )
    parser.add_argument(
        "--phase-runs",
        type=int,
        default=3,
        help="profiled runs per part for the phase breakdown (0: none; default 3)",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["retail", "merge"],
        default=["retail", "merge"],
        help="what to run (default both)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        # argparse formats help with %: the section titles' "1%" must be escaped
        help=f"replace '{SECTION}' in {DOC.name} ('{RETAIL_SECTION}' with --parts retail)".replace(
            "%", "%%"
        ),
    )
    parser.add_argument("--workdir", type=Path, help="where temporary files go (default: TMPDIR)")
    parser.add_argument("--phases-child", type=Path, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.phases_child:
        phases_child(args.phases_child)
        return 0
    if min(*args.rows, args.repeat, args.merge_rows, args.merge_repeat) < 1:
        parser.error("--rows, --repeat, --merge-rows and --merge-repeat must be positive")
    if args.new_ids < 0 or args.phase_runs < 0:
        parser.error("--new-ids and --phase-runs must not be negative")
    if not MEDALLION.exists():
        parser.error(
            f"{shown(MEDALLION)} not found: run with the Python of medallion's environment"
        )
    command = command_line()

    compile_bytecode("medallion")
    load_before = os.getloadavg()[0]
    retail: list[RetailResult] = []
    merge = None
    with tempfile.TemporaryDirectory(prefix="medallion-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        if "retail" in args.parts:
            for rows in args.rows:
                (work / str(rows)).mkdir()
                retail.append(bench_retail(rows, args.repeat, args.phase_runs, work / str(rows)))
        if "merge" in args.parts:
            merge = bench_merge(
                args.merge_rows, args.new_ids, args.merge_repeat, args.phase_runs, work
            )
    load = (load_before, os.getloadavg()[0])

    text = report(retail, merge, args, command, load)
    publish(text, RETAIL_SECTION if args.parts == ["retail"] else SECTION, args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
