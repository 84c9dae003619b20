"""Task dependencies: add and remove edges, same project only, never a cycle."""

from __future__ import annotations

from app.db.tables import Task as TaskRow
from app.db.tables import TaskDependency
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput, NotFound
from app.models.common import utcnow
from app.models.events import DependencyAdded, DependencyRemoved
from app.models.tasks import Task
from app.services.owners import task_project
from app.services.tasks.queries import get_row, hydrate
from app.services.writes import is_unique_violation, keyed, write

# Is {1} reachable from {0} by following depends_on edges? UNION (not UNION ALL) keeps the walk finite.
_REACHES_SQL = (
    "WITH RECURSIVE reach(id) AS ("
    "SELECT depends_on FROM task_dependencies WHERE task = {} "
    "UNION SELECT d.depends_on FROM task_dependencies d JOIN reach r ON d.task = r.id"
    ") SELECT id FROM reach WHERE id = {} LIMIT 1"
)


async def add_dependency(
    writer: Writer, task_id: str, depends_on: str, actor: str, idempotency_key: str | None = None
) -> Task:
    """Make `task_id` depend on `depends_on`; 409 for a self-dependency, a duplicate or a cycle."""

    async def op(tx: Tx) -> Task:
        row = await get_row(task_id)
        if depends_on == task_id:
            raise Conflict("a task cannot depend on itself", {"task_id": task_id})
        other_project = await task_project(depends_on)
        if other_project is None:
            raise InvalidInput(f"task {depends_on} not found", {"depends_on": depends_on})
        if other_project != row["project"]:
            raise InvalidInput(
                f"task {depends_on} belongs to another project", {"task_id": task_id, "depends_on": depends_on}
            )
        edge = (TaskDependency.task == task_id) & (TaskDependency.depends_on == depends_on)
        if await TaskDependency.exists().where(edge):
            raise Conflict(f"task {task_id} already depends on {depends_on}", {"depends_on": depends_on})
        # The new edge closes a cycle exactly when task_id is already reachable from depends_on.
        if await TaskRow.raw(_REACHES_SQL, depends_on, task_id):
            raise Conflict(
                f"task {task_id} depending on {depends_on} would create a cycle",
                {"task_id": task_id, "depends_on": depends_on},
            )
        try:
            await TaskDependency.insert(TaskDependency(task=task_id, depends_on=depends_on, created_at=utcnow()))
        except Exception as exc:
            if is_unique_violation(exc):
                raise Conflict(f"task {task_id} already depends on {depends_on}") from exc
            raise
        added = DependencyAdded(task_id=task_id, depends_on=depends_on)
        tx.emit(added, project_id=row["project"], entity_id=task_id)
        return (await hydrate([row]))[0]

    key = keyed("tasks.dependencies.add", idempotency_key, (task_id, depends_on))
    return await write(writer, op, actor, idempotency=key, result_type=Task)


async def remove_dependency(
    writer: Writer, task_id: str, depends_on: str, actor: str, idempotency_key: str | None = None
) -> None:
    """Remove the edge `task_id` -> `depends_on`; NotFound if the task or the edge does not exist."""

    async def op(tx: Tx) -> None:
        row = await get_row(task_id)
        edge = (TaskDependency.task == task_id) & (TaskDependency.depends_on == depends_on)
        if not await TaskDependency.exists().where(edge):
            raise NotFound(f"task {task_id} does not depend on {depends_on}", {"depends_on": depends_on})
        await TaskDependency.delete().where(edge)
        removed = DependencyRemoved(task_id=task_id, depends_on=depends_on)
        tx.emit(removed, project_id=row["project"], entity_id=task_id)

    key = keyed("tasks.dependencies.remove", idempotency_key, (task_id, depends_on))
    await write(writer, op, actor, idempotency=key)
