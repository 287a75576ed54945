"""A declared (or the table's) type never changes a value silently: a value that converts only by
rounding, dropping a time, an offset or trailing text is a quarantined row with its reason.

DuckDB's casts and its CSV reader turn '1.5' into the BIGINT 2, '1.234' into the DECIMAL(12,2)
1.23, '2024-01-05 10:00' into the DATE 2024-01-05, and '2024-01-05x' into a DATE too; each case
below was loaded so before (an id that joins to the wrong customer)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medallion.project import Project

MakeProject = Callable[..., Project]
Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture


def test_fractional_text_in_a_bigint_column_is_quarantined_not_rounded(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    text = "id,name\n1,Ann\n1.5,Bob\n2.0,Cy\n1e1,Di\n"
    p = make_project(source_config("d/a.csv", columns="{id: BIGINT}"), files={"d/a.csv": text})
    result = run_ok(p)
    assert counters(result) == (4, 3, 1, 0)
    # 2.0 and 1e1 are whole numbers: kept; 1.5 is not 2
    assert rows(p, "id, name") == [(1, "Ann"), (2, "Cy"), (10, "Di")]
    [(file, line, raw, error)] = quarantine(p)
    assert (file, line) == ("d/a.csv", None)  # DuckDB's reader does not see it as an error
    assert json.loads(raw) == {"id": "1.5", "name": "Bob"}
    assert error == 'id: "1.5" is not a whole number (BIGINT would round it)'


def test_the_rejects_are_explained_like_a_models_expectations(
    make_project: MakeProject, source_config: Helper, run_ok: Helper
) -> None:
    text = "id,qty\n1,2\n1.5,3\n2,x\n3,y\n4,4\n"
    p = make_project(
        source_config("d/a.csv", columns="{id: BIGINT, qty: INTEGER}"), files={"d/a.csv": text}
    )
    result = run_ok(p)
    step = result.step("bronze.s")
    assert [(c.name, c.kind, c.status, c.failing_rows, c.message) for c in step.checks] == [
        ("qty: does not convert to INTEGER", "expectation", "warn", 2,
         "2 of 5 rows violate it (quarantined)"),
        ("id: is not a whole number (BIGINT would round it)", "expectation", "warn", 1,
         "1 of 5 rows violate it (quarantined)"),
    ]  # fmt: skip
    # the run log keeps them as it keeps a model's expectations
    logged = {c["name"]: c for c in p.check_results(result.run_id)}
    assert logged["qty: does not convert to INTEGER"]["message"] == (
        "2 of 5 rows violate it (quarantined)"
    )


# Each declared type against the values it must keep exactly and those it must reject: a
# CSV column of that type (read as text, converted with a check), one row per value.
CASES: list[tuple[str, str, list[tuple[str, Any]], list[tuple[str, str]]]] = [
    (
        "BIGINT",
        "",
        [("7", 7), (" 8 ", 8), ("-3", -3), ("2.0", 2), ("1e3", 1000),
         ("9223372036854775807", 9223372036854775807),
         ("1234567890123456789", 1234567890123456789)],
        [("1.5", "is not a whole number (BIGINT would round it)"),
         ("0.4", "is not a whole number (BIGINT would round it)"),
         ("15e-1", "is not a whole number (BIGINT would round it)"),
         ("9223372036854775808", "does not convert to BIGINT"),
         ("x", "does not convert to BIGINT")],
    ),
    (
        "INTEGER",
        "",
        [("12", 12), ("2147483647", 2147483647)],
        [("2.5", "is not a whole number (INTEGER would round it)"),
         ("3000000000", "does not convert to INTEGER")],
    ),
    (
        "SMALLINT",
        "",
        [("300", 300)],
        [("40000", "does not convert to SMALLINT"),
         ("3.25", "is not a whole number (SMALLINT would round it)")],
    ),
    (
        "DECIMAL(12,2)",
        "",
        [("1.5", Decimal("1.50")), ("1.230", Decimal("1.23")), ("1e2", Decimal("100.00")),
         ("-0.01", Decimal("-0.01")), ("9999999999.99", Decimal("9999999999.99"))],
        [("1.234", "has more decimals than DECIMAL(12,2) keeps"),
         ("0.005", "has more decimals than DECIMAL(12,2) keeps"),
         ("12345678901", "does not convert to DECIMAL(12,2)"),
         ("12,5", "does not convert to DECIMAL(12,2)")],
    ),
    (
        "DECIMAL(20,4)",  # wider than a double's 15 digits: converted from the text
        "",
        [("1234567890123456.1234", Decimal("1234567890123456.1234"))],
        [("1.23456", "has more decimals than DECIMAL(20,4) keeps")],
    ),
    (
        "DATE",
        "",
        [("2024-01-05", date(2024, 1, 5)), ("2024-01-06 00:00:00", date(2024, 1, 6))],
        [("2024-01-05 10:00", "has a time of day that DATE would drop"),
         ("2024-01-05T10:00:00Z", "has a time of day that DATE would drop"),
         ("2024-01-05x", "does not convert to DATE"),
         ("2024-02-30", "does not convert to DATE")],
    ),
    (
        "DATE",
        "'%d/%m/%Y'",
        [("05/01/2024", date(2024, 1, 5))],
        [("2024-01-05", "does not convert to DATE"), ("05/01/2024x", "does not convert to DATE")],
    ),
    (
        "TIMESTAMP",
        "",
        [("2024-01-05 10:00:00", datetime(2024, 1, 5, 10)),
         ("2024-01-05T11:00:00Z", datetime(2024, 1, 5, 11)),
         ("2024-01-05 12:00:00 UTC", datetime(2024, 1, 5, 12)),
         ("2024-01-05 13:00:00.25", datetime(2024, 1, 5, 13, 0, 0, 250000))],
        [("2024-01-05 10:00:00 garbage",
          "has a UTC offset, a time zone or text after the time that TIMESTAMP would drop"),
         ("2024-01-05T10:00:00+02:00",
          "has a UTC offset, a time zone or text after the time that TIMESTAMP would drop"),
         ("yesterday", "does not convert to TIMESTAMP")],
    ),
    (
        "BOOLEAN",
        "",
        [("true", True), ("f", False), ("1", True), ("no", False)],
        [("2", "does not convert to BOOLEAN"), ("on", "does not convert to BOOLEAN")],
    ),
    (
        "FLOAT",
        "",
        [("0.5", 0.5)],
        [("3.4e39", "is out of the range of FLOAT")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("typ", "fmt", "kept", "rejected"),
    CASES,
    ids=[f"{c[0]}{'-format' if c[1] else ''}" for c in CASES],
)
def test_every_declared_type_keeps_values_exactly_or_rejects_them(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    typ: str,
    fmt: str,
    kept: list[tuple[str, Any]],
    rejected: list[tuple[str, str]],
) -> None:
    values = [v for v, _ in kept] + [v for v, _ in rejected]
    text = "id,v\n" + "".join(f'{i},"{v}"\n' for i, v in enumerate(values))
    options = {"columns": f"{{v: '{typ}'}}"}
    if fmt:
        options["date_format"] = fmt
    p = make_project(source_config("d/a.csv", **options), files={"d/a.csv": text})
    run_ok(p)
    assert rows(p, "v") == [(want,) for _, want in kept]
    assert sorted(error for _, _, _, error in quarantine(p)) == sorted(
        f'v: "{v}" {why}' for v, why in rejected
    )


def test_a_json_number_beyond_the_type_sample_is_not_rounded(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
    counters: Helper,
) -> None:
    """DuckDB's JSON reader types a column on a sample of records: a 1.5 after 30,000 whole
    numbers went into the BIGINT column as 2. No column is declared here."""
    lines = [json.dumps({"id": i, "n": i * 10}) for i in range(30_000)]
    lines.append(json.dumps({"id": 30_000, "n": 1.5}))
    p = make_project(source_config("d/a.jsonl"), files={"d/a.jsonl": "\n".join(lines) + "\n"})
    assert counters(run_ok(p)) == (30_001, 30_000, 1, 0)
    assert rows(p, "max(n), count(*)", order="1") == [(299_990, 30_000)]
    [(_, _, raw, error)] = quarantine(p)
    assert json.loads(raw) == {"id": "30000", "n": "1.5"}
    assert error == 'n: "1.5" is not a whole number (BIGINT would round it)'


def test_declared_json_and_parquet_types_reject_what_they_would_round(
    make_project: MakeProject,
    source_config: Helper,
    run_ok: Helper,
    rows: Helper,
    quarantine: Helper,
) -> None:
    p = make_project(
        source_config("d/a.jsonl", columns="{id: BIGINT, amount: 'DECIMAL(12,2)'}"),
        files={"d/a.jsonl": '{"id": 1, "amount": 0.1}\n{"id": 2.5, "amount": 1}\n'
               '{"id": 3, "amount": 1.005}\n{"id": 4, "amount": 0.30000000000000004}\n'},
    )  # fmt: skip
    run_ok(p)
    # float noise in a written-out double is no loss; a third decimal is
    assert rows(p, "id, amount") == [(1, Decimal("0.10")), (4, Decimal("0.30"))]
    assert [e for _, _, _, e in quarantine(p)] == [
        'id: "2.5" is not a whole number (BIGINT would round it)',
        'amount: "1.005" has more decimals than DECIMAL(12,2) keeps',
    ]

    buf = io.BytesIO()
    pq.write_table(
        pa.table(
            {
                "id": pa.array([1.0, 1.5, 3.0], pa.float64()),
                "price": pa.array([Decimal("1.230"), Decimal("1.000"), Decimal("9.999")],
                                  pa.decimal128(6, 3)),
                "day": pa.array(
                    [datetime(2024, 1, 5), datetime(2024, 1, 6), datetime(2024, 1, 7, 9)]
                ),
            }
        ),
        buf,
    )  # fmt: skip
    q = make_project(
        source_config("d/a.parquet", columns="{id: BIGINT, price: 'DECIMAL(10,2)', day: DATE}"),
        files={"d/a.parquet": buf.getvalue()},
        name="q",
    )
    run_ok(q)
    assert rows(q, "id, price, day") == [(1, Decimal("1.23"), date(2024, 1, 5))]
    assert sorted(e for _, _, _, e in quarantine(q)) == [
        'id: "1.5" is not a whole number (BIGINT would round it)',
        'price: "9.999" has more decimals than DECIMAL(10,2) keeps; '
        'day: "2024-01-07 09:00:00" has a time of day that DATE would drop',
    ]
