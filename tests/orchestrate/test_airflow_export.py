"""`medallion export airflow` against real Apache Airflow: the DAG files are loaded by Airflow's
DagBag (no import errors, schedules, time zones, retries, pools and edges as medallion.yml
declares them), one task runs with `airflow tasks test` against a real project and lands in the
project's run log, and a whole DAG run with `airflow dags test` shows what `on: completion`
means when the medallion run fails.

Airflow lives in its own virtualenv, `.venv-airflow/` at the repo root, created by the
`airflow_venv` fixture from airflow-requirements.txt the first time (or by `make test`) and
reused while that file is unchanged. It is never skipped: when it cannot be created the test
fails with pip's error. Its metadata database is SQLite in a temporary AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import medallion, write_project

import medallion as medallion_package
from medallion.project import Project

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "airflow-requirements.txt"
VENV = HERE.parents[1] / ".venv-airflow"
REPORT = HERE / "dagbag_report.py"
#: the folder the medallion under test imports from: the Airflow tasks' `python -m medallion`
#: must run this code, not another installed copy
SRC = Path(medallion_package.__file__).resolve().parents[1]
MEDALLION = f"{shlex.quote(sys.executable)} -m medallion"


@pytest.fixture(scope="session")
def airflow_venv() -> Path:
    """The Airflow virtualenv's bin folder, created when missing or out of date."""
    stamp = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    exe = VENV / "bin" / "airflow"
    if exe.exists() and stamp.is_file() and stamp.read_text() == wanted:
        return VENV / "bin"
    shutil.rmtree(VENV, ignore_errors=True)
    for step in (
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
    ):
        proc = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            pytest.fail(
                f"cannot create the Airflow virtualenv ({' '.join(step)}):\n"
                f"{proc.stdout}{proc.stderr}"
            )
    stamp.write_text(wanted)
    return VENV / "bin"


def airflow_env(home: Path, dags: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPATH=str(SRC),
        NO_COLOR="1",
    )
    return env


def airflow(
    bin_dir: Path, home: Path, dags: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(bin_dir / "airflow"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=airflow_env(home, dags),
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"airflow {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def airflow_home(airflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME with a migrated SQLite metadata database."""
    home = tmp_path_factory.mktemp("airflow_home")
    airflow(airflow_venv, home, home / "dags", "db", "migrate")
    return home


@pytest.fixture
def fresh_home(airflow_home: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A new AIRFLOW_HOME (a copy of the migrated database) per DAG folder: Airflow keeps the
    DAGs it parsed in its database, and two folders here hold DAGs of the same ids."""

    def make(name: str) -> Path:
        home = tmp_path / f"airflow-{name}"
        home.mkdir()
        shutil.copy2(airflow_home / "airflow.db", home / "airflow.db")
        return home

    return make


def dagbag(bin_dir: Path, home: Path, *folders: Path) -> dict[str, Any]:
    """Airflow's DagBag of each folder, as dagbag_report.py describes it."""
    proc = subprocess.run(
        [str(bin_dir / "python"), str(REPORT), *map(str, folders)],
        capture_output=True,
        text=True,
        timeout=300,
        env=airflow_env(home, folders[0]),
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("DAGBAG ")), None)
    assert line is not None, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(line.removeprefix("DAGBAG "))
    for folder, found in report.items():
        assert found["errors"] == {}, f"import errors in {folder}: {found['errors']}"
    return {Path(k).name: v["dags"] for k, v in report.items()}


def command(task: dict[str, Any]) -> list[str]:
    return shlex.split(task["command"])


SHOP = """
    name: shop
    layers: [bronze, silver, gold]
    sources:
      orders:
        path: data/orders*.csv
    pipelines:
      ingest:
        select: [layer:bronze]
        schedule: "30 2 * * *"
        timezone: Europe/London
        retries: 2
        retry_delay: 90 seconds
        timeout: 10 minutes
      build:
        select: [layer:silver, layer:gold]
        after: [ingest]
        on: completion
      report:
        select: [gold.daily]
        after: [build]
    environments:
      prod: {storage: ./lakehouse_prod}
"""

SHOP_MODELS = {
    "silver/orders.sql": "select order_id, amount, cast(day as date) as day from bronze.orders",
    "gold/daily.sql": (
        "select day, sum(amount) as revenue, count(*) as orders from silver.orders group by day"
    ),
    # binds and parses; fails only when run (the value is no integer): the build run fails
    "gold/broken.sql": "select cast(amount || 'x' as integer) as n from silver.orders",
}

SHOP_FILES = {
    "data/orders_1.csv": (
        "order_id,amount,day\n1,10.5,2026-01-01\n2,4.5,2026-01-01\n3,7,2026-01-02\n"
    )
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real project, exported three times: per pipeline, per node, for `prod`."""
    root = write_project(tmp_path_factory.mktemp("shop"), SHOP, SHOP_MODELS, SHOP_FILES)
    for folder, extra, env in (
        ("dags", [], None),
        ("dags_node", ["--granularity", "node"], None),
        ("dags_prod", ["--pipeline", "ingest"], {**os.environ, "MEDALLION_ENV": "prod"}),
    ):
        medallion(
            "export",
            "airflow",
            "-o",
            folder,
            "--medallion",
            MEDALLION,
            *extra,
            cwd=root,
            check=True,
            env=env,
        )
        assert (root / folder / "shop_ingest.py").is_file()
    return root


def provenance(pipeline: str) -> list[str]:
    """What every task passes for the run log: Airflow, the pipeline, the logical date (Jinja
    Airflow renders), the try number."""
    return [
        "--trigger",
        "airflow",
        "--pipeline",
        pipeline,
        "--scheduled-for",
        "{{ (logical_date or dag_run.run_after).isoformat() }}",
        "--attempt",
        "{{ [ti.try_number, 1] | max }}",
    ]


def test_dagbag_holds_the_pipelines_as_declared(
    airflow_venv: Path, airflow_home: Path, shop: Path
) -> None:
    root = str(shop.resolve())
    bags = dagbag(airflow_venv, airflow_home, shop / "dags", shop / "dags_node", shop / "dags_prod")
    dags = bags["dags"]
    assert set(dags) == {"shop_ingest", "shop_build", "shop_report"}
    for dag in dags.values():
        assert dag["catchup"] is False
        assert dag["max_active_runs"] == 1
        assert dag["tags"] == ["medallion", "shop"]

    ingest = dags["shop_ingest"]
    assert ingest["timetable"] == "CronTriggerTimetable"
    assert (ingest["cron"], ingest["timezone"]) == ("30 2 * * *", "Europe/London")
    assert ingest["dag_timezone"] == "Europe/London"
    run = ingest["tasks"]["run"]
    assert run["type"] == "BashOperator"
    assert (run["retries"], run["retry_delay"], run["backoff"]) == (2, 90.0, 2.0)
    assert run["timeout"] == 600.0
    assert run["pool"] == "medallion_shop"
    assert command(run) == [
        *shlex.split(MEDALLION),
        "--project",
        root,
        "run",
        "--select",
        "layer:bronze",
        "--wait",
        "300",
        *provenance("ingest"),
        "--no-color",
    ]
    # build follows ingest with `on: completion`: its trigger runs whatever ingest's run did
    trigger = ingest["tasks"]["trigger_build"]
    assert trigger["type"] == "TriggerDagRunOperator"
    assert trigger["trigger_dag_id"] == "shop_build"
    assert trigger["trigger_rule"] == "all_done"
    assert trigger["upstream"] == ["run"]
    # the trigger task succeeds whatever run did: `failed` keeps a failed run's DAG run failed
    failed = ingest["tasks"]["failed"]
    assert (failed["trigger_rule"], failed["upstream"], failed["retries"]) == (
        "one_failed",
        ["run"],
        0,
    )

    build = dags["shop_build"]
    assert build["timetable"] == "NullTimetable"  # no schedule: only ingest starts it
    # report follows build on success: no `failed` task needed, a failed run fails the trigger
    assert set(build["tasks"]) == {"run", "trigger_report"}
    assert build["tasks"]["trigger_report"]["trigger_rule"] == "all_success"
    assert build["tasks"]["trigger_report"]["trigger_dag_id"] == "shop_report"
    assert build["tasks"]["run"]["retries"] == 0
    assert build["tasks"]["run"]["timeout"] is None
    assert command(build["tasks"]["run"])[-15:] == [
        "--select",
        "layer:silver",
        "--select",
        "layer:gold",
        "--wait",
        "300",
        *provenance("build"),
        "--no-color",
    ]
    assert set(dags["shop_report"]["tasks"]) == {"run"}  # nothing follows report

    # per node: a task per source and model, the project's edges between them
    node = bags["dags_node"]
    assert set(node["shop_ingest"]["tasks"]) == {"bronze.orders", "trigger_build", "failed"}
    tasks = node["shop_build"]["tasks"]
    assert {t: tasks[t]["upstream"] for t in tasks} == {
        "silver.orders": [],
        "gold.broken": ["silver.orders"],
        "gold.daily": ["silver.orders"],
        "trigger_report": ["gold.broken", "gold.daily"],
    }
    assert command(tasks["gold.daily"])[-14:] == [
        "run",
        "--select",
        "gold.daily",
        "--wait",
        "300",
        *provenance("build"),
        "--no-color",
    ]
    assert {t["pool"] for t in tasks.values() if t["type"] == "BashOperator"} == {"medallion_shop"}

    # exported for the overlay prod (MEDALLION_ENV): the tasks load the project with it too
    prod = bags["dags_prod"]["shop_ingest"]["tasks"]["run"]
    assert (prod["env"], prod["append_env"]) == ({"MEDALLION_ENV": "prod"}, True)
    assert set(bags["dags_prod"]) == {"shop_ingest"}


def test_airflow_tasks_test_runs_medallion_against_the_project(
    airflow_venv: Path, fresh_home: Callable[[str], Path], shop: Path
) -> None:
    dags, home = shop / "dags", fresh_home("dags")
    # the pool, as each file's header says to create it
    header = (dags / "shop_ingest.py").read_text()
    pools_line = next(x.strip() for x in header.splitlines() if "airflow pools set" in x)
    airflow(airflow_venv, home, dags, *shlex.split(pools_line)[1:])
    listed = airflow(airflow_venv, home, dags, "pools", "list", "-o", "json")
    pools = {p["pool"]: p for p in json.loads(listed.stdout[listed.stdout.index("[") :])}
    assert int(pools["medallion_shop"]["slots"]) == 1

    proc = airflow(airflow_venv, home, dags, "tasks", "test", "shop_ingest", "run", "2026-12-01")
    assert "run succeeded" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    project = Project.load(shop)
    last = project.runs(1)[0]
    assert (last["status"], last["kind"], last["selection"]) == ("success", "run", "layer:bronze")
    assert "--wait 300" in last["command"]
    # the run log says Airflow ran it, for which pipeline, tick and try
    assert (last["trigger"], last["pipeline"], last["attempt"]) == ("airflow", "ingest", 1)
    assert last["scheduled_for"].startswith("2026-12-01")
    assert project.row_count("bronze.orders") == 3

    # a task of the per-node DAG: one model, alone
    node_dags = shop / "dags_node"
    args = ("tasks", "test", "shop_build", "silver.orders", "2026-12-01")
    airflow(airflow_venv, fresh_home("dags_node"), node_dags, *args)
    project = Project.load(shop)
    last = project.runs(1)[0]
    assert (last["status"], last["selection"]) == ("success", "silver.orders")
    assert [s["table_name"] for s in project.steps(last["run_id"])] == ["orders"]
    assert project.row_count("silver.orders") == 3


def dag_runs(home: Path) -> list[tuple[str, str, str]]:
    """(dag id, state, run type) of every DAG run in the Airflow database, oldest first."""
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute("select dag_id, state, run_type from dag_run order by id").fetchall()


def test_a_failed_run_fails_the_dag_run_and_on_completion_still_triggers(
    airflow_venv: Path, fresh_home: Callable[[str], Path], shop: Path, tmp_path: Path
) -> None:
    """The build DAG holds a model that fails when run: its DAG run fails and report, which
    follows build on success, is not started. build follows ingest `on: completion`: when
    ingest's run fails, build is started all the same, and ingest's DAG run is still failed."""
    assert Project.load(shop).run(select=["layer:bronze"]).ok  # what build reads is there
    home = fresh_home("build")
    proc = airflow(
        airflow_venv, home, shop / "dags", "dags", "test", "shop_build", "2026-12-02", check=False
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    project = Project.load(shop)
    last = project.runs(1)[0]
    assert (last["status"], last["selection"]) == ("failed", "layer:silver layer:gold")
    steps = {s["table_name"]: s["status"] for s in project.steps(last["run_id"])}
    assert (steps["broken"], steps["daily"]) == ("failed", "success")
    assert [(dag, state) for dag, state, _ in dag_runs(home)] == [("shop_build", "failed")]

    # a pipeline followed `on: completion` whose run fails (the folder its tasks are given
    # holds no project); no retries, so that `dags test` does not wait for them
    chain = write_project(
        tmp_path / "chain",
        """
        name: chain
        sources:
          orders: {path: data/orders*.csv}
        pipelines:
          first: {select: [orders], schedule: "0 3 * * *"}
          second: {select: [orders], after: [first], on: completion}
        """,
    )
    missing = str(tmp_path / "nothing-here")
    medallion(
        "export", "airflow", "--medallion", MEDALLION, "--project-dir", missing, cwd=chain,
        check=True,
    )  # fmt: skip
    home = fresh_home("chain")
    dags = chain / "airflow_dags"
    proc = airflow(
        airflow_venv, home, dags, "dags", "test", "chain_first", "2026-12-03", check=False
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"no medallion.yml in {missing}" in proc.stdout + proc.stderr
    # first's run failed; the run of second its trigger made waits for a scheduler (none here)
    assert dag_runs(home) == [
        ("chain_first", "failed", "manual"),
        ("chain_second", "queued", "operator_triggered"),
    ]


# -- the templates declare their seeds' pipelines ---------------------------------------------


def test_templates_declare_the_seed_pipelines(
    airflow_venv: Path, airflow_home: Path, tmp_path: Path
) -> None:
    folders = []
    for template, extra in (
        ("oltp", ["--granularity", "stage"]),
        ("customer-insights", []),
        ("product-platform", []),
    ):
        root = tmp_path / template
        medallion("init", str(root), "--template", template, "--no-data", cwd=tmp_path, check=True)
        medallion(
            "export",
            "airflow",
            "-o",
            str(tmp_path / f"dags-{template}"),
            *extra,
            cwd=root,
            check=True,
        )
        folders.append(tmp_path / f"dags-{template}")
    bags = dagbag(airflow_venv, airflow_home, *folders)

    # seed 003: one DAG at 02:00 UTC, extract -> dbt run -> dbt test, 3 retries 5 minutes
    # apart, a 30-minute timeout, no catch-up
    oltp = bags["dags-oltp"]
    assert set(oltp) == {"oltp_etl"}
    dag = oltp["oltp_etl"]
    assert (dag["cron"], dag["timezone"], dag["catchup"]) == ("0 2 * * *", "UTC", False)
    tasks = dag["tasks"]
    assert {t: tasks[t]["upstream"] for t in tasks} == {
        "extract": [],
        "transform": ["extract"],
        "test": ["transform"],
    }
    for task in tasks.values():
        assert (task["retries"], task["retry_delay"], task["timeout"]) == (3, 300.0, 1800.0)
        assert task["backoff"] == 2.0
        assert task["pool"] == "medallion_oltp"
    extract = command(tasks["extract"])
    selected = extract[extract.index("--select") + 1].split(",")
    assert sorted(selected) == [
        "bronze.customers",
        "bronze.order_items",
        "bronze.orders",
        "bronze.products",
    ]
    transform = command(tasks["transform"])
    models = transform[transform.index("--select") + 1].split(",")
    assert "gold.fct_sales" in models and "silver.stg_orders" in models
    assert not any(m.startswith("bronze.") for m in models)
    assert command(tasks["test"])[command(tasks["test"]).index("--project") + 2] == "test"

    # seed 000: ingestion daily at 02:00, transformation after it (on success)
    ci = bags["dags-customer-insights"]
    assert set(ci) == {"customer_insights_ingestion", "customer_insights_transformation"}
    ingestion = ci["customer_insights_ingestion"]
    assert (ingestion["cron"], ingestion["timezone"]) == ("0 2 * * *", "UTC")
    trigger = ingestion["tasks"]["trigger_transformation"]
    assert (trigger["trigger_dag_id"], trigger["trigger_rule"]) == (
        "customer_insights_transformation",
        "all_success",
    )
    assert ci["customer_insights_transformation"]["timetable"] == "NullTimetable"
    config = Project.load(tmp_path / "customer-insights").config
    assert config.pipelines["ingestion"].notify == ["on_failure"]
    assert set(config.notifications["on_failure"].on) == {"failure", "missed"}
    assert set(config.notifications["on_outcome"].on) == {"success", "failure"}
    assert config.pipelines["transformation"].notify == ["on_outcome"]

    # seed 001: three DAGs, ingestion -> transformation -> quality checks; a freshness SLA
    pp = bags["dags-product-platform"]
    names = ("ingestion", "transformation", "quality")
    assert set(pp) == {f"product_platform_{n}" for n in names}
    assert pp["product_platform_ingestion"]["cron"] == "0 2 * * *"
    chain = pp["product_platform_ingestion"]["tasks"]["trigger_transformation"]
    assert chain["trigger_dag_id"] == "product_platform_transformation"
    quality = pp["product_platform_transformation"]["tasks"]["trigger_quality"]
    assert (quality["trigger_dag_id"], quality["trigger_rule"]) == (
        "product_platform_quality",
        "all_done",  # the quality checks run whatever the transformation did
    )
    config = Project.load(tmp_path / "product-platform").config
    assert config.sources["orders"].sla == "26 hours"
    assert {n for p in config.pipelines.values() for n in p.notify} == {"data-team", "slack"}
    assert config.notifications["slack"].type == "slack"
    assert "sla" in config.notifications["data-team"].on


def test_unset_notification_variables_do_not_stop_a_run(tmp_path: Path) -> None:
    """The templates' ${SMTP_URL} / ${SLACK_WEBHOOK_URL} are read when something is sent."""
    root = tmp_path / "ci"
    medallion("init", str(root), "--template", "customer-insights", cwd=tmp_path, check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("SMTP_URL", "SLACK_WEBHOOK_URL")}
    proc = medallion("run", "--select", "layer:bronze", cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Project.load(root).runs(1)[0]["status"] == "success"


# -- what Airflow cannot express, and other mistakes: one message, nothing written ------------


def test_a_schedule_with_seconds_is_refused(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        """
        name: p
        sources:
          orders: {path: data/orders*.csv}
        pipelines:
          fast:
            select: [orders]
            schedule: "*/10 * * * * *"
        """,
    )
    proc = medallion("export", "airflow", cwd=root)
    assert proc.returncode == 1
    assert "medallion.yml:7: pipeline 'fast': schedule '*/10 * * * * *' has a seconds field" in (
        proc.stderr
    )
    assert "five-field cron" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (root / "airflow_dags").exists()


def test_export_mistakes_get_one_clear_message(tmp_path: Path) -> None:
    bare = write_project(tmp_path / "bare", "name: bare\nsources:\n  o: {path: data/o*.csv}\n")
    proc = medallion("export", "airflow", cwd=bare)
    assert proc.returncode == 1
    assert "declares no pipelines" in proc.stderr and "pipelines:" in proc.stderr

    root = write_project(tmp_path / "p", SHOP, SHOP_MODELS, SHOP_FILES)
    proc = medallion("export", "airflow", "--pipeline", "nightly", cwd=root)
    assert proc.returncode == 1
    assert "'nightly': no such pipeline" in proc.stderr
    assert "build, ingest, report" in proc.stderr

    proc = medallion("export", "airflow", "--project-dir", "shop", cwd=root)
    assert proc.returncode == 1
    assert "is not an absolute path" in proc.stderr
    assert not (root / "airflow_dags").exists()

    (root / "a-file").write_text("")
    proc = medallion("export", "airflow", "-o", "a-file/dags", cwd=root)
    assert proc.returncode == 1
    assert "a-file/dags: cannot write here: Not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr

    # a selection naming no table: the pipeline's line in medallion.yml
    text = (root / "medallion.yml").read_text().replace("[gold.daily]", "[gold.dayly]")
    (root / "medallion.yml").write_text(text)
    proc = medallion("export", "airflow", cwd=root)
    assert proc.returncode == 1
    assert "pipeline 'report': select 'gold.dayly'" in proc.stderr
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "[gold.dayly]" in x)
    assert f"medallion.yml:{line}:" in proc.stderr
    assert not (root / "airflow_dags").exists()


def test_export_again_replaces_its_files_and_removes_dropped_pipelines(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", SHOP, SHOP_MODELS, SHOP_FILES)
    out = root / "airflow_dags"
    medallion("export", "airflow", cwd=root, check=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "shop_build.py",
        "shop_ingest.py",
        "shop_report.py",
    ]
    (out / "mine.py").write_text("# a DAG someone wrote by hand\n")
    text = (root / "medallion.yml").read_text()
    text = text.replace("  report:\n    select: [gold.daily]\n    after: [build]\n", "")
    assert "report" not in text
    (root / "medallion.yml").write_text(text)

    # only one pipeline asked for: nothing else is touched
    proc = medallion("export", "airflow", "--pipeline", "ingest", cwd=root, check=True)
    assert "removed" not in proc.stdout
    assert (out / "shop_report.py").exists()

    proc = medallion("export", "airflow", cwd=root, check=True)
    assert f"removed {out / 'shop_report.py'}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["mine.py", "shop_build.py", "shop_ingest.py"]
    # build has no follower any more
    assert "TriggerDagRunOperator" not in (out / "shop_build.py").read_text()
