"""/api/v1/projects: list, create, get, update, delete."""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from app.db.writer import Writer
from app.models.projects import Project, ProjectCreate, ProjectUpdate
from app.services import projects
from app.web.deps import IdempotencyKeyHeader, ProjectIdPath
from app.web.openapi import conflict

TAGS = ["projects"]


@get("/projects", tags=TAGS, summary="List projects")
async def list_projects() -> list[Project]:
    """Every project, ordered by name."""
    return await projects.list_projects()


@post(
    "/projects",
    tags=TAGS,
    summary="Create a project",
    responses=conflict("The name is taken"),
)
async def create_project(
    data: JSONBody[ProjectCreate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Project:
    """Create a project (409 if the name is taken; 400 if working_dir is not an existing absolute directory)."""
    return await projects.create_project(writer, data, actor, idempotency_key)


@get("/projects/{project_id:str}", tags=TAGS, summary="Get a project", opt={"agent": "read"})
async def get_project(project_id: ProjectIdPath) -> Project:
    """One project."""
    return await projects.get_project(project_id)


@patch("/projects/{project_id:str}", tags=TAGS, summary="Update a project", responses=conflict("The name is taken"))
async def update_project(
    project_id: ProjectIdPath,
    data: JSONBody[ProjectUpdate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
) -> Project:
    """Change name, working_dir or description."""
    return await projects.update_project(writer, project_id, data, actor)


@delete(
    "/projects/{project_id:str}",
    tags=TAGS,
    summary="Delete a project",
    responses=conflict("It still has tasks or sessions (extra: their counts) and cascade is false"),
)
async def delete_project(
    project_id: ProjectIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    cascade: Annotated[bool, QueryParameter(description="Also delete its tasks and sessions")] = False,
) -> None:
    """Delete a project; 409 while it has tasks or sessions unless cascade=true."""
    await projects.delete_project(writer, project_id, actor, cascade=cascade)


ROUTES = [list_projects, create_project, get_project, update_project, delete_project]
