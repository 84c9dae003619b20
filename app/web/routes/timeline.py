"""/api/v1 timelines: GET and POST /tasks/{id}/timeline and /sessions/{id}/timeline (one service behind both)."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from app.db.writer import Writer
from app.models.timeline import SessionTimelineCreate, TaskTimelineCreate, TimelineEntry
from app.services import timeline
from app.web.deps import IdempotencyKeyHeader, SessionIdPath, TaskIdPath

TAGS = ["timeline"]
AfterQuery = Annotated[
    int, QueryParameter(ge=0, le=timeline.MAX_ENTRY_ID, description="Only entries with a greater id (paging)")
]
LimitQuery = Annotated[int, QueryParameter(ge=1, le=500, description="At most this many entries")]


@get("/tasks/{task_id:str}/timeline", tags=TAGS, summary="Read a task's timeline", opt={"agent": "read"})
async def task_timeline(task_id: TaskIdPath, after: AfterQuery = 0, limit: LimitQuery = 100) -> list[TimelineEntry]:
    """Entries about the task, oldest first; page by passing the last id seen as `after`."""
    return await timeline.task_timeline(task_id, after=after, limit=limit)


@post(
    "/tasks/{task_id:str}/timeline",
    tags=TAGS,
    summary="Add to a task's timeline",
    opt={"agent": "write"},
)
async def add_to_task(
    task_id: TaskIdPath,
    data: JSONBody[TaskTimelineCreate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> TimelineEntry:
    """Add an entry; `session_id`, if given, must name a session of the task's project (400 otherwise)."""
    return await timeline.add_to_task(writer, task_id, data, actor, idempotency_key)


@get("/sessions/{session_id:str}/timeline", tags=TAGS, summary="Read a session's timeline", opt={"agent": "read"})
async def session_timeline(
    session_id: SessionIdPath, after: AfterQuery = 0, limit: LimitQuery = 100
) -> list[TimelineEntry]:
    """Entries about the session, oldest first; page by passing the last id seen as `after`."""
    return await timeline.session_timeline(session_id, after=after, limit=limit)


@post(
    "/sessions/{session_id:str}/timeline",
    tags=TAGS,
    summary="Add to a session's timeline",
    opt={"agent": "write"},
)
async def add_to_session(
    session_id: SessionIdPath,
    data: JSONBody[SessionTimelineCreate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> TimelineEntry:
    """Add an entry; `task_id`, if given, must name a task of the session's project (400 otherwise)."""
    return await timeline.add_to_session(writer, session_id, data, actor, idempotency_key)


ROUTES = [task_timeline, add_to_task, session_timeline, add_to_session]
