"""`medallion import dbt`: what was imported, what changed on purpose, what is left to do."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from medallion.cli.render.console import _escape, _rel, _table, err, out


def imported(report: Any) -> None:
    """The tables of the new project (stdout), then notes, TODOs and the next step (stderr)."""
    t = _table("table", "kind", "checks", "from dbt", right=("checks",), wrap=("from dbt",))
    for table in report.tables:
        t.add_row(table.fqn, table.kind, str(table.checks or ""), _escape(table.origin))
    out().print(t)
    console = err()
    models, sources = len(report.models), len(report.sources)
    console.print(
        f"[green]imported[/] dbt project {_escape(report.dbt_project)} into "
        f"[bold]{_escape(_rel(report.dest))}[/]: {sources} source{'s' * (sources != 1)}, "
        f"{models} model{'s' * (models != 1)}"
        + (f", {len(report.copied)} files copied to data/" if report.copied else "")
    )
    if report.notes:
        console.print(f"changed on purpose ({len(report.notes)}):")
        for note in report.notes:
            console.print(f"  {_escape(note.where)}: {_escape(note.message)}")
    if report.todos:
        console.print(
            f"[yellow]TODO ({len(report.todos)})[/]: left as it was in the files, marked TODO at "
            "the top of the model each concerns (else of medallion.yml); also in IMPORT.md"
        )
        for todo in report.todos:
            console.print(f"  [yellow]{_escape(todo.where)}[/]: {_escape(todo.message)}")
        console.print(
            "[red]the imported project does not load yet[/]: medallion validate refuses it "
            "until the TODOs are done"
            if not report.loads
            else "[yellow]the imported project loads[/], but does what the dbt project did only "
            "once the TODOs are done"
        )
        console.print(
            f"  next: cd {_escape(_rel(report.dest))}, do the TODOs, medallion validate, "
            "medallion run"
        )
    else:
        console.print(f"  next: cd {_escape(_rel(report.dest))} && medallion run")


def imported_dict(report: Any) -> dict[str, Any]:
    return {
        "dbt_project": report.dbt_project,
        "source": str(report.source),
        "dest": str(report.dest),
        "tables": [asdict(t) for t in report.tables],
        "notes": [asdict(n) | {"where": n.where} for n in report.notes],
        "todos": [asdict(t) | {"where": t.where} for t in report.todos],
        "copied": list(report.copied),
        "loads": report.loads,
    }
