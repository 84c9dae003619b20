"""Stale sessions: records of this instance that say live although this process does not run them.

A server that crashed (or was killed with -9) leaves its records saying `running`, and may leave their programs
running too (one that ignores SIGHUP survives the pty's hang-up). A record's process is identified by its pid AND
its start time (`pid_start_time`, from /proc): pids are reused, so a live pid alone may be an unrelated process,
which is never signalled. A process that is still the record's own is stopped as a group (HUP, TERM, KILL); the
record then ends, with a timeline entry saying what was found and done.

Only the recorded process and its group and session are signalled. Processes left in the session after its leader
died are not: once the leader is gone, nothing proves a process with that session id is ours (a daemon that
reused the pid and called setsid looks the same), so they are left alone rather than risk killing a stranger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.db.tables import Session as SessionRow
from app.db.writer import Tx, Writer
from app.home import pid_alive
from app.models.common import ENDED_STATUSES, SESSION_STATUSES
from app.models.sessions import Session
from app.services.sessions.records import get_session
from app.services.sessions.status import PROCESS_CLEARED, change_status_in
from app.services.timeline import insert_entry
from app.terminals.process import same_process, stop_session_group

TakeOver = Callable[["ProcessRecord"], Awaitable[str | None]]
LIVE_STATUSES = tuple(s for s in SESSION_STATUSES if s not in ENDED_STATUSES)
RESTARTED = "server restarted while it ran"


@dataclass(frozen=True)
class ProcessRecord:
    """Where a session's record says its process runs."""

    session_id: str
    host: str
    pid: int | None
    pid_start_time: int | None


async def process_record(session_id: str) -> ProcessRecord | None:
    """The process columns of one session record (None for an unknown id)."""
    row = (
        await SessionRow.select(SessionRow.host, SessionRow.pid, SessionRow.pid_start_time)
        .where(SessionRow.id == session_id)
        .first()
    )
    return None if row is None else ProcessRecord(session_id, row["host"], row["pid"], row["pid_start_time"])


async def recover_orphans(writer: Writer, host: str, *, grace: float, take_over: TakeOver | None = None) -> int:
    """At startup, before this instance runs anything: every record of `host` still marked live is taken over
    (`take_over` reattaches it to its holder and answers None) or ended as `lost`, its process group stopped
    first if it is still that record's process. The number of records ended."""
    rows = await SessionRow.select(SessionRow.id, SessionRow.host, SessionRow.pid, SessionRow.pid_start_time).where(
        SessionRow.status.is_in(list(LIVE_STATUSES)) & (SessionRow.host == host)
    )
    records = [ProcessRecord(r["id"], r["host"], r["pid"], r["pid_start_time"]) for r in rows]

    async def recover(record: ProcessRecord) -> bool:
        why = RESTARTED
        if take_over is not None:
            refusal = await take_over(record)
            if refusal is None:
                return False
            why = f"{RESTARTED}; {refusal}"
        await end_stale(writer, record, why=why, actor="maestro", grace=grace)
        return True

    # Concurrently: each stop may take the whole grace period, and startup waits for all of them.
    ended = await asyncio.gather(*(recover(r) for r in records))
    return sum(ended)


async def end_stale(
    writer: Writer, record: ProcessRecord, *, why: str, actor: str, grace: float, stopped_as: str = "lost"
) -> Session:
    """End a live record no runner of this instance owns: stop its process if it is still the record's own (the
    session then ends as `stopped_as`), otherwise it ends `lost`. The reason, `why` plus what happened to the
    process, goes on the session's timeline."""
    pid = record.pid
    stopped = False
    if pid is None:
        outcome = "it had no process yet"
    elif same_process(pid, record.pid_start_time):
        stopped = await stop_session_group(pid, grace)
        outcome = f"its process (pid {pid}) was stopped" if stopped else f"its process (pid {pid}) could not be stopped"
    elif record.pid_start_time is None and pid_alive(pid):
        # Recorded before start times were (or where /proc is missing): the pid may name a stranger by now.
        outcome = (
            f"its process (pid {pid}) had no recorded start time, so it could not be told apart from another "
            "process that reused the pid, and was left alone"
        )
    else:
        outcome = f"its process (pid {pid}) had already ended"
    status = stopped_as if stopped else "lost"
    return await end_with_reason(writer, record.session_id, status, f"{why}; {outcome}", actor)


async def end_with_reason(writer: Writer, session_id: str, status: str, message: str, actor: str) -> Session:
    """End a live session as `status` (its process fields cleared) and say why on its timeline; a session that
    ended meanwhile (an agent's report, say) keeps that truth."""

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        if current.status in ENDED_STATUSES:
            return current
        await SessionRow.update(dict(PROCESS_CLEARED)).where(SessionRow.id == session_id)
        session = await change_status_in(tx, current, status)
        kind = "error" if status == "lost" else "note"
        await insert_entry(
            tx, project_id=session.project_id, kind=kind, message=message, task_id=None, session_id=session.id
        )
        return session

    return await writer.write(op, actor)
