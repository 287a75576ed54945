"""CSV files: the header of each file decides its group; types are declared, already in the
bronze table, or sniffed by DuckDB once per new column; rows DuckDB cannot parse (too many or
too few fields, a value that does not convert, invalid UTF-8) are kept by DuckDB's `store_rejects`
and returned as Rejects with their line and raw text.

DuckDB's CSV reader rounds where a user expects a rejection ('1.5' in a BIGINT column is 2,
'1.234' in DECIMAL(12,2) is 1.23, '2024-01-05x' is a DATE): columns of such types are read as
text and converted by the reader with a check (`engine.duckdb.types.conversion`). Those rejects
have no line; the rows whose value does not convert at all get theirs back from DuckDB's reader
(`rejects`), so only a value that converts but changes (the new kind of reject) lacks one."""

from __future__ import annotations

import codecs
import csv
import io
import re
from typing import TYPE_CHECKING, Any

from medallion.engine.duckdb.types import parses_lossily
from medallion.errors import SourceError
from medallion.ingest.files.reader import Plan, ReadResult, Reject, call, paths
from medallion.sqltree import lit

if TYPE_CHECKING:
    import sqlglot.expressions as exp

    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import FileReader

#: the rejects DuckDB kept, one row per bad line (a constant query; its tables are renamed):
#: file, line, the raw line, the error text, the first error's type and column, and whether all
#: of the line's errors are CAST errors
_REJECTS_SQL = """
SELECT s.file_path, e.line, any_value(e.csv_line),
       concat_ws('; ',
           min_by(e.error_type || ': ' || e.error_message, e.column_idx)
               FILTER (e.error_type = 'MISSING COLUMNS'),
           string_agg(e.error_type || ': ' || e.error_message, '; ' ORDER BY e.column_idx)
               FILTER (e.error_type <> 'MISSING COLUMNS')),
       min_by(e.error_type, e.column_idx), min_by(e.column_name, e.column_idx),
       bool_and(e.error_type = 'CAST')
FROM errors e JOIN scan s USING (scan_id, file_id)
GROUP BY s.file_path, e.line ORDER BY s.file_path, e.line
"""

#: what a CSV reader error type means, for counting rejects by reason
_KINDS = {
    "MISSING COLUMNS": "too few fields",
    "TOO MANY COLUMNS": "too many fields",
    "UNQUOTED VALUE": "a quote is not closed or a value is not quoted",
    "LINE SIZE OVER MAXIMUM": "the line is too long",
}
#: DuckDB's error types for bytes its encoding cannot decode (the name changed across versions)
_ENCODING_ERRORS = ("INVALID ENCODING", "INVALID UNICODE")


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
        # read as text what DuckDB's CSV parsing could change instead of rejecting
        as_read = {c: "VARCHAR" if parses_lossily(t) else t for c, t in col_types.items()}
        tag = reader.tag()
        scan, errors = f"medallion_rejects_scan_{tag}", f"medallion_rejects_{tag}"
        read = _read_csv(reader, group, as_read, scan, errors)
        plans.append(
            Plan(exp.select(exp.Star()).from_(read), as_read, group, (scan, errors), col_types)
        )
    return plans


def _read_csv(
    reader: FileReader, group: list[SourceFile], types: dict[str, str], scan: str, errors: str
) -> exp.Expression:
    return call(
        "read_csv",
        paths(group),
        **options(reader),
        columns=types,
        auto_detect=False,
        filename=True,
        store_rejects=True,
        rejects_scan=scan,
        rejects_table=errors,
    )


def _check_header(reader: FileReader, f: SourceFile, header: list[str]) -> None:
    """A header lacking a declared column, or sharing no column with the bronze table, would
    load as rows of NULLs (or a new column holding whole lines): the file is refused. Names
    that differ only in case are said to (column names are matched exactly)."""
    s = reader.source
    missing = [c for c in s.columns if c not in header]
    unrelated = bool(reader.existing) and not set(header) & set(reader.existing)
    if not missing and not unrelated:
        _refuse_case_clash(reader, f, header)
        return
    what = (
        f"lacks the declared column(s) {', '.join(missing)}"
        if missing
        else f"shares no column with bronze.{reader.name} ({', '.join(reader.existing[:8])})"
    )
    shown = ", ".join(header)[:200]
    hint = "fix the file (or `columns:` in medallion.yml), then run again"
    cased = _case_only(missing if missing else reader.existing, header)
    if len(header) == 1 and any(ch in header[0] for ch in ",;|\t"):
        hint = "the header reads as one column: is the delimiter right? Set `delimiter:` on "
        hint += "the source in medallion.yml"
    elif cased:
        pairs = ", ".join(f"{h} for {c}" for c, h in cased.items())
        shown += f" (differs only in case: {pairs}; column names match exactly)"
        hint = (
            f"write the header's names as bronze.{reader.name} has them "
            f"({', '.join(cased)}) and run again"
            if not missing
            else f"write the header's names as declared in sources.{reader.name}.columns "
            f"({', '.join(cased)}), or declare them as the file writes them"
        )
    raise SourceError(
        f"the header {what}; header: {shown}",
        source=reader.name,
        file=f.path,
        line=1 + (s.skip_rows or 0),
        hint=hint,
    )


def _refuse_case_clash(reader: FileReader, f: SourceFile, header: list[str]) -> None:
    """A header column that is a column of the table in another case (`Amount` beside the
    table's `amount`) cannot be a new column: Delta's column names ignore case."""
    clash = {h: c for c, h in _case_only(reader.existing, header).items()}
    if not clash:
        return
    pairs = ", ".join(f"{h} for {c}" for h, c in clash.items())
    raise SourceError(
        f"the header has {', '.join(clash)}, which differ{'s' if len(clash) == 1 else ''} from "
        f"the columns of bronze.{reader.name} only in case ({pairs}): a Delta table's column "
        "names ignore case, so it cannot be a new column",
        source=reader.name,
        file=f.path,
        line=1 + (reader.source.skip_rows or 0),
        hint=f"write the header's names as bronze.{reader.name} has them "
        f"({', '.join(clash.values())}) and run again",
    )


def _case_only(wanted: list[str], header: list[str]) -> dict[str, str]:
    """Each of `wanted` that `header` has only in another case -> the header's spelling."""
    by_lower = {h.lower(): h for h in header}
    return {c: by_lower[c.lower()] for c in wanted if c not in header and c.lower() in by_lower}


def rejects(reader: FileReader, plan: Plan, converted: list[Reject]) -> list[Reject]:
    """The rows DuckDB rejected while the plan's read ran, and those the conversion of its text
    columns rejected (`converted`, in the order of the files), the latter with their line and
    raw line where DuckDB's reader can tell them (see `_locate`)."""
    found = _stored_rejects(reader, plan, plan.rejects_tables, plan.columns)
    seen = {(r.file, r.line) for r in found}
    return found + _locate(reader, plan, converted, seen)


def _stored_rejects(
    reader: FileReader,
    plan: Plan,
    tables: tuple[str, str] | None,
    types: dict[str, str],
    only_cast: bool = False,
) -> list[Reject]:
    """The rejects DuckDB stored in `tables` (scan, errors) while a read ran (dropped after)."""
    import sqlglot
    import sqlglot.expressions as exp

    assert tables is not None
    scan, errors = tables
    by_path = {str(f.path): f.rel for f in plan.group}
    query = sqlglot.parse_one(_REJECTS_SQL, dialect="duckdb")
    for t in query.find_all(exp.Table):
        t.set("this", exp.Identifier(this=scan if t.name == "scan" else errors, quoted=True))
    try:
        rows = reader.execute(query)
    finally:
        reader.drop(errors)
        reader.drop(scan)
    found = []
    for p, line, raw, err, error_type, column, all_cast in rows:
        if only_cast and not all_cast:
            continue
        if error_type == "CAST":
            kind = f"does not convert to {plan.types.get(column) or types.get(column, '?')}"
        elif error_type in _ENCODING_ERRORS:
            enc = reader.source.encoding or "utf-8"
            kind, column = f"the text is not valid {enc}", None
            # the file is in another encoding more often than it is broken
            err = (
                f"{err} (the bytes are not {enc} text: if the file is in another encoding, set "
                f"`encoding:` in sources.{reader.name} (utf-8, utf-16, latin-1), then `medallion "
                f"run --full-refresh {reader.name}` reads these rows again)"
            )
        else:
            kind, column = _KINDS.get(error_type, str(error_type).lower()), None
        line = int(line) if line is not None else None
        err = _CAST_ERROR.sub(lambda m: _cast_error(m, plan.types, types), err or "")
        more = (raw or "").rstrip("\r\n").count("\n")
        if more:  # a quote left open: the rows of the lines after it are in this one
            to = f", to line {line + more}" if line is not None else ""
            kind = f"{kind}; a row ran on over the {more:,} lines after it{to}"
            err = f"{err} (the row takes up {more + 1:,} lines{to}: rows lost into it)"
        found.append(Reject(by_path.get(p, p), line, raw or "", err, column=column, kind=kind))
    return found


#: DuckDB's CSV reader's words for a value that does not convert
_CAST_ERROR = re.compile(
    r"CAST: Error when converting column \"(.*?)\"\. Could not convert string \"(.*?)\" to "
    r"'[^']*'"
)


def _cast_error(m: re.Match[str], *types: dict[str, str]) -> str:
    """A CAST error in the words of the rows the reader's own conversion rejects (it names the
    type the column is to have, not the one DuckDB read it as)."""
    column, value = m.group(1), m.group(2)
    typ = next((t[column] for t in types if column in t), "?")
    return f'{column}: "{value[:80]}" does not convert to {typ}'


def _locate(
    reader: FileReader, plan: Plan, converted: list[Reject], seen: set[tuple[str, int | None]]
) -> list[Reject]:
    """`converted` with the line and raw line of each row whose value does not convert at all:
    DuckDB's reader, reading those files with the columns' types, rejects the same rows (as it
    did before they were read as text), with their lines. Its rows and ours are paired in file
    order when they agree (as many of each, the same first column each); a file where they do
    not (DuckDB's parser is laxer: it takes '2024-01-05x' as a DATE) keeps its rejects without
    lines. A value that converts but changes (1.5 as a BIGINT) is no error to DuckDB: no line.
    `seen`: (file, line) of the rows the first read rejected already (they are rejected again).

    This reads those files again, so it runs only for files with such values."""
    import sqlglot.expressions as exp

    from medallion.sqltree import col

    ours: dict[str, list[int]] = {}  # file -> positions in `converted`, in file order
    for i, r in enumerate(converted):
        if r.kind.startswith("does not convert"):
            ours.setdefault(r.file, []).append(i)
    if not ours:
        return converted
    group = [f for f in plan.group if f.rel in ours]
    tag = reader.tag()
    tables = (f"medallion_rejects_scan_{tag}", f"medallion_rejects_{tag}")
    typed = {c: plan.types.get(c, t) for c, t in plan.columns.items()}
    retyped = [c for c in plan.columns if typed[c] != plan.columns[c]]
    read = _read_csv(reader, group, typed, *tables)
    try:
        # counting the retyped columns makes DuckDB convert them (and reject what fails)
        reader.execute(exp.select(*[exp.Count(this=col(c)) for c in retyped]).from_(read))
        located = _stored_rejects(reader, plan, tables, typed, only_cast=True)
    except Exception:  # no lines then; the rejects themselves are complete
        reader.drop(tables[1])
        reader.drop(tables[0])
        return converted
    theirs: dict[str, list[Reject]] = {}
    for r in located:
        if (r.file, r.line) not in seen:
            theirs.setdefault(r.file, []).append(r)
    out = list(converted)
    for file, positions in ours.items():
        found = theirs.get(file, [])
        pairs = list(zip(positions, found, strict=False))
        if len(found) != len(positions) or any(converted[i].column != t.column for i, t in pairs):
            continue
        for i, t in pairs:
            r = converted[i]
            out[i] = Reject(r.file, t.line, t.raw, r.error, r.column, r.kind)
    return out
