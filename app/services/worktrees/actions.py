"""What a person does with an agent's worktree: look at its changes, commit, merge, open a pull request, discard.

Actions on one worktree run one at a time (a per-worktree lock in this process; git's own locks and the
compare-and-swap of the base branch in `merging.merge_into_base` guard against other processes). Git does the
work first; the record follows. A crash in between leaves git consistent, and `reconcile` corrects the record
on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from app.db.tables import Session as SessionRow
from app.db.tables import TimelineEntry as EntryRow
from app.db.writer import Writer
from app.errors import Conflict
from app.models.worktrees import ChangeList, FileDiff, MergeResult, Worktree
from app.services.projects import get_project
from app.services.tasks.queries import get_task
from app.services.worktrees import changes, gitflow, merging, pulls
from app.services.worktrees.records import (
    get_worktree,
    git_state,
    has_checkout,
    list_worktrees,
    record_action,
    repo_of,
    require_active,
    require_checkout,
)

log = logging.getLogger("maestro.worktrees")

_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


@contextlib.asynccontextmanager
async def _serialised(worktree_id: str) -> AsyncIterator[None]:
    lock = _locks.get(worktree_id)
    if lock is None:
        lock = _locks[worktree_id] = asyncio.Lock()
    async with lock:
        yield


# ---------------------------------------------------------------------------------------------------- review
async def list_changes(worktree_id: str, *, offset: int = 0, limit: int = 500) -> ChangeList:
    """The files the worktree changed against its base (committed and not), a page of them, with line counts."""
    worktree = await get_worktree(worktree_id)
    path = require_checkout(worktree)
    base = await changes.merge_base(path, worktree.base_ref, worktree.base_commit)
    return await changes.list_changes(path, base, offset=offset, limit=limit)


async def file_diff(worktree_id: str, file_path: str) -> FileDiff:
    """One changed file's unified diff against the base (the path is checked to stay inside the worktree)."""
    worktree = await get_worktree(worktree_id)
    path = require_checkout(worktree)
    base = await changes.merge_base(path, worktree.base_ref, worktree.base_commit)
    return await changes.file_diff(path, base, file_path)


async def diff_page(worktree_id: str, *, offset: int = 0, limit: int = 20) -> list[FileDiff]:
    """The diffs of a page of changed files, in the order of `list_changes`."""
    worktree = await get_worktree(worktree_id)
    path = require_checkout(worktree)
    base = await changes.merge_base(path, worktree.base_ref, worktree.base_commit)
    return await changes.diff_page(path, base, offset=offset, limit=limit)


async def suggested_commit_message(worktree_id: str) -> str:
    """A commit message to start from: the task's title, then the last report of the worktree's newest session."""
    worktree = await get_worktree(worktree_id)
    title = worktree.branch
    if worktree.task_id is not None:
        with contextlib.suppress(Exception):
            title = (await get_task(worktree.task_id)).title
    lines = [title]
    if worktree.session_ids:
        entry = await (
            EntryRow.select(EntryRow.message)
            .where(EntryRow.session.is_in(worktree.session_ids))
            .order_by(EntryRow.id, ascending=False)
            .first()
        )
        if entry is not None and entry["message"].strip() and entry["message"].strip() != title:
            lines += ["", entry["message"].strip()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- finish
async def commit(writer: Writer, worktree_id: str, message: str, actor: str) -> Worktree:
    """Commit everything in the worktree (untracked files included); Conflict when there is nothing to commit."""
    async with _serialised(worktree_id):
        worktree = await get_worktree(worktree_id)
        require_active(worktree)
        path = require_checkout(worktree)
        sha = await gitflow.commit_all(path, message)
        subject = message.strip().splitlines()[0]
        return await record_action(
            writer,
            worktree,
            "committed",
            actor,
            commit=sha,
            detail=f"Committed {sha[:10]} on {worktree.branch}: {subject}",
        )


async def merge(
    writer: Writer, worktree_id: str, actor: str, *, strategy: str | None = None, message: str | None = None
) -> MergeResult:
    """Merge the worktree's branch into its base (fast-forward or merge commit); a conflict changes nothing."""
    async with _serialised(worktree_id):
        worktree = await get_worktree(worktree_id)
        require_active(worktree)
        if worktree.status == "merged":
            raise Conflict(f"worktree {worktree.id} is already merged ({worktree.merged_commit})")
        project = await get_project(worktree.project_id)
        repo = await gitflow.repo_root(Path(project.working_dir))
        chosen = strategy or project.git.merge_strategy
        text = message or f"Merge {worktree.branch} into {worktree.base_ref}"
        if has_checkout(worktree):
            state = await gitflow.inspect(
                repo, Path(worktree.path), worktree.branch, worktree.base_ref, base_commit=worktree.base_commit
            )
            if state.dirty:
                raise Conflict(
                    f"the worktree has {state.uncommitted_files} uncommitted file(s); commit them first "
                    "(or discard them)",
                    {"uncommitted_files": state.uncommitted_files},
                )
        outcome = await merging.merge_into_base(repo, worktree.branch, worktree.base_ref, chosen, text)
        how = "by fast-forward" if outcome.fast_forward else "with a merge commit"
        current = await record_action(
            writer,
            worktree,
            "merged",
            actor,
            commit=outcome.commit,
            detail=f"Merged {worktree.branch} into {worktree.base_ref} {how} ({outcome.commit[:10]})",
            changes={"status": "merged", "merged_commit": outcome.commit},
        )
        return MergeResult(worktree=current, commit=outcome.commit, fast_forward=outcome.fast_forward)


async def pull_request(writer: Writer, worktree_id: str, actor: str, *, title: str | None, body: str) -> Worktree:
    """Push the branch and open a pull request with `gh`; Conflict saying why when that is not possible here."""
    async with _serialised(worktree_id):
        worktree = await get_worktree(worktree_id)
        require_active(worktree)
        path = require_checkout(worktree)
        heading = title or (await suggested_commit_message(worktree_id)).splitlines()[0]
        url = await pulls.gh_pull_request(path, worktree.branch, worktree.base_ref, heading, body)
        return await record_action(
            writer, worktree, "pull_request", actor, detail=f"Pull request opened: {url}", changes={"pr_url": url}
        )


async def discard(
    writer: Writer, worktree_id: str, actor: str, *, force: bool = False, delete_branch: bool = False
) -> Worktree:
    """Remove the worktree's checkout (refused without `force` when it holds uncommitted or unmerged work).

    The branch is kept unless `delete_branch`; a branch with unmerged commits is deleted only with `force`."""
    async with _serialised(worktree_id):
        worktree = await get_worktree(worktree_id)
        if worktree.status == "discarded":
            return worktree
        await _refuse_live_sessions(worktree)
        repo = await repo_of(worktree)
        state = await gitflow.inspect(
            repo, Path(worktree.path), worktree.branch, worktree.base_ref, base_commit=worktree.base_commit
        )
        if not force:
            if state.exists and state.dirty:
                raise Conflict(
                    f"the worktree holds {state.uncommitted_files} uncommitted file(s); "
                    "discard with force to lose them",
                    {"uncommitted_files": state.uncommitted_files, "needs_force": True},
                )
            if delete_branch and state.ahead > 0 and not state.merged and worktree.status != "merged":
                raise Conflict(
                    f"branch {worktree.branch} holds {state.ahead} unmerged commit(s); keep it, or force",
                    {"unmerged_commits": state.ahead, "needs_force": True},
                )
        await gitflow.remove_worktree(repo, Path(worktree.path), force=force or not state.dirty)
        words = f"Discarded the worktree of {worktree.branch}"
        if delete_branch:
            await gitflow.delete_branch(repo, worktree.branch, worktree.base_ref, force=force)
            words += " and deleted the branch"
        else:
            words += " (the branch is kept)"
        return await record_action(writer, worktree, "discarded", actor, detail=words, changes={"status": "discarded"})


async def cleanup(
    writer: Writer, project_id: str, actor: str, *, delete_merged_branches: bool = False
) -> list[Worktree]:
    """Discard every worktree of the project whose sessions have ended and that holds nothing unsaved: clean or
    merged ones. Dirty and unmerged ones are left for the person to decide; the answer lists what was removed."""
    removed: list[Worktree] = []
    for worktree in await list_worktrees(project_id=project_id, status=None):
        if worktree.status == "discarded" or await _has_live_sessions(worktree):
            continue
        state = await git_state(worktree)
        if state not in ("clean", "merged", "missing"):
            continue
        removed.append(
            await discard(writer, worktree.id, actor, delete_branch=delete_merged_branches and state == "merged")
        )
    return removed


async def reconcile(writer: Writer) -> int:
    """On start: record merges that happened in git but not in the database (a crash between the two)."""
    fixed = 0
    for worktree in await list_worktrees(status="active"):
        with contextlib.suppress(Exception):
            if await git_state(worktree) == "merged":
                repo = await repo_of(worktree)
                tip = await gitflow.resolve_commit(repo, worktree.base_ref)
                await record_action(
                    writer,
                    worktree,
                    "reconciled",
                    "maestro",
                    commit=tip,
                    detail=f"Found {worktree.branch} merged into {worktree.base_ref}; recorded it as merged",
                    changes={"status": "merged", "merged_commit": tip},
                )
                fixed += 1
    return fixed


async def _has_live_sessions(worktree: Worktree) -> bool:
    if not worktree.session_ids:
        return False
    live = await SessionRow.count().where(SessionRow.id.is_in(worktree.session_ids) & SessionRow.ended_at.is_null())
    return live > 0


async def _refuse_live_sessions(worktree: Worktree) -> None:
    if await _has_live_sessions(worktree):
        raise Conflict(
            f"a session still runs in worktree {worktree.id}; stop it before discarding the worktree",
            {"session_ids": worktree.session_ids},
        )
