"""Column lineage of one SQL model, and its picture: which input columns each output column is
computed from, traced by SQLGlot through CTEs, subqueries, joins and window functions.

`column_lineage(sql, inputs)` takes the model's SQL (`Project.models[fqn].text`) and its
inputs' column names (table -> columns, e.g. from the tables' schemas): without them SQLGlot
cannot expand `select *` or place an unqualified column, and such a column traces to nothing.
`column_lineage_svg(table, columns)` draws the answer: the input tables on the left, each with
the columns used, the model's columns on the right, an edge per (input column, output column).
A column traced to nothing (a constant, `count(*)`) has no edge; the tooltip says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from medallion.serve.web.lineage_svg import LAYER_COLOURS, PALETTE, LineageError
from medallion.serve.web.svg import FONT, SVG_NS, esc, fit, num, text_width

ROW_H = 18.0
HEAD_H = 24.0
FONT_SIZE = 11.0
MARGIN = 16.0
GAP = 14.0  # between input tables
MID = 160.0  # between the inputs' column and the model's: room for the edges


def column_lineage(
    sql: str,
    inputs: Mapping[str, Sequence[str]] | None = None,
    dialect: str = "duckdb",
) -> dict[str, list[tuple[str, str]]]:
    """Output column -> the (input table, column) pairs it is computed from, sorted. `inputs`:
    input table (`layer.table`) -> its column names. Raises LineageError if the SQL does not
    parse as one query."""
    import sqlglot
    import sqlglot.expressions as exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    schema: dict[str, Any] = {}
    for fqn, cols in (inputs or {}).items():
        layer, _, name = fqn.rpartition(".")
        schema.setdefault(layer, {})[name] = dict.fromkeys(cols, "TEXT")
    try:
        tree = sqlglot.parse_one(sql, dialect=dialect)
    except sqlglot.errors.ParseError as e:
        raise LineageError(
            f"SQLGlot cannot parse the model's SQL: {str(e).splitlines()[0]}",
            hint="column lineage is read from the SQL with SQLGlot; the table lineage still works",
        ) from None
    if not isinstance(tree, exp.Query):
        raise LineageError("column lineage needs a query (a SELECT)")
    # qualified on a copy: if SQLGlot cannot, the query is traced as written, and the columns
    # it cannot place trace to nothing
    with contextlib.suppress(sqlglot.errors.SqlglotError):
        tree = qualify(
            tree.copy(), schema=schema or None, dialect=dialect, validate_qualify_columns=False
        )
    out: dict[str, list[tuple[str, str]]] = {}
    for name in tree.named_selects:
        found: set[tuple[str, str]] = set()
        try:
            node = lineage(name, tree, schema, dialect=dialect)
        except Exception:  # SQLGlot gives up on some shapes: that column traces to nothing
            out[name] = []
            continue
        for leaf in node.walk():
            source = leaf.source
            if leaf.downstream or not isinstance(source, exp.Table) or not source.db:
                continue
            column = leaf.name.rsplit(".", 1)[-1].strip('"')
            if column != "*":
                found.add((f"{source.db}.{source.name}".lower(), column))
        out[name] = sorted(found)
    return out


def column_lineage_svg(
    table: str,
    columns: Mapping[str, Sequence[tuple[str, str]]],
    link: Callable[[str], str] | None = None,
) -> str:
    """The picture of `column_lineage`'s answer for `table`; `link(table)` gives each table's
    href."""
    inputs: dict[str, list[str]] = {}
    for sources in columns.values():
        for src_table, src_col in sources:
            cols = inputs.setdefault(src_table, [])
            if src_col not in cols:
                cols.append(src_col)
    # barycentre order: an input column sits near the output columns it feeds, and a table
    # near its columns' outputs, so few edges cross
    index = {c: i for i, c in enumerate(columns)}
    fed: dict[tuple[str, str], list[int]] = {}
    for out_col, sources in columns.items():
        for src in sources:
            fed.setdefault(src, []).append(index[out_col])

    def centre(src: tuple[str, str]) -> float:
        return sum(fed[src]) / len(fed[src])

    def by_centre(t: str, cols: list[str]) -> list[str]:
        return sorted(cols, key=lambda c: (centre((t, c)), c))

    inputs = {t: by_centre(t, cols) for t, cols in inputs.items()}

    def table_centre(t: str) -> tuple[float, str]:
        return sum(centre((t, c)) for c in inputs[t]) / len(inputs[t]), t

    inputs = {t: inputs[t] for t in sorted(inputs, key=table_centre)}
    colour: dict[str, tuple[str, str]] = {}
    for name in [*inputs, table]:
        layer = name.rpartition(".")[0]
        spare = sum(1 for x in colour if x not in LAYER_COLOURS)
        colour.setdefault(layer, LAYER_COLOURS.get(layer) or PALETTE[spare % len(PALETTE)])

    def box_w(name: str, cols: Sequence[str]) -> float:
        widths = [text_width(c, FONT_SIZE) for c in cols]
        return max([text_width(name, 12, bold=True), *widths, 120.0]) + 20

    left_w = max([box_w(t, c) for t, c in inputs.items()] + [120.0])
    right_w = box_w(table, list(columns))
    left_x = MARGIN
    right_x = MARGIN + left_w + MID
    width = right_x + right_w + MARGIN

    # where each column's row is: (table, column) -> y of its middle
    rows: dict[tuple[str, str], float] = {}
    y = MARGIN
    boxes = []
    for name, cols in inputs.items():
        boxes.append((name, cols, left_x, y, left_w))
        for i, c in enumerate(cols):
            rows[(name, c)] = y + HEAD_H + i * ROW_H + ROW_H / 2
        y += HEAD_H + len(cols) * ROW_H + GAP
    left_h = y - GAP
    out_cols = list(columns)
    right_h = MARGIN + HEAD_H + len(out_cols) * ROW_H
    # the model's box is centred against its inputs
    right_y = MARGIN + max(0.0, (left_h - right_h) / 2)
    out_rows = {c: right_y + HEAD_H + i * ROW_H + ROW_H / 2 for i, c in enumerate(out_cols)}
    height = max(left_h, right_y + HEAD_H + len(out_cols) * ROW_H) + MARGIN
    edges = sum(len(s) for s in columns.values())
    title = f"Column lineage of {table}: {len(out_cols)} columns from {len(inputs)} tables"

    svg = [
        f'<svg xmlns="{SVG_NS}" class="medallion-columns" width="{num(width)}" '
        f'height="{num(height)}" viewBox="0 0 {num(width)} {num(height)}" '
        f'aria-label="{esc(title)}" font-family="{esc(FONT)}" font-size="{num(FONT_SIZE)}">',
        f"<title>{esc(title)}</title>",
        "<style>.medallion-columns g.edge:hover path{stroke:#1f4e9a;stroke-width:2.2}"
        ".medallion-columns g.column:hover rect{fill:#e3ecf7}"
        ".medallion-columns a:hover text{text-decoration:underline}</style>",
        "<defs>"
        '<marker id="medallion-col-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M0,0L10,5L0,10z" fill="#66707a"/></marker></defs>',
        f'<g class="edges" fill="none" data-count="{edges}">',
    ]
    for out_col, sources in columns.items():
        for src in sources:
            x0, y0 = left_x + left_w, rows[src]
            x1, y1 = right_x - 1.5, out_rows[out_col]
            mid = (x0 + x1) / 2
            tip = f"{table}.{out_col} \N{LEFTWARDS ARROW} {src[0]}.{src[1]}"
            svg.append(
                f'<g class="edge" data-from="{esc(src[0])}.{esc(src[1])}" '
                f'data-to="{esc(out_col)}"><path d="M{num(x0)},{num(y0)}C{num(mid)},{num(y0)} '
                f'{num(mid)},{num(y1)} {num(x1)},{num(y1)}" stroke="#66707a" stroke-width="1.1" '
                f'marker-end="url(#medallion-col-arrow)"><title>{esc(tip)}</title></path></g>'
            )
    svg.append("</g>")
    used_by: dict[tuple[str, str], list[str]] = {}
    for out_col, sources in columns.items():
        for src in sources:
            used_by.setdefault(src, []).append(out_col)
    for name, cols, bx, by, bw in boxes:
        tips = {c: f"{name}.{c}\nused by: {', '.join(used_by[(name, c)])}" for c in cols}
        svg.append(_box(name, cols, bx, by, bw, colour[name.rpartition(".")[0]], tips, link))
    tips = {
        c: f"{table}.{c}\n"
        + (
            "from: " + ", ".join(f"{t}.{k}" for t, k in columns[c])
            if columns[c]
            else "computed from no input column (a constant, count(*), or not traceable)"
        )
        for c in out_cols
    }
    own = colour[table.rpartition(".")[0]]
    svg.append(_box(table, out_cols, right_x, right_y, right_w, own, tips, link))
    svg.append("</svg>")
    return "\n".join(svg)


def _box(
    name: str,
    cols: Sequence[str],
    x: float,
    y: float,
    w: float,
    colour: tuple[str, str],
    tips: Mapping[str, str],
    link: Callable[[str], str] | None,
) -> str:
    fill, stroke = colour
    h = HEAD_H + len(cols) * ROW_H
    head = (
        f'<text x="{num(x + 10)}" y="{num(y + 16)}" font-size="12" font-weight="600" '
        f'fill="#1d1d1d">{esc(fit(name, 12, w - 14))}</text>'
    )
    if link is not None:
        head = f'<a href="{esc(link(name))}">{head}</a>'
    parts = [
        f'<g class="table" data-table="{esc(name)}"><title>{esc(name)}</title>',
        f'<path d="M{num(x)},{num(y + HEAD_H)}V{num(y + 6)}a6,6 0 0 1 6,-6H{num(x + w - 6)}'
        f'a6,6 0 0 1 6,6V{num(y + HEAD_H)}z" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="1.3"/>',
        head,
    ]
    for i, c in enumerate(cols):
        ry = y + HEAD_H + i * ROW_H
        parts.append(
            f'<g class="column" data-column="{esc(c)}"><title>{esc(tips[c])}</title>'
            f'<rect x="{num(x + 1)}" y="{num(ry)}" width="{num(w - 2)}" height="{num(ROW_H)}" '
            f'fill="{"#fafafa" if i % 2 else "#fff"}"/>'
            f'<text x="{num(x + 10)}" y="{num(ry + 13)}" fill="#333">'
            f"{esc(fit(c, FONT_SIZE, w - 14))}</text></g>"
        )
    parts.append(  # the outline last, over the rows' backgrounds
        f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="6" '
        f'fill="none" stroke="{stroke}" stroke-width="1.3"/></g>'
    )
    return "".join(parts)
