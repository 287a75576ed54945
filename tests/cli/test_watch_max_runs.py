"""`medallion run --watch --max-runs N` as a user runs it: N counts the runs of new input, not
the catch-up run at start that found nothing new, and every run's summary line is on stdout
(progress and the banner on stderr), whatever the run found."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFIG = "name: p\nsources:\n  sales:\n    path: data/sales_*.csv\n"
MODEL = "select id, amount from bronze.sales\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "medallion.yml").write_text(CONFIG)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales_1.csv").write_text("id,amount\n1,10\n")
    (tmp_path / "models" / "silver").mkdir(parents=True)
    (tmp_path / "models" / "silver" / "s.sql").write_text(MODEL)
    return tmp_path


WATCH = [sys.executable, "-m", "medallion", "run", "--watch", "--interval", "0.2", "--max-runs"]


def wait_for_file(path: Path, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.05)


def test_the_catch_up_run_at_start_does_not_count_and_summaries_are_on_stdout(
    project: Path,
) -> None:
    # sales_1.csv is new at start: that run counts, the watcher stops
    first = subprocess.run([*WATCH, "1"], cwd=project, capture_output=True, text=True, timeout=120)
    out, err = first.stdout, first.stderr
    assert first.returncode == 0, out + err
    assert out.count("rows landed") == 1 and "new input: sales (1 new file)" in out, out
    assert "ok in" in out and "medallion run --watch" in err and "rows landed" not in err

    log = project / "watch.out"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [*WATCH, "2"],
            cwd=project,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
        )
        # nothing new at start: a catch-up run, which does not count
        wait_for_file(log, "catching up")
        time.sleep(1)  # five polls
        assert proc.poll() is None, "the watcher stopped after its catch-up run"
        (project / "data" / "sales_2.csv").write_text("id,amount\n2,20\n")
        wait_for_file(log, "new input")
        assert proc.poll() is None, "the watcher stopped after one run of new input"
        (project / "data" / "sales_3.csv").write_text("id,amount\n3,30\n")
        _, err = proc.communicate(timeout=120)
    out = log.read_text()
    assert proc.returncode == 0, out + err
    lines = [line for line in out.splitlines() if "rows landed" in line]
    assert len(lines) == 3, out
    assert "catching up" in lines[0]
    assert all("new input: sales (1 new file)" in line for line in lines[1:]), out
    assert "rows landed" not in err, err
