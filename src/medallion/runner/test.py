"""`medallion test`: the checks of the selected tables on their current data, nothing rebuilt;
recorded as a run whose steps are `test` steps (and the singular checks, `check` steps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.runner.execute import run_table_checks, singular_step

if TYPE_CHECKING:
    from medallion.runner.plan import Plan
    from medallion.state.records import StepResult
    from medallion.state.runlog import RunLog
    from medallion.workspace import Workspace


def execute_test(ws: Workspace, plan: Plan, log: RunLog) -> None:
    """Each selected table's checks as a step, then the singular checks (every one runs: a
    failed table does not skip a singular check reading it, its data did not change)."""
    log.announce(plan.announced() + [(f"checks.{c.name}", "check") for c in plan.singular])
    engine = ws.new_engine()
    try:
        for step in plan.steps:

            def work(res: StepResult, node: str = step.node) -> None:
                run_table_checks(ws, engine, node, res)
                res.fail_on_checks()

            log.step(step.node, "test", work)
        for check in plan.singular:
            singular_step(ws, engine, check, log, {})
    finally:
        engine.close()
