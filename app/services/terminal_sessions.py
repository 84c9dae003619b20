"""Running sessions: spawn a program in a pty for a session record, watch it exit, stop it, find it again.

One `TerminalRegistry` per server instance holds the live `Terminal`s by session id. The database keeps the
record (status, exit code, which instance and pid host it); the registry keeps the process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from app.db.writer import Writer
from app.errors import InvalidInput, NotFound
from app.models.sessions import Session
from app.services import sessions
from app.services.projects import get_project
from app.services.terminals import ProgramNotFoundError, Terminal

log = logging.getLogger("maestro.sessions")

STOP_GRACE_S = 3.0


def spawn_source_of(actor: str) -> str:
    """Where a spawn came from: the user's own clients by name, anything else is another session."""
    return actor if actor in ("ui", "cli", "api") else "session"


@dataclass
class TerminalRegistry:
    """The processes this instance runs, by session id."""

    writer: Writer
    home: Path
    host: str  # identifies this instance in session records
    base_env: dict[str, str]  # the environment children start from (never containing the user's token)
    api_url: str
    shell: str
    _terminals: dict[str, Terminal] = field(default_factory=dict)
    _stopping: set[str] = field(default_factory=set)
    _pending: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    def get(self, session_id: str) -> Terminal:
        """The running terminal of a session, or NotFound (an unknown id never creates anything)."""
        terminal = self._terminals.get(session_id)
        if terminal is None:
            raise NotFound(f"session {session_id} has no running terminal here")
        return terminal

    async def spawn_shell(self, *, project_id: str, name: str, cols: int, rows: int, actor: str) -> Session:
        """Start the user's shell in the project's working directory, as a new session (status running)."""
        project = await get_project(project_id)
        argv = [self.shell]
        record = await sessions.create_session_record(
            self.writer,
            project_id=project_id,
            name=name or "shell",
            profile="shell",
            command=argv,
            cwd=project.working_dir,
            spawn_source=spawn_source_of(actor),
            actor=actor,
        )
        env = {
            **self.base_env,
            "MAESTRO_SESSION_ID": record.id,
            "MAESTRO_PROJECT_ID": project_id,
            "MAESTRO_TASK_IDS": "",
            "MAESTRO_API_URL": self.api_url,
        }
        folder = self.home / "sessions" / record.id
        folder.mkdir(parents=True, exist_ok=True)
        try:
            terminal = Terminal.spawn(
                argv,
                cwd=project.working_dir,
                env=env,
                cols=cols,
                rows=rows,
                recording_path=folder / "recording.cast",
                on_exit=lambda code: self._on_exit(record.id, code),
            )
        except (ProgramNotFoundError, NotADirectoryError) as exc:
            await sessions.set_status(self.writer, record.id, "failed", actor)
            raise InvalidInput(
                f"cannot start session: {exc.strerror}: {exc.filename}",
                {"program": argv[0], "cwd": project.working_dir},
            ) from exc
        self._terminals[record.id] = terminal
        await sessions.set_process(self.writer, record.id, self.host, terminal.pid)
        return await sessions.set_status(self.writer, record.id, "running", actor)

    async def stop(self, session_id: str, actor: str) -> Session:
        """HUP, TERM, then KILL the session's process group; the session ends as stopped."""
        terminal = self.get(session_id)
        self._stopping.add(session_id)
        code = await terminal.stop(STOP_GRACE_S)
        await self.settled(session_id)
        current = await sessions.get_session(session_id)
        if current.status not in ("completed", "failed", "stopped", "lost"):
            return await sessions.set_status(self.writer, session_id, "stopped", actor, exit_code=code)
        return current

    async def stop_all(self) -> None:
        """Server shutdown: stop every session and reap every child."""
        await asyncio.gather(*(self.stop(sid, "maestro") for sid in list(self._terminals)), return_exceptions=True)

    def _on_exit(self, session_id: str, code: int) -> None:
        self._pending[session_id] = asyncio.ensure_future(self._record_exit(session_id, code))

    async def _record_exit(self, session_id: str, code: int) -> None:
        self._terminals.pop(session_id, None)
        status = "stopped" if session_id in self._stopping else ("completed" if code == 0 else "failed")
        self._stopping.discard(session_id)
        try:
            await sessions.set_status(self.writer, session_id, status, "maestro", exit_code=code)
            await sessions.set_process(self.writer, session_id, "", None)
        except Exception:
            log.exception("recording the exit of session %s failed", session_id)

    async def settled(self, session_id: str) -> None:
        """Wait until a session's exit has been recorded (status, exit code)."""
        pending = self._pending.get(session_id)
        if pending is not None:
            await pending
