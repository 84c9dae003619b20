"""Reading the durable event log (GET /events; the live stream resumes from it)."""

from __future__ import annotations

from typing import Any

from app.db.tables import Event
from app.models.events import EventPage, EventRecord


async def read_events(after: int = 0, project_id: str | None = None, limit: int = 100) -> EventPage:
    """Events with seq > after, oldest first, optionally for one project."""
    query = Event.select().where(Event.seq > after)
    if project_id is not None:
        query = query.where(Event.project_id == project_id)
    rows = await query.order_by(Event.seq).limit(limit).output(load_json=True)
    return EventPage(items=[to_record(r) for r in rows], last_seq=await last_seq())


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
