"""Run by the Airflow virtualenv's python (not collected by pytest): load each folder given with
Airflow's own DagBag and print, on one line after `DAGBAG `, what the test compares with
medallion.yml: import errors, and per DAG its timetable and settings, per task its edges,
retries, timeout, pool, trigger rule and command."""

from __future__ import annotations

import json
import sys

from airflow.dag_processing.dagbag import DagBag


def describe(folder: str) -> dict:
    bag = DagBag(folder)
    dags = {}
    for dag_id, dag in bag.dags.items():
        timetable = dag.timetable
        dags[dag_id] = {
            "timetable": type(timetable).__name__,
            "cron": getattr(timetable, "expression", None),
            "timezone": str(getattr(timetable, "timezone", None) or ""),
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            # the time zone Airflow took from the timezone-aware start_date
            "dag_timezone": getattr(dag.timezone, "name", str(dag.timezone)),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "tasks": {
                t.task_id: {
                    "type": type(t).__name__,
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "retry_delay": t.retry_delay.total_seconds(),
                    "backoff": t.retry_exponential_backoff,
                    "timeout": (
                        t.execution_timeout.total_seconds() if t.execution_timeout else None
                    ),
                    "pool": t.pool,
                    "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                    "command": getattr(t, "bash_command", None),
                    "env": getattr(t, "env", None),
                    "append_env": getattr(t, "append_env", None),
                    "trigger_dag_id": getattr(t, "trigger_dag_id", None),
                }
                for t in dag.tasks
            },
        }
    errors = {path: str(err) for path, err in bag.import_errors.items()}
    return {"errors": errors, "dags": dags}


if __name__ == "__main__":
    report = {folder: describe(folder) for folder in sys.argv[1:]}
    print("DAGBAG " + json.dumps(report, default=str))
