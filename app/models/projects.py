"""Project models."""

from __future__ import annotations

import datetime as dt

import msgspec

from app.models.common import AbsolutePath, Input, LongText, Name, ProjectId
from app.models.worktrees import ProjectGitSettings


class ProjectCreate(Input):
    """Body of POST /projects. `working_dir` must be an existing absolute directory."""

    name: Name
    working_dir: AbsolutePath
    description: LongText = ""
    git: ProjectGitSettings = msgspec.field(default_factory=ProjectGitSettings)


class ProjectUpdate(Input):
    """Body of PATCH /projects/{id}: only the fields given change."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    working_dir: AbsolutePath | msgspec.UnsetType = msgspec.UNSET
    description: LongText | msgspec.UnsetType = msgspec.UNSET
    git: ProjectGitSettings | msgspec.UnsetType = msgspec.UNSET  # replaces the settings as a whole


class Project(msgspec.Struct, kw_only=True):
    """A project as clients see it."""

    id: ProjectId
    name: str
    working_dir: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    git: ProjectGitSettings = msgspec.field(default_factory=ProjectGitSettings)  # how its agents get a checkout


class ProjectSummary(msgspec.Struct, kw_only=True):
    """Counts for a project's overview: live tasks by status, archived tasks, sessions by status."""

    project_id: ProjectId
    tasks: dict[str, int]
    archived_tasks: int
    sessions: dict[str, int]
