"""Agent reports on a session: progress, a blocker, a need for input, completion or an error."""

from __future__ import annotations

import msgspec

from app.models.common import Input, Message, ReportKind, TaskId
from app.models.sessions import Session, TaskLink
from app.models.timeline import TimelineEntry


class ReportCreate(Input):
    """Body of POST /sessions/{id}/reports; `task_id`, when given, must be linked to the session."""

    kind: ReportKind
    message: Message
    task_id: TaskId | None = None


class ReportResult(msgspec.Struct, kw_only=True):
    """What a report did: its timeline entry, the session and its task links as they now are."""

    entry: TimelineEntry
    session: Session
    links: list[TaskLink]
