"""Merging a worktree's branch into its base: computed in the object store first, landed in one atomic step.

A refused or failed merge leaves the base branch and every checkout exactly as it was: the result is found with
`git merge-tree` (no working tree involved), then the base moves by `git merge --ff-only` in the checkout that
has it checked out, or by a compare-and-swap `update-ref` when none has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.errors import Conflict, InvalidInput
from app.services.worktrees.git import GitFailed, git, git_text
from app.services.worktrees.gitflow import (
    identity_args,
    is_ancestor,
    tip_of,
    uncommitted,
    worktree_of_branch,
)

# --- merging ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeOutcome:
    """The base branch's new commit, and whether it got there by fast-forward."""

    commit: str
    fast_forward: bool


async def _merged_tree(repo: Path, base_tip: str, branch_tip: str, branch: str, base: str) -> str:
    """The tree of merging the two commits, computed without a checkout; Conflict listing the files in conflict."""
    result = await git(
        repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", base_tip, branch_tip, check=False
    )
    if result.code == 129:  # an option this git does not know
        raise InvalidInput("merging with a merge commit needs git 2.38 or newer; upgrade git, or rebase the branch", {})
    fields = result.text.split("\0")
    if result.code == 1:
        files = list(dict.fromkeys(f for f in fields[1:] if f))
        shown = ", ".join(files[:20]) + (f" and {len(files) - 20} more" if len(files) > 20 else "")
        raise Conflict(
            f"{branch} conflicts with {base} in {len(files)} file(s): {shown}; resolve them in the worktree "
            f"(merge or rebase {base} there), then merge again",
            {"files": files},
        )
    if result.code != 0 or not fields[0]:
        raise GitFailed(["merge-tree"], result.code, result.text, result.err)
    return fields[0]


async def merge_into_base(repo: Path, branch: str, base_ref: str, strategy: str, message: str) -> MergeOutcome:
    """Land `branch` on the local branch `base_ref` by fast-forward or a merge commit; all or nothing.

    The result is computed in the object store first; only then does one step move the base branch: a
    `merge --ff-only` in the checkout that has it (refused first if that checkout has uncommitted changes), or an
    `update-ref` that only succeeds if the base did not move meanwhile.
    """
    if strategy not in ("fast_forward", "merge_commit"):
        raise InvalidInput(f"unknown merge strategy {strategy!r}; use fast_forward or merge_commit", {})
    base = base_ref.removeprefix("refs/heads/")
    base_tip = await tip_of(repo, base)
    if base_tip is None:
        raise InvalidInput(f"{base_ref!r} is not a local branch; only a local branch can be merged into", {})
    branch_tip = await tip_of(repo, branch)
    if branch_tip is None:
        raise Conflict(f"the branch {branch} no longer exists", {"branch": branch})
    if branch_tip == base_tip or await is_ancestor(repo, branch_tip, base_tip):
        raise Conflict(f"nothing to merge: {base} already has every commit of {branch}", {})

    fast_forward = await is_ancestor(repo, base_tip, branch_tip)
    if fast_forward:
        target = branch_tip
    elif strategy == "fast_forward":
        raise Conflict("the base branch has moved on; merge with a merge commit, or rebase the branch", {})
    else:
        tree = await _merged_tree(repo, base_tip, branch_tip, branch, base)
        identity = await identity_args(repo)
        target = await git_text(repo, *identity, "commit-tree", tree, "-p", base_tip, "-p", branch_tip, "-m", message)

    checkout = await worktree_of_branch(repo, base)
    if checkout is not None:
        await _fast_forward_checkout(repo, checkout, base, base_tip, target)
    else:
        try:
            await git(repo, "update-ref", "-m", f"maestro: merge {branch}", f"refs/heads/{base}", target, base_tip)
        except GitFailed as exc:
            raise Conflict(f"{base} moved while merging; nothing was changed, try again", {}) from exc
    return MergeOutcome(commit=target, fast_forward=fast_forward)


async def _fast_forward_checkout(repo: Path, checkout: Path, base: str, base_tip: str, target: str) -> None:
    """Move the checked-out base branch to `target` in its own checkout, files included, or change nothing."""
    if await uncommitted(checkout, untracked=False):
        raise Conflict(
            f"your checkout of {base} has uncommitted changes; commit or stash them, then merge",
            {"path": str(checkout)},
        )
    if await tip_of(repo, base) != base_tip:  # a merge --ff-only would also carry the base's new commits
        raise Conflict(f"{base} moved while merging; nothing was changed, try again", {})
    try:
        # git checks every file it would touch before writing any: a refusal leaves the checkout as it was.
        await git(checkout, "merge", "--ff-only", "--no-edit", "--quiet", target)
    except GitFailed as exc:
        reason = exc.stderr.strip() or exc.detail
        raise Conflict(
            f"could not update your checkout of {base} ({checkout}): {reason}; nothing was changed", {}
        ) from exc
