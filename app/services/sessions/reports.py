"""Agent reports: one timeline entry plus the status changes the report implies, in one write transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.db.tables import Session as SessionRow
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput
from app.models.common import ENDED_STATUSES
from app.models.reports import ReportCreate, ReportResult
from app.models.sessions import Session, TaskLink
from app.services.sessions.endings import LIVE_RUNS
from app.services.sessions.records import change_link_status_in, get_session
from app.services.sessions.status import change_status_in
from app.services.tasks.commands import apply_task_changes
from app.services.tasks.queries import get_row
from app.services.tasks.runs import plan_of, run_columns
from app.services.timeline import insert_entry
from app.services.writes import keyed, write

# The timeline kind each report kind is recorded as.
TIMELINE_KINDS = {
    "progress": "progress",
    "blocked": "blocked",
    "needs_input": "needs_input",
    "complete": "completed",
    "error": "error",
}
ENDED_LINKS = ("completed", "failed")

Effect = Callable[[Tx, Session, dict[str, TaskLink], str | None], Awaitable[None]]


async def report(
    writer: Writer, session_id: str, body: ReportCreate, actor: str, idempotency_key: str | None = None
) -> ReportResult:
    """Record a report on a session's (and its task's) timeline and apply its status effects (docs/api.md)."""

    async def op(tx: Tx) -> ReportResult:
        session = await get_session(session_id)
        if session.status in ENDED_STATUSES:
            raise Conflict(
                f"session {session_id} has ended ({session.status}); it takes no more reports",
                {"status": session.status},
            )
        links = {link.task_id: link for link in session.tasks}
        if body.task_id is not None and body.task_id not in links:
            raise InvalidInput(f"task {body.task_id} is not linked to session {session_id}", {"task_id": body.task_id})
        entry = await insert_entry(
            tx,
            project_id=session.project_id,
            kind=TIMELINE_KINDS[body.kind],
            message=body.message,
            task_id=body.task_id,
            session_id=session.id,
        )
        await SessionRow.update({SessionRow.last_report_at: entry.created_at}).where(SessionRow.id == session.id)
        await EFFECTS[body.kind](tx, session, links, body.task_id)
        final = await get_session(session_id)
        return ReportResult(entry=entry, session=final, links=final.tasks)

    # A retry with the same key (the CLI's outbox after a lost answer) gets the first answer, even once the
    # session has ended: the report was made while it ran.
    key = keyed("sessions.report", idempotency_key, (session_id, body))
    return await write(writer, op, actor, idempotency=key, result_type=ReportResult)


async def _progress(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    if task_id is not None:
        if links[task_id].status in ("blocked", "failed"):
            await change_link_status_in(tx, session.project_id, links[task_id], "working")
        await apply_task_changes(tx, task_id, {"status": "in_progress"}, only_from=("todo",))
    if session.status in ("idle", "needs_input", "stalled"):
        await _set_session_status(tx, session.id, "running", "its agent reported progress")


async def _blocked(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    if task_id is not None:
        await change_link_status_in(tx, session.project_id, links[task_id], "blocked")
        await apply_task_changes(tx, task_id, {"status": "blocked"})
        return
    for link in links.values():
        if link.status == "working":
            await change_link_status_in(tx, session.project_id, link, "blocked")


async def _needs_input(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    await _set_session_status(tx, session.id, "needs_input", "its agent asked for input")


async def _complete(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    targets = [task_id] if task_id is not None else [t for t, link in links.items() if link.status not in ENDED_LINKS]
    for target in targets:
        if await _check_first(tx, session, target):
            continue
        await complete_link_in(tx, session, links[target], f"session {session.id} reported it complete")
    await complete_session_if_done(tx, session.id)


async def complete_link_in(tx: Tx, session: Session, link: TaskLink, why: str) -> None:
    """Inside a write: a task a session worked on is completed (its link, the task, and its run if any)."""
    await change_link_status_in(tx, session.project_id, link, "completed")
    row = await get_row(link.task_id)
    extra = run_columns(tx, "done", why) if row["run_state"] in LIVE_RUNS + ("checking",) else None
    await apply_task_changes(tx, link.task_id, {"status": "completed"}, why=why, extra=extra)


async def complete_session_if_done(tx: Tx, session_id: str) -> None:
    """Completing the last task completes the session's work; a failed or checking link keeps it open."""
    if all(link.status == "completed" for link in (await get_session(session_id)).tasks):
        await _set_session_status(tx, session_id, "completed", "its agent reported all its tasks complete")


async def _check_first(tx: Tx, session: Session, task_id: str) -> bool:
    """A planned run with an exit check: "complete" starts the check instead (the scheduler runs it); True then."""
    row = await get_row(task_id)
    plan = plan_of(row)
    if plan is None or plan.check is None or row["run_session"] != session.id or row["run_state"] not in LIVE_RUNS:
        return False
    why = f"its agent reported it complete; checking with `{plan.check.command}`"
    await apply_task_changes(tx, task_id, {}, extra=run_columns(tx, "checking", why))
    return True


async def _error(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    if task_id is not None:
        await change_link_status_in(tx, session.project_id, links[task_id], "failed")
    else:  # the session's whole work failed, said so: its open links too
        for link in links.values():
            if link.status in ("working", "blocked"):
                await change_link_status_in(tx, session.project_id, link, "failed")
        await _set_session_status(tx, session.id, "failed", "its agent reported an error")


EFFECTS: dict[str, Effect] = {
    "progress": _progress,
    "blocked": _blocked,
    "needs_input": _needs_input,
    "complete": _complete,
    "error": _error,
}


async def _set_session_status(tx: Tx, session_id: str, status: str, why: str) -> None:
    # Re-read so that the session.status_changed event carries the links as the report left them.
    await change_status_in(tx, await get_session(session_id), status, why)
