"""File sources: discovery by glob, and reading CSV / JSON / Parquet into Arrow streams.

Reading is DuckDB's (fast, parallel, streaming). What DuckDB would skip or fail on is *rescued*:
every row that cannot be parsed — too many or too few fields, a value that does not convert to
the column's type, invalid UTF-8, a malformed JSON line, an unreadable file — becomes a `Reject`
with the file, the line, the raw text and the reason; the caller lands those in the bronze
quarantine table. Nothing is dropped silently.

File identity is (path relative to the project, size, a fingerprint of the first and last MiB of
content): a file whose content changes is a new file, while copying, moving or `touch`ing a
project (which changes modification times) re-ingests nothing. The fingerprint reads at most 2 MiB
per file, whatever its size; a rewrite that changes only the middle of a file and keeps its size
exactly is the one change it does not see (then use `medallion run --full-refresh SOURCE`).
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import itertools
import json
import os
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError, first_line

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from medallion.config.schema import FileSource

AUDIT_COLUMNS = ("_source_file", "_ingested_at", "_run_id")
#: a rejected whole file (unreadable JSON array, corrupt Parquet) keeps at most this much raw text
MAX_RAW_BYTES = 1 << 20
_counter = itertools.count()


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    rel: str  # as recorded: relative to the project root when inside it
    size: int
    fingerprint: str

    @property
    def identity(self) -> tuple[str, int, str]:
        return (self.rel, self.size, self.fingerprint)


@dataclass
class Reject:
    file: str
    line: int | None
    raw: str
    error: str


@dataclass
class ReadResult:
    """A stream of good rows; `rejects` is complete once the stream has been consumed."""

    reader: pa.RecordBatchReader
    rejects: list[Reject] = field(default_factory=list)
    #: temporary files to delete once the stream is consumed
    cleanup: list[Path] = field(default_factory=list)
    #: the generator behind `reader`: closed by close(), since an unread one refers back to this
    #: result through a cycle the garbage collector cannot see (pyarrow's reader is opaque to
    #: it), which kept DuckDB objects alive to the end of the process
    batches: Generator[Any, None, None] | None = None
    #: the error that ended the stream, if one did (to raise it as is, not as the writer's)
    error: SourceError | None = None

    def close(self) -> None:
        if self.batches is not None:
            self.batches.close()
        for path in self.cleanup:
            path.unlink(missing_ok=True)


def discover(root: Path, source: FileSource, name: str) -> list[SourceFile]:
    """Files matching the source's patterns, sorted by path, each once."""
    found: dict[Path, SourceFile] = {}
    real_root = root.resolve()
    for pattern in source.paths:
        full = pattern if os.path.isabs(pattern) else str(root / pattern)
        matches = sorted(glob.glob(full, recursive=True))
        files = [Path(m) for m in matches if os.path.isfile(m)]
        if not files:
            raise SourceError(
                f"no file matches {pattern!r}",
                source=name,
                key=f"sources.{name}.path",
                hint="paths are relative to the project folder; check the name and the glob "
                "(`medallion generate` writes the template's data files)",
            )
        for f in files:
            st = f.stat()
            resolved = f.resolve()
            try:
                rel = resolved.relative_to(real_root).as_posix()
            except ValueError:
                rel = resolved.as_posix()
            if resolved not in found:
                found[resolved] = SourceFile(
                    resolved, rel, st.st_size, _fingerprint_of(resolved, st)
                )
    return sorted(found.values(), key=lambda f: f.rel)


FINGERPRINT_BYTES = 1 << 20
#: fingerprints computed by this process, by (path, size, mtime, inode): a long-lived process
#: (`run --watch` polling a folder) reads each unchanged file once, not on every poll
_fingerprints: dict[tuple[Path, int, int, int], str] = {}


def _fingerprint_of(path: Path, st: os.stat_result) -> str:
    key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
    value = _fingerprints.get(key)
    if value is None:
        if len(_fingerprints) > 100_000:
            _fingerprints.clear()
        value = _fingerprints[key] = fingerprint(path)
    return value


def fingerprint(path: Path) -> str:
    """A hash of a file's first and last MiB (and its size): cheap whatever the file size."""
    import hashlib

    digest = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as fh:
        digest.update(fh.read(FINGERPRINT_BYTES))
        size = fh.seek(0, 2)
        if size > FINGERPRINT_BYTES:
            fh.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            digest.update(fh.read(FINGERPRINT_BYTES))
    digest.update(str(size).encode())
    return digest.hexdigest()


def _q(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _list_literal(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _struct_literal(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_q(k)}: {_q(v)}" for k, v in columns.items()) + "}"


@dataclass
class _Plan:
    """One DuckDB read over a group of files: SQL yielding the data columns plus `filename`."""

    sql: str
    columns: dict[str, str]  # data column -> DuckDB type, in file order
    group: list[SourceFile]
    #: CSV: (rejects_scan, rejects_table) names DuckDB fills while the read runs
    rejects_tables: tuple[str, str] | None = None


class FileReader:
    """Reads a batch of files of one source into one Arrow stream with one schema.

    Files may differ (a column added in later files, JSON objects with other keys): the stream's
    schema is the union of their columns in order of appearance; a file lacking a column gives
    nulls. A column's type is the user's declared type, else the bronze table's existing type,
    else what the first file having it suggests; values that do not convert are rejected rows."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: FileSource,
        name: str,
        *,
        known_types: dict[str, str] | None = None,
    ) -> None:
        self.con = con
        self.source = source
        self.name = name
        self.types = {**(known_types or {}), **{k: v.upper() for k, v in source.columns.items()}}
        #: the bronze table's columns so far (a new file sharing none of them is misread)
        self.existing = [c for c in (known_types or {}) if c not in AUDIT_COLUMNS]

    def read(self, files: list[SourceFile], *, ingested_at: datetime, run_id: str) -> ReadResult:
        """Good rows of `files` as one stream with the audit columns; rejects once consumed."""
        import pyarrow as pa

        result = ReadResult(reader=None)  # type: ignore[arg-type]
        fmt = self.source.file_format
        if fmt == "csv":
            plans = self._plan_csv(files)
        elif fmt == "json":
            plans = self._plan_json(files, result)
        else:
            plans = self._plan_parquet(files, result)

        unified: dict[str, str] = {}
        for plan in plans:
            for col, typ in plan.columns.items():
                if col in AUDIT_COLUMNS:
                    raise SourceError(
                        f"column {col!r} clashes with medallion's audit column of the same name",
                        source=self.name,
                        file=plan.group[0].path,
                        hint="rename the column in the file",
                    )
                unified.setdefault(col, self.types.get(col, typ))
        if not unified:
            result.reader = pa.RecordBatchReader.from_batches(pa.schema([]), iter(()))
            return result
        audit = (
            f"TIMESTAMPTZ {_q(ingested_at.isoformat())} AS _ingested_at, {_q(run_id)} AS _run_id"
        )
        select = ", ".join(f"NULL::{t} AS {_ident(c)}" for c, t in unified.items())
        try:
            schema = (
                self.con.sql(f"SELECT {select}, NULL::VARCHAR AS _source_file, {audit} LIMIT 0")
                .arrow()
                .schema
            )
        except Exception as e:
            raise SourceError(
                f"invalid column type: {first_line(e)}",
                source=self.name,
                key=f"sources.{self.name}.columns",
                hint="use DuckDB type names: INTEGER, BIGINT, DOUBLE, DECIMAL(12,2), DATE, "
                "TIMESTAMP, VARCHAR, BOOLEAN",
            ) from None

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for plan in plans:
                    for batch in self._stream_plan(plan, unified, audit, result):
                        yield batch if batch.schema.equals(schema) else batch.cast(schema)
            except SourceError as e:
                result.error = e  # the Delta writer consuming the stream wraps it in its own
                raise

        result.batches = batches()
        result.reader = pa.RecordBatchReader.from_batches(schema, result.batches)
        return result

    # -- CSV ------------------------------------------------------------------------------

    def _csv_options(self) -> dict[str, str]:
        s = self.source
        quote = s.quote if s.quote is not None else '"'
        opts = {
            "header": "true" if s.header is not False else "false",
            "delim": _q(s.delimiter or ","),
            "quote": _q(quote),
            "escape": _q(s.escape if s.escape is not None else quote),
            "encoding": _q(s.encoding or "utf-8"),
            "nullstr": _list_literal(s.null_values if s.null_values is not None else [""]),
        }
        if s.skip_rows:
            opts["skip"] = str(int(s.skip_rows))
        if s.date_format:
            opts["dateformat"] = _q(s.date_format)
        if s.timestamp_format:
            opts["timestampformat"] = _q(s.timestamp_format)
        return opts

    def _header(self, f: SourceFile) -> list[str]:
        s = self.source
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
                source=self.name,
                file=f.path,
                line=1 + skip,
                hint=f"set encoding: in sources.{self.name} (utf-8, utf-16 or latin-1)",
            )
        if not first.strip():
            return []
        reader = csv.reader(
            io.StringIO(first), delimiter=s.delimiter or ",", quotechar=s.quote or '"'
        )
        return [c.strip() for c in next(reader)]

    def _sniff_types(self, f: SourceFile) -> dict[str, str]:
        """DuckDB's type inference on a sample of the file ({} if the sniffer gives up)."""
        opts = self._csv_options()
        args = ", ".join(f"{k}={v}" for k, v in opts.items())
        try:
            # fetchall, not fetchone: DuckDB 2 refuses new work while a result is unfinished
            rows = self.con.execute(
                f"SELECT Columns FROM sniff_csv({_q(str(f.path))}, {args})"
            ).fetchall()
            return {c["name"]: c["type"] for c in rows[0][0]} if rows else {}
        except Exception:
            return {}

    def _plan_csv(self, files: list[SourceFile]) -> list[_Plan]:
        s = self.source
        groups: dict[tuple[str, ...], list[SourceFile]] = {}
        if s.header is False:
            if not s.columns:
                raise SourceError(
                    "a CSV source without a header row needs its columns listed",
                    source=self.name,
                    key=f"sources.{self.name}.columns",
                    hint="add `columns: {name: TYPE, ...}` in the order of the file's fields",
                )
            groups[tuple(s.columns)] = list(files)
        else:
            for f in files:
                header = self._header(f)
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
                        source=self.name,
                        file=f.path,
                        line=1 + (s.skip_rows or 0),
                        hint="every column needs a distinct name in the header row",
                    )
                self._check_header(f, header)
                groups.setdefault(tuple(header), []).append(f)
        # Types are decided once per column name, before reading, so every file group agrees.
        types = dict(self.types)
        for columns, group in groups.items():
            if any(c not in types for c in columns):
                sniffed = self._sniff_types(group[0])
                for c in columns:
                    types.setdefault(c, sniffed.get(c, "VARCHAR"))
        opts = ", ".join(f"{k}={v}" for k, v in self._csv_options().items())
        plans = []
        for columns, group in groups.items():
            col_types = {c: types[c] for c in columns}
            tag = next(_counter)
            scan, errors = f"medallion_rejects_scan_{tag}", f"medallion_rejects_{tag}"
            sql = (
                f"SELECT * FROM read_csv({_list_literal([str(f.path) for f in group])}, {opts}, "
                f"columns={_struct_literal(col_types)}, auto_detect=false, filename=true, "
                f"store_rejects=true, rejects_scan={_q(scan)}, rejects_table={_q(errors)})"
            )
            plans.append(_Plan(sql, col_types, group, (scan, errors)))
        return plans

    def _check_header(self, f: SourceFile, header: list[str]) -> None:
        """A header lacking a declared column, or sharing no column with the bronze table, would
        load as rows of NULLs (or a new column holding whole lines): the file is refused."""
        s = self.source
        missing = [c for c in s.columns if c not in header]
        unrelated = bool(self.existing) and not set(header) & set(self.existing)
        if not missing and not unrelated:
            return
        what = (
            f"lacks the declared column(s) {', '.join(missing)}"
            if missing
            else f"shares no column with bronze.{self.name} ({', '.join(self.existing[:8])})"
        )
        shown = ", ".join(header)
        hint = "fix the file (or `columns:` in medallion.yml), then run again"
        if len(header) == 1 and any(ch in header[0] for ch in ",;|\t"):
            hint = "the header reads as one column: is the delimiter right? Set `delimiter:` on "
            hint += "the source in medallion.yml"
        raise SourceError(
            f"the header {what}; header: {shown[:200]}",
            source=self.name,
            file=f.path,
            line=1 + (s.skip_rows or 0),
            hint=hint,
        )

    def _csv_rejects(self, plan: _Plan) -> list[Reject]:
        assert plan.rejects_tables is not None
        scan, errors = plan.rejects_tables
        by_path = {str(f.path): f.rel for f in plan.group}
        try:
            rows = self.con.execute(
                f"""
                SELECT s.file_path, e.line, any_value(e.csv_line),
                       concat_ws('; ',
                           -- one per missing column, each "Found: n" one more: the first says it
                           min_by(e.error_type || ': ' || e.error_message, e.column_idx)
                               FILTER (e.error_type = 'MISSING COLUMNS'),
                           string_agg(e.error_type || ': ' || e.error_message, '; '
                                      ORDER BY e.column_idx)
                               FILTER (e.error_type <> 'MISSING COLUMNS'))
                FROM {errors} e JOIN {scan} s USING (scan_id, file_id)
                GROUP BY s.file_path, e.line ORDER BY s.file_path, e.line
                """
            ).fetchall()
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {errors}")
            self.con.execute(f"DROP TABLE IF EXISTS {scan}")
        return [
            Reject(by_path.get(p, p), int(line) if line is not None else None, raw or "", err)
            for p, line, raw, err in rows
        ]

    # -- JSON -----------------------------------------------------------------------------

    def _describe(self, sql: str) -> dict[str, str]:
        rows = self.con.execute(f"DESCRIBE {sql}").fetchall()
        return {r[0]: r[1] for r in rows if r[0] != "filename"}

    def _as_written(self, path: str, fmt: str, detected: dict[str, str]) -> str | None:
        """The read with the columns declared VARCHAR kept as the text in the file: DuckDB's
        detection would turn '2024-03-05T14:22:10Z' into a timestamp, and casting that back
        changes the text. None when no declared VARCHAR column is in the file."""
        declared = {c for c, t in self.source.columns.items() if t.upper() == "VARCHAR"}
        if not declared & set(detected):
            return None
        types = {c: ("VARCHAR" if c in declared else t) for c, t in detected.items()}
        return (
            f"SELECT * FROM read_json({_q(path)}, format={_q(fmt)}, records=true, "
            f"columns={_struct_literal(types)}, auto_detect=false, filename=true)"
        )

    def _plan_json(self, files: list[SourceFile], result: ReadResult) -> list[_Plan]:
        fmt = self.source.json_format or "auto"
        plans = []
        for f in files:
            # records=true: a line that is not an object (42, "text", [..]) fails this read and
            # the file takes the line-by-line path; DuckDB's default (records='auto') read such a
            # file as one `json` column, every row NULL in the source's own columns
            sql = (
                f"SELECT * FROM read_json({_q(str(f.path))}, format={_q(fmt)}, records=true, "
                "filename=true)"
            )
            try:
                # a full parse here finds malformed records before anything is streamed
                self.con.execute(f"SELECT count(*) FROM ({sql})").fetchall()
                detected = self._describe(sql)
                sql = self._as_written(str(f.path), fmt, detected) or sql
                plans.append(_Plan(sql, self._describe(sql), [f]))
                continue
            except Exception as e:
                err = first_line(e)
            if fmt == "array" or _looks_like_array(f.path):
                result.rejects.append(
                    Reject(f.rel, None, _head(f.path), f"unreadable JSON file: {err}")
                )
                continue
            good, bad = _split_json_lines(f.path)
            result.rejects.extend(Reject(f.rel, n, raw, msg) for n, raw, msg in bad)
            if good is None:
                continue
            result.cleanup.append(good)
            # `filename` must name the original file, not the temporary one
            sql = (
                f"SELECT * EXCLUDE (filename), {_q(str(f.path))} AS filename FROM read_json("
                f"{_q(str(good))}, format='newline_delimited', records=true, filename=true)"
            )
            plans.append(_Plan(sql, self._describe(sql), [f]))
        return plans

    # -- Parquet --------------------------------------------------------------------------

    def _plan_parquet(self, files: list[SourceFile], result: ReadResult) -> list[_Plan]:
        readable: list[SourceFile] = []
        for f in files:
            try:
                self.con.execute(f"SELECT count(*) FROM read_parquet({_q(str(f.path))})").fetchall()
                readable.append(f)
            except Exception as e:
                result.rejects.append(
                    Reject(f.rel, None, "", f"unreadable Parquet file: {first_line(e)}")
                )
        if not readable:
            return []
        sql = (
            f"SELECT * FROM read_parquet({_list_literal([str(f.path) for f in readable])},"
            " filename=true, union_by_name=true)"
        )
        return [_Plan(sql, self._describe(sql), readable)]

    # -- streaming ------------------------------------------------------------------------

    def _stream_plan(
        self, plan: _Plan, unified: dict[str, str], audit: str, result: ReadResult
    ) -> Iterator[pa.RecordBatch]:
        """Batches of one plan, projected onto the unified columns, plus `_source_file`.

        Columns whose type differs from the unified type are converted; a row with a value that
        does not convert is rejected (raw row as JSON) rather than failing the load. Such plans
        are staged in a DuckDB temp table (spilling to disk if large) so good and rejected rows
        come from one read of the files."""
        to_convert = {
            c: unified[c] for c, t in plan.columns.items() if t.upper() != unified[c].upper()
        }
        source_file = f"{_source_file_sql(plan.group)} AS _source_file"

        def projection(frm: str) -> str:
            cols = []
            for c, t in unified.items():
                if c not in plan.columns:
                    cols.append(f"NULL::{t} AS {_ident(c)}")
                elif c in to_convert:
                    cols.append(f"TRY_CAST({_ident(c)} AS {t}) AS {_ident(c)}")
                else:
                    cols.append(_ident(c))
            return f"SELECT {', '.join(cols)}, {source_file}, {audit} FROM {frm}"

        if not to_convert:
            yield from self._run(projection(f"({plan.sql})"), plan)
        else:
            staged = f"medallion_stage_{next(_counter)}"
            check = " || ".join(
                f"CASE WHEN {_ident(c)} IS NOT NULL AND TRY_CAST({_ident(c)} AS {t}) IS NULL "
                f"THEN {_q(f'{c}: value does not convert to {t}; ')} ELSE '' END"
                for c, t in to_convert.items()
            )
            self._execute(
                f"CREATE TEMP TABLE {staged} AS SELECT *, NULLIF({check}, '') AS __medallion_error"
                f" FROM ({plan.sql})",
                plan,
            )
            try:
                good = f"(SELECT * FROM {staged} WHERE __medallion_error IS NULL)"
                yield from self._run(projection(good), plan)
                by_path = {str(f.path): f.rel for f in plan.group}
                bad = self.con.execute(
                    "SELECT filename, to_json(struct_pack(*COLUMNS(* EXCLUDE (filename, "
                    f"__medallion_error))))::VARCHAR, __medallion_error FROM {staged}"
                    " WHERE __medallion_error IS NOT NULL"
                ).fetchall()
                for path, raw, err in bad:
                    result.rejects.append(
                        Reject(by_path.get(path, path), None, raw, err.rstrip("; "))
                    )
            finally:
                self.con.execute(f"DROP TABLE IF EXISTS {staged}")
        if plan.rejects_tables:
            result.rejects.extend(self._csv_rejects(plan))

    def _run(self, sql: str, plan: _Plan) -> Iterator[pa.RecordBatch]:
        try:
            yield from self.con.sql(sql).arrow(batch_size=128 * 1024)
        except Exception as e:
            raise self._read_error(e, plan) from None

    def _execute(self, sql: str, plan: _Plan) -> None:
        try:
            self.con.execute(sql)
        except Exception as e:
            raise self._read_error(e, plan) from None

    def _read_error(self, e: Exception, plan: _Plan) -> SourceError:
        names = ", ".join(f.rel for f in plan.group[:3]) + (" ..." if len(plan.group) > 3 else "")
        return SourceError(
            f"cannot read {names}: {first_line(e)}",
            source=self.name,
            file=plan.group[0].path if len(plan.group) == 1 else None,
            hint="check the file format options of this source in medallion.yml",
        )


def _source_file_sql(group: list[SourceFile]) -> str:
    """Each row's file as recorded (`SourceFile.rel`), from DuckDB's `filename` column.

    When every file's path is one prefix followed by its recorded name (files inside the
    project), the prefix is cut off; otherwise a CASE maps each path. Why: a CASE is evaluated
    row by row against every branch, which cost 1.3 s per 1M rows read from 1,464 hourly files."""
    first = group[0]
    prefix = str(first.path)[: len(str(first.path)) - len(first.rel)]
    if all(str(f.path) == prefix + f.rel for f in group):
        return (
            f"CASE WHEN starts_with(filename, {_q(prefix)}) "
            f"THEN filename[{len(prefix) + 1}:] ELSE filename END"
        )
    return (
        "CASE filename "
        + " ".join(f"WHEN {_q(str(f.path))} THEN {_q(f.rel)}" for f in group)
        + " ELSE filename END"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _looks_like_array(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _head(path: Path) -> str:
    with open(path, "rb") as fh:
        data = fh.read(MAX_RAW_BYTES + 1)
    text = data[:MAX_RAW_BYTES].decode("utf-8", errors="replace")
    return text + ("…[truncated]" if len(data) > MAX_RAW_BYTES else "")


def _split_json_lines(path: Path) -> tuple[Path | None, list[tuple[int, str, str]]]:
    """Slow path for a newline-delimited JSON file DuckDB rejected: validate line by line.

    Returns a temporary file holding the valid lines (None if there are none) and the bad lines as
    (line number, raw text, reason)."""
    bad: list[tuple[int, str, str]] = []
    fd, tmp = tempfile.mkstemp(suffix=".ndjson", prefix="medallion-")
    good = 0
    with (
        os.fdopen(fd, "w", encoding="utf-8") as out,
        open(path, encoding="utf-8-sig", errors="replace", newline="") as fh,
    ):
        for n, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                bad.append((n, text, f"malformed JSON: {e.msg} at column {e.colno}"))
                continue
            if not isinstance(value, dict):
                bad.append((n, text, f"expected a JSON object, got {type(value).__name__}"))
                continue
            out.write(text + "\n")
            good += 1
    if good == 0:
        os.unlink(tmp)
        return None, bad
    return Path(tmp), bad
