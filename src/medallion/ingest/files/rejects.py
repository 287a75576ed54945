"""The rows a file source rejected: how many it may reject (`max_rejected`), and what to tell
the user about them — counted by column and reason, with the likely fix.

A few bad rows in a large drop are dirt, set aside in the quarantine. Many are a misconfigured
source — a wrong `date_format`, the wrong `encoding`, a wrong declared type — and quarantining
every row would hide it while the run succeeds with an empty table (Databricks fails a load past
its bad-record limit, Snowflake's COPY INTO skips a file past ON_ERROR = SKIP_FILE_n%). Past the
limit the ingest fails before its commit: bronze and its quarantine stay as they were.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medallion.errors import SourceError, display_value

if TYPE_CHECKING:
    from medallion.config.schema import FileSource
    from medallion.ingest.files.discover import SourceFile
    from medallion.ingest.files.reader import Reject


@dataclass
class Reason:
    """The rejects of one column (None: the row as a whole) for one reason."""

    column: str | None
    kind: str
    rows: int = 0
    files: Counter[str] = field(default_factory=Counter)
    #: the first reject of this reason (its file, line and raw text show what is wrong)
    example: Reject | None = None

    @property
    def text(self) -> str:
        return f"{self.column}: {self.kind}" if self.column else self.kind


def lines_of(reject: Reject) -> int:
    """The lines of the file a rejected row took up: more than one when a quote left open ran
    it on over the lines after it, which are rows of the file lost into this one."""
    return reject.raw.rstrip("\r\n").count("\n") + 1


def rejected_lines(rejects: list[Reject]) -> int:
    """The rows of the file the rejects stand for: each rejected row with the lines it ran on
    over (`lines_of`); what `max_rejected` and the messages count."""
    return sum(lines_of(r) for r in rejects)


def reasons(rejects: list[Reject]) -> list[Reason]:
    """The rejects by (column, reason), the most common first; rows counted as `lines_of`."""
    by: dict[tuple[str | None, str], Reason] = {}
    for r in rejects:
        key = (r.column, r.kind or r.error)
        reason = by.get(key)
        if reason is None:
            reason = by[key] = Reason(r.column, r.kind or r.error, example=r)
        reason.rows += lines_of(r)
        reason.files[r.file] += lines_of(r)
    return sorted(by.values(), key=lambda r: -r.rows)


def over_limit(source: FileSource, rows_read: int, rejected: int) -> bool:
    count, share = source.reject_limit
    if count is not None:
        return rejected > count
    assert share is not None
    return rows_read > 0 and rejected > rows_read * share / 100


def check_rejected(
    source: FileSource,
    name: str,
    rows_good: int,
    rejects: list[Reject],
    files: list[SourceFile] | None = None,
) -> None:
    """Raise a SourceError if the rejects are more than the source's `max_rejected` allows,
    naming the file, the column, the most common reason and the likely fix."""
    rejected = rejected_lines(rejects)
    rows_read = rows_good + rejected
    if not rejects or not over_limit(source, rows_read, rejected):
        return
    top = reasons(rejects)
    first = top[0]
    file, in_file = first.files.most_common(1)[0]
    paths = {f.rel: f.path for f in files or []}
    example = first.example
    share = 100 * rejected / rows_read
    where = f"line {example.line}: " if example and example.line else ""
    others = ""
    if len(top) > 1:
        others = "; also " + ", ".join(f"{r.text} ({r.rows:,})" for r in top[1:3])
        others += " ..." if len(top) > 3 else ""
    raw = (example.raw if example else "").replace("\n", " ")
    # the line is the user's data (of masked columns too): quoted, as every value in a message,
    # so that a notification's redaction removes it; cut before quoting to keep the quotes whole
    raw = display_value(raw if len(raw) <= 120 else raw[:119] + "…")
    raise SourceError(
        f"{rejected:,} of {rows_read:,} rows rejected ({share:.3g}%), more than "
        f"max_rejected: {source.max_rejected} allows; nothing was written. The most common "
        f"reason: {first.text} ({first.rows:,} rows, {in_file:,} of them in {file}; e.g. "
        f"{where}{raw}){others}",
        source=name,
        file=paths.get(file, file),
        hint=f"{likely_fix(source, name, first)} — or raise max_rejected: on sources.{name} "
        "to quarantine them and load the rest",
    )


def likely_fix(source: FileSource, name: str, reason: Reason) -> str:
    """What most likely makes rows of this reason load: the source option or the declared type
    to change."""
    from medallion.engine.duckdb.types import type_class

    column, kind = reason.column, reason.kind
    declared = source.columns.get(column or "")
    where = f"sources.{name}"
    if kind.startswith("does not convert to "):
        target = kind.removeprefix("does not convert to ")
        cls = type_class(target)
        if cls == "date":
            if source.date_format:
                return (
                    f"the values of {column} do not match date_format {source.date_format!r}: "
                    f"correct it in {where}"
                )
            return (
                f"set date_format: in {where} to the dates' format (e.g. '%d/%m/%Y'; the "
                f"default reads YYYY-MM-DD), or declare {column} VARCHAR and parse it in a model"
            )
        if cls in ("timestamp", "timestamptz"):
            if source.timestamp_format:
                return (
                    f"the values of {column} do not match timestamp_format "
                    f"{source.timestamp_format!r}: correct it in {where}"
                )
            return (
                f"set timestamp_format: in {where} to the timestamps' format (e.g. "
                f"'%d/%m/%Y %H:%M'), or declare {column} VARCHAR and parse it in a model"
            )
        what = f"the declared type of {column}" if declared else f"the type of {column}"
        return (
            f"is {target} right for {column}? Check {what} in {where}.columns (VARCHAR keeps "
            "any text; convert it in a model), or fix the file"
        )
    if kind.startswith("is not a whole number"):
        return f"declare {column} as DECIMAL(p, s) or DOUBLE in {where}.columns"
    if kind.startswith("has more decimals"):
        return f"declare {column} with more decimals (DECIMAL(p, s), a larger s) in {where}.columns"
    if kind.startswith("has a time of day"):
        return f"declare {column} as TIMESTAMP in {where}.columns"
    if kind.startswith("has a UTC offset"):
        return (
            f"declare {column} as TIMESTAMPTZ in {where}.columns (it keeps the instant), or "
            "set timestamp_format: to the values' format"
        )
    if kind.startswith("the text is not valid "):
        if source.file_format == "json":  # JSON has no `encoding:`: it is UTF-8
            return (
                "JSON files are UTF-8: convert the file (e.g. `iconv -f cp1252 -t utf-8`) or "
                "export it again as UTF-8"
            )
        if (source.encoding or "utf-8") == "utf-8":
            return f"the file is not UTF-8: set encoding: latin-1 (or utf-16) in {where}"
        return f"the file is not {source.encoding}: check encoding: in {where}"
    if kind in ("too many fields", "too few fields") or "quote" in kind:
        return f"check delimiter:, quote: and escape: in {where} against the file"
    if "JSON" in kind:
        return "the file is not valid JSON: one object per line (or one array of objects)"
    return "fix the file in place and run again"
