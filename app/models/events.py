"""The durable event log: every committed change, in `seq` order, and the one typed definition of each event's data.

Services publish an `EventData` (its class names the type); the wire keeps the version-1 envelope, with `data` the
struct encoded as JSON. Clients (the UI included) decode `data` with `decode_data`. docs/events.md is tested
against these definitions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, TypeVar

import msgspec

from app.models.common import LinkStatus, SessionStatus
from app.models.projects import Project
from app.models.sessions import Session
from app.models.tasks import Task
from app.models.timeline import TimelineEntry
from app.models.transfer import ImportCounts
from app.models.worktrees import Worktree, WorktreeAction

EVENT_VERSION = 1


class EventRecord(msgspec.Struct, kw_only=True):
    """One committed change (the envelope streamed to clients)."""

    v: int = EVENT_VERSION
    seq: int
    type: str
    ts: dt.datetime
    project_id: str | None
    entity_id: str | None
    actor: str
    data: dict[str, Any]


class EventPage(msgspec.Struct, kw_only=True):
    """GET /events: events with seq > after, oldest first; `last_seq` is the newest seq in the log."""

    items: list[EventRecord]
    last_seq: int


class EventData(msgspec.Struct, kw_only=True):
    """Base of every event's data; `TYPE` is the event type it is published as."""

    TYPE: ClassVar[str]


# ---------------------------------------------------------------------------------------------------- projects
class ProjectCreated(Project, EventData, kw_only=True):
    """project.created: the new project."""

    TYPE: ClassVar[str] = "project.created"


class ProjectUpdated(EventData, kw_only=True):
    """project.updated: the project as it is now and the fields that changed."""

    TYPE: ClassVar[str] = "project.updated"
    project: Project
    changed: list[str]


class ProjectDeleted(EventData, kw_only=True):
    """project.deleted: how many tasks and sessions went with it."""

    TYPE: ClassVar[str] = "project.deleted"
    id: str
    deleted_tasks: int
    deleted_sessions: int


# ---------------------------------------------------------------------------------------------------- tasks
class TaskCreated(Task, EventData, kw_only=True):
    """task.created: the new task."""

    TYPE: ClassVar[str] = "task.created"


class TaskUpdated(EventData, kw_only=True):
    """task.updated: the task as it is now and the real names of the fields that changed."""

    TYPE: ClassVar[str] = "task.updated"
    task: Task
    changed: list[str]


class TaskMoved(EventData, kw_only=True):
    """task.moved: the task under its new parent (null: the root) at `position`."""

    TYPE: ClassVar[str] = "task.moved"
    task: Task
    from_parent_id: str | None
    to_parent_id: str | None
    position: int


class TaskDeleted(EventData, kw_only=True):
    """task.deleted: every task of the removed subtree."""

    TYPE: ClassVar[str] = "task.deleted"
    id: str
    deleted_ids: list[str]


class _DependencyChange(EventData, kw_only=True):
    task_id: str
    depends_on: str


class DependencyAdded(_DependencyChange, kw_only=True):
    """task.dependency_added: `task_id` now depends on `depends_on`."""

    TYPE: ClassVar[str] = "task.dependency_added"


class DependencyRemoved(_DependencyChange, kw_only=True):
    """task.dependency_removed: `task_id` no longer depends on `depends_on`."""

    TYPE: ClassVar[str] = "task.dependency_removed"


class _LinkChange(EventData, kw_only=True):
    task_id: str
    session_id: str
    status: LinkStatus


class TaskLinked(_LinkChange, kw_only=True):
    """task.linked: a session works on a task (also when an existing link's status changes)."""

    TYPE: ClassVar[str] = "task.linked"


class TaskUnlinked(_LinkChange, kw_only=True):
    """task.unlinked: a session no longer works on a task."""

    TYPE: ClassVar[str] = "task.unlinked"


# ---------------------------------------------------------------------------------------------------- sessions
class SessionCreated(Session, EventData, kw_only=True):
    """session.created: the new session record."""

    TYPE: ClassVar[str] = "session.created"


class SessionUpdated(EventData, kw_only=True):
    """session.updated: the session as it is now and what changed (`name`, or `exit_code` after a report)."""

    TYPE: ClassVar[str] = "session.updated"
    session: Session
    changed: list[str]


class SessionStatusChanged(EventData, kw_only=True):
    """session.status_changed: the session as it is now, and its status before and after."""

    TYPE: ClassVar[str] = "session.status_changed"
    session: Session
    from_: SessionStatus = msgspec.field(name="from")
    to: SessionStatus


# ---------------------------------------------------------------------------------------------------- worktrees
class WorktreeCreated(Worktree, EventData, kw_only=True):
    """worktree.created: the new worktree (a session's isolated checkout on its own branch)."""

    TYPE: ClassVar[str] = "worktree.created"


class WorktreeUpdated(EventData, kw_only=True):
    """worktree.updated: the worktree as it is now, what was done to it and that action's details."""

    TYPE: ClassVar[str] = "worktree.updated"
    worktree: Worktree
    action: WorktreeAction
    commit: str | None = None  # the commit the action made (commit, merge) or recorded
    detail: str = ""  # words for the timeline: "merged by fast-forward", "pull request …"


# ---------------------------------------------------------------------------------------------------- other
class TimelineAdded(TimelineEntry, EventData, kw_only=True):
    """timeline.added: the new timeline entry."""

    TYPE: ClassVar[str] = "timeline.added"


class ImportCompleted(EventData, kw_only=True):
    """import.completed: what was imported (refetch everything); legacy imports add where from and what was left."""

    TYPE: ClassVar[str] = "import.completed"
    source: str
    format_version: int
    counts: ImportCounts
    data_dir: str | msgspec.UnsetType = msgspec.UNSET
    skipped: int | msgspec.UnsetType = msgspec.UNSET
    secrets_dropped: int | msgspec.UnsetType = msgspec.UNSET


EVENT_TYPES: tuple[type[EventData], ...] = (
    ProjectCreated,
    ProjectUpdated,
    ProjectDeleted,
    TaskCreated,
    TaskUpdated,
    TaskMoved,
    TaskDeleted,
    DependencyAdded,
    DependencyRemoved,
    TaskLinked,
    TaskUnlinked,
    SessionCreated,
    SessionUpdated,
    SessionStatusChanged,
    WorktreeCreated,
    WorktreeUpdated,
    TimelineAdded,
    ImportCompleted,
)
DATA_OF: dict[str, type[EventData]] = {cls.TYPE: cls for cls in EVENT_TYPES}

E = TypeVar("E", bound=EventData)


def from_entity(cls: type[E], entity: msgspec.Struct) -> E:
    """The event data for an event whose data is the entity itself (project.created, task.created, …)."""
    return cls(**{name: getattr(entity, name) for name in entity.__struct_fields__})


def decode_data(record: EventRecord) -> EventData | None:
    """A record's data as its typed definition; None for a type this version does not know (clients skip those)."""
    cls = DATA_OF.get(record.type)
    return None if cls is None else msgspec.convert(record.data, cls, strict=False)
