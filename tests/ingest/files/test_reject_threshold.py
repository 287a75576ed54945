"""`max_rejected`: past its share (default 10%) or count of rejected rows an ingest fails, commits
nothing (bronze and its quarantine stay as they were), and says the file, the column, the most
common reason and the likely fix; at or under it the rows are quarantined as before."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import medallion
from medallion.errors import ConfigError
from medallion.project import Project

MakeProject = Callable[..., Project]
Helper = Callable[..., Any]  # a helper of conftest.py, passed as a fixture


def csv_rows(n: int, bad: int = 0, start: int = 0) -> str:
    """id,amount,day: n rows, the last `bad` of them with an amount that is no number."""
    lines = ["id,amount,day"]
    for i in range(start, start + n):
        amount = "n/a" if i >= start + n - bad else f"{i}.50"
        lines.append(f"{i},{amount},2024-03-{i % 28 + 1:02d}")
    return "\n".join(lines) + "\n"


def config(*options: str) -> str:
    lines = [
        "name: t",
        "sources:",
        "  s:",
        "    path: d/*.csv",
        "    columns: {id: BIGINT, amount: 'DECIMAL(12,2)', day: DATE}",
    ]
    return "\n".join(lines + [f"    {o}" for o in options]) + "\n"


def test_a_wrong_date_format_fails_the_ingest_and_says_to_fix_it(
    make_project: MakeProject, run_ok: Helper, versions: Helper
) -> None:
    """Every date of the new file is rejected by the declared date_format: past 10%, the step
    fails naming the file, the column, the reason and the option to fix; nothing is written."""
    p = make_project(
        config("date_format: '%Y-%m-%d'"),
        files={"d/a.csv": csv_rows(20, bad=1)},  # 5%: quarantined, the run succeeds
    )
    first = run_ok(p)
    assert first.step("bronze.s").rows_quarantined == 1
    before = versions(p)
    assert set(before) == {"bronze.s", "bronze.s__quarantine"}

    # a new export writes its dates day/month/year
    dates = csv_rows(30, start=100).replace("2024-03-", "X").splitlines()
    text = "\n".join([dates[0]] + [f"{r.split('X')[0]}{int(r.split('X')[1]):02d}/03/2024"
                                  for r in dates[1:]]) + "\n"  # fmt: skip
    (p.root / "d" / "b.csv").write_text(text, encoding="utf-8")
    result = p.run()
    step = result.step("bronze.s")
    assert (result.status, step.status) == ("failed", "failed")
    error = step.error or ""
    assert error.startswith(f"{p.root / 'd' / 'b.csv'}: 30 of 30 rows rejected (100%)")
    assert "more than max_rejected: 10% allows; nothing was written" in error
    assert "The most common reason: day: does not convert to DATE (30 rows, 30 of them in " in error
    assert "e.g. line 2: '100,100.50,17/03/2024')" in error
    assert (
        "hint: the values of day do not match date_format '%Y-%m-%d': correct it in sources.s"
        in error
    )
    assert versions(p) == before  # neither bronze nor its quarantine has a new version
    assert p.query("select count(*) n from bronze.s").to_pylist() == [{"n": 19}]

    # the format corrected, the same file loads
    (p.root / "medallion.yml").write_text(config("date_format: '%d/%m/%Y'"), encoding="utf-8")
    fixed = run_ok(Project.load(p.root))
    assert fixed.step("bronze.s").rows_written == 30


def test_default_ten_percent(make_project: MakeProject, run_ok: Helper, versions: Helper) -> None:
    p = make_project(config(), files={"d/a.csv": csv_rows(20, bad=2)})  # 10%: not more
    assert run_ok(p).step("bronze.s").rows_quarantined == 2
    before = versions(p)
    (p.root / "d" / "b.csv").write_text(csv_rows(20, bad=3, start=100), encoding="utf-8")
    result = p.run()  # 15%
    assert result.step("bronze.s").status == "failed"
    assert "3 of 20 rows rejected (15%), more than max_rejected: 10% allows" in (
        result.step("bronze.s").error or ""
    )
    assert "amount: does not convert to DECIMAL(12,2) (3 rows" in (
        result.step("bronze.s").error or ""
    )
    assert versions(p) == before


@pytest.mark.parametrize(
    ("limit", "bad", "ok"),
    [("0", 0, True), ("0", 1, False), ("2", 2, True), ("2", 3, False), ("'1%'", 1, True),
     ("'0.5%'", 1, False), ("100%", 20, True)],
)  # fmt: skip
def test_a_count_or_a_share(
    make_project: MakeProject, versions: Helper, limit: str, bad: int, ok: bool
) -> None:
    """`0` is strict, an integer is a count of rows, 'N%' a share of the rows read (100 here)."""
    p = make_project(config(f"max_rejected: {limit}"), files={"d/a.csv": csv_rows(100, bad=bad)})
    result = p.run()
    step = result.step("bronze.s")
    assert (step.status == "success") is ok, step.error
    if ok:
        assert (step.rows_written, step.rows_quarantined) == (100 - bad, bad)
    else:
        assert p.catalog.tables() == []  # not even the first version of either table


def test_the_hint_names_the_likely_fix(make_project: MakeProject) -> None:
    """An encoding, a wrong declared type, a wrong delimiter: each says what to change."""
    cases = {
        "encoding": (
            "name,n\n" + "".join(f"caf\xe9 {i},{i}\n" for i in range(5)),
            "{n: INTEGER}",
            "the file is not UTF-8: set encoding: latin-1 (or utf-16) in sources.s",
        ),
        "type": (
            "name,n\n" + "".join(f"a{i},x{i}\n" for i in range(5)),
            "{n: INTEGER}",
            "is INTEGER right for n? Check the declared type of n in sources.s.columns",
        ),
        "fraction": (
            "name,n\n" + "".join(f"a{i},{i}.5\n" for i in range(5)),
            "{n: BIGINT}",
            "declare n as DECIMAL(p, s) or DOUBLE in sources.s.columns",
        ),
        "delimiter": (
            "name,n\n" + "".join(f"a{i},{i},extra\n" for i in range(5)),
            "{n: INTEGER}",
            "check delimiter:, quote: and escape: in sources.s against the file",
        ),
    }
    for name, (text, columns, hint) in cases.items():
        data = text.encode("latin-1")
        p = make_project(
            f"name: t\nsources:\n  s:\n    path: d/*.csv\n    columns: {columns}\n",
            files={"d/a.csv": data},
            name=name,
        )
        error = p.run().step("bronze.s").error or ""
        assert f"hint: {hint}" in error, (name, error)


def test_a_file_of_nothing_but_bad_json_lines_fails(make_project: MakeProject) -> None:
    """No row readable at all (no stream to write): the limit still applies, before anything
    is written."""
    p = make_project(
        "name: t\nsources:\n  s:\n    path: d/*.jsonl\n",
        files={"d/a.jsonl": "{oops\n{nope\n"},
    )
    step = p.run().step("bronze.s")
    assert step.status == "failed"
    assert "2 of 2 rows rejected (100%)" in (step.error or "")
    assert "malformed JSON" in (step.error or "")
    assert p.catalog.tables() == []


@pytest.mark.parametrize("value", ["'abc'", "'150%'", "-1", "true", "'%5'", "0.5"])
def test_an_invalid_max_rejected_is_a_config_error(make_project: MakeProject, value: str) -> None:
    with pytest.raises(ConfigError, match="max_rejected"):
        make_project(config(f"max_rejected: {value}")).validate()


def test_rejects_of_a_committed_batch_are_recovered_whatever_the_limit_says_now(
    make_project: MakeProject, run_ok: Helper
) -> None:
    """Killed between the bronze commit and its quarantine commit, the next run lands that
    batch's rejects from its files: the batch is in bronze already, a limit lowered since then
    does not apply to it (only to new files)."""
    p = make_project(config("max_rejected: 100%"), files={"d/a.csv": csv_rows(10, bad=2)})
    env = {
        **os.environ,
        "MEDALLION_FAULT": "after-bronze:bronze.s",
        "PYTHONPATH": str(Path(medallion.__file__).parents[1]),  # this checkout's package
    }
    killed = subprocess.run(
        [sys.executable, "-m", "medallion", "run"],
        cwd=p.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr  # bronze committed, its quarantine not
    assert not p.catalog.exists("bronze.s__quarantine")

    (p.root / "medallion.yml").write_text(config("max_rejected: 0"), encoding="utf-8")
    rerun = run_ok(Project.load(p.root))
    assert "recovered 2 quarantined rows of an interrupted run" in rerun.step("bronze.s").note
    assert p.row_count("bronze.s") == 8
    assert p.row_count("bronze.s__quarantine") == 2


def test_a_quote_left_open_counts_the_rows_it_swallows(
    make_project: MakeProject, run_ok: Helper
) -> None:
    """An unclosed quote runs one row on over every line after it: those are rows of the file
    too. They count against max_rejected (11 of 100 here: past 10%, nothing is written) and the
    message says the row ran on over 10 lines, to which line; under the limit the quarantined
    row's error says so."""
    lines = ["id,amount,day", *(f"{i},{i}.50,2024-03-01" for i in range(1, 101))]
    lines[90] = '90,"90.50,2024-03-01'  # line 91 of the file: 10 lines follow it
    text = "\n".join(lines) + "\n"
    p = make_project(config(), files={"d/a.csv": text})
    result = p.run()
    assert result.status == "failed"
    error = result.step("bronze.s").error or ""
    assert "11 of 100 rows rejected (11%)" in error, error
    assert "the 10 lines after it, to line 101" in error, error
    assert not p.catalog.exists("bronze.s")

    allowed = make_project(config("max_rejected: 20%"), files={"d/a.csv": text}, name="q")
    ok = run_ok(allowed)
    step = ok.step("bronze.s")
    assert step.rows_written == 89 and step.rows_quarantined == 1
    (check,) = step.checks
    assert "11 of 100 rows violate it" in check.message, check.message
    (row,) = allowed.query("select _line, _error from bronze.s__quarantine").to_pylist()
    assert row["_line"] == 91 and "takes up 11 lines, to line 101" in row["_error"]
