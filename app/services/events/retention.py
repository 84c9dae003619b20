"""Event retention: with MAESTRO_EVENT_RETENTION_DAYS set, events older than that are pruned at start and hourly."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from app.db.writer import Writer
from app.services.events.log import prune_events

log = logging.getLogger("maestro.events")
PRUNE_EVERY_S = 3600


async def prune_forever(writer: Writer, days: float) -> None:
    """Remove events older than `days` now and every hour after, until cancelled (the newest is always kept)."""
    while True:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        try:
            removed = await prune_events(writer, cutoff)
            if removed:
                log.info("retention removed %d events older than %s", removed, cutoff.isoformat())
        except Exception:
            log.exception("event retention failed")
        await asyncio.sleep(PRUNE_EVERY_S)
