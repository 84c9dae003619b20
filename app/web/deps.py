"""Request-scoped dependencies shared by the route modules: the acting principal and id/header parameters."""

from __future__ import annotations

from typing import Annotated

from litestar import Request
from litestar.params import HeaderParameter, PathParameter

from app.ids import id_pattern
from app.web.gate import PRINCIPAL_KEY

CLIENT_HEADER = "x-maestro-client"
CLIENT_ACTORS = {"cli", "api", "ui"}

ProjectIdPath = Annotated[str, PathParameter(pattern=id_pattern("prj"), description="A project id (prj_…)")]
TaskIdPath = Annotated[str, PathParameter(pattern=id_pattern("tsk"), description="A task id (tsk_…)")]
SessionIdPath = Annotated[str, PathParameter(pattern=id_pattern("ses"), description="A session id (ses_…)")]
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        required=False,
        description="Retrying a create with the same key returns the first result and creates nothing more",
    ),
]


def provide_actor(request: Request) -> str:
    """Who acts: a session's id for its session token, else `cli` or `api` (the CLI says X-Maestro-Client: cli)."""
    principal = request.scope.get(PRINCIPAL_KEY)
    if principal is not None and principal.kind == "session":
        return principal.session_id
    client = request.headers.get(CLIENT_HEADER, "api").lower()
    return client if client in CLIENT_ACTORS else "api"
