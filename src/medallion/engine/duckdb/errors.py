"""DuckDB's error messages mapped to the model file and line they are about.

DuckDB gives a position for parser and conversion errors ("LINE 3:"), not for binder errors
("Referenced column "amont" not found"); for those the line is where the quoted name first
appears in the model as a whole word, which is where a typo usually is. Another engine words its
errors differently and maps them in its own module.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from medallion.errors import ExecutionError

if TYPE_CHECKING:
    from medallion.models.loader import Model

_LINE_RE = re.compile(r"LINE (\d+):(.*)")
_QUOTED_RE = re.compile(r'"([^"]+)"')
#: a value out of range of the integer medallion stores a 128-bit integer column as
_STORED_CAST_RE = re.compile(
    r"Conversion Error: Type U?INT128 with value (?P<value>\S+) can't be cast .*destination "
    r"type INT64 when casting from source column (?P<column>\S+)"
)


def model_error(message: str | BaseException, model: Model) -> ExecutionError:
    """A DuckDB error of a model (its text, or the exception) as an ExecutionError pointing at
    the model file and line."""
    text = unwrap_stream_error(message)
    lines = text.strip().splitlines() or ["error"]
    first = lines[0]
    line: int | None = None
    m = _LINE_RE.search(text)
    stored = _stored_cast(model, first, m.group(2) if m else None)
    if stored is not None:
        return stored
    if m:
        line = int(m.group(1))
        if not first.startswith("Parser Error"):
            # DuckDB counts a parser error's line from the start of the text, a later error's
            # from the statement's first token (after the header comment) or, in a query
            # wrapped around the model's (expectations), from elsewhere: the line it quotes says
            line = _quoted_line(model.text, m.group(2), line + _lines_before_statement(model.text))
            if line > len(model.text.splitlines()):
                line = None  # a query medallion wrote around the model's: no line of the file
    else:
        q = _QUOTED_RE.search(first)
        if q:
            line = _word_line(model.text, q.group(1))
    candidates = next((ln for ln in lines if ln.startswith("Candidate bindings")), None)
    hint = "fix the SQL and run again; the table was not changed"
    if candidates:
        hint = f"{candidates.rstrip('.')}; {hint}"
    return ExecutionError(first, file=model.path, line=line, model=model.fqn, hint=hint)


def _stored_cast(model: Model, first: str, quoted: str | None) -> ExecutionError | None:
    """The error of medallion's own cast of a 128-bit integer column (HUGEINT: a sum of
    integers; Delta has none) to BIGINT, when a value does not fit: said as such, not as an
    error of a line of the model (a cast the model writes itself is quoted from its text)."""
    m = _STORED_CAST_RE.search(first)
    if m is None:
        return None
    snippet = (quoted or "").strip().removeprefix("...").removesuffix("...").strip()
    if snippet and snippet in model.text:
        return None
    column = m.group("column")
    return ExecutionError(
        f"column {column} is a 128-bit integer (HUGEINT), which Delta cannot store, so medallion "
        f"stores it as BIGINT; its value {m.group('value')} is out of BIGINT's range",
        file=model.path,
        model=model.fqn,
        hint=f"cast {column} in the model: to DECIMAL(38,0) to keep every value, or to BIGINT "
        "where the values fit; the table was not changed",
    )


def _quoted_line(text: str, quoted: str, guess: int) -> int:
    """The line of `text` holding what DuckDB quoted after "LINE n:" (a window of the line,
    "..." where cut), the one nearest `guess` if several do; `guess` if none does."""
    snippet = quoted.strip().removeprefix("...").removesuffix("...").strip()
    if len(snippet) < 3:
        return guess
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if snippet in line]
    return min(hits, key=lambda n: abs(n - guess)) if hits else guess


def _lines_before_statement(text: str) -> int:
    """Lines before the SQL's first token (whitespace, `--` and `/* */` comments: the header)."""
    at = 0
    while True:
        rest = text[at:]
        stripped = rest.lstrip()
        at += len(rest) - len(stripped)
        if stripped.startswith("--"):
            end = text.find("\n", at)
            at = len(text) if end < 0 else end + 1
        elif stripped.startswith("/*"):
            end = text.find("*/", at + 2)
            at = len(text) if end < 0 else end + 2
        else:
            return text.count("\n", 0, at)


def _word_line(text: str, word: str) -> int | None:
    """1-based line of the first whole-word occurrence of `word` outside comments."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(word)}(?!\w)", re.IGNORECASE)
    in_block = False
    for n, raw in enumerate(text.splitlines(), start=1):
        code = raw
        if in_block:
            if "*/" not in code:
                continue
            code = code.split("*/", 1)[1]
            in_block = False
        if "/*" in code:
            before, after = code.split("/*", 1)
            in_block = "*/" not in after
            code = before + (after.split("*/", 1)[1] if not in_block else "")
        code = code.split("--", 1)[0]
        if pattern.search(code):
            return n
    return None


def unwrap_stream_error(e: BaseException | str) -> str:
    """delta-rs wraps errors raised inside the Arrow stream; keep DuckDB's own message."""
    text = str(e)
    for marker in ("Python exception: ", "Unknown error: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    m = re.search(r"(\w+ Error: .*)", text, re.DOTALL)
    if m:
        text = m.group(1)
    return text.strip()
