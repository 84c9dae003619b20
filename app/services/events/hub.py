"""Live events: one hub per process turns commit notifications into an ordered stream read from the event log.

Why the hub reads the log instead of forwarding what was published: with several instances (or PostgreSQL's
sequence gaps) notifications may arrive out of order or not at all, but the events table is the source of truth.
On every wake-up (a local commit, a Redis message, or the periodic safety poll) the hub reads the events after the
last seq it delivered, once for the whole process, and fans them out in seq order to bounded subscriber queues.

A subscription first registers with the hub, then replays stored events with seq > after, then drains its live
queue skipping what replay already sent: no gap and no duplicate at the seam, whatever the timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.models.events import EventRecord
from app.services.events import log as event_log

log = logging.getLogger("maestro.events")

REPLAY_PAGE = 500
_END: Any = object()  # put in subscriber queues when the hub stops
SAFETY_POLL_S = 2.0  # catches a lost wake-up (e.g. Redis restarted); the log is authoritative


class SlowConsumer(Exception):
    """A subscriber's queue overflowed: it must reconnect and resume from its last seq."""

    def __init__(self, last_seq: int) -> None:
        super().__init__(f"consumer too slow; resume with after={last_seq}")
        self.last_seq = last_seq


@dataclass(frozen=True)
class Filter:
    """Which events a subscriber wants: one project and/or type prefixes (`task.` or `task.created`)."""

    project_id: str | None = None
    type_prefixes: tuple[str, ...] = ()

    def matches(self, event: EventRecord) -> bool:
        """True if the event passes both filters."""
        if self.project_id is not None and event.project_id != self.project_id:
            return False
        return not self.type_prefixes or event.type.startswith(self.type_prefixes)


@dataclass(eq=False)  # identity semantics: subscribers live in a set
class _Subscriber:
    queue: asyncio.Queue[EventRecord]
    overflowed: bool = False


@dataclass
class Reset:
    """The log cannot continue from the requested `after`: the client must refetch state, then go on from last_seq.

    `reason` is "pruned" (`after` is older than the retained log) or "ahead" (`after` is beyond the newest event:
    the client's seq came from another database, e.g. before a restore).
    """

    last_seq: int
    pruned_through: int
    reason: str = "pruned"


@dataclass
class Heartbeat:
    """Nothing happened for a while; `last_seq` is the newest seq this subscriber has passed."""

    last_seq: int


@dataclass
class EventHub:
    """Per-process fan-out of committed events to local subscribers, in seq order."""

    queue_limit: int = 2048
    last_seq: int = 0
    _subscribers: set[_Subscriber] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading the log after its current end."""
        self.last_seq = await event_log.last_seq()
        self._task = asyncio.create_task(self._run(), name="maestro-event-hub")

    async def stop(self) -> None:
        """Stop the reader task and end every subscription (their iterators finish)."""
        for subscriber in self._subscribers:
            try:
                subscriber.queue.put_nowait(_END)
            except asyncio.QueueFull:
                subscriber.overflowed = True  # it drains, then ends with SlowConsumer: resume elsewhere
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Something was committed (here or on another instance): read the log soon."""
        self._wake.set()

    @property
    def subscriber_count(self) -> int:
        """How many local subscribers are attached."""
        return len(self._subscribers)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SAFETY_POLL_S)
            self._wake.clear()
            try:
                await self._deliver_new()
            except Exception:  # a database hiccup must not kill live delivery; the next wake-up retries
                log.exception("reading new events failed")
                await asyncio.sleep(0.5)

    async def _deliver_new(self) -> None:
        while True:
            page = await event_log.read_events(after=self.last_seq, limit=REPLAY_PAGE)
            for event in page.items:
                self._fan_out(event)
                self.last_seq = event.seq
            if len(page.items) < REPLAY_PAGE:
                return

    def _fan_out(self, event: EventRecord) -> None:
        for subscriber in self._subscribers:
            if subscriber.overflowed:
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True  # memory stays bounded; the consumer is told to resume

    @contextlib.asynccontextmanager
    async def _attached(self) -> AsyncIterator[_Subscriber]:
        subscriber = _Subscriber(asyncio.Queue(self.queue_limit))
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def subscribe(
        self, after: int, flt: Filter, heartbeat_s: float | None = None
    ) -> AsyncIterator[EventRecord | Reset | Heartbeat]:
        """Stored events with seq > after, then live ones, each exactly once and in order.

        Yields a Reset first when `after` predates the retained log or lies beyond its newest event (otherwise the
        events numbered up to `after` would be skipped in silence), a Heartbeat after `heartbeat_s` of silence.
        Raises SlowConsumer on overflow.
        """
        async with self._attached() as subscriber:
            pruned_through = await event_log.pruned_through()
            # Read after attaching: anything committed later reaches the live queue, so nothing falls in between.
            current = await event_log.last_seq()
            if after < pruned_through or after > current:
                reason = "pruned" if after < pruned_through else "ahead"
                yield Reset(last_seq=current, pruned_through=pruned_through, reason=reason)
                after = current
            last = after
            async for event in _replay(after, flt):
                last = event.seq
                yield event
            while True:
                if subscriber.overflowed and subscriber.queue.empty():
                    raise SlowConsumer(last)
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), heartbeat_s)
                except TimeoutError:
                    yield Heartbeat(last_seq=last)
                    continue
                if event is _END:
                    return
                if event.seq <= last:
                    continue  # already sent by the replay
                last = event.seq
                if flt.matches(event):
                    yield event


async def _replay(after: int, flt: Filter) -> AsyncIterator[EventRecord]:
    while True:
        page = await event_log.read_events(after=after, project_id=flt.project_id, limit=REPLAY_PAGE)
        for event in page.items:
            after = event.seq
            if flt.matches(event):
                yield event
        if len(page.items) < REPLAY_PAGE:
            return


def parse_types(raw: str | None) -> tuple[str, ...]:
    """`task.,session.status_changed` -> ("task.", "session.status_changed")."""
    return tuple(p.strip() for p in (raw or "").split(",") if p.strip())


def newest(records: Sequence[EventRecord]) -> int:
    """The highest seq in a batch of committed records."""
    return max(r.seq for r in records)
