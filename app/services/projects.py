"""Project use cases: list, get, summarise, create, update, delete (with cascade)."""

from __future__ import annotations

import os
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count

from app.db.tables import Project as ProjectRow
from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput, NotFound
from app.ids import new_id
from app.models.common import utcnow
from app.models.events import ProjectCreated, ProjectDeleted, ProjectUpdated, from_entity
from app.models.projects import Project, ProjectCreate, ProjectSummary, ProjectUpdate
from app.models.runs import DEFAULT_MAX_AGENTS
from app.models.worktrees import ProjectGitSettings
from app.services.tasks.commands import purge_project_tasks
from app.services.writes import is_unique_violation, write


async def list_projects() -> list[Project]:
    """Every project, by name."""
    rows = await ProjectRow.select().order_by(ProjectRow.name)
    return [_to_model(r) for r in rows]


async def get_project(project_id: str) -> Project:
    """One project, or NotFound."""
    row = await ProjectRow.select().where(ProjectRow.id == project_id).first()
    if row is None:
        raise NotFound(f"project {project_id} not found")
    return _to_model(row)


async def create_project(
    writer: Writer, body: ProjectCreate, actor: str, idempotency_key: str | None = None
) -> Project:
    """Create a project; its name must be unique and its working_dir an existing absolute directory."""
    working_dir = _checked_dir(body.working_dir)

    async def op(tx: Tx) -> Project:
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id("prj"),
            "name": body.name.strip(),
            "working_dir": working_dir,
            "description": body.description,
            "git": msgspec.to_builtins(body.git),
            "max_agents": body.max_agents,
            "created_at": now,
            "updated_at": now,
        }
        await _insert_unique(row)
        project = _to_model(row)
        tx.emit(from_entity(ProjectCreated, project), project_id=project.id, entity_id=project.id)
        return project

    key = ("projects.create", idempotency_key, body) if idempotency_key else None
    return await write(writer, op, actor, idempotency=key, result_type=Project)


async def update_project(writer: Writer, project_id: str, body: ProjectUpdate, actor: str) -> Project:
    """Change the given fields."""
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}
    if "working_dir" in changes:
        changes["working_dir"] = _checked_dir(changes["working_dir"])
    if "name" in changes:
        changes["name"] = changes["name"].strip()

    async def op(tx: Tx) -> Project:
        current = await get_project(project_id)
        if not changes:
            return current
        changes["updated_at"] = utcnow()
        stored = {k: msgspec.to_builtins(v) if k == "git" else v for k, v in changes.items()}
        try:
            await ProjectRow.update(stored).where(ProjectRow.id == project_id)
        except Exception as exc:
            if is_unique_violation(exc):
                raise Conflict(f"a project named {changes['name']!r} already exists") from exc
            raise
        project = msgspec.structs.replace(current, **changes)
        changed = sorted(k for k in changes if k != "updated_at")
        tx.emit(ProjectUpdated(project=project, changed=changed), project_id=project_id, entity_id=project_id)
        return project

    return await writer.write(op, actor)


async def delete_project(writer: Writer, project_id: str, actor: str, *, cascade: bool = False) -> None:
    """Delete a project; one that still has tasks or sessions needs `cascade`."""

    async def op(tx: Tx) -> None:
        await get_project(project_id)
        tasks = await TaskRow.count().where(TaskRow.project == project_id)
        sessions = await SessionRow.count().where(SessionRow.project == project_id)
        if (tasks or sessions) and not cascade:
            raise Conflict(
                f"project {project_id} still has {tasks} task(s) and {sessions} session(s); "
                "pass cascade=true to delete it with everything in it",
                {"tasks": tasks, "sessions": sessions},
            )
        await purge_project_tasks(project_id)  # deepest first: SQLite's cascade stops at 1,000 levels
        await ProjectRow.delete().where(ProjectRow.id == project_id)
        deleted = ProjectDeleted(id=project_id, deleted_tasks=tasks, deleted_sessions=sessions)
        tx.emit(deleted, project_id=project_id, entity_id=project_id)

    await writer.write(op, actor)


async def project_summary(project_id: str) -> ProjectSummary:
    """How many tasks the project has by status (archived ones apart) and how many sessions by status."""
    await get_project(project_id)
    task_rows = await (
        TaskRow.select(TaskRow.status, Count(alias="count"))
        .where((TaskRow.project == project_id) & TaskRow.archived_at.is_null())
        .group_by(TaskRow.status)
    )
    archived = await TaskRow.count().where((TaskRow.project == project_id) & TaskRow.archived_at.is_not_null())
    session_rows = await (
        SessionRow.select(SessionRow.status, Count(alias="count"))
        .where(SessionRow.project == project_id)
        .group_by(SessionRow.status)
    )
    return ProjectSummary(
        project_id=project_id,
        tasks={r["status"]: r["count"] for r in task_rows},
        archived_tasks=archived,
        sessions={r["status"]: r["count"] for r in session_rows},
    )


async def require_project(project_id: str) -> None:
    """NotFound unless the project exists (for other services)."""
    if not await ProjectRow.exists().where(ProjectRow.id == project_id):
        raise NotFound(f"project {project_id} not found")


async def _insert_unique(row: dict[str, Any]) -> None:
    if await ProjectRow.exists().where(ProjectRow.name == row["name"]):
        raise Conflict(f"a project named {row['name']!r} already exists")
    try:
        await ProjectRow.insert(ProjectRow(**row))
    except Exception as exc:
        if is_unique_violation(exc):  # another instance won the race
            raise Conflict(f"a project named {row['name']!r} already exists") from exc
        raise


def _checked_dir(path: str) -> str:
    if "\0" in path or not os.path.isabs(path):
        raise InvalidInput("working_dir must be an absolute path", {"working_dir": path})
    if not os.path.isdir(path):
        raise InvalidInput("working_dir must be an existing directory", {"working_dir": path})
    return os.path.normpath(path)


def _to_model(row: dict[str, Any]) -> Project:
    return Project(
        id=row["id"],
        name=row["name"],
        working_dir=row["working_dir"],
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        git=_git_settings(row.get("git")),
        max_agents=row.get("max_agents") or DEFAULT_MAX_AGENTS,
    )


def _git_settings(value: Any) -> ProjectGitSettings:
    # JSON columns come back as text on SQLite and as parsed values on PostgreSQL; an unreadable or outdated
    # value falls back to the defaults rather than making the project unreadable.
    if isinstance(value, str):
        value = msgspec.json.decode(value) if value else {}
    try:
        return msgspec.convert(value or {}, ProjectGitSettings)
    except msgspec.ValidationError:
        return ProjectGitSettings()
