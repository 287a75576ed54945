"""On a terminal, `medallion run` lists the tables it would rebuild whole (a changed model) and
asks first; answering no changes nothing."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import write_project

CONFIG = "name: ask\nsources:\n  orders: {path: data/orders*.csv}\n"
MODEL = "/* ---\nkind: merge\nunique_key: id\n--- */\nselect id, amount from bronze.orders\n"
DATA = "id,amount\n1,10\n2,20\n3,30\n"


def on_terminal(root: Path, answer: str) -> tuple[int, str]:
    """`medallion run` with a terminal as stdin, stdout and stderr; `answer` typed at the
    prompt. Returns (exit status, everything it printed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "run"],
        cwd=root,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(leader, answer.encode() + b"\r")
                answered = True
        elif proc.poll() is not None:
            break
    status = proc.wait(timeout=60)
    os.close(leader)
    return status, seen.decode(errors="replace")


def test_a_rebuild_is_asked_for_on_a_terminal(tmp_path: Path) -> None:
    from medallion.project import Project

    root = write_project(
        tmp_path / "p", CONFIG, {"silver/m.sql": MODEL}, {"data/orders1.csv": DATA}
    )
    assert Project.load(root).run(trigger="test").ok
    (root / "models/silver/m.sql").write_text(
        MODEL.replace("from bronze.orders", "from bronze.orders where id = 1")
    )

    status, printed = on_terminal(root, "n")
    assert status == 1, printed
    assert "silver.m: rebuild, model changed (the table has 3 rows)" in printed
    assert "Nothing was run" in printed
    assert Project.load(root).query("select count(*) as n from silver.m").to_pylist() == [{"n": 3}]

    status, printed = on_terminal(root, "y")
    assert status == 0, printed
    assert Project.load(root).query("select count(*) as n from silver.m").to_pylist() == [{"n": 1}]


def test_a_yes_does_not_cover_a_rebuild_found_only_during_the_run(tmp_path: Path) -> None:
    """The question lists silver.base (its model changed: it keeps 1 of 3 rows). silver.m merges
    silver.base's rows again (planned incremental); only when its turn comes does it find that
    silver.base's amount changed type, so it is rebuilt from all input, keeping 1 of its 3
    rows: not what the "y" confirmed, so its step fails, writing nothing."""
    from tests.conftest import table_versions

    from medallion.project import Project

    base = "select id, amount from bronze.orders\n"
    merged = (
        "/* ---\nkind: merge\nunique_key: id\nincremental_inputs: [silver.base]\n--- */\n"
        "select id, amount from silver.base\n"
    )
    root = write_project(
        tmp_path / "p",
        CONFIG,
        {"silver/base.sql": base, "silver/m.sql": merged},
        {"data/orders1.csv": DATA},
    )
    assert Project.load(root).run(trigger="test").ok
    (root / "models/silver/base.sql").write_text(
        "select id, cast(amount as varchar) as amount from bronze.orders where id = 1\n"
    )
    before = table_versions(Project.load(root))["silver.m"]

    status, printed = on_terminal(root, "y")
    said = " ".join(printed.split())
    assert "silver.base: rebuild, model changed" in said
    assert "silver.m: rebuild" not in said
    assert status == 1, printed
    assert "not rebuilt: the rebuild would leave 1 of the table's 3 rows" in said, printed
    assert table_versions(Project.load(root))["silver.m"] == before
    assert Project.load(root).query("select count(*) as n from silver.m").to_pylist() == [{"n": 3}]


def test_a_rebuild_undoing_another_writers_delete_is_asked_for_on_a_terminal(
    tmp_path: Path,
) -> None:
    """Another Delta tool deleted a row of an append model's table: the run lists the rebuild
    that would bring it back, with the other writer's commit, even when the table is empty."""
    from deltalake import DeltaTable

    from medallion.project import Project

    model = "/* ---\nkind: append\n--- */\nselect id, amount from bronze.orders\n"
    root = write_project(
        tmp_path / "p", CONFIG, {"silver/m.sql": model}, {"data/orders1.csv": DATA}
    )
    assert Project.load(root).run(trigger="test").ok
    DeltaTable(str(root / "lakehouse/silver/m")).delete()

    status, printed = on_terminal(root, "n")
    said = " ".join(printed.split())
    assert status == 1, printed
    assert "silver.m: rebuild, changed outside medallion at version 1 (DELETE)" in said
    assert "Nothing was run" in said
    assert Project.load(root).query("select count(*) as n from silver.m").to_pylist() == [{"n": 0}]

    status, printed = on_terminal(root, "y")
    assert status == 0, printed
    assert Project.load(root).query("select count(*) as n from silver.m").to_pylist() == [{"n": 3}]
