"""`medallion validate`'s access warning: a masked column that flows unmasked into a column
a viewer may read.

For each SQL model a viewer can read (granted to a group that is not in `unmask`), SQLGlot's
column lineage traces each output column back to the tables it reads; when a source column is
masked and the output column is not masked itself, the model shows the masked values in
clear to that group. No anchor checks this (Unity Catalog, SQL Server and Fabric apply masks
per column and leave derived tables unprotected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.governance.policy import masked_tables, table_masks

if TYPE_CHECKING:
    from medallion.workspace import Workspace


def unmasked_flows(ws: Workspace) -> list[str]:
    """One warning per (model column, masked source column) pair."""
    import sqlglot
    import sqlglot.expressions as exp
    from sqlglot.lineage import lineage

    access = ws.config.access
    if access is None or not access.masks:
        return []
    masked = masked_tables(access)
    readers = {group: items for group, items in access.grants.items() if group not in access.unmask}
    out: list[str] = []
    for fqn, model in ws.models_or_empty().items():
        if model.language != "sql" or not (set(model.depends_on) & masked):
            continue
        layer = fqn.split(".", 1)[0]
        groups = sorted(g for g, items in readers.items() if fqn in items or f"{layer}.*" in items)
        if not groups:
            continue
        own = table_masks(access, fqn)
        try:
            tree = sqlglot.parse_one(model.text, dialect="duckdb")
        except sqlglot.errors.ParseError:
            continue
        if not isinstance(tree, exp.Query):
            continue
        for name in tree.named_selects:
            if name in own:
                continue
            try:
                node = lineage(name, tree, None, dialect="duckdb")
            except Exception:  # a column SQLGlot cannot trace (star over an unknown schema)
                continue
            for leaf in _shown_leaves(node):
                source = leaf.source
                if not isinstance(source, exp.Table):
                    continue
                table = f"{source.db}.{source.name}".lower()
                column = leaf.name.split(".")[-1]
                if column in table_masks(access, table):
                    out.append(
                        f"{fqn}.{name} shows {table}.{column} unmasked to "
                        f"{', '.join(groups)} (mask it too: access.masks.{fqn}.{name})"
                    )
    return out


def _shown_leaves(node):  # type: ignore[no-untyped-def]
    """The lineage leaves whose values reach the output: a column counted, summed or averaged
    (count(distinct user_id)) shows no value of it and is not followed; min(), max(),
    string_agg() and the like show values and are."""
    import sqlglot.expressions as exp

    hiding = (
        exp.Count,
        exp.Sum,
        exp.Avg,
        exp.Stddev,
        exp.StddevPop,
        exp.StddevSamp,
        exp.Variance,
        exp.VariancePop,
        exp.ApproxDistinct,
    )
    if not node.downstream:
        yield node
        return
    visible = set()
    for column in node.expression.find_all(exp.Column):
        parent, hidden = column.parent, False
        while parent is not None and parent is not node.expression:
            if isinstance(parent, hiding):
                hidden = True
                break
            parent = parent.parent
        if not hidden:
            visible.add(column.name.lower())
    for child in node.downstream:
        if child.name.split(".")[-1].lower() in visible:
            yield from _shown_leaves(child)
