"""A dbt project as a medallion project (`medallion import dbt PATH [DIR]`).

dbt's Jinja is rendered once, here, into plain SQL models the user owns afterwards; what cannot
be rendered faithfully is left as it was and listed as a TODO with its file and line.
"""

from __future__ import annotations

from medallion.onboard.dbt.importer import import_project
from medallion.onboard.dbt.layers import DEFAULT_FOLDERS
from medallion.onboard.dbt.report import DbtImport, Finding, ImportedTable

__all__ = ["DEFAULT_FOLDERS", "DbtImport", "Finding", "ImportedTable", "import_project"]
