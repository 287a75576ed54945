"""JSON files (newline-delimited or one array): read whole by DuckDB when every record
parses; otherwise a newline-delimited file is read line by line, each malformed line or
non-object a Reject. An array file that does not parse (cut off, not JSON) cannot be read at
all: it fails the ingest, naming the file — it is not one rejected "row".

Integer and decimal columns are read as the JSON text of their values and converted with a
check: DuckDB's JSON reader, its types detected on a sample, would round 1.5 met later in a
BIGINT column to 2."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from medallion.engine.duckdb.types import type_class
from medallion.errors import SourceError, first_line
from medallion.ingest.files.reader import Plan, ReadResult, Reject, call
from medallion.sqltree import lit

if TYPE_CHECKING:
    from collections.abc import Iterator

    import sqlglot.expressions as exp

    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import FileReader


def _read(
    path: str, fmt: str, types: dict[str, str] | None = None, name: str | None = None
) -> exp.Select:
    """SELECT * FROM read_json(path, ...); with `types`, exactly those columns (no detection);
    `name`: the file `filename` says (the original of a temporary copy)."""
    import sqlglot.expressions as exp

    options: dict[str, object] = {"format": fmt, "records": True}
    if types is not None:
        options.update(columns=types, auto_detect=False)
    options["filename"] = True
    read = call("read_json", lit(path), **options)
    if name is None:
        return exp.select(exp.Star()).from_(read)
    return exp.select(exp.Star(except_=[exp.column("filename")]), lit(name).as_("filename")).from_(
        read
    )


def _as_written(
    reader: FileReader, path: str, fmt: str, detected: dict[str, str], name: str | None = None
) -> exp.Select | None:
    """The read with the columns declared VARCHAR kept as the text in the file (DuckDB's
    detection would turn '2024-03-05T14:22:10Z' into a timestamp, and casting that back
    changes the text), and integer and decimal columns read as text, to be converted with a
    check. None when the file has no such column."""
    declared = {c for c, t in reader.source.columns.items() if t.upper() == "VARCHAR"}
    numeric = {
        c
        for c, t in detected.items()
        if type_class(reader.types.get(c, t)) in ("integer", "decimal")
    }
    as_text = (declared & set(detected)) | numeric
    if not as_text:
        return None
    types = {c: ("VARCHAR" if c in as_text else t) for c, t in detected.items()}
    return _read(path, fmt, types, name)


def _plan(reader: FileReader, f: SourceFile, path: str, fmt: str) -> Plan:
    """The plan of one file's read (of `path`: the file or its valid lines), with the types
    its text columns are converted to."""
    name = None if path == str(f.path) else str(f.path)
    query = _read(path, fmt, name=name)
    detected = reader.columns_of(query)
    query = _as_written(reader, path, fmt, detected, name) or query
    columns = reader.columns_of(query)
    types = {c: t for c, t in detected.items() if columns.get(c) != t}
    return Plan(query, columns, [f], types=types)


def plan(reader: FileReader, files: list[SourceFile], result: ReadResult) -> list[Plan]:
    """One read_json per file (or per file's valid lines)."""
    import sqlglot.expressions as exp

    fmt = reader.source.json_format or "auto"
    plans = []
    for f in files:
        # records=true: a line that is not an object (42, "text", [..]) fails this read and
        # the file takes the line-by-line path; DuckDB's default (records='auto') read such a
        # file as one `json` column, every row NULL in the source's own columns
        query = _read(str(f.path), fmt)
        try:
            # a full parse here finds malformed records before anything is streamed
            reader.execute(exp.select(exp.Count(this=exp.Star())).from_(query.subquery()))
            # DuckDB reads an array cut right after a comma (`[{..},{..},`) as the objects
            # before the cut: an array must end with its `]`
            if not _looks_like_array(f.path) or _array_closed(f.path):
                plans.append(_plan(reader, f, str(f.path), fmt))
                continue
            err = "the array is never closed (no `]` at the end of the file)"
        except Exception as e:
            err = first_line(e)
        if fmt == "array" or _looks_like_array(f.path):
            raise SourceError(
                f"cannot read {f.rel}: it is not a JSON array of objects (cut off, or not "
                f"JSON?): {err}",
                source=reader.name,
                file=f.path,
                hint="replace the file with a complete copy and run again; nothing of this "
                "ingest was written",
            )
        good, bad = split_json_lines(f.path)
        result.rejects.extend(Reject(f.rel, n, raw, msg, kind=kind) for n, raw, msg, kind in bad)
        if good is None:
            continue
        result.cleanup.append(good)
        plans.append(_plan(reader, f, str(good), "newline_delimited"))
    return plans


def _looks_like_array(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _array_closed(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        return fh.read().rstrip(b" \t\r\n").endswith(b"]")


#: the reason of a line whose bytes are not UTF-8 (the CSV reader's words for its encoding)
NOT_UTF8 = "the text is not valid utf-8"


def split_json_lines(path: Path) -> tuple[Path | None, list[tuple[int, str, str, str]]]:
    """Slow path for a newline-delimited JSON file DuckDB rejected: validate line by line (the
    ingest's, and `init --from`'s sample of the file).

    A line whose bytes are not UTF-8 (JSON's only encoding) is rejected, not read with
    replacement characters: that would load text the file does not hold.

    Returns a temporary file holding the valid lines (None if there are none) and the bad lines as
    (line number, raw text, reason, kind of reason)."""
    bad: list[tuple[int, str, str, str]] = []
    fd, tmp = tempfile.mkstemp(suffix=".ndjson", prefix="medallion-")
    good = 0
    with os.fdopen(fd, "w", encoding="utf-8") as out, open(path, "rb") as fh:
        for n, data in enumerate(_lines(fh), start=1):
            if n == 1:
                data = data.removeprefix(b"\xef\xbb\xbf")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raw = data.decode("utf-8", errors="replace")
                why = f"invalid UTF-8 byte 0x{data[e.start]:02x} at byte {e.start + 1} of the line"
                bad.append((n, raw, f"{why}: the file is not utf-8 encoded", NOT_UTF8))
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                bad.append(
                    (n, text, f"malformed JSON: {e.msg} at column {e.colno}", "malformed JSON")
                )
                continue
            if not isinstance(value, dict):
                got = type(value).__name__
                bad.append((n, text, f"expected a JSON object, got {got}", "not a JSON object"))
                continue
            out.write(text + "\n")
            good += 1
    if good == 0:
        os.unlink(tmp)
        return None, bad
    return Path(tmp), bad


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The lines of a binary file without their ends: `\\n`, `\\r\\n` or a lone `\\r` (as a
    text file opened with newline="" splits them), read a chunk at a time."""
    pending: list[bytes] = []
    while chunk := fh.read(1 << 20):
        while chunk.endswith(b"\r"):  # its `\n` may be the next chunk's first byte
            more = fh.read(1)
            if not more:
                break
            chunk += more
        parts = _LINE_END.split(chunk)
        if len(parts) == 1:
            pending.append(chunk)
            continue
        yield b"".join([*pending, parts[0]])
        yield from parts[1:-1]
        pending = [parts[-1]]
    if any(pending):
        yield b"".join(pending)
