"""Reading the durable event log (GET /events; the live stream resumes from it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.db.tables import Event, EventLogState
from app.db.writer import Tx, Writer
from app.models.events import EventPage, EventRecord


async def read_events(after: int = 0, project_id: str | None = None, limit: int = 100) -> EventPage:
    """Events with seq > after, oldest first, optionally for one project."""
    query = Event.select().where(Event.seq > after)
    if project_id is not None:
        query = query.where(Event.project_id == project_id)
    rows = await query.order_by(Event.seq).limit(limit).output(load_json=True)
    return EventPage(items=[to_record(r) for r in rows], last_seq=await last_seq())


async def recent_events(project_id: str | None = None, limit: int = 20) -> list[EventRecord]:
    """The newest events, newest first, optionally of one project (an overview's "recent activity")."""
    query = Event.select()
    if project_id is not None:
        query = query.where(Event.project_id == project_id)
    rows = await query.order_by(Event.seq, ascending=False).limit(max(1, min(limit, 200))).output(load_json=True)
    return [to_record(r) for r in rows]


async def last_seq() -> int:
    """The newest seq in the log (0 when empty)."""
    row = await Event.select(Event.seq).order_by(Event.seq, ascending=False).first()
    return row["seq"] if row else 0


def to_record(row: dict[str, Any]) -> EventRecord:
    """A table row as the public envelope."""
    return EventRecord(
        v=row["v"],
        seq=row["seq"],
        type=row["type"],
        ts=row["ts"],
        project_id=row["project_id"],
        entity_id=row["entity_id"],
        actor=row["actor"],
        data=row["data"],
    )


async def pruned_through() -> int:
    """The highest seq removed by retention (0 when nothing was ever removed)."""
    row = await EventLogState.select(EventLogState.pruned_through).first()
    return row["pruned_through"] if row else 0


async def prune_events(writer: Writer, older_than: dt.datetime) -> int:
    """Delete events older than `older_than`, always keeping the newest one (seqs never restart); returns count."""

    async def op(tx: Tx) -> int:
        newest = await last_seq()
        doomed = (
            await Event.select(Event.seq)
            .where((Event.ts < older_than) & (Event.seq < newest))
            .order_by(Event.seq, ascending=False)
            .first()
        )
        if doomed is None:
            return 0
        through = doomed["seq"]
        count = await Event.count().where(Event.seq <= through)
        await Event.delete().where(Event.seq <= through)
        if await EventLogState.exists().where(EventLogState.id == 1):
            await EventLogState.update({EventLogState.pruned_through: through}).where(EventLogState.id == 1)
        else:
            await EventLogState.insert(EventLogState(id=1, pruned_through=through))
        return count

    return await writer.write(op, "maestro")
