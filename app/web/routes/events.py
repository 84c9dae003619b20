"""GET /api/v1/events: the durable event log, read by seq."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from app.ids import id_pattern
from app.models.events import EventPage
from app.services import events


@get("/events", tags=["events"], summary="Read the event log")
async def read_events(
    after: Annotated[int, QueryParameter(ge=0, le=2**63 - 1, description="Only events with a greater seq")] = 0,
    project_id: Annotated[
        str | None, QueryParameter(pattern=id_pattern("prj"), description="Only this project's events")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000, description="At most this many events")] = 100,
) -> EventPage:
    """Committed events with seq > after, oldest first; page by passing the last seq seen as `after`."""
    return await events.read_events(after=after, project_id=project_id, limit=limit)


ROUTES = [read_events]
