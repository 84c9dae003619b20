"""Waking the event hub across instances: Litestar channels (in memory, or Redis pub/sub) carry "the log grew"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

from app.models.events import EventRecord
from app.services.events.hub import EventHub, newest
from app.settings import Settings

log = logging.getLogger("maestro.events")
CHANNEL = "maestro.events"


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


def wake_other_instances(channels: ChannelsPlugin):
    """The runtime's after-commit hook: tell every instance (this one included) that the log grew."""

    async def publish(records: list[EventRecord]) -> None:
        channels.publish({"last_seq": newest(records)}, CHANNEL)

    return publish


@contextlib.asynccontextmanager
async def follow_other_instances(hub: EventHub, channels: ChannelsPlugin) -> AsyncIterator[None]:
    """Wake the hub whenever any instance commits, until the context ends."""
    listener = asyncio.create_task(_listen(hub, channels), name="maestro-event-listener")
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


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
