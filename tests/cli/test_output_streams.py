"""Where the CLI writes: a run's progress on stderr (or in --log-file), its summary on stdout,
so `medallion run > run.log` keeps the outcome; NO_COLOR / --no-color leave no escape code on
either stream, even on a terminal (no colour, no bold, no live spinner)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def medallion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medallion", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("streams")
    assert medallion("init", "shop", "-t", "retail", "--rows", "300", cwd=root).returncode == 0
    return root / "shop"


def test_run_redirected_to_a_file_keeps_the_summary(shop: Path, tmp_path: Path) -> None:
    with open(tmp_path / "run.log", "w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "medallion", "run"],
            cwd=shop,
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    kept = (tmp_path / "run.log").read_text()
    assert "run succeeded in" in kept and "15 ok, 0 failed" in kept  # was empty
    assert "✓ ingest bronze.orders" in proc.stderr  # progress stays on stderr
    assert "run succeeded" not in proc.stderr
    as_json = medallion("run", "--json", cwd=shop)
    assert json.loads(as_json.stdout)["status"] == "success"  # nothing but JSON on stdout


def test_log_file_takes_progress_and_errors(shop: Path, tmp_path: Path) -> None:
    log = tmp_path / "medallion.log"
    proc = medallion("run", "--log-file", str(log), cwd=shop)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "run succeeded in" in proc.stdout
    text = log.read_text()
    assert "✓ ingest bronze.orders" in text and "run succeeded in" in text
    assert "\x1b" not in text
    # appended, and a failure is said on stderr as well as in the file
    failed = medallion("--log-file", str(log), "run", "--select", "nope", cwd=shop)
    assert failed.returncode == 2
    assert "nothing named 'nope'" in failed.stderr
    assert log.read_text().startswith(text) and "nothing named 'nope'" in log.read_text()
    unwritable = medallion("run", "--log-file", str(tmp_path / "no" / "x.log"), cwd=shop)
    assert unwritable.returncode == 2 and "--log-file" in unwritable.stderr


@pytest.mark.parametrize(
    ("how", "env"), [("NO_COLOR", {"NO_COLOR": "1"}), ("--no-color", {"NO_COLOR": ""})]
)
def test_no_color_leaves_no_escape_codes_on_a_terminal(
    shop: Path,
    on_terminal: Callable[..., tuple[int, str, str]],
    how: str,
    env: dict[str, str],
) -> None:
    flag = ["--no-color"] if how == "--no-color" else []
    commands = [
        (0, ["run", *flag]),
        (0, ["status", *flag]),
        (0, ["tables", *flag]),
        (0, ["query", "select * from gold.sales_summary_daily limit 3", *flag]),
        (1, ["query", "select nope", *flag]),  # an error
    ]
    for expected, args in commands:
        status, out, err = on_terminal(args, shop, 100, env=env, stderr_too=True)
        assert status == expected, (args, err)
        assert out.strip() or err.strip(), args
        assert "\x1b" not in out, (args, out)
        assert "\x1b" not in err, (args, err)


def test_a_terminal_gets_colour_without_no_color(
    shop: Path, on_terminal: Callable[..., tuple[int, str, str]]
) -> None:
    """The test above can fail: the same commands on a terminal do write escape codes."""
    _, out, err = on_terminal(["run"], shop, 100, env={"NO_COLOR": ""}, stderr_too=True)
    assert "\x1b[" in err and "\x1b[" in out
