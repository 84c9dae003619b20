"""/api/v1/worktrees: agents' git worktrees — their changes against the base, commit, merge, pull request, discard."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.db.writer import Writer
from app.ids import id_pattern
from app.models.worktrees import (
    ChangeList,
    CommitRequest,
    DiscardRequest,
    FileDiff,
    MergeRequest,
    MergeResult,
    PullRequestRequest,
    ReviewComment,
    Worktree,
    WorktreeStatus,
)
from app.services.projects import require_project
from app.services.runtime import Runtime
from app.services.sessions.review import send_review
from app.services.worktrees import actions, records
from app.web.deps import ProjectIdPath, SessionIdPath, TaskIdPath, WorktreeIdPath
from app.web.openapi import conflict, not_found

TAGS = ["worktrees"]
PathQuery = Annotated[
    str, QueryParameter(min_length=1, max_length=4096, pattern=r"^[^\x00]+$", description="A changed file's path")
]


class Suggestion(msgspec.Struct, kw_only=True):
    """A prefilled commit message."""

    message: str


class Delivered(msgspec.Struct, kw_only=True):
    """Where the review comments were written for the agent (one line pointing at it was typed in its terminal)."""

    path: str


@get(
    "/worktrees",
    tags=TAGS,
    summary="List worktrees",
    opt={"agent": "read", "agent_project": "query"},
    responses=not_found("No project with this project_id"),
)
async def list_worktrees(
    project_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("prj"), description="Only this project's worktrees")
    ] = None,
    status: Annotated[WorktreeStatus | None, QueryParameter(description="Only worktrees with this status")] = None,
    with_state: Annotated[
        bool, QueryParameter(name="state", description="Ask git for each one's state (slower)")
    ] = True,
) -> list[Worktree]:
    """Worktrees, newest first, with `state` (clean, dirty, merged, unmerged, missing) unless state=false."""
    if project_id is not None:
        await require_project(project_id)
    return await records.list_worktrees(project_id=project_id, status=status, with_state=with_state)


@get("/worktrees/{worktree_id:str}", tags=TAGS, summary="Get a worktree", opt={"agent": "read"})
async def get_worktree(worktree_id: WorktreeIdPath) -> Worktree:
    """One worktree with its git state and the sessions that work in it."""
    return await records.with_git_state(await records.get_worktree(worktree_id))


@get("/sessions/{session_id:str}/worktree", tags=TAGS, summary="A session's worktree", opt={"agent": "read"})
async def session_worktree(session_id: SessionIdPath) -> Worktree:
    """The worktree the session works in; 404 for a session that ran in the project's own directory."""
    return await records.with_git_state(await records.worktree_of_session(session_id))


@get("/tasks/{task_id:str}/worktree", tags=TAGS, summary="A task's worktree", opt={"agent": "read"})
async def task_worktree(task_id: TaskIdPath) -> Worktree:
    """The newest active worktree made for the task; 404 when it has none."""
    return await records.with_git_state(await records.worktree_of_task(task_id))


@get(
    "/worktrees/{worktree_id:str}/changes",
    tags=TAGS,
    summary="Files changed against the base",
    opt={"agent": "read"},
    responses=conflict("The worktree's checkout is gone (discarded or removed)"),
)
async def list_changes(
    worktree_id: WorktreeIdPath,
    offset: Annotated[int, QueryParameter(ge=0, le=10_000_000, description="Skip this many files")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=5000, description="At most this many files")] = 500,
) -> ChangeList:
    """Committed and uncommitted changes (untracked files included) against the merge base with the base ref:
    each file's kind and added/removed lines (null for binary files), with totals over all files."""
    return await actions.list_changes(worktree_id, offset=offset, limit=limit)


@get(
    "/worktrees/{worktree_id:str}/diff",
    tags=TAGS,
    summary="One changed file's diff",
    opt={"agent": "read"},
    responses=conflict("The worktree's checkout is gone (discarded or removed)"),
)
async def file_diff(worktree_id: WorktreeIdPath, path: PathQuery) -> FileDiff:
    """The unified diff of one changed file (cut at 5,000 lines: `truncated`); 400 for a path outside the
    worktree, 404 for a file that did not change."""
    return await actions.file_diff(worktree_id, path)


@get(
    "/worktrees/{worktree_id:str}/diffs",
    tags=TAGS,
    summary="A page of diffs",
    opt={"agent": "read"},
    responses=conflict("The worktree's checkout is gone (discarded or removed)"),
)
async def diff_page(
    worktree_id: WorktreeIdPath,
    offset: Annotated[int, QueryParameter(ge=0, le=10_000_000, description="Skip this many files")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=100, description="At most this many files")] = 20,
) -> list[FileDiff]:
    """The diffs of the files `changes` lists at offset..offset+limit, in its order."""
    return await actions.diff_page(worktree_id, offset=offset, limit=limit)


@get(
    "/worktrees/{worktree_id:str}/commit-message",
    tags=TAGS,
    summary="A suggested commit message",
    opt={"agent": "read"},
)
async def commit_message(worktree_id: WorktreeIdPath) -> Suggestion:
    """The task's title, then the last report of the worktree's newest session."""
    return Suggestion(message=await actions.suggested_commit_message(worktree_id))


@post(
    "/worktrees/{worktree_id:str}/commit",
    tags=TAGS,
    summary="Commit everything in a worktree",
    status_code=HTTP_200_OK,
    responses=conflict("Nothing to commit, the checkout is gone, or the worktree was discarded"),
)
async def commit(
    worktree_id: WorktreeIdPath,
    data: JSONBody[CommitRequest],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
) -> Worktree:
    """`git add -A` and commit on the worktree's branch (the repository's hooks run)."""
    return await actions.commit(writer, worktree_id, data.message, actor)


@post(
    "/worktrees/{worktree_id:str}/merge",
    tags=TAGS,
    summary="Merge a worktree's branch into its base",
    status_code=HTTP_200_OK,
    responses=conflict(
        "A conflict (the files are listed in details; nothing was changed), uncommitted work, a base that moved on "
        "under fast-forward, a dirty checkout of the base branch, or nothing to merge"
    ),
)
async def merge(
    worktree_id: WorktreeIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    data: JSONBody[MergeRequest | None] = None,
) -> MergeResult:
    """Fast-forward or merge commit (the project's strategy unless given); git is left as it was on any refusal."""
    body = data or MergeRequest()
    return await actions.merge(writer, worktree_id, actor, strategy=body.strategy, message=body.message)


@post(
    "/worktrees/{worktree_id:str}/pull-request",
    tags=TAGS,
    summary="Push and open a pull request",
    status_code=HTTP_200_OK,
    responses=conflict("gh is not installed, the repository has no remote, or the push or gh failed"),
)
async def pull_request(
    worktree_id: WorktreeIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    data: JSONBody[PullRequestRequest | None] = None,
) -> Worktree:
    """Push the branch to the repository's remote and open a pull request against the base with `gh`."""
    body = data or PullRequestRequest()
    return await actions.pull_request(writer, worktree_id, actor, title=body.title, body=body.body)


@post(
    "/worktrees/{worktree_id:str}/discard",
    tags=TAGS,
    summary="Remove a worktree's checkout",
    status_code=HTTP_200_OK,
    responses=conflict("Uncommitted or unmerged work without force, or a session still runs in it"),
)
async def discard(
    worktree_id: WorktreeIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    data: JSONBody[DiscardRequest | None] = None,
) -> Worktree:
    """Remove the checkout; the branch stays unless delete_branch (unmerged commits need force)."""
    body = data or DiscardRequest()
    return await actions.discard(writer, worktree_id, actor, force=body.force, delete_branch=body.delete_branch)


@post(
    "/projects/{project_id:str}/worktrees/cleanup",
    tags=TAGS,
    summary="Remove finished worktrees",
    status_code=HTTP_200_OK,
)
async def cleanup(
    project_id: ProjectIdPath, writer: NamedDependency[Writer], actor: NamedDependency[str]
) -> list[Worktree]:
    """Discard every worktree whose sessions ended and that is clean or merged; dirty and unmerged ones stay."""
    await require_project(project_id)
    return await actions.cleanup(writer, project_id, actor)


@post(
    "/sessions/{session_id:str}/review",
    tags=TAGS,
    summary="Send review comments to an agent",
    status_code=HTTP_200_OK,
    responses=conflict("The session has ended"),
)
async def review(
    session_id: SessionIdPath,
    data: JSONBody[ReviewComment],
    runtime: NamedDependency[Runtime],
    actor: NamedDependency[str],
) -> Delivered:
    """Write the comments to a file in the session's folder and type one line pointing at it into its terminal."""
    return Delivered(path=await send_review(runtime.writer, runtime.runner, session_id, data, actor))


ROUTES = [
    list_worktrees,
    get_worktree,
    session_worktree,
    task_worktree,
    list_changes,
    file_diff,
    diff_page,
    commit_message,
    commit,
    merge,
    pull_request,
    discard,
    cleanup,
    review,
]
