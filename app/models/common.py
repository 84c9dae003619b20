"""Shared field types: ids, bounded strings, enums and timestamps, with their validation rules."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.ids import id_pattern

ProjectId = Annotated[str, msgspec.Meta(pattern=id_pattern("prj"), examples=["prj_0jd8n1k2m3p4q5r6s7t8v9w0"])]
TaskId = Annotated[str, msgspec.Meta(pattern=id_pattern("tsk"), examples=["tsk_0jd8n1k2m3p4q5r6s7t8v9w0"])]
SessionId = Annotated[str, msgspec.Meta(pattern=id_pattern("ses"), examples=["ses_0jd8n1k2m3p4q5r6s7t8v9w0"])]

# Text never contains NUL (PostgreSQL refuses it in text columns); names and titles are not blank.
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
LongText = Annotated[str, msgspec.Meta(max_length=65536, pattern=NO_NUL)]
Path = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=NO_NUL)]
SKILL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SKILL_NAME_MAX = 100
SkillName = Annotated[str, msgspec.Meta(min_length=1, max_length=SKILL_NAME_MAX, pattern=SKILL_NAME_PATTERN)]
SkillList = Annotated[list[SkillName], msgspec.Meta(max_length=50)]
Message = Annotated[str, msgspec.Meta(min_length=1, max_length=65536, pattern=NOT_BLANK)]

TaskStatus = Literal["todo", "in_progress", "in_review", "blocked", "completed", "cancelled"]
Priority = Literal["low", "medium", "high", "critical"]
SessionStatus = Literal["spawning", "running", "idle", "needs_input", "completed", "failed", "stopped", "lost"]
SpawnSource = Literal["ui", "cli", "api", "session"]
LinkStatus = Literal["working", "blocked", "completed", "failed"]
TimelineKind = Literal["progress", "blocked", "needs_input", "milestone", "error", "completed", "note"]

TASK_STATUSES: tuple[str, ...] = TaskStatus.__args__  # type: ignore[attr-defined]
PRIORITIES: tuple[str, ...] = Priority.__args__  # type: ignore[attr-defined]
SESSION_STATUSES: tuple[str, ...] = SessionStatus.__args__  # type: ignore[attr-defined]


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, at microsecond precision (what both databases store)."""
    return dt.datetime.now(dt.UTC)


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are an error, never silently dropped."""
