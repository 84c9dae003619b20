"""Piccolo's PostgreSQL engine, made to survive PostgreSQL going away and coming back.

Two things go wrong with the stock engine while PostgreSQL is unreachable: driver errors (refused connections,
closed connections) reach callers raw, and a transaction whose rollback fails on a dead connection never gives its
connection back to the pool, so after a few of them every later query waits forever. Here every query and
transaction turns those errors into `Unavailable`, and a transaction always releases its connection (terminating
it when its state is unknown); asyncpg's pool then reconnects by itself on the next acquire.
"""

from __future__ import annotations

import contextlib
from typing import Any

from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

from app.db.unavailable import ReleasingTransaction, storage_errors


class ResilientPostgresEngine(PostgresEngine):
    """PostgresEngine whose queries and transactions raise `Unavailable` when the server cannot be used."""

    async def run_querystring(self, querystring: Any, in_pool: bool = True) -> Any:
        """Run one query; a lost or refused connection becomes `Unavailable`."""
        with storage_errors():
            return await super().run_querystring(querystring, in_pool)

    async def run_ddl(self, ddl: str, in_pool: bool = True) -> Any:
        """Run one DDL statement; a lost or refused connection becomes `Unavailable`."""
        with storage_errors():
            return await super().run_ddl(ddl, in_pool)

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        """A transaction that always gives its connection back, whatever happened to the server."""
        return _ResilientTransaction(engine=self, allow_nested=allow_nested)


class _ResilientTransaction(ReleasingTransaction, PostgresTransaction):
    """Piccolo's PostgreSQL transaction with failures at begin, commit or rollback handled."""

    engine: ResilientPostgresEngine

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        with storage_errors():
            self.connection = await self.get_connection()
            self.transaction = self.connection.transaction()
            try:
                await self.begin()
            except BaseException:
                await self._give_back(broken=True)
                raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def _give_back(self, *, broken: bool) -> None:
        """Return the connection to the pool (or close it); a connection in an unknown state is terminated first."""
        if broken:
            # Never reuse a connection that may still be inside a transaction. A connection that died has already
            # gone back to asyncpg's pool by itself (terminate then refuses), hence the suppress.
            with contextlib.suppress(Exception):
                self.connection.terminate()
        if self.engine.pool:
            with contextlib.suppress(Exception):
                await self.engine.pool.release(self.connection)
        elif not broken:
            with contextlib.suppress(Exception):
                await self.connection.close()
