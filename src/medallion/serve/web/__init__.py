"""The web UI's pictures, drawn on the server as SVG (no script needed to read them): the
lineage graph (`lineage_svg`) and a run's step timeline (`timeline_svg`). Pure functions of
the dicts `Project.lineage()` and `Project.steps(run_id)` return."""

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
    "lineage_svg",
    "neighbourhood",
    "timeline_svg",
]
