"""A project made from a folder of the user's files (`medallion init DIR --from PATH`).

`ingest.files.infer` says what the folder holds (sources, reading options, types, keys,
relationships, each with its reason); this module writes it down as files the user owns:
medallion.yml with one source per group of files, its options and declared column types, and
one silver staging model per source (`models/silver/stg_<source>.sql`): typed, trimmed,
de-duplicated — a `merge` model on the inferred key (the latest file's row wins), else a
`table` of distinct rows — with `unique` + `not_null` on the key and `relationships` to the
keys its columns point at.

The project is written into a temporary folder beside DIR and loaded (every model parsed, the
config validated) before it is moved into place: a failure leaves no half-written project.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import MedallionError, TemplateError

if TYPE_CHECKING:
    from medallion.ingest.files.infer import InferredSource

#: which of two rows with the same key silver keeps: the later ingest, then the later file
ORDER_BY = ["_ingested_at", "_source_file"]
#: the same for a series whose names sort in time order: the later file, then the later ingest
#: of it. A corrected older file is ingested again last, and must not win over newer files
#: (a rebuild, which reads the files in name order, gives the same rows)
SERIES_ORDER_BY = ["_source_file", "_ingested_at"]


#: a file or folder name's trailing date that sorts as time does: year first (2024, 2024-03,
#: 2024_03_01, 20240301)
_ISO_DATE = re.compile(
    r"(?:19|20)\d\d(?:[_\-.]?(?:0[1-9]|1[0-2])(?:[_\-.]?(?:0[1-9]|[12]\d|3[01]))?)?"
)
#: a counter short enough not to be a date written day first (part_007, 0001)
_COUNTER = re.compile(r"\d{1,5}")


def _sorts_in_time(rel: str) -> bool:
    """Every dated or numbered part of `rel` (folders and the file name) sorts as its date or
    number does: a year-first date, or a counter (zero-padded: the names have one length)."""
    from medallion.ingest.files.infer import _SERIAL

    parts = rel.replace(os.sep, "/").split("/")
    *folders, name = parts
    serials = [p for p in folders if _SERIAL.fullmatch(p)]
    m = _SERIAL.search(name.split(".")[0])
    if m:
        serials.append(m.group(0))
    for serial in serials:
        core = serial.strip("_-. ")
        if not (_ISO_DATE.fullmatch(core) or _COUNTER.fullmatch(core)):
            return False
    return True


def order_by(s: InferredSource) -> list[str]:
    """The `order_by` of a keyed source's staging model: by file name first for a series whose
    names sort as their dates or numbers do (one length, year-first dates or short counters:
    orders_2024-01.csv, part_007.csv); by ingest first otherwise (one file exported again,
    s_9 / s_10, a day-first date orders_31-12-2024.csv)."""
    series = len(s.files) > 1 or is_dated_series(s)
    sortable = len({len(f) for f in s.files}) == 1 and all(_sorts_in_time(f) for f in s.files)
    return SERIES_ORDER_BY if series and sortable else ORDER_BY


def replaces_rewrites() -> bool:
    """Whether file sources take `on_rewrite: replace` (an edited file replaces its earlier
    rows in bronze)."""
    from medallion.config.schema import FileSource

    return "on_rewrite" in FileSource.model_fields


#: a file name's trailing date: _2024-03, -20240301, .2024_03_01, _2024 (a year 1900-2099, then
#: an optional month and day, with or without separators)
_DATED = re.compile(
    r"(?P<sep>[_\-. ])(?:19|20)\d\d"  # the year
    r"(?:[_\-.]?(?:0[1-9]|1[0-2])(?:[_\-.]?(?:0[1-9]|[12]\d|3[01]))?)?$"  # month, day
)


def dated_glob(s: InferredSource, others: list[str]) -> str | None:
    """The glob for a source that is one file whose name ends in a date (orders_2024-03.json ->
    orders_*.json): a team's first export is one file of what becomes a monthly series, and an
    exact path would never read next month's file. None when the name holds no trailing date,
    or the glob would match a file of another source (`others`)."""
    from fnmatch import fnmatchcase

    if len(s.files) != 1 or s.patterns != s.files:
        return None
    folder, name = os.path.split(s.files[0])
    stem, dot, suffix = name.partition(".")
    m = _DATED.search(stem)
    if m is None or m.start() == 0:
        return None
    glob = os.path.join(folder, f"{stem[: m.start()]}{m.group('sep')}*{dot}{suffix}")
    if any(fnmatchcase(o, glob) for o in others):
        return None
    return glob


def read_dated_series(sources: list[InferredSource]) -> None:
    """Each source that is one date-named file read through a glob, and said so."""
    every = [f for s in sources for f in s.files]
    for s in sources:
        glob = dated_glob(s, [f for f in every if f not in s.files])
        if glob is None:
            continue
        s.patterns = [glob]
        s.notes.append(
            f"{s.files[0]} is named like one file of a dated series: read through {glob}, so "
            "the next file (next month's, next day's) is read by the next run"
        )


def is_dated_series(s: InferredSource) -> bool:
    """One date-named file read through a glob (`read_dated_series`)."""
    return len(s.files) == 1 and s.patterns != s.files


def is_reference(s: InferredSource, sources: list[InferredSource]) -> bool:
    """Reference data: one file (no date or number series) whose key other sources point at —
    customers, products, stores. Such a file is edited and exported again under its name, so
    its new version replaces the old (`on_rewrite: replace`) and silver is rebuilt from it (a
    row deleted from the file leaves silver too); files in a series are new rows each time."""
    return (
        bool(s.files)
        and len(s.files) == 1
        and not is_dated_series(s)
        and s.key is not None
        and replaces_rewrites()
        and any(r.to_source == s.name for o in sources for r in o.relationships)
    )


@dataclass
class InitFromResult:
    """What `init --from` wrote and why (the CLI prints it)."""

    dest: Path
    origin: str
    sources: list[InferredSource]
    #: project-relative paths of the files written
    written: list[str] = field(default_factory=list)
    #: sources taken for reference data (on_rewrite: replace, a table model)
    references: list[str] = field(default_factory=list)


def init_from(dest: Path, source: str) -> InitFromResult:
    """Infer the sources of `source` (a folder of files, or a postgresql:// or mysql:// DSN)
    and write a project into `dest` (new or empty)."""
    from medallion.errors import mask_dsn
    from medallion.ingest.files.infer import infer_folder
    from medallion.onboard.database import infer_database, kind_of

    check_destination(dest)
    kind = kind_of(source)
    if kind is None:
        folder: Path | None = Path(source)
        sources = infer_folder(Path(source))
        origin = source
    else:
        folder, origin = None, mask_dsn(source)
        sources = infer_database(source, kind)
    read_dated_series(sources)
    references = [s.name for s in sources if is_reference(s, sources)]
    for s in sources:
        if s.name in references:
            s.notes.append(
                "reference data (one file other sources point at): on_rewrite: replace, and "
                "silver rebuilt from it"
            )
    files = project_files(dest, folder, sources, origin)
    write_atomically(dest, files)
    return InitFromResult(dest, origin, sources, sorted(files), references)


def check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise TemplateError(
            f"{dest} is a file",
            file=dest,
            hint="name a new folder (or an empty one) for the project",
        )
    if dest.is_dir() and any(dest.iterdir()):
        raise TemplateError(
            f"{dest} is not empty: init writes a new project and overwrites nothing",
            file=dest,
            hint="name a new folder (or an empty one), e.g. `medallion init my_project --from "
            "PATH`",
        )


def project_files(
    dest: Path, folder: Path | None, sources: list[InferredSource], origin: str
) -> dict[str, str]:
    """Project-relative path -> text of every file of the project (`folder`: where the files
    are, None for a database)."""
    from medallion.ingest.files.infer import source_name

    where = _relative(folder, dest) if folder else ""
    files = {"medallion.yml": _config(source_name(dest.resolve().name), sources, where, origin)}
    for s in sources:
        files[f"models/silver/stg_{s.name}.sql"] = staging_model(s, sources)
    files[".gitignore"] = "lakehouse/\n.medallion/\ntarget/\n"
    return files


def write_atomically(dest: Path, files: dict[str, str]) -> None:
    """Write `files` into a folder beside `dest`, load it as a project, then move it to `dest`."""
    from medallion.workspace import Workspace

    parent = dest.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=parent))
        # mkdtemp makes a private folder (0700); the project is shared like any folder the user
        # makes (a team reading it through a group), so it gets the umask's mode
        tmp.chmod(0o777 & ~_umask())
    except OSError as e:
        raise TemplateError(
            f"cannot create {dest}: {e.strerror}", file=dest, hint="check the folder's permissions"
        ) from None
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        try:
            Workspace.load(tmp)
        except MedallionError as e:  # a bug here, not the user's: say so plainly
            raise TemplateError(
                f"the project inferred is not valid ({e.message})",
                file=dest,
                hint="please report this with the folder's file names and headers",
            ) from e
        if dest.is_dir():
            # empty (checked), perhaps the current folder: the project's files move into it
            for child in tmp.iterdir():
                os.replace(child, dest / child.name)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _relative(folder: Path, dest: Path) -> str:
    """The folder as the project sees it: relative to DIR where it can be (a project moved
    with its data keeps working), else absolute."""
    target, base = folder.resolve(), dest.resolve()
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:  # another drive
        return target.as_posix()


# -- medallion.yml -------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """A YAML scalar (quoted when YAML would read it otherwise)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...")


def _config(name: str, sources: list[InferredSource], where: str, origin: str) -> str:
    lines = [
        f"# Made by `medallion init --from` from {origin}:",
        f"# one source per {'group of files' if where else 'table'} there, one silver staging "
        "model per source",
        "# (models/silver/). Why each option, type and key was chosen is in the comments; edit",
        "# freely, this project is yours.",
        f"name: {_scalar(name)}",
        "",
        "sources:",
    ]
    for s in sources:
        lines.append(f"  {s.name}:")
        for note in s.notes:
            lines.append(f"    # {note}")
        paths = [f"{where}/{p}" if where not in ("", ".") else p for p in s.patterns]
        if len(paths) == 1:
            lines.append(f"    path: {_scalar(paths[0])}")
        elif paths:
            lines.append("    path:")
            lines.extend(f"      - {_scalar(p)}" for p in paths)
        if paths:
            lines.append(f"    format: {s.format}")
        for key, value in s.options.items():
            lines.append(f"    {key}: {_scalar(value)}")
        if is_reference(s, sources):
            lines.append(
                "    on_rewrite: replace         # reference data: an edited file replaces its rows"
            )
        declared = [c for c in s.columns if c.bronze]
        if declared:
            lines.append("    columns:                  # bronze reads these types exactly")
            width = max(len(_scalar(c.name)) + len(_scalar(c.bronze)) for c in declared) + 2
            for c in declared:
                entry = f"{_scalar(c.name)}: {_scalar(c.bronze)}"
                why = c.why if c.type == c.bronze else f"{c.why}; {c.type} in silver"
                lines.append(f"      {entry.ljust(width)}  # {why}")
    return "\n".join(lines) + "\n"


# -- the staging models --------------------------------------------------------------------------


def staging_model(s: InferredSource, sources: list[InferredSource]) -> str:
    """The SQL file of `silver.stg_<source>`: a YAML header, then the SELECT (built as a tree)."""
    import sqlglot.expressions as exp

    from medallion.ingest.files.infer import column

    projections = []
    for c in s.columns:
        e = c.silver(key=c.name == s.key)
        if c.convert != "none":
            e = e.as_(column(c.name).this)
            if c.why != "text":
                e.add_comments([f" {c.why} "])
        projections.append(e)
    query = exp.select(*projections)
    if s.key and not is_reference(s, sources):
        # the audit columns tell which of two rows with that key is the latest
        query = query.select(*[column(c) for c in ORDER_BY])
    else:
        query = query.distinct()
    query = query.from_(exp.table_(s.name, db="bronze"))
    sql = query.sql(dialect="duckdb", pretty=True, normalize_functions="lower")
    header = _header(s, sources)
    return f"/* ---\n{header}--- */\n{sql}\n"


def _header(s: InferredSource, sources: list[InferredSource]) -> str:
    what = ", ".join(s.files[:3]) + (f" and {len(s.files) - 3} more" if len(s.files) > 3 else "")
    what = what or str(s.options.get("table", s.name))
    lines: list[str] = []
    if is_reference(s, sources):
        lines += [
            "kind: table                     # reference data, replaced in bronze when its file is",
            "                                # edited: rebuilt, so a deleted row leaves silver too",
            f"description: {_scalar(f'{what}: typed and trimmed, one row per {s.key}.')}",
        ]
    elif s.key:
        lines += [
            "kind: merge                     # upsert by the key: new files update their rows",
            f"unique_key: {_scalar(s.key)}",
            f"order_by: [{', '.join(order_by(s))}]   # a key seen twice: "
            + (
                "the later file of the series, then its later ingest, wins"
                if order_by(s) == SERIES_ORDER_BY
                else "the later ingest, then the later file, wins"
            ),
            f"description: {_scalar(f'{what}: typed and trimmed, one row per {s.key}.')}",
        ]
    else:
        lines += [
            "kind: table                     # no key was found: rebuilt, exact duplicates dropped",
            f"description: {_scalar(f'{what}: typed and trimmed, distinct rows.')}",
        ]
    checks: list[str] = []
    if s.key:
        checks += [f"  - unique: {_scalar(s.key)}", f"  - not_null: {_scalar(s.key)}"]
    by_name = {o.name: o for o in sources}
    for r in s.relationships:
        target = f"silver.stg_{r.to_source}.{r.to_column}"
        checks.append(f"  - relationships: {{column: {_scalar(r.column)}, to: {target}}}")
        if not (s.complete and by_name[r.to_source].complete):
            checks.append("    severity: warn              # seen on a sample of the rows only")
    if checks:
        lines += ["checks:", *checks]
    return "\n".join(lines) + "\n"
