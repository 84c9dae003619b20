"""Task models: create, update, move, the task itself, pages and trees."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.models.common import (
    Input,
    LongText,
    Priority,
    ProjectId,
    SessionId,
    SkillList,
    TaskId,
    TaskStatus,
    Title,
)
from app.models.runs import RunPlan, StateReason, TaskRun

Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
TaskSort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "position", "-position", "title", "-title"]


class TaskCreate(Input):
    """Body of POST /tasks. Without `position` the task goes last among its siblings."""

    project_id: ProjectId
    title: Title
    parent_id: TaskId | None = None
    description: LongText = ""
    status: TaskStatus = "todo"
    priority: Priority = "medium"
    position: Position | None = None
    skills: SkillList = []
    initial_prompt: LongText = ""
    due_date: dt.date | None = None


class TaskUpdate(Input):
    """Body of PATCH /tasks/{id}: only the fields given change. `archived` sets or clears archived_at."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: LongText | msgspec.UnsetType = msgspec.UNSET
    status: TaskStatus | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    skills: SkillList | msgspec.UnsetType = msgspec.UNSET
    initial_prompt: LongText | msgspec.UnsetType = msgspec.UNSET
    due_date: dt.date | None | msgspec.UnsetType = msgspec.UNSET
    archived: bool | msgspec.UnsetType = msgspec.UNSET


class TaskMove(Input):
    """Body of POST /tasks/{id}/move: a new parent (null = root) and/or a position among the new siblings."""

    parent_id: TaskId | None | msgspec.UnsetType = msgspec.UNSET
    position: Position | None = None


class DependencyCreate(Input):
    """Body of POST /tasks/{id}/dependencies: the task this one depends on."""

    depends_on: TaskId


class Task(msgspec.Struct, kw_only=True):
    """A task as clients see it. `blocked_by` lists its dependencies that are not completed."""

    id: TaskId
    project_id: ProjectId
    parent_id: TaskId | None
    title: str
    description: str
    status: TaskStatus
    priority: Priority
    position: int
    skills: list[str]
    initial_prompt: str
    due_date: dt.date | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    dependencies: list[TaskId] = []
    blocked_by: list[TaskId] = []
    session_ids: list[SessionId] = []
    status_reason: StateReason | None = None  # why it has its status: what changed it, who, when
    run_plan: RunPlan | None = None  # what Maestro starts on it by itself once its dependencies are completed
    run: TaskRun | None = None  # how its planned (or last) run stands


class TaskPage(msgspec.Struct, kw_only=True):
    """One page of a task listing; pass `next_cursor` back as `cursor` for the next page (null at the end)."""

    items: list[Task]
    next_cursor: str | None


class TaskNode(msgspec.Struct, kw_only=True):
    """A task with its children, recursively (GET /tasks/{id}/tree)."""

    task: Task
    children: list[TaskNode]
