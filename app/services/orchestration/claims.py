"""The scheduler's writes: gate armed tasks (waiting or queued), claim queued ones up to each project's agent limit,
and record how a claimed start went.

Every decision is taken inside one write transaction that first re-reads what it decides on. Writes are serialised
(one writer per instance; on PostgreSQL one advisory lock across instances, see app.db.writer), so a task is
claimed exactly once, and a project's limit holds across instances too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from app.db.tables import Project as ProjectRow
from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.tables import TaskSession
from app.db.writer import Tx, Writer
from app.models.common import ENDED_STATUSES
from app.models.runs import ACTIVE_RUN_STATES, ARMED_RUN_STATES, DEFAULT_MAX_AGENTS, RunPlan
from app.models.sessions import Session
from app.services.tasks.commands import apply_task_changes
from app.services.tasks.queries import CHUNK, get_row
from app.services.tasks.runs import FINISHED_STATUSES, end_attempt_in, plan_of, queue_key, run_columns

# Each armed task's dependencies with their status (one placeholder per task id).
_DEPS_SQL = (
    "SELECT d.task AS task, t.status AS status FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on "
    "WHERE d.task IN ({ids})"
)


@dataclass(frozen=True)
class Claim:
    """A queued task this instance has claimed: start `plan` on it as attempt `attempt`."""

    task_id: str
    project_id: str
    title: str
    plan: RunPlan
    attempt: int


async def gate_and_claim(writer: Writer, host: str) -> list[Claim]:
    """One scheduling pass: armed tasks become queued when every dependency is completed (waiting again when one no
    longer is), finished tasks are disarmed, and queued tasks are claimed for `host` in queue order while their
    project has free agent slots. Writes (and emits) only what changes."""

    armed = TaskRow.run_state.is_in(list(ARMED_RUN_STATES))
    if not await TaskRow.exists().where(armed):  # the usual case: no write transaction for nothing
        return []

    async def op(tx: Tx) -> list[Claim]:
        rows = await TaskRow.select().where(armed)
        if not rows:
            return []
        pending = await _unfinished_dependencies([r["id"] for r in rows])
        queued: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            row = await _gate(tx, row, pending.get(row["id"], 0))
            if row["run_state"] == "queued":
                queued[row["project"]].append(row)
        claims: list[Claim] = []
        for project_id, candidates in queued.items():
            free = await _free_slots(project_id)
            for row in sorted(candidates, key=queue_key)[: max(free, 0)]:
                claims.append(await _claim(tx, row, host))
        return claims

    return await writer.write(op, "maestro")


async def _unfinished_dependencies(task_ids: list[str]) -> dict[str, int]:
    """How many dependencies of each task are not completed."""
    counts: dict[str, int] = defaultdict(int)
    for start in range(0, len(task_ids), CHUNK):
        chunk = task_ids[start : start + CHUNK]
        for dep in await TaskRow.raw(_DEPS_SQL.format(ids=", ".join("{}" for _ in chunk)), *chunk):
            if dep["status"] != "completed":
                counts[dep["task"]] += 1
    return counts


async def _gate(tx: Tx, row: dict[str, Any], unfinished: int) -> dict[str, Any]:
    """Move one armed task to the state its dependencies and status call for; the row as it now is."""
    if row["status"] in FINISHED_STATUSES:  # finished by hand: nothing left to start
        state = "done" if row["status"] == "completed" else None
        why = f"the task was {row['status']} before its run started"
    elif unfinished:
        state, why = "waiting", f"waiting for {unfinished} dependenc{'y' if unfinished == 1 else 'ies'} to complete"
    else:
        state, why = "queued", "ready: every dependency is completed; waiting for an agent slot"
    if state == row["run_state"]:
        return row
    extra = run_columns(tx, state, why)
    await apply_task_changes(tx, row["id"], {}, extra=extra)
    return {**row, **extra}


async def _free_slots(project_id: str) -> int:
    """The project's agent limit minus its runs that are starting, running or checking."""
    project = await ProjectRow.select(ProjectRow.max_agents).where(ProjectRow.id == project_id).first()
    limit = (project or {}).get("max_agents") or DEFAULT_MAX_AGENTS
    active = await TaskRow.count().where(
        (TaskRow.project == project_id) & TaskRow.run_state.is_in(list(ACTIVE_RUN_STATES))
    )
    return limit - active


async def _claim(tx: Tx, row: dict[str, Any], host: str) -> Claim:
    plan = plan_of(row)
    assert plan is not None  # armed tasks have plans: set_plan arms, clear_plan disarms
    attempt = (row["run_attempt"] or 0) + 1
    why = f"starting {plan.profile} (attempt {attempt})"
    extra = run_columns(tx, "starting", why, run_attempt=attempt, run_host=host, run_session=None)
    await apply_task_changes(tx, row["id"], {"status": "in_progress"}, only_from=("todo",), why=why, extra=extra)
    return Claim(task_id=row["id"], project_id=row["project"], title=row["title"], plan=plan, attempt=attempt)


async def record_started(writer: Writer, claim: Claim, session: Session) -> None:
    """The claimed start produced `session`: the run is running in it (unless that session already ended, which
    `app.services.sessions.endings` has then recorded on the run)."""

    async def op(tx: Tx) -> None:
        row = await get_row(claim.task_id)
        if row["run_state"] != "starting" or row["run_attempt"] != claim.attempt:
            return
        why = f"running in session {session.id} (attempt {claim.attempt})"
        await apply_task_changes(tx, claim.task_id, {}, extra=run_columns(tx, "running", why, run_session=session.id))

    await writer.write(op, "maestro")


async def record_start_failed(writer: Writer, claim: Claim, error: str) -> None:
    """The claimed start was refused (an unknown profile, a missing program, …): the attempt failed, said why."""

    async def op(tx: Tx) -> None:
        row = await get_row(claim.task_id)
        if row["run_state"] == "starting" and row["run_attempt"] == claim.attempt:
            await end_attempt_in(tx, row, "failed", f"could not start {claim.plan.profile}: {error}")

    await writer.write(op, "maestro")


async def reconcile_claims(writer: Writer, host: str) -> int:
    """At startup: claims this instance made but did not see through (the server stopped between claiming and
    starting) are settled; a claim whose session exists runs on in it, one without is released to start again."""

    async def op(tx: Tx) -> int:
        rows = await TaskRow.select().where((TaskRow.run_state == "starting") & (TaskRow.run_host == host))
        for row in rows:
            session = await _session_of_claim(row)
            if session is None:
                why = "the server stopped before starting it; it starts again"
                extra = run_columns(tx, "waiting", why, run_attempt=max((row["run_attempt"] or 1) - 1, 0))
                await apply_task_changes(tx, row["id"], {}, extra=extra)
            elif session["status"] in ENDED_STATUSES:
                why = f"its session {session['id']} ended ({session['status']}) while the server was stopped"
                await end_attempt_in(tx, row, "ended_without_report", why)
            else:
                why = f"running in session {session['id']} (attempt {row['run_attempt']}), found after a restart"
                extra = run_columns(tx, "running", why, run_session=session["id"])
                await apply_task_changes(tx, row["id"], {}, extra=extra)
        return len(rows)

    return await writer.write(op, "maestro")


async def _session_of_claim(row: dict[str, Any]) -> dict[str, Any] | None:
    """The session started for a claim: linked to the task and created after it was claimed."""
    links = await TaskSession.select(TaskSession.session).where(TaskSession.task == row["id"])
    if not links:
        return None
    found = (
        await SessionRow.select(SessionRow.id, SessionRow.status)
        .where(SessionRow.id.is_in([link["session"] for link in links]) & (SessionRow.created_at >= row["run_since"]))
        .order_by(SessionRow.created_at, ascending=False)
        .first()
    )
    return found
