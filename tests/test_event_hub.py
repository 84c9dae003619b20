"""The per-process hub in isolation: bounded queues, seam de-duplication, and a clean end on stop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from app.db.engine import close_database, open_database
from app.db.writer import Tx, Writer
from app.models.events import EventData
from app.services.events.hub import EventHub, Filter, SlowConsumer
from app.settings import Settings


@pytest.fixture
async def parts(tmp_path: Path):
    db = await open_database(Settings(home=tmp_path / "home"))
    hub = EventHub(queue_limit=5)

    async def publish(records):
        hub.wake()

    writer = Writer(db.engine, publish)
    await writer.start()
    await hub.start()
    yield hub, writer
    await hub.stop()
    await writer.stop()
    await close_database(db)


class NoteAdded(EventData, kw_only=True):
    TYPE: ClassVar[str] = "note.added"
    n: int


async def emit(writer: Writer, n: int) -> None:
    async def op(tx: Tx) -> None:
        tx.emit(NoteAdded(n=n), project_id=None, entity_id=None)

    await writer.write(op, "api")


async def test_a_stalled_subscriber_overflows_into_slow_consumer(parts):
    hub, writer = parts
    stream = hub.subscribe(0, Filter())
    for n in range(3):
        await emit(writer, n)
    first = await anext(stream)  # replays seq 1; now attached and not reading
    assert first.seq == 1
    for n in range(3, 20):
        await emit(writer, n)
    await asyncio.sleep(0.2)
    seen = [first.seq]
    with pytest.raises(SlowConsumer) as slow:
        async for event in stream:
            seen.append(event.seq)
    assert seen == list(range(1, len(seen) + 1))  # what it did get: in order, no gap, no duplicate
    assert slow.value.last_seq == seen[-1]
    assert hub.subscriber_count == 0  # detached: its memory is released


async def test_stopping_the_hub_ends_subscriptions(parts):
    hub, writer = parts
    await emit(writer, 1)
    stream = hub.subscribe(0, Filter())
    assert (await anext(stream)).seq == 1
    waiter = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.05)
    await hub.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 2)
