"""/api/v1/sessions: spawn, stop, list, get, rename or change status, link and unlink tasks, the recording."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.db.writer import Writer
from app.ids import id_pattern
from app.models.common import SessionStatus
from app.models.sessions import LinkUpdate, Session, SessionSpawn, SessionUpdate, TaskLink
from app.services import sessions
from app.services.runtime import Runtime
from app.web.deps import SessionIdPath, TaskIdPath
from app.web.errors import ErrorBody
from app.web.openapi import conflict, not_found

TAGS = ["sessions"]


@post(
    "/sessions",
    tags=TAGS,
    summary="Start a session in a terminal",
    opt={"agent": "orchestrator", "agent_project": "body"},
    responses={
        **not_found("No project with this project_id"),
        429: ResponseSpec(
            data_container=ErrorBody,
            description="This instance already runs MAESTRO_MAX_SESSIONS sessions (nothing is created), or too many "
            "failed authentication attempts from this address; both with Retry-After",
            generate_examples=False,
        ),
    },
)
async def spawn_session(
    data: JSONBody[SessionSpawn], runtime: NamedDependency[Runtime], actor: NamedDependency[str]
) -> Session:
    """Write the manifest, then run the profile's program in a pty in the project's working directory.

    201 with the session as it is once started: `running`, or `completed` / `failed` with its exit code when the
    program exited at once. 400 naming the program when the profile's program is missing; 429 beyond
    MAESTRO_MAX_SESSIONS; nothing is created then.
    """
    return await runtime.runner.spawn(data, actor=actor)


@post(
    "/sessions/{session_id:str}/stop",
    tags=TAGS,
    summary="Stop a running session",
    status_code=HTTP_200_OK,
    opt={"agent": "orchestrator"},
    responses=conflict("The session has ended already, is still starting, or runs on another server instance"),
)
async def stop_session(
    session_id: SessionIdPath, runtime: NamedDependency[Runtime], actor: NamedDependency[str]
) -> Session:
    """HUP, TERM, then KILL the session's process group after a grace period; the session ends as stopped.

    A stale record (live on this instance but left by an earlier run) is ended too: its process is stopped if it is
    still the record's own (same pid and start time), else the session ends lost; its timeline says which.
    """
    return await runtime.runner.stop(session_id, actor)


@get(
    "/sessions/{session_id:str}/recording",
    tags=TAGS,
    summary="Download a session's terminal recording",
    media_type="application/x-asciicast",
    opt={"agent": "read"},
    responses={HTTP_200_OK: ResponseSpec(data_container=str, media_type="application/x-asciicast")},
)
async def get_recording(session_id: SessionIdPath, runtime: NamedDependency[Runtime]) -> Stream:
    """The asciicast v2 recording (output and resizes) so far, playable with `asciinema play`; 404 if none."""
    chunks = await runtime.runner.recording(session_id)
    return Stream(
        chunks,
        media_type="application/x-asciicast",
        headers={"Content-Disposition": f'attachment; filename="{session_id}.cast"'},
    )


@get("/sessions", tags=TAGS, summary="List sessions", opt={"agent": "read", "agent_project": "query"})
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


@get("/sessions/{session_id:str}", tags=TAGS, summary="Get a session", opt={"agent": "read"})
async def get_session(session_id: SessionIdPath) -> Session:
    """One session record with its task links."""
    return await sessions.get_session(session_id)


@patch(
    "/sessions/{session_id:str}",
    tags=TAGS,
    summary="Rename a session or change its status",
    opt={"agent": "orchestrator"},
    responses=conflict("An ended session cannot become live again"),
)
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
    opt={"agent": "orchestrator"},
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


@delete(
    "/sessions/{session_id:str}/tasks/{task_id:str}",
    tags=TAGS,
    summary="Unlink a task from a session",
    opt={"agent": "orchestrator"},
)
async def unlink_task(
    session_id: SessionIdPath,
    task_id: TaskIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
) -> None:
    """Remove the link; 404 if the task is not linked to the session."""
    await sessions.unlink_task(writer, session_id, task_id, actor)


ROUTES = [
    spawn_session,
    stop_session,
    get_recording,
    list_sessions,
    get_session,
    update_session,
    link_task,
    unlink_task,
]
