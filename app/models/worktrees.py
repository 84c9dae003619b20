"""Worktree models: an agent's isolated git checkout, its changes against the base, and the finishing actions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.ids import id_pattern
from app.models.common import NOT_BLANK, Input, LongText, ProjectId, SessionId, TaskId, values_of

Isolation = Literal["in_place", "worktree"]
MergeStrategy = Literal["fast_forward", "merge_commit"]
WorktreeStatus = Literal["active", "merged", "discarded"]  # what Maestro recorded
WorktreeState = Literal["clean", "dirty", "merged", "unmerged", "missing"]  # what git says now
WorktreeAction = Literal["committed", "merged", "discarded", "pull_request", "reconciled"]
ChangeKind = Literal["added", "modified", "deleted", "renamed", "copied", "type_changed", "binary"]

ISOLATIONS = values_of(Isolation)
MERGE_STRATEGIES = values_of(MergeStrategy)
WORKTREE_STATES = values_of(WorktreeState)

# A git ref as a person types it (branch, tag, sha, origin/main): git check-ref-format decides the rest.
RefName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._/@^~+-]+$")]
OptionalRef = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[A-Za-z0-9._/@^~+-]*$")]
SetupCommand = Annotated[str, msgspec.Meta(max_length=4096, pattern=r"^[^\x00]*$")]
# A path inside a repository, relative: segments that are not empty, "." or "..", so never absolute or escaping.
_SEGMENT = r"(?:[^/\x00.][^/\x00]*|\.[^/\x00.][^/\x00]*|\.\.[^/\x00]+)"
REL_PATH = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
RelPath = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=REL_PATH)]
CopyList = Annotated[list[RelPath], msgspec.Meta(max_length=100)]
CommitMessage = Annotated[str, msgspec.Meta(min_length=1, max_length=65536, pattern=NOT_BLANK)]
WORKTREE_ID_EXAMPLE = "wtr_01jd8n1r3s5t7v9w2x4y6z"
WorktreeId = Annotated[str, msgspec.Meta(pattern=id_pattern("wtr"), examples=[WORKTREE_ID_EXAMPLE])]


class ChangedFile(msgspec.Struct, kw_only=True):
    """One file that differs from the base: where it is, how it changed and by how many lines (None: binary)."""

    path: str
    old_path: str | None = None  # renames and copies: where it came from
    kind: ChangeKind
    added: int | None
    removed: int | None
    binary: bool = False


class ChangeList(msgspec.Struct, kw_only=True):
    """A page of the files changed against `base` (committed and uncommitted, untracked included)."""

    base: str  # the commit compared against (the merge base of the base ref and the worktree's HEAD)
    head: str  # the worktree's HEAD commit
    files: list[ChangedFile]
    total: int  # files changed in all (the page is files[offset:offset+limit])
    added: int  # lines, over all files
    removed: int
    offset: int = 0


class FileDiff(msgspec.Struct, kw_only=True):
    """One file's unified diff against the base; `truncated` when it was cut at `max_lines` lines."""

    path: str
    old_path: str | None = None
    kind: ChangeKind
    binary: bool = False
    diff: str  # git's unified diff for this file, headers included ("" for binary files)
    lines: int  # lines in the whole diff
    truncated: bool = False


class Worktree(msgspec.Struct, kw_only=True):
    """An isolated checkout Maestro made for a task's agents, and what is known of it now."""

    id: WorktreeId
    project_id: ProjectId
    task_id: TaskId | None
    path: str
    branch: str
    base_ref: str  # the branch (or ref) it was made from and merges into
    base_commit: str  # base_ref's commit when the worktree was made
    status: WorktreeStatus
    merged_commit: str | None = None
    pr_url: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    state: WorktreeState | None = None  # filled by listings that ask git (None: not looked at)
    session_ids: list[SessionId] = []


class ProjectGitSettings(Input):
    """How a project's agents get their checkout (stored with the project; every field optional)."""

    isolation: Isolation = "in_place"
    base_ref: OptionalRef = ""  # "" = the branch checked out in the project's directory
    setup_command: SetupCommand = ""  # run in a fresh worktree before the agent starts ("" = none)
    copy_files: CopyList = []  # untracked files copied into a fresh worktree (.env, local config)
    merge_strategy: MergeStrategy = "fast_forward"


class CommitRequest(Input):
    """Body of POST /worktrees/{id}/commit: commit everything in the worktree (message prefilled by clients)."""

    message: CommitMessage


class MergeRequest(Input):
    """Body of POST /worktrees/{id}/merge (optional): the strategy, else the project's."""

    strategy: MergeStrategy | None = None
    message: CommitMessage | None = None  # a merge commit's message


class DiscardRequest(Input):
    """Body of POST /worktrees/{id}/discard: `force` drops uncommitted or unmerged work; `delete_branch` too."""

    force: bool = False
    delete_branch: bool = False


class PullRequestRequest(Input):
    """Body of POST /worktrees/{id}/pull-request (optional)."""

    title: CommitMessage | None = None
    body: LongText = ""


class MergeResult(msgspec.Struct, kw_only=True):
    """What a merge did: the base branch's new commit, and whether it was a fast-forward."""

    worktree: Worktree
    commit: str
    fast_forward: bool


class LineComment(Input):
    """A note on one line of a file in the diff (`line` in the new version; None: on the whole file)."""

    path: RelPath
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=8192, pattern=NOT_BLANK)]
    line: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] | None = None


class ReviewComment(Input):
    """Body of POST /sessions/{id}/review-comments: notes on lines of the diff, sent to the agent as one instruction."""

    comments: Annotated[list[LineComment], msgspec.Meta(min_length=1, max_length=200)]
    summary: LongText = ""
