"""Timeline use cases: read and add entries on tasks and sessions (one entry may concern both)."""

from __future__ import annotations

from typing import Any

from piccolo.query.functions.aggregate import Max

from app.db.tables import TimelineEntry as EntryRow
from app.db.writer import Tx, Writer
from app.errors import InvalidInput, NotFound
from app.models.common import TIMELINE_KINDS, utcnow
from app.models.events import TimelineAdded, from_entity
from app.models.timeline import SessionTimelineCreate, TaskTimelineCreate, TimelineEntry
from app.services.owners import session_project, task_project
from app.services.writes import keyed, write

MAX_MESSAGE = 65536
MAX_LIST = 500
MAX_LATEST = 2000  # tasks per latest_reports call (a board's worth)
MAX_ENTRY_ID = 2**31 - 1  # entry ids are 32-bit on PostgreSQL (Serial); larger values would overflow the driver


async def task_timeline(task_id: str, *, after: int = 0, limit: int = 100) -> list[TimelineEntry]:
    """A task's entries with id > after, oldest first (newest last); NotFound if the task does not exist."""
    if await task_project(task_id) is None:
        raise NotFound(f"task {task_id} not found")
    return await _entries(EntryRow.task == task_id, after, limit)


async def session_timeline(session_id: str, *, after: int = 0, limit: int = 100) -> list[TimelineEntry]:
    """A session's entries with id > after, oldest first (newest last); NotFound if the session does not exist."""
    if await session_project(session_id) is None:
        raise NotFound(f"session {session_id} not found")
    return await _entries(EntryRow.session == session_id, after, limit)


async def latest_reports(task_ids: list[str]) -> dict[str, TimelineEntry]:
    """The newest agent-written entry of each task (cards show it as the last report line); one query."""
    if not task_ids:
        return {}
    newest = (
        EntryRow.select(EntryRow.task, Max(EntryRow.id, alias="id"))
        .where(EntryRow.task.is_in(task_ids[:MAX_LATEST]) & EntryRow.session.is_not_null())
        .group_by(EntryRow.task)
    )
    ids = [r["id"] for r in await newest]
    if not ids:
        return {}
    rows = await EntryRow.select().where(EntryRow.id.is_in(ids))
    return {r["task"]: _to_model(r) for r in rows}


async def latest_session_entries(session_ids: list[str], kinds: tuple[str, ...] = ()) -> dict[str, TimelineEntry]:
    """The newest entry of each session (of one of `kinds`, when given): the sessions page's last report line and
    pending question; two queries whatever the number of sessions."""
    if not session_ids:
        return {}
    condition = EntryRow.session.is_in(session_ids[:MAX_LATEST])
    if kinds:
        condition = condition & EntryRow.kind.is_in(list(kinds))
    newest = EntryRow.select(EntryRow.session, Max(EntryRow.id, alias="id")).where(condition).group_by(EntryRow.session)
    ids = [r["id"] for r in await newest]
    if not ids:
        return {}
    rows = await EntryRow.select().where(EntryRow.id.is_in(ids))
    return {r["session"]: _to_model(r) for r in rows}


async def add_to_task(
    writer: Writer, task_id: str, body: TaskTimelineCreate, actor: str, idempotency_key: str | None = None
) -> TimelineEntry:
    """Add an entry to a task's timeline, optionally naming a session of the same project."""
    return await add_entry(
        writer,
        kind=body.kind,
        message=body.message,
        task_id=task_id,
        session_id=body.session_id,
        on="task",
        actor=actor,
        idempotency=keyed("timeline.task", idempotency_key, (task_id, body)),
    )


async def add_to_session(
    writer: Writer,
    session_id: str,
    body: SessionTimelineCreate,
    actor: str,
    idempotency_key: str | None = None,
) -> TimelineEntry:
    """Add an entry to a session's timeline, optionally naming a task of the same project."""
    return await add_entry(
        writer,
        kind=body.kind,
        message=body.message,
        task_id=body.task_id,
        session_id=session_id,
        on="session",
        actor=actor,
        idempotency=keyed("timeline.session", idempotency_key, (session_id, body)),
    )


async def add_entry(
    writer: Writer,
    *,
    kind: str,
    message: str,
    task_id: str | None,
    session_id: str | None,
    on: str,
    actor: str,
    idempotency: tuple[str, str, Any] | None = None,
) -> TimelineEntry:
    """Add one entry about a task and/or a session; `on` names whose timeline it was posted to (404 if missing).

    The other entity, when named, must exist in the same project (400 otherwise). Emits timeline.added.
    """
    if kind not in TIMELINE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(TIMELINE_KINDS)}", {"kind": kind})
    if not isinstance(message, str) or not 1 <= len(message) <= MAX_MESSAGE:
        raise InvalidInput(f"message must be 1 to {MAX_MESSAGE} characters")
    if on not in ("task", "session") or (on == "task" and task_id is None) or (on == "session" and session_id is None):
        raise InvalidInput("an entry belongs to the task or session it is posted to")

    async def op(tx: Tx) -> TimelineEntry:
        task_owner = await task_project(task_id) if task_id is not None else None
        session_owner = await session_project(session_id) if session_id is not None else None
        if on == "task" and task_owner is None:
            raise NotFound(f"task {task_id} not found")
        if on == "session" and session_owner is None:
            raise NotFound(f"session {session_id} not found")
        project_id = task_owner if on == "task" else session_owner
        if task_id is not None and session_id is not None and task_owner != session_owner:
            other, value = ("session_id", session_id) if on == "task" else ("task_id", task_id)
            raise InvalidInput(f"{other} must name an existing {other[:-3]} of the same project", {other: value})
        return await insert_entry(
            tx, project_id=project_id, kind=kind, message=message, task_id=task_id, session_id=session_id
        )

    return await write(writer, op, actor, idempotency=idempotency, result_type=TimelineEntry)


async def insert_entry(
    tx: Tx, *, project_id: str | None, kind: str, message: str, task_id: str | None, session_id: str | None
) -> TimelineEntry:
    """Inside a write, with ids already checked: insert one entry and emit timeline.added."""
    now = utcnow()
    inserted = await EntryRow.insert(
        EntryRow(task=task_id, session=session_id, kind=kind, message=message, created_at=now)
    ).returning(EntryRow.id)
    entry = TimelineEntry(
        id=inserted[0]["id"],
        kind=kind,  # type: ignore[arg-type]
        message=message,
        task_id=task_id,
        session_id=session_id,
        created_at=now,
    )
    # entity_id: the task when the entry concerns one, else the session (data carries both ids).
    tx.emit(from_entity(TimelineAdded, entry), project_id=project_id, entity_id=task_id or session_id)
    return entry


async def _entries(condition: Any, after: int, limit: int) -> list[TimelineEntry]:
    limit = max(1, min(limit, MAX_LIST))
    after = max(0, min(after, MAX_ENTRY_ID))
    rows = await EntryRow.select().where(condition, EntryRow.id > after).order_by(EntryRow.id).limit(limit)
    return [_to_model(r) for r in rows]


def _to_model(row: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        id=row["id"],
        kind=row["kind"],
        message=row["message"],
        task_id=row["task"],
        session_id=row["session"],
        created_at=row["created_at"],
    )
