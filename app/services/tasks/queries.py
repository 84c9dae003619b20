"""Task reads: one task, filtered keyset-paginated listings, subtrees, and bulk hydration of derived fields."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString

from app.db.tables import Task as TaskRow
from app.errors import InvalidInput, NotFound
from app.models.common import TaskId
from app.models.decoding import from_column
from app.models.runs import FAILED_RUN_STATES, RunPlan, StateReason, TaskRun
from app.models.tasks import Task, TaskNode, TaskPage, TaskSort

# What a cursor may carry: bounded so that no decoded value can overflow a database type (a 400, never a 500).
_CursorInt = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
_CursorText = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00]*$")]

# sort name -> (column, ascending, type of the value the cursor carries)
SORTS: dict[str, tuple[Any, bool, Any]] = {
    "created_at": (TaskRow.created_at, True, dt.datetime),
    "-created_at": (TaskRow.created_at, False, dt.datetime),
    "updated_at": (TaskRow.updated_at, True, dt.datetime),
    "-updated_at": (TaskRow.updated_at, False, dt.datetime),
    "position": (TaskRow.position, True, _CursorInt),
    "-position": (TaskRow.position, False, _CursorInt),
    "title": (TaskRow.title, True, _CursorText),
    "-title": (TaskRow.title, False, _CursorText),
}
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit

# Every task in the subtree rooted at {} (the root first, then by depth); portable SQLite/PostgreSQL SQL.
_SUBTREE_SQL = (
    "WITH RECURSIVE sub(id, depth) AS ("
    "SELECT id, 0 FROM tasks WHERE id = {} "
    "UNION ALL SELECT t.id, sub.depth + 1 FROM tasks t JOIN sub ON t.parent = sub.id"
    ") SELECT id FROM sub ORDER BY depth, id"
)

# Both kinds of link for a set of tasks in one round trip (each query costs a connection on SQLite): dependency
# edges with the status of the task depended on, and session links. {ids} becomes one placeholder per task id.
_LINKS_SQL = (
    "SELECT 'd' AS kind, d.task AS task, d.depends_on AS ref, t.status AS status, t.run_state AS run_state "
    "FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on WHERE d.task IN ({ids}) "
    "UNION ALL SELECT 's', s.task, s.session, NULL, NULL FROM task_sessions s WHERE s.task IN ({ids}) "
    "ORDER BY 1, 2, 3"
)

# For each of a set of tasks, every task it depends on directly or further up whose run failed and is not completed
# (UNION keeps the walk finite). {ids}: one placeholder per task id; {states}: the failed run states, quoted.
_FAILED_UPSTREAM_SQL = (
    "WITH RECURSIVE up(task, dep) AS ("
    "SELECT task, depends_on FROM task_dependencies WHERE task IN ({ids}) "
    "UNION SELECT up.task, d.depends_on FROM task_dependencies d JOIN up ON d.task = up.dep"
    ") SELECT up.task AS task, up.dep AS dep FROM up JOIN tasks t ON t.id = up.dep "
    "WHERE t.run_state IN ({states}) AND t.status <> 'completed'"
)
_FAILED_STATES = ", ".join(f"'{state}'" for state in FAILED_RUN_STATES)

# A project's queued tasks in start order (see queue_order).
_QUEUE_SQL = (
    "SELECT id FROM tasks WHERE project = {} AND run_state = 'queued' ORDER BY run_rank DESC, "
    "CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, "
    "run_since, position, id"
)


async def get_task(task_id: str) -> Task:
    """One task with its dependencies, blocked_by and session ids, or NotFound."""
    row = await get_row(task_id)
    return (await hydrate([row]))[0]


async def get_row(task_id: str) -> dict[str, Any]:
    """The raw table row of one task, or NotFound."""
    row = await TaskRow.select().where(TaskRow.id == task_id).output(load_json=True).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


async def list_tasks(
    *,
    project_id: str | None = None,
    statuses: Sequence[str] = (),
    parent_id: str | None = None,
    q: str | None = None,
    include_archived: bool = False,
    sort: TaskSort = "created_at",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> TaskPage:
    """A page of tasks matching every given filter; `parent_id="root"` means top-level tasks only."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", {"limit": limit})
    if sort not in SORTS:
        raise InvalidInput(f"unknown sort {sort!r}", {"sort": sort, "allowed": sorted(SORTS)})
    column, ascending, _ = SORTS[sort]
    query = TaskRow.select().output(load_json=True)
    if project_id is not None:
        query = query.where(TaskRow.project == project_id)
    wanted = sorted(set(statuses))
    if len(wanted) == 1:
        query = query.where(TaskRow.status == wanted[0])
    elif wanted:
        query = query.where(TaskRow.status.is_in(wanted))
    if parent_id == "root":
        query = query.where(TaskRow.parent.is_null())
    elif parent_id is not None:
        query = query.where(TaskRow.parent == parent_id)
    if not include_archived:
        query = query.where(TaskRow.archived_at.is_null())
    if q:
        query = query.where(_text_match(q))
    if cursor is not None:
        value, last_id = decode_cursor(cursor, sort)
        # A row-value comparison lets the index seek straight past the last row, even among equal sort values.
        name = column._meta.db_column_name
        op = ">" if ascending else "<"
        query = query.where(WhereRaw(f'("tasks"."{name}", "tasks"."id") {op} ({{}}, {{}})', value, last_id))
    rows = await query.order_by(column, TaskRow.id, ascending=ascending).limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(sort, rows[-1][column._meta.name], rows[-1]["id"]) if more else None
    return TaskPage(items=await hydrate(rows), next_cursor=next_cursor)


async def task_titles(task_ids: Sequence[str]) -> dict[str, str]:
    """The title of each of these tasks that exists (archived ones too), in one query; for lists that name tasks."""
    wanted = list(dict.fromkeys(task_ids))
    if not wanted:
        return {}
    rows = await TaskRow.select(TaskRow.id, TaskRow.title).where(TaskRow.id.is_in(wanted))
    return {r["id"]: r["title"] for r in rows}


async def get_tree(task_id: str, *, include_archived: bool = False) -> TaskNode:
    """The subtree rooted at a task; children by position then id; archived descendants hidden unless asked."""
    root = await get_row(task_id)
    rows = await TaskRow.select().where(TaskRow.id.is_in(subtree_query(task_id))).output(load_json=True)
    tasks = {t.id: t for t in await hydrate(rows)}
    children: dict[str, list[Task]] = defaultdict(list)
    for task in tasks.values():
        if task.parent_id is not None and task.id != task_id:
            children[task.parent_id].append(task)
    # Built iteratively, leaves first, so a deep tree cannot exhaust Python's recursion limit.
    nodes: dict[str, TaskNode] = {}
    order = _preorder(root["id"], children, include_archived)
    for tid in reversed(order):
        kids = sorted(children.get(tid, ()), key=lambda t: (t.position, t.id))
        nodes[tid] = TaskNode(task=tasks[tid], children=[nodes[k.id] for k in kids if k.id in nodes])
    return nodes[root["id"]]


async def subtree_ids(task_id: str) -> list[str]:
    """Ids in the subtree rooted at a task (the root first, then by depth and id)."""
    rows = await TaskRow.raw(_SUBTREE_SQL, task_id)
    return [r["id"] for r in rows]


def subtree_query(task_id: str) -> QueryString:
    """A sub-select of the ids in a task's subtree, for `column.is_in(...)`."""
    return QueryString(_SUBTREE_SQL, task_id)


async def hydrate(rows: Sequence[dict[str, Any]]) -> list[Task]:
    """Table rows as Task models, with dependencies, blocked_by and session_ids fetched in bulk (one query)."""
    ids = [r["id"] for r in rows]
    deps: dict[str, list[str]] = defaultdict(list)
    blocked: dict[str, list[str]] = defaultdict(list)
    sessions: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for link in await TaskRow.raw(_LINKS_SQL.format(ids=", ".join("{}" for _ in chunk)), *chunk, *chunk):
            if link["kind"] == "s":
                sessions[link["task"]].append(link["ref"])
                continue
            deps[link["task"]].append(link["ref"])
            if link["status"] != "completed":
                blocked[link["task"]].append(link["ref"])
    tasks = [
        to_model(r, dependencies=deps[r["id"]], blocked_by=blocked[r["id"]], session_ids=sessions[r["id"]])
        for r in rows
    ]
    await _add_run_details(tasks)
    return tasks


async def runs_needing_person(limit: int = 500) -> list[Task]:
    """Unarchived tasks of every project whose runs failed, ask the person or ended without report, newest first."""
    rows = (
        await TaskRow.select()
        .where(TaskRow.run_state.is_in(list(FAILED_RUN_STATES)) & TaskRow.archived_at.is_null())
        .order_by(TaskRow.run_since, ascending=False)
        .limit(limit)
    )
    return await hydrate(rows)


async def queue_order(project_id: str) -> list[str]:
    """The queued tasks of a project in the order they start: bumped first, then by priority, then oldest."""
    rows = await TaskRow.raw(_QUEUE_SQL, project_id)
    return [r["id"] for r in rows]


async def _add_run_details(tasks: list[Task]) -> None:
    """Queue positions of queued tasks (one query per project involved), and for waiting tasks the dependencies,
    direct or further up, whose runs failed (what they are blocked by until a person decides)."""
    positions: dict[str, int] = {}
    for project_id in {t.project_id for t in tasks if t.run is not None and t.run.state == "queued"}:
        positions.update({tid: n for n, tid in enumerate(await queue_order(project_id), start=1)})
    waiting = [t.id for t in tasks if t.run is not None and t.run.state == "waiting" and t.blocked_by]
    failed: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(waiting), CHUNK):
        chunk = waiting[start : start + CHUNK]
        sql = _FAILED_UPSTREAM_SQL.format(ids=", ".join("{}" for _ in chunk), states=_FAILED_STATES)
        for row in await TaskRow.raw(sql, *chunk):
            failed[row["task"]].append(row["dep"])
    for task in tasks:
        if task.run is not None:
            task.run.queue_position = positions.get(task.id)
            task.run.failed_dependencies = sorted(failed.get(task.id, []))


def to_model(
    row: dict[str, Any],
    *,
    dependencies: list[str] | None = None,
    blocked_by: list[str] | None = None,
    session_ids: list[str] | None = None,
) -> Task:
    """A table row (FK columns named `project`/`parent`) as the public Task."""
    return Task(
        id=row["id"],
        project_id=row["project"],
        parent_id=row["parent"],
        title=row["title"],
        description=row["description"],
        status=row["status"],
        priority=row["priority"],
        position=row["position"],
        skills=list(row["skills"] or []),
        initial_prompt=row["initial_prompt"],
        due_date=row["due_date"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        archived_at=row["archived_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        dependencies=dependencies or [],
        blocked_by=blocked_by or [],
        session_ids=session_ids or [],
        status_reason=from_column(row.get("status_reason"), StateReason),
        run_plan=from_column(row.get("run_plan"), RunPlan),
        run=_run(row),
    )


def _run(row: dict[str, Any]) -> TaskRun | None:
    """The run part of a task row (None when it never had one); queue positions are added by `hydrate`."""
    state = row.get("run_state")
    if not state:
        return None
    return TaskRun(
        state=state,
        attempt=row.get("run_attempt") or 0,
        session_id=row.get("run_session"),
        reason=from_column(row.get("run_reason"), StateReason),
    )


def encode_cursor(sort: str, value: Any, last_id: str) -> str:
    """An opaque cursor: the sort it belongs to and the last row's (sort value, id)."""
    raw = msgspec.json.encode([sort, value, last_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The (sort value, id) a cursor carries; InvalidInput if it is malformed or from another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, last_id = msgspec.json.decode(raw, type=tuple[str, Any, TaskId])
        if cursor_sort != sort:
            raise InvalidInput("cursor belongs to a different sort order", {"cursor_sort": cursor_sort, "sort": sort})
        value = msgspec.convert(value, SORTS[sort][2])
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("naive timestamp")
            value = value.astimezone(dt.UTC)  # OverflowError near year 1 or 9999: malformed too
    except (ValueError, OverflowError, binascii.Error, msgspec.MsgspecError) as exc:
        raise InvalidInput("malformed cursor", {"cursor": cursor[:100]}) from exc
    return value, last_id


def _text_match(q: str) -> WhereRaw:
    # LIKE with an explicit escape so % and _ in the search text match literally; lower() on both sides makes it
    # case-insensitive on PostgreSQL too (SQLite's LIKE already is, for ASCII).
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return WhereRaw(
        '(lower("tasks"."title") LIKE {} ESCAPE \'\\\' OR lower("tasks"."description") LIKE {} ESCAPE \'\\\')',
        pattern,
        pattern,
    )


def _preorder(root_id: str, children: dict[str, list[Task]], include_archived: bool) -> list[str]:
    # Depth-first with an explicit stack; an archived node (other than the root) hides its whole subtree.
    order: list[str] = []
    stack = [root_id]
    while stack:
        tid = stack.pop()
        order.append(tid)
        for child in children.get(tid, ()):
            if include_archived or child.archived_at is None:
                stack.append(child.id)
    return order
