"""Task use cases that write: create, update, move, delete (reads live in app.services.tasks.queries)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import msgspec

from app.db.tables import Project as ProjectRow
from app.db.tables import Task as TaskRow
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput
from app.ids import new_id
from app.models.common import utcnow
from app.models.events import TaskCreated, TaskDeleted, TaskMoved, TaskUpdated, from_entity
from app.models.tasks import Task, TaskCreate, TaskMove, TaskUpdate
from app.services.owners import task_project
from app.services.tasks.queries import get_row, hydrate, subtree_ids, to_model
from app.services.writes import is_foreign_key_violation, keyed, state_reason, stored, write

# Plain fields PATCH copies as given; `archived` and the first-transition timestamps are derived below.
_PLAIN_FIELDS = ("title", "description", "status", "priority", "skills", "initial_prompt", "due_date")

_DELETE_BATCH = 400  # a batch cascades at most this many levels deep: well under SQLite's trigger depth of 1000

# Every task of a project, roots first, then by depth.
_PROJECT_TREE_SQL = (
    "WITH RECURSIVE tree(id, depth) AS ("
    "SELECT id, 0 FROM tasks WHERE project = {} AND parent IS NULL "
    "UNION ALL SELECT t.id, tree.depth + 1 FROM tasks t JOIN tree ON t.parent = tree.id"
    ") SELECT id FROM tree ORDER BY depth, id"
)

# Every task in the ancestor chain starting at {} (that task included): portable SQLite/PostgreSQL SQL.
_ANCESTORS_SQL = (
    "WITH RECURSIVE up(id, parent) AS ("
    "SELECT id, parent FROM tasks WHERE id = {} "
    "UNION ALL SELECT t.id, t.parent FROM tasks t JOIN up ON t.id = up.parent"
    ") SELECT id FROM up WHERE id = {} LIMIT 1"
)


async def create_task(writer: Writer, body: TaskCreate, actor: str, idempotency_key: str | None = None) -> Task:
    """Create a task, last among its siblings unless `position` is given (later siblings then shift by one)."""

    # The parent's project is checked before the write transaction, through the read pool (a task never changes
    # project, so this cannot go stale); a missing project or parent surfaces as a foreign-key violation.
    if body.parent_id is not None:
        await _require_parent(body.parent_id, body.project_id)

    async def op(tx: Tx) -> Task:
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id("tsk"),
            "project": body.project_id,
            "parent": body.parent_id,
            "title": body.title.strip(),
            "description": body.description,
            "status": body.status,
            "priority": body.priority,
            "position": body.position,
            "skills": list(body.skills),
            "initial_prompt": body.initial_prompt,
            "due_date": body.due_date,
            # A task created already started or finished has had its first transition now.
            "started_at": now if body.status == "in_progress" else None,
            "completed_at": now if body.status == "completed" else None,
            "archived_at": None,
            "status_reason": stored(state_reason(tx, f"created as {body.status} by {tx.actor}", "task.created", now)),
            "created_at": now,
            "updated_at": now,
        }
        try:
            if body.position is None:
                row["position"] = await _append(row)
            else:
                row["position"] = await _make_room(body.project_id, body.parent_id, body.position)
                await TaskRow.insert(TaskRow(**row))
        except Exception as exc:
            if is_foreign_key_violation(exc):
                await _require_project(body.project_id)  # raise the precise error
                if body.parent_id is not None:
                    await _require_parent(body.parent_id, body.project_id)
                raise InvalidInput(
                    "the project or parent task no longer exists", {"parent_id": body.parent_id}
                ) from exc
            raise
        task = to_model(row)
        tx.emit(from_entity(TaskCreated, task), project_id=task.project_id, entity_id=task.id)
        return task

    key = ("tasks.create", idempotency_key, body) if idempotency_key else None
    return await write(writer, op, actor, idempotency=key, result_type=Task)


async def update_task(
    writer: Writer, task_id: str, body: TaskUpdate, actor: str, idempotency_key: str | None = None
) -> Task:
    """Change the given fields; started_at/completed_at are set on the first transition and never overwritten."""
    given = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}
    if "title" in given:
        given["title"] = given["title"].strip()

    async def op(tx: Tx) -> Task:
        return await apply_task_changes(tx, task_id, given)

    key = keyed("tasks.update", idempotency_key, (task_id, body))
    return await write(writer, op, actor, idempotency=key, result_type=Task)


async def apply_task_changes(
    tx: Tx,
    task_id: str,
    given: dict[str, Any],
    *,
    only_from: Collection[str] | None = None,
    why: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Task:
    """Inside a write: change a task's fields (emits task.updated if anything differs).

    With `only_from`, a status change happens only from one of those statuses (reports use it: `todo` becomes
    `in_progress`, anything further along stays). A status change records its reason: `why` (default: who set it).
    `extra` are run columns (run_state, run_reason, …) written with the change, which always emits the event.
    """
    row = await get_row(task_id)
    if only_from is not None and row["status"] not in only_from:
        given = {k: v for k, v in given.items() if k != "status"}
    now = utcnow()
    changes = {k: given[k] for k in _PLAIN_FIELDS if k in given and given[k] != row[k]}
    if "archived" in given:
        if given["archived"] and row["archived_at"] is None:
            changes["archived_at"] = now
        elif not given["archived"] and row["archived_at"] is not None:
            changes["archived_at"] = None
    if changes.get("status") == "in_progress" and row["started_at"] is None:
        changes["started_at"] = now
    if changes.get("status") == "completed" and row["completed_at"] is None:
        changes["completed_at"] = now
    if not changes and not extra:  # nothing differs: no write, no event
        return (await hydrate([row]))[0]
    changed = sorted(changes)
    if "status" in changes:
        reason = why or f"set to {changes['status']} by {tx.actor}"
        changes["status_reason"] = stored(state_reason(tx, reason, "task.updated", now))
    if extra:
        changed = sorted({*changed, *("run_plan" if k == "run_plan" else "run" for k in extra)})
        changes.update(extra)
    changes["updated_at"] = now
    await TaskRow.update(changes).where(TaskRow.id == task_id)
    task = (await hydrate([{**row, **changes}]))[0]
    tx.emit(TaskUpdated(task=task, changed=changed), project_id=task.project_id, entity_id=task.id)
    return task


async def move_task(
    writer: Writer, task_id: str, body: TaskMove, actor: str, idempotency_key: str | None = None
) -> Task:
    """Give a task a new parent (null = root) and/or position; positions of old and new siblings stay dense."""

    async def op(tx: Tx) -> Task:
        row = await get_row(task_id)
        project_id, old_parent, old_position = row["project"], row["parent"], row["position"]
        new_parent = old_parent if body.parent_id is msgspec.UNSET else body.parent_id
        if new_parent is not None and new_parent != old_parent:
            await _require_parent(new_parent, project_id)
            if new_parent == task_id or await TaskRow.raw(_ANCESTORS_SQL, new_parent, task_id):
                raise Conflict(
                    "a task cannot move under itself or one of its descendants",
                    {"task_id": task_id, "parent_id": new_parent},
                )
        # Close the gap it leaves, then open one where it goes: siblings on both sides stay dense.
        await TaskRow.update({TaskRow.position: TaskRow.position - 1}).where(
            _siblings(project_id, old_parent) & (TaskRow.position > old_position) & (TaskRow.id != task_id)
        )
        position = await _make_room(project_id, new_parent, body.position, exclude=task_id)
        if new_parent == old_parent and position == old_position:
            return (await hydrate([row]))[0]  # the shifts cancelled out: nothing moved, no event
        now = utcnow()
        changes = {"parent": new_parent, "position": position, "updated_at": now}
        await TaskRow.update(changes).where(TaskRow.id == task_id)
        task = (await hydrate([{**row, **changes}]))[0]
        moved = TaskMoved(task=task, from_parent_id=old_parent, to_parent_id=new_parent, position=position)
        tx.emit(moved, project_id=project_id, entity_id=task_id)
        return task

    key = keyed("tasks.move", idempotency_key, (task_id, body))
    return await write(writer, op, actor, idempotency=key, result_type=Task)


async def delete_task(writer: Writer, task_id: str, actor: str, idempotency_key: str | None = None) -> list[str]:
    """Delete a task with its whole subtree, links and dependencies; returns every deleted id (root first)."""

    async def op(tx: Tx) -> list[str]:
        row = await get_row(task_id)
        deleted = await subtree_ids(task_id)
        await _delete_deepest_first(deleted)
        await TaskRow.update({TaskRow.position: TaskRow.position - 1}).where(
            _siblings(row["project"], row["parent"]) & (TaskRow.position > row["position"])
        )
        tx.emit(TaskDeleted(id=task_id, deleted_ids=deleted), project_id=row["project"], entity_id=task_id)
        return deleted

    key = keyed("tasks.delete", idempotency_key, task_id)
    return await write(writer, op, actor, idempotency=key, result_type=list[str])


async def purge_project_tasks(project_id: str) -> int:
    """Delete every task of a project, deepest first; for use inside another write op (it emits no event)."""
    rows = await TaskRow.raw(_PROJECT_TREE_SQL, project_id)
    await _delete_deepest_first([r["id"] for r in rows])
    return len(rows)


async def _delete_deepest_first(ids_root_first: list[str]) -> None:
    # SQLite runs ON DELETE CASCADE as nested triggers and gives up past 1000 levels, so deleting only the root of
    # a very deep tree (or its project) fails. Leaves first, in bounded batches, keeps every cascade shallow; the
    # cascades still remove dependency edges (both directions), session links and timeline entries.
    deepest_first = ids_root_first[::-1]
    for start in range(0, len(deepest_first), _DELETE_BATCH):
        await TaskRow.delete().where(TaskRow.id.is_in(deepest_first[start : start + _DELETE_BATCH]))


async def _require_project(project_id: str) -> None:
    if not await ProjectRow.exists().where(ProjectRow.id == project_id):
        raise InvalidInput(f"project {project_id} not found", {"project_id": project_id})


# Appending is the common case: one statement computes the next position and inserts (one round trip in the
# write transaction, which is what bounds create throughput).
_APPEND_SQL = (
    "INSERT INTO tasks (id, project, parent, title, description, status, priority, position, skills, "
    "initial_prompt, due_date, started_at, completed_at, archived_at, created_at, updated_at, status_reason) VALUES "
    "({}, {}, {}, {}, {}, {}, {}, (SELECT COALESCE(MAX(position) + 1, 0) FROM tasks WHERE project = {} AND {}), "
    "{}, {}, {}, {}, {}, NULL, {}, {}, {}) RETURNING position"
)


async def _append(row: dict[str, Any]) -> int:
    parent_clause = "parent IS NULL" if row["parent"] is None else "parent = {}"
    sql = _APPEND_SQL.replace("AND {}), ", f"AND {parent_clause}), ", 1)
    args = [
        row["id"],
        row["project"],
        row["parent"],
        row["title"],
        row["description"],
        row["status"],
        row["priority"],
        row["project"],
    ]
    if row["parent"] is not None:
        args.append(row["parent"])
    args += [
        json.dumps(row["skills"]),
        row["initial_prompt"],
        row["due_date"],
        row["started_at"],
        row["completed_at"],
        row["created_at"],
        row["updated_at"],
        json.dumps(row["status_reason"]),
    ]
    result = await TaskRow.raw(sql, *args)
    return result[0]["position"]


async def _require_parent(parent_id: str, project_id: str) -> None:
    owner = await task_project(parent_id)
    if owner is None:
        raise InvalidInput(f"parent task {parent_id} not found", {"parent_id": parent_id})
    if owner != project_id:
        raise InvalidInput(
            f"parent task {parent_id} belongs to another project",
            {"parent_id": parent_id, "project_id": project_id},
        )


def _siblings(project_id: str, parent_id: str | None) -> Any:
    scope = TaskRow.project == project_id
    return scope & (TaskRow.parent.is_null() if parent_id is None else TaskRow.parent == parent_id)


async def _make_room(project_id: str, parent_id: str | None, wanted: int | None, exclude: str | None = None) -> int:
    """The position to insert at (clamped to the end) after shifting siblings at or after it by one."""
    where = _siblings(project_id, parent_id)
    if exclude is not None:
        where = where & (TaskRow.id != exclude)
    # ORDER BY ... LIMIT 1 walks the (project, parent, position, id) index backwards: one row read.
    top = await TaskRow.select(TaskRow.position).where(where).order_by(TaskRow.position, ascending=False).first()
    end = 0 if top is None else top["position"] + 1
    if wanted is None or wanted >= end:
        return end
    await TaskRow.update({TaskRow.position: TaskRow.position + 1}).where(where & (TaskRow.position >= wanted))
    return wanted
