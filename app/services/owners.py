"""Which project owns a task, a session or a worktree: the one lookup every domain (and the agent guard) shares."""

from __future__ import annotations

from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.tables import Worktree as WorktreeRow


async def task_project(task_id: str) -> str | None:
    """The project a task belongs to, or None if there is no such task."""
    row = await TaskRow.select(TaskRow.project).where(TaskRow.id == task_id).first()
    return row["project"] if row else None


async def session_project(session_id: str) -> str | None:
    """The project a session belongs to, or None if there is no such session."""
    row = await SessionRow.select(SessionRow.project).where(SessionRow.id == session_id).first()
    return row["project"] if row else None


async def worktree_project(worktree_id: str) -> str | None:
    """The project a worktree belongs to, or None if there is no such worktree."""
    row = await WorktreeRow.select(WorktreeRow.project).where(WorktreeRow.id == worktree_id).first()
    return row["project"] if row else None
