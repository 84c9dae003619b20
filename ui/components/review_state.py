"""What the review screen last read of its worktree (record, git's state, sessions, task), shared by its sections."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from app.errors import NotFound
from app.models.sessions import Session
from app.models.worktrees import Worktree
from app.services import sessions, tasks
from app.services.worktrees import records
from ui.design import LIVE_SESSION_STATUSES


@dataclass
class Reviewed:
    """One worktree as this tab last read it; `read` refreshes it in place, so every section sees the same."""

    worktree: Worktree
    state: str = "missing"  # what git says now
    sessions: list[Session] = field(default_factory=list)
    task_title: str | None = None  # None: no task, or a deleted one

    @property
    def id(self) -> str:
        """The worktree shown."""
        return self.worktree.id

    async def read(self) -> None:
        """Read the record, git's state, the sessions and the task's title again."""
        self.worktree = await records.get_worktree(self.id)  # NotFound: ui.live says it went away
        self.state = await records.git_state(self.worktree)
        found = []
        for session_id in self.worktree.session_ids:
            with contextlib.suppress(NotFound):
                found.append(await sessions.get_session(session_id))
        self.sessions = found
        self.task_title = None
        if self.worktree.task_id is not None:
            with contextlib.suppress(NotFound):
                self.task_title = (await tasks.get_task(self.worktree.task_id)).title

    @property
    def shown_state(self) -> str:
        """The badge: git's word, or "discarded" for a worktree Maestro removed."""
        return "discarded" if self.worktree.status == "discarded" else self.state

    @property
    def merged(self) -> bool:
        """Merged into its base, by Maestro's record or by git's word."""
        return self.worktree.status == "merged" or self.state == "merged"

    @property
    def live_session(self) -> Session | None:
        """The newest session still running in this worktree (the one comments go to)."""
        live = [s for s in self.sessions if s.status in LIVE_SESSION_STATUSES]
        return live[-1] if live else None
