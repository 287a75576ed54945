"""The project itself: templates, init, generated data, validation, compiled SQL and the
demo's summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.cli.render.console import (
    _escape,
    _num,
    _numeric,
    _rel,
    _table,
    err,
    out,
    print_rows,
)
from medallion.cli.render.runs import _steps_table

if TYPE_CHECKING:
    from medallion.errors import MedallionError
    from medallion.project import Project
    from medallion.state.records import RunResult
    from medallion.templates import Template


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


def database_first(dest: Path, tpl: Template, why: MedallionError) -> None:
    """A database template's project made without its sample data: what to set first."""
    console = err()
    console.print(f"  before the first run: {_escape(why.message)}")
    if why.hint:
        console.print(f"    {_escape(why.hint)}")
    console.print(
        f"  then: cd {_rel(dest)} && medallion generate && medallion run"
        f"   (generate writes sample rows to {_escape(tpl.data_location or 'it')})"
    )


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
            "`medallion run --full-refresh` rebuilds bronze from them alone (add "
            "--allow-missing-files if it removed files an earlier run ingested)"
        )


def validated(project: Project, bound: dict[str, str | None], warnings: list[str]) -> None:
    """`medallion validate`'s answer: the warnings first (stderr), then one line that counts
    them, then how many models bound against the lakehouse."""
    # validate checks no connection, so an unset ${VAR} of a source or target is a warning,
    # not an error: the command that uses the value asks for it (and fails naming it)
    unset: dict[str, list[Any]] = {}
    for u in project.config.unset_variables:
        unset.setdefault(u.name, []).append(u)
    notes = [
        f"not set: {name}, used in "
        + ", ".join(f"{u.key} (line {u.line})" if u.line else u.key for u in uses)
        + ": "
        + _who_needs(project, uses)
        for name, uses in unset.items()
    ]
    warned = err()
    for text in [*notes, *warnings]:
        warned.print(f"[yellow]warning:[/] {_escape(text)}", soft_wrap=True)
    n = len(notes) + len(warnings)
    counted = f", {n} warning{'s' if n != 1 else ''}" if n else ""
    console = out()
    console.print(
        f"[green]ok[/] {_escape(project.config.name)}: {len(project.config.sources)} sources, "
        f"{len(project.models)} models, no problems found{counted}"
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


def _who_needs(project: Project, uses: list[Any]) -> str:
    """Which commands need a variable used at these places of medallion.yml, and whether
    `medallion run` does (`require_env`: a run asks for the variables of the sources it
    ingests and of the targets it publishes to after it, nothing else)."""
    by: dict[str, list[str]] = {}
    for u in uses:
        if len(u.loc) > 1 and str(u.loc[1]) not in by.get(str(u.loc[0]), []):
            by.setdefault(str(u.loc[0]), []).append(str(u.loc[1]))
    sources, targets = by.get("sources", []), by.get("publish", [])
    notify = by.get("notifications", [])
    after = [t for t in targets if getattr(project.config.publish.get(t), "after_run", False)]
    needs: list[str] = []
    if sources:
        needs.append(f"`medallion run` needs it to ingest {_names('source', sources)}")
    if targets:
        text = f"`medallion publish` needs it for {_names('target', targets)}"
        if after:
            text += f", and so does `medallion run`, which publishes to {', '.join(after)} after it"
        needs.append(text)
    if notify:
        one = len(notify) == 1
        needs.append(
            f"only {_names('notification target', notify)} need{'s' if one else ''} it: the "
            f"scheduler sends nothing to {'it' if one else 'them'} while it is unset"
        )
    if not needs:
        return "the command that uses it asks for it"
    if not sources and not after:
        needs.append("`medallion run` works without it")
    return "; ".join(needs)


def _names(what: str, names: list[str]) -> str:
    return f"{what} {names[0]}" if len(names) == 1 else f"{what}s {', '.join(names)}"


def compiled(result: Any) -> None:
    written = [m for m in result.models if m.path is not None]
    for m in result.models:
        if m.path is None:
            err().print(f"  [yellow]-[/] {m.model}: {m.note}")
    err().print(
        f"compiled {len(written)} model(s) for {result.dialect} into {_rel(result.output)}"
        " (and manifest.json)"
    )
    if result.setup is not None:
        err().print(
            f"  run {_rel(result.setup)} once in the {result.dialect} database first: the "
            "models call the functions it creates"
        )


# -- demo -----------------------------------------------------------------------------------------


def demo_summary(project: Project, result: RunResult, afterwards: str = "") -> None:
    console = out()
    gold = project.config.layers[-1]
    gold_tables = [fqn for fqn in project.graph.order if fqn.startswith(f"{gold}.")]
    counts = {f"{r.layer}.{r.name}": r.rows for r in project.tables()}
    for fqn in gold_tables:
        if result.step(fqn).status != "success":
            continue
        table = project.preview(fqn, 5)
        n = counts.get(fqn)
        kind = "rows"
        if n is None:  # a view: no stored rows to look up
            n = project.row_count(fqn)
            kind = "rows, a view"
        console.print(f"\n[bold]{fqn}[/] [dim]({_num(n)} {kind}; first 5)[/]")
        print_rows(table.schema.names, _numeric(table.schema), table.to_pylist())
    console.print(f"\n[bold]run summary[/] ({result.run_id})")
    console.print(_steps_table(project.steps(result.run_id)))
    example = gold_tables[-1] if gold_tables else f"{gold}.<table>"
    if afterwards:
        # soft_wrap: the commands stay one line each when copied from a narrow terminal
        console.print(f"\n{_escape(afterwards)}", highlight=False, soft_wrap=True)
    # the commands that read the lakehouse need none of the template's ${VAR}s
    text = (
        f"project: {project.root}\n"
        f'try: medallion -p {project.root} query "select * from {example} limit 5"\n'
        f"     medallion -p {project.root} status | tables | lineage | history"
    )
    err().print(_escape(text), highlight=False)
