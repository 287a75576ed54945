"""`plan`'s count of the rows a rewrite really added or changed (storage.changes.changed_rows):
read from the files the rewrite touched, and only when they are small enough to compare whole
in memory — their rows and uncompressed bytes are taken from the Parquet footers first, so a
large rewrite is not read at all."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from medallion.storage import changes

ROWS = 5_000


def rewritten_with_one_more_row(path: Path) -> changes.Changes:
    rows = pa.table({"id": pa.array(range(ROWS)), "s": [f"customer-{i}" for i in range(ROWS)]})
    write_deltalake(str(path), rows)
    write_deltalake(str(path), pa.concat_tables([rows, rows.slice(0, 1)]), mode="overwrite")
    return changes.changes(path, 0, 1)


def test_a_rewrite_counts_the_rows_it_added_not_those_it_copied(tmp_path: Path) -> None:
    c = rewritten_with_one_more_row(tmp_path / "t")
    assert c.removed and c.added

    assert changes.changed_rows(tmp_path / "t", c) == 1
    assert changes.changed_rows(tmp_path / "t", c, read_files=False) is None


def test_a_rewrite_larger_than_the_limits_is_not_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too many rows, or too many bytes (wide rows) under the row limit: not known (None),
    rather than read whole."""
    c = rewritten_with_one_more_row(tmp_path / "t")

    monkeypatch.setattr(changes, "COUNT_LIMIT", 2 * ROWS)  # both sides hold 2 * ROWS + 1
    assert changes.changed_rows(tmp_path / "t", c) is None
    monkeypatch.setattr(changes, "COUNT_LIMIT", 10 * ROWS)
    assert changes.changed_rows(tmp_path / "t", c) == 1
    monkeypatch.setattr(changes, "COUNT_BYTES", 1_000)
    assert changes.changed_rows(tmp_path / "t", c) is None
