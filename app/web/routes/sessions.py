"""/api/v1/sessions (records): list, get, rename or change status, link and unlink tasks."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.db.writer import Writer
from app.ids import id_pattern
from app.models.common import SessionStatus
from app.models.sessions import LinkUpdate, Session, SessionUpdate, TaskLink
from app.services import sessions
from app.web.deps import SessionIdPath, TaskIdPath

TAGS = ["sessions"]


@get("/sessions", tags=TAGS, summary="List sessions")
async def list_sessions(
    project_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("prj"), description="Only this project's sessions")
    ] = None,
    status: Annotated[
        list[SessionStatus] | None, QueryParameter(description="Only these statuses (repeat for several)")
    ] = None,
    task_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("tsk"), description="Only sessions linked to this task")
    ] = None,
    parent_session_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("ses"), description="Only sessions spawned by this session")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="At most this many sessions")] = 100,
) -> list[Session]:
    """Sessions matching every filter given, newest first, each with its task links."""
    return await sessions.list_sessions(
        project_id=project_id,
        statuses=status or (),
        task_id=task_id,
        parent_session_id=parent_session_id,
        limit=limit,
    )


@get("/sessions/{session_id:str}", tags=TAGS, summary="Get a session")
async def get_session(session_id: SessionIdPath) -> Session:
    """One session record with its task links."""
    return await sessions.get_session(session_id)


@patch("/sessions/{session_id:str}", tags=TAGS, summary="Rename a session or change its status")
async def update_session(
    session_id: SessionIdPath,
    data: JSONBody[SessionUpdate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
) -> Session:
    """Change name and/or status; an ended session (completed, failed, stopped, lost) cannot become live (409)."""
    return await sessions.update_session(writer, session_id, data, actor)


@post(
    "/sessions/{session_id:str}/tasks/{task_id:str}",
    tags=TAGS,
    summary="Link a task to a session",
    responses={HTTP_200_OK: ResponseSpec(data_container=TaskLink, description="Already linked: status updated")},
)
async def link_task(
    session_id: SessionIdPath,
    task_id: TaskIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    data: JSONBody[LinkUpdate | None] = None,
) -> Response[TaskLink]:
    """Link a task of the session's project (201), or set the status of an existing link (200)."""
    status = data.status if data is not None else "working"
    link, created = await sessions.link_task(writer, session_id, task_id, actor, status)
    return Response(link, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


@delete("/sessions/{session_id:str}/tasks/{task_id:str}", tags=TAGS, summary="Unlink a task from a session")
async def unlink_task(
    session_id: SessionIdPath,
    task_id: TaskIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
) -> None:
    """Remove the link; 404 if the task is not linked to the session."""
    await sessions.unlink_task(writer, session_id, task_id, actor)


ROUTES = [list_sessions, get_session, update_session, link_task, unlink_task]
