"""`init --from` on a newline-delimited JSON export with a few bad lines: the sample is read from
the lines that parse as objects, as the ingest reads them, the lines left out are named (count
and line numbers) in the explanation and in medallion.yml, and the first run quarantines exactly
those lines. A file with no line that is an object is refused, saying so."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import medallion

from medallion.project import Project

NOTE = (
    "orders_2024-01.json: 2 malformed lines (lines 9, 31) and 1 line that is not an object "
    "(line 4) left out of the sample; a run sets them aside in bronze.orders__quarantine"
)


def export() -> str:
    """40 orders with a nested shipping object; line 4 is a number, lines 9 and 31 are cut."""
    lines = [
        json.dumps(
            {
                "order_id": f"ORD{i:04d}",
                "quantity": i % 5 + 1,
                "shipping": {"city": "Lyon" if i % 2 else "Brest", "method": "UPS"},
            }
        )
        for i in range(1, 41)
    ]
    lines.insert(3, "42")
    lines.insert(8, '{"order_id": "ORD9998", "quantity": 2, "shipping": {"city": "Metz"')
    lines.insert(30, '{"order_id": "ORD9999", "quantity": three}')
    return "\n".join(lines) + "\n"


def test_init_samples_the_lines_that_parse_and_names_the_others(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "orders_2024-01.json").write_text(export(), encoding="utf-8")
    scratch = tmp_path / "scratch"  # the temporary files init reads from, removed after
    scratch.mkdir()
    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": str(scratch), "COLUMNS": "250"}

    init = medallion("init", "p", "--from", "exports", cwd=tmp_path, env=env, check=True)

    assert NOTE in " ".join(init.stdout.split())
    assert "orders (json, 40 rows)" in init.stdout
    assert f"# {NOTE}" in (tmp_path / "p" / "medallion.yml").read_text(encoding="utf-8")
    assert list(scratch.iterdir()) == []
    root = tmp_path / "p"
    for _ in range(2):  # the second run finds nothing new: nothing is quarantined twice
        run = medallion("run", cwd=root, env=env, check=True)
        assert "0 failed" in run.stdout
        project = Project.load(root)
        quarantined = project.query(
            "select _line, _error from bronze.orders__quarantine order by _line"
        ).to_pylist()
        assert [q["_line"] for q in quarantined] == [4, 9, 31]
        assert quarantined[0]["_error"] == "expected a JSON object, got int"
        assert all(q["_error"].startswith("malformed JSON") for q in quarantined[1:])
        assert project.query(
            "select count(*) as n, count(*) filter (where shipping.city = 'Lyon') as lyon "
            "from silver.stg_orders"
        ).to_pylist() == [{"n": 40, "lyon": 20}]


def test_a_json_file_with_no_object_line_is_refused_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "clients.json").write_text(
        '{"client_id": "C1", "city": \n[1, 2]\n', encoding="utf-8"
    )

    init = medallion(
        "init", "p", "--from", "exports", cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"}
    )

    assert init.returncode == 1
    said = " ".join((init.stdout + init.stderr).split())
    assert (
        "clients.json:1: clients.json: no line is a JSON object: 1 malformed line (line 1) and 1 "
        "line that is not an object (line 2)"
    ) in said
    assert "one object a line" in said
    assert "check the file is JSON" not in said
    assert not (tmp_path / "p").exists()
