"""GET /api/v1/health (public) and GET /api/v1/ready."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from app.db.engine import Database
from app.models.system import Health, Readiness
from app.services import system


# `public`: the gate lets it through without a token, and the OpenAPI document says it needs none.
@get("/health", opt={"public": True}, tags=["system"], summary="Liveness")
async def get_health() -> Health:
    """The process answers; needs no token."""
    return system.health()


@get(
    "/ready",
    tags=["system"],
    summary="Readiness",
    opt={"agent": "read", "agent_project": "none"},
    responses={503: ResponseSpec(Readiness, description="Database unreachable or migrations pending")},
)
async def get_ready(db: NamedDependency[Database]) -> Response[Readiness]:
    """Database reachable and every shipped migration applied (503 otherwise)."""
    result = await system.readiness(db)
    return Response(result, status_code=200 if result.status == "ready" else 503)


ROUTES = [get_health, get_ready]
