"""The sessions this instance runs: their terminals by session id, typing into them, stopping them, recording
how they end (exit, or a holder lost), and taking them back after a restart.

The database keeps each record (status, exit code, which instance and pid host it); `LiveSessions` keeps the
process (a `Terminal` in the server, or a `HeldTerminal` whose holder process owns the pty), its session token and
the activity monitor (`app.services.sessions.activity`) that moves sessions between running, idle and needs_input.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.db.writer import Writer
from app.errors import Conflict, LimitReached, NotFound
from app.models.common import ENDED_STATUSES
from app.models.sessions import Session
from app.services.sessions import orphans
from app.services.sessions import records as sessions
from app.services.sessions import status as session_status
from app.services.sessions.activity import ActivityMonitor
from app.services.sessions.hosting import AnyTerminal, Hosting
from app.services.sessions.tokens import SessionGrants, adopt_grant
from app.services.timeline import add_entry
from app.terminals import MAX_INPUT
from app.terminals.held import HeldTerminal, HolderGone
from app.terminals.process import kill_session_now, process_start_time

log = logging.getLogger("maestro.sessions")

STOP_GRACE_S = 3.0


@dataclass(kw_only=True)
class LiveSessions:
    """The live sessions of this instance, by session id."""

    writer: Writer
    host: str  # identifies this instance in session records
    grants: SessionGrants
    idle_after_s: float = 30.0
    stall_after_s: float = 600.0
    max_processes: int = 512  # processes in one session; beyond it the session is killed (see activity.py)
    hosting: Hosting = field(default_factory=lambda: Hosting(holders=False, socket_dir=Path()))
    # Terminal | HeldTerminal. Typed Any because routes receive the Runtime through Litestar, whose msgspec
    # validation refuses a field that is a union of two classes.
    _terminals: dict[str, Any] = field(default_factory=dict)
    _slots: set[str] = field(default_factory=set)  # sessions starting or running here: what max_sessions counts
    _started: dict[str, asyncio.Future[None]] = field(default_factory=dict)  # resolved once "running" is written
    _stopping: set[str] = field(default_factory=set)
    _pending: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _monitor: ActivityMonitor = field(init=False)

    def __post_init__(self) -> None:
        self._monitor = ActivityMonitor(
            self.writer, self.idle_after_s, self.max_processes, self._too_many_processes, self.stall_after_s
        )

    def get(self, session_id: str) -> AnyTerminal:
        """The running terminal of a session, or NotFound (an unknown id never creates anything)."""
        terminal = self._terminals.get(session_id)
        if terminal is None:
            raise NotFound(f"session {session_id} has no running terminal here")
        return terminal

    def type_line(self, session_id: str, text: str) -> None:
        """Type `text` and Enter into a session's terminal, as a person at its keyboard would (a reply to an agent).

        NotFound when it has no running terminal here; LimitReached, queueing nothing, when the program left 1 MiB
        of earlier input unread."""
        terminal = self.get(session_id)
        if not terminal.write(text.encode() + b"\r", MAX_INPUT):
            raise LimitReached(
                f"session {session_id} has not read its earlier input yet; try again when it does",
                {"limit": MAX_INPUT},
            )

    async def stop(self, session_id: str, actor: str) -> Session:
        """HUP, TERM, then KILL the session's process group; the session ends as stopped."""
        terminal = self._terminals.get(session_id)
        if terminal is None:
            return await self._stop_stale(session_id, actor)
        self._stopping.add(session_id)
        try:
            await terminal.stop(STOP_GRACE_S)
        except HolderGone:
            pass  # the holder died meanwhile: on_lost ends the session as lost, with the reason
        await self.settled(session_id)
        return await sessions.get_session(session_id)

    async def _stop_stale(self, session_id: str, actor: str) -> Session:
        """Stop a session this instance does not run: 409 if it ended or belongs to another instance; a record of
        this instance left live by an earlier run is ended (its process stopped if it is still the record's own)."""
        current = await sessions.get_session(session_id)  # NotFound for an unknown id
        if current.status in ENDED_STATUSES:
            raise Conflict(f"session {session_id} has already ended ({current.status})", {"status": current.status})
        if session_id in self._slots:
            raise Conflict(f"session {session_id} is still starting; stop it once it runs", {"status": current.status})
        record = await orphans.process_record(session_id)
        if record is None or record.host != self.host:
            raise Conflict(f"session {session_id} is not running on this server instance", {"status": current.status})
        why = f"stopped by {actor}; this server instance did not run it ({orphans.RESTARTED})"
        return await orphans.end_stale(
            self.writer, record, why=why, actor=actor, grace=STOP_GRACE_S, stopped_as="stopped"
        )

    async def stop_all(self) -> None:
        """Server shutdown: stop every session and reap every child."""
        await self._monitor.stop()
        await asyncio.gather(*(self.stop(sid, "maestro") for sid in list(self._terminals)), return_exceptions=True)
        self.hosting.close()

    async def detach_all(self) -> None:
        """Server shutdown leaving the sessions running (`maestro stop --keep-sessions`): let go of each holder.

        Sessions in the server's own process (no holders) cannot outlive it: they are stopped as by stop_all."""
        await self._monitor.stop()
        held = {sid: t for sid, t in self._terminals.items() if isinstance(t, HeldTerminal)}
        await asyncio.gather(*(t.detach() for t in held.values()), return_exceptions=True)
        for sid in held:
            self._terminals.pop(sid, None)
        await asyncio.gather(*(self.stop(sid, "maestro") for sid in list(self._terminals)), return_exceptions=True)
        self.hosting.close()

    async def take_over(self, record: orphans.ProcessRecord) -> str | None:
        """At startup: reattach a live session of this host to its holder (None: it runs on here), or say why not."""
        found = await self.hosting.reattach(
            record.session_id,
            pid=record.pid,
            pid_start_time=record.pid_start_time,
            on_exit=lambda code: self._on_exit(record.session_id, code),
            on_lost=lambda why: self._on_lost(record.session_id, why),
        )
        if isinstance(found, str):
            return found
        self._terminals[record.session_id] = found
        self._slots.add(record.session_id)
        if record.pid is None:  # the server died between starting its program and recording it: record it now
            started = process_start_time(found.pid)
            await session_status.mark_running(
                self.writer, record.session_id, host=self.host, pid=found.pid, pid_start_time=started, actor="maestro"
            )
        self._monitor.watch(record.session_id, found)
        await adopt_grant(self.grants, record.session_id)  # its agent's token keeps working
        return None

    async def until_started(self, session_id: str) -> None:
        """Wait while a session is still being started here (its "running" is not recorded yet)."""
        started = self._started.get(session_id)
        if started is not None:
            await asyncio.shield(started)

    async def settled(self, session_id: str) -> None:
        """Wait until a session's exit has been recorded (status, exit code)."""
        pending = self._pending.get(session_id)
        if pending is not None:
            await pending

    async def _too_many_processes(self, session_id: str, count: int) -> None:
        """The activity monitor counted more processes in a session than allowed: kill it at once (a fork bomb
        grows during any grace period), and say why on its timeline."""
        terminal = self._terminals.get(session_id)
        if terminal is None or session_id in self._stopping:
            return
        self._stopping.add(session_id)
        message = (
            f"stopped: its processes ({count}) exceeded the limit of {self.max_processes} per session "
            "(MAESTRO_SESSION_MAX_PROCESSES); every process in it was killed"
        )
        # In a thread: it rescans /proc until the tree stops growing, which takes a while under a fork bomb.
        await asyncio.to_thread(kill_session_now, terminal.pid)  # the exit watcher reaps; the exit says stopped
        await add_entry(
            self.writer,
            kind="error",
            message=message,
            task_id=None,
            session_id=session_id,
            on="session",
            actor="maestro",
        )

    # ------------------------------------------------------------------------------------------ exit
    def _on_exit(self, session_id: str, code: int) -> None:
        self._pending[session_id] = asyncio.ensure_future(self._record_exit(session_id, code))

    def _on_lost(self, session_id: str, why: str) -> None:
        self._pending[session_id] = asyncio.ensure_future(self._record_lost(session_id, why))

    async def _record_lost(self, session_id: str, why: str) -> None:
        """The holder died under a running program (its process group was killed): the session is lost, and says why."""
        started = self._started.get(session_id)
        if started is not None:
            await started
        self._terminals.pop(session_id, None)
        self._slots.discard(session_id)
        self._monitor.forget(session_id)
        self.grants.revoke(session_id)
        self._stopping.discard(session_id)
        try:
            message = f"lost: its holder process died ({why}); its processes were stopped"
            await orphans.end_with_reason(self.writer, session_id, "lost", message, "maestro")
        except Exception:
            log.exception("recording the loss of session %s failed", session_id)

    async def _record_exit(self, session_id: str, code: int) -> None:
        started = self._started.get(session_id)
        if started is not None:
            await started  # an exit during spawn is recorded after "running", never before
        terminal = self._terminals.pop(session_id, None)
        self._slots.discard(session_id)
        self._monitor.forget(session_id)
        self.grants.revoke(session_id)
        stopped = session_id in self._stopping
        self._stopping.discard(session_id)
        try:
            await session_status.record_exit(self.writer, session_id, code, stopped=stopped)
        except Exception:
            log.exception("recording the exit of session %s failed", session_id)
            return  # the holder keeps the exit status: the next start records it
        if isinstance(terminal, HeldTerminal):
            await terminal.collect()  # recorded: the holder may go
