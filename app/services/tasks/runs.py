"""Run plans and the run state machine of a task (app.models.runs): plan, unplan, plan a tree, bump, decide, and the
transitions an attempt goes through, each inside the write that causes it.

The scheduler (app.services.orchestration) moves armed tasks between waiting and queued and claims queued ones;
everything that ends an attempt calls `end_attempt_in`, which applies the plan's failure policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from app.db.tables import Task as TaskRow
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput, NotFound
from app.models.decoding import from_column
from app.models.runs import ACTIVE_RUN_STATES, ARMED_RUN_STATES, FAILED_RUN_STATES, RunPlan, TreeRunResult
from app.models.tasks import Task
from app.services.tasks.commands import apply_task_changes
from app.services.tasks.queries import get_row, hydrate, subtree_ids
from app.services.writes import keyed, state_reason, stored, write

EVENT = "task.updated"
FINISHED_STATUSES = ("completed", "cancelled")  # a task in one of these is never started by a plan
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BY_FIRST = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def plan_of(row: dict[str, Any]) -> RunPlan | None:
    """The run plan stored on a task row, if any."""
    return from_column(row.get("run_plan"), RunPlan)


def run_columns(tx: Tx, state: str | None, why: str, **more: Any) -> dict[str, Any]:
    """The run columns for entering `state` now, for the reason `why` (plus any other run columns given)."""
    reason = state_reason(tx, why, EVENT)
    return {"run_state": state, "run_reason": stored(reason), "run_since": reason.at, **more}


async def set_plan(writer: Writer, task_id: str, plan: RunPlan, actor: str) -> Task:
    """Give a task a run plan (replacing any); an unfinished task without a live run is armed (waiting)."""

    async def op(tx: Tx) -> Task:
        row = await get_row(task_id)
        extra: dict[str, Any] = {"run_plan": msgspec.to_builtins(plan)}
        if row["status"] not in FINISHED_STATUSES and row["run_state"] not in (*ACTIVE_RUN_STATES, *ARMED_RUN_STATES):
            extra.update(run_columns(tx, "waiting", f"planned by {tx.actor}: {plan.profile} starts once it is ready"))
        return await apply_task_changes(tx, task_id, {}, extra=extra)

    return await write(writer, op, actor)


async def clear_plan(writer: Writer, task_id: str, actor: str) -> Task:
    """Remove a task's run plan; a run not started yet is disarmed, a live one carries on without a plan."""

    async def op(tx: Tx) -> Task:
        row = await get_row(task_id)
        if row["run_plan"] is None and row["run_state"] not in ARMED_RUN_STATES:
            return (await hydrate([row]))[0]
        extra: dict[str, Any] = {"run_plan": None}
        if row["run_state"] in ARMED_RUN_STATES:
            extra.update(run_columns(tx, None, f"plan removed by {tx.actor}"))
        return await apply_task_changes(tx, task_id, {}, extra=extra)

    return await write(writer, op, actor)


async def plan_tree(
    writer: Writer, root_id: str, plan: RunPlan, actor: str, idempotency_key: str | None = None
) -> TreeRunResult:
    """Run a subtree: every unfinished, unarchived leaf without a plan gets `plan` (and is armed)."""
    ids = await subtree_ids(root_id)
    if not ids:
        raise NotFound(f"task {root_id} not found", {"task_id": root_id})

    async def op(tx: Tx) -> TreeRunResult:
        rows = await TaskRow.select().where(TaskRow.id.is_in(ids))
        parents = {r["parent"] for r in rows}
        planned: list[str] = []
        already: list[str] = []
        for row in sorted(rows, key=lambda r: ids.index(r["id"])):
            if row["id"] in parents or row["archived_at"] is not None or row["status"] in FINISHED_STATUSES:
                continue
            if row["run_plan"] is not None:
                already.append(row["id"])
                continue
            extra: dict[str, Any] = {"run_plan": msgspec.to_builtins(plan)}
            if row["run_state"] not in (*ACTIVE_RUN_STATES, *ARMED_RUN_STATES):
                why = f"planned by {tx.actor} with its tree: {plan.profile} starts once it is ready"
                extra.update(run_columns(tx, "waiting", why))
            await apply_task_changes(tx, row["id"], {}, extra=extra)
            planned.append(row["id"])
        if not planned and not already:
            raise InvalidInput(f"task {root_id} has no unfinished leaf task to run", {"task_id": root_id})
        return TreeRunResult(planned=planned, already_planned=already)

    key = keyed("tasks.run_tree", idempotency_key, (root_id, plan))
    return await write(writer, op, actor, idempotency=key, result_type=TreeRunResult)


async def bump(writer: Writer, task_id: str, actor: str, idempotency_key: str | None = None) -> Task:
    """Move an armed task to the front of its project's queue (it starts next once ready)."""

    async def op(tx: Tx) -> Task:
        row = await get_row(task_id)
        if row["run_state"] not in ARMED_RUN_STATES:
            raise Conflict(
                f"task {task_id} is not waiting to start (its run is {row['run_state'] or 'not planned'})",
                {"run_state": row["run_state"]},
            )
        top = (
            await TaskRow.select(TaskRow.run_rank)
            .where(TaskRow.project == row["project"])
            .order_by(TaskRow.run_rank, ascending=False)
            .first()
        )
        rank = (top["run_rank"] if top else 0) + 1
        why = f"moved to the front of the queue by {tx.actor}"
        return await apply_task_changes(tx, task_id, {}, extra=run_columns(tx, row["run_state"], why, run_rank=rank))

    key = keyed("tasks.bump", idempotency_key, task_id)
    return await write(writer, op, actor, idempotency=key, result_type=Task)


async def decide(writer: Writer, task_id: str, action: str, actor: str, idempotency_key: str | None = None) -> Task:
    """A person's answer to a run that failed or asks them: retry it, skip it (the task completes) or stop."""

    async def op(tx: Tx) -> Task:
        row = await get_row(task_id)
        if row["run_state"] not in FAILED_RUN_STATES:
            raise Conflict(
                f"task {task_id}'s run has not failed and asks nobody (it is {row['run_state'] or 'not planned'})",
                {"run_state": row["run_state"]},
            )
        if action == "retry":
            if plan_of(row) is None:
                raise Conflict(f"task {task_id} has no run plan to retry; plan it first", {"task_id": task_id})
            extra = run_columns(tx, "waiting", f"retry asked by {tx.actor}")
            return await apply_task_changes(tx, task_id, {}, extra=extra)
        if action == "skip":
            why = f"skipped by {tx.actor}: counted as completed without a passing run"
            return await apply_task_changes(
                tx, task_id, {"status": "completed"}, why=why, extra=run_columns(tx, "done", why)
            )
        why = f"stopped by {tx.actor}: tasks that depend on it stay blocked"
        return await apply_task_changes(tx, task_id, {}, extra=run_columns(tx, "failed", why))

    key = keyed("tasks.decide", idempotency_key, (task_id, action))
    return await write(writer, op, actor, idempotency=key, result_type=Task)


async def end_attempt_in(tx: Tx, row: dict[str, Any], outcome: str, why: str, session_id: str | None = None) -> Task:
    """Inside a write: the current attempt failed (`outcome`: failed | ended_without_report) because of `why`.

    With a plan, its failure policy decides what follows: retry (queued again while attempts remain), ask the
    person (needs_person), or stop (the outcome stands and dependent tasks stay blocked)."""
    plan = plan_of(row)
    attempt = row["run_attempt"] or 1
    state, note = outcome, ""
    if plan is not None and plan.on_failure == "retry" and attempt <= plan.retries:
        state, note = "waiting", f"; retrying (attempt {attempt + 1} of {plan.retries + 1})"
    elif plan is not None and plan.on_failure == "retry":
        note = f"; no retries left ({attempt} attempts)"
    elif plan is not None and plan.on_failure == "ask":
        state, note = "needs_person", "; asking you: retry, skip or stop"
    more = {"run_session": session_id} if session_id else {}
    extra = run_columns(tx, state, f"attempt {attempt}: {why}{note}", **more)
    return await apply_task_changes(tx, row["id"], {}, extra=extra)


def queue_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The start order of queued tasks (the same as tasks.queries.queue_order): bumped, priority, oldest."""
    since = row["run_since"] or _EPOCH
    return (-(row["run_rank"] or 0), _BY_FIRST.get(row["priority"], 3), since, row["position"], row["id"])
