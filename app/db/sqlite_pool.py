"""A Piccolo SQLite engine that reuses a few connections for queries outside transactions.

Piccolo's SQLiteEngine opens a new aiosqlite connection (and thread) for every query and re-sends
`PRAGMA foreign_keys` before every query inside a transaction. Measured here that made a one-row GET cost ~2 ms;
with pooled connections it is a fraction of that. In WAL mode each autocommit statement sees the latest committed
data, so sharing connections between requests is safe; one query uses a connection at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

from app.db.unavailable import ReleasingTransaction, storage_errors
from app.errors import Unavailable

POOL_SIZE = 4


class PooledSQLiteEngine(SQLiteEngine):
    """SQLiteEngine with a small connection pool for reads and autocommit writes."""

    def __init__(self, *args: Any, pool_size: int = POOL_SIZE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_size = pool_size
        self._idle: list[aiosqlite.Connection] = []
        self._slots = asyncio.Semaphore(pool_size)
        self._closed = False

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None
    ) -> Any:
        with storage_errors():  # "database is locked" past the busy timeout becomes Unavailable (503)
            connection = await self._acquire()
            try:
                async with connection.execute(query, args or []) as cursor:
                    return await cursor.fetchall()
            finally:
                self._release(connection)

    async def _run_in_existing_connection(
        self, connection: Any, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None
    ) -> Any:
        # foreign_keys is already on for every connection (set by the connection factory).
        connection.row_factory = dict_factory
        with storage_errors():
            async with connection.execute(query, args or []) as cursor:
                return await cursor.fetchall()

    def transaction(
        self, transaction_type: TransactionType = TransactionType.deferred, allow_nested: bool = True
    ) -> SQLiteTransaction:
        """A transaction on a pooled connection (Piccolo's opens and closes a fresh one, thread included)."""
        return _PooledTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)

    async def close_pool(self, wait_s: float = 2.0) -> None:
        """Close every pooled connection (at shutdown), after waiting briefly for those still in use.

        Why wait: a connection still running a query (a page refresh cut short by the shutdown, say) has a worker
        thread that reports back to the event loop; closed under it, that thread would outlive the loop.
        """
        self._closed = True  # from now on no new connection (and worker thread) is opened
        taken = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                for _ in range(self.pool_size):
                    await self._slots.acquire()
                    taken += 1
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close()
        for _ in range(taken):
            self._slots.release()

    async def _acquire(self) -> aiosqlite.Connection:
        # One slot per connection in use: a borrowed connection is either returned (_release) or closed (_discard),
        # and both give its slot back, so a failed query or transaction can never shrink the pool for good.
        await self._slots.acquire()
        if self._closed:
            self._slots.release()
            raise Unavailable("the database is closing (the server is shutting down)")
        if self._idle:
            return self._idle.pop()
        try:
            connection = await aiosqlite.connect(**self.connection_kwargs)
        except BaseException:
            self._slots.release()
            raise
        connection.row_factory = dict_factory
        return connection

    async def _discard(self, connection: aiosqlite.Connection) -> None:
        """Close a connection whose state is unknown instead of returning it to the pool."""
        try:
            with contextlib.suppress(Exception):
                await connection.close()
        finally:
            self._slots.release()

    def _release(self, connection: aiosqlite.Connection) -> None:
        self._idle.append(connection)
        self._slots.release()


class _PooledTransaction(ReleasingTransaction, SQLiteTransaction):
    """Piccolo's SQLite transaction, borrowing its connection from the engine's pool."""

    engine: PooledSQLiteEngine

    async def get_connection(self) -> aiosqlite.Connection:
        return await self.engine._acquire()

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        with storage_errors():
            self.connection = await self.get_connection()
            try:
                await self.begin()  # BEGIN IMMEDIATE waits up to the busy timeout for another writer
            except BaseException:
                # Without this the borrowed connection never went back: a few lock timeouts emptied the pool and
                # every later query waited forever, even after the lock was gone.
                await self.engine._discard(self.connection)
                raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def _give_back(self, *, broken: bool) -> None:
        if broken:
            await self.engine._discard(self.connection)  # may still be inside a transaction: never reuse
        else:
            self.engine._release(self.connection)
