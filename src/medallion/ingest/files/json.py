"""JSON files (newline-delimited or one array): read whole by DuckDB when every record
parses; otherwise a newline-delimited file is read line by line, each malformed line or
non-object a Reject, and an array file that does not parse is one Reject."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.errors import first_line
from medallion.ingest.files.reader import MAX_RAW_BYTES, Plan, ReadResult, Reject, call
from medallion.sqltree import lit

if TYPE_CHECKING:
    import sqlglot.expressions as exp

    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import FileReader


def _read(path: str, fmt: str, types: dict[str, str] | None = None) -> exp.Select:
    """SELECT * FROM read_json(path, ...); with `types`, exactly those columns (no detection)."""
    import sqlglot.expressions as exp

    options: dict[str, object] = {"format": fmt, "records": True}
    if types is not None:
        options.update(columns=types, auto_detect=False)
    options["filename"] = True
    return exp.select(exp.Star()).from_(call("read_json", lit(path), **options))


def _as_written(
    reader: FileReader, path: str, fmt: str, detected: dict[str, str]
) -> exp.Select | None:
    """The read with the columns declared VARCHAR kept as the text in the file: DuckDB's
    detection would turn '2024-03-05T14:22:10Z' into a timestamp, and casting that back
    changes the text. None when no declared VARCHAR column is in the file."""
    declared = {c for c, t in reader.source.columns.items() if t.upper() == "VARCHAR"}
    if not declared & set(detected):
        return None
    return _read(path, fmt, {c: ("VARCHAR" if c in declared else t) for c, t in detected.items()})


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
            detected = reader.columns_of(query)
            query = _as_written(reader, str(f.path), fmt, detected) or query
            plans.append(Plan(query, reader.columns_of(query), [f]))
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
        lines = call(
            "read_json", lit(str(good)), format="newline_delimited", records=True, filename=True
        )
        query = exp.select(
            exp.Star(except_=[exp.column("filename")]),
            lit(str(f.path)).as_("filename"),
        ).from_(lines)
        plans.append(Plan(query, reader.columns_of(query), [f]))
    return plans


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
