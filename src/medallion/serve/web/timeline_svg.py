"""A run's steps as a server-rendered SVG Gantt chart.

Input is `Project.steps(run_id)`: one dict per step with its start (ISO text), duration, status
and rows. Each step is a row: a bar from its start for its duration on a time axis shared by the
run, coloured by status and labelled in words (a colour is never the only sign), with a tooltip
(`<title>`) holding its rows read / written / dropped / quarantined, Delta version, attempts and
error. A skipped step ran for no time: it is a marker, with why it was skipped. A step still
running (or cut off: aborted, interrupted) without a duration reaches to `now`, or to the end of
the latest step when no `now` is given, and is drawn open-ended.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from medallion.serve.web.svg import (
    FONT,
    SVG_NS,
    esc,
    fit,
    num,
    shorten,
    text_width,
    thousands,
)

#: bar colour per status; an unknown status is drawn grey-blue
STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#8d8d8d",
    "interrupted": "#e07b00",
    "aborted": "#7b1fa2",
    "running": "#1565c0",
}
OTHER_COLOUR = "#546e7a"
#: statuses whose step may have no end yet
OPEN = {"running", "aborted", "interrupted"}
#: a MedallionError's location prefix: `path/to/file.ext:line[:col]: `
_LOCATION = re.compile(r"^\S+\.[A-Za-z]{1,5}(?::\d+){0,2}: ")

ROW_H = 22.0
BAR_H = 14.0
MARGIN = 14.0
HEADER_H = 46.0  # the run's start and length, the legend, then the axis labels
FONT_SIZE = 11.0
NOTE_W = 260.0  # room right of the plot for the last bars' notes

#: tick steps in seconds: 1-2-5 below a minute, then clock-friendly steps
_STEPS = [m * 10.0**k for k in range(-3, 2) for m in (1, 2, 5)] + [
    60.0 * m for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
]


def timeline_svg(
    steps: Sequence[Mapping[str, Any]],
    *,
    now: datetime | str | None = None,
    width: float = 640.0,
    link: Callable[[str], str] | None = None,
) -> str:
    """The run's steps (`Project.steps(run_id)`) as an SVG document. `width` is the time axis'
    width in pixels; `link(table)` (`layer.table`) gives each row label's href; `now` ends the
    bars of steps still running."""
    rows = [_row(s) for s in steps]
    starts = [r["start"] for r in rows if r["start"] is not None]
    t0 = min(starts) if starts else None
    now_dt = _when(now)
    latest = 0.0
    for r in rows:
        if r["start"] is None or t0 is None:
            r["s"] = None
            continue
        r["s"] = (r["start"] - t0).total_seconds()
        if r["duration"] is not None:
            r["e"] = r["s"] + max(0.0, r["duration"])
            latest = max(latest, r["e"])
        latest = max(latest, r["s"])
    end_now = (now_dt - t0).total_seconds() if now_dt is not None and t0 is not None else None
    previous = 0.0
    for r in rows:
        if r["s"] is None:  # never started: placed where the step before it ended
            r["s"] = previous
        if r.get("e") is None:
            r["open"] = r["status"] in OPEN
            r["e"] = max(r["s"], end_now if end_now is not None and r["open"] else latest)
        previous = r["e"]
    span = max([latest, end_now or 0.0] + [r["e"] for r in rows]) or 1.0
    tick = next((s for s in _STEPS if span / s <= 8), _STEPS[-1])
    span = max(span, tick * math.ceil(span / tick - 1e-9))

    labels = [f"{r['layer']}.{r['table']}" if r["layer"] else r["table"] for r in rows]
    label_w = min(
        max([text_width(x, FONT_SIZE) for x in labels] + [text_width("step", FONT_SIZE)]) + 34,
        320.0,
    )
    plot_x = MARGIN + label_w
    total_w = plot_x + width + NOTE_W
    top = MARGIN + HEADER_H
    height = top + max(len(rows), 1) * ROW_H + MARGIN

    def x_of(seconds: float) -> float:
        return plot_x + width * seconds / span

    failed = sum(1 for r in rows if r["status"] == "failed")
    title = f"Run timeline: {len(rows)} steps" + (f", {failed} failed" if failed else "")
    out = [
        f'<svg xmlns="{SVG_NS}" class="medallion-timeline" width="{num(total_w)}" '
        f'height="{num(height)}" viewBox="0 0 {num(total_w)} {num(height)}" '
        f'aria-label="{esc(title)}" font-family="{esc(FONT)}" font-size="{num(FONT_SIZE)}">',
        f"<title>{esc(title)}</title>",
        "<style>.medallion-timeline g.step:hover .band{fill:#e3ecf7}"
        ".medallion-timeline a text{fill:#1f4e9a}"
        ".medallion-timeline a:hover text{text-decoration:underline}</style>",
    ]
    header = "no steps"
    if t0 is not None:
        header = f"started {t0.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"
        header += f" \N{MIDDLE DOT} {_duration(max(latest, end_now or 0.0))}"
    out.append(
        f'<text x="{num(MARGIN)}" y="{num(MARGIN + 10)}" fill="#333" font-weight="600">'
        f"{esc(header)}</text>"
    )
    legend_x = max(plot_x, MARGIN + text_width(header, FONT_SIZE, bold=True) + 24)
    out.append(_legend([r["status"] for r in rows], legend_x, MARGIN + 10))

    # axis: a tick line and label per step along the top, light lines down the rows
    axis = ['<g class="axis" fill="#555" stroke="#e2e2e2">']
    n_ticks = round(span / tick)
    for i in range(n_ticks + 1):
        x = x_of(i * tick)
        axis.append(
            f'<line x1="{num(x)}" y1="{num(top - 4)}" x2="{num(x)}" y2="{num(height - MARGIN)}"/>'
            f'<text x="{num(x)}" y="{num(top - 8)}" text-anchor="middle" stroke="none">'
            f"{esc(_tick_label(i * tick, tick))}</text>"
        )
    axis.append("</g>")
    out.append("".join(axis))

    out.append('<g class="steps">')
    for i, (r, label) in enumerate(zip(rows, labels, strict=True)):
        out.append(_step(r, label, i, top, plot_x, label_w, total_w, x_of, link))
    out.append("</g></svg>")
    return "\n".join(out)


def _row(step: Mapping[str, Any]) -> dict[str, Any]:
    duration = step.get("duration_s")
    return {
        "no": step.get("step_no"),
        "kind": str(step.get("step") or ""),
        "layer": str(step.get("layer") or ""),
        "table": str(step.get("table_name") or ""),
        "status": str(step.get("status") or "unknown"),
        "start": _when(step.get("started_at")),
        "duration": float(duration) if isinstance(duration, int | float) else None,
        "step": step,
    }


def _when(value: datetime | str | None) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _tick_label(seconds: float, step: float) -> str:
    if step < 1:
        decimals = max(0, -math.floor(math.log10(step * 1000) + 1e-9))
        return f"{seconds * 1000:.{decimals}f} ms"
    if step < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds) // 60
    if step < 3600:
        return f"{minutes} min"
    return f"{minutes // 60}:{minutes % 60:02d} h"


def _legend(statuses: list[str], x: float, y: float) -> str:
    seen = [s for s in STATUS_COLOURS if s in statuses]
    seen += sorted({s for s in statuses if s not in STATUS_COLOURS})
    parts = ['<g class="legend" fill="#333">']
    for status in seen:
        colour = STATUS_COLOURS.get(status, OTHER_COLOUR)
        if status == "skipped":  # drawn as the rows draw it: a marker, not a bar
            parts.append(
                f'<path d="M{num(x + 6)},{num(y - 10)}l5,5l-5,5l-5,-5z" fill="#fff" '
                f'stroke="{colour}" stroke-width="1.6"/>'
            )
        else:
            parts.append(
                f'<rect x="{num(x)}" y="{num(y - 9)}" width="12" height="10" rx="2" '
                f'fill="{colour}"/>'
            )
        parts.append(f'<text x="{num(x + 16)}" y="{num(y)}">{esc(status)}</text>')
        x += 30 + text_width(status, FONT_SIZE)
    parts.append("</g>")
    return "".join(parts)


def _tooltip(r: dict[str, Any], label: str) -> str:
    step = r["step"]
    lines = [f"{r['no']}. {label} \N{EM DASH} {r['kind'] or 'step'}, {r['status']}"]
    if r["start"] is not None:
        when = r["start"].astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
        took = _duration(r["duration"]) if r["duration"] is not None else "no end recorded"
        lines.append(f"started {when} UTC, {took}")
    counts = [
        (name, step.get(f"rows_{name}"))
        for name in ("read", "written", "dropped", "quarantined")
        if step.get(f"rows_{name}") is not None
    ]
    if counts:
        lines.append("rows: " + ", ".join(f"{n} {thousands(v)}" for n, v in counts))
    if step.get("delta_version") is not None:
        lines.append(f"Delta version {step['delta_version']}")
    attempts = step.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        lines.append(f"{attempts} attempts")
    if step.get("error"):
        what = "why" if r["status"] == "skipped" else "error"
        lines.append(f"{what}: {shorten(str(step['error']), 2000)}")
    return "\n".join(lines)


def _note(r: dict[str, Any]) -> str:
    """The words beside a bar: how long, rows written, and what went wrong."""
    step = r["step"]
    status = r["status"]
    if status == "skipped":
        return "skipped" + (f": {_first_line(step['error'])}" if step.get("error") else "")
    parts = []
    if r["duration"] is not None:
        parts.append(_duration(r["duration"]))
    if status != "success":
        parts.append(status)
    if isinstance(step.get("rows_written"), int):
        parts.append(f"{thousands(step['rows_written'])} rows")
    attempts = step.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        parts.append(f"{attempts} attempts")
    text = " \N{MIDDLE DOT} ".join(parts)
    if status == "failed" and step.get("error"):
        text += f": {_first_line(step['error'])}"
    return text


def _first_line(error: object) -> str:
    """An error's message on one line, without its hint (`message\n  hint: ...`) or a leading
    file location (`models/silver/x.sql:4: `): the row already names the model; the tooltip
    has both."""
    text = " ".join(str(error).split("\n  hint:", 1)[0].split())
    return _LOCATION.sub("", text, count=1)


def _step(
    r: dict[str, Any],
    label: str,
    i: int,
    top: float,
    plot_x: float,
    label_w: float,
    total_w: float,
    x_of: Callable[[float], float],
    link: Callable[[str], str] | None,
) -> str:
    y = top + i * ROW_H
    mid = y + ROW_H / 2
    status = r["status"]
    colour = STATUS_COLOURS.get(status, OTHER_COLOUR)
    band = "#f6f7f9" if i % 2 else "#ffffff"
    parts = [
        f'<g class="step" data-step="{esc(r["no"])}" data-status="{esc(status)}">',
        f"<title>{esc(_tooltip(r, label))}</title>",
        f'<rect class="band" x="{num(MARGIN)}" y="{num(y)}" width="{num(total_w - 2 * MARGIN)}" '
        f'height="{num(ROW_H)}" fill="{band}"/>',
        f'<text x="{num(MARGIN + 4)}" y="{num(mid + 4)}" fill="#777">{esc(r["no"])}</text>',
    ]
    name = esc(shorten(label, 44))
    text = f'<text x="{num(MARGIN + 28)}" y="{num(mid + 4)}" fill="#1d1d1d">{name}</text>'
    if link is not None and r["layer"]:
        text = f'<a href="{esc(link(label))}">{text}</a>'
    parts.append(text)
    x0 = x_of(r["s"])
    if status == "skipped":
        d = 5.0
        parts.append(
            f'<path class="marker" d="M{num(x0)},{num(mid - d)}l{num(d)},{num(d)}'
            f'l{num(-d)},{num(d)}l{num(-d)},{num(-d)}z" fill="#fff" stroke="{colour}" '
            f'stroke-width="1.6"/>'
        )
        end = x0 + d
    else:
        w = max(x_of(r["e"]) - x0, 2.0)  # a step of a few ms is still visible
        parts.append(
            f'<rect class="bar" x="{num(x0)}" y="{num(mid - BAR_H / 2)}" width="{num(w)}" '
            f'height="{num(BAR_H)}" rx="2" fill="{colour}"/>'
        )
        if r.get("open"):  # no end recorded: a fading edge says the bar is not closed
            parts.append(
                f'<path d="M{num(x0 + w)},{num(mid - BAR_H / 2)}l6,{num(BAR_H / 2)}'
                f'l-6,{num(BAR_H / 2)}z" fill="{colour}" opacity="0.5"/>'
            )
        end = x0 + w + (6 if r.get("open") else 0)
    note = _note(r)
    # beside the bar on the right; on its left when only that side has room (the last steps
    # of a run end near the right edge); cut to what fits, the tooltip has it all
    right = total_w - MARGIN - (end + 5)
    left = x0 - 5 - (plot_x + 2)
    if note and text_width(note, FONT_SIZE) > right and left > right:
        at, anchor, room = x0 - 5, "end", left
    else:
        at, anchor, room = end + 5, "start", right
    if note and room > 40:
        fill = "#b71c1c" if status == "failed" else "#444"
        parts.append(
            f'<text class="note" x="{num(at)}" y="{num(mid + 4)}" text-anchor="{anchor}" '
            f'fill="{fill}">{esc(fit(note, FONT_SIZE, room))}</text>'
        )
    parts.append("</g>")
    return "".join(parts)
