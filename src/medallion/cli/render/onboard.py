"""`medallion init DIR --from PATH`: what was inferred from the user's files, and why."""

from __future__ import annotations

from typing import Any

from medallion.cli.render.console import _escape, _rel, out


def initialized_from(result: Any) -> None:
    """Per source: its files, reading options, column types, key and relationships, each with
    the evidence behind it; then the files written and the next step. `result` is the façade's
    InitFromResult."""
    console = out()
    n = len(result.sources)
    console.print(
        f"[green]created[/] project in [bold]{_escape(_rel(result.dest))}[/] from "
        f"{_escape(result.origin)}: {n} source{'s' if n != 1 else ''}, "
        f"{n} silver staging model{'s' if n != 1 else ''}"
    )
    for s in result.sources:
        model = f"silver.stg_{s.name}"
        if s.name in result.references:
            how = f"table, one row per {s.key}"
        else:
            how = f"merge on {s.key}" if s.key else "table of distinct rows"
        console.print()
        rows = f"{s.rows:,} row{'' if s.rows == 1 else 's'}{' sampled' if not s.complete else ''}"
        size = f", {rows}" if s.files else ""
        console.print(
            f"[bold]{s.name}[/] ({s.format}{size}) -> bronze.{s.name} -> {model} ({_escape(how)})"
        )
        for note in s.notes:
            console.print(f"  {_escape(note)}")
        for c in s.columns:
            where = {"none": "", "trim": ", trimmed in silver"}.get(
                c.convert, f", text in bronze, {c.type} in silver"
            )
            console.print(f"    {_escape(c.name)}: {_escape(c.type)} ({_escape(c.why)}{where})")
        checks = []
        if s.key:
            checks += [f"unique {s.key}", f"not_null {s.key}"]
        checks += [
            f"relationships {r.column} -> silver.stg_{r.to_source}.{r.to_column}"
            for r in s.relationships
        ]
        if checks:
            console.print(f"  checks: {_escape(', '.join(checks))}")
    console.print()
    console.print(f"  wrote: {_escape(', '.join(result.written))}")
    secrets = sorted({v for s in result.sources for v in s.secrets})
    export = "".join(f"export {v}=... && " for v in secrets)
    where = _rel(result.dest)
    cd = "" if where == "." else f"cd {_escape(where)} && "
    console.print(f"  next: {export}{cd}medallion run")
