"""The run graph (GET /projects/{id}/graph): a project's (or a subtree's) tasks, their dependency edges, how each
run stands, the ready queue in start order and the runs that hold an agent slot."""

from __future__ import annotations

import msgspec

from app.models.common import Priority, ProjectId, SessionId, TaskId, TaskStatus
from app.models.runs import RunState


class GraphNode(msgspec.Struct, kw_only=True):
    """One task of the graph: its status and, when it has (or had) a planned run, how that run stands and why."""

    id: TaskId
    title: str
    status: TaskStatus
    priority: Priority
    parent_id: TaskId | None
    planned: bool = False  # it carries a run plan (Maestro starts it once its dependencies are completed)
    run_state: RunState | None = None
    reason: str = ""  # why it is in its state: the run's reason, else the status's ("" when nothing was recorded)
    queue_position: int | None = None  # 1 = next to start (project-wide), when queued
    session_id: SessionId | None = None  # the session of its current (or last) run
    failed_dependencies: list[TaskId] = []  # dependencies whose runs failed: it is blocked until someone decides


class GraphEdge(msgspec.Struct, kw_only=True):
    """A dependency: `task_id` waits for `depends_on` (drawn as an arrow from `depends_on` to `task_id`)."""

    task_id: TaskId
    depends_on: TaskId


class RunGraph(msgspec.Struct, kw_only=True):
    """A project's (or the subtree of `root_id`'s) unarchived tasks and the dependency edges between them."""

    project_id: ProjectId
    root_id: TaskId | None
    max_agents: int  # the project's limit of planned runs at once
    nodes: list[GraphNode]
    edges: list[GraphEdge]  # only between nodes of this graph
    queue: list[TaskId]  # the graph's queued tasks in the order they start
    running: list[TaskId]  # the graph's runs that hold an agent slot (starting, running, checking), oldest first
