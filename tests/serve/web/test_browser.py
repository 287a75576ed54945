"""The web UI in a real browser: headless Debian Chromium driven by selenium through Debian's
chromedriver, against a real `medallion serve --http-port` process on a real retail project
(its generated data quarantines rows). A person signs in, opens a run, opens the lineage of a
gold table, downloads a table as xlsx (opened with openpyxl, checked against the table), and
replays a quarantined row after fixing the rule it failed. Each step leaves a screenshot in
test-artefacts/browser/ (repo-relative) for a person to look at.

Never skipped: without chromium or chromedriver the test fails saying what to install."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from medallion.project import Project

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTEFACTS = Path(__file__).resolve().parents[3] / "test-artefacts" / "browser"
PASSWORD = "browser pass 1"
#: the expectation the test relaxes before replaying: refunds are negative payments
RULE = "payment_amount >= 0"
FIXED = "payment_amount >= 0 or payment_status = 'SUCCESS'"


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver "
            "(.ci/run installs them when missing)"
        )


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> Project:
    where = tmp_path_factory.mktemp("browser")
    subprocess.run(
        [sys.executable, "-m", "medallion", "init", "shop", "--template", "retail"],
        cwd=where,
        check=True,
        capture_output=True,
    )
    project = Project.load(where / "shop")
    assert project.run().ok
    project.add_user("ada", "admin", [], PASSWORD)
    return project


@pytest.fixture(scope="module")
def server(retail: Project) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion", "serve", "--sql-port", "0", "--http-port", "0"],
        cwd=retail.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        base = None
        for _ in range(10):
            line = proc.stdout.readline()
            m = re.search(r"HTTP API: (http://127\.0\.0\.1:\d+)/api/v1", line)
            if m:
                base = m.group(1)
                break
        assert base, "medallion serve did not say where its HTTP API listens"
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Path]]:
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.set_page_load_timeout(60)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver, downloads
    finally:
        driver.quit()


def shot(driver: object, name: str, height: int | None = None) -> Path:
    """A screenshot of the page as shown (`height`: the window grown to show more of it)."""
    if height is not None:
        driver.set_window_size(1400, height)  # type: ignore[attr-defined]
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 5000
    return path


def test_a_person_signs_in_reads_a_run_and_lineage_downloads_xlsx_and_replays(
    retail: Project, server: str, browser: tuple[object, Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, downloads = browser
    d = driver  # type: ignore[assignment]
    wait = WebDriverWait(d, 30)
    for old in ARTEFACTS.glob("*.png"):
        old.unlink()

    # signed out: any page leads to the login form, which brings the person back after it
    d.get(f"{server}/ui/runs")
    wait.until(ec.presence_of_element_located((By.ID, "signin")))
    assert "/ui/login" in d.current_url
    d.find_element(By.ID, "user").send_keys("ada")
    d.find_element(By.ID, "password").send_keys("wrong password")
    d.find_element(By.ID, "signin").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.error")))
    assert "wrong user or password" in d.find_element(By.CSS_SELECTOR, "p.error").text
    shot(d, "01-login-refused")
    d.find_element(By.ID, "user").clear()
    d.find_element(By.ID, "user").send_keys("ada")
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "signin").click()
    wait.until(ec.presence_of_element_located((By.ID, "runs")))
    assert d.current_url.endswith("/ui/runs")
    assert d.find_element(By.ID, "whoami").text == "ada"
    shot(d, "02-runs")

    # a run: its steps on the timeline and in the table, rows and Delta versions
    run = retail.run_history(1)[0]
    d.find_element(By.LINK_TEXT, run["run_id"]).click()
    wait.until(ec.presence_of_element_located((By.ID, "steps")))
    assert d.find_element(By.ID, "run-status").text == "success"
    steps = d.find_elements(By.CSS_SELECTOR, "#steps tbody tr")
    assert len(steps) == len(retail.steps(run["run_id"]))
    assert d.find_elements(By.CSS_SELECTOR, ".timeline svg g.step")
    quarantined = sum(s["rows_quarantined"] or 0 for s in retail.steps(run["run_id"]))
    assert quarantined > 0
    shot(d, "03-run", height=1300)

    # a gold table's page, then its lineage: the neighbourhood drawn as SVG
    d.set_window_size(1400, 1000)
    d.get(f"{server}/ui/tables")
    d.find_element(By.LINK_TEXT, "gold.sales_summary_daily").click()
    wait.until(ec.presence_of_element_located((By.ID, "sample")))
    shot(d, "04-table")
    d.find_element(By.LINK_TEXT, "lineage").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#lineage svg")))
    picture = d.find_element(By.CSS_SELECTOR, "#lineage svg").get_attribute("outerHTML")
    graph = retail.lineage()
    for parent in graph["gold.sales_summary_daily"]["upstream"]:
        assert parent.split(".", 1)[1] in picture
    shot(d, "05-lineage", height=1100)

    # download the table as xlsx and open it with openpyxl
    d.set_window_size(1400, 1000)
    d.get(f"{server}/ui/tables/gold/sales_summary_daily")
    d.find_element(By.ID, "download-xlsx").click()
    target = downloads / "gold.sales_summary_daily.xlsx"
    deadline = time.monotonic() + 60
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.exists(), list(downloads.iterdir())
    rows = list(load_workbook(target, read_only=True).active.iter_rows(values_only=True))
    expected = retail.query("select * from gold.sales_summary_daily")
    assert list(rows[0]) == expected.column_names
    assert len(rows) - 1 == expected.num_rows
    shot(d, "06-downloaded")

    # replay: the quarantined payment failed non_negative_amount; the business decides a
    # successful negative payment is a refund, fixes the rule, and replays from the UI
    before = retail.quarantined_rows("silver.fact_payments").to_pylist()
    passing = [r for r in before if r["payment_amount"] >= 0 or r["payment_status"] == "SUCCESS"]
    assert passing, "the generated data quarantines a refund"
    model = retail.root / "models" / "silver" / "fact_payments.sql"
    text = model.read_text()
    assert RULE in text
    model.write_text(text.replace(RULE, FIXED))
    ids = {r["payment_id"] for r in passing}

    def in_model() -> int:
        stored = retail.query("select payment_id from silver.fact_payments").column(0)
        return sum(1 for v in stored.to_pylist() if v in ids)

    assert in_model() == 0

    d.get(f"{server}/ui/quarantine")
    d.find_element(By.LINK_TEXT, "silver.fact_payments__quarantine").click()
    wait.until(ec.presence_of_element_located((By.ID, "quarantined")))
    shown = d.find_elements(By.CSS_SELECTOR, "#quarantined tbody tr")
    assert len(shown) == len(before)
    shot(d, "07-quarantine")
    d.find_element(By.ID, "replay").click()
    wait.until(ec.presence_of_element_located((By.ID, "replayed")))
    note = d.find_element(By.ID, "replayed").text
    assert f"{len(passing)} row" in note and f"{len(before) - len(passing)} still" in note
    shot(d, "08-replayed")
    assert in_model() == len(passing)
    after = retail.quarantined_rows("silver.fact_payments").to_pylist()
    assert len(after) == len(before) - len(passing)

    # the other pages a person looks at: each says who is signed in
    for name, path, part in (
        ("09-overview", "/ui/", "latest-runs"),
        ("10-quality", "/ui/quality", "quality-silver.dim_customers"),
        ("11-access", "/ui/access", "audit"),
    ):
        d.get(f"{server}{path}")
        wait.until(ec.presence_of_element_located((By.ID, part)))
        assert d.find_element(By.ID, "whoami").text == "ada"
        shot(d, name)

    # signing out ends the session: the next page asks to sign in again
    d.find_element(By.ID, "signout").click()
    wait.until(ec.presence_of_element_located((By.ID, "signin")))
    d.get(f"{server}/ui/runs")
    wait.until(ec.presence_of_element_located((By.ID, "signin")))
    shot(d, "12-signed-out")
