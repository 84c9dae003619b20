"""Request-scoped dependencies shared by the route modules: the acting principal and id/header parameters."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, PathParameter

from app.ids import id_pattern
from app.models.common import CLIENT_ACTORS, PROJECT_ID_EXAMPLE, SESSION_ID_EXAMPLE, TASK_ID_EXAMPLE
from app.models.worktrees import WORKTREE_ID_EXAMPLE
from app.web.gate import PRINCIPAL_KEY

CLIENT_HEADER = "x-maestro-client"


def _id_path(prefix: str, noun: str, example: str) -> Any:
    """An id path parameter: its pattern, and an example that matches it."""
    return PathParameter(
        pattern=id_pattern(prefix), description=f"A {noun} id ({prefix}_…)", examples=[Example(value=example)]
    )


ProjectIdPath = Annotated[str, _id_path("prj", "project", PROJECT_ID_EXAMPLE)]
TaskIdPath = Annotated[str, _id_path("tsk", "task", TASK_ID_EXAMPLE)]
SessionIdPath = Annotated[str, _id_path("ses", "session", SESSION_ID_EXAMPLE)]
WorktreeIdPath = Annotated[str, _id_path("wtr", "worktree", WORKTREE_ID_EXAMPLE)]
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        required=False,
        description="A retry with the same key returns the first answer and changes nothing more",
    ),
]


def provide_actor(request: Request) -> str:
    """Who acts: a session's id for its session token, else `cli` or `api` (the CLI says X-Maestro-Client: cli)."""
    principal = request.scope.get(PRINCIPAL_KEY)
    if principal is not None and principal.kind == "session":
        return principal.session_id
    client = request.headers.get(CLIENT_HEADER, "api").lower()
    return client if client in CLIENT_ACTORS else "api"
