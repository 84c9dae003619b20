"""/api/v1/sessions/{id}/reports: agents report progress, blockers, needs for input, completion and errors."""

from __future__ import annotations

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.models.reports import ReportCreate, ReportResult
from app.services import sessions
from app.services.runtime import Runtime
from app.web.deps import IdempotencyKeyHeader, SessionIdPath
from app.web.openapi import conflict


@post(
    "/sessions/{session_id:str}/reports",
    tags=["sessions"],
    summary="Report progress, a blocker, a need for input, completion or an error",
    opt={"agent": "self"},
    status_code=201,
    responses=conflict("The session has ended"),
)
async def create_report(
    session_id: SessionIdPath,
    data: JSONBody[ReportCreate],
    runtime: NamedDependency[Runtime],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> ReportResult:
    """Add a timeline entry and apply the report's status effects in one transaction (docs/api.md, Reports).

    400 when `task_id` is not linked to the session, 404 unknown session, 409 the session has ended.
    """
    await runtime.runner.until_started(session_id)  # an agent quicker than its own spawn reports after "running"
    return await sessions.report(runtime.writer, session_id, data, actor, idempotency_key)


ROUTES = [create_report]
