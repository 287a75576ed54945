"""CSV sources: format options, declared vs inferred types, rejected rows, globs, bad headers.

Every test writes a tiny file, runs the project for real (DuckDB, Delta, SQLite state) and checks
the bronze table, the quarantine table and the step counters against values worked out by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from medallion.project import Project

MakeProject = Callable[..., Project]
Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture


# -- format options ----------------------------------------------------------------------------


def test_header_and_inferred_types(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    p = make_project(source_config("d/a.csv"), files={"d/a.csv": "id,name,amount\n1,Ann,2.5\n"})
    assert counters(run_ok(p)) == (1, 1, 0, 0)
    assert schema_of(p) == {"id": pa.int64(), "name": pa.string(), "amount": pa.float64()}
    assert rows(p, "id, name, amount") == [(1, "Ann", 2.5)]
    assert not p.catalog.exists("bronze.s__quarantine")


def test_semicolon_delimiter_keeps_commas_in_values(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    p = make_project(
        source_config("d/a.csv", delimiter="';'"),
        files={"d/a.csv": "id;name;amount\n1;Ann, Jr;2,5\n2;Bob;3\n"},
    )
    assert counters(run_ok(p)) == (2, 2, 0, 0)
    assert rows(p, "id, name, amount") == [(1, "Ann, Jr", "2,5"), (2, "Bob", "3")]


def test_tab_delimiter(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper
) -> None:
    p = make_project(
        source_config("d/a.tsv", delimiter='"\\t"'),
        files={"d/a.tsv": "id\tname\n1\tAnn Lee\n2\tBob\n"},
    )
    run_ok(p)
    assert rows(p, "id, name") == [(1, "Ann Lee"), (2, "Bob")]


def test_quoted_fields_with_commas_newlines_and_doubled_quotes(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    text = 'id,text\n1,"a, b"\n2,"line1\nline2"\n3,"say ""hi"""\n4,plain\n'
    p = make_project(source_config("d/a.csv"), files={"d/a.csv": text})
    assert counters(run_ok(p)) == (4, 4, 0, 0)
    assert rows(p, "id, text") == [(1, "a, b"), (2, "line1\nline2"), (3, 'say "hi"'), (4, "plain")]


def test_custom_quote_char(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper
) -> None:
    p = make_project(
        source_config("d/a.csv", quote='"\'"'),
        files={"d/a.csv": "id,text\n1,'a, b'\n2,'it''s'\n3,\"x\"\n"},
    )
    run_ok(p)
    # with ' as the quote, " is an ordinary character
    assert rows(p, "id, text") == [(1, "a, b"), (2, "it's"), (3, '"x"')]


def test_utf8_bom_is_not_part_of_the_first_column_name(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
) -> None:
    p = make_project(source_config("d/a.csv"), files={"d/a.csv": "\ufeffid,name\n1,Ann\n".encode()})
    run_ok(p)
    assert list(schema_of(p)) == ["id", "name"]
    assert rows(p, "id, name") == [(1, "Ann")]


def test_latin1_encoding(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper
) -> None:
    data = "id,city\n1,Montréal\n2,Köln\n".encode("latin-1")
    assert b"\xe9" in data  # é as one latin-1 byte: not valid UTF-8
    p = make_project(source_config("d/a.csv", encoding="latin-1"), files={"d/a.csv": data})
    run_ok(p)
    assert rows(p, "id, city") == [(1, "Montréal"), (2, "Köln")]


def test_utf16_encoding(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper
) -> None:
    data = "id,name\n1,José\n2,Zoë\n".encode("utf-16")  # with a byte-order mark
    p = make_project(source_config("d/a.csv", encoding="utf-16"), files={"d/a.csv": data})
    run_ok(p)
    assert rows(p, "id, name") == [(1, "José"), (2, "Zoë")]


def test_null_markers(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    p = make_project(
        source_config("d/a.csv", null_values="['', NA, 'NULL']", columns="{x: INTEGER}"),
        files={"d/a.csv": "id,x,y\n1,NA,a\n2,,NULL\n3,5,n/a\n"},
    )
    assert counters(run_ok(p)) == (3, 3, 0, 0)
    assert rows(p, "id, x, y") == [(1, None, "a"), (2, None, None), (3, 5, "n/a")]


def test_null_markers_are_used_when_inferring_types(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    # x holds only numbers and null markers, so it is a numeric column, as DuckDB infers it
    # when given the same null markers
    p = make_project(
        source_config("d/a.csv", null_values="['', NA, 'NULL']"),
        files={"d/a.csv": "id,x\n1,NA\n2,\n3,5\n4,NULL\n"},
    )
    assert counters(run_ok(p)) == (4, 4, 0, 0)
    assert schema_of(p) == {"id": pa.int64(), "x": pa.int64()}
    assert rows(p, "id, x") == [(1, None), (2, None), (3, 5), (4, None)]


def test_skip_rows_before_the_header(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    p = make_project(
        source_config("d/a.csv", skip_rows="2", columns="{n: INTEGER}"),
        files={"d/a.csv": "report of 2024\n# a, comment\nid,n\n1,1\n2,zz\n3,3\n"},
    )
    assert counters(run_ok(p)) == (3, 2, 1, 0)
    assert rows(p, "id, n") == [(1, 1), (3, 3)]
    q = quarantine(p)
    # line numbers are physical lines of the file, skipped lines included
    assert [(f, line, raw) for f, line, raw, _ in q] == [("d/a.csv", 5, "2,zz")]


def test_no_header_with_listed_columns(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    p = make_project(
        source_config("d/a.csv", header="false", columns="{id: INTEGER, name: VARCHAR}"),
        files={"d/a.csv": "1,Ann\n2,Bob\n"},
    )
    assert counters(run_ok(p)) == (2, 2, 0, 0)
    assert schema_of(p) == {"id": pa.int32(), "name": pa.string()}
    assert rows(p, "id, name") == [(1, "Ann"), (2, "Bob")]


# -- types and rejected rows -----------------------------------------------------------------


def test_declared_types_and_rows_that_do_not_convert(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    from datetime import date
    from decimal import Decimal

    text = (
        "id,qty,price,day,note\n"
        "1,2,3.50,2024-01-02,a\n"
        "2,x,1.00,2024-01-03,b\n"
        "3,4,5.25,2024-13-01,c\n"
        "4,5,6.00,2024-01-04,d\n"
    )
    p = make_project(
        source_config("d/a.csv", columns='{qty: INTEGER, price: "DECIMAL(12,2)", day: DATE}'),
        files={"d/a.csv": text},
    )
    result = run_ok(p)
    assert counters(result) == (4, 2, 2, 0)
    assert result.step("bronze.s").details["quarantine_version"] == 0
    assert schema_of(p) == {
        "id": pa.int64(),  # inferred
        "qty": pa.int32(),
        "price": pa.decimal128(12, 2),
        "day": pa.date32(),
        "note": pa.string(),  # inferred
    }
    assert rows(p, "id, qty, price, day, note") == [
        (1, 2, Decimal("3.50"), date(2024, 1, 2), "a"),
        (4, 5, Decimal("6.00"), date(2024, 1, 4), "d"),
    ]
    (f1, l1, r1, e1), (f2, l2, r2, e2) = quarantine(p)
    # the line and the raw line, from DuckDB's reader, which rejects the same rows
    assert (f1, l1, r1, e1) == (
        "d/a.csv",
        3,
        "2,x,1.00,2024-01-03,b",
        'qty: "x" does not convert to INTEGER',
    )
    assert (f2, l2, r2) == ("d/a.csv", 4, "3,4,5.25,2024-13-01,c")
    assert e2 == 'day: "2024-13-01" does not convert to DATE'


def test_too_many_and_too_few_fields_are_quarantined(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    text = "id,a,b,c\n1,x,y,z\n2,x\n3,x,y,z,w\n4,x,y,z\n"
    p = make_project(source_config("d/a.csv", columns="{id: INTEGER}"), files={"d/a.csv": text})
    assert counters(run_ok(p)) == (4, 2, 2, 0)
    assert rows(p, "id, a, b, c") == [(1, "x", "y", "z"), (4, "x", "y", "z")]
    (f1, l1, r1, e1), (f2, l2, r2, e2) = quarantine(p)
    assert (f1, l1, r1) == ("d/a.csv", 3, "2,x")
    # DuckDB reports each missing column ("Found: 2", "Found: 3"): the row's error says it once
    assert e1 == "MISSING COLUMNS: Expected Number of Columns: 4 Found: 2"
    assert (f2, l2, r2) == ("d/a.csv", 4, "3,x,y,z,w")
    assert e2.startswith("TOO MANY COLUMNS")


def test_unterminated_quote_is_quarantined(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    text = 'id,text\n1,ok\n2,"broken\n3,after\n'
    p = make_project(source_config("d/a.csv", columns="{id: INTEGER}"), files={"d/a.csv": text})
    # the open quote runs to the end of the file: line 3 onwards is one rejected record
    assert counters(run_ok(p)) == (2, 1, 1, 0)
    assert rows(p, "id, text") == [(1, "ok")]
    [(file, line, raw, error)] = quarantine(p)
    assert (file, line, raw) == ("d/a.csv", 3, '2,"broken\n3,after\n')
    assert "unterminated quote" in error


def test_invalid_utf8_row_is_quarantined_not_the_whole_file(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    data = b"id,c\n1,ok\n2,\xe9t\xe9\n3,fine\n"  # line 3 is latin-1, not UTF-8
    p = make_project(
        source_config("d/a.csv", columns="{id: INTEGER, c: VARCHAR}"), files={"d/a.csv": data}
    )
    assert counters(run_ok(p)) == (3, 2, 1, 0)
    assert rows(p, "id, c") == [(1, "ok"), (3, "fine")]
    [(file, line, _raw, error)] = quarantine(p)
    assert (file, line) == ("d/a.csv", 3)
    assert "utf-8" in error


def test_empty_file_holds_no_rows(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper, counters: Helper
) -> None:
    p = make_project(source_config("d/a.csv"), files={"d/a.csv": ""})
    assert counters(run_ok(p))[:3] == (0, 0, 0)
    assert not p.catalog.exists("bronze.s")

    q = make_project(
        source_config("d/*.csv"),
        files={"d/a.csv": "", "d/b.csv": "id,name\n1,Ann\n"},
        name="mixed",
    )
    result = run_ok(q)
    assert counters(result) == (1, 1, 0, 0)
    assert result.step("bronze.s").details["files"] == ["d/a.csv", "d/b.csv"]
    assert rows(q, "id, name, _source_file") == [(1, "Ann", "d/b.csv")]


def test_glob_unifies_column_order_and_added_columns(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    schema_of: Helper,
    counters: Helper,
) -> None:
    p = make_project(
        source_config("d/*.csv"),
        files={
            "d/a.csv": "id,name\n1,Ann\n",
            "d/b.csv": "name,id\nBob,2\n",
            "d/c.csv": "id,name,email\n3,Cy,c@x.org\n",
        },
    )
    result = run_ok(p)
    assert counters(result) == (3, 3, 0, 0)
    assert result.step("bronze.s").details["files"] == ["d/a.csv", "d/b.csv", "d/c.csv"]
    assert schema_of(p) == {"id": pa.int64(), "name": pa.string(), "email": pa.string()}
    assert rows(p, "id, name, email, _source_file") == [
        (1, "Ann", None, "d/a.csv"),
        (2, "Bob", None, "d/b.csv"),
        (3, "Cy", "c@x.org", "d/c.csv"),
    ]


def test_duplicate_header_names_fail_the_step(
    make_project: MakeProject, source_config: Helper
) -> None:
    p = make_project(source_config("d/a.csv"), files={"d/a.csv": "id,name,id\n1,a,2\n"})
    result = p.run()
    assert result.status == "failed"
    step = result.step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert "d/a.csv: the header has duplicate column names: id" in step.error
    assert not p.catalog.exists("bronze.s")


def test_a_header_lacking_a_declared_column_fails_the_step(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, rows: Helper
) -> None:
    """A renamed column would load as NULLs: the file is refused, nothing is written."""
    project = make_project(
        source_config("data/*.csv", columns="{id: INTEGER, amount: INTEGER}"),
        files={"data/a.csv": "id,amount\n1,10\n"},
    )
    run_ok(project)
    (project.root / "data/b.csv").write_text("Id,amount\n2,20\n")
    result = project.run()
    step = result.step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert "b.csv:1: the header lacks the declared column(s) id; header: Id, amount" in step.error
    assert rows(project, "id, amount") == [(1, 10)]


def test_a_file_sharing_no_column_with_the_table_fails_the_step(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, schema_of: Helper
) -> None:
    """The wrong delimiter makes the whole header one column name: not a new column."""
    project = make_project(source_config("data/*.csv"), files={"data/a.csv": "id,amount\n1,10\n"})
    run_ok(project)
    (project.root / "data/b.csv").write_text("id;amount\n2;20\n")
    result = project.run()
    step = result.step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert "the header shares no column with bronze.s (id, amount); header: id;amount" in (
        step.error
    )
    assert "is the delimiter right?" in step.error
    assert schema_of(project) == {"id": pa.int64(), "amount": pa.int64()}


def test_a_header_differing_from_the_table_only_in_case_says_so(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, schema_of: Helper
) -> None:
    project = make_project(source_config("data/*.csv"), files={"data/a.csv": "id,amount\n1,10\n"})
    run_ok(project)
    (project.root / "data/b.csv").write_text("ID,Amount\n2,20\n")
    result = project.run()
    step = result.step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert (
        "b.csv:1: the header shares no column with bronze.s (id, amount); header: ID, Amount "
        "(differs only in case: ID for id, Amount for amount; column names match exactly)"
    ) in step.error
    assert "hint: write the header's names as bronze.s has them (id, amount)" in step.error
    assert schema_of(project) == {"id": pa.int64(), "amount": pa.int64()}


def test_a_declared_column_found_only_in_another_case_says_so(
    make_project: MakeProject, source_config: Helper, rows: Helper
) -> None:
    project = make_project(
        source_config("data/*.csv", columns="{id: INTEGER}"),
        files={"data/a.csv": "Id,amount\n1,10\n"},
    )
    step = project.run().step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert "(differs only in case: Id for id; column names match exactly)" in step.error
    assert "as declared in sources.s.columns (id), or declare them as the file" in step.error
    assert not project.catalog.exists("bronze.s")


def test_a_header_column_in_another_case_than_the_table_s_is_refused_naming_both(
    make_project: MakeProject, source_config: Helper, run_ok: Helper, schema_of: Helper
) -> None:
    """`Amount` beside the table's `amount` is no new column (Delta's names ignore case): the
    file is refused before anything is written, not an internal error of the writer."""
    project = make_project(source_config("data/*.csv"), files={"data/a.csv": "id,amount\n1,10\n"})
    run_ok(project)
    (project.root / "data/b.csv").write_text("id,Amount\n2,20\n")
    step = project.run().step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert (
        "b.csv:1: the header has Amount, which differs from the columns of bronze.s only in case"
        " (Amount for amount): a Delta table's column names ignore case"
    ) in step.error
    assert "internal error" not in step.error
    assert schema_of(project) == {"id": pa.int64(), "amount": pa.int64()}


def test_files_of_one_batch_spelling_a_column_in_two_cases_are_refused(
    make_project: MakeProject, source_config: Helper
) -> None:
    project = make_project(
        source_config("data/*.csv"),
        files={"data/a.csv": "id,amount\n1,10\n", "data/b.csv": "id,Amount\n2,20\n"},
    )
    step = project.run().step("bronze.s")
    assert step.status == "failed"
    assert step.error is not None
    assert "b.csv: column Amount differs only in case from column amount" in step.error
    assert "hint: write it as amount in the file's header" in step.error
    assert not project.catalog.exists("bronze.s")
