"""Live pages: one event-hub subscription per browser tab; a change refreshes at once, a burst at most every 100 ms."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable

from nicegui import ui

from app.errors import NotFound
from app.models.events import EventRecord
from app.services import events
from app.services.events.hub import EventHub

log = logging.getLogger("maestro.ui")

COALESCE_S = 0.1  # a burst of 200 events causes one refresh, not 200
Refresh = Callable[[list[EventRecord]], Awaitable[None] | None]


def follow(
    hub: EventHub,
    refresh: Refresh,
    *,
    project_id: str | None = None,
    gone: Callable[[EventRecord], bool] | None = None,
) -> None:
    """Call `refresh(events)` (coalesced) whenever events of interest commit, for as long as this tab lives.

    `gone(event)` says an event deleted what the page shows (its project, its task): the page then says so and
    goes home instead of refreshing into an error; a NotFound raised by a refresh is treated the same way.

    The subscription starts once the browser has attached (a fetched but never-opened page keeps nothing alive),
    from the newest event when the page was drawn (so a change made while the browser was still loading the page
    is not lost); a `reset` (retention pruned what we had) refreshes with no events, meaning
    "re-read everything"; a slow-consumer drop resubscribes from the last event seen.
    """
    client = ui.context.client
    task = asyncio.create_task(_follow(client, hub, refresh, events.Filter(project_id=project_id), gone))
    client.on_delete(task.cancel)


async def _follow(
    client: ui.Client, hub: EventHub, refresh: Refresh, flt: events.Filter, gone: Callable[[EventRecord], bool] | None
) -> None:
    # Read before waiting for the browser: pages call follow() after drawing, so nothing between is missed.
    drawn = await events.last_seq()
    try:
        await client.connected(timeout=15)
    except TimeoutError:
        return
    pending: list[EventRecord] = []
    changed = asyncio.Event()

    async def collect() -> None:
        last = drawn
        while True:
            try:
                async for item in hub.subscribe(last, flt):
                    if isinstance(item, events.Reset):
                        last = item.last_seq
                        pending.clear()  # an empty batch means "re-read everything"
                        changed.set()
                    elif isinstance(item, EventRecord):
                        last = item.seq
                        pending.append(item)
                        changed.set()
                return  # the hub stopped: the server is shutting down
            except events.SlowConsumer as exc:
                last = exc.last_seq
                changed.set()

    async def apply() -> None:
        # Leading edge: a lone change refreshes at once; changes during the next COALESCE_S wait and share one.
        loop = asyncio.get_running_loop()
        last_refresh = -COALESCE_S
        while True:
            await changed.wait()
            delay = last_refresh + COALESCE_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            changed.clear()
            batch = pending[:]
            pending.clear()
            last_refresh = loop.time()
            await _refresh_once(client, refresh, batch, gone)

    # Both halves live inside this one task, so deleting the tab (which cancels it) also ends a refresh in flight.
    applier = asyncio.create_task(apply())
    try:
        await collect()
    finally:
        applier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await applier


async def _refresh_once(
    client: ui.Client, refresh: Refresh, batch: list[EventRecord], gone: Callable[[EventRecord], bool] | None
) -> None:
    try:
        with client:
            if gone is not None and any(gone(event) for event in batch):
                _left()
                return
            result = refresh(batch)
            if inspect.isawaitable(result):
                await result
    except NotFound:
        with client:
            _left()
    except Exception:  # a failed refresh must not end the tab's subscription
        log.exception("live refresh failed")


def _left() -> None:
    ui.notify("What this page showed was deleted elsewhere.", type="warning")
    ui.navigate.to("/")
