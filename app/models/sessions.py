"""Session record models (the processes themselves come with the terminals feature)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from app.models.common import (
    Input,
    LinkStatus,
    LongText,
    Name,
    ProfileName,
    ProjectId,
    Role,
    SessionId,
    SessionStatus,
    SkillList,
    SpawnSource,
    TaskId,
)
from app.models.runs import StateReason
from app.models.worktrees import Isolation, RefName, WorktreeId

Cols = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Rows = Annotated[int, msgspec.Meta(ge=1, le=500)]
TaskIdList = Annotated[list[TaskId], msgspec.Meta(max_length=100)]


class SessionSpawn(Input):
    """Body of POST /sessions: run a profile's program for a project, with tasks, role and skills in its manifest."""

    project_id: ProjectId
    task_ids: TaskIdList = []
    profile: ProfileName = "shell"
    name: Name | None = None
    role: Role = "worker"
    skills: SkillList = []
    instructions: LongText = ""  # the person's extra instruction, added to the manifest and the prompt
    cols: Cols = 80
    rows: Rows = 24
    parent_session_id: SessionId | None = None
    # Isolation: None takes the project's setting. "worktree" makes a new git worktree on a new branch off
    # `base_ref` (default: the project's base) unless `worktree_id` names an active one of the project to share.
    isolation: Isolation | None = None
    base_ref: RefName | None = None
    worktree_id: WorktreeId | None = None


class SessionUpdate(Input):
    """Body of PATCH /sessions/{id}: only the fields given change."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    status: SessionStatus | msgspec.UnsetType = msgspec.UNSET


class LinkUpdate(Input):
    """Body of POST /sessions/{id}/tasks/{task_id} (optional): the link's status."""

    status: LinkStatus = "working"


class TaskLink(msgspec.Struct, kw_only=True):
    """One task a session works on, with the link's own status."""

    task_id: TaskId
    session_id: SessionId
    status: LinkStatus
    created_at: dt.datetime
    updated_at: dt.datetime


class Session(msgspec.Struct, kw_only=True):
    """A session record as clients see it; `tasks` are its task links, oldest first."""

    id: SessionId
    project_id: ProjectId
    name: str
    status: SessionStatus
    spawn_source: SpawnSource
    parent_session_id: SessionId | None
    profile: str
    role: Role
    command: list[str]
    cwd: str
    exit_code: int | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    last_activity_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    tasks: list[TaskLink] = []
    isolation: Isolation = "in_place"  # worktree: it runs in its own git worktree (worktree_id), cwd is that
    worktree_id: WorktreeId | None = None
    status_reason: StateReason | None = None  # why it has its status (a stalled session: the evidence)
    last_report_at: dt.datetime | None = None  # when its agent last reported
