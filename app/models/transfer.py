"""The export document (format `maestro-export`, version 1), import results and the legacy import report."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.models.common import (
    NO_NUL,
    NOT_BLANK,
    AbsolutePath,
    Input,
    LinkStatus,
    Priority,
    ProjectId,
    Role,
    SessionId,
    SessionStatus,
    SkillList,
    SpawnSource,
    TaskId,
    TaskStatus,
    TimelineKind,
)

EXPORT_FORMAT = "maestro-export"
EXPORT_VERSION = 1  # bump when a field changes meaning or disappears; older documents stay importable

# PostgreSQL text cannot hold NUL, so the document refuses it up front (a 400, never a failed insert).
_NO_NUL = NO_NUL
_SOME_TEXT = NOT_BLANK
_ABSOLUTE = r"^(?:/|[A-Za-z]:[\\/]|\\\\)[^\x00]*$"  # POSIX, drive-letter or UNC: documents may cross machines

Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Text = Annotated[str, msgspec.Meta(max_length=65536, pattern=_NO_NUL)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_SOME_TEXT)]
SessionName = Annotated[str, msgspec.Meta(max_length=200, pattern=_NO_NUL)]
ProfileName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=_NO_NUL)]
WorkingDir = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=_ABSOLUTE)]
Cwd = Annotated[str, msgspec.Meta(max_length=4096, pattern=_NO_NUL)]
Argument = Annotated[str, msgspec.Meta(max_length=65536, pattern=_NO_NUL)]
Command = Annotated[list[Argument], msgspec.Meta(max_length=1000)]
Message = Annotated[str, msgspec.Meta(min_length=1, max_length=65536, pattern=_NO_NUL)]
Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
ExitCode = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class Record(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of document rows: every column, nothing else (an unknown field is an error on import)."""


class ProjectRecord(Record):
    """A project row."""

    id: ProjectId
    name: Label
    working_dir: WorkingDir
    description: Text
    created_at: Timestamp
    updated_at: Timestamp


class TaskRecord(Record):
    """A task row; `parent_id` names a task of the same project (or null for a root task)."""

    id: TaskId
    project_id: ProjectId
    parent_id: TaskId | None
    title: Label
    description: Text
    status: TaskStatus
    priority: Priority
    position: Position
    skills: SkillList
    initial_prompt: Text
    due_date: dt.date | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    archived_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class DependencyRecord(Record):
    """Task `task_id` depends on task `depends_on` (same project)."""

    task_id: TaskId
    depends_on: TaskId
    created_at: Timestamp


class SessionRecord(Record):
    """A session record; `parent_session_id` names a session of the same project."""

    id: SessionId
    project_id: ProjectId
    parent_session_id: SessionId | None
    name: SessionName
    status: SessionStatus
    spawn_source: SpawnSource
    profile: ProfileName
    command: Command
    cwd: Cwd
    exit_code: ExitCode | None
    started_at: Timestamp | None
    ended_at: Timestamp | None
    last_activity_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    role: Role = "worker"  # added within format version 1: older documents omit it


class LinkRecord(Record):
    """A task-session link with its own status (the task belongs to the session's project)."""

    task_id: TaskId
    session_id: SessionId
    status: LinkStatus
    created_at: Timestamp
    updated_at: Timestamp


class TimelineRecord(Record):
    """A timeline entry on a task and/or a session (at least one of the two)."""

    task_id: TaskId | None
    session_id: SessionId | None
    kind: TimelineKind
    message: Message
    created_at: Timestamp


# The import checks that an entry names a task or a session or both; the schema says so too.
TimelineEntryRow = Annotated[
    TimelineRecord,
    msgspec.Meta(
        extra_json_schema={
            "anyOf": [
                {"properties": {"task_id": {"type": "string"}}},
                {"properties": {"session_id": {"type": "string"}}},
            ]
        }
    ),
]


class ExportDocument(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """GET /export and POST /import: everything in one versioned document; rows in primary-key order."""

    format: Literal["maestro-export"]
    version: Annotated[int, msgspec.Meta(ge=1, le=EXPORT_VERSION)]
    exported_at: Timestamp
    projects: list[ProjectRecord] = []
    tasks: list[TaskRecord] = []
    dependencies: list[DependencyRecord] = []
    sessions: list[SessionRecord] = []
    task_sessions: list[LinkRecord] = []
    timeline: list[TimelineEntryRow] = []


class ImportCounts(msgspec.Struct, kw_only=True):
    """How many rows of each kind an import wrote."""

    projects: int = 0
    tasks: int = 0
    dependencies: int = 0
    sessions: int = 0
    task_sessions: int = 0
    timeline: int = 0


class ImportResult(msgspec.Struct, kw_only=True):
    """Answer of POST /import: what was written (all of it, in one transaction)."""

    format: str
    version: int
    counts: ImportCounts


class LegacyImportRequest(Input):
    """Body of POST /import/legacy: the original Maestro's data directory (e.g. ~/.maestro/data), absolute."""

    data_dir: AbsolutePath


class SkippedItem(msgspec.Struct, kw_only=True):
    """Something the legacy import did not bring over, and why."""

    kind: Literal["project", "task", "session", "file"]
    legacy_id: str | None
    reason: str
    file: str | None = None


class LegacyImportReport(msgspec.Struct, kw_only=True):
    """Answer of POST /import/legacy. `id_map` maps every imported legacy id to its Maestro id.

    Secret values are never reported: only how many environment variables were dropped and how many of them looked
    like secrets.
    """

    data_dir: str
    counts: ImportCounts
    id_map: dict[str, str]
    skipped: list[SkippedItem]
    warnings: list[str]
    env_vars_dropped: int
    secrets_dropped: int
