"""Live-event plumbing for the web app: Litestar channels (memory, or Redis across instances) wake the hub."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

from app.db.writer import Writer
from app.models.events import EventRecord
from app.services.event_stream import EventHub, newest
from app.services.events import prune_events
from app.settings import Settings

log = logging.getLogger("maestro.events")
CHANNEL = "maestro.events"
PRUNE_EVERY_S = 3600


def channels_plugin(settings: Settings) -> ChannelsPlugin:
    """In-memory channels for one process; Redis pub/sub when MAESTRO_REDIS_URL is set (wake-up path only)."""
    if settings.redis_url:
        from redis.asyncio import Redis

        backend = RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))
    else:
        backend = MemoryChannelsBackend()
    # Messages only say "the log grew"; dropping old ones when a backlog forms loses nothing.
    return ChannelsPlugin(
        backend=backend, channels=[CHANNEL], subscriber_max_backlog=64, subscriber_backlog_strategy="dropleft"
    )


def publisher(hub: EventHub, channels: ChannelsPlugin):
    """The writer's after-commit hook: wake the local hub now, and every instance through the channel."""

    async def publish(records: list[EventRecord]) -> None:
        hub.wake()
        channels.publish({"last_seq": newest(records)}, CHANNEL)

    return publish


@contextlib.asynccontextmanager
async def run_live(hub: EventHub, channels: ChannelsPlugin, writer: Writer, settings: Settings) -> AsyncIterator[None]:
    """Start the hub, listen for other instances' commits, and prune by retention; stop them all on exit."""
    await hub.start()
    tasks = [asyncio.create_task(_listen(hub, channels), name="maestro-event-listener")]
    if settings.event_retention_days is not None:
        tasks.append(asyncio.create_task(_prune_forever(writer, settings.event_retention_days), name="maestro-prune"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.stop()


async def _listen(hub: EventHub, channels: ChannelsPlugin) -> None:
    while True:
        try:
            async with channels.start_subscription([CHANNEL]) as subscriber:
                async for _ in subscriber.iter_events():
                    hub.wake()
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis away: the hub's safety poll keeps delivering from the log meanwhile
            log.warning("event channel subscription lost; retrying", exc_info=True)
            await asyncio.sleep(1.0)


async def _prune_forever(writer: Writer, days: float) -> None:
    while True:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        try:
            removed = await prune_events(writer, cutoff)
            if removed:
                log.info("retention removed %d events older than %s", removed, cutoff.isoformat())
        except Exception:
            log.exception("event retention failed")
        await asyncio.sleep(PRUNE_EVERY_S)
