"""Worktree records: make a worktree for a task's agents, find it, list it with what git says of it now.

The git side lives in `gitflow` (pure git); this module records each worktree and emits `worktree.*` events with
a timeline entry on its task, in the same transaction. Worktrees live under MAESTRO_HOME/worktrees/<project id>/,
outside the user's checkout, so nothing Maestro makes ever shows up in `git status` of the project.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.tables import Worktree as WorktreeRow
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput, NotFound
from app.ids import new_id
from app.models.common import utcnow
from app.models.events import WorktreeCreated, WorktreeUpdated, from_entity
from app.models.projects import Project
from app.models.worktrees import Worktree, WorktreeAction
from app.services.projects import get_project
from app.services.timeline import insert_entry
from app.services.worktrees import gitflow

log = logging.getLogger("maestro.worktrees")


def worktrees_dir(home: Path, project_id: str) -> Path:
    """Where a project's worktrees live: MAESTRO_HOME/worktrees/<project id>/."""
    return home / "worktrees" / project_id


async def create_worktree(
    writer: Writer,
    home: Path,
    project: Project,
    *,
    task_id: str | None,
    base_ref: str | None,
    actor: str,
) -> Worktree:
    """A new worktree on a new branch named from the task, off `base_ref` (else the project's, else its checkout's
    branch), with the project's untracked files copied in; recorded, with worktree.created and a timeline entry."""
    repo = await gitflow.repo_root(Path(project.working_dir))
    base = base_ref or project.git.base_ref or await gitflow.current_branch(repo)
    try:
        await gitflow.resolve_commit(repo, base)  # an unknown base is a 400 before anything is made
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, {"base_ref": base}) from exc
    title = None
    if task_id is not None:
        title = await TaskRow.select(TaskRow.title).where(TaskRow.id == task_id).first()
        if title is None:
            raise NotFound(f"task {task_id} not found")
        title = title["title"]
    worktree_id = new_id("wtr")
    short = worktree_id[-6:]
    branch = gitflow.branch_name(title, short)
    path = worktrees_dir(home, project.id) / branch.removeprefix("maestro/")
    base_commit = await gitflow.add_worktree(repo, path, branch, base)
    try:
        if project.git.copy_files:
            await gitflow.copy_files(repo, path, list(project.git.copy_files))

        async def op(tx: Tx) -> Worktree:
            now = utcnow()
            row: dict[str, Any] = {
                "id": worktree_id,
                "project": project.id,
                "task": task_id,
                "path": str(path),
                "branch": branch,
                "base_ref": base,
                "base_commit": base_commit,
                "status": "active",
                "merged_commit": None,
                "pr_url": None,
                "created_at": now,
                "updated_at": now,
            }
            await WorktreeRow.insert(WorktreeRow(**row))
            worktree = _to_model(row, [])
            tx.emit(from_entity(WorktreeCreated, worktree), project_id=project.id, entity_id=worktree.id)
            if task_id is not None:
                message = f"Worktree on branch {branch} from {base} ({base_commit[:10]}): {path}"
                await insert_entry(
                    tx, project_id=project.id, kind="note", message=message, task_id=task_id, session_id=None
                )
            return worktree

        return await writer.write(op, actor)
    except BaseException:
        # Nothing recorded: take the checkout away again (its branch has no commits of anyone's yet).
        with contextlib.suppress(Exception):
            await gitflow.remove_worktree(repo, path, force=True)
            await gitflow.delete_branch(repo, branch, base, force=True)
        raise


async def get_worktree(worktree_id: str) -> Worktree:
    """One worktree record (without asking git), or NotFound."""
    row = await WorktreeRow.select().where(WorktreeRow.id == worktree_id).first()
    if row is None:
        raise NotFound(f"worktree {worktree_id} not found")
    return _to_model(row, await _sessions_of([worktree_id]))


async def worktree_of_session(session_id: str) -> Worktree:
    """The worktree a session works in; NotFound when the session ran in place (or does not exist)."""
    row = await SessionRow.select(SessionRow.worktree).where(SessionRow.id == session_id).first()
    if row is None:
        raise NotFound(f"session {session_id} not found")
    if row["worktree"] is None:
        raise NotFound(f"session {session_id} runs in the project's own directory, not in a worktree")
    return await get_worktree(row["worktree"])


async def worktree_of_task(task_id: str) -> Worktree:
    """The newest active worktree made for a task (NotFound when none)."""
    row = await (
        WorktreeRow.select()
        .where((WorktreeRow.task == task_id) & (WorktreeRow.status == "active"))
        .order_by(WorktreeRow.created_at, ascending=False)
        .first()
    )
    if row is None:
        raise NotFound(f"task {task_id} has no active worktree")
    return _to_model(row, await _sessions_of([row["id"]]))


async def list_worktrees(
    *, project_id: str | None = None, status: str | None = None, with_state: bool = False
) -> list[Worktree]:
    """Worktrees, newest first; `with_state` asks git for each one's state (clean, dirty, merged, unmerged, missing)."""
    query = WorktreeRow.select().order_by(WorktreeRow.created_at, ascending=False)
    if project_id is not None:
        query = query.where(WorktreeRow.project == project_id)
    if status is not None:
        query = query.where(WorktreeRow.status == status)
    rows = await query
    sessions = await _sessions_of([r["id"] for r in rows])
    worktrees = [_to_model(r, sessions) for r in rows]
    if with_state:
        worktrees = [await with_git_state(w) for w in worktrees]
    return worktrees


async def with_git_state(worktree: Worktree, repo: Path | None = None) -> Worktree:
    """The worktree with `state` filled in from git (never raising: an unreadable repository reads as missing)."""
    state = await git_state(worktree, repo)
    return msgspec.structs.replace(worktree, state=state)


async def git_state(worktree: Worktree, repo: Path | None = None) -> str:
    """clean / dirty / merged / unmerged / missing, as git sees the worktree now."""
    try:
        repo = repo or await repo_of(worktree)
        found = await gitflow.inspect(
            repo, Path(worktree.path), worktree.branch, worktree.base_ref, base_commit=worktree.base_commit
        )
    except Exception:  # noqa: BLE001 - a listing must not fail on one broken repository
        return "missing"
    if worktree.status == "merged" and found.state != "dirty":
        return "merged"  # recorded: the base may since have moved on, or the branch been deleted
    return found.state


async def repo_of(worktree: Worktree) -> Path:
    """The main checkout of the worktree's project."""
    project = await get_project(worktree.project_id)
    return await gitflow.repo_root(Path(project.working_dir))


async def record_action(
    writer: Writer,
    worktree: Worktree,
    action: WorktreeAction,
    actor: str,
    *,
    commit: str | None = None,
    detail: str,
    changes: dict[str, Any] | None = None,
) -> Worktree:
    """Store what an action changed on the record and emit worktree.updated with a timeline entry on its task."""

    async def op(tx: Tx) -> Worktree:
        fields = {**(changes or {}), "updated_at": utcnow()}
        await WorktreeRow.update(fields).where(WorktreeRow.id == worktree.id)
        row = await WorktreeRow.select().where(WorktreeRow.id == worktree.id).first()
        if row is None:
            raise NotFound(f"worktree {worktree.id} not found")
        current = _to_model(row, await _sessions_of([worktree.id]))
        event = WorktreeUpdated(worktree=current, action=action, commit=commit, detail=detail)
        tx.emit(event, project_id=current.project_id, entity_id=current.id)
        if current.task_id is not None:
            kind = "milestone" if action in ("merged", "pull_request") else "note"
            await insert_entry(
                tx, project_id=current.project_id, kind=kind, message=detail, task_id=current.task_id, session_id=None
            )
        return current

    return await writer.write(op, actor)


def require_active(worktree: Worktree) -> None:
    """Conflict unless the worktree is still active (not merged and removed, not discarded)."""
    if worktree.status == "discarded":
        raise Conflict(f"worktree {worktree.id} was discarded", {"status": worktree.status})


def has_checkout(worktree: Worktree) -> bool:
    """True while the worktree's directory exists (one stat: not worth a thread hop)."""
    return worktree.status != "discarded" and os.path.isdir(worktree.path)


def require_checkout(worktree: Worktree) -> Path:
    """The worktree's directory; Conflict when it is gone (discarded, or removed by hand)."""
    path = Path(worktree.path)
    if not has_checkout(worktree):
        raise Conflict(
            f"worktree {worktree.id} has no checkout any more ({worktree.path} is gone)", {"status": worktree.status}
        )
    return path


def check_shareable(worktree: Worktree, project_id: str) -> None:
    """A session may join a worktree only of its own project, and only while it is active."""
    if worktree.project_id != project_id:
        raise InvalidInput("worktree_id must name a worktree of the same project", {"worktree_id": worktree.id})
    if worktree.status != "active":
        raise Conflict(f"worktree {worktree.id} is {worktree.status}; start a new one", {"status": worktree.status})


async def _sessions_of(worktree_ids: list[str]) -> dict[str, list[str]]:
    if not worktree_ids:
        return {}
    rows = await (
        SessionRow.select(SessionRow.id, SessionRow.worktree)
        .where(SessionRow.worktree.is_in(worktree_ids))
        .order_by(SessionRow.created_at)
    )
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["worktree"], []).append(r["id"])
    return found


def _to_model(row: dict[str, Any], sessions: dict[str, list[str]] | list[str]) -> Worktree:
    ids = sessions if isinstance(sessions, list) else sessions.get(row["id"], [])
    return Worktree(
        id=row["id"],
        project_id=row["project"],
        task_id=row["task"],
        path=row["path"],
        branch=row["branch"],
        base_ref=row["base_ref"],
        base_commit=row["base_commit"],
        status=row["status"],
        merged_commit=row["merged_commit"],
        pr_url=row["pr_url"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        session_ids=list(ids),
    )
