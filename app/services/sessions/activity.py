"""The activity monitor: keeps `last_activity_at`, moves running sessions between running, idle, needs_input and
stalled, and enforces the per-session process limit.

Stalled means quiet for `stall_after_s` (no output) and no report for as long, with its process alive: an agent
that may be stuck. Its status reason carries the evidence (last output, last report, pid); output moves it back.

One task per instance, one status query a second while it watches any session. Its status writes use
`only_from`, so they never overwrite what an agent or the user set in between.

Why the process limit is counted here: RLIMIT_NPROC counts every process of the user (all sessions, the server,
the user's own shells), so it cannot bound one session; cgroups (pids.max) would, but need a delegated cgroup
tree that a plain user install does not have. Every session runs in its own Unix session, so one pass over /proc
a second (`session_sizes`) counts each session's processes; one over the limit is killed at once (stopped first,
so a fork bomb cannot outrun the kill) and its timeline says why. A program that leaves its session (setsid) is
no longer counted: that is the documented edge of this bound (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.db.writer import Writer
from app.models.common import utcnow
from app.services.sessions import status as session_status
from app.terminals import Terminal
from app.terminals.process import session_sizes

log = logging.getLogger("maestro.sessions")

MONITOR_INTERVAL_S = 1.0
ACTIVITY_WRITE_S = 10.0  # last_activity_at is written at most this often per session


@dataclass
class _Seen:
    """What the monitor remembers about one running session between ticks."""

    terminal: Terminal
    output_seen: float = 0.0  # the terminal's last_output_at when last written to the record
    written_at: float = 0.0
    idle_since: float | None = None
    needs_input_since: float | None = None
    stalled_since: float | None = None


class ActivityMonitor:
    """Watches the terminals it is given until they are forgotten."""

    def __init__(
        self,
        writer: Writer,
        idle_after_s: float,
        max_processes: int,
        on_too_many: Callable[[str, int], Awaitable[None]],
        stall_after_s: float = 600.0,
    ) -> None:
        self.writer = writer
        self.idle_after_s = idle_after_s
        self.stall_after_s = stall_after_s
        self.max_processes = max_processes
        self.on_too_many = on_too_many  # called with the session id and its process count
        self._seen: dict[str, _Seen] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, session_id: str, terminal: Terminal, *, since: float | None = None) -> None:
        """Start watching a session's terminal (the monitor task starts with the first one); output after `since`
        (monotonic; default: now) counts as new activity — a holder may have printed while it was starting."""
        seen = terminal.last_output_at if since is None else min(since, terminal.last_output_at)
        self._seen[session_id] = _Seen(terminal, output_seen=seen)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="session-activity")

    def forget(self, session_id: str) -> None:
        """The session ended: stop watching it."""
        self._seen.pop(session_id, None)

    async def stop(self) -> None:
        """Stop the monitor task (server shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self._seen:
            await asyncio.sleep(MONITOR_INTERVAL_S)
            try:
                await self._tick()
            except Exception:
                log.exception("session activity check failed")

    async def _tick(self) -> None:
        await self._check_sizes()
        statuses = await session_status.live_statuses(list(self._seen))
        now = time.monotonic()
        for session_id, seen in list(self._seen.items()):
            status, last_report = statuses.get(session_id, (None, None))
            terminal = seen.terminal
            if status is None or terminal.finished or session_id not in self._seen:
                continue
            printed = terminal.last_output_at > seen.output_seen
            quiet = now - terminal.last_output_at >= self.idle_after_s
            if printed and (now - seen.written_at >= ACTIVITY_WRITE_S or quiet):  # exact once it goes quiet
                seen.output_seen, seen.written_at = terminal.last_output_at, now
                at = utcnow() - dt.timedelta(seconds=now - terminal.last_output_at)
                await session_status.touch_activity(self.writer, session_id, at)
            await self._transition(session_id, seen, status, now)
            await self._stall(session_id, seen, status, last_report, now)

    async def _check_sizes(self) -> None:
        sizes = await asyncio.to_thread(session_sizes)  # reads every /proc/<pid>/stat: not on the loop
        for session_id, seen in list(self._seen.items()):
            count = sizes.get(seen.terminal.pid, 0)  # the leader's pid is its session's id
            if count > self.max_processes and not seen.terminal.finished:
                await self.on_too_many(session_id, count)

    async def _transition(self, session_id: str, seen: _Seen, status: str, now: float) -> None:
        terminal = seen.terminal
        if status != "needs_input":
            seen.needs_input_since = None
        if status == "running" and now - terminal.last_output_at >= self.idle_after_s:
            seen.idle_since = now
            await self._move(session_id, "running", "idle", f"no output for {_span(self.idle_after_s)}")
        elif status == "idle" and terminal.last_output_at > (seen.idle_since or 0.0):
            await self._move(session_id, "idle", "running", "it printed again")
        elif status == "needs_input":
            if seen.needs_input_since is None:
                seen.needs_input_since = now
            elif terminal.last_input_at > seen.needs_input_since:  # the user answered in the terminal
                seen.needs_input_since = None
                await self._move(session_id, "needs_input", "running", "you answered in its terminal")

    async def _stall(
        self, session_id: str, seen: _Seen, status: str, last_report: dt.datetime | None, now: float
    ) -> None:
        """Quiet and unreported for stall_after_s: stalled, with the evidence; output again: running."""
        terminal = seen.terminal
        if status == "stalled":
            if terminal.last_output_at > (seen.stalled_since or 0.0):
                seen.stalled_since = None
                await self._move(session_id, "stalled", "running", "it printed again after being stalled")
            return
        quiet_s = now - terminal.last_output_at
        if status not in ("running", "idle") or quiet_s < self.stall_after_s:
            return
        wall = utcnow()
        if last_report is not None and (wall - last_report).total_seconds() < self.stall_after_s:
            return
        last_output = wall - dt.timedelta(seconds=quiet_s)
        reported = f"no report since {_clock(last_report)}" if last_report else "no report yet"
        why = (
            f"stalled: no output for {_span(quiet_s)} (last at {_clock(last_output)}), {reported}, "
            f"process alive (pid {terminal.pid})"
        )
        seen.stalled_since = now
        await self._move(session_id, status, "stalled", why)

    async def _move(self, session_id: str, old: str, new: str, why: str) -> None:
        await session_status.set_status(self.writer, session_id, new, "maestro", only_from=(old,), why=why)


def _clock(at: dt.datetime) -> str:
    """A time of day in UTC, as evidence reads it."""
    return at.astimezone(dt.UTC).strftime("%H:%M:%S UTC")


def _span(seconds: float) -> str:
    """A duration in the largest whole unit that fits."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds)} s"
