"""The run graph: a project's (or a subtree's) tasks, their dependency edges and how each run stands, read in a
handful of queries whatever the size (the tasks, one bulk query for their links, the queue order, the project).
"""

from __future__ import annotations

from typing import Any

from app.db.tables import Task as TaskRow
from app.errors import NotFound
from app.models.graphs import GraphEdge, GraphNode, RunGraph
from app.models.runs import ACTIVE_RUN_STATES
from app.models.tasks import Task
from app.services.projects import get_project
from app.services.tasks.queries import MAX_LIMIT, hydrate, list_tasks, subtree_query


async def run_graph(project_id: str, root_id: str | None = None) -> RunGraph:
    """The graph of a project's unarchived tasks, or of the subtree rooted at `root_id` (a task of that project).

    NotFound for an unknown project, or a root that does not exist or belongs to another project."""
    project = await get_project(project_id)
    items = await _project_tasks(project_id) if root_id is None else await _subtree_tasks(project_id, root_id)
    shown = {t.id for t in items}
    nodes = [_node(t) for t in items]
    edges = [
        GraphEdge(task_id=t.id, depends_on=dep) for t in items for dep in t.dependencies if dep in shown and dep != t.id
    ]
    # Positions come from the project's queue order (tasks.queries.queue_order, read once by hydrate): the graph's
    # queue is its own queued tasks in that order, even when a subtree shows only some of the project's queue.
    queued = [n for n in nodes if n.run_state == "queued"]
    queue = [n.id for n in sorted(queued, key=lambda n: (n.queue_position or len(nodes) + 1, n.id))]
    active = [t for t in items if t.run is not None and t.run.state in ACTIVE_RUN_STATES]
    running = [t.id for t in sorted(active, key=_since)]
    return RunGraph(
        project_id=project.id,
        root_id=root_id,
        max_agents=project.max_agents,
        nodes=nodes,
        edges=edges,
        queue=queue,
        running=running,
    )


async def _project_tasks(project_id: str) -> list[Task]:
    """Every unarchived task of the project, oldest first (a new task lands last: the layout moves least)."""
    items: list[Task] = []
    cursor = None
    while True:
        page = await list_tasks(project_id=project_id, sort="created_at", limit=MAX_LIMIT, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


async def _subtree_tasks(project_id: str, root_id: str) -> list[Task]:
    """The unarchived tasks of the subtree rooted at `root_id`, oldest first; NotFound unless it is the project's."""
    rows: list[dict[str, Any]] = (
        await TaskRow.select().where(TaskRow.id.is_in(subtree_query(root_id))).output(load_json=True)
    )
    root = next((r for r in rows if r["id"] == root_id), None)
    if root is None or root["project"] != project_id:
        raise NotFound(f"task {root_id} not found in project {project_id}", {"task_id": root_id})
    live = sorted((r for r in rows if r["archived_at"] is None), key=lambda r: (r["created_at"], r["id"]))
    return await hydrate(live)


def _node(task: Task) -> GraphNode:
    run = task.run
    reason = run.reason if run is not None and run.reason is not None else task.status_reason
    return GraphNode(
        id=task.id,
        title=task.title,
        status=task.status,
        priority=task.priority,
        parent_id=task.parent_id,
        planned=task.run_plan is not None,
        run_state=run.state if run is not None else None,
        reason=reason.why if reason is not None else "",
        queue_position=run.queue_position if run is not None else None,
        session_id=run.session_id if run is not None else None,
        failed_dependencies=list(run.failed_dependencies) if run is not None else [],
    )


def _since(task: Task) -> tuple[Any, ...]:
    """When a run entered its state (its reason's time), for listing the oldest first."""
    reason = task.run.reason if task.run is not None else None
    return (reason.at.timestamp() if reason is not None else 0.0, task.id)
