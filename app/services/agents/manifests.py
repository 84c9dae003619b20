"""Session manifests: build one from projects, tasks and skills, write it to the session's folder, its schema."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec

from app.db.tables import Task as TaskRow
from app.errors import InvalidInput, NotFound
from app.home import write_private
from app.models.common import REPORT_KINDS, ROLES, utcnow
from app.models.manifests import (
    AGENT_ENV_VARS,
    MANIFEST_FILE,
    MANIFEST_VERSION,
    Manifest,
    ManifestProject,
    ManifestSession,
    ManifestSkill,
    ManifestTask,
    ManifestWorktree,
    RelatedTask,
    Reporting,
)
from app.models.tasks import Task
from app.services.agents.skills import get_skill
from app.services.projects import get_project
from app.services.tasks.queries import get_task, subtree_query

# Caps that keep a manifest (and the prompt composed from it) a reasonable size for any tree shape.
MAX_SUBTASKS = 200
MAX_ANCESTORS = 50
MAX_DEPENDENCIES = 200
MAX_DEPENDENTS = 200

# The ancestor chain above {} (nearest first), one round trip whatever the depth; portable SQLite/PostgreSQL SQL.
_ANCESTORS_SQL = (
    "WITH RECURSIVE up(id, parent, title, status, depth) AS ("
    "SELECT id, parent, title, status, 0 FROM tasks WHERE id = {} "
    "UNION ALL SELECT t.id, t.parent, t.title, t.status, up.depth + 1 FROM tasks t JOIN up ON t.id = up.parent"
    ") SELECT id, parent, title, status FROM up WHERE depth > 0 ORDER BY depth"
)
# The tasks {} depends on, and the tasks that depend on {}.
_DEPENDENCIES_SQL = (
    "SELECT t.id, t.parent, t.title, t.status FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on "
    "WHERE d.task = {} ORDER BY t.id"
)
_DEPENDENTS_SQL = (
    "SELECT t.id, t.parent, t.title, t.status FROM task_dependencies d JOIN tasks t ON t.id = d.task "
    "WHERE d.depends_on = {} ORDER BY t.id"
)

REPORT_CLI = {
    "progress": 'maestro report progress "<message>" [--task <task_id>]',
    "blocked": 'maestro report blocked "<what blocks you>" [--task <task_id>]',
    "needs_input": 'maestro report needs-input "<question>" [--task <task_id>]',
    "complete": 'maestro report complete "<summary>" [--task <task_id>]',
    "error": 'maestro report error "<what failed>" [--task <task_id>]',
}
REPORT_BODY = '{"kind": "progress", "message": "Parser done, starting on the tests", "task_id": "<task_id>"}'


async def build_manifest(
    *,
    session_id: str,
    session_name: str,
    role: str,
    profile: str,
    parent_session_id: str | None,
    project_id: str,
    task_ids: list[str],
    skill_names: list[str],
    home: Path,
    api_url: str,
    instructions: str = "",
    worktree: ManifestWorktree | None = None,
) -> Manifest:
    """The manifest of a new session; InvalidInput for an unknown role, task or skill, NotFound for the project."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", {"role": role, "allowed": list(ROLES)})
    project = await get_project(project_id)
    tasks = [await _manifest_task(task) for task in await _load_tasks(project_id, task_ids)]
    skills = await _load_skills(home, project_id, skill_names)
    return Manifest(
        manifest_version=MANIFEST_VERSION,
        generated_at=utcnow(),
        session=ManifestSession(
            id=session_id,
            name=session_name,
            role=role,  # type: ignore[arg-type]
            profile=profile,
            parent_session_id=parent_session_id,
            working_dir=worktree.path if worktree is not None else project.working_dir,
        ),
        project=ManifestProject(
            id=project.id, name=project.name, description=project.description, working_dir=project.working_dir
        ),
        tasks=tasks,
        related_tasks=_related_index(tasks),
        skills=skills,
        reporting=reporting_for(session_id, api_url),
        environment=list(AGENT_ENV_VARS),
        instructions=instructions.strip(),
        worktree=worktree,
    )


def reporting_for(session_id: str, api_url: str) -> Reporting:
    """How a session reports back: endpoint, auth header, kinds and the CLI command of each kind."""
    return Reporting(
        api_url=api_url.rstrip("/"),
        endpoint=f"/api/v1/sessions/{session_id}/reports",
        auth="Authorization: Bearer $MAESTRO_TOKEN",
        kinds=list(REPORT_KINDS),  # type: ignore[arg-type]
        cli=dict(REPORT_CLI),
        body=REPORT_BODY,
    )


def write_manifest(manifest: Manifest, folder: Path) -> Path:
    """Write `folder/manifest.json` (pretty JSON; folder 0700, file 0600, replaced atomically); its path."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix" and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)  # mkdir's mode is masked by the umask, and an existing folder keeps its own
    data = msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
    path = folder / MANIFEST_FILE
    write_private(path, data)
    return path


def read_manifest(path: Path) -> Manifest:
    """Decode a manifest file (unknown fields from a newer server are ignored)."""
    return msgspec.json.decode(path.read_bytes(), type=Manifest)


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of the manifest document."""
    return msgspec.json.schema(Manifest)


async def _load_tasks(project_id: str, task_ids: list[str]) -> list[Task]:
    tasks: list[Task] = []
    missing: list[str] = []
    foreign: list[str] = []
    for task_id in dict.fromkeys(task_ids):  # a task named twice appears once
        try:
            task = await get_task(task_id)
        except NotFound:
            missing.append(task_id)
            continue
        if task.project_id != project_id:
            foreign.append(task_id)
        tasks.append(task)
    if missing:
        raise InvalidInput(f"unknown task(s): {', '.join(missing)}", {"task_ids": missing})
    if foreign:
        raise InvalidInput(f"task(s) of another project: {', '.join(foreign)}", {"task_ids": foreign})
    return tasks


async def _load_skills(home: Path, project_id: str, names: list[str]) -> list[ManifestSkill]:
    skills: list[ManifestSkill] = []
    unknown: list[str] = []
    for name in dict.fromkeys(names):
        try:
            skill = await get_skill(home, name, project_id)
        except (NotFound, InvalidInput):
            unknown.append(name)
            continue
        skills.append(
            ManifestSkill(
                name=skill.name,
                description=skill.description,
                instructions=skill.instructions or "",
                source=skill.path,
            )
        )
    if unknown:
        raise InvalidInput(f"unknown skill(s): {', '.join(unknown)}", {"skills": unknown})
    return skills


async def _manifest_task(task: Task) -> ManifestTask:
    ancestors = await TaskRow.raw(_ANCESTORS_SQL, task.id)
    kept_ancestors = ancestors[:MAX_ANCESTORS]
    subtasks, subtasks_truncated = await _subtree(task.id)
    dependencies = await TaskRow.raw(_DEPENDENCIES_SQL, task.id)
    dependents = await TaskRow.raw(_DEPENDENTS_SQL, task.id)
    return ManifestTask(
        id=task.id,
        title=task.title,
        description=task.description,
        status=task.status,
        priority=task.priority,
        parent_id=task.parent_id,
        ancestors=[
            _related(row, "parent" if depth == 0 else "ancestor")
            for depth, row in reversed(list(enumerate(kept_ancestors)))
        ],
        ancestors_truncated=len(ancestors) - len(kept_ancestors),
        subtasks=subtasks,
        subtasks_truncated=subtasks_truncated,
        dependencies=[_related(row, "depends_on") for row in dependencies[:MAX_DEPENDENCIES]],
        dependencies_truncated=max(0, len(dependencies) - MAX_DEPENDENCIES),
        blocked_by=list(task.blocked_by),
        dependents=[_related(row, "dependent") for row in dependents[:MAX_DEPENDENTS]],
        dependents_truncated=max(0, len(dependents) - MAX_DEPENDENTS),
    )


async def _subtree(task_id: str) -> tuple[list[RelatedTask], int]:
    """The visible descendants (archived ones hide their subtree) in outline order, and how many were left out."""
    rows = await TaskRow.select(
        TaskRow.id, TaskRow.parent, TaskRow.title, TaskRow.status, TaskRow.position, TaskRow.archived_at
    ).where(TaskRow.id.is_in(subtree_query(task_id)))
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["id"] != task_id and row["archived_at"] is None:
            children[row["parent"]].append(row)
    for kids in children.values():
        kids.sort(key=lambda r: (r["position"], r["id"]))
    # Breadth first decides who is kept, so truncation drops the deepest levels, never a whole upper branch; the
    # kept set contains every kept task's parent, so it can then be listed as an outline (depth first).
    kept: set[str] = set()
    visible = 0
    level = [task_id]
    while level:
        following = []
        for parent in level:
            for kid in children.get(parent, ()):
                visible += 1
                following.append(kid["id"])
                if len(kept) < MAX_SUBTASKS:
                    kept.add(kid["id"])
        level = following
    outline: list[RelatedTask] = []
    stack = list(reversed(children.get(task_id, [])))
    while stack:
        row = stack.pop()
        if row["id"] not in kept:
            continue
        outline.append(_related(row, "subtask"))
        stack.extend(reversed(children.get(row["id"], [])))
    return outline, visible - len(kept)


def _related(row: dict[str, Any], relationship: str) -> RelatedTask:
    return RelatedTask(
        id=row["id"],
        title=row["title"],
        status=row["status"],
        relationship=relationship,  # type: ignore[arg-type]
        parent_id=row["parent"],
    )


def _related_index(tasks: list[ManifestTask]) -> list[RelatedTask]:
    """Every task the manifest mentions that is not one of its own, once, with the first relationship it has."""
    own = {t.id for t in tasks}
    seen: dict[str, RelatedTask] = {}
    for task in tasks:
        for related in (*task.ancestors, *task.dependencies, *task.dependents, *task.subtasks):
            if related.id not in own and related.id not in seen:
                seen[related.id] = related
    return list(seen.values())
