"""Timeline entries on tasks and sessions."""

from __future__ import annotations

import datetime as dt

import msgspec

from app.models.common import Input, Message, SessionId, TaskId, TimelineKind


class TimelineCreate(Input):
    """Body of POST /tasks/{id}/timeline and /sessions/{id}/timeline."""

    kind: TimelineKind
    message: Message
    session_id: SessionId | None = None


class TimelineEntry(msgspec.Struct, kw_only=True):
    """One entry; `task_id` and/or `session_id` say what it is about."""

    id: int
    kind: TimelineKind
    message: str
    task_id: TaskId | None
    session_id: SessionId | None
    created_at: dt.datetime
