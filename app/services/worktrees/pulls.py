"""Pull requests: push a worktree's branch and open a pull request with GitHub's `gh`, or say why not."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

from app.errors import Conflict
from app.services.worktrees.git import GitFailed, git, git_text
from app.services.worktrees.gitflow import refuse_option

GH_TIMEOUT_S = 120.0


# --- pull requests ----------------------------------------------------------------------------------------------


async def _push_remote(worktree: Path, base: str) -> str:
    """The remote to push to: the base branch's own, else origin, else the only one; Conflict when none."""
    remotes = (await git_text(worktree, "remote")).split()
    if not remotes:
        raise Conflict("this repository has no remote to push to", {})
    configured = await git(worktree, "config", f"branch.{base}.remote", check=False)
    for candidate in (configured.text.strip(), "origin"):
        if candidate in remotes:
            return candidate
    return remotes[0]


async def _run_gh(cwd: Path, *args: str) -> str:
    """stdout of `gh <args>` (never prompting); Conflict carrying gh's message when it fails."""
    program = shutil.which("gh")
    if program is None:
        raise Conflict("install GitHub's gh CLI to open pull requests", {})
    env = {
        **os.environ,
        "GH_PROMPT_DISABLED": "1",
        "GH_NO_UPDATE_NOTIFIER": "1",
        "NO_COLOR": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        program,
        *args,
        cwd=str(cwd),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), GH_TIMEOUT_S)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await proc.wait()
        raise
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        raise Conflict(f"gh could not open the pull request: {message}", {})
    return out.decode("utf-8", "replace")


async def gh_pull_request(worktree: Path, branch: str, base_ref: str, title: str, body: str) -> str:
    """Push `branch` and open a pull request into `base_ref` with GitHub's gh CLI; returns its URL."""
    if shutil.which("gh") is None:
        raise Conflict("install GitHub's gh CLI to open pull requests", {})
    refuse_option(branch, "branch")
    base = base_ref.removeprefix("refs/heads/")
    refuse_option(base, "base branch")
    remote = await _push_remote(worktree, base)
    try:
        await git(worktree, "push", "--quiet", "-u", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    except GitFailed as exc:
        raise Conflict(f"could not push {branch} to {remote}: {exc.stderr.strip() or exc.detail}", {}) from exc
    # `--flag=value`: a title or body that starts with a dash stays a value.
    out = await _run_gh(
        worktree, "pr", "create", f"--base={base}", f"--head={branch}", f"--title={title}", f"--body={body}"
    )
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines:
        raise Conflict("gh opened no pull request (it printed no address)", {})
    return lines[-1]
