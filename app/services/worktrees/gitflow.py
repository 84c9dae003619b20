"""The git side of a worktree's life: make it, copy local files in, inspect, commit, remove (merging.py merges,
pulls.py opens pull requests).

Pure git and filesystem: nothing here touches the database or emits events (the caller records what happened).
Every git call goes through `git()` with an argument list, `--` before paths and refs refused when they look like
options. Merges are computed in the object store first and land with one atomic step, so a refused or failed
merge leaves the base branch and every checkout exactly as it was. Callers serialise concurrent actions.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePath

from app.errors import Conflict, InvalidInput
from app.models.worktrees import WorktreeState
from app.services.worktrees.git import GitFailed, git, git_text

SLUG_MAX = 40
BRANCH_PREFIX = "maestro/"
FALLBACK_IDENTITY = ("-c", "user.name=Maestro", "-c", "user.email=maestro@localhost")


# --- the repository and its refs -------------------------------------------------------------------------------


async def repo_root(path: Path) -> Path:
    """The top of the git checkout containing `path`; InvalidInput when it is not inside one."""
    refusal = InvalidInput(
        f"{path} is not a git repository; worktree mode needs one (in-place sessions still work)", {"path": str(path)}
    )
    if not path.is_dir():  # noqa: ASYNC240 (one stat call)
        raise refusal
    try:
        top = await git_text(path, "rev-parse", "--show-toplevel")
    except GitFailed:
        raise refusal from None
    if not top:  # inside a .git directory or a bare repository: no checkout to work in
        raise refusal
    return Path(top)


async def current_branch(repo: Path) -> str:
    """The branch checked out in `repo`; InvalidInput when HEAD is detached."""
    result = await git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if result.code != 0:
        raise InvalidInput(f"{repo} has no branch checked out (detached HEAD); choose a base branch", {})
    return result.text.strip()


def refuse_option(ref: str, what: str = "ref") -> None:
    """A ref that git would read as an option (or nothing at all) never reaches git."""
    if not ref or ref.startswith("-"):
        raise InvalidInput(f"{what} {ref!r} is not a valid git ref", {"ref": ref})


async def resolve_commit(repo: Path, ref: str) -> str:
    """The full sha of the commit `ref` names; InvalidInput naming the ref when git does not know it."""
    refuse_option(ref)
    result = await git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    sha = result.text.strip()
    if result.code != 0 or not sha:
        raise InvalidInput(f"git does not know {ref!r} in {repo} (no branch, tag or commit by that name)", {"ref": ref})
    return sha


async def tip_of(repo: Path, branch: str) -> str | None:
    """The commit a local branch points at, or None when there is no such branch."""
    refuse_option(branch, "branch")
    result = await git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
    sha = result.text.strip()
    return sha if result.code == 0 and sha else None


async def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    """Whether commit `older` is reachable from `newer` (equal commits count)."""
    result = await git(repo, "merge-base", "--is-ancestor", older, newer, check=False)
    if result.code not in (0, 1):
        raise GitFailed(["merge-base"], result.code, result.text, result.err)
    return result.code == 0


async def _check_branch_name(repo: Path, branch: str) -> None:
    """InvalidInput unless git accepts `branch` as a new branch's name."""
    refuse_option(branch, "branch")
    result = await git(repo, "check-ref-format", "--branch", branch, check=False)
    if result.code != 0:
        raise InvalidInput(f"{branch!r} is not a valid branch name", {"branch": branch})


def _slug(text: str, limit: int | None) -> str:
    """Lowercase ascii letters and digits joined by single dashes; "" when nothing is left."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if limit is not None:
        slug = slug[:limit].rstrip("-")
    return slug


def branch_name(title: str | None, short_id: str) -> str:
    """`maestro/<slug of the title>-<short_id>`: always a name git accepts for a branch."""
    # Only [a-z0-9-] with no leading, trailing or doubled dash survives, so no ref-format rule can be broken.
    return f"{BRANCH_PREFIX}{_slug(title or '', SLUG_MAX) or 'task'}-{_slug(short_id, None) or 'x'}"


# --- the checkouts git knows about ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """One entry of `git worktree list`: where it is and which branch it has checked out (None: detached)."""

    path: Path
    branch: str | None
    head: str | None


async def checkouts(repo: Path) -> list[Checkout]:
    """Every checkout of the repository (the main one first), as git lists them."""
    out = (await git(repo, "worktree", "list", "--porcelain", "-z")).text
    found: list[Checkout] = []
    for record in out.split("\0\0"):
        fields = dict(line.split(" ", 1) if " " in line else (line, "") for line in record.split("\0") if line)
        if "worktree" not in fields:
            continue
        branch = fields.get("branch")
        found.append(
            Checkout(
                path=Path(fields["worktree"]),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                head=fields.get("HEAD") or None,
            )
        )
    return found


async def worktree_of_branch(repo: Path, branch: str) -> Path | None:
    """The checkout that has `branch` checked out (whose directory still exists), or None."""
    for checkout in await checkouts(repo):
        if checkout.branch == branch and checkout.path.is_dir():
            return checkout.path
    return None


def _status_paths(porcelain_z: bytes) -> list[str]:
    """Paths of `git status --porcelain=v1 -z` (a rename's second field, its old path, is skipped)."""
    paths: list[str] = []
    entries = porcelain_z.decode("utf-8", "replace").split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1
    return paths


async def uncommitted(checkout: Path, *, untracked: bool = True) -> list[str]:
    """Files with changes not committed in `checkout` (untracked ones too unless told otherwise)."""
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    result = await git(checkout, "status", "--porcelain=v1", "-z", mode)
    return _status_paths(result.out)


# --- making a worktree ------------------------------------------------------------------------------------------


async def add_worktree(repo: Path, path: Path, branch: str, base_ref: str) -> str:
    """A new checkout at `path` on a new `branch` made from `base_ref`; returns the base commit's sha."""
    await _check_branch_name(repo, branch)
    base_commit = await resolve_commit(repo, base_ref)
    if await tip_of(repo, branch) is not None:
        raise Conflict(f"the branch {branch} already exists; pick another name or delete it", {"branch": branch})
    if os.path.lexists(path):  # noqa: ASYNC240 (one stat call)
        raise Conflict(f"{path} already exists; a new worktree needs an empty place", {"path": str(path)})
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        await git(repo, "worktree", "add", "-b", branch, "--", str(path), base_commit)
    except GitFailed as exc:
        raise Conflict(
            f"could not create the worktree: {exc.stderr.strip() or exc.detail}", {"path": str(path)}
        ) from exc
    return base_commit


def check_copy_names(names: list[str]) -> None:
    """InvalidInput unless every name is a relative path that stays inside the checkout (no `..`, not .git)."""
    for name in names:
        pure = PurePath(name)
        parts = [part for part in pure.parts if part != "."]
        if (
            not name.strip()
            or "\0" in name
            or name.startswith(("/", "\\"))
            or pure.is_absolute()
            or pure.drive
            or not parts
            or ".." in parts
            or parts[0] == ".git"
        ):
            raise InvalidInput(f"cannot copy {name!r}: give a path relative to the repository, without '..'", {})


def _inside(path: Path, root: Path) -> bool:
    """Whether the resolved `path` is `root` or below it."""
    return path == root or root in path.parents


def _copy_into(repo: Path, worktree: Path, names: list[str]) -> list[str]:
    """The blocking part of copy_files: copy what is safe, skip what is missing, outside, or already there."""
    repo_real = repo.resolve()
    tree_real = worktree.resolve()
    copied: list[str] = []
    for name in names:
        source = repo / name
        if not os.path.lexists(source):
            continue
        real = source.resolve()  # follows every symlink on the way: one pointing out of the repo is caught here
        if not _inside(real, repo_real) or real == repo_real or not real.exists():
            continue
        target = worktree / name
        if os.path.lexists(target):  # never overwrite what git checked out (or an earlier copy)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a checked-out file stands where the folder would go
            continue
        if not _inside(target.parent.resolve(), tree_real):  # a checked-out symlink must not lead the copy out
            continue
        if real.is_dir():
            # Links inside a copied folder are copied as links, never followed.
            shutil.copytree(real, target, symlinks=True, copy_function=shutil.copy2)
        else:
            shutil.copy2(real, target)
        copied.append(name)
    return copied


async def copy_files(repo: Path, worktree: Path, names: list[str]) -> list[str]:
    """Copy the named untracked files or folders (.env, local config) from the main checkout; returns those copied.

    A name that is absolute or climbs out with `..` is an InvalidInput (before anything is copied); a missing
    one, one that resolves out of the repository through a symlink, or one already in the worktree is skipped.
    """
    check_copy_names(names)
    return await asyncio.to_thread(_copy_into, repo, worktree, names)


# --- what git says about a worktree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorktreeGitState:
    """A worktree as git sees it now, against the tip of its base.

    `merged` is git's fact (the branch tip is an ancestor of the base tip, nothing to merge); `new_commits` says
    whether the branch moved off the commit it was made from, so a fresh branch reads "clean", not "merged".
    """

    exists: bool
    dirty: bool
    uncommitted_files: int
    ahead: int
    behind: int
    merged: bool
    head: str | None
    new_commits: bool = False

    @property
    def state(self) -> WorktreeState:
        """The one-word summary shown in listings."""
        if not self.exists:
            return "missing"
        if self.dirty:
            return "dirty"
        if self.merged and self.new_commits:
            return "merged"
        if self.ahead > 0:
            return "unmerged"
        return "clean"


async def inspect(
    repo: Path, worktree: Path, branch: str, base_ref: str, *, base_commit: str | None = None
) -> WorktreeGitState:
    """What git says about `worktree` on `branch` against `base_ref` (`base_commit`: where the branch started).

    A missing directory reads `exists=False`, the rest from the branch while it still exists.
    """
    base_tip = await resolve_commit(repo, base_ref)
    exists = worktree.is_dir() and os.path.lexists(worktree / ".git")  # noqa: ASYNC240 (two stat calls)
    changed: list[str] = []
    head: str | None = None
    if exists:
        changed = await uncommitted(worktree)
        result = await git(worktree, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        head = result.text.strip() or None
    else:
        head = await tip_of(repo, branch)
    ahead = behind = 0
    merged = False
    if head is not None:
        counts = await git_text(repo, "rev-list", "--left-right", "--count", f"{base_tip}...{head}")
        left, right = counts.split()
        behind, ahead = int(left), int(right)
        merged = await is_ancestor(repo, head, base_tip)
    new_commits = head is not None and (head != base_commit if base_commit else ahead > 0)
    return WorktreeGitState(
        exists=exists,
        dirty=bool(changed),
        uncommitted_files=len(changed),
        ahead=ahead,
        behind=behind,
        merged=merged,
        head=head,
        new_commits=new_commits,
    )


# --- committing -------------------------------------------------------------------------------------------------


async def identity_args(repo: Path) -> tuple[str, ...]:
    """Nothing when the repository has a committer configured, else Maestro's own name for the commit."""
    email = await git(repo, "config", "user.email", check=False)
    name = await git(repo, "config", "user.name", check=False)
    if email.code == 0 and email.text.strip() and name.code == 0 and name.text.strip():
        return ()
    return FALLBACK_IDENTITY


async def commit_all(worktree: Path, message: str, *, author: str | None = None) -> str:
    """Stage everything (untracked files too) and commit it; returns the new commit's sha.

    The repository's own hooks run; one that refuses makes this a Conflict carrying its message.
    """
    if not await uncommitted(worktree):
        raise Conflict("nothing to commit: the worktree has no changes", {})
    identity = await identity_args(worktree)
    await git(worktree, "add", "-A")
    args = [*identity, "commit", "--quiet", "-m", message]
    if author:
        args.append(f"--author={author}")
    try:
        await git(worktree, *args)
    except GitFailed as exc:  # a hook of the repository said no: its own words explain why
        raise Conflict(f"the commit was refused: {exc.stderr.strip() or exc.detail}", {}) from exc
    return await git_text(worktree, "rev-parse", "HEAD")


# --- removing ---------------------------------------------------------------------------------------------------


async def remove_worktree(repo: Path, worktree: Path, *, force: bool) -> None:
    """Delete the worktree's checkout (its branch stays); without `force` a worktree with changes is refused."""
    if os.path.lexists(worktree):  # noqa: ASYNC240 (one stat call)
        if not force:
            changed = await uncommitted(worktree)
            if changed:
                raise Conflict(
                    f"the worktree has {len(changed)} uncommitted file(s); commit them, or discard with force",
                    {"uncommitted_files": len(changed)},
                )
        await git(repo, "worktree", "remove", *(["--force"] if force else []), "--", str(worktree))
    await git(repo, "worktree", "prune")


async def delete_branch(repo: Path, branch: str, base_ref: str, *, force: bool) -> None:
    """Delete `branch`; without `force` one holding commits not merged into `base_ref` is refused. Gone is fine."""
    tip = await tip_of(repo, branch)
    if tip is None:
        return
    if not force:
        base_tip = await resolve_commit(repo, base_ref)
        unmerged = int(await git_text(repo, "rev-list", "--count", f"{base_tip}..{tip}"))
        if unmerged:
            raise Conflict(
                f"the branch {branch} has {unmerged} commit(s) not merged into {base_ref}; "
                "merge it, or delete it with force",
                {"unmerged_commits": unmerged},
            )
    try:
        await git(repo, "branch", "-D", "--", branch)
    except GitFailed as exc:
        raise Conflict(f"could not delete the branch {branch}: {exc.stderr.strip() or exc.detail}", {}) from exc
