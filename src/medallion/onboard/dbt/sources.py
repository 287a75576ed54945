"""dbt sources and seeds as medallion sources: files where dbt reads files (seeds, dbt-duckdb
`external_location`, `read_csv(...)` in a model), a database source with its DSN left to the
user otherwise."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medallion.onboard.dbt.dbtproject import DbtProject, SourceTable
    from medallion.onboard.dbt.report import DbtImport

#: DuckDB's file-reading functions and the format each reads
READERS = {
    "read_csv": "csv",
    "read_csv_auto": "csv",
    "readcsv": "csv",
    "read_parquet": "parquet",
    "readparquet": "parquet",
    "parquet_scan": "parquet",
    "read_json": "json",
    "read_json_auto": "json",
    "read_ndjson": "json",
    "read_ndjson_auto": "json",
}


def file_reference(expression: Any) -> tuple[str, str | None] | None:
    """(path, format) when a SQLGlot table expression reads one file or glob: `read_csv('x')`,
    `read_parquet('x')`, `'x.csv'`; None for anything else (a list of files, a table)."""
    import sqlglot.expressions as exp

    if isinstance(expression, exp.Identifier):
        return (expression.name, None) if expression.quoted and "." in expression.name else None
    name = (expression.name if isinstance(expression, exp.Anonymous) else expression.key).lower()
    fmt = READERS.get(name)
    if fmt is None:
        return None
    first = expression.this if isinstance(expression.this, exp.Expression) else None
    if first is None and expression.expressions:
        first = expression.expressions[0]
    if isinstance(first, exp.Literal) and first.is_string:
        return first.name, fmt
    return None


def external_location(location: str) -> tuple[str, str | None] | None:
    """dbt-duckdb's `external_location`: a path, or a reading function call as SQL text."""
    if "(" not in location:
        return location, None
    import sqlglot
    import sqlglot.expressions as exp

    try:
        tree = sqlglot.parse_one(f"select * from {location}", dialect="duckdb")
    except sqlglot.errors.ParseError:
        return None
    table = tree.find(exp.Table)
    return file_reference(table.this) if table is not None else None


def file_source(
    project: DbtProject,
    report: DbtImport,
    dest: Path,
    pattern: str,
    fmt: str | None,
    origin: tuple[str, int | None],
    data_dir: str = "data",
) -> dict[str, Any]:
    """A `files` source for `pattern` (relative to the dbt project): the files inside the dbt
    project are copied into the new project's `data_dir`, files elsewhere are read where they
    are."""
    root = project.root.resolve()
    absolute = (root / pattern).resolve() if not Path(pattern).is_absolute() else Path(pattern)
    entry: dict[str, Any] = {}
    try:
        rel = absolute.relative_to(root)
    except ValueError:
        rel = None
    if rel is None:
        entry["path"] = str(absolute)
        report.note(
            *origin,
            f"{pattern} is outside the dbt project: the new project reads it where it is "
            "(an absolute path in medallion.yml)",
        )
    else:
        target = Path(data_dir) / rel if rel.parts[0] != data_dir else rel
        entry["path"] = target.as_posix()
        matched = sorted(glob.glob(str(absolute), recursive=True))
        if not matched:
            report.todo(*origin, f"no file matches {pattern}: put the files at {entry['path']}")
        for found in matched:
            copy_to = dest / target.parent / Path(found).relative_to(absolute.parent)
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, copy_to)
            report.copied.append(copy_to.relative_to(dest).as_posix())
    if fmt is not None and fmt != _format_of(entry["path"]):
        entry["format"] = fmt
    return entry


def _format_of(path: str) -> str | None:
    from medallion.config.schema import infer_format

    return infer_format(path)


def database_source(table: SourceTable, report: DbtImport) -> dict[str, Any]:
    """A database source whose connection the user fills in (dbt's profile is not read)."""
    variable = f"{table.source.upper()}_DSN"
    report.todo(
        table.file,
        table.line,
        f"source {table.source}.{table.name} is a table of the warehouse dbt ran on: set "
        f"`type:` (postgres, mysql, sqlite) and ${{{variable}}} for it in medallion.yml, or "
        "point it at files (path:)",
    )
    return {
        "type": "postgres",
        "dsn": "${" + variable + "}",
        "table": f"{table.schema}.{table.identifier}",
    }
