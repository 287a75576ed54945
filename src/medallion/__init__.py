"""medallion: a local-first lakehouse ETL framework.

Kept import-light on purpose: `import medallion` must not pull in DuckDB, Arrow or deltalake,
so that the CLI starts instantly. Use `medallion.project.Project` for the façade.
"""

from __future__ import annotations

__version__ = "0.1.0"
