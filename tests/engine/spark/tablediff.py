"""Tables of two lakehouses compared row for row: a digest per table of its rows' non-audit
columns (an order-independent hash of the rows), for the DuckDB-vs-Spark diff tests."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

#: columns that differ between two runs of the same data: when and by which run a row was
#: written, the ids quarantine rows get
AUDIT = {"_ingested_at", "_run_id", "_quarantined_at", "_quarantine_id"}


#: (start, end) of each run of a project: a time inside one is the time of that run
Windows = list[tuple[datetime, datetime]]


def _value(v: object, windows: Windows) -> str:
    """A value as text both engines' types agree on: decimals without trailing zeros (Spark and
    DuckDB pick other precisions), floats to 9 significant digits (summation order), a time
    taken while a run ran (an ingestion time carried into a model) as that run's number."""
    if isinstance(v, datetime) and v.tzinfo is not None:
        for i, (start, end) in enumerate(windows):
            if start <= v <= end:
                return f"run{i}"
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v else "nan"
    if isinstance(v, float):
        return f"{v:.9g}"
    if isinstance(v, dict | list):
        return repr(v)
    return "" if v is None else f"{type(v).__name__}:{v}"


def digest(path: Path, windows: Windows) -> tuple[int, str]:
    """(rows, hash of the multiset of rows) of the Delta table at `path`; `_source_file` counts
    by its file name (the two projects live in different folders)."""
    from medallion.storage.snapshot import snapshot

    table = snapshot(path).to_table()
    names = sorted(n for n in table.column_names if n not in AUDIT)
    rows: Counter[str] = Counter()
    columns = {n: table.column(n).to_pylist() for n in names}
    for i in range(table.num_rows):
        parts = []
        for n in names:
            v = columns[n][i]
            if n == "_source_file" and isinstance(v, str):
                v = Path(v).name
            parts.append(f"{n}={_value(v, windows)}")
        rows[hashlib.sha256("\x1f".join(parts).encode()).hexdigest()] += 1
    whole = hashlib.sha256(repr(sorted(rows.items())).encode()).hexdigest()[:16]
    return table.num_rows, whole


def table_digests(storage: Path, windows: Windows) -> dict[str, tuple[int, str]]:
    """`layer.table` -> digest of every Delta table under a project's storage folder."""
    return {
        f"{t.parent.name}.{t.name}": digest(t, windows)
        for t in sorted(storage.glob("*/*"))
        if (t / "_delta_log").is_dir()
    }
