"""Retention, at start and hourly: events older than MAESTRO_EVENT_RETENTION_DAYS (when set) and idempotency keys
older than a week."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from app.db.writer import Writer
from app.services.events.log import prune_events
from app.services.writes import forget_old_keys

log = logging.getLogger("maestro.events")
PRUNE_EVERY_S = 3600


async def prune_forever(writer: Writer, days: float | None) -> None:
    """Remove events older than `days` (None keeps them; the newest is always kept) and old idempotency keys, now
    and every hour after, until cancelled."""
    while True:
        try:
            if days is not None:
                cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
                removed = await prune_events(writer, cutoff)
                if removed:
                    log.info("retention removed %d events older than %s", removed, cutoff.isoformat())
            await forget_old_keys(writer)
        except Exception:
            log.exception("retention failed")
        await asyncio.sleep(PRUNE_EVERY_S)
