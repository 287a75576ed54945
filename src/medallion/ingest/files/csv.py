"""CSV files: the header of each file decides its group; types are declared, already in the
bronze table, or sniffed by DuckDB once per new column; rows DuckDB cannot parse (too many or
too few fields, a value that does not convert, invalid UTF-8) are kept by DuckDB's `store_rejects`
and returned as Rejects with their line and raw text."""

from __future__ import annotations

import codecs
import csv
import io
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError
from medallion.ingest.files.reader import Plan, ReadResult, Reject, call, paths
from medallion.sqltree import lit

if TYPE_CHECKING:
    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import FileReader

#: the rejects DuckDB kept, one row per bad line (a constant query; its tables are renamed)
_REJECTS_SQL = """
SELECT s.file_path, e.line, any_value(e.csv_line),
       concat_ws('; ',
           min_by(e.error_type || ': ' || e.error_message, e.column_idx)
               FILTER (e.error_type = 'MISSING COLUMNS'),
           string_agg(e.error_type || ': ' || e.error_message, '; ' ORDER BY e.column_idx)
               FILTER (e.error_type <> 'MISSING COLUMNS'))
FROM errors e JOIN scan s USING (scan_id, file_id)
GROUP BY s.file_path, e.line ORDER BY s.file_path, e.line
"""


def options(reader: FileReader) -> dict[str, Any]:
    """The source's CSV options as DuckDB's read_csv takes them."""
    s = reader.source
    quote = s.quote if s.quote is not None else '"'
    opts: dict[str, Any] = {
        "header": s.header is not False,
        "delim": s.delimiter or ",",
        "quote": quote,
        "escape": s.escape if s.escape is not None else quote,
        "encoding": s.encoding or "utf-8",
        "nullstr": list(s.null_values if s.null_values is not None else [""]),
    }
    if s.skip_rows:
        opts["skip"] = int(s.skip_rows)
    if s.date_format:
        opts["dateformat"] = s.date_format
    if s.timestamp_format:
        opts["timestampformat"] = s.timestamp_format
    return opts


def _header(reader: FileReader, f: SourceFile) -> list[str]:
    s = reader.source
    encoding = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}[
        s.encoding or "utf-8"
    ]
    # Decode only as far as the header: an invalid byte in a data row is DuckDB's to reject
    # (as that row), it must not fail the header.
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = ""
    skip = s.skip_rows or 0
    with open(f.path, "rb") as fh:
        try:
            while text.count("\n") <= skip:
                chunk = fh.read(8192)
                text += decoder.decode(chunk, final=not chunk)
                if not chunk:
                    break
        except UnicodeError:  # e.g. utf-16 without its byte-order mark
            text = "\ufffd\n" * (skip + 1)
    lines = text.split("\n")
    first = lines[skip].rstrip("\r") if len(lines) > skip else ""
    if "\ufffd" in first:
        raise SourceError(
            f"the header is not {s.encoding or 'utf-8'} text",
            source=reader.name,
            file=f.path,
            line=1 + skip,
            hint=f"set encoding: in sources.{reader.name} (utf-8, utf-16 or latin-1)",
        )
    if not first.strip():
        return []
    fields = csv.reader(io.StringIO(first), delimiter=s.delimiter or ",", quotechar=s.quote or '"')
    return [c.strip() for c in next(fields)]


def _sniff_types(reader: FileReader, f: SourceFile) -> dict[str, str]:
    """DuckDB's type inference on a sample of the file ({} if the sniffer gives up)."""
    import sqlglot.expressions as exp

    from medallion.sqltree import col

    sniff = call("sniff_csv", lit(str(f.path)), **options(reader))
    try:
        rows = reader.execute(exp.select(col("Columns")).from_(sniff))
        return {c["name"]: c["type"] for c in rows[0][0]} if rows else {}
    except Exception:
        return {}


def plan(reader: FileReader, files: list[SourceFile], result: ReadResult) -> list[Plan]:
    """One read_csv per group of files sharing a header."""
    import sqlglot.expressions as exp

    s = reader.source
    groups: dict[tuple[str, ...], list[SourceFile]] = {}
    if s.header is False:
        if not s.columns:
            raise SourceError(
                "a CSV source without a header row needs its columns listed",
                source=reader.name,
                key=f"sources.{reader.name}.columns",
                hint="add `columns: {name: TYPE, ...}` in the order of the file's fields",
            )
        groups[tuple(s.columns)] = list(files)
    else:
        for f in files:
            header = _header(reader, f)
            if not header:
                continue  # an empty file holds no rows
            dupes = sorted({c for c in header if header.count(c) > 1})
            if dupes or "" in header:
                what = (
                    f"duplicate column names: {', '.join(dupes)}"
                    if dupes
                    else "an empty column name"
                )
                raise SourceError(
                    f"{f.rel}: the header has {what}",
                    source=reader.name,
                    file=f.path,
                    line=1 + (s.skip_rows or 0),
                    hint="every column needs a distinct name in the header row",
                )
            _check_header(reader, f, header)
            groups.setdefault(tuple(header), []).append(f)
    # Types are decided once per column name, before reading, so every file group agrees.
    types = dict(reader.types)
    for columns, group in groups.items():
        if any(c not in types for c in columns):
            sniffed = _sniff_types(reader, group[0])
            for c in columns:
                types.setdefault(c, sniffed.get(c, "VARCHAR"))
    plans = []
    for columns, group in groups.items():
        col_types = {c: types[c] for c in columns}
        tag = reader.tag()
        scan, errors = f"medallion_rejects_scan_{tag}", f"medallion_rejects_{tag}"
        read = call(
            "read_csv",
            paths(group),
            **options(reader),
            columns=col_types,
            auto_detect=False,
            filename=True,
            store_rejects=True,
            rejects_scan=scan,
            rejects_table=errors,
        )
        plans.append(Plan(exp.select(exp.Star()).from_(read), col_types, group, (scan, errors)))
    return plans


def _check_header(reader: FileReader, f: SourceFile, header: list[str]) -> None:
    """A header lacking a declared column, or sharing no column with the bronze table, would
    load as rows of NULLs (or a new column holding whole lines): the file is refused."""
    s = reader.source
    missing = [c for c in s.columns if c not in header]
    unrelated = bool(reader.existing) and not set(header) & set(reader.existing)
    if not missing and not unrelated:
        return
    what = (
        f"lacks the declared column(s) {', '.join(missing)}"
        if missing
        else f"shares no column with bronze.{reader.name} ({', '.join(reader.existing[:8])})"
    )
    shown = ", ".join(header)
    hint = "fix the file (or `columns:` in medallion.yml), then run again"
    if len(header) == 1 and any(ch in header[0] for ch in ",;|\t"):
        hint = "the header reads as one column: is the delimiter right? Set `delimiter:` on "
        hint += "the source in medallion.yml"
    raise SourceError(
        f"the header {what}; header: {shown[:200]}",
        source=reader.name,
        file=f.path,
        line=1 + (s.skip_rows or 0),
        hint=hint,
    )


def rejects(reader: FileReader, plan: Plan) -> list[Reject]:
    """The rows DuckDB rejected while the plan's read ran."""
    import sqlglot
    import sqlglot.expressions as exp

    assert plan.rejects_tables is not None
    scan, errors = plan.rejects_tables
    by_path = {str(f.path): f.rel for f in plan.group}
    query = sqlglot.parse_one(_REJECTS_SQL, dialect="duckdb")
    for t in query.find_all(exp.Table):
        t.set("this", exp.Identifier(this=scan if t.name == "scan" else errors, quoted=True))
    try:
        rows = reader.execute(query)
    finally:
        reader.drop(errors)
        reader.drop(scan)
    return [
        Reject(by_path.get(p, p), int(line) if line is not None else None, raw or "", err)
        for p, line, raw, err in rows
    ]
