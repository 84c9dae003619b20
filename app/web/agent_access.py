"""What a session-scoped token may do: one guard, driven by each route's `opt`, checked before the handler runs.

The user's token and browser cookie may do everything. A session token (an agent's MAESTRO_TOKEN) is refused
by default; a route opts in with `opt={"agent": grant}` where grant is

- "read" / "write": any session of the project may call it;
- "orchestrator": only a session with role orchestrator (spawning, stopping, re-linking sessions);
- "self": only on the caller's own session (reports);

and always only within the session's own project. `opt["agent_project"]` says where the route names its project:
"path" (the default: project_id, task_id, dependency_id, session_id and worktree_id path parameters), "query" (a
required project_id query parameter), "query_optional" (project_id may be omitted: the route then serves nothing
project-specific), "body" (project_id in the JSON body) or "none" (nothing project-specific at all).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import WebSocketException
from litestar.handlers.base import BaseRouteHandler

from app.errors import Forbidden
from app.models import close_codes
from app.services.owners import session_project, task_project, worktree_project
from app.web.gate import PRINCIPAL_KEY
from app.web.security import Principal

GRANTS = frozenset({"read", "write", "orchestrator", "self"})
PROJECT_SOURCES = frozenset({"path", "query", "query_optional", "body", "none"})


async def agent_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse a session token on routes it may not use, or outside its own project (403)."""
    principal: Principal | None = connection.scope.get(PRINCIPAL_KEY)  # type: ignore[call-overload]
    if principal is None or principal.kind != "session":
        return
    try:
        await _check(principal, connection, handler)
    except Forbidden as exc:
        if connection.scope["type"] == "websocket":
            raise WebSocketException(detail=exc.detail, code=close_codes.FORBIDDEN) from exc
        raise


Connection = ASGIConnection[Any, Any, Any, Any]


async def _check(principal: Principal, connection: Connection, handler: BaseRouteHandler) -> None:
    grant = handler.opt.get("agent")
    if grant is None:
        raise Forbidden("a session token cannot use this endpoint; it needs the user's token")
    if grant == "orchestrator" and principal.role != "orchestrator":
        raise Forbidden("only an orchestrator session may do this; this session is a worker")
    params = connection.path_params
    if grant == "self" and params.get("session_id") != principal.session_id:
        raise Forbidden("a session may only report on itself")
    source = handler.opt.get("agent_project", "path")
    own = principal.project_id
    if source == "path":
        await _check_path(own, params)
    elif source in ("query", "query_optional"):
        named = connection.query_params.get("project_id")
        if named is None and source == "query":
            raise Forbidden(f"a session token must name its project: add project_id={own}")
        if named is not None and named != own:
            raise Forbidden("a session token acts only within its own project")
    elif source == "body":
        named = await _body_project(connection)
        if named is not None and named != own:
            raise Forbidden("a session token acts only within its own project")


async def _check_path(own: str | None, params: dict[str, Any]) -> None:
    """Each id in the path must belong to the session's project; an unknown id is left to the handler's 404."""
    owners: list[str | None] = []
    if "project_id" in params:
        owners.append(params["project_id"])
    for name in ("task_id", "dependency_id"):
        if name in params:
            owners.append(await task_project(params[name]))
    if "session_id" in params:
        owners.append(await session_project(params["session_id"]))
    if "worktree_id" in params:
        owners.append(await worktree_project(params["worktree_id"]))
    if any(owner is not None and owner != own for owner in owners):
        raise Forbidden("a session token acts only within its own project")


async def _body_project(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    """project_id of a JSON body (Litestar caches the body, the handler reads it again); None if unreadable."""
    try:
        body = await connection.json()  # type: ignore[attr-defined]
    except Exception:
        return None  # not JSON: the handler refuses it with a 400
    return body.get("project_id") if isinstance(body, dict) else None
