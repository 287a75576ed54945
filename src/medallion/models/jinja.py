"""A model that still holds Jinja (`{{ ref('orders') }}`, `{% if is_incremental() %}`): what
medallion writes instead, in place of DuckDB's bare syntax error. medallion does not render
Jinja: a model is the SQL that runs."""

from __future__ import annotations

import re

from medallion.errors import ModelError, line_col

#: string literals and comments, blanked before looking for Jinja (a '{{' in a string is data)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_REF = re.compile(r"""\bref\(\s*(?:['"][^'"]*['"]\s*,\s*)?['"]([^'"]+)['"]""")
_SOURCE = re.compile(r"""\bsource\(\s*['"][^'"]*['"]\s*,\s*['"]([^'"]+)['"]""")


def jinja_error(sql: str, known: set[str], **where: object) -> ModelError | None:
    """The error for the first Jinja tag in `sql` (outside strings and comments), None if it
    holds none. `known` (the project's `layer.table` names) lets the hint name the table a
    `ref()` or `source()` stands for."""
    blanked = _QUOTED.sub(lambda m: " " * len(m.group(0)), sql)
    m = _JINJA.search(blanked)
    if m is None:
        return None
    tag = sql[m.start() : m.end()]
    shown = tag if len(tag) <= 60 else tag[:57] + "..."
    line, column = line_col(sql, m.start())
    return ModelError(
        f"the model holds Jinja ({' '.join(shown.split())}), and medallion does not render Jinja: "
        "a model is the plain SQL that runs",
        line=line,
        column=column,
        hint=_instead(tag, known)
        + "; to convert a whole dbt project: medallion import dbt PATH DIR",
        **where,  # type: ignore[arg-type]
    )


def _instead(tag: str, known: set[str]) -> str:
    for pattern, what in ((_REF, "ref"), (_SOURCE, "source")):
        m = pattern.search(tag)
        if m:
            name = m.group(1).lower()
            tables = sorted(t for t in known if t.split(".", 1)[1] == name)
            table = tables[0] if tables else f"<layer>.{name}"
            return f"write the table as {table} instead of {what}(...)"
    if "config(" in tag:
        return "write the model's options in its header: /* --- kind: merge, unique_key: id --- */"
    if "is_incremental" in tag:
        return (
            "drop the is_incremental() block: an incremental kind (merge, append) in the header "
            "reads only new rows by itself"
        )
    if "var(" in tag:
        return "write the variable's value in the SQL"
    if tag.startswith("{%"):
        return "write out the SQL the block produces (a loop's columns one by one)"
    if tag.startswith("{#"):
        return "write the comment as -- or /* */"
    return "write the SQL the expression produces"
