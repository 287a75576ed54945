"""E-commerce events benchmark: medallion against the floor, pandas and Polars, end to end.

What is measured, and why
-------------------------
The ecommerce-events template (hourly CSV drops -> bronze.events_raw partitioned by event_type
-> silver.events_cleaned, de-duplicated, partitioned by event_date, rule breakers to
silver.events_cleaned__quarantine -> four gold tables) is run end to end at each scale (number of
event lines, duplicates included; default 1M and 10M) by four contenders that do *the same work*:
read every CSV file with the declared types, write bronze with the audit columns
(`_source_file`, `_ingested_at`, `_run_id`) partitioned by event_type; normalise the events
(trim, lower case, empty -> NULL), compute the event id (MD5 of the event's key text), the date,
hour and top-level category; split on the four expectations (a NULL fails), the failing rows -
duplicates included - with the names of the rules they broke and the quarantine columns to the
quarantine table, the passing rows de-duplicated on (event_date, event_id), the copy of the
latest file winning, to silver partitioned by event_date; then the four gold tables
(customer_metrics, product_performance, daily_sales_summary, conversion_funnel) as the template's
SQL defines them, every table written as Delta with deltalake, each run on a fresh, empty
lakehouse (a full build):

- **medallion**: `medallion run --json` in a fresh project scaffolded from the template, the
  generated files hard-linked into its data/. Its time includes what only it does: file
  fingerprints and the ingestion record, rescue of unparseable lines, the state database and run
  log, change-data-feed table properties, staging for the merge models, and every table's checks
  (unique, not_null, accepted_values, reconciliations: re-reads of the tables);
- **floor** ([floor_ecommerce.py](floor_ecommerce.py)): the same work written by hand with DuckDB
  and deltalake and nothing else — one `read_csv` over all files streamed into `write_deltalake`,
  the template's model SQL files over views of the Delta tables, the expectations and the dedup
  as SQL. The target is medallion wall time <= 1.3 x the floor;
- **pandas** ([pandas_ecommerce.py](pandas_ecommerce.py)): the same pipeline as idiomatic pandas
  (the seed 002 system's library), writing with `write_deltalake` from the DataFrames. The target
  is pandas >= 5 x medallion's wall time. It may run out of time or memory at 10M: a run longer
  than `--pandas-timeout` seconds, or above `--pandas-max-rss-mb` of resident memory (the machine
  is shared), is killed and recorded as unfinished (its remaining runs at that scale are
  skipped);
- **polars** ([polars_ecommerce.py](polars_ecommerce.py)): the same with Polars' lazy API —
  `scan_csv`, `sink_delta` (streaming), `scan_delta` for the next layer — for information.

And medallion's peak RSS must stay under 2 GB at 10M events.

Every measured run is a fresh child process measured by `_common.measure`: its own wall, CPU (user
+ system, from `os.wait4`) and peak RSS (its VmHWM, polled); wall time includes interpreter
start-up and imports, as a user sees it. Data is generated once per scale (timed separately, not
part of the comparison) and is in the page cache for every run; medallion's bytecode is compiled
first, as an install would have it. The contenders run `--repeat` times each, interleaved, the
order rotating every round (medallion, floor, pandas, polars; then floor, pandas, polars,
medallion; ...), so a drift in machine load hits all; each contender's output is deleted after its
run is checked.

Same results, checked
---------------------
After every run a child process summarises each Delta table the run wrote: its row count,
partition columns and schema (names and Delta types), and per column a fingerprint — the exact sum
of numeric and DECIMAL columns (doubles: within 1e-9 relative), count and distinct count of text
columns (and the count of each value when there are at most 50), min / max / count of dates and
times, the count of each rule name in `_failed_expectations`, and the sum of the first 8 hex digits
of every `event_id`. Columns that differ by design between runs (`_ingested_at`, `_run_id`,
`_quarantined_at`, `_quarantine_id`) are left out. Every run of every contender must give the
same summary as the first medallion run; the benchmark stops with the differing table and value
otherwise.

    python benchmarks/ecommerce.py [--rows 1000000 10000000] [--repeat 3]
        [--only medallion,floor,pandas,polars] [--pandas-timeout 900]
        [--pandas-max-rss-mb 16000] [--write-docs]

With --write-docs the "E-commerce events pipeline" section of docs/benchmarks.md is replaced
(other sections are kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import floor_ecommerce
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
    package_source,
    publish,
    scale_label,
    shown,
)
from _common import measure as common_measure

SECTION = "E-commerce events pipeline"
TEMPLATE = "ecommerce-events"
GENERATOR = "medallion.templates.ecommerce_events.generate"
SCRIPTS = {
    "floor": BENCH_DIR / "floor_ecommerce.py",
    "pandas": BENCH_DIR / "pandas_ecommerce.py",
    "polars": BENCH_DIR / "polars_ecommerce.py",
}
CONTENDERS = ("medallion", "floor", "pandas", "polars")
ENV = {**os.environ, "NO_COLOR": "1"}
SEED = 42

RATIO_FLOOR_TARGET = 1.3  # medallion wall <= 1.3 x floor
PANDAS_TARGET = 5.0  # pandas wall >= 5 x medallion
RSS_TARGET_MB = 2000.0  # medallion peak RSS < 2 GB ...
RSS_TARGET_ROWS = 10_000_000  # ... at 10M events
MONTH_ROWS = 42_000_000  # a month of the public dataset (seed 004) ...
MONTH_WALL_TARGET_S = 240.0  # ... in <= 4 min wall (and the RSS target above)

#: columns whose values differ between runs by design: not compared
VOLATILE = {"_ingested_at", "_run_id", "_quarantined_at", "_quarantine_id"}
FLOAT_REL_TOL = 1e-9


# -- data and projects ------------------------------------------------------------------------


@dataclass
class Dataset:
    rows: int
    folder: Path  # holds events/<day>/<hour>.csv
    files: int
    mb: float
    generate_s: float
    generate_rss_mb: float

    @property
    def label(self) -> str:
        return scale_label(self.rows)


def generate(rows: int, workdir: Path) -> Dataset:
    """The template's generator in a child process (`python -m ...generate`), measured like a
    contender: its wall time and peak RSS are reported beside the runs."""
    folder = workdir / f"data-{rows}"
    argv = [PYTHON, "-m", GENERATOR, "--rows", str(rows), "--seed", str(SEED), "--out", folder]
    sample, _ = measure(argv)
    if sample.returncode != 0:
        raise SystemExit(f"generating {scale_label(rows)} events failed:\n{sample.stderr[-4000:]}")
    files = list(folder.glob("events/*/*.csv"))
    size = sum(path.stat().st_size for path in files)
    return Dataset(rows, folder, len(files), size / 1e6, sample.wall_s, sample.rss_mb)


def models_dir() -> Path:
    from medallion.templates import get_template

    return get_template(TEMPLATE).project_files() / "models"


def new_project(data: Dataset, dest: Path) -> Path:
    """A fresh project from the template, its data/ hard-linked to the generated files."""
    from medallion.templates import get_template

    get_template(TEMPLATE).scaffold(dest)
    shutil.copytree(data.folder, dest / "data", copy_function=_link_or_copy, dirs_exist_ok=True)
    return dest


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def check_floor_matches_template(project: Path) -> None:
    """The floor must declare the template's column types, expectations, key and partitioning."""
    import yaml

    from medallion.project import Project

    config = yaml.safe_load((project / "medallion.yml").read_text(encoding="utf-8"))
    source = config["sources"]["events_raw"]
    declared = {c: t.upper().replace(" ", "") for c, t in source["columns"].items()}
    if declared != floor_ecommerce.COLUMNS:
        sys.exit(f"floor_ecommerce.COLUMNS differs from the template's medallion.yml: {declared}")
    if source["timestamp_format"] != floor_ecommerce.TIMESTAMP_FORMAT:
        sys.exit("floor_ecommerce.TIMESTAMP_FORMAT differs from the template's")
    if source["partition_by"] != floor_ecommerce.BRONZE_PARTITION:
        sys.exit("floor_ecommerce.BRONZE_PARTITION differs from the template's")
    models = Project.load(project).models
    expected = {"silver.events_cleaned", *floor_ecommerce.GOLD}
    if set(models) != expected:
        sys.exit(f"the template's models changed: {sorted(models)}; update the contenders")
    silver = models["silver.events_cleaned"].config
    rules = {name: e.expect for name, e in silver.expectations.items()}
    actions = {e.action for e in silver.expectations.values()}
    if rules != floor_ecommerce.EXPECTATIONS or actions != {"quarantine"}:
        sys.exit(f"silver.events_cleaned's expectations changed: {rules} ({actions})")
    order = silver.order_by if isinstance(silver.order_by, list) else [silver.order_by]
    if (
        list(silver.unique_key) != floor_ecommerce.UNIQUE_KEY
        or order != floor_ecommerce.ORDER_BY
        or list(silver.partition_by) != floor_ecommerce.SILVER_PARTITION
    ):
        sys.exit("silver.events_cleaned's unique_key, order_by or partition_by changed")


# -- checking outputs -------------------------------------------------------------------------

#: the child that summarises a lakehouse (reading Delta through pyarrow datasets in the
#: long-lived parent can abort the interpreter at exit: a pyarrow / deltalake shutdown race)
SUMMARY_FLAG = "--summarize"


def summarize(lakehouse: Path) -> dict[str, Any]:
    """table -> {rows, partition_by, schema, fingerprint} for every Delta table under
    `lakehouse` (see the module docstring)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out: dict[str, Any] = {}
    for log in sorted(lakehouse.glob("*/*/_delta_log")):
        path = log.parent
        fqn = f"{path.parent.name}.{path.name}"
        dt = DeltaTable(str(path))
        actions = pa.table(dt.get_add_actions(flatten=True))
        schema = [[f.name, _delta_type(f.type)] for f in dt.schema().fields]
        con.register("t", dt.to_pyarrow_dataset())
        rel = con.sql("SELECT * FROM t")
        types = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}
        prints: dict[str, Any] = {}
        for col, typ in types.items():
            if col in VOLATILE:
                continue
            q = '"' + col.replace('"', '""') + '"'
            if typ.startswith("DECIMAL") or typ in ("BIGINT", "INTEGER", "SMALLINT", "HUGEINT"):
                n, total = con.execute(f"SELECT count({q}), sum({q})::VARCHAR FROM t").fetchall()[0]
                prints[col] = {"count": n, "sum": total}
            elif typ in ("DOUBLE", "FLOAT"):
                n, total = con.execute(f"SELECT count({q}), sum({q}) FROM t").fetchall()[0]
                prints[col] = {"count": n, "sum": total}
            elif typ == "VARCHAR":
                n, distinct = con.execute(
                    f"SELECT count({q}), count(DISTINCT {q}) FROM t"
                ).fetchall()[0]
                (hashes,) = con.execute(f"SELECT sum(hash({q}))::VARCHAR FROM t").fetchall()[0]
                prints[col] = {"count": n, "distinct": distinct, "hash_sum": hashes}
                if distinct <= 50:
                    values = con.execute(
                        f"SELECT {q}, count(*) FROM t GROUP BY 1 ORDER BY 1"
                    ).fetchall()
                    prints[col]["values"] = {str(v): c for v, c in values}
                if col == "event_id":
                    (hex_sum,) = con.execute(
                        f"SELECT sum(('0x' || left({q}, 8))::BIGINT)::VARCHAR FROM t"
                    ).fetchall()[0]
                    prints[col]["hex8_sum"] = hex_sum
            elif typ.endswith("[]"):
                values = con.execute(
                    "SELECT v, count(*) FROM (SELECT unnest("
                    f"{q}) AS v FROM t) GROUP BY 1 ORDER BY 1"
                ).fetchall()
                (hashes,) = con.execute(f"SELECT sum(hash({q}))::VARCHAR FROM t").fetchall()[0]
                prints[col] = {"elements": {str(v): c for v, c in values}, "hash_sum": hashes}
            else:  # dates, timestamps
                n, lo, hi, hashes = con.execute(
                    f"SELECT count({q}), min({q})::VARCHAR, max({q})::VARCHAR, "
                    f"sum(hash({q}))::VARCHAR FROM t"
                ).fetchall()[0]
                prints[col] = {"count": n, "min": lo, "max": hi, "hash_sum": hashes}
        con.unregister("t")
        out[fqn] = {
            "rows": int(pc.sum(actions["num_records"]).as_py() or 0),
            "partition_by": list(dt.metadata().partition_columns),
            "schema": schema,
            "fingerprint": prints,
        }
    con.close()
    return out


def _delta_type(t: Any) -> str:
    """A Delta type as text: "long", "decimal(12,2)", "array<string>"."""
    if hasattr(t, "element_type"):
        return f"array<{_delta_type(t.element_type)}>"
    return str(getattr(t, "type", t))


def read_summary(lakehouse: Path) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, __file__, SUMMARY_FLAG, str(lakehouse)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"summarising {shown(lakehouse)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Where `got` differs from `expected`, as 'table: what: expected X, got Y' lines."""
    out = []
    for table in sorted(set(expected) | set(got)):
        if table not in got:
            out.append(f"{table}: missing")
            continue
        if table not in expected:
            out.append(f"{table}: not written by the reference run")
            continue
        e, g = expected[table], got[table]
        for key in ("rows", "partition_by", "schema"):
            if e[key] != g[key]:
                out.append(f"{table}: {key}: expected {e[key]}, got {g[key]}")
        if e["schema"] != g["schema"]:
            continue
        for col, ep in e["fingerprint"].items():
            gp = g["fingerprint"].get(col, {})
            for what, ev in ep.items():
                gv = gp.get(what)
                close = isinstance(ev, float) and isinstance(gv, float)
                if close and math.isclose(ev, gv, rel_tol=FLOAT_REL_TOL, abs_tol=1e-9):
                    continue
                if ev != gv:
                    out.append(f"{table}.{col}: {what}: expected {ev}, got {gv}")
    return out


def check(reference: dict[str, Any] | None, lakehouse: Path, what: str) -> dict[str, Any]:
    got = read_summary(lakehouse)
    if reference is None:
        return got
    diff = differences(reference, got)
    if diff:
        lines = "\n  ".join(diff[:30])
        more = f"\n  ... and {len(diff) - 30} more" if len(diff) > 30 else ""
        raise SystemExit(
            f"OUTPUT MISMATCH: {what} produced different tables than the reference run:\n"
            f"  {lines}{more}"
        )
    return reference


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Run:
    sample: Sample | None  # None: did not finish
    report: dict[str, Any] | None  # the child's JSON
    note: str = ""  # why it did not finish
    load: float = 0.0  # 1-minute load average just before the run


def measure(
    argv: Sequence[Any],
    *,
    cwd: Path | None = None,
    timeout: float | None = None,
    max_rss_mb: float | None = None,
) -> tuple[Sample, str]:
    """_common.measure with this benchmark's environment and limits: (sample, why it was
    stopped, or "")."""
    sample = common_measure(
        argv, cwd=cwd, env=ENV, check=False, timeout=timeout, max_rss_mb=max_rss_mb
    )
    return sample, sample.stopped


@dataclass
class ScaleResult:
    data: Dataset
    runs: dict[str, list[Run]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})
    reference: dict[str, Any] | None = None
    reference_from: str | None = None
    checked_floor: bool = False

    def samples(self, who: str) -> list[Sample]:
        return [r.sample for r in self.runs[who] if r.sample is not None and not r.note]

    def summary(self, who: str) -> Summary | None:
        samples = self.samples(who)
        return Summary.of(samples) if samples else None

    def unfinished(self, who: str) -> list[Run]:
        return [r for r in self.runs[who] if r.note]

    def median_run(self, who: str) -> Run | None:
        done = [r for r in self.runs[who] if r.sample is not None and not r.note]
        if not done:
            return None
        return sorted(done, key=lambda r: r.sample.wall_s)[(len(done) - 1) // 2]


def run_contender(
    who: str,
    data: Dataset,
    workdir: Path,
    models: Path,
    i: int,
    timeout: float | None,
    max_rss_mb: float | None,
) -> tuple[Run, Path, Path]:
    """One measured run: (the run, the lakehouse it wrote, the folder to delete)."""
    if who == "medallion":
        project = new_project(data, workdir / f"medallion-{data.rows}-{i}")
        load = os.getloadavg()[0]
        sample, stopped = measure(
            [MEDALLION, "run", "--json"], cwd=project, timeout=timeout, max_rss_mb=max_rss_mb
        )
        lakehouse, folder = project / "lakehouse", project
    else:
        lakehouse = folder = workdir / f"{who}-{data.rows}-{i}"
        argv = [PYTHON, SCRIPTS[who], "--data", data.folder, "--lakehouse", lakehouse]
        if who == "floor":
            argv += ["--models", models]
        load = os.getloadavg()[0]
        sample, stopped = measure(argv, timeout=timeout, max_rss_mb=max_rss_mb)
    if stopped:
        return Run(sample, None, stopped, load), lakehouse, folder
    if sample.returncode != 0:
        if who == "pandas" and sample.returncode < 0:  # killed (out of memory): a result
            note = f"killed by signal {-sample.returncode} after {sample.wall_s:.0f} s"
            return Run(sample, None, note, load), lakehouse, folder
        raise SystemExit(
            f"{who} run {i} at {data.label} exited with {sample.returncode}\n"
            f"--- stdout\n{sample.stdout[-4000:]}\n--- stderr\n{sample.stderr[-4000:]}"
        )
    # medallion prints one (indented) JSON document, the others one line after any logging
    text = sample.stdout if who == "medallion" else sample.stdout.strip().splitlines()[-1]
    report = json.loads(text)
    if who == "medallion" and report.get("status") != "success":
        raise SystemExit(f"medallion run {i} at {data.label} failed: {report.get('error')}")
    return Run(sample, report, "", load), lakehouse, folder


def bench_scale(
    data: Dataset,
    repeat: int,
    only: Sequence[str],
    workdir: Path,
    pandas_timeout: float,
    pandas_max_rss_mb: float,
) -> ScaleResult:
    result = ScaleResult(data)
    models = models_dir()
    gave_up: set[str] = set()
    for i in range(repeat):
        order = [c for c in CONTENDERS[i % 4 :] + CONTENDERS[: i % 4] if c in only]
        for who in order:
            if who in gave_up:
                continue
            limits = (pandas_timeout, pandas_max_rss_mb) if who == "pandas" else (None, None)
            run, lakehouse, folder = run_contender(who, data, workdir, models, i + 1, *limits)
            result.runs[who].append(run)
            if run.note:
                gave_up.add(who)  # one more would take as long: skip its other runs
                print(f"  {data.label} {who} run {i + 1}: {run.note}", flush=True)
            else:
                if who == "medallion" and not result.checked_floor:
                    check_floor_matches_template(folder)
                    result.checked_floor = True
                result.reference = check(
                    result.reference, lakehouse, f"{who} run {i + 1} at {data.label}"
                )
                if result.reference_from is None:
                    result.reference_from = f"{who} run {i + 1}"
                assert run.sample is not None
                print(
                    f"  {data.label} {who} run {i + 1}: {run.sample.wall_s:.2f} s wall, "
                    f"{run.sample.rss_mb:.0f} MB (load {run.load:.2f})",
                    flush=True,
                )
            shutil.rmtree(folder, ignore_errors=True)
    return result


# -- reporting --------------------------------------------------------------------------------


def _s(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _rate(rows: int, wall: float) -> str:
    per_s = rows / wall
    return f"{per_s / 1e6:.2f} M" if per_s >= 1e6 else f"{per_s / 1e3:.0f} k"


LABELS = {
    "medallion": "medallion (`medallion run --json`)",
    "floor": "floor (DuckDB + deltalake by hand)",
    "pandas": "pandas",
    "polars": "Polars (lazy, streaming sinks)",
}


def results_table(results: list[ScaleResult]) -> str:
    rows: list[list[str]] = []
    for r in results:
        med = r.summary("medallion")
        for who in CONTENDERS:
            if not r.runs[who]:
                continue
            s = r.summary(who)
            if s is None:
                unfinished = r.unfinished(who)[0]
                assert unfinished.sample is not None
                u = unfinished.sample
                rows.append(
                    [
                        r.data.label,
                        LABELS[who],
                        f"> {u.wall_s:.0f} ({unfinished.note})",
                        f"> {u.cpu_s:.0f}",
                        f"≥ {u.rss_mb:.0f}",
                        f"< {_rate(r.data.rows, u.wall_s)}",
                        f"> {u.wall_s / med.wall_s:.1f}×" if med else "",
                    ]
                )
                continue
            ratio = f"{s.wall_s / med.wall_s:.2f}×" if med else ""
            n = f" ({s.n} runs)" if s.n != max(len(v) for v in r.runs.values()) else ""
            rows.append(
                [
                    r.data.label,
                    LABELS[who] + n,
                    _s(s.wall_s),
                    _s(s.cpu_s),
                    f"{s.rss_mb:.0f}",
                    _rate(r.data.rows, s.wall_s),
                    ratio,
                ]
            )
    return markdown_table(
        ["events", "contender", "wall s", "CPU s", "peak RSS MB", "events/s", "wall / medallion"],
        rows,
        "llrrrrr",
    )


def all_walls(results: list[ScaleResult]) -> str:
    parts = []
    for r in results:
        for who in CONTENDERS:
            if not r.runs[who]:
                continue
            walls = ", ".join(
                f"{x.sample.wall_s:.1f}" + (" (killed)" if x.note else "")
                for x in r.runs[who]
                if x.sample is not None
            )
            parts.append(f"{r.data.label} {who}: {walls}")
    return "; ".join(parts)


def targets(results: list[ScaleResult]) -> tuple[list[str], bool]:
    """The target lines, and whether medallion missed one."""
    lines, missed = [], False

    def verdict(ok: bool) -> str:
        nonlocal missed
        missed |= not ok
        return "HOLDS" if ok else "**MISSED**"

    for r in results:
        med = r.summary("medallion")
        if med is None:
            continue
        floor = r.summary("floor")
        if floor is not None:
            ratio = med.wall_s / floor.wall_s
            lines.append(
                f"- {r.data.label}: medallion ≤ {RATIO_FLOOR_TARGET} × the floor's wall time: "
                f"{med.wall_s:.1f} s / {floor.wall_s:.1f} s = {ratio:.2f}× — "
                f"{verdict(ratio <= RATIO_FLOOR_TARGET)}"
            )
        pandas = r.summary("pandas")
        unfinished = r.unfinished("pandas")
        if pandas is not None:
            ratio = pandas.wall_s / med.wall_s
            lines.append(
                f"- {r.data.label}: pandas ≥ {PANDAS_TARGET:g} × medallion's wall time: "
                f"{pandas.wall_s:.1f} s / {med.wall_s:.1f} s = {ratio:.1f}× — "
                f"{verdict(ratio >= PANDAS_TARGET)}"
            )
        elif unfinished:
            u = unfinished[0]
            assert u.sample is not None
            ratio = u.sample.wall_s / med.wall_s
            lines.append(
                f"- {r.data.label}: pandas ≥ {PANDAS_TARGET:g} × medallion's wall time: pandas "
                f"{u.note} (> {ratio:.1f}× medallion's {med.wall_s:.1f} s) — "
                f"{verdict(ratio >= PANDAS_TARGET)}"
            )
        polars = r.summary("polars")
        if polars is not None:
            lines.append(
                f"- {r.data.label}: (no target) Polars / medallion wall time: "
                f"{polars.wall_s / med.wall_s:.2f}×"
            )
        if r.data.rows >= MONTH_ROWS:
            lines.append(
                f"- {r.data.label}: medallion wall ≤ {MONTH_WALL_TARGET_S / 60:g} min: "
                f"{med.wall_s:.1f} s — {verdict(med.wall_s <= MONTH_WALL_TARGET_S)}"
            )
        if r.data.rows >= RSS_TARGET_ROWS:
            lines.append(
                f"- {r.data.label}: medallion peak RSS < {RSS_TARGET_MB / 1000:g} GB: "
                f"{med.rss_mb:.0f} MB — {verdict(med.rss_mb < RSS_TARGET_MB)}"
            )
    if results and results[-1].data.rows < RSS_TARGET_ROWS:
        lines.append(
            f"- medallion peak RSS < {RSS_TARGET_MB / 1000:g} GB at "
            f"{scale_label(RSS_TARGET_ROWS)} events: not measured (largest scale run: "
            f"{results[-1].data.label})"
        )
    return lines, missed


STEP_ORDER = (
    "bronze.events_raw",
    "silver.events_cleaned",
    "gold.conversion_funnel",
    "gold.customer_metrics",
    "gold.daily_sales_summary",
    "gold.product_performance",
)


def steps_table(r: ScaleResult) -> str:
    """Seconds per step of each contender's median run (as each reports it)."""
    whos = [w for w in CONTENDERS if r.median_run(w) is not None]
    per: dict[str, dict[str, float]] = {}
    walls: dict[str, float] = {}
    for who in whos:
        run = r.median_run(who)
        assert run is not None and run.report is not None and run.sample is not None
        if who == "medallion":
            per[who] = {f"{s['layer']}.{s['table']}": s["duration_s"] for s in run.report["steps"]}
        else:
            per[who] = run.report["steps"]
        walls[who] = run.sample.wall_s
    rows = [
        [f"`{step}`", *(_s(per[w][step]) if step in per[w] else "—" for w in whos)]
        for step in STEP_ORDER
    ]
    rows.append(
        [
            "outside the steps (start-up, imports, loading, exit)",
            *(_s(walls[w] - sum(per[w].values())) for w in whos),
        ]
    )
    rows.append(["**wall** (the median run)", *(f"**{_s(walls[w])}**" for w in whos)])
    return markdown_table(["step", *(f"{w} s" for w in whos)], rows, "l" + "r" * len(whos))


def medallion_breakdown(r: ScaleResult) -> str:
    """The median medallion run's steps from `--json`: duration and rows."""
    run = r.median_run("medallion")
    assert run is not None and run.report is not None
    rows = []
    for s in run.report["steps"]:
        checks = s.get("checks") or []
        n_checks = sum(1 for c in checks if c.get("kind") != "expectation")
        note = []
        if s["details"].get("duplicates_dropped"):
            note.append(f"{s['details']['duplicates_dropped']:,} duplicates dropped")
        if n_checks:
            note.append(f"{n_checks} checks")
        rows.append(
            [
                f"`{s['layer']}.{s['table']}`",
                _s(s["duration_s"]),
                f"{s.get('rows_read') or 0:,}",
                f"{s.get('rows_written') or 0:,}",
                f"{s.get('rows_quarantined') or 0:,}",
                "; ".join(note),
            ]
        )
    total = sum(s["duration_s"] for s in run.report["steps"])
    assert run.sample is not None
    rows.append(
        [
            "outside the steps (CLI start-up, imports, project loading, exit)",
            _s(run.sample.wall_s - total),
            "",
            "",
            "",
            "",
        ]
    )
    return markdown_table(
        ["step", "duration s", "rows read", "rows written", "quarantined", ""], rows, "lrrrrl"
    )


def data_table(results: list[ScaleResult]) -> str:
    rows = [
        [
            r.data.label,
            f"{r.data.rows:,}",
            f"{r.data.files:,}",
            f"{r.data.mb:.0f}",
            f"{r.data.generate_s:.0f}",
            f"{r.data.generate_rss_mb:.0f}",
        ]
        for r in results
    ]
    header = ["events", "lines (duplicates included)", "CSV files", "MB", "generated in s"]
    return markdown_table([*header, "generator peak RSS MB"], rows, "lrrrrr")


def outputs_table(r: ScaleResult) -> str:
    ref = r.reference or {}
    rows = []
    for table, info in ref.items():
        extra = ""
        fp = info["fingerprint"]
        if "revenue" in fp:
            extra = f"sum(revenue) = {fp['revenue']['sum']}"
        if table == "gold.customer_metrics":
            segments = fp["segment"].get("values", {})
            extra += "; " + ", ".join(f"{k} {v:,}" for k, v in segments.items())
        if table.endswith("__quarantine"):
            rules = fp["_failed_expectations"]["elements"]
            extra = ", ".join(f"{k} {v:,}" for k, v in rules.items())
        part = ", ".join(info["partition_by"])
        rows.append([f"`{table}`", f"{info['rows']:,}", part, extra])
    header = ["table", "rows", "partitioned by", "checked, among others"]
    return markdown_table(header, rows, "lrll")


def report(
    results: list[ScaleResult],
    repeat: int,
    command: str,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
    pandas_limits: tuple[float, float],
) -> str:
    largest = results[-1]
    lines, missed = targets(results)
    before, after = (", ".join(f"{x:.2f}" for x in load) for load in loads)
    runs = f"{repeat} run{'s' if repeat != 1 else ''}"
    versions = ("medallion", "duckdb", "deltalake", "pyarrow", "pandas", "polars", "numpy")
    parts = [
        f"Run on {date.today().isoformat()} with:",
        f"    {command}",
        f"Machine: {machine(versions)}. Load average (1, 5, 15 min) before: {before}; "
        f"after: {after}.",
        f"Code measured: {package_source('medallion')}.",
        "The ecommerce-events template end to end on a fresh, empty lakehouse: hourly CSV files "
        "→ `bronze.events_raw` (partitioned by event_type) → `silver.events_cleaned` "
        "(normalised, de-duplicated, partitioned by event_date; rule breakers to "
        "`silver.events_cleaned__quarantine`) → the four gold tables, all Delta. Four "
        "contenders do the same work, each in a fresh process (wall and CPU from `os.wait4`, "
        "peak RSS its own VmHWM, polled every 10 ms): "
        "*medallion* (`medallion run --json` in a project scaffolded from the template), the "
        "*floor* ([floor_ecommerce.py](../benchmarks/floor_ecommerce.py): DuckDB + deltalake by "
        "hand, the template's SQL, streamed Arrow into `write_deltalake`, no checks, no state, "
        "no run log), *pandas* ([pandas_ecommerce.py](../benchmarks/pandas_ecommerce.py): "
        "idiomatic pandas, every layer kept in memory — it does not read bronze and silver back "
        "as the others do) and *Polars* ([polars_ecommerce.py](../benchmarks/polars_ecommerce.py)"
        ": lazy `scan_csv` / `scan_delta`, `sink_delta`). medallion's time includes what only it "
        "does: file fingerprints and the ingestion record, rescue of unparseable lines, the "
        "state database and run log, change-data-feed table properties, de-duplication by key "
        "for its merge models, and 25 checks (unique, not_null, accepted_values, "
        f"reconciliations) that re-read the tables. Figures are medians of {runs} per "
        "contender, interleaved with the order rotating each round; wall time includes "
        "interpreter start-up and imports; CPU is user + "
        f"system. A pandas run is killed after {pandas_limits[0]:.0f} s or at "
        f"{pandas_limits[1] / 1000:g} GB of resident memory (the machine is shared) and "
        "recorded as unfinished; its other runs at that scale are then skipped.",
        f"Every run wrote the same {len(largest.reference or {})} tables: same row counts, "
        "schemas and partitioning, and the same per-column fingerprints (exact sums of numbers "
        "and decimals, doubles within 1e-9, sums of value hashes of text, dates and lists, value "
        "counts of low-cardinality text) as the first run at that scale; the benchmark stops on "
        "any difference.",
        results_table(results),
        "Targets:\n\n" + "\n".join(lines),
        "Every run's wall time, in order (s): " + all_walls(results) + ".",
        f"Seconds per step at {largest.data.label} (each contender's median run, as it reports "
        "its steps; medallion's silver step includes writing the quarantine and its checks, "
        "pandas' bronze step includes reading the CSV files, its gold steps share the time of "
        "adding the event-type flags):",
        steps_table(largest),
    ]
    if missed:
        parts += [
            f"Where medallion's time goes at {largest.data.label} (its median run's `--json` "
            "report; a step's duration includes its Delta commits and its checks):",
            medallion_breakdown(largest),
        ]
    parts += [
        f"Tables written at {largest.data.label} (the same for every contender):",
        outputs_table(largest),
        f"Input data (generated once per scale by `python -m {GENERATOR}`, seed {SEED}, in a "
        "child process measured as the runs are; not part of any run's time):",
        data_table(results),
    ]
    return "\n\n".join(parts) + "\n"


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the ecommerce-events pipeline: medallion vs the floor, pandas "
        "and Polars."
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="scales, in event lines (default: 1000000 10000000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender and scale")
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"comma-separated contenders to run (default: {','.join(CONTENDERS)})",
    )
    parser.add_argument(
        "--pandas-timeout",
        type=float,
        default=900.0,
        help="seconds after which a pandas run is killed and recorded as unfinished",
    )
    parser.add_argument(
        "--pandas-max-rss-mb",
        type=float,
        default=16_000.0,
        help="resident memory (MB) at which a pandas run is killed and recorded as unfinished "
        "(the machine is shared)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help=f"replace the --section in {DOC.name}"
    )
    parser.add_argument(
        "--section",
        default=SECTION,
        help=f"the {DOC.name} section --write-docs replaces (default '{SECTION}', which needs "
        "every contender; another section, e.g. 'A month of events (42M)', takes --only)",
    )
    parser.add_argument("--workdir", type=Path, help="where temporary files go (default: TMPDIR)")
    args = parser.parse_args(argv)
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in only if c not in CONTENDERS]
    if unknown or not only:
        parser.error(f"--only takes some of {', '.join(CONTENDERS)}")
    if args.repeat < 1 or any(r < 1 for r in args.rows):
        parser.error("--rows and --repeat must be positive")
    if not MEDALLION.exists():
        parser.error(
            f"{shown(MEDALLION)} not found: run with the Python of medallion's environment"
        )
    if args.write_docs and args.section == SECTION and set(only) != set(CONTENDERS):
        parser.error(f"--write-docs into '{SECTION}' needs every contender (leave out --only)")
    command = command_line()

    compile_bytecode("medallion")
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="medallion-ecommerce-", dir=args.workdir) as tmp:
        for rows in args.rows:
            print(f"generating {scale_label(rows)} events ...", flush=True)
            data = generate(rows, Path(tmp))
            print(f"  {data.files} files, {data.mb:.0f} MB in {data.generate_s:.0f} s", flush=True)
            results.append(
                bench_scale(
                    data,
                    args.repeat,
                    only,
                    Path(tmp),
                    args.pandas_timeout,
                    args.pandas_max_rss_mb,
                )
            )
            shutil.rmtree(data.folder)
    load_after = os.getloadavg()

    limits = (args.pandas_timeout, args.pandas_max_rss_mb)
    text = report(results, args.repeat, command, (load_before, load_after), limits)
    publish(text, args.section, args.write_docs)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == SUMMARY_FLAG:
        print(json.dumps(summarize(Path(sys.argv[2]))))
        raise SystemExit(0)
    raise SystemExit(main())
