"""Everything the CLI prints: aligned tables, run progress, errors, JSON.

rich decides colours: on a terminal they are on, piped output is plain (and NO_COLOR is honoured).
Data goes to stdout, progress and errors to stderr, so `medallion query ... > out.csv` is clean.

One module a subject: console (the consoles and the formatting every other module shares),
errors, project (templates, init, generate, validate, compile, the demo), onboard (what `init
--from` inferred and why), runs, checks (and verify, quarantine), tables (and lineage), query.
The commands call them as `render.<name>`.
"""

from __future__ import annotations

from medallion.cli.render.checks import quarantines, replayed, verification, verification_dict
from medallion.cli.render.console import err, out, print_json, print_rows
from medallion.cli.render.errors import error
from medallion.cli.render.onboard import initialized_from
from medallion.cli.render.plan import describe as plan_reason
from medallion.cli.render.plan import plan
from medallion.cli.render.project import (
    compiled,
    database_first,
    demo_summary,
    generated,
    initialized,
    no_data_yet,
    templates,
    validated,
)
from medallion.cli.render.query import query_result
from medallion.cli.render.runs import history, maintenance, reset_done, run_result_dict, status
from medallion.cli.render.tables import lineage, table_history, table_row_dict, tables

__all__ = [
    "compiled",
    "database_first",
    "demo_summary",
    "err",
    "error",
    "generated",
    "history",
    "initialized",
    "initialized_from",
    "lineage",
    "maintenance",
    "no_data_yet",
    "out",
    "plan",
    "plan_reason",
    "print_json",
    "print_rows",
    "quarantines",
    "query_result",
    "replayed",
    "reset_done",
    "run_result_dict",
    "status",
    "table_history",
    "table_row_dict",
    "tables",
    "templates",
    "validated",
    "verification",
    "verification_dict",
]
