"""REST route for a project's run graph (app.services.orchestration.graph)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from app.ids import id_pattern
from app.models.graphs import RunGraph
from app.services.orchestration.graph import run_graph
from app.web.deps import ProjectIdPath
from app.web.openapi import not_found

TAGS = ["runs"]


@get(
    "/projects/{project_id:str}/graph",
    tags=TAGS,
    summary="A project's run graph",
    opt={"agent": "read"},
    responses=not_found("No project with this id, or root_id is not a task of this project"),
)
async def get_graph(
    project_id: ProjectIdPath,
    root_id: Annotated[
        str | None,
        QueryParameter(pattern=id_pattern("tsk"), description="Only the subtree rooted at this task of the project"),
    ] = None,
) -> RunGraph:
    """The project's unarchived tasks (or a subtree's) with their dependency edges and run states, the ready queue
    in start order and the runs holding an agent slot."""
    return await run_graph(project_id, root_id)


ROUTES = [get_graph]
