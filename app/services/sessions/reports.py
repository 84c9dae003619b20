"""Agent reports: one timeline entry plus the status changes the report implies, in one write transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput
from app.models.common import ENDED_STATUSES
from app.models.reports import ReportCreate, ReportResult
from app.models.sessions import Session, TaskLink
from app.services.sessions.records import change_link_status_in, get_session
from app.services.sessions.status import change_status_in
from app.services.tasks.commands import apply_task_changes
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
    if session.status in ("idle", "needs_input"):
        await _set_session_status(tx, session.id, "running")


async def _blocked(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    if task_id is not None:
        await change_link_status_in(tx, session.project_id, links[task_id], "blocked")
        await apply_task_changes(tx, task_id, {"status": "blocked"})
        return
    for link in links.values():
        if link.status == "working":
            await change_link_status_in(tx, session.project_id, link, "blocked")


async def _needs_input(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    await _set_session_status(tx, session.id, "needs_input")


async def _complete(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    targets = [task_id] if task_id is not None else [t for t, link in links.items() if link.status not in ENDED_LINKS]
    for target in targets:
        await change_link_status_in(tx, session.project_id, links[target], "completed")
        await apply_task_changes(tx, target, {"status": "completed"})
    # Completing the last task completes the session's work; a failed link keeps the session open for the user.
    if all(link.status == "completed" for link in (await get_session(session.id)).tasks):
        await _set_session_status(tx, session.id, "completed")


async def _error(tx: Tx, session: Session, links: dict[str, TaskLink], task_id: str | None) -> None:
    if task_id is not None:
        await change_link_status_in(tx, session.project_id, links[task_id], "failed")
    else:
        await _set_session_status(tx, session.id, "failed")


EFFECTS: dict[str, Effect] = {
    "progress": _progress,
    "blocked": _blocked,
    "needs_input": _needs_input,
    "complete": _complete,
    "error": _error,
}


async def _set_session_status(tx: Tx, session_id: str, status: str) -> None:
    # Re-read so that the session.status_changed event carries the links as the report left them.
    await change_status_in(tx, await get_session(session_id), status)
