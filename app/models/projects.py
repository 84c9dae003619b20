"""Project models."""

from __future__ import annotations

import datetime as dt

import msgspec

from app.models.common import AbsolutePath, Input, LongText, Name, ProjectId
from app.models.runs import DEFAULT_MAX_AGENTS, MaxAgents
from app.models.worktrees import ProjectGitSettings


class ProjectCreate(Input):
    """Body of POST /projects. `working_dir` must be an existing absolute directory."""

    name: Name
    working_dir: AbsolutePath
    description: LongText = ""
    git: ProjectGitSettings = msgspec.field(default_factory=ProjectGitSettings)
    max_agents: MaxAgents = DEFAULT_MAX_AGENTS  # planned runs started by Maestro that may run at once


class ProjectUpdate(Input):
    """Body of PATCH /projects/{id}: only the fields given change."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    working_dir: AbsolutePath | msgspec.UnsetType = msgspec.UNSET
    description: LongText | msgspec.UnsetType = msgspec.UNSET
    git: ProjectGitSettings | msgspec.UnsetType = msgspec.UNSET  # replaces the settings as a whole
    max_agents: MaxAgents | msgspec.UnsetType = msgspec.UNSET


class Project(msgspec.Struct, kw_only=True):
    """A project as clients see it."""

    id: ProjectId
    name: str
    working_dir: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    git: ProjectGitSettings = msgspec.field(default_factory=ProjectGitSettings)  # how its agents get a checkout
    max_agents: int = DEFAULT_MAX_AGENTS  # planned runs Maestro starts that may run at once; beyond it they queue


class ProjectSummary(msgspec.Struct, kw_only=True):
    """Counts for a project's overview: live tasks by status, archived tasks, sessions by status."""

    project_id: ProjectId
    tasks: dict[str, int]
    archived_tasks: int
    sessions: dict[str, int]
