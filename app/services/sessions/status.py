"""Session status and process bookkeeping: renames and status changes, start, exits, activity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import msgspec

from app.db.tables import Session as SessionRow
from app.db.writer import Tx, Writer
from app.errors import Conflict
from app.models.common import ENDED_STATUSES, utcnow
from app.models.events import SessionStatusChanged, SessionUpdated
from app.models.runs import StateReason
from app.models.sessions import Session, SessionUpdate
from app.services.sessions.endings import session_ended_in
from app.services.sessions.records import get_session
from app.services.writes import state_reason, stored

_EVENT = "session.status_changed"

# The process columns of a record whose process has ended: no instance, no pid.
PROCESS_CLEARED: dict[str, Any] = {"host": "", "pid": None, "pid_start_time": None}


async def update_session(writer: Writer, session_id: str, body: SessionUpdate, actor: str) -> Session:
    """Rename and/or change status; a terminal session cannot return to a live status (409)."""
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}
    if "name" in changes:
        changes["name"] = changes["name"].strip()

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        renamed = "name" in changes and changes["name"] != current.name
        old_status = current.status
        new_status = changes.get("status", old_status)
        if not renamed and new_status == old_status:
            return current
        now = utcnow()
        update: dict[str, Any] = {"updated_at": now}
        if renamed:
            update["name"] = changes["name"]
        if new_status != old_status:
            why = f"set to {new_status} by {tx.actor}"
            update.update(_status_update(current, new_status, now, state_reason(tx, why, _EVENT, now)))
        await SessionRow.update(_stored(update)).where(SessionRow.id == session_id)
        session = msgspec.structs.replace(current, **update)
        if renamed:
            tx.emit(
                SessionUpdated(session=session, changed=["name"]), project_id=session.project_id, entity_id=session_id
            )
        if new_status != old_status:
            changed = SessionStatusChanged(session=session, from_=old_status, to=new_status)
            tx.emit(changed, project_id=session.project_id, entity_id=session_id)
            if new_status in ENDED_STATUSES:
                await session_ended_in(tx, session)
        return session

    return await writer.write(op, actor)


async def set_status(
    writer: Writer,
    session_id: str,
    status: str,
    actor: str,
    *,
    only_from: Collection[str] | None = None,
    why: str | None = None,
) -> Session:
    """Move a session to `status` for the reason `why`; emits session.status_changed.

    With `only_from`, nothing changes unless the session is in one of those statuses when the write runs (so a
    background transition never overwrites what an agent or the user just set).
    """

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        if only_from is not None and current.status not in only_from:
            return current
        return await change_status_in(tx, current, status, why)

    return await writer.write(op, actor)


async def change_status_in(tx: Tx, current: Session, status: str, why: str | None = None) -> Session:
    """Inside a write op: move a session to `status` under the status rules, recording why (default: who set it);
    emits session.status_changed."""
    if current.status == status:
        return current
    now = utcnow()
    reason = state_reason(tx, why or f"set to {status} by {tx.actor}", _EVENT, now)
    update: dict[str, Any] = {"updated_at": now, **_status_update(current, status, now, reason)}
    await SessionRow.update(_stored(update)).where(SessionRow.id == current.id)
    session = msgspec.structs.replace(current, **update)
    changed = SessionStatusChanged(session=session, from_=current.status, to=status)
    tx.emit(changed, project_id=session.project_id, entity_id=session.id)
    if status in ENDED_STATUSES:
        await session_ended_in(tx, session)
    return session


async def record_exit(writer: Writer, session_id: str, exit_code: int, *, stopped: bool) -> Session:
    """The process ended: completed (exit 0), failed or stopped, unless the session already ended (an agent
    reported completion, say), which then keeps its status and gains the exit code. Clears the process fields."""

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        now = utcnow()
        update: dict[str, Any] = {"updated_at": now, "exit_code": exit_code, **PROCESS_CLEARED}
        if current.status in ENDED_STATUSES:
            status = current.status
        else:
            status = "stopped" if stopped else ("completed" if exit_code == 0 else "failed")
            why = "stopped" if stopped else f"its program exited with code {exit_code}"
            update.update(_status_update(current, status, now, state_reason(tx, why, _EVENT, now)))
        await SessionRow.update(_stored(update)).where(SessionRow.id == session_id)
        for column in PROCESS_CLEARED:
            del update[column]
        session = msgspec.structs.replace(current, **update)
        if status != current.status:
            changed = SessionStatusChanged(session=session, from_=current.status, to=status)
            tx.emit(changed, project_id=session.project_id, entity_id=session_id)
            await session_ended_in(tx, session)
        else:
            updated = SessionUpdated(session=session, changed=["exit_code"])
            tx.emit(updated, project_id=session.project_id, entity_id=session_id)
        return session

    return await writer.write(op, "maestro")


async def touch_activity(writer: Writer, session_id: str, at: dt.datetime) -> None:
    """Record when a session last printed (no event: it changes constantly; status changes carry events)."""

    async def op(tx: Tx) -> None:
        await SessionRow.update({SessionRow.last_activity_at: at}).where(SessionRow.id == session_id)

    await writer.write(op, "maestro")


async def mark_running(
    writer: Writer, session_id: str, *, host: str, pid: int, pid_start_time: int | None, actor: str
) -> Session:
    """The program started: record which instance and process run it and move it from spawning to running, in one
    write. A record that left spawning meanwhile (its exit already recorded, say) keeps its status."""

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        if current.status != "spawning":
            return current
        process = {SessionRow.host: host, SessionRow.pid: pid, SessionRow.pid_start_time: pid_start_time}
        await SessionRow.update(process).where(SessionRow.id == session_id)
        return await change_status_in(tx, current, "running", f"its program started (pid {pid})")

    return await writer.write(op, actor)


async def live_statuses(session_ids: Collection[str]) -> dict[str, tuple[str, dt.datetime | None]]:
    """The current status and last report time of each of these sessions (for the activity monitor)."""
    if not session_ids:
        return {}
    columns = (SessionRow.id, SessionRow.status, SessionRow.last_report_at)
    rows = await SessionRow.select(*columns).where(SessionRow.id.is_in(list(session_ids)))
    return {r["id"]: (r["status"], r["last_report_at"]) for r in rows}


def _status_update(current: Session, new_status: str, now: dt.datetime, reason: StateReason) -> dict[str, Any]:
    """The columns a status change sets: its reason, started_at on first entering running, ended_at on ending."""
    if current.status in ENDED_STATUSES and new_status not in ENDED_STATUSES:
        raise Conflict(
            f"session {current.id} has ended ({current.status}); it cannot become {new_status} again",
            {"from": current.status, "to": new_status},
        )
    update: dict[str, Any] = {"status": new_status, "status_reason": reason}
    if new_status == "running" and current.started_at is None:
        update["started_at"] = now
    # Moving between terminal statuses corrects how it ended, not when: ended_at is kept.
    if new_status in ENDED_STATUSES and current.ended_at is None:
        update["ended_at"] = now
    return update


def _stored(update: dict[str, Any]) -> dict[str, Any]:
    """The columns to write: an ending session's token digest is cleared in the same transaction (revocation)."""
    columns = dict(update)
    if "status_reason" in columns:
        columns["status_reason"] = stored(columns["status_reason"])
    if update.get("status") in ENDED_STATUSES:
        columns["token_digest"] = None
    return columns
