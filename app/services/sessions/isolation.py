"""Where a new session works: the project's own directory (in place) or a git worktree of its own, or shared.

The runner asks `place()` after every cheap refusal (profile, tasks, skills, missing program) so a refused spawn
makes nothing; a fresh worktree gets the project's setup command run in the session's terminal before the
agent, so its output is where the person looks and a failure ends the session with the setup's exit status.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from app.db.writer import Writer
from app.errors import InvalidInput, NotFound
from app.models.manifests import ManifestWorktree
from app.models.projects import Project
from app.models.sessions import SessionSpawn
from app.models.worktrees import Worktree
from app.services.worktrees import actions as worktree_actions
from app.services.worktrees import gitflow
from app.services.worktrees.records import check_shareable, create_worktree, get_worktree, require_checkout

# A POSIX shell runs the setup whatever the user's login shell is (fish, nu): the command is the project's,
# written once for everyone. The agent's own argv follows as "$@" and replaces the shell (exec).
_SETUP_SCRIPT = (
    'printf "\\033[2m[maestro] setup: %s\\033[0m\\r\\n" "$MAESTRO_SETUP"; '
    'sh -c "$MAESTRO_SETUP"; code=$?; '
    "if [ $code -ne 0 ]; then "
    'printf "\\r\\n[maestro] setup failed with exit status %s; the agent was not started\\r\\n" $code; '
    "exit $code; fi; "
    'exec "$@"'
)


@dataclass(frozen=True)
class Placement:
    """Where the session runs, and the worktree it runs in (None: in place)."""

    cwd: str
    worktree: Worktree | None = None
    fresh: bool = False  # the worktree was made for this session (setup runs, a failed spawn removes it)
    setup_command: str = ""

    def manifest_part(self) -> ManifestWorktree | None:
        """What the manifest says of the worktree."""
        w = self.worktree
        if w is None:
            return None
        return ManifestWorktree(path=w.path, branch=w.branch, base_ref=w.base_ref, base_commit=w.base_commit)

    def env(self) -> dict[str, str]:
        """MAESTRO_WORKTREE / _BRANCH / _BASE_REF for a session in a worktree (nothing in place)."""
        w = self.worktree
        if w is None:
            return {}
        return {"MAESTRO_WORKTREE": w.path, "MAESTRO_BRANCH": w.branch, "MAESTRO_BASE_REF": w.base_ref}

    def argv(self, argv: list[str]) -> list[str]:
        """The program to start: the agent's argv, behind the setup command in a fresh worktree."""
        if not (self.fresh and self.setup_command.strip()) or os.name != "posix":
            return argv
        return ["/bin/sh", "-c", _SETUP_SCRIPT, "maestro-setup", *argv]

    def setup_env(self) -> dict[str, str]:
        """The setup command travels in the environment, never spliced into a shell script."""
        return {"MAESTRO_SETUP": self.setup_command} if self.fresh and self.setup_command.strip() else {}


async def plan(project: Project, request: SessionSpawn) -> str:
    """The isolation a spawn asks for (its own, else the project's); refuses contradictions and non-git projects."""
    isolation = request.isolation or ("worktree" if request.worktree_id else project.git.isolation)
    if request.worktree_id and isolation != "worktree":
        raise InvalidInput('worktree_id shares a worktree: it needs isolation "worktree"', {"isolation": isolation})
    if request.base_ref and (isolation != "worktree" or request.worktree_id):
        raise InvalidInput("base_ref applies to a new worktree only", {"base_ref": request.base_ref})
    if isolation == "worktree":
        try:
            await gitflow.repo_root(Path(project.working_dir))  # a clear 400 for a directory that is not a repository
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, {"isolation": isolation, "working_dir": project.working_dir}) from exc
    return isolation


async def place(
    writer: Writer, home: Path, project: Project, request: SessionSpawn, isolation: str, actor: str
) -> Placement:
    """Make (or find) the session's worktree, or run in place."""
    if isolation != "worktree":
        return Placement(cwd=project.working_dir)
    if request.worktree_id is not None:
        try:
            worktree = await get_worktree(request.worktree_id)
        except NotFound as exc:  # an id in a body is input, not the resource addressed: a 400 naming the field
            raise InvalidInput(exc.detail, {"worktree_id": request.worktree_id}) from exc
        check_shareable(worktree, project.id)
        require_checkout(worktree)
        return Placement(cwd=worktree.path, worktree=worktree)
    task_id = request.task_ids[0] if request.task_ids else None
    worktree = await create_worktree(writer, home, project, task_id=task_id, base_ref=request.base_ref, actor=actor)
    return Placement(cwd=worktree.path, worktree=worktree, fresh=True, setup_command=project.git.setup_command)


async def undo(writer: Writer, placement: Placement, actor: str) -> None:
    """A spawn failed after its worktree was made: remove that worktree again (its branch has no work yet)."""
    if placement.fresh and placement.worktree is not None:
        with contextlib.suppress(Exception):
            await worktree_actions.discard(writer, placement.worktree.id, actor, force=True, delete_branch=True)
