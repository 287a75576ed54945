"""What a folder of files holds: sources, their reading options, column types, keys and the
relationships between them (`medallion init DIR --from PATH`).

Each inference reads a bounded sample (`SAMPLE_ROWS` rows of a source, the first `ENCODING_BYTES`
of each file for its encoding; plain ASCII says nothing of it: UTF-8 is assumed, and said so),
never a whole big file. DuckDB's CSV sniffer decides the dialect (delimiter, quote, header),
its delimiter checked against the file's lines (it falls back to one column when a row is
short); the column types are decided here, on the sample read as text, because the sniffer's
choices lose data a user cares about: `00123` would become the number 123, a code column a
BIGINT. The rules, in order, for the trimmed non-empty values of a column:

- `true`/`false` -> BOOLEAN;
- whole numbers: text when one has a leading zero or the name says code/zip/phone (a code, not
  a quantity), else BIGINT;
- decimals: DECIMAL(18, the most places seen); with a decimal comma (`12,50`) or thousands
  separators (`1.234,56`, `1,234.56`) too, converted in silver (DuckDB's reader knows neither);
- ISO dates and timestamps, then the usual day-first and month-first formats (day first when a
  value has a day above 12, or when nothing tells them apart);
- everything else is text (VARCHAR), trimmed in silver; but a clean CSV column whose values
  nearly all (NEARLY) are dates or numbers gets the type in bronze, whose reader quarantines
  the rows of the others.

Silver converts exactly (`Column.silver`): a value of another shape than the sample's fails the
step rather than being rounded by DuckDB's cast.

Where the reader converts a CSV's raw text exactly (clean values, one date format per source),
the bronze table gets the type (`columns:` in medallion.yml, with `date_format`); otherwise
bronze keeps the text and the silver staging model converts it, so the first run quarantines
no row the inference saw but those it named (a nearly typed column's misfits). Each decision
carries its reason, for the explanation `init --from` prints.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from medallion.config.schema import NAME_RE, infer_format
from medallion.errors import SourceError, first_line
from medallion.ingest.files.reader import call
from medallion.sqltree import col, lit, render

if TYPE_CHECKING:
    import duckdb
    import sqlglot.expressions as exp

#: rows of a source read to infer its types, keys and relationships
SAMPLE_ROWS = 100_000
#: bytes of each CSV file read to tell its encoding
ENCODING_BYTES = 4 << 20

#: DATE formats tried, ISO first; DuckDB reads ISO without a format
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d"]
TIMESTAMP_FORMATS = [
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
]
#: the shape of each format's values (try_strptime alone accepts trailing text in some cases)
_SHAPES = {
    "%Y-%m-%d": r"\d{4}-\d{1,2}-\d{1,2}",
    "%d/%m/%Y": r"\d{1,2}/\d{1,2}/\d{4}",
    "%m/%d/%Y": r"\d{1,2}/\d{1,2}/\d{4}",
    "%d.%m.%Y": r"\d{1,2}\.\d{1,2}\.\d{4}",
    "%d-%m-%Y": r"\d{1,2}-\d{1,2}-\d{4}",
    "%Y/%m/%d": r"\d{4}/\d{1,2}/\d{1,2}",
    "%d/%m/%Y %H:%M:%S": r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}",
    "%m/%d/%Y %H:%M:%S": r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}",
    "%d/%m/%Y %H:%M": r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}",
    "%m/%d/%Y %H:%M": r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}",
    "%d.%m.%Y %H:%M:%S": r"\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}:\d{2}:\d{2}",
    "%Y/%m/%d %H:%M:%S": r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}:\d{2}",
}
#: what every value of a date or timestamp column in a DATE_FORMATS/TIMESTAMP_FORMATS format
#: looks like
_DATEISH = r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}( \d{1,2}:\d{2}(:\d{2})?)?"
_ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?Z?"
_INTEGER = r"[+-]?\d+"
_LEADING_ZERO = r"[+-]?0\d+"
_DECIMAL = r"[+-]?(\d+\.\d*|\.\d+)"
_DECIMAL_COMMA = r"[+-]?\d+,\d+"
#: numbers with thousands separators: 1.234,56 (a decimal comma) and 1,234.56 (a decimal point)
_GROUPED = {
    ",": r"[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?",
    ".": r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?",
}
#: a column is typed when at least this share of its sampled values parse, and at least
#: NEARLY_MIN of them: the others are dirt (a run quarantines their rows in bronze), not a sign
#: the column is text
NEARLY = 0.95
NEARLY_MIN = 20
#: column names that hold codes even when every value is digits
_CODE_NAME = re.compile(r"(^|_)(code|zip|zipcode|postcode|postal_code|phone|tel|iban|ean|sku)$")
#: names of a text column that is a key when unique and never NULL (after id, *_id and the
#: source's own code)
_CODE_KEYS = {"sku", "code", "ref", "reference", "ean", "gtin", "item_code", "article"}
#: column names of keys: id, *_id, *Id
_KEY_NAME = re.compile(r"(^id$|_id$|[a-z]Id$|^ID$|_ID$)")

Format = Literal["csv", "json", "parquet"]


@dataclass
class Column:
    """One column: the type silver gives it, how bronze reads it, and why."""

    name: str
    #: the type in the silver staging model (a DuckDB type)
    type: str
    #: the type declared for bronze in medallion.yml (None: the reader's own, e.g. Parquet's)
    bronze: str | None
    #: how silver makes `type` out of bronze's value: none | trim | cast (exactly: a value not
    #: of the shape `exact` fails the step) | strptime
    convert: str = "none"
    #: the strptime format (convert == strptime)
    fmt: str | None = None
    why: str = ""
    #: one value of the sample, shown in the explanation
    example: str | None = None
    #: values with spaces around them (the reader would not convert them: silver trims first)
    padded: bool = False
    #: a number's decimal separator and thousands separator as the file writes them (silver
    #: converts them; DuckDB's reader knows neither)
    decimal_sep: str = "."
    thousands: str | None = None
    #: the sampled values that are not of `type` ("1 of 61 values is not a date %d/%m/%Y:
    #: '31/02/2024'"): a run quarantines their rows in bronze
    misfits: str | None = None

    @property
    def text(self) -> bool:
        return self.type == "VARCHAR"

    def silver(self, key: bool = False) -> exp.Expression:
        """The silver expression of this column, as a tree (before its alias)."""
        import sqlglot.expressions as exp

        from medallion.ingest.files.reader import type_of

        c = column(self.name)
        if self.convert == "trim":
            trimmed = exp.func("trim", c)
            # an empty text is no value; a key keeps what it has (not_null reports it)
            return trimmed if key else exp.func("nullif", trimmed, lit(""))
        if self.convert == "strptime":
            value = exp.func("strptime", exp.func("trim", c), lit(self.fmt))
            return exp.Cast(this=value, to=type_of(self.type))
        if self.convert == "cast" and self.exact() is None:  # a DOUBLE: no digit is lost
            return exp.Cast(this=exp.func("trim", c), to=type_of(self.type))
        if self.convert == "cast":
            return self._exact_cast(exp.func("nullif", exp.func("trim", c), lit("")))
        return c

    def _exact_cast(self, v: exp.Expression) -> exp.Expression:
        """`v` cast to the column's type where it has the shape whose cast is exact, else an
        error naming the value: DuckDB's cast rounds ('10.555' is the DECIMAL(18,2) 10.56,
        '1.5' the BIGINT 2) and drops what it cannot keep (a time of day from a DATE), where the
        README promises a value converts exactly or not at all (as bronze's reader does). The
        step fails, its table is not written."""
        import sqlglot.expressions as exp

        from medallion.ingest.files.reader import type_of

        text = v.copy()
        if self.thousands:
            text = exp.func("replace", text, lit(self.thousands), lit(""))
        if self.decimal_sep != ".":
            text = exp.func("replace", text, lit(self.decimal_sep), lit("."))
        said = exp.DPipe(
            this=exp.DPipe(this=lit(f'{self.name}: "'), expression=v.copy()),
            expression=lit(
                f'" does not convert exactly to {self.type} ({self.exact_what()} was inferred): '
                "widen the type or change this conversion, or fix the file"
            ),
        )
        # regexp_matches, anchored: SQLGlot translates it for Spark (RLIKE)
        fits = exp.func("regexp_matches", v.copy(), lit(f"^({self.exact()})$"))
        checked = exp.Case(
            ifs=[
                exp.If(
                    this=exp.Not(this=fits), true=exp.Anonymous(this="error", expressions=[said])
                )
            ],
            default=text,
        )
        return exp.Cast(this=checked, to=type_of(self.type))

    def exact(self) -> str | None:
        """The pattern of the trimmed texts that convert to `type` exactly (None: any text that
        converts does)."""
        scale = _scale_of(self.type)
        whole = r"\d+"
        if self.thousands:
            whole = rf"(\d+|\d{{1,3}}({re.escape(self.thousands)}\d{{3}})+)"
        if self.type.startswith("DECIMAL"):
            if not scale:
                return rf"[+-]?{whole}"
            sep = re.escape(self.decimal_sep)
            # 12, 12.5, 12. and .5, with at most `scale` places
            return rf"[+-]?({whole}({sep}\d{{0,{scale}}})?|{sep}\d{{1,{scale}}})"
        return {
            "BIGINT": rf"[+-]?{whole}",
            "BOOLEAN": r"[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]",
            "DATE": r"\d{4}-\d{2}-\d{2}",
            # as inferred (_ISO_TIMESTAMP); a time zone other than Z is not
            "TIMESTAMP": _ISO_TIMESTAMP,
        }.get(self.type)

    def exact_what(self) -> str:
        """What `exact` accepts, in words."""
        if self.type.startswith("DECIMAL"):
            scale = _scale_of(self.type)
            what = f"a number with at most {scale} decimals" if scale else "a whole number"
            if scale:
                what += " after a decimal comma" if self.decimal_sep == "," else ""
        elif self.type == "BIGINT":
            what = "a whole number"
        else:
            return {
                "DATE": "a date YYYY-MM-DD",
                "TIMESTAMP": "a timestamp YYYY-MM-DD HH:MM:SS (UTC)",
                "BOOLEAN": "true or false",
            }.get(self.type, f"a {self.type}")
        if self.thousands:
            return what + f" (thousands separated by {self.thousands!r})"
        return what + " (no thousands separator)"


def _scale_of(typ: str) -> int:
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", typ)
    return int(m.group(2)) if m else 0


def column(name: str) -> exp.Column:
    """A column, quoted only where it must be (a user reads these models)."""
    import sqlglot.expressions as exp
    from sqlglot.dialects.duckdb import DuckDB

    plain = (
        re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name.upper() not in DuckDB.Tokenizer.KEYWORDS
    )
    return exp.column(exp.to_identifier(name, quoted=not plain))


@dataclass
class Relationship:
    column: str
    to_source: str
    to_column: str
    why: str


@dataclass
class InferredSource:
    """One source: its files, reading options, columns, key and relationships, with reasons."""

    name: str
    #: csv | json | parquet, or the database kind (postgres | mysql)
    format: str
    #: the files, relative to the folder inferred from
    files: list[str]
    #: glob patterns relative to the folder (one glob, or the files themselves)
    patterns: list[str]
    #: reading options as medallion.yml spells them (only those that differ from the default)
    options: dict[str, Any] = field(default_factory=dict)
    columns: list[Column] = field(default_factory=list)
    key: str | None = None
    #: rows of the sample, and whether it held every row of the source
    rows: int = 0
    complete: bool = True
    #: keys that repeat across files (the latest file's row wins in silver)
    repeated_keys: int = 0
    relationships: list[Relationship] = field(default_factory=list)
    #: why: one line a decision (files, dialect, encoding, key)
    notes: list[str] = field(default_factory=list)
    #: environment variables the source's options name (a database password)
    secrets: list[str] = field(default_factory=list)
    #: temporary files the sample was read from (a JSON file's parseable lines), removed once
    #: the sample is read
    scratch: list[Path] = field(default_factory=list, repr=False)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def infer_folder(folder: Path, sample_rows: int = SAMPLE_ROWS) -> list[InferredSource]:
    """Every source in `folder` (CSV, JSON and Parquet files, in sub-folders too), with types,
    keys and relationships; raises SourceError when there is nothing to read."""
    import duckdb

    if not folder.exists():
        raise SourceError(
            f"{folder} does not exist",
            file=folder,
            hint="--from takes a folder of CSV, JSON or Parquet files (or a database DSN)",
        )
    if not folder.is_dir():
        raise SourceError(
            f"{folder} is not a folder",
            file=folder,
            hint="--from takes a folder of CSV, JSON or Parquet files; put the file in a folder",
        )
    groups = group_files(folder)
    con = duckdb.connect(config={"threads": 2})
    try:
        every = [f for _, _, files in groups for f in files]
        sources = []
        for name, fmt, files in groups:
            try:
                sources.append(_infer_source(con, folder, name, fmt, files, every, sample_rows))
            except OSError as e:
                raise SourceError(
                    f"cannot read {e.filename or folder}: {e.strerror or e}",
                    file=e.filename or folder,
                    hint="check the file's permissions (init reads every file it lists)",
                ) from None
            except duckdb.Error as e:
                raise SourceError(
                    f"cannot read {', '.join(files[:3])} as {fmt}: {first_line(e)}",
                    file=folder / files[0],
                    hint=f"check the file is {fmt.upper()} (the extension says so), or move it "
                    "out of the folder",
                ) from None
        sources = [s for s in sources if s.columns]
        if not sources:
            raise SourceError(
                f"{folder}: the files hold no columns to read",
                file=folder,
                hint="the files are empty; --from needs files with a header and rows",
            )
        _relationships(con, sources)
        return sources
    finally:
        con.close()


# -- files that belong together ------------------------------------------------------------------

#: a trailing date or sequence number in a file name: orders_2024-01, sales.2024.03, part-0001
_SERIAL = re.compile(r"[_\-. ]*\d[\d_\-. ]*$")


def group_files(folder: Path) -> list[tuple[str, Format, list[str]]]:
    """(source name, format, files relative to `folder`) for each group of files that belong
    together: same folder, same format, same name once a trailing date or number is dropped."""
    found: list[str] = []
    skipped: list[str] = []
    try:
        for dirpath, dirnames, filenames in os.walk(folder, onerror=_raise):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            for f in sorted(filenames):
                rel = os.path.relpath(os.path.join(dirpath, f), folder)
                if f.startswith((".", "_")):
                    continue
                (found if infer_format(f) else skipped).append(rel)
    except OSError as e:
        raise SourceError(
            f"cannot read {e.filename or folder}: {e.strerror}",
            file=folder,
            hint="check the folder's permissions",
        ) from None
    if not found:
        what = (
            f" (only {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''})"
            if skipped
            else ""
        )
        raise SourceError(
            f"{folder}: no CSV, JSON or Parquet file found{what}",
            file=folder,
            hint="--from reads files ending in .csv, .tsv, .txt, .json, .jsonl, .ndjson, "
            ".parquet (optionally .gz)",
        )
    groups: dict[tuple[str, str, str], list[str]] = {}
    for rel in found:
        parent, name = os.path.split(rel)
        fmt = infer_format(name)
        assert fmt is not None
        base = _SERIAL.sub("", name.split(".")[0])
        groups.setdefault((_folder_pattern(parent), base, fmt), []).append(rel)
    out: list[tuple[str, Format, list[str]]] = []
    used: set[str] = set()
    for (parent, base, fmt), files in groups.items():
        named = [p for p in parent.split(os.sep) if p and p != "*"]
        name = source_name(base or (named[-1] if named else "data"))
        while name in used:
            name = f"{name}_{fmt}" if not name.endswith(fmt) else f"{name}_2"
        used.add(name)
        out.append((name, fmt, files))  # type: ignore[arg-type]
    return out


def _folder_pattern(parent: str) -> str:
    """A folder path with its dated or numbered folders as `*`: 2024-01/orders.csv and
    2024-02/orders.csv belong together."""
    return os.sep.join("*" if _SERIAL.fullmatch(p) else p for p in parent.split(os.sep))


def _raise(e: OSError) -> None:
    raise e


def source_name(text: str) -> str:
    """A valid source name (lower-case letters, digits, single underscores) from a file name."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()
    name = re.sub(r"[^a-z0-9]+", "_", name)
    name = re.sub(r"_+", "_", name).strip("_") or "data"
    if not NAME_RE.match(name):
        name = f"s_{name}"
    return name


def patterns_for(folder: Path, files: list[str], others: list[str]) -> tuple[list[str], str]:
    """The glob that matches `files` and none of `others` (all relative to `folder`): the name
    up to its date or number, then `*` (so next month's file is read too), in folders whose
    dated names are `*` too; else the names' common prefix; else the files themselves.
    Returns (patterns, why)."""
    if len(files) == 1:
        return files, ""
    parent = _folder_pattern(os.path.dirname(files[0]))
    names = [os.path.basename(f) for f in files]
    first = names[0]
    suffix = "." + first.split(".", 1)[1]
    stem = first.split(".")[0]
    base = _SERIAL.sub("", stem)
    sep = (
        stem[len(base) : len(base) + 1]
        if len(stem) > len(base) and not stem[len(base)].isdigit()
        else ""
    )
    if len(set(names)) == 1:  # the same name in dated folders
        candidates = [first]
    else:
        common = os.path.commonprefix(names)  # noqa: RUF071 (characters, not path parts)
        candidates = [base + sep + "*" + suffix, common + "*" + suffix]
    for cand in candidates:
        pattern = os.path.join(parent, cand) if parent else cand
        matched = {
            os.path.relpath(m, folder)
            for m in glob.glob(str(folder / pattern))
            if os.path.isfile(m)
        }
        if matched == set(files) and not matched & set(others):
            return [pattern], ""
    return list(files), "no glob matches only these files: they are listed"


# -- one source ----------------------------------------------------------------------------------


def _infer_source(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    name: str,
    fmt: Format,
    files: list[str],
    every: list[str],
    sample_rows: int,
) -> InferredSource:
    """`every`: all files of the folder (a source's glob must match none of the others)."""
    import sqlglot.expressions as exp

    patterns, pattern_why = patterns_for(folder, files, [f for f in every if f not in files])
    src = InferredSource(name, fmt, files, patterns)
    paths = [str(folder / f) for f in files]
    if len(files) > 1:
        src.notes.append(
            f"{len(files)} files {', '.join(files[:3])}{' ...' if len(files) > 3 else ''} -> one "
            f"source ({patterns[0] if len(patterns) == 1 else 'listed'}: same name but for a "
            "date or number" + ("" if not pattern_why else f"; {pattern_why}") + ")"
        )
    else:
        src.notes.append(f"file {files[0]}")
    reader = {"csv": _read_csv_sample, "json": _read_json_sample, "parquet": _read_parquet_sample}
    raw = exp.to_identifier(f"raw_{name}", quoted=True)
    try:
        sample = reader[fmt](con, src, paths, sample_rows)
        if sample is None:
            return src
        con.execute(render(_create_table(raw.name, sample)))
    finally:
        for scratch in src.scratch:
            scratch.unlink(missing_ok=True)
    rows = con.execute(render(exp.select(exp.Count(this=exp.Star())).from_(raw))).fetchall()[0][0]
    src.rows = min(rows, sample_rows)
    src.complete = rows <= sample_rows
    described = con.sql(render(exp.select(exp.Star()).from_(raw)))
    src.columns = [
        _column(con, raw.name, c, str(t), fmt)
        for c, t in zip(described.columns, described.types, strict=True)
        if c != "filename"
    ]
    _bronze_formats(src)
    for i, c in enumerate(src.columns):
        if c.misfits and c.convert != "none":
            # only bronze's reader sets a row aside: silver's conversion would fail the step
            # on the values that do not fit, so the column stays text
            src.columns[i] = _text(c.name, fmt, f"text: {c.misfits}", c.example)
    _silver_table(con, src)
    _key(con, src)
    if not src.complete:
        src.notes.append(f"types and key from the first {sample_rows:,} rows (a sample)")
    return src


def _create_table(name: str, query: exp.Expression) -> exp.Expression:
    import sqlglot.expressions as exp

    return exp.Create(
        this=exp.to_identifier(name, quoted=True),
        kind="TABLE",
        expression=query,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def _encoding(path: Path) -> tuple[str, str]:
    """(encoding as medallion.yml spells it, why) from the first ENCODING_BYTES of a file."""
    with open(path, "rb") as fh:
        head = fh.read(ENCODING_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "a UTF-16 byte-order mark"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < ENCODING_BYTES)
    except UnicodeDecodeError as e:
        bad = head[e.start]
        line = head.count(b"\n", 0, e.start) + 1
        why = f"byte 0x{bad:02X} on line {line} is not UTF-8"
        cp = re.search(rb"[\x80-\x9f]", head)
        if cp:
            # Windows-1252 puts €, curly quotes and dashes there; latin-1 has control
            # characters, and DuckDB's latin-1 reader refuses them
            at = head.count(b"\n", 0, cp.start()) + 1
            char = head[cp.start() : cp.start() + 1].decode("cp1252", errors="replace")
            raise SourceError(
                f"{path.name} looks like Windows-1252 ({char!r} is byte 0x{head[cp.start()]:02X} "
                f"on line {at}), an encoding medallion does not read (utf-8, utf-16, latin-1)",
                file=path,
                line=at,
                hint=f"convert it to UTF-8, e.g. `iconv -f cp1252 -t utf-8 {path.name} > "
                f"{path.stem}.utf8{path.suffix}`, and keep only the converted file in the folder",
            ) from None
        return "latin-1", why
    if head.isascii():
        # every encoding medallion reads but UTF-16 spells ASCII alike: nothing tells them apart
        return "utf-8", (
            "assumed: the sample is plain ASCII, which reads the same in latin-1; if a later "
            "file has accented letters in latin-1 (a run quarantines its rows as not valid "
            "utf-8), set encoding: latin-1"
        )
    return "utf-8", "valid UTF-8" + (
        " with a byte-order mark" if head[:3] == codecs.BOM_UTF8 else ""
    )


def _read_csv_sample(
    con: duckdb.DuckDBPyConnection, src: InferredSource, paths: list[str], sample_rows: int
) -> exp.Expression | None:
    import duckdb
    import sqlglot.expressions as exp

    encodings = {p: _encoding(Path(p)) for p in paths}
    # the file that tells the encoding: one not UTF-8, else one not plain ASCII
    enc, why = min(encodings.values(), key=lambda e: (e[0] == "utf-8", e[1].startswith("assumed")))
    if len({e for e, _ in encodings.values()}) > 1:
        raise SourceError(
            f"files of source {src.name} have different encodings "
            f"({', '.join(f'{os.path.basename(p)}: {e}' for p, (e, _) in encodings.items())})",
            file=paths[0],
            hint="convert them to one encoding (e.g. `iconv -f latin1 -t utf-8`) and run again",
        )
    where = next(p for p, (e, _) in encodings.items() if e == enc)
    src.notes.append(
        f"encoding {enc} ({why}"
        + (f" in {os.path.basename(where)}" if len(paths) > 1 and enc != "utf-8" else "")
        + ")"
    )
    if enc != "utf-8":
        src.options["encoding"] = enc
    sizes = [os.path.getsize(p) for p in paths]
    if not any(sizes):
        return None
    first = next(p for p, s in zip(paths, sizes, strict=True) if s)
    sniff = call("sniff_csv", lit(first), encoding=enc, sample_size=min(sample_rows, 20_000))
    try:
        rows = con.execute(
            render(exp.select("Delimiter", "Quote", "HasHeader").from_(sniff))
        ).fetchall()
    except duckdb.Error as e:
        raise SourceError(
            f"cannot read {first} as CSV: {first_line(e)}",
            file=first,
            hint="check the file is a CSV export (one record a line, a delimiter between fields)",
        ) from None
    delim, quote, header = rows[0]
    quote = '"' if quote in ("(empty)", "", None) else quote
    said = "DuckDB's CSV sniffer"
    fields = _fields_per_line(Path(first), enc, quote)
    best = max(fields, key=lambda d: (fields[d][0], d == delim), default=delim)
    if best != delim and fields[best][0] > fields.get(delim, (0, 0, 0))[0]:
        # the sniffer gives up on a dialect when a line does not fit it (one short row) and
        # falls back to one column: the header and the lines say which delimiter splits them
        agree, lines, n = fields[best]
        said = (
            f"the header and {agree - 1:,} of {lines - 1:,} lines split into {n} fields by it; "
            f"DuckDB's CSV sniffer said {delim!r}, a row with another count of fields is "
            "malformed: a run quarantines it"
        )
        delim, header = best, True
        # (should the sniffer refuse even so: the first line split into the fields, a header)
        with contextlib.suppress(duckdb.Error):
            header = con.execute(
                render(
                    exp.select("HasHeader").from_(
                        call(
                            "sniff_csv",
                            lit(first),
                            encoding=enc,
                            delim=delim,
                            quote=quote,
                            null_padding=True,
                            sample_size=min(sample_rows, 20_000),
                        )
                    )
                )
            ).fetchall()[0][0]
    dialect = [f"delimiter {delim!r}"]
    if delim != ",":
        src.options["delimiter"] = delim
    if quote != '"':
        src.options["quote"] = quote
        dialect.append(f"quote {quote!r}")
    if not header:
        src.options["header"] = False
        dialect.append("no header row (columns named column0, column1, ...)")
    src.notes.append("; ".join(dialect) + f" ({said})")
    headers = {_first_line(Path(p), enc) for p, s in zip(paths, sizes, strict=True) if s}
    if len(paths) > 1:
        src.notes.append(
            "same header in every file"
            if len(headers) == 1
            else f"{len(headers)} different headers: columns are unified by name"
        )
    read = call(
        "read_csv",
        exp.Array(expressions=[lit(p) for p in paths]),
        delim=delim,
        quote=quote,
        header=bool(header),
        encoding=enc,
        all_varchar=True,
        # unifying by name makes DuckDB read every file's header first: only when they differ
        union_by_name=len(headers) > 1,
        filename=True,
        ignore_errors=True,
        null_padding=True,
    )
    return exp.select(exp.Star()).from_(read).limit(sample_rows + 1)


#: the delimiters a file's lines are split by to check the sniffer's
DELIMITERS = (",", ";", "\t", "|")
#: lines of a file's head counted for that
_DIALECT_LINES = 2_000


def _fields_per_line(path: Path, encoding: str, quote: str) -> dict[str, tuple[int, int, int]]:
    """For each delimiter that splits the first line into more than one field: (lines of the
    file's head with as many fields as the first, lines read, fields of the first)."""
    import csv
    import io
    import itertools

    codec = {"latin-1": "latin-1", "utf-16": "utf-16"}.get(encoding, "utf-8-sig")
    with open(path, encoding=codec, errors="replace", newline="") as fh:
        head = "".join(itertools.islice(fh, _DIALECT_LINES))
    out = {}
    for d in DELIMITERS:
        counts = [len(r) for r in csv.reader(io.StringIO(head), delimiter=d, quotechar=quote) if r]
        if counts and counts[0] > 1:
            out[d] = (sum(1 for c in counts if c == counts[0]), len(counts), counts[0])
    return out


def _first_line(path: Path, encoding: str) -> str:
    with open(
        path,
        encoding={"latin-1": "latin-1", "utf-16": "utf-16"}.get(encoding, "utf-8-sig"),
        errors="replace",
    ) as fh:
        return fh.readline().strip()


def _read_json_sample(
    con: duckdb.DuckDBPyConnection, src: InferredSource, paths: list[str], sample_rows: int
) -> exp.Expression | None:
    import sqlglot.expressions as exp

    kinds = set()
    read: list[str] = []
    for p in paths:
        with open(p, "rb") as fh:
            head = fh.read(4096).lstrip()
        if head:
            kinds.add("array" if head.startswith(b"[") else "newline_delimited")
        lines = bool(head) and not head.startswith(b"[")
        read.append(_parseable_lines(con, src, p, sample_rows) if lines else p)
    if not kinds:
        return None
    if len(kinds) > 1:
        src.notes.append("JSON arrays and newline-delimited files: json_format auto")
        src.options["json_format"] = "auto"
    else:
        kind = kinds.pop()
        src.options["json_format"] = kind
        src.notes.append(
            "one JSON array per file" if kind == "array" else "newline-delimited JSON (NDJSON)"
        )
    sample = call(
        "read_json",
        exp.Array(expressions=[lit(p) for p in read]),
        format="auto",
        records=True,
        union_by_name=True,
        filename=True,
    )
    return exp.select(exp.Star()).from_(sample).limit(sample_rows + 1)


def _parseable_lines(
    con: duckdb.DuckDBPyConnection, src: InferredSource, path: str, sample_rows: int
) -> str:
    """A newline-delimited JSON file to sample: `path`, or when DuckDB cannot read its first
    rows (a malformed line, a line that is not an object), a temporary file of the lines that
    are objects, split as the ingest splits them; the lines left out are named in a note (a run
    quarantines them). A file with no such line is refused."""
    import duckdb
    import sqlglot.expressions as exp

    from medallion.config.names import quarantine_of
    from medallion.ingest.files.json import split_json_lines

    first = exp.select(exp.Star()).from_(call("read_json", lit(path), format="auto", records=True))
    try:
        con.execute(
            render(
                exp.select(exp.Count(this=exp.Star())).from_(
                    first.limit(sample_rows + 1).subquery()
                )
            )
        )
        return path
    except duckdb.Error:
        pass
    good, bad = split_json_lines(Path(path))
    name = os.path.basename(path)
    if good is None:
        raise SourceError(
            f"{name}: no line is a JSON object: {_left_out(bad)}",
            file=path,
            line=bad[0][0] if bad else None,
            hint='newline-delimited JSON holds one object a line ({"id": 1, ...}): export the '
            "file again, or move it out of the folder",
        )
    src.scratch.append(good)
    if bad:
        src.notes.append(
            f"{name}: {_left_out(bad)} left out of the sample; a run sets them aside in "
            f"{quarantine_of(f'bronze.{src.name}')}"
        )
    return str(good)


def _left_out(bad: list[tuple[int, str, str, str]]) -> str:
    """The lines split_json_lines rejected, by kind, with their numbers: `2 malformed lines (52,
    101)`."""
    from medallion.ingest.files.json import NOT_UTF8

    kinds = {
        "malformed JSON": ("malformed line", "malformed lines"),
        "not a JSON object": ("line that is not an object", "lines that are not objects"),
        NOT_UTF8: ("line that is not UTF-8", "lines that are not UTF-8"),
    }
    parts = []
    for kind, (one, many) in kinds.items():
        lines = [n for n, _, _, k in bad if k == kind]
        if lines:
            shown = ", ".join(str(n) for n in lines[:10])
            more = f" and {len(lines) - 10:,} more" if len(lines) > 10 else ""
            word = "line" if len(lines) == 1 else "lines"
            parts.append(
                f"{len(lines):,} {one if len(lines) == 1 else many} ({word} {shown}{more})"
            )
    return " and ".join(parts)


def _read_parquet_sample(
    con: duckdb.DuckDBPyConnection, src: InferredSource, paths: list[str], sample_rows: int
) -> exp.Expression | None:
    import sqlglot.expressions as exp

    src.notes.append("Parquet: column types from the files' schema")
    read = call(
        "read_parquet",
        exp.Array(expressions=[lit(p) for p in paths]),
        union_by_name=True,
        filename=True,
    )
    return exp.select(exp.Star()).from_(read).limit(sample_rows + 1)


# -- one column ----------------------------------------------------------------------------------


def _column(con: duckdb.DuckDBPyConnection, table: str, name: str, typ: str, fmt: Format) -> Column:
    """The column's types and conversion: text values are classified here; Parquet's and
    JSON's typed values keep their type."""
    if typ != "VARCHAR":
        scalar = not any(ch in typ for ch in "([<{") or typ.startswith("DECIMAL")
        bronze = typ if (fmt == "json" and scalar) else None
        return Column(name, typ, bronze, why=f"{typ.lower()} in the {fmt} files")
    return _classify(con, table, name, fmt)


def _classify(con: duckdb.DuckDBPyConnection, table: str, name: str, fmt: Format) -> Column:
    import sqlglot.expressions as exp

    raw = col(name)
    v = exp.func("nullif", exp.func("trim", raw), lit(""))

    def full(pattern: str) -> exp.Expression:
        return exp.func("regexp_full_match", v, lit(pattern))

    def count_if(cond: exp.Expression) -> exp.Expression:
        return exp.func("count_if", cond)

    def parses(f: str) -> exp.Expression:
        return exp.and_(
            full(_SHAPES[f]),
            exp.Not(this=exp.Is(this=exp.func("try_strptime", v, lit(f)), expression=exp.Null())),
        )

    measures: dict[str, exp.Expression] = {
        "n": exp.Count(this=v),
        "padded": count_if(exp.NEQ(this=raw, expression=exp.func("trim", raw))),
        "bool": count_if(
            exp.In(this=exp.func("lower", v), expressions=[lit("true"), lit("false")])
        ),
        "int": count_if(full(_INTEGER)),
        "lead0": count_if(full(_LEADING_ZERO)),
        "big": count_if(
            exp.and_(
                full(_INTEGER),
                exp.Is(
                    this=exp.TryCast(this=v, to=exp.DataType.build("BIGINT")), expression=exp.Null()
                ),
            )
        ),
        "dec": count_if(full(_DECIMAL)),
        "comma": count_if(full(_DECIMAL_COMMA)),
        # grouped by thousands (decimal comma: 1.234,56; decimal point: 1,234.56)
        "eu": count_if(full(_GROUPED[","])),
        "us": count_if(full(_GROUPED["."])),
        "has_comma": count_if(exp.func("contains", v, lit(","))),
        "has_dot": count_if(exp.func("contains", v, lit("."))),
        "comma_scale": exp.func(
            "max",
            exp.func("length", exp.RegexpExtract(this=v, expression=lit(r",(\d+)$"), group=lit(1))),
        ),
        "dot_scale": exp.func(
            "max",
            exp.func(
                "length", exp.RegexpExtract(this=v, expression=lit(r"\.(\d+)$"), group=lit(1))
            ),
        ),
        "float": count_if(
            exp.Not(
                this=exp.Is(
                    this=exp.TryCast(this=v, to=exp.DataType.build("DOUBLE")), expression=exp.Null()
                )
            )
        ),
        "iso_date": count_if(
            exp.and_(
                full(r"\d{4}-\d{2}-\d{2}"),
                exp.Not(
                    this=exp.Is(
                        this=exp.TryCast(this=v, to=exp.DataType.build("DATE")),
                        expression=exp.Null(),
                    )
                ),
            )
        ),
        "iso_ts": count_if(
            exp.and_(
                full(_ISO_TIMESTAMP),
                exp.Not(
                    this=exp.Is(
                        this=exp.TryCast(this=v, to=exp.DataType.build("TIMESTAMP")),
                        expression=exp.Null(),
                    )
                ),
            )
        ),
        "scale": exp.func(
            "max",
            exp.func(
                "length", exp.RegexpExtract(this=v, expression=lit(r"[.,](\d+)$"), group=lit(1))
            ),
        ),
        "digits": exp.func(
            "max",
            exp.func(
                "length", exp.RegexpExtract(this=v, expression=lit(r"^[+-]?(\d*)"), group=lit(1))
            ),
        ),
        "example": exp.func("min", v),
        "dateish": count_if(full(_DATEISH)),
    }

    def measure(measures: dict[str, exp.Expression]) -> dict[str, Any]:
        query = exp.select(*[e.as_(f"m{i}") for i, e in enumerate(measures.values())]).from_(
            exp.to_identifier(table, quoted=True)
        )
        return dict(zip(measures, con.execute(render(query)).fetchall()[0], strict=True))

    values = measure(measures)
    # parsing every value with every format is the costly part: only for date-shaped columns
    formats = DATE_FORMATS[1:] + TIMESTAMP_FORMATS
    values.update(dict.fromkeys(formats, -1))
    if values["n"] and values["dateish"] * 2 >= values["n"]:
        shaped = measure({f: count_if(full(_SHAPES[f])) for f in formats})
        # (nearly: a value or two of another shape is dirt, see NEARLY)
        fits = [f for f in formats if shaped[f] >= values["n"] * NEARLY]
        # a format most values have the shape of: the values that do not are named (_near_miss)
        values.update({f: c for f, c in shaped.items() if c != values["n"]})
        if fits:
            values.update(measure({f: count_if(parses(f)) for f in fits}))
    n = values["n"]
    example = values["example"]
    bronze_ok = not values["padded"] and fmt == "csv"

    def typed(typ: str, why: str, convert: str = "cast", f: str | None = None) -> Column:
        if convert == "cast" and bronze_ok:
            return Column(name, typ, typ, "none", f, why, example)
        bronze = "VARCHAR" if fmt != "parquet" else None
        if convert == "cast" and values["padded"]:
            why += "; padded with spaces"
        return Column(name, typ, bronze, convert, f, why, example, bool(values["padded"]))

    def nearly(count: int) -> bool:
        """Whether `count` of the values are nearly all of them (not all), and the column can be
        typed in bronze: the reader converts exactly and quarantines the rows of the others."""
        return bronze_ok and n > count >= max(n * NEARLY, NEARLY_MIN)

    def typed_nearly(typ: str, why: str, count: int, f: str | None = None) -> Column:
        near = _near_miss(con, table, v, values, parses)
        c = typed(typ, why, "strptime" if f else "cast", f)
        c.misfits = near.removeprefix("text: ") if near else f"{n - count} of {n} values do not fit"
        c.why += (
            f"; {c.misfits}: a run quarantines such rows in bronze (a column is typed when at "
            f"least {NEARLY:.0%} of its values, and {NEARLY_MIN}, fit)"
        )
        return c

    if n == 0:
        return Column(
            name,
            "VARCHAR",
            "VARCHAR" if fmt != "parquet" else None,
            "trim",
            why="always empty in the sample: text",
            example=None,
        )
    if values["bool"] == n:
        return typed("BOOLEAN", "true/false")
    if values["int"] == n:
        if values["lead0"]:
            return _text(
                name, fmt, f"a code: leading zeros ({_example(con, table, name)})", example
            )
        if _CODE_NAME.search(name.lower()):
            return _text(name, fmt, "digits, but named like a code", example)
        if values["big"]:
            return typed("DECIMAL(38,0)", "whole numbers beyond BIGINT")
        return typed("BIGINT", "whole numbers")
    scale = values["scale"] or 0
    digits = values["digits"] or 0
    if values["int"] + values["dec"] == n and values["dec"]:
        return typed(_decimal(digits, scale), f"decimals, up to {scale} places")
    if values["int"] + values["comma"] == n and values["comma"]:
        return _separated(name, fmt, _decimal(digits, scale), ",", None, example)
    # thousands separated: both separators seen, every value in one of the two notations
    if values["has_comma"] and values["has_dot"]:
        for dec, thousands in ((",", "."), (".", ",")):
            if values["eu" if dec == "," else "us"] == n:
                whole = exp.RegexpExtract(
                    this=v, expression=lit(rf"^[+-]?([\d{re.escape(thousands)}]*)"), group=lit(1)
                )
                places = values["comma_scale" if dec == "," else "dot_scale"] or 0
                digits = measure(
                    {
                        "d": exp.func(
                            "max",
                            exp.func("length", exp.func("replace", whole, lit(thousands), lit(""))),
                        )
                    }
                )["d"]
                typ = _decimal(digits or 0, places)
                return _separated(name, fmt, typ, dec, thousands, example)
    if values["iso_date"] == n:
        return typed("DATE", "ISO dates (YYYY-MM-DD)")
    if values["iso_ts"] == n:
        return typed("TIMESTAMP", "ISO timestamps")
    for f in DATE_FORMATS[1:] + TIMESTAMP_FORMATS:
        if values[f] != n:
            continue
        kind = "DATE" if f in DATE_FORMATS else "TIMESTAMP"
        why = f"{'dates' if kind == 'DATE' else 'timestamps'} {f}"
        swapped = _swapped(f)
        if swapped and values.get(swapped) == n:
            # both readings fit every value: none has a day above 12
            why += " (no day above 12 tells day from month: day first assumed)"
        return typed(kind, why, "strptime", f)
    if values["float"] == n:
        return typed("DOUBLE", "numbers with an exponent")
    # nearly every value of one type: typed, the others quarantined by bronze
    if nearly(values["iso_date"]):
        return typed_nearly("DATE", "ISO dates (YYYY-MM-DD)", values["iso_date"])
    for f in DATE_FORMATS[1:] + TIMESTAMP_FORMATS:
        if values[f] > 0 and nearly(values[f]):
            kind = "DATE" if f in DATE_FORMATS else "TIMESTAMP"
            why = f"{'dates' if kind == 'DATE' else 'timestamps'} {f}"
            return typed_nearly(kind, why, values[f], f)
    code = values["lead0"] or values["big"] or _CODE_NAME.search(name.lower())
    if nearly(values["int"]) and not code:
        return typed_nearly("BIGINT", "whole numbers", values["int"])
    if nearly(values["int"] + values["dec"]) and values["dec"]:
        return typed_nearly(
            _decimal(digits, scale),
            f"decimals, up to {scale} places",
            values["int"] + values["dec"],
        )
    near = _near_miss(con, table, v, values, parses)
    if near:
        return _text(name, fmt, near, example)
    why = "text"
    if (
        example
        and re.search(r"[A-Za-z]", example)
        and re.search(r"\d", example)
        and " " not in example
    ):
        why = f"text codes ({example})"
    return _text(name, fmt, why, example)


def _near_miss(
    con: duckdb.DuckDBPyConnection,
    table: str,
    v: exp.Expression,
    values: dict[str, Any],
    parses: Any,
) -> str | None:
    """Why a column most of whose values are numbers, or dates of one format, is text: the
    values that are not (`N/A`, `1 234,50`, an ISO date among dd/mm/yyyy ones), so the user
    knows what to clean. None when fewer than half the values fit a type."""
    import sqlglot.expressions as exp

    def full(pattern: str) -> exp.Expression:
        return exp.func("regexp_full_match", v, lit(pattern))

    n = values["n"]
    comma = values["comma"] > values["dec"]
    candidates: list[tuple[str, int, exp.Expression]] = [
        (
            "a number",
            values["int"] + values["comma" if comma else "dec"],
            exp.or_(full(_INTEGER), full(_DECIMAL_COMMA if comma else _DECIMAL)),
        ),
        (
            "an ISO date (YYYY-MM-DD)",
            values["iso_date"],
            exp.Not(
                this=exp.Is(
                    this=exp.TryCast(this=v, to=exp.DataType.build("DATE")), expression=exp.Null()
                )
            ),
        ),
    ]
    candidates += [
        (f"a {'date' if f in DATE_FORMATS else 'timestamp'} {f}", values[f], parses(f))
        for f in DATE_FORMATS[1:] + TIMESTAMP_FORMATS
        if values[f] > 0  # measured (-1: not every value is date-shaped)
    ]
    what, fits, cond = max(candidates, key=lambda c: c[1])
    if n < 2 or fits * 2 < n or fits >= n:
        return None
    misses = exp.and_(
        exp.Not(this=exp.Is(this=v, expression=exp.Null())), exp.Not(this=exp.Paren(this=cond))
    )
    source = exp.to_identifier(table, quoted=True)
    count = exp.select(exp.func("count_if", misses)).from_(source)
    missed = con.execute(render(count)).fetchall()[0][0]
    if not missed:
        return None
    query = exp.select(v.as_("v")).distinct().from_(source).where(misses).order_by("v").limit(3)
    odd = [row[0] for row in con.execute(render(query)).fetchall()]
    shown = ", ".join(repr(o) for o in odd) + (" ..." if missed > len(odd) else "")
    fits = n - missed
    return f"text: {n - fits} of {n} values {'is' if n - fits == 1 else 'are'} not {what}: {shown}"


def _separated(
    name: str, fmt: Format, typ: str, dec: str, thousands: str | None, example: str | None
) -> Column:
    """A number column written with a decimal comma or thousands separators: text in bronze
    (DuckDB's reader knows neither), converted exactly in silver."""
    what = "decimals with a decimal comma" if dec == "," else "decimals"
    if thousands:
        what += f" and {thousands!r} between thousands"
    return Column(
        name,
        typ,
        "VARCHAR" if fmt != "parquet" else None,
        "cast",
        None,
        f"{what} ({example})",
        example,
        decimal_sep=dec,
        thousands=thousands,
    )


def _swapped(f: str) -> str | None:
    """The month-first format of a day-first one, and back."""
    if f.startswith("%d/%m"):
        return "%m/%d" + f[5:]
    if f.startswith("%m/%d"):
        return "%d/%m" + f[5:]
    return None


def _text(name: str, fmt: Format, why: str, example: str | None) -> Column:
    return Column(
        name, "VARCHAR", "VARCHAR" if fmt != "parquet" else None, "trim", None, why, example
    )


def _decimal(digits: int, scale: int) -> str:
    precision = max(18, digits + scale)
    return f"DECIMAL({min(precision, 38)},{min(scale, 18)})"


def _example(con: duckdb.DuckDBPyConnection, table: str, name: str) -> str:
    import sqlglot.expressions as exp

    v = exp.func("trim", col(name))
    q = (
        exp.select(exp.func("min", v))
        .from_(exp.to_identifier(table, quoted=True))
        .where(exp.func("regexp_full_match", v, lit(_LEADING_ZERO)))
    )
    return str(con.execute(render(q)).fetchall()[0][0])


def _bronze_formats(src: InferredSource) -> None:
    """One date_format and one timestamp_format a CSV source: the columns in the most common
    non-ISO format are read typed by bronze, the others (ISO ones when a format is set, a second
    format) as text, parsed in silver."""
    if src.format != "csv":
        return
    for kind, option in (("DATE", "date_format"), ("TIMESTAMP", "timestamp_format")):
        cols = [c for c in src.columns if c.type == kind]
        formatted = [c for c in cols if c.convert == "strptime"]
        if not formatted:
            continue
        counts: dict[str, int] = {}
        for c in formatted:
            counts[c.fmt or ""] = counts.get(c.fmt or "", 0) + 1
        chosen = max(counts, key=lambda f: counts[f])
        clean = [c for c in formatted if c.fmt == chosen and not c.padded]
        if not clean:
            continue
        src.options[option] = chosen
        for c in clean:
            c.bronze, c.convert = kind, "none"
        for c in cols:
            if c.convert == "none" and c not in clean:
                # an ISO column of a source whose date_format is another format
                c.bronze, c.convert, c.fmt = "VARCHAR", "cast", None
                c.why += f"; the source's {option} is {chosen}"


def _silver_table(con: duckdb.DuckDBPyConnection, src: InferredSource) -> None:
    """The sample as silver will hold it (every conversion tried on it: a value the inference
    got wrong fails here, at init, not in the user's first run)."""
    import sqlglot.expressions as exp

    select = exp.select(
        *[c.silver().as_(c.name, quoted=True) for c in src.columns], col("filename")
    ).from_(exp.to_identifier(f"raw_{src.name}", quoted=True))
    con.execute(render(_create_table(f"silver_{src.name}", select)))


def _singular(name: str) -> str:
    """customers -> customer, countries -> country, addresses -> address (English plurals)."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    return name.removesuffix("s")


def _key(con: duckdb.DuckDBPyConnection, src: InferredSource) -> None:
    """The first column named like a key that is non-null and unique in each file of the
    sample: the source's own `<name>_id` or `id`, other `*_id` columns, then the source's own
    code or number (`customer_code` in customers: a code names its own table's rows, while
    other codes, such as a country_code, are attributes), then a text column named like a code
    on its own (`sku`, `code`, `ref`: a product's SKU is the products' key)."""
    import sqlglot.expressions as exp

    singular = _singular(src.name)
    own = {f"{singular}_id", f"{src.name}_id", "id"}
    codes = {f"{singular}_{k}" for k in ("code", "key", "no", "number", "ref", "sku")} | {"code"}
    text = {c.name for c in src.columns if c.text}

    def rank(name: str) -> int:
        low = name.lower()
        if low in own:
            return 0
        if _KEY_NAME.search(name):
            return 1
        if low in codes:
            return 2
        return 3 if low in _CODE_KEYS and name in text else 4

    names = sorted((c.name for c in src.columns if rank(c.name) < 4), key=rank)
    # exact duplicate rows are no evidence against a key: silver drops them anyway
    table = exp.select(exp.Star()).from_(exp.to_identifier(f"silver_{src.name}", quoted=True))
    table = table.distinct().subquery("rows")
    for name in names:
        c = col(name)
        q = exp.select(
            exp.func("count_if", exp.Is(this=c, expression=exp.Null())),
            exp.Count(this=exp.Distinct(expressions=[exp.Tuple(expressions=[c, col("filename")])])),
            exp.Count(this=exp.Distinct(expressions=[c])),
            exp.Count(this=exp.Star()),
        ).from_(table)
        nulls, per_file, distinct, total = con.execute(render(q)).fetchall()[0]
        if nulls:
            src.notes.append(f"not a key: {name} (NULL in {nulls} rows)")
            continue
        if per_file != total:
            src.notes.append(f"not a key: {name} ({total - per_file} repeated values)")
            continue
        src.key = name
        src.repeated_keys = total - distinct
        named = {0: "*_id", 1: "*_id", 2: "as its own code"}.get(rank(name), "a text code")
        named = "id" if name.lower() == "id" else named
        why = f"key {name} (unique, not null, named {named})"
        if src.repeated_keys:
            n = src.repeated_keys
            why += (
                f"; {n} key{' repeats' if n == 1 else 's repeat'} across files: silver keeps "
                "the row of the latest file"
            )
        src.notes.append(why)
        return
    if not names:
        src.notes.append(
            "no key: no column named id, *_id, as its own code (customer_code) or a text code "
            "(sku, code, ref); silver keeps distinct rows"
        )
    else:
        src.notes.append("no key: silver keeps distinct rows")


def _relationships(con: duckdb.DuckDBPyConnection, sources: list[InferredSource]) -> None:
    """A column of one source whose values all occur in another source's key (named like it,
    or like an id) is a relationship."""
    import sqlglot.expressions as exp

    keyed = [s for s in sources if s.key]
    for src in sources:
        for c in src.columns:
            if c.name == src.key or not (
                _KEY_NAME.search(c.name) or c.name.lower().endswith("_code")
            ):
                continue
            targets = []
            for other in keyed:
                if other is src or other.key is None:
                    continue
                k = other.column(other.key)
                if (c.text, c.type) != (k.text, k.type) and not (
                    c.type in ("BIGINT", "INTEGER") and k.type in ("BIGINT", "INTEGER")
                ):
                    continue
                rank = (
                    0
                    if c.name == other.key
                    else 1
                    if c.name == f"{_singular(other.name)}_id"
                    else 2
                )
                targets.append((rank, other))
            for rank, other in sorted(targets, key=lambda t: t[0]):
                mine = exp.to_identifier(f"silver_{src.name}", quoted=True)
                theirs = exp.to_identifier(f"silver_{other.name}", quoted=True)
                assert other.key is not None
                q = (
                    exp.select(
                        exp.Count(this=exp.Distinct(expressions=[col(c.name)])),
                        exp.func(
                            "count_if",
                            exp.Not(
                                this=exp.In(
                                    this=col(c.name),
                                    query=exp.select(col(other.key)).from_(theirs).subquery(),
                                )
                            ),
                        ),
                    )
                    .from_(mine)
                    .where(exp.Not(this=exp.Is(this=col(c.name), expression=exp.Null())))
                )
                present, missing = con.execute(render(q)).fetchall()[0]
                if present and not missing:
                    named = {0: "same name", 1: f"named {other.name.removesuffix('s')}_id"}.get(
                        rank, "named like an id"
                    )
                    src.relationships.append(
                        Relationship(
                            c.name,
                            other.name,
                            other.key,
                            f"{c.name} -> {other.name}.{other.key} (all {present} values found; "
                            f"{named})",
                        )
                    )
                    src.notes.append(f"relationship {src.relationships[-1].why}")
                    break
