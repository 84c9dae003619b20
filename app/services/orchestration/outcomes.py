"""What an exit check's result does: a pass completes the task (its link, its run, and its session once all its
tasks are), a failure sends the task back to in progress with the output on its timeline and tells the agent."""

from __future__ import annotations

import re

from app.db.writer import Tx, Writer
from app.models.common import ENDED_STATUSES
from app.models.runs import RunPlan
from app.services.orchestration.checks import CheckResult
from app.services.sessions.records import get_session
from app.services.sessions.reports import complete_link_in, complete_session_if_done
from app.services.tasks.commands import apply_task_changes
from app.services.tasks.queries import get_row
from app.services.tasks.runs import end_attempt_in, run_columns
from app.services.timeline import insert_entry

TIMELINE_OUTPUT = 8000  # characters of a failed check's output on the timeline (its end)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x9b]+")


async def check_passed(writer: Writer, task_id: str, session_id: str, plan: RunPlan, result: CheckResult) -> bool:
    """Complete the task whose check passed (if it is still checking in that session); True if it did."""
    assert plan.check is not None
    summary = result.summary(plan.check.command)

    async def op(tx: Tx) -> bool:
        row = await get_row(task_id)
        if row["run_state"] != "checking" or row["run_session"] != session_id:
            return False
        session = await get_session(session_id)
        await insert_entry(
            tx, project_id=row["project"], kind="milestone", message=summary, task_id=task_id, session_id=session_id
        )
        link = next(link for link in session.tasks if link.task_id == task_id)
        await complete_link_in(tx, session, link, f"its agent reported it complete and {summary}")
        if session.status not in ENDED_STATUSES:
            await complete_session_if_done(tx, session_id)
        return True

    return await writer.write(op, "maestro")


async def check_failed(
    writer: Writer, task_id: str, session_id: str, plan: RunPlan, result: CheckResult, *, agent_live: bool
) -> bool:
    """Record a failed check: the output on the task's timeline; the run back to running when its agent can be told
    (True: tell it), else the attempt fails under the plan's policy (False)."""
    assert plan.check is not None
    summary = result.summary(plan.check.command)

    async def op(tx: Tx) -> bool:
        row = await get_row(task_id)
        if row["run_state"] != "checking" or row["run_session"] != session_id:
            return False
        output = result.output[-TIMELINE_OUTPUT:].strip() or "(no output)"
        await insert_entry(
            tx,
            project_id=row["project"],
            kind="error",
            message=f"{summary}\n\n{output}",
            task_id=task_id,
            session_id=session_id,
        )
        if not agent_live:
            await end_attempt_in(tx, row, "failed", f"{summary}, and its agent has ended")
            return False
        why = f"{summary}; the failure was sent to its agent as its next instruction"
        extra = run_columns(tx, "running", why)
        await apply_task_changes(tx, task_id, {"status": "in_progress"}, why=why, extra=extra)
        return True

    return await writer.write(op, "maestro")


async def agent_gone(writer: Writer, task_id: str, session_id: str, why: str) -> None:
    """The agent could not be told of its failed check (it ended, or its input is full): the attempt fails."""

    async def op(tx: Tx) -> None:
        row = await get_row(task_id)
        if row["run_state"] == "running" and row["run_session"] == session_id:
            await end_attempt_in(tx, row, "failed", why)

    await writer.write(op, "maestro")


def instruction(task_id: str, plan: RunPlan, result: CheckResult) -> str:
    """The failure as one line typed to the agent: what failed, the last lines of output, what to do."""
    assert plan.check is not None
    tail = [line.strip() for line in result.output.strip().splitlines()[-3:] if line.strip()]
    last = _CONTROL.sub(" ", " | ".join(tail))[-400:]
    said = f" Last output: {last}." if last else ""
    return (
        f"Maestro: task {task_id} is not complete yet: its {result.summary(plan.check.command)}.{said} "
        f"The full output is on the task's timeline (maestro task show {task_id}). "
        "Fix the problem, then report complete again."
    )
