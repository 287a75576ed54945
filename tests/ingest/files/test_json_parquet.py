"""JSON and Parquet sources: formats, malformed records and files, nested values, declared types,
several Parquet files with different columns, corrupt files."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medallion.project import Project

MakeProject = Callable[..., Project]
Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# -- JSON ------------------------------------------------------------------------------------

ANN_BOB_ARRAY = '[{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bob"}]'
ANN_BOB_LINES = '{"id": 1, "name": "Ann"}\n{"id": 2, "name": "Bob"}\n'


def test_json_array_format(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    p = make_project(
        source_config("d/a.json", json_format="array"), files={"d/a.json": ANN_BOB_ARRAY}
    )
    assert counters(run_ok(p)) == (2, 2, 0, 0)
    assert schema_of(p) == {"id": pa.int64(), "name": pa.string()}
    assert rows(p, "id, name, _source_file") == [(1, "Ann", "d/a.json"), (2, "Bob", "d/a.json")]


def test_json_newline_delimited_format(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    p = make_project(
        source_config("d/a.jsonl", json_format="newline_delimited"),
        files={"d/a.jsonl": ANN_BOB_LINES},
    )
    assert counters(run_ok(p)) == (2, 2, 0, 0)
    assert rows(p, "id, name") == [(1, "Ann"), (2, "Bob")]


def test_json_format_is_auto_detected_per_file(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    p = make_project(
        source_config("d/*.json"),
        files={"d/a.json": ANN_BOB_LINES, "d/b.json": '[{"id": 3, "name": "Cy"}]'},
    )
    result = run_ok(p)
    assert counters(result) == (3, 3, 0, 0)
    assert result.step("bronze.s").details["files"] == ["d/a.json", "d/b.json"]
    assert rows(p, "id, name, _source_file") == [
        (1, "Ann", "d/a.json"),
        (2, "Bob", "d/a.json"),
        (3, "Cy", "d/b.json"),
    ]


def test_malformed_and_non_object_ndjson_lines_are_quarantined(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    text = (
        '{"id": 1, "name": "Ann"}\n'
        '{"id": 2, "name": \n'  # line 2: cut off
        '{"id": 3, "name": "Cy"}\n'
        "[1, 2]\n"  # line 4: not an object
        '"str"\n'  # line 5: not an object
        '{"id": 4, "name": "Di"}\n'
    )
    p = make_project(source_config("d/a.jsonl"), files={"d/a.jsonl": text})
    assert counters(run_ok(p)) == (6, 3, 3, 0)
    assert rows(p, "id, name, _source_file") == [
        (1, "Ann", "d/a.jsonl"),
        (3, "Cy", "d/a.jsonl"),
        (4, "Di", "d/a.jsonl"),
    ]
    q = quarantine(p)
    assert [(f, line, raw) for f, line, raw, _ in q] == [
        ("d/a.jsonl", 2, '{"id": 2, "name": '),
        ("d/a.jsonl", 4, "[1, 2]"),
        ("d/a.jsonl", 5, '"str"'),
    ]
    assert q[0][3].startswith("malformed JSON")
    assert q[1][3] == "expected a JSON object, got list"
    assert q[2][3] == "expected a JSON object, got str"


@pytest.mark.parametrize("end", ["\r", "\r\n"])
def test_ndjson_lines_ending_in_cr_or_crlf_are_read_line_by_line(
    end: str,
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    """A file of old-Mac (CR) or Windows (CRLF) line ends whose bad line takes it line by line:
    each line its own record, the bad one quarantined under its line number."""
    lines = ['{"id": 1, "name": "Ann"}', '{"id": 2, "name": ', "", '{"id": 3, "name": "Cy"}']
    p = make_project(source_config("d/a.jsonl"), files={"d/a.jsonl": end.join(lines) + end})
    assert counters(run_ok(p)) == (3, 2, 1, 0)
    assert rows(p, "id, name") == [(1, "Ann"), (3, "Cy")]
    q = quarantine(p)
    assert [(f, line, raw) for f, line, raw, _ in q] == [("d/a.jsonl", 2, '{"id": 2, "name": ')]


def test_a_json_line_that_is_not_utf8_is_quarantined_not_loaded_with_replacements(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    """A latin-1 byte in a JSON line is rejected like a CSV row not in its encoding; decoded with
    U+FFFD it would load text the file does not hold. A BOM and real UTF-8 stay as they are."""
    data = (
        b'\xef\xbb\xbf{"id": 1, "name": "Zo\xc3\xab"}\n'
        b'{"id": 2, "name": "caf\xe9"}\n'  # line 2: latin-1 \xe9
        b'{"id": 3, "name": \n'  # line 3: cut off (the file takes the line-by-line path)
        b'{"id": 4, "name": "Di"}\n'
    )
    p = make_project(source_config("d/a.jsonl"), files={"d/a.jsonl": data})
    assert counters(run_ok(p)) == (4, 2, 2, 0)
    assert rows(p, "id, name") == [(1, "Zoë"), (4, "Di")]
    q = quarantine(p)
    assert [(f, line) for f, line, _, _ in q] == [("d/a.jsonl", 2), ("d/a.jsonl", 3)]
    assert q[0][2] == '{"id": 2, "name": "caf\ufffd"}'  # the raw line, as text can show it
    assert (
        q[0][3] == "invalid UTF-8 byte 0xe9 at byte 23 of the line: the file is not utf-8 encoded"
    )
    assert q[1][3].startswith("malformed JSON")


def test_a_json_file_not_in_utf8_fails_past_the_limit_saying_to_convert_it(
    make_project: MakeProject,
) -> None:
    p = make_project(
        "name: t\nsources:\n  s:\n    path: d/*.jsonl\n",
        files={"d/a.jsonl": "".join(f'{{"id": {i}, "c": "caf\xe9"}}\n' for i in range(3))
               .encode("latin-1")},
    )  # fmt: skip
    step = p.run().step("bronze.s")
    assert step.status == "failed"
    assert "3 of 3 rows rejected (100%)" in (step.error or ""), step.error
    assert "the text is not valid utf-8" in (step.error or ""), step.error
    assert "hint: JSON files are UTF-8: convert the file" in (step.error or ""), step.error
    assert p.catalog.tables() == []


def test_a_file_of_well_formed_json_that_is_not_objects_is_quarantined(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    """Every line parses, but two are no objects: DuckDB's default read would make the file one
    `json` column, every row NULL in the source's own columns."""
    p = make_project(source_config("d/*.jsonl"), files={"d/a.jsonl": '{"id": 1}\n'})
    run_ok(p)
    (p.root / "d/b.jsonl").write_text('42\n"hello"\n{"id": 3}\n')
    assert counters(run_ok(p)) == (3, 1, 2, 1)
    assert rows(p, "id") == [(1,), (3,)]
    assert list(schema_of(p)) == ["id"]
    assert [(f, line, raw) for f, line, raw, _ in quarantine(p)] == [
        ("d/b.jsonl", 1, "42"),
        ("d/b.jsonl", 2, '"hello"'),
    ]


def test_cut_off_json_array_fails_the_step_naming_the_file(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, versions: Helper
) -> None:
    """A JSON array cut short (a copy interrupted) cannot be read at all: the step fails naming
    the file, and nothing of the ingest is committed — not one quarantined "row", run green."""
    p = make_project(source_config("d/*.json"), files={"d/b.json": '{"id": 3, "name": "Cy"}\n'})
    run_ok(p)
    before = versions(p)
    broken = '[{"id": 1, "name": "Ann"}, {"id": 2, '
    (p.root / "d" / "a.json").write_text(broken, encoding="utf-8")
    (p.root / "d" / "c.json").write_text('{"id": 4, "name": "Di"}\n', encoding="utf-8")

    result = p.run()
    step = result.step("bronze.s")
    assert (result.status, step.status) == ("failed", "failed")
    assert "cannot read d/a.json: it is not a JSON array of objects" in step.error
    assert str(p.root / "d" / "a.json") in step.error
    assert versions(p) == before  # neither c.json's row nor anything else was written
    assert not p.catalog.exists("bronze.s__quarantine")

    (p.root / "d" / "a.json").write_text(broken + '"name": "Bob"}]', encoding="utf-8")
    assert result.step("bronze.s").rows_written is None
    fixed = run_ok(p)  # the file made whole: the next run ingests both files
    assert fixed.step("bronze.s").rows_written == 3


def test_nested_objects_are_kept_as_structs(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    text = (
        '{"id": 1, "addr": {"city": "Oslo", "zip": "0150"}, "tags": ["a", "b"]}\n'
        '{"id": 2, "addr": {"city": "Rome", "zip": "00100"}, "tags": []}\n'
    )
    p = make_project(source_config("d/a.jsonl"), files={"d/a.jsonl": text})
    assert counters(run_ok(p)) == (2, 2, 0, 0)
    assert schema_of(p) == {
        "id": pa.int64(),
        "addr": pa.struct([("city", pa.string()), ("zip", pa.string())]),
        "tags": pa.list_(pa.field("l", pa.string())),
    }
    assert rows(p, "id, addr, tags") == [
        (1, {"city": "Oslo", "zip": "0150"}, ["a", "b"]),
        (2, {"city": "Rome", "zip": "00100"}, []),
    ]
    assert rows(p, "id, addr.city", order="id") == [(1, "Oslo"), (2, "Rome")]


def test_declared_json_type_rejects_records_that_do_not_convert(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    from decimal import Decimal

    text = (
        '{"id": 1, "amount": "1.50"}\n'
        '{"id": 2, "amount": "abc"}\n'  # not a decimal
        '{"id": 3, "amount": "2.25"}\n'
    )
    p = make_project(
        source_config("d/a.jsonl", columns="{amount: 'DECIMAL(12,2)'}"),
        files={"d/a.jsonl": text},
    )
    assert counters(run_ok(p)) == (3, 2, 1, 0)
    assert schema_of(p) == {"id": pa.int64(), "amount": pa.decimal128(12, 2)}
    assert rows(p, "id, amount") == [(1, Decimal("1.50")), (3, Decimal("2.25"))]
    [(file, line, raw, error)] = quarantine(p)
    assert (file, line) == ("d/a.jsonl", None)
    # the whole record, as JSON (numbers as the text they are converted from)
    assert json.loads(raw) == {"id": "2", "amount": "abc"}
    assert error == 'amount: "abc" does not convert to DECIMAL(12,2)'


def test_declared_varchar_keeps_the_text_as_written(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    """DuckDB would read an ISO time as a timestamp; declared VARCHAR, the file's text stays."""
    text = '{"id": 1, "at": "2024-03-05T14:22:10Z", "n": {"a": 1}}\n{"id": 2, "at": "soon"}\n'
    p = make_project(source_config("d/a.jsonl", columns="{at: VARCHAR}"), files={"d/a.jsonl": text})
    assert counters(run_ok(p)) == (2, 2, 0, 0)
    assert rows(p, 'id, "at", n') == [(1, "2024-03-05T14:22:10Z", {"a": 1}), (2, "soon", None)]


def test_later_json_file_with_another_type_keeps_the_table_type(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    p = make_project(source_config("d/*.jsonl"), files={"d/a.jsonl": '{"id": 1}\n'})
    run_ok(p)
    (p.root / "d" / "b.jsonl").write_text('{"id": "abc"}\n{"id": "5"}\n', encoding="utf-8")
    result = run_ok(p)
    assert counters(result) == (2, 1, 1, 1)
    assert schema_of(p) == {"id": pa.int64()}
    assert rows(p, "id, _source_file") == [(1, "d/a.jsonl"), (5, "d/b.jsonl")]
    [(file, line, raw, error)] = quarantine(p)
    assert (file, line, error) == ("d/b.jsonl", None, 'id: "abc" does not convert to BIGINT')
    assert json.loads(raw) == {"id": "abc"}  # the record, not only the bad value


# -- Parquet ---------------------------------------------------------------------------------


def test_parquet_files_with_different_columns_are_unioned(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    a = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["Ann", "Bob"]})
    b = pa.table({"id": pa.array([3], pa.int64()), "name": ["Cy"], "score": [9.5]})
    c = pa.table({"score": [1.0], "id": pa.array([4], pa.int64())})
    p = make_project(
        source_config("d/*.parquet"),
        files={
            "d/a.parquet": parquet_bytes(a),
            "d/b.parquet": parquet_bytes(b),
            "d/c.parquet": parquet_bytes(c),
        },
    )
    result = run_ok(p)
    assert counters(result) == (4, 4, 0, 0)
    assert result.step("bronze.s").details["files"] == [
        "d/a.parquet",
        "d/b.parquet",
        "d/c.parquet",
    ]
    assert schema_of(p) == {"id": pa.int64(), "name": pa.string(), "score": pa.float64()}
    assert rows(p, "id, name, score, _source_file") == [
        (1, "Ann", None, "d/a.parquet"),
        (2, "Bob", None, "d/a.parquet"),
        (3, "Cy", 9.5, "d/b.parquet"),
        (4, None, 1.0, "d/c.parquet"),
    ]


def test_truncated_or_corrupt_parquet_fails_the_step_naming_the_file(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, versions: Helper
) -> None:
    good = parquet_bytes(pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["Ann", "Bob"]}))
    p = make_project(source_config("d/*.parquet"), files={"d/a.parquet": good})
    run_ok(p)
    before = versions(p)
    truncated = parquet_bytes(pa.table({"id": pa.array([3], pa.int64())}))
    for name, data in [("c.parquet", truncated[: len(truncated) // 2]), ("b.parquet", b"PAR1 no")]:
        (p.root / "d" / name).write_bytes(data)
        (p.root / "d" / "z.parquet").write_bytes(good)  # a good file in the same ingest
        result = p.run()
        step = result.step("bronze.s")
        assert step.status == "failed"
        assert f"cannot read d/{name}: not a readable Parquet file" in step.error
        assert versions(p) == before  # nothing committed, no quarantine row for the file
        assert not p.catalog.exists("bronze.s__quarantine")
        (p.root / "d" / name).unlink()


def test_only_a_corrupt_parquet_file_creates_no_table(
    make_project: MakeProject, source_config: Helper
) -> None:
    p = make_project(source_config("d/*.parquet"), files={"d/a.parquet": b"garbage"})
    result = p.run()
    assert result.step("bronze.s").status == "failed"
    assert "cannot read d/a.parquet" in (result.step("bronze.s").error or "")
    assert p.catalog.tables() == []


def test_a_json_key_in_another_case_than_the_table_s_column_is_refused_naming_both(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, schema_of: Helper
) -> None:
    project = make_project(
        source_config("data/*.json"), files={"data/a.json": '{"id": 1, "amount": 2}\n'}
    )
    run_ok(project)
    (project.root / "data/b.json").write_text('{"id": 2, "Amount": 3}\n')
    step = project.run().step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert "column Amount differs only in case from the table's column amount" in step.error
    assert "hint: write it as amount in the file" in step.error
    assert "internal error" not in step.error
    assert schema_of(project) == {"id": pa.int64(), "amount": pa.int64()}
