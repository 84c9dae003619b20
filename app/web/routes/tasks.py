"""/api/v1/tasks: create, list, get, update, delete, tree, move and dependencies."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import MediaType, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.db.writer import Writer
from app.ids import id_pattern
from app.models.common import TaskStatus
from app.models.tasks import DependencyCreate, Task, TaskCreate, TaskMove, TaskNode, TaskPage, TaskSort, TaskUpdate
from app.services import tasks
from app.web.deps import IdempotencyKeyHeader, TaskIdPath
from app.web.openapi import conflict

TAGS = ["tasks"]
_TASK_ID = id_pattern("tsk")[1:-1]  # without anchors, to combine with `root`


@post(
    "/tasks",
    tags=TAGS,
    summary="Create a task",
    opt={"agent": "write", "agent_project": "body"},
)
async def create_task(
    data: JSONBody[TaskCreate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Task:
    """Create a task (400 if the project or parent is missing, or the parent is in another project)."""
    return await tasks.create_task(writer, data, actor, idempotency_key)


@get("/tasks", tags=TAGS, summary="List tasks", opt={"agent": "read", "agent_project": "query"})
async def list_tasks(
    project_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("prj"), description="Only this project's tasks")
    ] = None,
    status: Annotated[
        list[TaskStatus] | None, QueryParameter(description="Only tasks in one of these statuses (repeatable)")
    ] = None,
    parent_id: Annotated[
        str | None,
        QueryParameter(pattern=f"^(root|{_TASK_ID})$", description="Children of this task, or `root` for top-level"),
    ] = None,
    q: Annotated[
        str | None,
        QueryParameter(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00]*$",
            description="Case-insensitive text in title or description",
        ),
    ] = None,
    include_archived: Annotated[bool, QueryParameter(description="Also list archived tasks")] = False,
    sort: Annotated[TaskSort, QueryParameter(description="Sort key; a leading `-` sorts descending")] = "created_at",
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size")] = 100,
    cursor: Annotated[
        str | None, QueryParameter(min_length=1, max_length=1000, description="`next_cursor` of the previous page")
    ] = None,
) -> TaskPage:
    """A page of tasks matching every filter, with an opaque cursor to the next page (null at the end)."""
    return await tasks.list_tasks(
        project_id=project_id,
        statuses=status or (),
        parent_id=parent_id,
        q=q,
        include_archived=include_archived,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )


@get(
    "/tasks/{task_id:str}",
    tags=TAGS,
    summary="Get a task",
    opt={"agent": "read"},
)
async def get_task(task_id: TaskIdPath) -> Task:
    """One task with its dependencies, blocked_by and session ids."""
    return await tasks.get_task(task_id)


@patch(
    "/tasks/{task_id:str}",
    tags=TAGS,
    summary="Update a task",
    opt={"agent": "write"},
)
async def update_task(
    task_id: TaskIdPath,
    data: JSONBody[TaskUpdate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Task:
    """Change the given fields; `archived` sets or clears archived_at."""
    return await tasks.update_task(writer, task_id, data, actor, idempotency_key)


@delete(
    "/tasks/{task_id:str}",
    tags=TAGS,
    summary="Delete a task and its subtree",
    opt={"agent": "orchestrator"},
)
async def delete_task(
    task_id: TaskIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> None:
    """Delete the task, its descendants, their session links and dependencies."""
    await tasks.delete_task(writer, task_id, actor, idempotency_key)


@get(
    "/tasks/{task_id:str}/tree",
    tags=TAGS,
    summary="Get a task's subtree",
    opt={"agent": "read"},
)
async def get_tree(
    task_id: TaskIdPath,
    include_archived: Annotated[bool, QueryParameter(description="Also show archived descendants")] = False,
) -> Response[TaskNode]:
    """The nested subtree rooted at the task; children ordered by position, then id."""
    tree = await tasks.get_tree(task_id, include_archived=include_archived)
    return Response(content=encode_tree(tree), media_type=MediaType.JSON)


def encode_tree(root: TaskNode) -> bytes:
    """The tree as JSON, built without recursion: msgspec's recursive encoder gives up a few hundred levels down."""
    parts: list[bytes] = []
    stack: list[TaskNode | bytes] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            parts.append(item)
            continue
        parts.append(b'{"task":' + msgspec.json.encode(item.task) + b',"children":[')
        # Pushed in reverse so the children come out in order, comma-separated, then the closing brackets.
        stack.append(b"]}")
        for index in range(len(item.children) - 1, -1, -1):
            stack.append(item.children[index])
            if index:
                stack.append(b",")
    return b"".join(parts)


@post(
    "/tasks/{task_id:str}/move",
    tags=TAGS,
    summary="Move a task",
    opt={"agent": "write"},
    status_code=HTTP_200_OK,
    responses=conflict("The new parent is the task itself or one of its descendants"),
)
async def move_task(
    task_id: TaskIdPath,
    data: JSONBody[TaskMove],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Task:
    """New parent (null = root, omitted = same) and/or position; 409 under itself or a descendant."""
    return await tasks.move_task(writer, task_id, data, actor, idempotency_key)


@post(
    "/tasks/{task_id:str}/dependencies",
    tags=TAGS,
    summary="Add a dependency",
    opt={"agent": "write"},
    responses=conflict("Self-dependency, duplicate edge or a cycle"),
)
async def add_dependency(
    task_id: TaskIdPath,
    data: JSONBody[DependencyCreate],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Task:
    """Make the task depend on another task of its project; answers the updated task (409 on a cycle)."""
    return await tasks.add_dependency(writer, task_id, data.depends_on, actor, idempotency_key)


@delete(
    "/tasks/{task_id:str}/dependencies/{dependency_id:str}",
    tags=TAGS,
    summary="Remove a dependency",
    opt={"agent": "write"},
)
async def remove_dependency(
    task_id: TaskIdPath,
    dependency_id: TaskIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> None:
    """Remove the edge to `dependency_id` (the task depended on); 404 if there is none."""
    await tasks.remove_dependency(writer, task_id, dependency_id, actor, idempotency_key)


ROUTES = [
    create_task,
    list_tasks,
    get_task,
    update_task,
    delete_task,
    get_tree,
    move_task,
    add_dependency,
    remove_dependency,
]
