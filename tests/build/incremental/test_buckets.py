"""A large first build de-duplicates bucket by bucket (build/incremental/buckets.py): the table
must be exactly the one a single de-duplicating query builds, and nothing stays in tmp."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medallion.build.incremental import buckets
from medallion.project import Project

CONFIG = """
name: b
sources:
  events:
    path: data/events*.csv
    columns: {code: VARCHAR, day: DATE, seq: INTEGER, amount: INTEGER}
"""
KEYS = 40_000  # 200k+ lines: the model's rows reach the side session in several batches
DAYS = 12


def _events() -> str:
    """Key k (text code) has 1 + k % 3 copies, numbered 1.. ; copy c's amount is k * 10 + c.
    Copies of a key are far apart in the file (each copy is written in its own pass), so they
    arrive in different batches. The winner of key k (highest copy) has amount k * 10 +
    (1 + k % 3)."""
    lines = ["code,day,seq,amount"]
    for copy in (2, 1, 3):  # not in copy order: the highest copy must win, not the last read
        for k in range(KEYS):
            if copy <= 1 + k % 3:
                day = f"2024-01-{1 + k % DAYS:02d}"
                lines.append(f"EV{k:06d},{day},{copy},{k * 10 + copy}")
    return "\n".join(lines) + "\n"


def _model(kind: str, partitioned: bool) -> str:
    key = "[day, code]" if partitioned else "code"
    extra = "partition_by: [day]\n" if partitioned else ""
    if kind == "scd2":
        extra += "valid_from: day\n"
    return (
        f"/* ---\nkind: {kind}\nunique_key: {key}\norder_by: seq\n{extra}--- */\n"
        "select code, day, seq, amount from bronze.events\n"
    )


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitions", "key_hash"])
@pytest.mark.parametrize("kind", ["merge", "scd2"])
def test_bucketed_first_build_equals_the_single_query(
    make_project: Callable[..., Project],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    partitioned: bool,
) -> None:
    files = {"data/events1.csv": _events()}
    model = {"silver/e.sql": _model(kind, partitioned)}
    single = make_project(CONFIG, model, files, name="single")
    assert single.run(trigger="test").ok
    monkeypatch.setattr(buckets, "BUFFER", 0)  # every stream is cut into buckets
    bucketed = make_project(CONFIG, model, files, name="bucketed")

    result = bucketed.run(trigger="test")

    assert result.ok, result.error
    lines = sum(1 + k % 3 for k in range(KEYS))
    step = result.step("silver.e")
    assert (step.rows_in, step.rows_written, step.rows_dropped) == (lines, KEYS, lines - KEYS)
    assert step.delta_version == 0
    by_hand = sum(k * 10 + 1 + k % 3 for k in range(KEYS))  # the highest copy of every key
    totals = "select count(*) n, count(distinct code) keys, sum(amount) total from silver.e"
    assert bucketed.query(totals).to_pylist() == [{"n": KEYS, "keys": KEYS, "total": by_hand}]
    every_row = "select code, day, seq, amount from silver.e order by code"
    assert bucketed.query(every_row) == single.query(every_row)
    assert not any((bucketed.root / ".medallion" / "tmp").rglob("*.arrow"))
    assert bucketed.verify().ok
