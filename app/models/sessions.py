"""Session record models (the processes themselves come with the terminals feature)."""

from __future__ import annotations

import datetime as dt

import msgspec

from app.models.common import Input, LinkStatus, Name, ProjectId, SessionId, SessionStatus, SpawnSource, TaskId

# Once a session has ended it stays ended; these statuses are final (docs/api.md).
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "stopped", "lost"})


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
    command: list[str]
    cwd: str
    exit_code: int | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    last_activity_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    tasks: list[TaskLink] = []
