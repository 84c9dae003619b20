"""The session manifest: the versioned JSON document the server writes for every agent session (docs/manifest.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from app.models.common import Priority, ProjectId, ReportKind, Role, SessionId, TaskId, TaskStatus

# Additive changes keep the version; removing, renaming or changing the meaning of a field bumps it.
MANIFEST_VERSION = 1
MANIFEST_FILE = "manifest.json"

Relationship = Literal["parent", "ancestor", "subtask", "depends_on", "dependent"]

# The variables every agent process gets, in the order the docs list them.
AGENT_ENV_VARS: tuple[str, ...] = (
    "MAESTRO_SESSION_ID",
    "MAESTRO_PROJECT_ID",
    "MAESTRO_TASK_IDS",
    "MAESTRO_MANIFEST",
    "MAESTRO_API_URL",
    "MAESTRO_TOKEN",
)


class ManifestSession(msgspec.Struct, kw_only=True):
    """The session the manifest belongs to."""

    id: SessionId
    name: str
    role: Role
    profile: str
    parent_session_id: SessionId | None
    working_dir: str


class ManifestWorktree(msgspec.Struct, kw_only=True):
    """The git worktree the session works in (isolation "worktree"): its own branch, made from `base_ref`."""

    path: str
    branch: str
    base_ref: str
    base_commit: str


class ManifestProject(msgspec.Struct, kw_only=True):
    """The project the session works in."""

    id: ProjectId
    name: str
    description: str
    working_dir: str


class RelatedTask(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A task mentioned for context: its id, title, status and how it relates to the task that mentions it."""

    id: TaskId
    title: str
    status: TaskStatus
    relationship: Relationship
    parent_id: TaskId | None = None


class ManifestTask(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A task assigned to the session, with its place in the tree and its dependencies; counters appear when > 0."""

    id: TaskId
    title: str
    description: str
    status: TaskStatus
    priority: Priority
    parent_id: TaskId | None
    ancestors: list[RelatedTask]
    subtasks: list[RelatedTask]
    dependencies: list[RelatedTask]
    blocked_by: list[TaskId]
    dependents: list[RelatedTask]
    ancestors_truncated: int = 0
    subtasks_truncated: int = 0
    dependencies_truncated: int = 0
    dependents_truncated: int = 0


class ManifestSkill(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A skill given to the session, with the instructions from its SKILL.md."""

    name: str
    description: str
    instructions: str
    source: str | None = None


class Reporting(msgspec.Struct, kw_only=True):
    """How the agent reports back: the HTTP endpoint and its auth header, the kinds, and the CLI equivalents."""

    api_url: str
    endpoint: str
    auth: str
    kinds: list[ReportKind]
    cli: dict[str, str]
    body: str


class Manifest(msgspec.Struct, kw_only=True):
    """Everything an agent session needs to know, written by the server before the agent starts."""

    manifest_version: int
    generated_at: dt.datetime
    session: ManifestSession
    project: ManifestProject
    tasks: list[ManifestTask]
    related_tasks: list[RelatedTask]
    skills: list[ManifestSkill]
    reporting: Reporting
    environment: list[str]
    instructions: str  # what the person who started the session asked for besides the tasks ("" when nothing)
    worktree: ManifestWorktree | None  # the git worktree the session works in (null: the project's own directory)
