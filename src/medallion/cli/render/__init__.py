"""Everything the CLI prints: aligned tables, run progress, errors, JSON.

rich decides colours: on a terminal they are on, piped output is plain (and NO_COLOR is honoured).
Data goes to stdout, progress and errors to stderr, so `medallion query ... > out.csv` is clean.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console

    from medallion.errors import MedallionError
    from medallion.project import Project, TableRow
    from medallion.state.records import RunResult
    from medallion.templates import Template

_out: Console | None = None
_err: Console | None = None


def out() -> Console:
    global _out
    if _out is None:
        from rich.console import Console

        # Piped output is never cut to 80 columns: scripts and files get whole rows.
        width = None if sys.stdout.isatty() else 100_000
        # emoji=False: a value such as 'a:x:b' is data, not an emoji code
        _out = Console(highlight=False, soft_wrap=False, width=width, emoji=False)
    return _out


def err() -> Console:
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(
            stderr=True,
            highlight=False,
            emoji=False,
            width=None if sys.stderr.isatty() else 100_000,
        )
    return _err


def _table(*columns: str, right: tuple[str, ...] = (), title: str | None = None):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for c in columns:
        wrap = c in ("error", "description")
        t.add_column(c, justify="right" if c in right else "left", no_wrap=not wrap)
    return t


# -- formatting helpers ---------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_json_default, indent=2) + "\n")


def _num(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _secs(s: float | None) -> str:
    if s is None:
        return ""
    if s < 60:
        return f"{s:.2f}s"
    return f"{int(s // 60)}m{s % 60:04.1f}s"


def _when(value: str | datetime | None) -> str:
    """Local time for people; state stores UTC ISO strings."""
    if value is None:
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _status(status: str) -> str:
    colour = {
        "success": "green",
        "failed": "red",
        "skipped": "yellow",
        "running": "cyan",
        "aborted": "red",
    }.get(status, "white")
    return f"[{colour}]{status}[/]"


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


# -- errors ---------------------------------------------------------------------------------------


def error(e: MedallionError) -> None:
    loc = e.location
    console = err()
    # messages quote user text (SQL, values, paths) that may hold [...]: never markup
    text = f"{loc + ': ' if loc else ''}{e.message}"
    console.print(f"[bold red]error:[/] {_escape(text)}")
    if e.hint:
        console.print(f"  [dim]hint:[/] {_escape(e.hint)}")


# -- templates / init -----------------------------------------------------------------------------


def templates(items: dict[str, Template]) -> None:
    t = _table("template", "rows unit", "description")
    for tpl in items.values():
        t.add_row(f"[bold]{tpl.name}[/]", tpl.rows_unit, tpl.description)
    out().print(t)
    out().print("create one with: medallion init DIR --template NAME")


def initialized(dest: Path, tpl: Template, counts: dict[str, int], next_steps: bool = True) -> None:
    console = err()
    console.print(f"[green]created[/] {tpl.name} project in [bold]{_rel(dest)}[/]")
    if counts:
        total = sum(counts.values())
        if tpl.data_location:
            where = f"{len(counts)} tables, {total:,} rows in {tpl.data_location}"
        else:
            where = f"{len(counts)} files, {total:,} rows in {_rel(dest / 'data')}"
        console.print(f"  sample data: {where}")
    if next_steps:
        console.print(f"  next: cd {_rel(dest)} && medallion run")


def no_data_yet(dest: Path) -> None:
    err().print(f"  next: cd {_rel(dest)} && medallion generate && medallion run")


def generated(project: Project, counts: dict[str, int], day: int | None = None) -> None:
    from medallion.templates import TEMPLATES

    tpl = TEMPLATES.get(project.config.template or "")
    database = tpl is not None and tpl.data_location
    t = _table("table" if database else "file", "rows", right=("rows",))
    for name, n in counts.items():
        t.add_row(name, _num(n))
    out().print(t)
    if database:
        err().print(
            f"written to {tpl.data_location}; `medallion run` extracts the rows changed since "
            "its watermark"
        )
    elif day:
        err().print(f"day {day} drop written; `medallion run` ingests only these files")
    else:
        err().print(
            "data rewritten; `medallion run` ingests the changed files, "
            "`medallion run --full-refresh` rebuilds bronze from them alone"
        )


def validated(project: Project, bound: dict[str, str | None]) -> None:
    n_models = len(project.models)
    console = out()
    console.print(
        f"[green]ok[/] {_escape(project.config.name)}: {len(project.config.sources)} sources, "
        f"{n_models} models, no problems found"
    )
    skipped = {m: why for m, why in bound.items() if why is not None}
    if not bound:
        return
    console.print(
        f"  SQL bound against the lakehouse: {len(bound) - len(skipped)} of {len(bound)} models"
    )
    by_reason: dict[str, list[str]] = {}
    for model, why in skipped.items():
        by_reason.setdefault(why, []).append(model)
    for why, models in by_reason.items():
        console.print(f"  [dim]not bound ({_escape(why)}): {', '.join(models)}[/]")
    if skipped:
        console.print("  [dim]they are bound once their inputs are built (medallion run)[/]")


# -- runs -----------------------------------------------------------------------------------------


def run_result_dict(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "duration_s": round(result.duration_s, 3),
        "error": result.error,
        "steps": [
            {**asdict(s), "layer": s.layer, "table": s.table, "duration_s": round(s.duration_s, 3)}
            for s in result.steps
        ],
    }


def _steps_table(steps: list[dict[str, Any]]):
    t = _table(
        "#",
        "step",
        "table",
        "status",
        "read",
        "written",
        "quarantined",
        "version",
        "time",
        right=("#", "read", "written", "quarantined", "version", "time"),
    )
    for s in steps:
        t.add_row(
            str(s["step_no"]),
            s["step"],
            f"{s['layer']}.{s['table_name']}",
            _status(s["status"]),
            _num(s.get("rows_read")),
            _num(s.get("rows_written")),
            _num(s.get("rows_quarantined")),
            "" if s.get("delta_version") is None else f"v{s['delta_version']}",
            _secs(s.get("duration_s")),
        )
    return t


def status(
    project: Project,
    run: dict[str, Any] | None,
    steps: list[dict[str, Any]],
    checks: list[dict[str, Any]] | None = None,
    checkpoints: list[dict[str, Any]] | None = None,
) -> None:
    console = out()
    if run is None:
        console.print(f"{project.config.name}: no runs yet — try `medallion run`")
        return
    duration = ""
    if run.get("ended_at"):
        d = datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])
        duration = f" in {_secs(d.total_seconds())}"
    console.print(
        f"[bold]{project.config.name}[/] · last run [bold]{run['run_id']}[/] "
        f"{_status(run['status'])}{duration} · started {_when(run['started_at'])} · "
        f"{run['trigger']}"
    )
    if run.get("command"):
        console.print(f"  [dim]{run['command']}[/]")
    console.print(_steps_table(steps))
    if checks:
        console.print(_checks_table(checks))
    if checkpoints:
        console.print(_checkpoints_table(checkpoints))
    for s in steps:
        if s["status"] in ("failed", "aborted") and s.get("error"):
            console.print(f"[red]{s['layer']}.{s['table_name']}[/]:")
            for line in s["error"].splitlines():
                console.print(f"  {line}", markup=False)
    if run.get("error") and not any(s["status"] == "failed" for s in steps):
        console.print(f"[red]{_escape(run['error'])}[/]")


_CHECK_COLOUR = {"pass": "green", "warn": "yellow", "fail": "red", "error": "red"}


def _checks_table(checks: list[dict[str, Any]]):
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    t = _table(
        "check", "table", "kind", "severity", "status", "failing", "detail", right=("failing",)
    )
    for c in sorted(checks, key=lambda c: order.get(c["status"], 9)):
        colour = _CHECK_COLOUR.get(c["status"], "white")
        t.add_row(
            c["name"],
            c["table_name"],
            c["kind"],
            c["severity"],
            f"[{colour}]{c['status']}[/]",
            _num(c.get("failing_rows")),
            _escape(c.get("message") or ""),
        )
    return t


def _checkpoints_table(rows: list[dict[str, Any]]):
    t = _table("table", "reads", "checkpoint", "at version", "set by run", "updated")
    for r in rows:
        t.add_row(
            r["node"],
            r["input"],
            r["value"],
            "" if r["delta_version"] is None else f"v{r['delta_version']}",
            r["run_id"] or "",
            _when(r["updated_at"]),
        )
    t.title = "checkpoints (what each table has consumed)"
    return t


def reset_done(nodes: list[str]) -> None:
    for node in nodes:
        out().print(f"reset {node}: its next run rebuilds it from all input")


def verification_dict(v: Any) -> dict[str, Any]:
    return {
        "ok": v.ok,
        "runs": v.runs(),
        "steps": [{**asdict(line), "ok": line.ok} for line in v.lines],
        "reconciliations": [r.to_dict() for r in v.reconciliations],
    }


def verification(v: Any) -> None:
    console = out()
    yes, no, na = "[green]✓[/]", "[red]✗[/]", "[dim]n/a[/]"
    t = _table(
        "run",
        "#",
        "step",
        "table",
        "in",
        "written",
        "dropped",
        "quarantined",
        "balanced",
        "delta log",
        right=("#", "in", "written", "dropped", "quarantined"),
    )
    for line in v.lines:
        if line.table_matches is None and line.quarantine_matches is None:
            logged = na
        elif line.table_matches is not False and line.quarantine_matches is not False:
            logged = yes
        else:
            logged = no
        t.add_row(
            line.run_id,
            str(line.step_no),
            line.step,
            line.table,
            _num(line.rows_in),
            _num(line.rows_written),
            _num(line.rows_dropped),
            _num(line.rows_quarantined),
            yes if line.balanced else no,
            logged,
        )
    console.print(t)
    for line in v.lines:
        if not line.ok:
            console.print(f"[red]{line.run_id} {line.table}:[/] {line.problem}")
    runs = v.runs()
    bad = [r for r, ok in runs.items() if not ok]
    verdict = (
        "[green]the ledger adds up[/]" if not bad else f"[red]{len(bad)} run(s) do not add up[/]"
    )
    if not runs:
        verdict = "nothing to verify: no run has built a table yet"
    console.print(f"{len(runs)} run(s), {len(v.lines)} step(s): {verdict}")
    for r in v.reconciliations:
        mark = yes if r.status == "pass" else no
        console.print(f"{mark} reconciliation {r.table} {r.name}: {_escape(r.message)}")


def quarantines(rows: list[Any]) -> None:
    if not rows:
        out().print("no quarantine tables — nothing has been set aside")
        return
    t = _table(
        "quarantine", "of", "kind", "rows", "version", "last written", right=("rows", "version")
    )
    for r in rows:
        t.add_row(r.table, r.of, r.kind, _num(r.rows), f"v{r.version}", _when(r.last_written))
    out().print(t)


def replayed(r: Any) -> None:
    console = out()
    if r.recovered:
        console.print(f"finished an interrupted replay: {r.recovered:,} rows")
    version = f" (v{r.model_version})" if r.model_version is not None else ""
    console.print(
        f"{r.model}: {r.examined:,} quarantined rows re-evaluated, {r.moved:,} moved into the "
        f"model{version}, {r.remaining:,} remain in quarantine"
    )


def table_history(table: str, versions: list[dict[str, Any]]) -> None:
    t = _table(
        "version",
        "written",
        "operation",
        "mode",
        "run",
        "rows added",
        "rows removed",
        right=("version", "rows added", "rows removed"),
    )
    for v in versions:
        t.add_row(
            f"v{v['version']}",
            _when(v["timestamp"]),
            v["operation"] or "",
            v["mode"] or "",
            v["run_id"] or "",
            _num(v["rows_added"]),
            _num(v["rows_removed"]),
        )
    out().print(f"[bold]{table}[/]")
    out().print(t)


def maintenance(result: RunResult) -> None:
    console = out()
    for s in result.steps:
        mark = "[green]✓[/]" if s.status == "success" else "[red]✗[/]"
        version = f" v{s.delta_version}" if s.delta_version is not None else ""
        detail = s.note if s.status == "success" else (s.error or "")
        console.print(f"  {mark} {s.step:<8} {s.node:<36}{version}  {_escape(detail)}")
    verdict = "[green]done[/]" if result.ok else "[red]failed[/]"
    console.print(f"{verdict} (run {result.run_id}, {_secs(result.duration_s)})")


def history(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out().print("no runs yet — try `medallion run`")
        return
    t = _table(
        "run",
        "started",
        "duration",
        "status",
        "trigger",
        "steps",
        "failed",
        "rows written",
        "command",
        right=("duration", "steps", "failed", "rows written"),
    )
    for r in rows:
        duration = None
        if r.get("ended_at"):
            duration = (
                datetime.fromisoformat(r["ended_at"]) - datetime.fromisoformat(r["started_at"])
            ).total_seconds()
        t.add_row(
            r["run_id"],
            _when(r["started_at"]),
            _secs(duration),
            _status(r["status"]),
            r["trigger"],
            _num(r.get("steps")),
            _num(r.get("failed_steps")) if r.get("failed_steps") else "",
            _num(r.get("rows_written")),
            r.get("command") or "",
        )
    out().print(t)


# -- tables / lineage -----------------------------------------------------------------------------


def table_row_dict(r: TableRow) -> dict[str, Any]:
    d = asdict(r)
    d["table"] = f"{r.layer}.{r.name}"
    return d


def tables(rows: list[TableRow]) -> None:
    if not rows:
        out().print("no tables yet — try `medallion run`")
        return
    t = _table(
        "layer",
        "table",
        "kind",
        "rows",
        "version",
        "last written",
        "size",
        "partitioned by",
        right=("rows", "version", "size"),
    )
    for r in rows:
        t.add_row(
            r.layer,
            r.name,
            r.kind if r.kind != "quarantine" else "[yellow]quarantine[/]",
            _num(r.rows),
            "" if r.version is None else f"v{r.version}",
            _when(r.last_written),
            _size(r.size_bytes),
            ", ".join(r.partition_by),
        )
    out().print(t)


def compiled(result: Any) -> None:
    written = [m for m in result.models if m.path is not None]
    for m in result.models:
        if m.path is None:
            err().print(f"  [yellow]-[/] {m.model}: {m.note}")
    err().print(
        f"compiled {len(written)} model(s) for {result.dialect} into {_rel(result.output)}"
        " (and manifest.json)"
    )


def lineage(project: Project, data: dict[str, Any], model: str | None) -> None:
    console = out()
    if model is None:
        current = None
        width = max((len(n.split(".", 1)[1]) for n in data), default=10) + 2
        for node, info in data.items():
            layer, name = node.split(".", 1)
            if layer != current:
                console.print(f"[bold]{layer}[/]")
                current = layer
            ups = ", ".join(info["upstream"])
            arrow = f"  ← {ups}" if ups else ""
            checked = ", ".join(info["checks_read"])
            against = f"  [dim](checks read {checked})[/]" if checked else ""
            console.print(f"  {name:<{width}} [dim]{info['kind']:<7}[/]{arrow}{against}")
        return
    g = project.lineage_graph
    node = data["node"]
    console.print(f"[bold]{node}[/] ({data['kind']})")

    def tree(n: str, edges: dict[str, list[str]], prefix: str, seen: set[str]) -> None:
        children = sorted(set(edges.get(n, [])))
        for i, child in enumerate(children):
            last = i == len(children) - 1
            branch = "└── " if last else "├── "
            repeat = child in seen
            kind = project.kind(child)
            console.print(f"{prefix}{branch}{child} [dim]({kind}){' …' if repeat else ''}[/]")
            if not repeat:
                seen.add(child)
                tree(child, edges, prefix + ("    " if last else "│   "), seen)

    console.print("upstream (what it reads):")
    if g.up.get(node):
        tree(node, g.up, "  ", set())
    else:
        console.print("  (none)")
    console.print("downstream (what reads it):")
    if g.down.get(node):
        tree(node, g.down, "  ", set())
    else:
        console.print("  (none)")
    # checks that read another table order the run too (`--select +X` includes them)
    if data["checks_read"]:
        console.print(f"its checks read: {', '.join(data['checks_read'])} (built before it)")
    if data["read_by_checks_of"]:
        console.print(f"read by the checks of: {', '.join(data['read_by_checks_of'])}")


# -- query results --------------------------------------------------------------------------------


def query_result(
    reader: pa.RecordBatchReader, *, fmt: str, output: Path | None, limit: int
) -> None:
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = pa.OSFile(str(output), "wb") if output else sys.stdout.buffer
        with pacsv.CSVWriter(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        if output:
            sink.close()
            err().print(f"wrote {_rel(output)}")
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert output is not None
        rows = 0
        with pq.ParquetWriter(str(output), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        err().print(f"wrote {rows:,} rows to {_rel(output)}")
        return
    if fmt == "json":
        fh = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            fh.write("[")
            first = True
            for batch in reader:
                for row in batch.to_pylist():
                    fh.write(
                        ("\n  " if first else ",\n  ") + json.dumps(row, default=_json_default)
                    )
                    first = False
            fh.write("\n]\n" if not first else "]\n")
        finally:
            if output:
                fh.close()
                err().print(f"wrote {_rel(output)}")
        return
    # table
    numeric = {
        f.name
        for f in reader.schema
        if pa.types.is_integer(f.type)
        or pa.types.is_floating(f.type)
        or pa.types.is_decimal(f.type)
    }
    rows: list[dict[str, Any]] = []
    total = 0
    for batch in reader:
        total += batch.num_rows
        if limit and len(rows) >= limit:
            continue
        rows.extend(batch.slice(0, limit - len(rows) if limit else None).to_pylist())
    print_rows(reader.schema.names, numeric, rows)
    more = (
        f" (showing {len(rows):,}; use --limit 0 or --format csv for all)"
        if len(rows) < total
        else ""
    )
    err().print(f"[dim]{total:,} rows{more}[/]")


#: on a terminal, a cell longer than this is cut, so one long text does not hide other columns
MAX_CELL = 40


def print_rows(names: list[str], numeric: set[str], rows: list[dict[str, Any]]) -> None:
    """An aligned table. On a terminal too narrow for every column, the first and last columns
    are shown and the middle ones elided (and counted), as the DuckDB shell does."""
    console = out()
    cells = [[_plain(row[n]) for n in names] for row in rows]
    shown = list(range(len(names)))
    if console.is_terminal:
        cells = [[c if len(c) <= MAX_CELL else c[: MAX_CELL - 1] + "…" for c in r] for r in cells]
        widths = [max([len(names[i])] + [len(r[i]) for r in cells]) + 3 for i in range(len(names))]
        if sum(widths) > console.width:
            left, right, used = 0, len(names) - 1, 6  # room for the elision column
            keep_left: list[int] = []
            keep_right: list[int] = []
            while left <= right:
                i = left if len(keep_left) <= len(keep_right) else right
                if used + widths[i] > console.width:
                    break
                used += widths[i]
                if i == left:
                    keep_left.append(i)
                    left += 1
                else:
                    keep_right.insert(0, i)
                    right -= 1
            shown = [*keep_left, -1, *keep_right]
    t = _table(*[names[i] if i >= 0 else "…" for i in shown], right=tuple(numeric))
    for r in cells:
        t.add_row(*[_markup(r[i]) if i >= 0 else "…" for i in shown])
    console.print(t)
    if -1 in shown:
        hidden = len(names) - len(shown) + 1
        err().print(f"[dim]{hidden} of {len(names)} columns not shown (terminal too narrow)[/]")


def _plain(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _escape(text: str) -> str:
    """User text (a message, a value) printed as itself, not read as Rich markup."""
    from rich.markup import escape

    return escape(text)


def _markup(text: str) -> str:
    return "[dim]NULL[/]" if text == "NULL" else _escape(text)


# -- demo -----------------------------------------------------------------------------------------


def demo_summary(project: Project, result: RunResult, env: dict[str, str] | None = None) -> None:
    console = out()
    gold = project.config.layers[-1]
    gold_tables = [fqn for fqn in project.graph.order if fqn.startswith(f"{gold}.")]
    counts = {f"{r.layer}.{r.name}": r.rows for r in project.tables()}
    for fqn in gold_tables:
        if result.step(fqn).status != "success":
            continue
        import pyarrow as pa

        table = project.preview(fqn, 5)
        n = counts.get(fqn)
        kind = "rows"
        if n is None:  # a view: no stored rows to look up
            n = project.row_count(fqn)
            kind = "rows, a view"
        console.print(f"\n[bold]{fqn}[/] [dim]({_num(n)} {kind}; first 5)[/]")
        numeric = {
            f.name
            for f in table.schema
            if pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_decimal(f.type)
        }
        print_rows(table.schema.names, numeric, table.to_pylist())
    console.print(f"\n[bold]run summary[/] ({result.run_id})")
    console.print(_steps_table(project.steps(result.run_id)))
    example = gold_tables[-1] if gold_tables else f"{gold}.<table>"
    if env:
        from medallion.errors import mask_dsn

        # the cluster lives in the project unless the server had to put it elsewhere (see PgServer)
        kept = (project.root / ".pgdata" / "data" / "PG_VERSION").is_file()
        where = f"its data stay in {project.root / '.pgdata'}" if kept else "it was removed"
        console.print(
            f"\n[dim]the demo's PostgreSQL server is stopped now; {where} "
            f"({', '.join(f'{k}={mask_dsn(v)}' for k, v in env.items())})[/]"
        )
    # medallion.yml names the databases by ${VAR}: loading it needs them set in the user's
    # shell too; these commands read the lakehouse only, so any value does
    prefix = " ".join(f"{k}=unused" for k in env or {})
    prefix = f"{prefix} " if prefix else ""
    text = (
        f"project: {project.root}\n"
        f'try: {prefix}medallion -p {project.root} query "select * from {example} limit 5"\n'
        f"     {prefix}medallion -p {project.root} status | tables | lineage | history"
    )
    if env:
        text += (
            f"\n     ({' and '.join(env)} must be set for medallion.yml to load; these commands "
            "read the lakehouse only, not the databases)"
        )
    err().print(_escape(text), highlight=False)
