"""Timeline entries on tasks and sessions."""

from __future__ import annotations

import datetime as dt

import msgspec

from app.models.common import Input, Message, SessionId, TaskId, TimelineKind


class TaskTimelineCreate(Input):
    """Body of POST /tasks/{id}/timeline; `session_id` optionally names the session reporting it."""

    kind: TimelineKind
    message: Message
    session_id: SessionId | None = None


class SessionTimelineCreate(Input):
    """Body of POST /sessions/{id}/timeline; `task_id` optionally names the task it is about."""

    kind: TimelineKind
    message: Message
    task_id: TaskId | None = None


class TimelineEntry(msgspec.Struct, kw_only=True):
    """One entry; `task_id` and/or `session_id` say what it is about (it shows on both timelines)."""

    id: int
    kind: TimelineKind
    message: str
    task_id: TaskId | None
    session_id: SessionId | None
    created_at: dt.datetime
