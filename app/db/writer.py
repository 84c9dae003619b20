"""The single write path: each change and the events describing it commit in one transaction.

Concurrent writes are grouped: one writer task takes every operation waiting in its queue and runs them in one
transaction (one fsync for the group), then inserts all their events in one statement, commits, and only then
publishes the events and answers the callers. If any operation in a group fails, the group is rolled back and each
operation is retried alone, so one bad request never takes others down. A caller that goes away still gets its
operation wholly applied or wholly absent.

On PostgreSQL every write transaction first takes one advisory lock, so event `seq` values commit in order
across instances (a reader never sees seq 7 before seq 6 exists).

When the database cannot be used (SQLite locked by another writer past the busy timeout, PostgreSQL unreachable)
every operation of the group fails with `Unavailable` (a 503): none is acknowledged, none is retried here, and the
next group simply tries again, so writes resume by themselves once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from app.db.tables import Event
from app.db.unavailable import as_unavailable
from app.errors import Unavailable
from app.models.common import utcnow
from app.models.events import EVENT_VERSION, EventData, EventRecord

T = TypeVar("T")
log = logging.getLogger("maestro.writer")
PG_WRITE_LOCK = 0x6D61_6573  # "maes": one advisory lock for all Maestro writers
MAX_GROUP = 200

Publish = Callable[[list[EventRecord]], Awaitable[None]]


@dataclass
class Tx:
    """Handed to each write operation: who is acting, and where its events go."""

    actor: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, data: EventData, *, project_id: str | None, entity_id: str | None) -> None:
        """Record an event (its type is the data's); it is stored in the same transaction as the change."""
        self.events.append(
            {"type": data.TYPE, "project_id": project_id, "entity_id": entity_id, "data": msgspec.to_builtins(data)}
        )


WriteOp = Callable[[Tx], Awaitable[T]]


@dataclass
class _Job(Generic[T]):
    op: WriteOp[T]
    actor: str
    future: asyncio.Future[T]
    result: Any = None
    tx: Tx | None = None


class Writer:
    """Runs write operations, grouped into transactions, on one background task."""

    def __init__(self, engine: Engine, publish: Publish | None = None) -> None:
        self.engine = engine
        self.publish = publish
        self._queue: asyncio.Queue[_Job[Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._postgres = not isinstance(engine, SQLiteEngine)
        self.unavailable: str | None = None  # why the last write could not reach the database; None once one did

    async def start(self) -> None:
        """Start the writer task (inside the running loop)."""
        self._task = asyncio.create_task(self._run(), name="maestro-writer")

    async def stop(self) -> None:
        """Finish queued work, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def write(self, op: WriteOp[T], actor: str) -> T:
        """Run `op` in a write transaction; returns its result once committed (its events then published)."""
        if self._task is None:
            raise RuntimeError("writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(op, actor, future))
        # shield: a cancelled caller must not cancel a transaction other callers share.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self._commit(group)
            except Exception:  # the writer must survive anything; each job already has its outcome
                log.exception("writer group failed")
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _commit(self, group: list[_Job[Any]]) -> None:
        try:
            records = await self._transaction(group)
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is not None:
                self._note_unavailable(unavailable.detail)
                for job in group:  # alone, each would only wait for the same database again
                    _settle(job.future, exc=Unavailable(unavailable.detail))
                return
            if len(group) == 1:
                _settle(group[0].future, exc=exc)
                return
            for job in group:  # isolate the failing operation(s)
                await self._commit([job])
            return
        if self.unavailable is not None:
            log.info("the database accepts writes again")
            self.unavailable = None
        for job in group:
            _settle(job.future, result=job.result)
        if records and self.publish is not None:
            try:
                await self.publish(records)
            except Exception:  # subscribers can always recover from the log
                log.exception("publishing %d events failed", len(records))

    def _note_unavailable(self, reason: str) -> None:
        """One warning line when writes start failing (no traceback: this is an outage, not a bug)."""
        if self.unavailable is None:
            log.warning("writes are failing: %s", reason)
        self.unavailable = reason

    async def _transaction(self, group: list[_Job[Any]]) -> list[EventRecord]:
        kwargs = {} if self._postgres else {"transaction_type": TransactionType.immediate}
        async with self.engine.transaction(**kwargs):
            if self._postgres:
                await Event.raw(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")
            for job in group:
                job.tx = Tx(actor=job.actor)
                job.result = await job.op(job.tx)
            return await _insert_events(group)


async def _insert_events(group: list[_Job[Any]]) -> list[EventRecord]:
    now = utcnow()
    pending = [(job.tx.actor, e) for job in group if job.tx for e in job.tx.events]
    if not pending:
        return []
    rows = [
        Event(
            v=EVENT_VERSION,
            type=e["type"],
            project_id=e["project_id"],
            entity_id=e["entity_id"],
            data=e["data"],
            actor=actor,
            ts=now,
        )
        for actor, e in pending
    ]
    inserted = await Event.insert(*rows).returning(Event.seq)
    # One statement assigns increasing seqs in row order; sort in case the driver returns them otherwise.
    inserted.sort(key=lambda row: row["seq"])
    return [
        EventRecord(
            seq=row["seq"],
            type=e["type"],
            ts=now,
            project_id=e["project_id"],
            entity_id=e["entity_id"],
            actor=actor,
            data=e["data"],
        )
        for row, (actor, e) in zip(inserted, pending, strict=True)
    ]


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
