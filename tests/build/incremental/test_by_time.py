"""incremental_by_time: only the periods new rows touch (plus `lookback`) are recomputed.

Tables are partitioned by their time column, so "a period not touched keeps its old file" is
checked on the Delta add actions: the data file of an untouched period has the same path after
the incremental run, and the commit removed and added only the touched periods' files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pytest

from medallion.project import Project
from medallion.storage import tables

CONFIG = """
name: periods
sources:
  sales:
    path: data/sales*.csv
    columns: {id: INTEGER, day: DATE, amount: INTEGER, status: VARCHAR}
"""
SALES1 = (
    "id,day,amount,status\n"
    "1,2024-01-01,10,new\n"
    "2,2024-01-01,5,new\n"
    "3,2024-01-02,20,new\n"
    "4,2024-01-03,30,new\n"
)


def daily(lookback: int = 0, source: str = "bronze.sales", extra: str = "") -> str:
    return (
        f"/* ---\nkind: incremental_by_time\ntime_column: day\nlookback: {lookback}\n"
        f"partition_by: [day]\n{extra}--- */\n"
        f"select day, sum(amount) as total, count(*) as n from {source} group by day\n"
    )


def files(project: Project, table: str, column: str) -> dict[str, list[str]]:
    """Partition value -> data file paths of the table's current version."""
    actions = pa.table(tables.open_table(project.catalog.path(table)).get_add_actions(flatten=True))
    out: dict[str, list[str]] = {}
    for path, value in zip(
        actions.column("path").to_pylist(),
        actions.column(f"partition.{column}").to_pylist(),
        strict=True,
    ):
        out.setdefault(str(value), []).append(path)
    return {k: sorted(v) for k, v in out.items()}


def rows(project: Project, sql: str) -> list[dict[str, Any]]:
    return project.query(sql).to_pylist()


def test_only_the_touched_day_is_rewritten(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG, {"gold/daily.sql": daily()}, {"data/sales1.csv": SALES1})
    assert project.run(trigger="test").ok
    before = files(project, "gold.daily", "day")
    assert sorted(before) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    (project.root / "data/sales2.csv").write_text("id,day,amount,status\n5,2024-01-03,7,new\n")

    result = project.run(trigger="test")

    assert result.ok, result.error
    step = result.step("gold.daily")
    assert step.details["periods"] == ["2024-01-03"]
    assert rows(project, "select * from gold.daily order by day") == [
        {"day": date(2024, 1, 1), "total": 15, "n": 2},
        {"day": date(2024, 1, 2), "total": 20, "n": 1},
        {"day": date(2024, 1, 3), "total": 37, "n": 2},
    ]
    after = files(project, "gold.daily", "day")
    assert after["2024-01-01"] == before["2024-01-01"]
    assert after["2024-01-02"] == before["2024-01-02"]
    assert after["2024-01-03"] != before["2024-01-03"]
    _, history = project.table_history("gold.daily")
    assert (history[0]["files_removed"], history[0]["files_added"]) == (1, 1)
    assert history[0]["rows_added"] == 1
    assert project.verify().ok


def test_lookback_recomputes_the_previous_day_too(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG, {"gold/daily.sql": daily(lookback=1)}, {"data/sales1.csv": SALES1}
    )
    assert project.run(trigger="test").ok
    before = files(project, "gold.daily", "day")
    (project.root / "data/sales2.csv").write_text("id,day,amount,status\n5,2024-01-03,7,new\n")

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert result.step("gold.daily").details["periods"] == ["2024-01-02", "2024-01-03"]
    after = files(project, "gold.daily", "day")
    assert after["2024-01-01"] == before["2024-01-01"]
    assert after["2024-01-02"] != before["2024-01-02"]
    assert after["2024-01-03"] != before["2024-01-03"]
    _, history = project.table_history("gold.daily")
    assert (history[0]["files_removed"], history[0]["files_added"]) == (2, 2)
    assert rows(project, "select day, total from gold.daily order by day") == [
        {"day": date(2024, 1, 1), "total": 15},
        {"day": date(2024, 1, 2), "total": 20},
        {"day": date(2024, 1, 3), "total": 37},
    ]


MERGE = """\
/* ---
kind: merge
unique_key: id
delete_when: status = 'deleted'
--- */
select id, day, amount, status, _ingested_at from bronze.sales
"""


def test_rows_deleted_or_moved_by_an_upstream_merge_leave_their_period(
    make_project: Callable[..., Project], versions: Callable[[Project], dict[str, int]]
) -> None:
    project = make_project(
        CONFIG,
        {
            "silver/s.sql": MERGE,
            "gold/daily.sql": daily(source="silver.s", extra="incremental_inputs: [silver.s]\n"),
        },
        {"data/sales1.csv": SALES1},
    )
    assert project.run(trigger="test").ok
    # order 3 (the only one of Jan 2) is deleted; order 4 moves from Jan 3 to Jan 4
    (project.root / "data/sales2.csv").write_text(
        "id,day,amount,status\n3,2024-01-02,0,deleted\n4,2024-01-04,30,new\n"
    )

    result = project.run(trigger="test")

    assert result.ok, result.error
    assert rows(project, "select * from gold.daily order by day") == [
        {"day": date(2024, 1, 1), "total": 15, "n": 2},
        {"day": date(2024, 1, 4), "total": 30, "n": 1},
    ]
    assert sorted(files(project, "gold.daily", "day")) == ["2024-01-01", "2024-01-04"]
    before = versions(project)
    again = project.run(trigger="test")
    assert again.ok, again.error
    assert again.step("gold.daily").note == "no new data upstream"
    assert versions(project) == before
    assert project.verify().ok


MONTHLY = """\
/* ---
kind: incremental_by_time
time_column: month
grain: month
lookback: 1
partition_by: [month]
--- */
select cast(date_trunc('month', day) as date) as month, sum(amount) as total
from bronze.sales
group by 1
"""


def test_month_grain_with_lookback(make_project: Callable[..., Project]) -> None:
    project = make_project(
        CONFIG,
        {"gold/monthly.sql": MONTHLY},
        {
            "data/sales1.csv": "id,day,amount,status\n"
            "1,2023-12-15,5,new\n"
            "2,2024-01-05,10,new\n"
            "3,2024-01-20,20,new\n"
            "4,2024-02-10,40,new\n"
            "5,2024-03-01,7,new\n"
        },
    )
    assert project.run(trigger="test").ok
    v1 = files(project, "gold.monthly", "month")
    assert sorted(v1) == ["2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01"]

    # a March row: March and (lookback) February are recomputed
    (project.root / "data/sales2.csv").write_text("id,day,amount,status\n6,2024-03-31,3,new\n")
    result = project.run(trigger="test")
    assert result.ok, result.error
    assert result.step("gold.monthly").details["periods"] == ["2024-02-01", "2024-03-01"]
    v2 = files(project, "gold.monthly", "month")
    assert v2["2023-12-01"] == v1["2023-12-01"]
    assert v2["2024-01-01"] == v1["2024-01-01"]
    assert v2["2024-03-01"] != v1["2024-03-01"]

    # a January row: lookback crosses the year into December 2023
    (project.root / "data/sales3.csv").write_text("id,day,amount,status\n7,2024-01-01,1,new\n")
    result = project.run(trigger="test")
    assert result.ok, result.error
    assert result.step("gold.monthly").details["periods"] == ["2023-12-01", "2024-01-01"]
    v3 = files(project, "gold.monthly", "month")
    assert v3["2024-02-01"] == v2["2024-02-01"]
    assert v3["2024-03-01"] == v2["2024-03-01"]
    assert rows(project, "select * from gold.monthly order by month") == [
        {"month": date(2023, 12, 1), "total": 5},
        {"month": date(2024, 1, 1), "total": 31},
        {"month": date(2024, 2, 1), "total": 40},
        {"month": date(2024, 3, 1), "total": 10},
    ]
    assert project.verify().ok


EVENTS_CONFIG = """
name: events
sources:
  events:
    path: data/events*.csv
    columns: {id: INTEGER, ts: TIMESTAMP, amount: INTEGER}
"""


@pytest.mark.parametrize("partition", ["", "partition_by: [hour]\n"], ids=["plain", "partitioned"])
def test_hour_grain_on_a_timestamp_column(
    make_project: Callable[..., Project], partition: str
) -> None:
    """time_column may be a TIMESTAMP truncated to the grain (ModelConfig.time_column)."""
    model = (
        f"/* ---\nkind: incremental_by_time\ntime_column: hour\ngrain: hour\n{partition}--- */\n"
        "select date_trunc('hour', ts) as hour, sum(amount) as total from bronze.events "
        "group by 1\n"
    )
    project = make_project(
        EVENTS_CONFIG,
        {"gold/hourly.sql": model},
        {
            "data/events1.csv": "id,ts,amount\n"
            "1,2024-01-01 10:15:00,1\n"
            "2,2024-01-01 10:45:00,2\n"
            "3,2024-01-01 11:30:00,4\n"
        },
    )
    first = project.run(trigger="test")
    assert first.ok, first.error
    assert rows(project, "select * from gold.hourly order by hour") == [
        {"hour": datetime(2024, 1, 1, 10), "total": 3},
        {"hour": datetime(2024, 1, 1, 11), "total": 4},
    ]
    (project.root / "data/events2.csv").write_text("id,ts,amount\n4,2024-01-01 11:59:00,8\n")

    result = project.run(trigger="test")

    assert result.ok, result.step("gold.hourly").error
    assert result.step("gold.hourly").details["periods"] == ["2024-01-01 11:00:00"]
    assert rows(project, "select * from gold.hourly order by hour") == [
        {"hour": datetime(2024, 1, 1, 10), "total": 3},
        {"hour": datetime(2024, 1, 1, 11), "total": 12},
    ]
