"""A template's generator runs in bounded memory: its peak does not grow with ``--rows``.

Each generator runs in a fresh interpreter at two scales ten times apart, as
``python -m medallion.templates.<name>.generate --rows N --out DIR`` would, and reports its own
peak resident memory (VmHWM, /proc/self/status) when it is done. The high-water mark of the
process itself, not ``ru_maxrss`` from wait4: Linux carries the parent's high-water mark into a
forked child across exec, so a test process holding a few hundred MB would hide the child's.

The larger scale may use a little more (a catalogue or a Faker pool that grows up to a cap,
bigger write buffers) but no more than MARGIN_MB: a generator holding its rows, or a per-row
table, until the end grows by hundreds of MB between the two scales (the ecommerce-events
generator held 150 MB at 50k events and 620 MB at 500k before it streamed an hour at a time).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SMALL, LARGE = 50_000, 500_000
MARGIN_MB = 60.0

#: the child: run the generator's command line, then print its own peak resident memory
CHILD = """
import importlib, sys
module, rows, out = sys.argv[1:]
main = importlib.import_module(module).main
code = main(["--rows", rows, "--out", out, "--seed", "7"])
with open("/proc/self/status", encoding="ascii") as fh:
    hwm = next(line for line in fh if line.startswith("VmHWM:"))
print("PEAK_KB", hwm.split()[1])
raise SystemExit(code)
"""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)"
)


def _peak_mb(template: str, rows: int, out: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, f"medallion.templates.{template}.generate", str(rows), out],
        capture_output=True,
        text=True,
        timeout=300,
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
