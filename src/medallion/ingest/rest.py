"""REST/JSON API sources: GET, page by page, into Arrow.

Pagination: page numbers, offsets, cursor tokens from the body, or the `Link: rel="next"`
header. Incremental pulls send the watermark (the largest `cursor.field` value landed so far) as
`cursor.param`. Transient failures — connection errors, HTTP 429 and 5xx — are retried with
exponential backoff, honouring `Retry-After`; other HTTP errors (401, 403, 404, ...) fail at
once with the status and the start of the body. Credentials belong in `headers:` with `${VAR}`;
they are never printed or logged.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.errors import SourceError
from medallion.ingest.sources import Extract

if TYPE_CHECKING:
    import pyarrow as pa

    from medallion.config.schema import RestSource

RETRY_STATUS = {429, 500, 502, 503, 504}
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


@dataclass
class Page:
    records: list[dict[str, Any]]
    body: Any
    headers: dict[str, str]


def dig(body: Any, path: str | None) -> Any:
    """`a.b.c` in nested dicts; None when a part is missing."""
    if not path:
        return body
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


class RestClient:
    def __init__(self, source: RestSource, name: str) -> None:
        self.source = source
        self.name = name

    def _url(self, base: str, params: dict[str, Any]) -> str:
        parts = urllib.parse.urlsplit(base)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query.update(
            {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        )
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

    def get(self, url: str) -> Page:
        s = self.source
        attempt = 0
        while True:
            request = urllib.request.Request(
                url, headers={"Accept": "application/json", **s.headers}
            )
            try:
                with urllib.request.urlopen(request, timeout=s.timeout) as response:
                    raw = response.read()
                    headers = dict(response.headers.items())
                break
            except urllib.error.HTTPError as e:
                body = e.read()[:300].decode("utf-8", errors="replace")
                if e.code in RETRY_STATUS and attempt < s.retries:
                    wait = _retry_after(e.headers.get("Retry-After"))
                    time.sleep(wait if wait is not None else _backoff(s.retry_backoff, attempt))
                    attempt += 1
                    continue
                raise SourceError(
                    f"GET {_safe(url)} answered HTTP {e.code} {e.reason}: {body.strip()}",
                    source=self.name,
                    hint="check the URL and the credentials in headers:"
                    if e.code in (401, 403, 404)
                    else f"still failing after {attempt} retries",
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                if attempt < s.retries:
                    time.sleep(_backoff(s.retry_backoff, attempt))
                    attempt += 1
                    continue
                reason = getattr(e, "reason", e)
                raise SourceError(
                    f"GET {_safe(url)} failed after {attempt} retries: {reason}",
                    source=self.name,
                    hint="is the API reachable from this machine?",
                ) from None
        try:
            body = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as e:
            raise SourceError(
                f"GET {_safe(url)} did not return JSON ({e.msg} at {e.pos})",
                source=self.name,
                hint="check the URL: an HTML error page is a common cause",
            ) from None
        records = dig(body, s.records)
        if records is None:
            records = []
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise SourceError(
                f"records: {s.records!r} in the response of {_safe(url)} is a "
                f"{type(records).__name__}, not a list",
                source=self.name,
                key=f"sources.{self.name}.records",
            )
        return Page([r for r in records if isinstance(r, dict)], body, headers)

    def pages(self, watermark: str | None) -> Iterator[Page]:
        """Every page of the pull, following the configured pagination."""
        s = self.source
        params: dict[str, Any] = dict(s.params)
        if s.cursor is not None:
            value = watermark if watermark is not None else s.cursor.initial
            if value is not None:
                params[s.cursor.param] = value
        p = s.pagination
        if p is not None and p.size is not None and p.size_param:
            params[p.size_param] = p.size
        number = p.start if p is not None else 0
        offset = 0
        url = self._url(s.url, {**params, **self._page_params(number, offset, None)})
        for _ in range(s.max_pages):
            page = self.get(url)
            yield page
            if p is None or (not page.records and p.type in ("page", "offset")):
                return
            if p.type == "page":
                number += 1
                url = self._url(s.url, {**params, p.param: number})  # type: ignore[dict-item]
            elif p.type == "offset":
                offset += len(page.records)
                if p.size is not None and len(page.records) < p.size:
                    return
                url = self._url(s.url, {**params, p.param: offset})  # type: ignore[dict-item]
            elif p.type == "cursor":
                token = dig(page.body, p.next_path)
                if token in (None, ""):
                    return
                url = self._url(s.url, {**params, p.param: token})  # type: ignore[dict-item]
            else:
                m = _LINK_NEXT.search(page.headers.get("Link", "") or page.headers.get("link", ""))
                if not m:
                    return
                url = urllib.parse.urljoin(url, m.group(1))
        raise SourceError(
            f"stopped after max_pages={s.max_pages} pages",
            source=self.name,
            key=f"sources.{self.name}.max_pages",
            hint="raise max_pages, or check that the pagination settings end",
        )

    def _page_params(self, number: int, offset: int, token: Any) -> dict[str, Any]:
        p = self.source.pagination
        if p is None or p.param is None:
            return {}
        if p.type == "page":
            return {p.param: number}
        if p.type == "offset":
            return {p.param: offset}
        return {}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(float(value), 120.0)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
            return max(0.0, min(when.timestamp() - time.time(), 120.0))
        except (TypeError, ValueError):
            return None


def _backoff(base: float, attempt: int) -> float:
    return min(base * (2**attempt), 60.0)


def _safe(url: str) -> str:
    """The URL without its query string (it may carry keys)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="…" if parts.query else ""))


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a_b": 1} (lists stay lists)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_record(value, f"{name}_"))
        else:
            out[name] = value
    return out


@dataclass
class Pull:
    """One pull's records as a stream (each page read back from a spill file as it is
    consumed), the new watermark, and `close()` to remove the spill once the stream is done."""

    reader: pa.RecordBatchReader
    high: str | None
    close: Any


def fetch(source: RestSource, name: str, watermark: str | None) -> Pull:
    """All records of one pull, and the new watermark (the largest cursor value seen, as text;
    the old one if no record carries it).

    Every page is converted to Arrow and spilled to an Arrow IPC file as it arrives, so memory
    holds one page at a time whatever the size of the pull; the stream reads the pages back.
    Pages whose fields differ (a field absent from some records, an int that becomes a float)
    are read back with the schema that unifies them all, as one table of the pull would be."""
    import shutil
    import tempfile

    import pyarrow as pa

    client = RestClient(source, name)
    spill = Path(tempfile.mkdtemp(prefix="medallion-rest-"))
    pages: list[tuple[Path, pa.Schema]] = []
    newest = watermark
    try:
        for page in client.pages(watermark):
            records = page.records
            if source.flatten:
                records = [flatten_record(r) for r in records]
            if source.cursor is not None:
                for r in records:
                    value = (
                        dig(r, source.cursor.field)
                        if not source.flatten
                        else r.get(source.cursor.field.replace(".", "_"))
                    )
                    if value is not None and (newest is None or _later(str(value), newest)):
                        newest = str(value)
            if records:
                try:
                    table = pa.Table.from_pylist(records)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                    raise SourceError(
                        f"records do not share a shape: {e}",
                        source=name,
                        hint="set columns: types, or flatten: true",
                    ) from None
                path = spill / f"page-{len(pages):06d}.arrow"
                with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                    w.write_table(table)
                pages.append((path, table.schema))
        schema = _unified([s for _, s in pages], name)
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        for path, page_schema in pages:
            with pa.memory_map(str(path)) as source_file:
                table = pa.ipc.open_file(source_file).read_all()
            if not page_schema.equals(schema):
                # missing fields as NULL, types promoted: as concatenating the pages would
                table = pa.concat_tables(
                    [schema.empty_table(), table], promote_options="permissive"
                ).select(schema.names)
            yield from table.to_batches()

    return Pull(
        pa.RecordBatchReader.from_batches(schema, batches()),
        newest,
        lambda: shutil.rmtree(spill, ignore_errors=True),
    )


def _unified(schemas: list[pa.Schema], name: str) -> pa.Schema:
    """The schema of all pages together (empty when there is no record)."""
    import pyarrow as pa

    if not schemas:
        return pa.schema([])
    if all(s.equals(schemas[0]) for s in schemas[1:]):
        return schemas[0]
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise SourceError(f"pages do not share a shape: {e}", source=name) from None


def _later(a: str, b: str) -> bool:
    """Compare cursor values: numerically when both are numbers, else as text (ISO timestamps
    sort correctly as text)."""
    try:
        return float(a) > float(b)
    except ValueError:
        return a > b


# -- the cursor-source kind (medallion.ingest.sources) ----------------------------------------


def extract(
    source: RestSource, name: str, watermark: str | None, full: bool, root: Path
) -> Extract:
    """One pull past `watermark` (the caller passes None for a full read)."""
    pull = fetch(source, name, watermark)
    return Extract(pull.reader, pull.high, f"rest:{source.url.split('?')[0]}", pull.close)


def has_new_rows(source: RestSource, watermark: str | None, root: Path) -> bool:
    """An API cannot be asked without pulling: a run may always find rows."""
    return True


def describe(source: RestSource) -> str:
    return f"pulling {source.url.split('?')[0]}"


def classifier(source: RestSource) -> None:
    """Pages are retried one by one (RestClient.get), honouring Retry-After."""
    return None
