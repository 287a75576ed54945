"""A template's generator runs in bounded memory: its peak does not grow with ``--rows``.

Each generator runs in a fresh interpreter at two scales ten times apart, as
``python -m medallion.templates.<name>.generate --rows N --out DIR`` would (the oltp template's,
which fills a PostgreSQL database, through ``generate()`` into a fresh database of a real
server), and reports its own
peak resident memory (VmHWM, /proc/self/status) when it is done. The high-water mark of the
process itself, not ``ru_maxrss`` from wait4: Linux carries the parent's high-water mark into a
forked child across exec, so a test process holding a few hundred MB would hide the child's.

The larger scale may use a little more (a catalogue or a Faker pool that grows up to a cap,
bigger write buffers) but no more than MARGIN_MB: a generator holding its rows, or a per-row
table, until the end grows by hundreds of MB between the two scales (the ecommerce-events
generator held 150 MB at 50k events and 620 MB at 500k before it streamed an hour at a time).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SMALL, LARGE = 50_000, 500_000
MARGIN_MB = 60.0

#: the child: run the generator's command line (or, without one, its generate() with the
#: database OLTP_SOURCE_DSN names), then print its own peak resident memory
CHILD = """
import importlib, pathlib, sys
module, rows, out = sys.argv[1:]
template = importlib.import_module(module)
if hasattr(template, "main"):
    code = template.main(["--rows", rows, "--out", out, "--seed", "7"])
else:
    template.generate(pathlib.Path(out), rows=int(rows), seed=7)
    code = 0
with open("/proc/self/status", encoding="ascii") as fh:
    hwm = next(line for line in fh if line.startswith("VmHWM:"))
print("PEAK_KB", hwm.split()[1])
raise SystemExit(code)
"""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)"
)


def _peak_mb(template: str, rows: int, out: Path, env: dict[str, str] | None = None) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, f"medallion.templates.{template}.generate", str(rows), out],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PEAK_KB "))
    return int(line.split()[1]) / 1024


@pytest.mark.parametrize(
    "template", ["ecommerce_events", "customer_insights", "product_platform", "retail"]
)
def test_generator_peak_memory_does_not_grow_with_rows(template: str, tmp_path: Path) -> None:
    small = _peak_mb(template, SMALL, tmp_path / "small")
    large = _peak_mb(template, LARGE, tmp_path / "large")
    # the files were written: the generator did the work at both scales
    assert any((tmp_path / "small").rglob("*.*")) and any((tmp_path / "large").rglob("*.*"))
    assert large <= small + MARGIN_MB, (
        f"{template}: peak RSS {small:.0f} MB at {SMALL:,} rows, {large:.0f} MB at {LARGE:,}"
    )


def test_oltp_generator_peak_memory_does_not_grow_with_rows(pg_db: str, tmp_path: Path) -> None:
    """Smaller scales (Faker makes every customer: 500k order items take a minute) and a
    smaller margin: buffering the tables' COPY text until the end grew by 53 MB from 20k to
    200k order items; chunks of COPY_CHUNK rows by about 10 MB."""
    small_rows, large_rows, margin = 20_000, 200_000, 30.0
    env = {**os.environ, "OLTP_SOURCE_DSN": pg_db}
    small = _peak_mb("oltp", small_rows, tmp_path, env)
    large = _peak_mb("oltp", large_rows, tmp_path, env)
    import psycopg

    with psycopg.connect(pg_db) as conn:
        (items,) = conn.execute("SELECT count(*) FROM order_items").fetchone()  # type: ignore[misc]
    assert items == large_rows  # the larger scale is what the database holds
    assert large <= small + margin, (
        f"oltp: peak RSS {small:.0f} MB at {small_rows:,} rows, {large:.0f} MB at {large_rows:,}"
    )
