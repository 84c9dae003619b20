"""Running git: always an argument list (never a shell), never prompting, bounded in time and output.

Every git call in Maestro goes through `git()`. A missing git binary is an `InvalidInput` that says so, a
command git refuses is a `GitFailed` carrying git's own message; callers turn the ones they expect into domain
errors with words a person understands.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.errors import InvalidInput, MaestroError

GIT_TIMEOUT_S = 120.0
MAX_OUTPUT = 64 * 1024 * 1024  # a diff beyond this is paged by the callers, never read whole

# Git must never wait for a person (credentials, editors, pagers) and must read no user-specific surprises that
# change its output format (colour, external diff tools, localised messages).
_QUIET_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GIT_EDITOR": "true",
    "GIT_PAGER": "cat",
    "GIT_OPTIONAL_LOCKS": "0",  # reads (status, diff) never take the index lock an agent's own git may need
    "LC_ALL": "C",
    "LANG": "C",
}
_QUIET_CONFIG = ("-c", "color.ui=false", "-c", "core.quotePath=false", "-c", "diff.external=", "-c", "core.pager=cat")


class GitFailed(MaestroError):
    """git exited non-zero; `stderr` is its message. A 409: the repository is not in a state that allows it."""

    status = 409

    def __init__(self, args: list[str], code: int, stdout: str, stderr: str) -> None:
        message = stderr.strip() or stdout.strip() or f"exit status {code}"
        super().__init__(f"git {args[0] if args else ''} failed: {message}", {"exit_code": code})
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class GitResult:
    """What a git command printed (stdout as bytes: diffs may hold any encoding) and how it exited."""

    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced: paths and diffs are shown, never executed)."""
        return self.out.decode("utf-8", "replace")


def git_program() -> str:
    """The git executable, or InvalidInput saying git is not installed."""
    program = shutil.which("git")
    if program is None:
        raise InvalidInput("git is not installed (or not on the server's PATH); worktree mode needs it", {})
    return program


async def git(
    cwd: Path | str,
    *args: str,
    check: bool = True,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = GIT_TIMEOUT_S,
) -> GitResult:
    """Run `git <args>` in `cwd`; GitFailed when it exits non-zero and `check` is set."""
    full_env = {**os.environ, **_QUIET_ENV, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        git_program(),
        *_QUIET_CONFIG,
        *args,
        cwd=str(cwd),
        env=full_env,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=MAX_OUTPUT,
        start_new_session=True,  # a Ctrl-C meant for the server never reaches a git mid-write
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await proc.wait()
        raise
    code = proc.returncode if proc.returncode is not None else -1
    result = GitResult(code=code, out=out, err=err.decode("utf-8", "replace"))
    if check and code != 0:
        raise GitFailed(list(args), code, result.text, result.err)
    return result


async def git_text(cwd: Path | str, *args: str, **kwargs: object) -> str:
    """stdout of `git <args>`, stripped of the trailing newline."""
    result = await git(cwd, *args, **kwargs)  # type: ignore[arg-type]
    return result.text.rstrip("\n")
