"""Piccolo tables for Maestro's core entities; migrations in app/db/migrations create them."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Date,
    ForeignKey,
    Integer,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ID_LENGTH = 40


class Project(Table, tablename="projects"):
    """A working directory and the tasks and sessions that belong to it."""

    id = Varchar(length=ID_LENGTH, primary_key=True)
    name = Varchar(length=200, unique=True)
    working_dir = Text()
    description = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    max_agents = Integer(default=3)  # planned runs Maestro starts that may run at once (app.models.runs)
    git = JSON(default={})  # ProjectGitSettings: isolation, base ref, setup command, files to copy, merge strategy


class Task(Table, tablename="tasks"):
    """One unit of work; `parent` makes a tree of any depth inside one project."""

    id = Varchar(length=ID_LENGTH, primary_key=True)
    project = ForeignKey(Project, on_delete=OnDelete.cascade, index=True)
    parent = ForeignKey("self", on_delete=OnDelete.cascade, null=True, default=None, index=True)
    title = Varchar(length=200)
    description = Text(default="")
    status = Varchar(length=20, default="todo", index=True)
    priority = Varchar(length=20, default="medium")
    position = Integer(default=0)
    skills = JSON(default=[])
    initial_prompt = Text(default="")
    due_date = Date(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    archived_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    status_reason = JSON(null=True, default=None)  # StateReason: why it has its status
    # Its run plan and how the run stands (app.models.runs): the scheduler's state, kept with the task so that
    # arming, claiming and finishing a run commit together with the status changes they cause.
    run_plan = JSON(null=True, default=None)
    run_state = Varchar(length=24, null=True, default=None, index=True)
    run_attempt = Integer(default=0)
    run_session = Varchar(length=ID_LENGTH, null=True, default=None)  # the session of the current attempt
    run_host = Varchar(length=255, default="")  # the instance that claimed the current attempt
    run_rank = Integer(default=0)  # bumped to the front of the queue: higher starts first
    run_since = Timestamptz(null=True, default=None)  # when it entered its run state (queue order within a rank)
    run_reason = JSON(null=True, default=None)  # StateReason of the run state


class TaskDependency(Table, tablename="task_dependencies"):
    """Task `task` cannot finish before task `depends_on` (same project, no cycles; unique pair by index)."""

    id = Serial(primary_key=True)
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    depends_on = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()


class Worktree(Table, tablename="worktrees"):
    """A git worktree Maestro made for a task's agents: where, on which branch, from which base, and its fate."""

    id = Varchar(length=ID_LENGTH, primary_key=True)
    project = ForeignKey(Project, on_delete=OnDelete.cascade, index=True)
    task = ForeignKey(Task, on_delete=OnDelete.set_null, null=True, default=None, index=True)
    path = Text()
    branch = Varchar(length=255)
    base_ref = Varchar(length=255)
    base_commit = Varchar(length=64)
    status = Varchar(length=20, default="active", index=True)  # active | merged | discarded
    merged_commit = Varchar(length=64, null=True, default=None)
    pr_url = Text(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Session(Table, tablename="sessions"):
    """An agent or shell running (or once run) in a terminal for a project."""

    id = Varchar(length=ID_LENGTH, primary_key=True)
    project = ForeignKey(Project, on_delete=OnDelete.cascade, index=True)
    parent_session = ForeignKey("self", on_delete=OnDelete.set_null, null=True, default=None)
    name = Varchar(length=200, default="")
    status = Varchar(length=20, default="spawning", index=True)
    spawn_source = Varchar(length=20, default="api")
    profile = Varchar(length=100, default="shell")
    role = Varchar(length=20, default="worker")  # worker | orchestrator (what its session token may do)
    command = JSON(default=[])
    cwd = Text(default="")
    exit_code = Integer(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    last_activity_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    host = Varchar(length=255, default="")  # which server instance runs its process ("" = none)
    pid = Integer(null=True, default=None)
    # When that pid started (Linux: clock ticks since boot): a pid alone may since name another process.
    pid_start_time = BigInt(null=True, default=None)
    isolation = Varchar(length=20, default="in_place")  # in_place | worktree
    # SHA-256 (hex) of the session's token while it is live; cleared when the session ends (revocation).
    token_digest = Varchar(length=64, null=True, default=None, index=True)
    worktree = ForeignKey(Worktree, on_delete=OnDelete.set_null, null=True, default=None, index=True)
    status_reason = JSON(null=True, default=None)  # StateReason: why it has its status (stalled: the evidence)
    last_report_at = Timestamptz(null=True, default=None)


class TaskSession(Table, tablename="task_sessions"):
    """The many-to-many link between tasks and sessions, with the link's own status (unique pair by index)."""

    id = Serial(primary_key=True)
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    session = ForeignKey(Session, on_delete=OnDelete.cascade, index=True)
    status = Varchar(length=20, default="working")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TimelineEntry(Table, tablename="timeline_entries"):
    """A progress note, blocker or milestone on a task and/or a session."""

    id = Serial(primary_key=True)
    task = ForeignKey(Task, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    session = ForeignKey(Session, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    kind = Varchar(length=20)
    message = Text()
    created_at = Timestamptz()


class Event(Table, tablename="events"):
    """The durable change log: one row per committed change, ordered by a monotonic `seq`."""

    seq = BigSerial(primary_key=True)
    v = SmallInt(default=1)
    type = Varchar(length=64, index=True)
    project_id = Varchar(length=ID_LENGTH, null=True, default=None, index=True)
    entity_id = Varchar(length=ID_LENGTH, null=True, default=None)
    data = JSON(default={})
    actor = Varchar(length=ID_LENGTH, default="api")
    ts = Timestamptz()


TABLES: tuple[type[Table], ...] = (
    Project,
    Task,
    TaskDependency,
    Worktree,
    Session,
    TaskSession,
    TimelineEntry,
    Event,
)


class IdempotencyKey(Table, tablename="idempotency_keys"):
    """The first answer to a create that carried an Idempotency-Key; a retry gets it back."""

    id = Varchar(length=64, primary_key=True)  # sha256 of scope + key
    request_hash = Varchar(length=64)
    status_code = Integer()
    response = JSON()
    created_at = Timestamptz(index=True)


TABLES = (*TABLES, IdempotencyKey)


class EventLogState(Table, tablename="event_log_state"):
    """One row: the highest seq removed by retention (subscribers asking for older history get a reset)."""

    id = Integer(primary_key=True)
    pruned_through = BigInt(default=0)


TABLES = (*TABLES, EventLogState)
