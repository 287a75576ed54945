"""Tables: the list of tables, a table's Delta history, lineage."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from medallion.cli.render.console import _escape, _num, _size, _table, _when, err, out

if TYPE_CHECKING:
    from medallion.project import Project, TableRow


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
        whole=("last written",),
        drop=("partitioned by", "last written", "size", "layer", "kind"),
    )
    kinds = {"quarantine": "[yellow]quarantine[/]", "unreadable": "[red]unreadable[/]"}
    for r in rows:
        t.add_row(
            r.layer,
            r.name,
            kinds.get(r.kind, r.kind),
            _num(r.rows),
            "" if r.version is None else f"v{r.version}",
            _when(r.last_written),
            _size(r.size_bytes),
            ", ".join(r.partition_by),
        )
    out().print(t)
    for r in rows:
        if r.kind == "unreadable":
            err().print(f"[red]{r.layer}.{r.name}[/]: {_escape(r.description or '')}")


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
        whole=("written", "run"),
        drop=("mode", "operation", "run", "rows removed"),
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


def lineage(
    project: Project, data: dict[str, Any], model: str | None, graph: dict[str, Any]
) -> None:
    """`data` (Project.lineage's answer) as text; `graph`: the whole graph as the reader may
    see it (Project.lineage(None, user)), whose edges draw a model's trees."""
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
    up = {n: e["upstream"] for n, e in graph.items()}
    down: dict[str, list[str]] = {}
    for n, sources in up.items():
        for source in sources:
            down.setdefault(source, []).append(n)
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
    if up.get(node):
        tree(node, up, "  ", set())
    else:
        console.print("  (none)")
    console.print("downstream (what reads it):")
    if down.get(node):
        tree(node, down, "  ", set())
    else:
        console.print("  (none)")
    # checks that read another table order the run too (`--select +X` includes them)
    if data["checks_read"]:
        console.print(f"its checks read: {', '.join(data['checks_read'])} (built before it)")
    if data["read_by_checks_of"]:
        console.print(f"read by the checks of: {', '.join(data['read_by_checks_of'])}")
