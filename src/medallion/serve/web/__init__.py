"""The web UI's pictures, drawn on the server as SVG (no script needed to read them): the
lineage graph (`lineage_svg`), one model's column lineage (`column_lineage` +
`column_lineage_svg`) and a run's step timeline (`timeline_svg`). Pure functions of what
`Project.lineage()`, a model's SQL and `Project.steps(run_id)` give."""

from medallion.serve.web.column_lineage_svg import column_lineage, column_lineage_svg
from medallion.serve.web.lineage_svg import (
    LineageError,
    LineageTooLargeError,
    lineage_svg,
    neighbourhood,
)
from medallion.serve.web.timeline_svg import timeline_svg

__all__ = [
    "LineageError",
    "LineageTooLargeError",
    "column_lineage",
    "column_lineage_svg",
    "lineage_svg",
    "neighbourhood",
    "timeline_svg",
]
