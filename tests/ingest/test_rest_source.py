"""REST sources against a real HTTP server started by the tests (http.server on 127.0.0.1):
pagination of every kind, records paths, headers from the environment, incremental pulls,
retries on 429 and 5xx, immediate failure on 404, nested records, column types.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest

from medallion.project import Project
from medallion.storage import tables

PEOPLE = [
    {"id": 1, "name": "Ann", "price": "1.10", "updated": "2024-01-01T10:00:00",
     "address": {"city": "Oslo", "geo": {"lat": 59.9}}},
    {"id": 2, "name": "Bo", "price": "2.20", "updated": "2024-01-02T10:00:00",
     "address": {"city": "Rome", "geo": {"lat": 41.9}}},
    {"id": 3, "name": "Cy", "price": "3.30", "updated": "2024-01-03T10:00:00",
     "address": {"city": "Lima", "geo": {"lat": -12.0}}},
    {"id": 4, "name": "Di", "price": "4.40", "updated": "2024-01-04T10:00:00",
     "address": {"city": "Kyiv", "geo": {"lat": 50.4}}},
    {"id": 5, "name": "Ed", "price": "5.50", "updated": "2024-01-05T10:00:00",
     "address": {"city": "Cork", "geo": {"lat": 51.9}}},
]  # fmt: skip
Reply = tuple[int, dict[str, str], Any]  # status, headers, JSON body


class Api:
    """A JSON API on a free port: `routes[path](query, headers) -> (status, headers, body)`;
    every request is recorded as (path, query, headers)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict[str, str], dict[str, str]], Reply]] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                headers = dict(self.headers.items())
                api.requests.append((parts.path, query, headers))
                route = api.routes.get(parts.path)
                status, extra, body = route(query, headers) if route else (404, {}, {"e": "?"})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hits(self, path: str) -> list[dict[str, str]]:
        return [q for p, q, _ in self.requests if p == path]


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.server.shutdown()
    server.server.server_close()


def make(root: Path, source: str) -> Project:
    """A project whose one source `people` is `type: rest` plus the YAML lines in `source`."""
    body = "".join(f"    {line}\n" for line in textwrap.dedent(source).strip().splitlines())
    root.mkdir(parents=True, exist_ok=True)
    (root / "medallion.yml").write_text(
        f"name: p\nsources:\n  people:\n    type: rest\n{body}", encoding="utf-8"
    )
    return Project.load(root)


def ids(project: Project) -> list[int]:
    return [r["id"] for r in project.query("select id from bronze.people order by id").to_pylist()]


def run_ok(project: Project) -> Any:
    result = project.run()
    assert result.ok, (result.error, [(s.node, s.error) for s in result.steps])
    return result


def test_page_number_pagination_with_records_path(tmp_path: Path, api: Api) -> None:
    def pages(q: dict[str, str], h: dict[str, str]) -> Reply:
        page, size = int(q["page"]), int(q["per_page"])
        chunk = PEOPLE[(page - 1) * size : page * size]
        return 200, {}, {"data": {"items": chunk, "page": page}}

    api.routes["/people"] = pages
    project = make(
        tmp_path / "p",
        f"""
        url: {api.url}/people
        records: data.items
        pagination: {{type: page, param: page, size: 2, size_param: per_page}}
        """,
    )
    result = run_ok(project)
    assert result.step("bronze.people").rows_written == 5
    assert ids(project) == [1, 2, 3, 4, 5]
    assert [q["page"] for q in api.hits("/people")] == ["1", "2", "3", "4"]
    assert project.query("select distinct _source_file from bronze.people").to_pylist() == [
        {"_source_file": f"rest:{api.url}/people"}
    ]


def test_offset_pagination(tmp_path: Path, api: Api) -> None:
    def offsets(q: dict[str, str], h: dict[str, str]) -> Reply:
        start, size = int(q["offset"]), int(q["limit"])
        return 200, {}, PEOPLE[start : start + size]

    api.routes["/people"] = offsets
    project = make(
        tmp_path / "p",
        f"""
        url: {api.url}/people
        pagination: {{type: offset, param: offset, size: 2, size_param: limit}}
        """,
    )
    run_ok(project)
    assert ids(project) == [1, 2, 3, 4, 5]
    # the third page is short (1 record): no fourth request
    assert [q["offset"] for q in api.hits("/people")] == ["0", "2", "4"]


def test_cursor_token_pagination(tmp_path: Path, api: Api) -> None:
    tokens = {"": (0, "t2"), "t2": (2, "t3"), "t3": (4, None)}

    def by_token(q: dict[str, str], h: dict[str, str]) -> Reply:
        start, following = tokens[q.get("after", "")]
        return 200, {}, {"items": PEOPLE[start : start + 2], "meta": {"next": following}}

    api.routes["/people"] = by_token
    project = make(
        tmp_path / "p",
        f"""
        url: {api.url}/people
        records: items
        pagination: {{type: cursor, param: after, next_path: meta.next}}
        """,
    )
    run_ok(project)
    assert ids(project) == [1, 2, 3, 4, 5]
    assert [q.get("after") for q in api.hits("/people")] == [None, "t2", "t3"]


def test_link_header_pagination(tmp_path: Path, api: Api) -> None:
    def linked(q: dict[str, str], h: dict[str, str]) -> Reply:
        n = int(q.get("n", "0"))
        link = {"Link": f'<{api.url}/people?n={n + 3}>; rel="next"'} if n + 3 < 5 else {}
        return 200, link, PEOPLE[n : n + 3]

    api.routes["/people"] = linked
    project = make(tmp_path / "p", f"url: {api.url}/people\npagination: {{type: link}}")
    run_ok(project)
    assert ids(project) == [1, 2, 3, 4, 5]
    assert [q.get("n") for q in api.hits("/people")] == [None, "3"]


def test_headers_from_the_environment(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-123-secret")
    api.routes["/people"] = lambda q, h: (200, {}, PEOPLE[:2])
    project = make(
        tmp_path / "p",
        f"""
        url: {api.url}/people
        headers: {{Authorization: "Bearer ${{API_TOKEN}}", X-Client: medallion}}
        """,
    )
    run_ok(project)
    (_, _, headers), *_ = api.requests
    assert headers["Authorization"] == "Bearer tok-123-secret"
    assert headers["X-Client"] == "medallion"
    state = b"".join(p.read_bytes() for p in project.state_dir.rglob("*") if p.is_file())
    assert b"tok-123-secret" not in state


def test_incremental_pulls_send_the_watermark(tmp_path: Path, api: Api) -> None:
    live = PEOPLE[:3]

    def since(q: dict[str, str], h: dict[str, str]) -> Reply:
        return 200, {}, [p for p in live if p["updated"] > q.get("since", "")]

    api.routes["/people"] = since
    project = make(
        tmp_path / "p",
        f"""
        url: {api.url}/people
        cursor: {{param: since, field: updated, initial: "2024-01-01T12:00:00"}}
        """,
    )
    first = run_ok(project)
    assert first.step("bronze.people").rows_written == 2
    assert ids(project) == [2, 3]
    live = [*PEOPLE[:3], PEOPLE[3], {**PEOPLE[0], "name": "Ann2", "updated": "2024-01-09T00:00:00"}]
    second = run_ok(project)
    assert second.step("bronze.people").rows_written == 2
    assert [q.get("since") for q in api.hits("/people")] == [
        "2024-01-01T12:00:00",
        "2024-01-03T10:00:00",
    ]
    assert ids(project) == [1, 2, 3, 4]
    newest = tables.history(project.catalog.path("bronze.people"))[0]
    assert newest["medallion.watermark"] == "2024-01-09T00:00:00"
    assert second.step("bronze.people").details["watermark"] == "2024-01-09T00:00:00"
    third = run_ok(project)  # nothing newer: no commit, the watermark stays
    assert api.hits("/people")[-1] == {"since": "2024-01-09T00:00:00"}
    assert third.step("bronze.people").delta_version is None
    assert tables.open_table(project.catalog.path("bronze.people")).version() == 1


def test_429_with_retry_after_then_success(tmp_path: Path, api: Api) -> None:
    calls = iter([(429, {"Retry-After": "1"}, {"error": "slow down"})])

    api.routes["/people"] = lambda q, h: next(calls, (200, {}, PEOPLE))
    project = make(tmp_path / "p", f"url: {api.url}/people\nretries: 2\nretry_backoff: 30")
    result = run_ok(project)  # would take 30 s if Retry-After were ignored
    assert result.duration_s < 20
    assert len(api.hits("/people")) == 2
    assert ids(project) == [1, 2, 3, 4, 5]


def test_500_twice_then_success(tmp_path: Path, api: Api) -> None:
    calls = iter([(500, {}, {"error": "boom"}), (503, {}, {"error": "down"})])
    api.routes["/people"] = lambda q, h: next(calls, (200, {}, PEOPLE[:1]))
    project = make(tmp_path / "p", f"url: {api.url}/people\nretries: 3\nretry_backoff: 0.1")
    run_ok(project)
    assert len(api.hits("/people")) == 3
    assert ids(project) == [1]


def test_404_fails_at_once_with_the_status(tmp_path: Path, api: Api) -> None:
    project = make(tmp_path / "p", f"url: {api.url}/nothing\nretries: 5\nretry_backoff: 10")
    result = project.run()
    assert result.status == "failed"
    assert result.duration_s < 5
    error = result.step("bronze.people").error or ""
    assert "404" in error
    assert f"{api.url}/nothing" in error
    assert len(api.requests) == 1
    assert not project.catalog.exists("bronze.people")


def test_nested_objects_stay_structs(tmp_path: Path, api: Api) -> None:
    api.routes["/people"] = lambda q, h: (200, {}, PEOPLE[:2])
    project = make(tmp_path / "p", f"url: {api.url}/people")
    run_ok(project)
    schema = pa.schema(tables.open_table(project.catalog.path("bronze.people")).schema().to_arrow())
    assert pa.types.is_struct(schema.field("address").type)
    got = project.query(
        "select address.city as city, address.geo.lat as lat from bronze.people order by id"
    )
    assert got.to_pylist() == [{"city": "Oslo", "lat": 59.9}, {"city": "Rome", "lat": 41.9}]


def test_flatten_makes_parent_child_columns(tmp_path: Path, api: Api) -> None:
    api.routes["/people"] = lambda q, h: (200, {}, PEOPLE[:2])
    project = make(tmp_path / "p", f"url: {api.url}/people\nflatten: true")
    run_ok(project)
    got = project.query("select * exclude (_source_file, _ingested_at, _run_id) from bronze.people")
    assert got.column_names == ["id", "name", "price", "updated", "address_city", "address_geo_lat"]
    assert got.sort_by("id").select(["address_city", "address_geo_lat"]).to_pylist() == [
        {"address_city": "Oslo", "address_geo_lat": 59.9},
        {"address_city": "Rome", "address_geo_lat": 41.9},
    ]


def test_column_type_overrides(tmp_path: Path, api: Api) -> None:
    api.routes["/people"] = lambda q, h: (200, {}, PEOPLE[:2])
    project = make(
        tmp_path / "p",
        f"""
        url: {api.url}/people
        columns: {{price: 'DECIMAL(10,2)', updated: TIMESTAMP, id: SMALLINT}}
        """,
    )
    run_ok(project)
    schema = pa.schema(tables.open_table(project.catalog.path("bronze.people")).schema().to_arrow())
    assert schema.field("price").type == pa.decimal128(10, 2)
    assert schema.field("updated").type == pa.timestamp("us")
    assert schema.field("id").type == pa.int16()
    assert schema.field("name").type == pa.string()
    got = project.query("select id, price, updated from bronze.people order by id").to_pylist()
    assert got == [
        {"id": 1, "price": Decimal("1.10"), "updated": datetime(2024, 1, 1, 10)},
        {"id": 2, "price": Decimal("2.20"), "updated": datetime(2024, 1, 2, 10)},
    ]


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TMPDIR of this test's own, where the REST reader spills pages (checked empty after)."""
    import tempfile

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return tmp


def paged_people(api: Api, root: Path) -> Project:
    """A project whose bronze.people pulls /people two records a page."""
    return make(
        root / "p",
        f"""
        url: {api.url}/people
        pagination: {{type: page, param: page, size: 2}}
        """,
    )


def test_pages_of_different_shapes_are_unified_and_the_spill_is_removed(
    tmp_path: Path, api: Api, private_tmp: Path
) -> None:
    # every page is spilled to disk as it arrives and read back at the end: a field missing
    # from the first page and an integer that becomes a float later must come out as one
    # table would have them
    bodies = {
        1: [{"id": 1, "score": 1}, {"id": 2, "score": 2}],
        2: [{"id": 3, "score": 2.5, "tag": "x"}],
        3: [],
    }
    api.routes["/people"] = lambda q, h: (200, {}, bodies[int(q["page"])])
    project = paged_people(api, tmp_path)
    run_ok(project)
    got = project.query("select id, score, tag from bronze.people order by id")
    assert got.schema.field("score").type == pa.float64()
    assert got.to_pylist() == [
        {"id": 1, "score": 1.0, "tag": None},
        {"id": 2, "score": 2.0, "tag": None},
        {"id": 3, "score": 2.5, "tag": "x"},
    ]
    assert list(private_tmp.iterdir()) == []  # the spill is gone


def test_a_page_failing_mid_pull_commits_nothing_and_removes_the_spill(
    tmp_path: Path, api: Api, private_tmp: Path
) -> None:
    def pages(q: dict[str, str], h: dict[str, str]) -> Reply:
        if q["page"] == "1":
            return 200, {}, PEOPLE[:2]
        return 404, {}, {"error": "gone"}

    api.routes["/people"] = pages
    project = paged_people(api, tmp_path)
    result = project.run()
    assert result.status == "failed"
    assert "404" in (result.step("bronze.people").error or "")
    assert not project.catalog.exists("bronze.people")
    assert list(private_tmp.iterdir()) == []  # page 1's spill is gone too
