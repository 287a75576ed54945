"""A run's step timeline on real runs: the retail template's first run (15 steps, all green) and a
small project whose model fails on its data, so that a step fails and the one after it is
skipped. Every picture is parsed as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import medallion, write_project

from medallion.project import Project
from medallion.serve.web import timeline_svg
from medallion.serve.web.timeline_svg import STATUS_COLOURS

NS = {"s": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def retail_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("retail")
    medallion("init", "shop", "-t", "retail", "--rows", "2000", cwd=root, check=True)
    project = Project.load(root / "shop")
    result = project.run()
    assert result.ok
    return project.steps(result.run_id)


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """bronze.orders ok; silver.broken fails casting '<b>&a' to an integer (an error message
    holding markup); gold.after reads it, so it is skipped; silver.fine runs."""
    root = write_project(
        tmp_path_factory.mktemp("failing") / "p",
        "name: failing\nsources:\n  orders:\n    path: data/orders.csv\n",
        {
            "silver/broken.sql": "select id, cast('<b>&' || code as int) as n from bronze.orders",
            "silver/fine.sql": "select id, code from bronze.orders",
            "gold/after.sql": "select id from silver.broken",
        },
        {"data/orders.csv": "id,code\n1,a\n2,b\n"},
    )
    project = Project.load(root)
    result = project.run()
    assert not result.ok
    return project.steps(result.run_id)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def rows_of(root: ET.Element) -> dict[int, ET.Element]:
    return {
        int(g.get("data-step", "0")): g
        for g in root.iter(f"{SVG}g")
        if (g.get("class") or "") == "step"
    }


def bar(row: ET.Element) -> tuple[float, float]:
    rect = row.find("s:rect[@class='bar']", NS)
    assert rect is not None
    return float(rect.get("x", "nan")), float(rect.get("width", "nan"))


def tooltip(row: ET.Element) -> str:
    t = row.find("s:title", NS)
    assert t is not None and t.text is not None
    return t.text


def texts(el: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in el.iter(f"{SVG}text")]


def seconds(label: str) -> float:
    """A tick label of a run of seconds: `250 ms`, `1.5 s`."""
    number, unit = label.split(" ")
    return float(number) / 1000 if unit == "ms" else float(number)


def axis_scale(root: ET.Element) -> tuple[float, float]:
    """(x of 0 s, pixels per second) from the axis' tick lines and labels."""
    axis = root.find("s:g[@class='axis']", NS)
    assert axis is not None
    ticks = [seconds(t) for t in texts(axis)]
    lines = [float(line.get("x1", "nan")) for line in axis.iter(f"{SVG}line")]
    assert ticks[0] == 0 and len(ticks) == len(lines) >= 2
    return lines[0], (lines[-1] - lines[0]) / (ticks[-1] - ticks[0])


def test_a_bar_per_step_placed_on_the_run_clock(retail_run: list[dict[str, Any]]) -> None:
    steps = retail_run
    assert len(steps) == 15
    root = parse(timeline_svg(steps, link=lambda t: f"/ui/tables/{t}"))
    rows = rows_of(root)
    assert sorted(rows) == [s["step_no"] for s in steps]
    t0 = min(datetime.fromisoformat(s["started_at"]) for s in steps)
    # the scale, read off the axis (0 at the first step's start): every bar sits where the
    # run's clock says
    x0, scale = axis_scale(root)
    for s in steps:
        row = rows[s["step_no"]]
        assert row.get("data-status") == "success"
        x, w = bar(row)
        start = (datetime.fromisoformat(s["started_at"]) - t0).total_seconds()
        assert x == pytest.approx(x0 + start * scale, abs=0.15)
        assert w == pytest.approx(max(s["duration_s"] * scale, 2.0), abs=0.15)
        rect = row.find("s:rect[@class='bar']", NS)
        assert rect is not None and rect.get("fill") == STATUS_COLOURS["success"]
        label = f"{s['layer']}.{s['table_name']}"
        link = row.find("s:a", NS)
        assert link is not None and link.get("href") == f"/ui/tables/{label}"
        assert label in texts(row)

    fact = next(s for s in steps if s["table_name"] == "fact_orders")
    tip = tooltip(rows[fact["step_no"]])
    assert tip.startswith(f"{fact['step_no']}. silver.fact_orders \N{EM DASH} model, success")
    assert (
        f"rows: read {fact['rows_read']:,}, written {fact['rows_written']:,}, "
        f"dropped {fact['rows_dropped']:,}, quarantined {fact['rows_quarantined']:,}"
    ) in tip
    assert f"Delta version {fact['delta_version']}" in tip
    assert any(f"{fact['rows_written']:,} rows" in t for t in texts(rows[fact["step_no"]]))


def test_the_time_axis_covers_the_run(retail_run: list[dict[str, Any]]) -> None:
    root = parse(timeline_svg(retail_run))
    axis = root.find("s:g[@class='axis']", NS)
    assert axis is not None
    labels = texts(axis)
    assert labels[0] in ("0 ms", "0 s")
    values = [seconds(t) for t in labels]
    assert values == sorted(values) and len(values) >= 3
    ends = [
        datetime.fromisoformat(s["started_at"]) + timedelta(seconds=s["duration_s"])
        for s in retail_run
    ]
    start = min(datetime.fromisoformat(s["started_at"]) for s in retail_run)
    assert values[-1] >= (max(ends) - start).total_seconds()
    # every bar ends inside the last tick
    lines = [float(line.get("x1", "nan")) for line in axis.iter(f"{SVG}line")]
    for row in rows_of(root).values():
        x, w = bar(row)
        assert lines[0] <= x and x + w <= lines[-1] + 0.11


def test_a_failed_and_a_skipped_step(failed_run: list[dict[str, Any]]) -> None:
    by_table = {s["table_name"]: s for s in failed_run}
    assert by_table["broken"]["status"] == "failed"
    assert by_table["after"]["status"] == "skipped"
    assert "<b>&a" in by_table["broken"]["error"]
    svg = timeline_svg(failed_run)
    root = parse(svg)
    rows = rows_of(root)
    assert "1 failed" in root.get("aria-label", "")

    broken = rows[by_table["broken"]["step_no"]]
    assert broken.get("data-status") == "failed"
    rect = broken.find("s:rect[@class='bar']", NS)
    assert rect is not None and rect.get("fill") == STATUS_COLOURS["failed"]
    note = broken.find("s:text[@class='note']", NS)
    assert note is not None and note.text is not None
    assert "failed: " in note.text and "Conversion Error" in note.text
    assert "hint" not in note.text  # the hint is in the tooltip, not beside the bar
    tip = tooltip(broken)
    assert f"error: {by_table['broken']['error']}" in tip  # the markup came back as text
    assert "<b>" not in svg  # escaped, never markup

    after = rows[by_table["after"]["step_no"]]
    assert after.get("data-status") == "skipped"
    assert after.find("s:rect[@class='bar']", NS) is None
    marker = after.find("s:path[@class='marker']", NS)
    assert marker is not None and marker.get("stroke") == STATUS_COLOURS["skipped"]
    assert "why: upstream silver.broken failed" in tooltip(after)
    assert any(t.startswith("skipped: upstream silver.broken failed") for t in texts(after))

    # a long note of a step at the run's very end goes left of it, whole
    late = [dict(s) for s in failed_run]
    ends = [
        datetime.fromisoformat(s["started_at"]) + timedelta(seconds=s["duration_s"] or 0)
        for s in late
    ]
    skipped = next(s for s in late if s["status"] == "skipped")
    skipped["started_at"] = max(ends).isoformat()
    skipped["error"] = "upstream silver.broken failed, and this reason is long enough to need room"
    row = rows_of(parse(timeline_svg(late)))[skipped["step_no"]]
    note = row.find("s:text[@class='note']", NS)
    assert note is not None and note.get("text-anchor") == "end"
    assert note.text == f"skipped: {skipped['error']}"

    legend = root.find("s:g[@class='legend']", NS)
    assert legend is not None
    assert texts(legend) == ["success", "failed", "skipped"]


def test_a_step_still_running_reaches_now(retail_run: list[dict[str, Any]]) -> None:
    """The state database while a run is under way: the step started, no duration yet."""
    steps = [dict(s) for s in retail_run[:5]]
    running = steps[-1]
    running.update(status="running", duration_s=None, rows_written=None)
    start = datetime.fromisoformat(steps[0]["started_at"])
    now = datetime.fromisoformat(running["started_at"]) + timedelta(seconds=3)
    root = parse(timeline_svg(steps, now=now))
    rows = rows_of(root)
    assert rows[running["step_no"]].get("data-status") == "running"
    x0, px_per_s = axis_scale(root)
    x, w = bar(rows[running["step_no"]])
    assert x + w == pytest.approx(x0 + (now - start).total_seconds() * px_per_s, abs=0.2)
    assert "no end recorded" in tooltip(rows[running["step_no"]])
    # without `now` it is drawn up to the latest end, still marked open
    root = parse(timeline_svg(steps))
    assert rows_of(root)[running["step_no"]].find("s:path", NS) is not None


def test_odd_text_and_no_steps(failed_run: list[dict[str, Any]]) -> None:
    steps = [dict(s) for s in failed_run]
    steps[1]["error"] = "binary \x00\x1b garbage ]]> </title>"
    steps[1]["table_name"] = 'x"<y>'
    root = parse(timeline_svg(steps))
    assert "\N{REPLACEMENT CHARACTER}" in tooltip(rows_of(root)[steps[1]["step_no"]])
    empty = parse(timeline_svg([]))
    assert rows_of(empty) == {}
    assert "no steps" in texts(empty)


def test_an_aborted_run_recorded_by_the_state_database(tmp_path: Path) -> None:
    """A step left `running` by a killed process becomes `aborted` (no duration): drawn open."""
    root = write_project(
        tmp_path / "p",
        "name: p\nsources:\n  orders:\n    path: data/orders.csv\n",
        {"silver/o.sql": "select * from bronze.orders"},
        {"data/orders.csv": "id\n1\n"},
    )
    project = Project.load(root)
    steps = [dict(s) for s in project.steps(project.run().run_id)]
    steps[1].update(status="aborted", duration_s=None)
    svg_root = parse(timeline_svg(steps))
    row = rows_of(svg_root)[steps[1]["step_no"]]
    assert row.get("data-status") == "aborted"
    rect = row.find("s:rect[@class='bar']", NS)
    assert rect is not None and rect.get("fill") == STATUS_COLOURS["aborted"]
    assert row.find("s:path", NS) is not None  # the open end
    assert "aborted" in "".join(texts(row))
