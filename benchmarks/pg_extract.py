"""PostgreSQL extraction benchmark: a table to Arrow batches and into bronze, next to a plain COPY.

What is measured, and why
-------------------------
The target (from the issue) is: "Extract 1M rows from PostgreSQL into bronze with peak RSS under
1 GB and at least 300k rows/s on 2 cores; record it next to a plain `COPY TO` of the same table".
The issue also asks to choose, on measurements, how extraction streams Arrow batches: connectorx,
ADBC or psycopg COPY. medallion asks psycopg for the column types (the result description) and
the watermark and exports that snapshot; ADBC reads the rows in it (binary COPY decoded to Arrow in
C++; medallion.ingest.database). This script measures that against the alternatives (a plain
ADBC read, connectorx, psycopg's CSV COPY) and a baseline.

A throwaway PostgreSQL server (medallion.devservers.pgserver.PgServer, on this machine, over TCP on
127.0.0.1) gets a table `public.orders` shaped like the OLTP template's (id serial primary key,
customer_id int, order_date timestamp, status text, total_amount numeric(12,2), shipping_address
text, created_at and updated_at timestamptz), filled with `--rows` rows (default 1M) by one
`INSERT ... SELECT FROM generate_series` with a fixed seed: varied addresses of ~25-60 characters
(some with commas, a few with a quoted line break, some non-ASCII), 3% NULL addresses, 1% NULL
customers. Then VACUUM (FREEZE, ANALYZE), so no scan pays for hint bits.

Each case runs in a fresh child process, measured by the parent with `_common.measure` (the
child's own wall, CPU and peak RSS; wall includes interpreter start-up and imports, rows/s =
rows / wall):

- **psql `\\copy` to /dev/null** (CSV): what a DBA would run; the baseline;
- **psycopg COPY, bytes discarded**: the same server-side `COPY ... TO STDOUT (FORMAT csv)`
  drained by psycopg with nothing done with the bytes: the wire and driver cost alone;
- **medallion extract**: `medallion.ingest.database.extract()` on a `DatabaseSource` with
  cursor `updated_at` (a first, full read), its reader drained;
- **ADBC** (adbc-driver-postgresql, `fetch_record_batch`) and **connectorx** (`read_sql`,
  `return_type="arrow_stream"`), each batch cast to the schema medallion produces (NUMERIC as
  decimal128(12, 2): ADBC hands it over as an opaque string, connectorx as decimal128(38, 10);
  int4 as int32; timestamptz as timestamp[us, UTC]): the same output, so the same work;
- **medallion run** (CLI): `medallion -p DIR run --json` on a project whose only source is the
  table, on a fresh lakehouse each time: extraction, audit columns, Delta commit, run log — the
  target's "into bronze".

Every Arrow case checks what it read against the server: row count, sum of total_amount and of
customer_id, NULL addresses and their total length in characters, min and max of each timestamp
column (in microseconds since the epoch) — and fails loudly on a mismatch. The COPY cases check
the row count; `medallion run` checks the bronze table's row count in its Delta log.

The server's own CPU time (the postmaster, its live children, and the backends it reaped — its
`cutime`/`cstime`) is read from /proc before and after each run: on 2 cores the server and the
client share the machine, so it explains the wall times. The child's in-process time (connect to
last batch, imports excluded) is reported too.

Cases run interleaved, the order rotating each round, so a drift in machine load hits every case
alike; one unmeasured warm-up round comes first. Medians are reported. The machine may be shared
(2 CPUs: the server and the client already compete), so each run starts once the machine is
idle (all processes under 10% of a CPU for a second, from /proc/stat), and a run during which
other processes used noticeable CPU (total busy time minus the client's and the server's) is
measured again, up to 3 times; the section gives that CPU for every run. Finally the table gets an
UPDATE of 1% of its rows (new updated_at and status) and one incremental `medallion run` lands
them on top of the last full run's bronze table.

    python benchmarks/pg_extract.py [--rows 1000000] [--repeat 5] [--write-docs]

With --write-docs the "PostgreSQL extraction" section of docs/benchmarks.md is replaced (other
sections are kept). ADBC and connectorx are not medallion dependencies; a case whose library is
not importable is skipped, and the section says so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
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
)

SECTION = "PostgreSQL extraction"
TABLE = "public.orders"
QUERY = f"SELECT * FROM {TABLE}"
RSS_TARGET_MB = 1000.0  # peak RSS under 1 GB (10^9 bytes; ru_maxrss KiB -> MB as in _common)
RATE_TARGET = 300_000  # rows/s
UPDATE_EVERY = 100  # the incremental run: UPDATE ... WHERE id % 100 = 0 (1% of the rows)
BATCH_ROWS = 100_000  # connectorx batch size: DatabaseSource.batch_size's default
SERVER_SETTINGS = {"shared_buffers": "256MB", "max_wal_size": "2GB"}
OTHER_BENCHMARKS = r"benchmarks/(incremental|retail|expectations)"
CLK_TCK = os.sysconf("SC_CLK_TCK")
IDLE_CORES = 0.10  # a run starts once all processes together use < 10% of a CPU for 1 s
DISTURBED_S, DISTURBED_SHARE = 0.15, 0.05  # others' CPU over 0.15 s + 5% of the wall: again
ATTEMPTS = 3  # runs per slot at most (the last one is kept, and counted, if still disturbed)
DSN_ENV = "PG_EXTRACT_DSN"
EXPECT_ENV = "PG_EXTRACT_EXPECT"

TABLE_SQL = f"""
CREATE TABLE {TABLE} (
    id serial PRIMARY KEY,
    customer_id integer,
    order_date timestamp NOT NULL,
    status text NOT NULL,
    total_amount numeric(12,2) NOT NULL,
    shipping_address text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
"""

# Addresses: "<no> <street>, [Apt n, ]<city> <zip>", ~25-60 characters; 3% NULL, 0.5% with a
# quoted c/o line after a line break (CSV quoting and newlines in values); some non-ASCII.
FILL_SQL = """
SELECT setseed(0.42);
INSERT INTO {table} (customer_id, order_date, status, total_amount, shipping_address,
                     created_at, updated_at)
SELECT
    CASE WHEN random() < 0.01 THEN NULL ELSE 1 + floor(random() * 100000)::int END,
    od,
    (ARRAY['pending', 'processing', 'shipped', 'completed', 'cancelled', 'returned'])
        [1 + floor(random() * 6)::int],
    round((1 + random() * 1999)::numeric, 2)::numeric(12,2),
    CASE WHEN random() < 0.03 THEN NULL ELSE
        (1 + floor(random() * 9999))::int || ' '
        || (ARRAY['Main Street', 'Oak Avenue', 'Maple Road', 'Rue de la Paix', 'Hauptstraße',
                  'Elm Boulevard', 'Via Roma', 'Calle Mayor'])[1 + floor(random() * 8)::int]
        || ', '
        || CASE WHEN random() < 0.3 THEN 'Apt ' || (1 + floor(random() * 300))::int || ', '
                ELSE '' END
        || (ARRAY['Springfield', 'Paris', 'München', 'Zürich', 'Kraków', 'Lisbon',
                  'New York, NY', 'Rio de Janeiro'])[1 + floor(random() * 8)::int]
        || ' ' || lpad(floor(random() * 100000)::int::text, 5, '0')
        || CASE WHEN random() < 0.005 THEN E'\\nc/o "Reception", floor 2' ELSE '' END
    END,
    ca,
    ca + random() * interval '30 days'
FROM (
    SELECT od, (od AT TIME ZONE 'UTC') + random() * interval '2 hours' AS ca
    FROM (
        SELECT timestamp '2024-01-01' + random() * interval '540 days' AS od
        FROM generate_series(1, {rows})
    ) AS dates
    ORDER BY od
) AS rows_in_order;
"""

TIMESTAMPS = ("order_date", "created_at", "updated_at")
_EPOCHS = [
    f"(extract(epoch FROM {agg}({col})) * 1000000)::bigint"
    for col in TIMESTAMPS
    for agg in ("min", "max")
]
#: what every Arrow case is checked against, computed on the server once
TRUTH_SQL = f"""
SELECT
    count(*),
    sum(total_amount)::text,
    coalesce(sum(customer_id), 0),
    count(*) - count(shipping_address),
    coalesce(sum(length(shipping_address)), 0),
    {", ".join(_EPOCHS)}
FROM {TABLE}
"""
TRUTH_KEYS = (
    "rows",
    "sum_total_amount",
    "sum_customer_id",
    "null_addresses",
    "address_chars",
    *(f"{agg}_{col}" for col in TIMESTAMPS for agg in ("min", "max")),
)


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    kind: str  # psql | child | cli
    module: str | None = None  # the library it needs (skipped when not importable)


CASES = (
    Case("psql", "psql `\\copy (SELECT * ...) TO '/dev/null'` (CSV) — the baseline", "psql"),
    Case("copy", "psycopg `COPY ... TO STDOUT` (CSV), bytes discarded", "child"),
    Case("medallion", "**medallion** `extract()` (psycopg metadata + ADBC rows)", "child"),
    Case(
        "adbc",
        "ADBC `fetch_record_batch`, cast to the same types",
        "child",
        "adbc_driver_postgresql",
    ),
    Case("connectorx", "connectorx `arrow_stream`, cast to the same types", "child", "connectorx"),
    Case("bronze", "**`medallion run`** into bronze (CLI, end to end)", "cli"),
)
CASE_NAMES = [c.name for c in CASES]


def target_schema() -> Any:
    """The Arrow schema medallion gives `public.orders`; the alternatives are cast to it."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.int32()),
            pa.field("customer_id", pa.int32()),
            pa.field("order_date", pa.timestamp("us")),
            pa.field("status", pa.string()),
            pa.field("total_amount", pa.decimal128(12, 2)),
            pa.field("shipping_address", pa.string()),
            pa.field("created_at", pa.timestamp("us", tz="UTC")),
            pa.field("updated_at", pa.timestamp("us", tz="UTC")),
        ]
    )


# -- the child: one extraction ---------------------------------------------------------------


class Checks:
    """Aggregates of the batches read, compared with the server's (TRUTH_SQL)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = dict.fromkeys(TRUTH_KEYS, 0)
        self.values["sum_total_amount"] = Decimal(0)
        for key in TRUTH_KEYS[5:]:
            self.values[key] = None

    def add(self, batch: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        v = self.values
        v["rows"] += batch.num_rows
        v["sum_total_amount"] += pc.sum(batch.column("total_amount")).as_py() or 0
        v["sum_customer_id"] += pc.sum(batch.column("customer_id")).as_py() or 0
        address = batch.column("shipping_address")
        v["null_addresses"] += address.null_count
        v["address_chars"] += pc.sum(pc.utf8_length(address)).as_py() or 0
        for col in TIMESTAMPS:
            micros = batch.column(col).cast(pa.int64())
            low, high = pc.min(micros).as_py(), pc.max(micros).as_py()
            if low is not None:
                old = v[f"min_{col}"]
                v[f"min_{col}"] = low if old is None else min(old, low)
            if high is not None:
                old = v[f"max_{col}"]
                v[f"max_{col}"] = high if old is None else max(old, high)

    def mismatches(self, expected: dict[str, Any]) -> list[str]:
        problems = []
        for key in TRUTH_KEYS:
            got, want = self.values[key], expected[key]
            if key == "sum_total_amount":
                got, want = Decimal(got), Decimal(want)
            if got != want:
                problems.append(f"{key}: read {got}, the server has {want}")
        return problems


def _cast_to(batch: Any, schema: Any) -> Any:
    """`batch` with `schema`'s types: extension (opaque) columns by their storage, then cast
    (a safe cast: a value that does not fit, e.g. a lost decimal digit, raises)."""
    import pyarrow as pa

    arrays = []
    for array, target in zip(batch.columns, schema, strict=True):
        if isinstance(array, pa.ExtensionArray):
            array = array.storage
        arrays.append(array if array.type == target.type else array.cast(target.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _medallion_batches(dsn: str, info: dict[str, Any]) -> Iterator[Any]:
    from medallion.config.schema import DatabaseSource
    from medallion.ingest.database import extract

    source = DatabaseSource(type="postgres", dsn=dsn, table=TABLE, cursor="updated_at")
    ex = extract(source, "orders", None, False, Path.cwd())
    try:
        info["raw_types"] = {f.name: str(f.type) for f in ex.reader.schema}
        if not ex.reader.schema.equals(target_schema()):
            raise SystemExit(f"medallion's schema changed:\n{ex.reader.schema}")
        yield from ex.reader
    finally:
        ex.close()


def _adbc_batches(dsn: str, info: dict[str, Any]) -> Iterator[Any]:
    import adbc_driver_postgresql.dbapi as adbc

    schema = target_schema()
    with adbc.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(QUERY)
        reader = cur.fetch_record_batch()
        info["raw_types"] = {f.name: str(f.type) for f in reader.schema}
        for batch in reader:
            yield _cast_to(batch, schema)


def _connectorx_batches(dsn: str, info: dict[str, Any]) -> Iterator[Any]:
    import connectorx as cx

    schema = target_schema()
    try:
        reader = cx.read_sql(dsn, QUERY, return_type="arrow_stream", batch_size=BATCH_ROWS)
        info["return_type"] = "arrow_stream"
        batches: Any = reader
    except (ValueError, TypeError):  # an older connectorx without arrow_stream
        table = cx.read_sql(dsn, QUERY, return_type="arrow")
        info["return_type"] = "arrow (whole table)"
        reader, batches = table, table.to_batches()
    info["raw_types"] = {f.name: str(f.type) for f in reader.schema}
    for batch in batches:
        yield _cast_to(batch, schema)


def _drain_copy(dsn: str, info: dict[str, Any]) -> int:
    import psycopg

    nbytes = 0
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        with cur.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                nbytes += len(chunk)
        info["bytes"] = nbytes
        return cur.rowcount


def child(case: str) -> int:
    """One extraction in this process; prints a JSON line (rows, in-process seconds, types)."""
    dsn = os.environ[DSN_ENV]
    expected = json.loads(os.environ[EXPECT_ENV])
    # import first: the in-process time is the extraction's, not the imports'
    import psycopg  # noqa: F401
    import pyarrow.compute  # noqa: F401

    if case == "medallion":
        import adbc_driver_manager  # noqa: F401
        import adbc_driver_postgresql

        import medallion.ingest.database  # noqa: F401
    elif case == "adbc":
        import adbc_driver_postgresql.dbapi  # noqa: F401
    elif case == "connectorx":
        import connectorx  # noqa: F401

    info: dict[str, Any] = {}
    started = time.perf_counter()
    if case == "copy":
        rows = _drain_copy(dsn, info)
        problems = [] if rows == expected["rows"] else [f"rows: {rows}, not {expected['rows']}"]
    else:
        batches = {
            "medallion": _medallion_batches,
            "adbc": _adbc_batches,
            "connectorx": _connectorx_batches,
        }[case](dsn, info)
        checks, n_batches = Checks(), 0
        for batch in batches:
            checks.add(batch)
            n_batches += 1
        rows, problems = checks.values["rows"], checks.mismatches(expected)
        info["batches"] = n_batches
    info.update(rows=rows, extract_s=time.perf_counter() - started)
    print(json.dumps(info))
    if problems:
        print(f"{case} read the wrong data:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


# -- the server --------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rpartition(")")[2].split()  # fields from "state" on


def _children(pid: int) -> set[int]:
    """Child processes of `pid`, zombies included (their CPU time is not yet in the parent's
    cutime/cstime until it reaps them)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def server_cpu_s(postmaster: int) -> float:
    """CPU seconds the server has used so far: the postmaster (with the children it reaped:
    backends that exited) and its live children."""
    fields = _stat(postmaster)
    if fields is None:
        raise RuntimeError(f"the postmaster (pid {postmaster}) is gone")
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    for pid in _children(postmaster):
        child = _stat(pid)
        if child is not None:
            ticks += sum(int(x) for x in child[11:15])
    return ticks / CLK_TCK


def settle(postmaster: int, baseline: set[int], timeout: float = 5.0) -> None:
    """Wait until the backends of a finished client have exited and been reaped."""
    deadline = time.monotonic() + timeout
    while _children(postmaster) - baseline and time.monotonic() < deadline:
        time.sleep(0.01)


@dataclass
class Table:
    rows: int
    total_bytes: int  # pg_total_relation_size: heap, TOAST, the primary key index
    heap_bytes: int
    fill_s: float
    truth: dict[str, Any]
    server_version: str


def create_table(server: Any, rows: int) -> Table:
    started = time.perf_counter()
    server.psql(TABLE_SQL, "bench")
    server.psql(FILL_SQL.format(table=TABLE, rows=rows), "bench")
    server.psql(f"VACUUM (FREEZE, ANALYZE) {TABLE}", "bench")
    fill_s = time.perf_counter() - started
    values = server.psql(TRUTH_SQL, "bench").strip().split("|")
    truth: dict[str, Any] = {}
    for key, value in zip(TRUTH_KEYS, values, strict=True):
        truth[key] = value if key == "sum_total_amount" else int(value)
    sizes = server.psql(
        f"SELECT pg_total_relation_size('{TABLE}'), pg_relation_size('{TABLE}')", "bench"
    )
    total, heap = (int(x) for x in sizes.strip().split("|"))
    version = server.psql("SHOW server_version", "bench").strip()
    if truth["rows"] != rows:
        raise SystemExit(f"{TABLE} holds {truth['rows']} rows, not {rows}")
    return Table(rows, total, heap, fill_s, truth, version)


# -- measuring ---------------------------------------------------------------------------------


def machine_busy_s() -> float:
    """CPU seconds all processes have spent so far (user, nice, system of every CPU, from
    /proc/stat; interrupts and idle excluded)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return sum(int(x) for x in fields[1:4]) / CLK_TCK


def wait_idle(timeout: float) -> float | None:
    """Wait until the machine is idle (under IDLE_CORES of CPU over a second); the seconds
    waited, or None if it never was within `timeout` (the run then goes ahead)."""
    started = time.monotonic()
    while True:
        before = machine_busy_s()
        time.sleep(1.0)
        if machine_busy_s() - before < IDLE_CORES:
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            return None


def disturbed(run: Run) -> bool:
    """Whether other processes used enough CPU during `run` to distort it."""
    return run.others_cpu_s > DISTURBED_S + DISTURBED_SHARE * run.sample.wall_s


@dataclass
class Run:
    sample: Sample
    server_cpu_s: float
    others_cpu_s: float  # CPU time of every other process on the machine during the run
    waited_s: float | None  # for the machine to be idle first (None: it never was)
    info: dict[str, Any]


@dataclass
class CaseResult:
    case: Case
    samples: list[Sample] = field(default_factory=list)
    server_cpus: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)
    extracts: list[float] = field(default_factory=list)  # in-process (or step) seconds
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> Summary:
        return Summary.of(self.samples)

    @property
    def server_cpu_s(self) -> float:
        return statistics.median(self.server_cpus)

    @property
    def extract_s(self) -> float | None:
        return statistics.median(self.extracts) if self.extracts else None

    def rate(self, rows: int) -> float:
        return rows / self.summary.wall_s


@dataclass
class Bench:
    server: Any
    dsn: str
    table: Table
    project: Path
    psql: str
    idle_timeout: float
    repeated: int = 0  # runs measured again: other processes disturbed them
    unquiet: int = 0  # runs kept although the machine was not idle

    def _env(self) -> dict[str, str]:
        return {**os.environ, DSN_ENV: self.dsn, EXPECT_ENV: json.dumps(self.table.truth)}

    def run(self, case: Case) -> Run:
        """One measured run, started when the machine is idle."""
        postmaster = self.server.pid
        baseline = _children(postmaster)
        if case.kind == "cli":
            for name in ("lakehouse", ".medallion"):
                shutil.rmtree(self.project / name, ignore_errors=True)
        waited = wait_idle(self.idle_timeout)
        busy0, cpu0, own0 = machine_busy_s(), server_cpu_s(postmaster), time.process_time()
        if case.kind == "psql":
            copy = f"\\copy ({QUERY}) TO '/dev/null' WITH (FORMAT csv)"
            sample = measure([self.psql, "-X", "-d", self.dsn, "-c", copy], cwd=Path("/"))
        elif case.kind == "cli":
            argv = [MEDALLION, "-p", self.project, "run", "--json"]
            sample = measure(argv, cwd=self.project)
        else:
            argv = [PYTHON, __file__, "--child", case.name]
            sample = measure(argv, env=self._env(), cwd=BENCH_DIR)
        settle(postmaster, baseline)
        server_cpu = server_cpu_s(postmaster) - cpu0
        own = time.process_time() - own0  # this process's polling of /proc
        others = max(0.0, machine_busy_s() - busy0 - server_cpu - sample.cpu_s - own)
        return Run(sample, server_cpu, others, waited, self.check(case, sample))

    def check(self, case: Case, sample: Sample) -> dict[str, Any]:
        rows = self.table.rows
        if case.kind == "psql":
            m = re.search(r"COPY (\d+)", sample.stdout)
            if m is None or int(m.group(1)) != rows:
                raise SystemExit(f"psql copied {m and m.group(1)} rows, not {rows}")
            return {}
        if case.kind == "cli":
            return self.check_bronze(sample, rows)
        return json.loads(sample.stdout.strip().splitlines()[-1])

    def check_bronze(self, sample: Sample, rows: int) -> dict[str, Any]:
        result = json.loads(sample.stdout)
        step = next((s for s in result["steps"] if s["node"] == "bronze.orders"), None)
        if result["status"] != "success" or step is None:
            raise SystemExit(f"medallion run did not succeed:\n{sample.stdout[-4000:]}")
        landed = delta_rows(self.project / "lakehouse" / "bronze" / "orders")
        if landed != rows or step["rows_written"] != rows:
            raise SystemExit(
                f"bronze.orders holds {landed} rows (the step wrote {step['rows_written']}), "
                f"not {rows}"
            )
        return {"step_s": step["duration_s"], "rows_written": step["rows_written"]}


def wait_for_quiet(max_minutes: float) -> str | None:
    """Wait until no other benchmark runs (they would disturb the numbers); a note if one
    still did when the wait ran out."""
    deadline = time.monotonic() + max_minutes * 60
    while True:
        found = subprocess.run(["pgrep", "-f", OTHER_BENCHMARKS], capture_output=True, text=True)
        pids = [p for p in found.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        if not pids:
            return None
        if time.monotonic() >= deadline:
            return f"another benchmark (pids {', '.join(pids)}) was still running"
        print(f"  waiting: another benchmark runs (pids {', '.join(pids)}) ...", flush=True)
        time.sleep(30)


def available(case: Case) -> bool:
    return case.module is None or importlib.util.find_spec(case.module) is not None


def bench(b: Bench, cases: Sequence[Case], repeat: int) -> list[CaseResult]:
    results = [CaseResult(c) for c in cases]
    print("warm-up round (not measured) ...", flush=True)
    for case in cases:
        b.run(case)
    b.repeated = b.unquiet = 0
    for round_no in range(repeat):
        k = round_no % len(results)
        for r in results[k:] + results[:k]:
            for attempt in range(1, ATTEMPTS + 1):
                run = b.run(r.case)
                if not disturbed(run) or attempt == ATTEMPTS:
                    break
                b.repeated += 1
                print(
                    f"  {r.case.name}: other processes used {run.others_cpu_s:.2f} s CPU "
                    "during the run: repeating it",
                    flush=True,
                )
            if run.waited_s is None or disturbed(run):
                b.unquiet += 1
            sample, info = run.sample, run.info
            r.samples.append(sample)
            r.server_cpus.append(run.server_cpu_s)
            r.others.append(run.others_cpu_s)
            extract = info.get("extract_s", info.get("step_s"))
            if extract is not None:
                r.extracts.append(float(extract))
            r.info = info
            print(
                f"  round {round_no + 1}/{repeat} {r.case.name}: {sample.wall_s:.2f} s wall, "
                f"{sample.cpu_s:.2f} s CPU, {sample.rss_mb:.0f} MB, server CPU "
                f"{run.server_cpu_s:.2f} s, others {run.others_cpu_s:.2f} s"
                + (f", in-process {float(extract):.2f} s" if extract is not None else ""),
                flush=True,
            )
    return results


@dataclass
class Incremental:
    updated: int
    sample: Sample
    step_s: float
    rows_written: int
    bronze_rows: int
    others_cpu_s: float  # CPU of every other process, the PostgreSQL server's included


def incremental(b: Bench) -> Incremental:
    """UPDATE 1% of the rows, then one incremental run on the last full run's bronze."""
    before = delta_rows(b.project / "lakehouse" / "bronze" / "orders")
    b.server.psql(
        f"UPDATE {TABLE} SET updated_at = now(), "
        "status = CASE status WHEN 'pending' THEN 'processing' ELSE 'completed' END "
        f"WHERE id % {UPDATE_EVERY} = 0",
        "bench",
    )
    updated = b.table.rows // UPDATE_EVERY
    wait_idle(b.idle_timeout)
    busy0 = machine_busy_s()
    sample = measure([MEDALLION, "-p", b.project, "run", "--json"], cwd=b.project)
    others = max(0.0, machine_busy_s() - busy0 - sample.cpu_s)  # the server's CPU included
    result = json.loads(sample.stdout)
    step = next(s for s in result["steps"] if s["node"] == "bronze.orders")
    after = delta_rows(b.project / "lakehouse" / "bronze" / "orders")
    if (
        result["status"] != "success"
        or step["rows_written"] != updated
        or after != before + updated
    ):
        raise SystemExit(
            f"the incremental run landed {step['rows_written']} rows (bronze {before} -> "
            f"{after}), not the {updated} updated"
        )
    return Incremental(updated, sample, step["duration_s"], step["rows_written"], after, others)


@dataclass
class ErrorProbe:
    """What each driver raises for a missing table, a wrong password, a refused connection."""

    rows: dict[str, list[str]]


def probe_errors(dsn: str, cases: Sequence[Case]) -> ErrorProbe:
    from medallion.devservers.pgserver import free_port

    situations = {
        "missing table": (dsn, "SELECT * FROM public.no_such_table"),
        "wrong password": (dsn.replace(":secret@", ":wrong@"), QUERY),
        "connection refused": (re.sub(r":\d+/", f":{free_port()}/", dsn), QUERY),
    }

    def psycopg_run(d: str, q: str) -> None:
        import psycopg

        with psycopg.connect(d, connect_timeout=5) as conn:
            conn.execute(q)

    def adbc_run(d: str, q: str) -> None:
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(d) as conn, conn.cursor() as cur:
            cur.execute(q)

    def cx_run(d: str, q: str) -> None:
        import connectorx as cx

        cx.read_sql(d, q, return_type="arrow")

    drivers = {"psycopg": psycopg_run, "adbc": adbc_run, "connectorx": cx_run}
    rows: dict[str, list[str]] = {}
    for driver, run in drivers.items():
        if driver != "psycopg" and not any(c.name == driver for c in cases):
            continue
        cells = []
        for d, q in situations.values():
            started = time.perf_counter()
            try:
                run(d, q)
                cells.append("no error")
            except BaseException as e:  # connectorx raises from Rust (pyo3 PanicException)
                if isinstance(e, KeyboardInterrupt):
                    raise
                state = getattr(e, "sqlstate", None)
                cells.append(
                    f"`{type(e).__name__}`, SQLSTATE {state or '—'}, "
                    f"after {time.perf_counter() - started:.1f} s"
                )
        rows[driver] = cells
    return ErrorProbe({"situation": list(situations), **rows})


def installed_mb(*dists: str) -> float | None:
    """Disk size of the installed distributions (the files their RECORD lists)."""
    total = 0
    for dist in dists:
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            return None
        for f in files:
            with contextlib.suppress(OSError):
                total += f.locate().stat().st_size
    return total / 1e6


# -- reporting ---------------------------------------------------------------------------------


def results_table(results: list[CaseResult], rows: int) -> str:
    out = []
    for r in results:
        s = r.summary
        extract = r.extract_s
        out.append(
            [
                r.case.label,
                str(s.n),
                f"{s.wall_s:.2f}",
                f"{s.cpu_s:.2f}",
                f"{r.server_cpu_s:.2f}",
                f"{s.rss_mb:.0f}",
                f"{rows / s.wall_s:,.0f}",
                "—" if extract is None else f"{extract:.2f}",
            ]
        )
    header = [
        "method",
        "N",
        "wall s",
        "CPU s",
        "server CPU s",
        "peak RSS MB",
        "rows/s",
        "in-process s",
    ]
    return markdown_table(header, out, "lrrrrrrr")


def all_runs(results: list[CaseResult]) -> str:
    return "; ".join(
        f"{r.case.name} "
        + ", ".join(f"{w:.2f} ({o:.2f})" for w, o in zip(r.summary.walls, r.others, strict=True))
        for r in results
    )


def verdict(ok: bool) -> str:
    return "HOLDS" if ok else "**MISSED**"


def targets(results: dict[str, CaseResult], rows: int) -> list[str]:
    lines = []
    for name, what in (("bronze", "`medallion run` into bronze"), ("medallion", "extraction")):
        if name not in results:
            continue
        s = results[name].summary
        rate = rows / s.wall_s
        lines.append(
            f"- {what}, {scale_label(rows)} rows on {os.cpu_count()} CPUs: peak RSS "
            f"{s.rss_mb:.0f} MB < {RSS_TARGET_MB:.0f} MB — {verdict(s.rss_mb < RSS_TARGET_MB)}; "
            f"{rate:,.0f} rows/s ≥ {RATE_TARGET:,} — {verdict(rate >= RATE_TARGET)}"
            + (" (the issue's target)" if name == "bronze" else " (for information)")
        )
    return lines


def _times(a: float, b: float) -> str:
    """'1.23× faster' / '1.23× slower': a relative to b (seconds)."""
    return f"{b / a:.2f}× faster" if a < b else f"{a / b:.2f}× slower"


def why_adbc(results: dict[str, CaseResult], probe: ErrorProbe, sizes: dict[str, Any]) -> str:
    med = results.get("medallion")
    if med is None:
        return ""
    parts = []
    comparisons = []
    for name in ("copy", "adbc", "connectorx"):
        alt = results.get(name)
        if alt is None:
            continue
        comparisons.append(
            f"{alt.case.name} took {alt.summary.wall_s:.2f} s wall and {alt.summary.cpu_s:.2f} s "
            f"client CPU (+ {alt.server_cpu_s:.2f} s server CPU), "
            f"{_times(alt.summary.wall_s, med.summary.wall_s)} than medallion's "
            f"{med.summary.wall_s:.2f} s and {med.summary.cpu_s:.2f} s "
            f"(+ {med.server_cpu_s:.2f} s), {alt.summary.rss_mb:.0f} MB peak RSS against "
            f"{med.summary.rss_mb:.0f} MB"
        )
    if comparisons:
        parts.append("On these numbers, " + "; ".join(comparisons) + ".")
    raw = {n: results[n].info.get("raw_types", {}) for n in ("adbc", "connectorx") if n in results}
    sized = ", ".join(f"{k} {v:.0f} MB" for k, v in sizes.items() if v is not None)
    reasons = [
        "Speed: ADBC's PostgreSQL driver reads `COPY ... TO STDOUT (FORMAT binary)` and decodes "
        "it into Arrow in C++. medallion first streamed the CSV form through psycopg into "
        "pyarrow's CSV reader (3.29 s wall, 240,150 rows/s for `medallion run` in the previous "
        "measurement of this section, 2026-11-22, git 97f0a11): text costs the server more to "
        "write and the client more to parse.",
        "Exact types: psycopg asks the questions before any row moves (the result description: "
        "numeric(p,s) → decimal128(p,s), int4 → int32, timestamptz → timestamp[us, UTC], "
        "anything without an Arrow equivalent selected as its text) and exports its snapshot "
        "(`pg_export_snapshot()`); ADBC reads the rows in that snapshot (`SET TRANSACTION "
        "SNAPSHOT`), so the watermark and the rows agree"
        + (
            f". ADBC alone returns `total_amount` as `{raw['adbc'].get('total_amount')}`: "
            "its text, cast to the described decimal per batch"
            if "adbc" in raw
            else ""
        )
        + ".",
        "Errors: psycopg's exception classes and SQLSTATE tell transient failures (08xxx, "
        "57P0x: retried with backoff) from permanent ones (28xxx, 42P01, ...: reported at "
        "once) before any row is read; a connection lost mid-stream reaches medallion from "
        "ADBC as libpq's message and is retried too (medallion.ingest.database.StreamFailed).",
        "Not connectorx, although faster here: it cannot share a snapshot with the "
        "connection that read the watermark, it reported a wrong password only after a 30 s "
        "timeout, as a `RuntimeError` without SQLSTATE (table below), and it is large"
        + (f" (installed size here: {sized})" if sized else "")
        + ". Not ADBC's DB-API module either: importing it imports pandas, polars and "
        "pyarrow.dataset (0.35 s); medallion uses `adbc_driver_manager`'s low-level classes.",
    ]
    parts.append("Why psycopg + ADBC:\n\n" + "\n".join(f"- {r}" for r in reasons))
    header = ["driver", *probe.rows["situation"]]
    body = [[k, *v] for k, v in probe.rows.items() if k != "situation"]
    parts.append(markdown_table(header, body, "l" * len(header)))
    return "\n\n".join(parts)


def report(
    table: Table,
    results: list[CaseResult],
    skipped: list[str],
    inc: Incremental | None,
    probe: ErrorProbe,
    sizes: dict[str, Any],
    repeat: int,
    command: str,
    load: tuple[float, float],
    note: str | None,
    disturbance: tuple[int, int],
) -> str:
    by_name = {r.case.name: r for r in results}
    rows = table.rows
    packages = ("medallion", "psycopg", "pyarrow", "deltalake", "duckdb")
    packages += ("adbc-driver-postgresql", "connectorx")
    copy_bytes = by_name["copy"].info.get("bytes") if "copy" in by_name else None
    parts = [
        f"Run on {date.today().isoformat()} with:",
        f"    {command}",
        f"Machine: {machine(packages)}; PostgreSQL {table.server_version} on the same machine "
        "(medallion.devservers.pgserver, "
        f"{', '.join(f'{k}={v}' for k, v in SERVER_SETTINGS.items())}"
        ", fsync off), clients over TCP on 127.0.0.1.",
        f"Code measured: {package_source('medallion')}.",
        f"Load average (1 min) before / after the benchmark: {load[0]:.2f} / {load[1]:.2f} "
        f"(on {os.cpu_count()} CPUs)." + (f" Note: {note}." if note else ""),
        f"Table `{TABLE}`: {rows:,} rows shaped like the OLTP template's orders (id serial "
        "primary key, customer_id int, order_date timestamp, status text, total_amount "
        "numeric(12,2), shipping_address text, created_at and updated_at timestamptz), "
        f"{table.total_bytes / 1e6:.0f} MB with its index ({table.heap_bytes / 1e6:.0f} MB heap)"
        + (f", {copy_bytes / 1e6:.0f} MB as COPY CSV" if copy_bytes else "")
        + "; addresses of ~25-60 characters (3% NULL, 0.5% with a quoted line break), 1% NULL "
        f"customers; filled by one `INSERT ... SELECT FROM generate_series` in "
        f"{table.fill_s:.0f} s, then VACUUM (FREEZE, ANALYZE).",
        f"Each figure is the median of {repeat} runs, each a fresh process measured with "
        "`_common.measure`: wall (with start-up and imports), the client's CPU (user + "
        "system) and peak RSS (its VmHWM); rows/s = rows / wall. *Server CPU* is the "
        "PostgreSQL server's CPU time over the run (postmaster, backends, from /proc) — on 2 "
        "CPUs it competes with the client. "
        "*In-process* is the child's own time from connecting to the last batch (imports "
        "excluded); for `medallion run` it is the bronze step's `duration_s` from `--json`. "
        "Cases ran interleaved, the order rotating each round, after one unmeasured warm-up "
        "round. Every Arrow case was checked against the server (row count, sums of "
        "total_amount and customer_id, NULL addresses and their length in characters, min and "
        "max of each timestamp column) and produced the same schema as medallion (ADBC and "
        "connectorx batches cast to it); the COPY cases' row counts and the bronze table's row "
        "count (Delta log) were checked too. medallion also runs `SELECT max(updated_at)` and "
        "filters on it (the watermark of a first, full read); the alternatives run a plain "
        "`SELECT *`.",
        results_table(results, rows),
        "Every run's wall time in order, with the CPU time other processes used meanwhile in "
        "parentheses (s): " + all_runs(results) + ".",
        "The machine is shared, so each run started once all processes together had used "
        f"under {IDLE_CORES:.0%} of a CPU for a second, and a run during which other processes "
        f"used more than {DISTURBED_S} s + {DISTURBED_SHARE:.0%} of its wall time of CPU was "
        f"measured again (at most {ATTEMPTS} times): {disturbance[0]} run(s) were measured "
        f"again, {disturbance[1]} kept although disturbed or started on a busy machine.",
    ]
    if skipped:
        parts.append("Skipped (library not importable): " + ", ".join(skipped) + ".")
    if inc is not None:
        parts.append(
            f"Incremental: after `UPDATE {TABLE} SET updated_at = now(), status = ... WHERE id % "
            f"{UPDATE_EVERY} = 0` ({inc.updated:,} rows), one `medallion run` on the last full "
            f"run's lakehouse landed {inc.rows_written:,} rows in {inc.sample.wall_s:.2f} s wall "
            f"(bronze step {inc.step_s:.2f} s, {inc.sample.rss_mb:.0f} MB peak RSS); bronze now "
            f"holds {inc.bronze_rows:,} rows (1 run, not a median; other processes, the "
            f"server included, used {inc.others_cpu_s:.2f} s CPU meanwhile)."
        )
    parts.append("Targets:\n\n" + "\n".join(targets(by_name, rows)))
    why = why_adbc(by_name, probe, sizes)
    if why:
        parts.append(why)
    return "\n\n".join(parts) + "\n"


# -- main --------------------------------------------------------------------------------------


PROJECT_YML = """\
name: pg_extract_bench
storage: ./lakehouse
state: .medallion
sources:
  orders:
    type: postgres
    dsn: {dsn}
    table: {table}
    cursor: updated_at
    primary_key: id
"""


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so the server is stopped and the temporary files removed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark extracting a PostgreSQL table to Arrow and into bronze."
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="table rows (default 1M)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (default 5)")
    parser.add_argument(
        "--cases", nargs="+", choices=CASE_NAMES, default=CASE_NAMES, help="cases to run"
    )
    parser.add_argument(
        "--wait", type=float, default=40, help="minutes to wait for other benchmarks (default 40)"
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=300,
        help="seconds each run waits at most for the machine to be idle (default 300)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help=f"replace '{SECTION}' in {DOC.name}"
    )
    parser.add_argument("--workdir", type=Path, help="where temporary files go (default: TMPDIR)")
    parser.add_argument("--child", choices=CASE_NAMES, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    if args.repeat < 1 or args.rows < UPDATE_EVERY:
        parser.error(f"--repeat must be positive and --rows at least {UPDATE_EVERY}")
    signal.signal(signal.SIGTERM, _terminate)
    command = command_line()
    chosen = [c for c in CASES if c.name in args.cases]
    cases = [c for c in chosen if available(c)]
    skipped = [f"{c.name} (`{c.module}`)" for c in chosen if not available(c)]
    compile_bytecode("medallion")

    from medallion.devservers.pgserver import PgServer

    with tempfile.TemporaryDirectory(prefix="medallion-bench-pg-", dir=args.workdir) as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # run as root, the server runs as the postgres user: it must enter
        with PgServer(work / "pg", settings=SERVER_SETTINGS) as server:
            server.create_database("bench")
            dsn = server.dsn("bench")
            print(f"filling {TABLE} with {scale_label(args.rows)} rows ...", flush=True)
            table = create_table(server, args.rows)
            print(
                f"  {table.total_bytes / 1e6:.0f} MB in {table.fill_s:.0f} s; PostgreSQL "
                f"{table.server_version}",
                flush=True,
            )
            project = work / "project"
            project.mkdir()
            (project / "medallion.yml").write_text(
                PROJECT_YML.format(dsn=dsn, table=TABLE), encoding="utf-8"
            )
            assert server.bin_dir is not None
            psql = server.bin_dir / "psql"
            b = Bench(
                server, dsn, table, project, str(psql if psql.exists() else "psql"), args.idle
            )
            note = wait_for_quiet(args.wait)
            load_before = os.getloadavg()[0]
            results = bench(b, cases, args.repeat)
            load_after = os.getloadavg()[0]
            inc = incremental(b) if any(c.name == "bronze" for c in cases) else None
            probe = probe_errors(dsn, cases)
    sizes = {
        "psycopg + psycopg-binary": installed_mb("psycopg", "psycopg-binary"),
        "adbc-driver-postgresql + adbc-driver-manager": installed_mb(
            "adbc-driver-postgresql", "adbc-driver-manager"
        ),
        "connectorx": installed_mb("connectorx"),
    }
    text = report(
        table,
        results,
        skipped,
        inc,
        probe,
        sizes,
        args.repeat,
        command,
        (load_before, load_after),
        note,
        (b.repeated, b.unquiet),
    )
    publish(text, SECTION, args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
