"""The durable event log: every committed change, in `seq` order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

EVENT_VERSION = 1


class EventRecord(msgspec.Struct, kw_only=True):
    """One committed change (the envelope streamed to clients)."""

    v: int = EVENT_VERSION
    seq: int
    type: str
    ts: dt.datetime
    project_id: str | None
    entity_id: str | None
    actor: str
    data: dict[str, Any]


class EventPage(msgspec.Struct, kw_only=True):
    """GET /events: events with seq > after, oldest first; `last_seq` is the newest seq in the log."""

    items: list[EventRecord]
    last_seq: int
