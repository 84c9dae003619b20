"""Which driver errors mean "the database cannot be used right now", turned into the domain error `Unavailable`.

The engines (app/db/sqlite_pool.py, app/db/pg_engine.py) translate these where every query and transaction passes,
so the writer, the services and the web layer only ever see `Unavailable`: a 503 with Retry-After, never a 500.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg

from app.errors import Unavailable

_SQLITE_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# Connection-level PostgreSQL failures: the server is gone, shutting down, refusing connections or out of slots.
_PG_UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot be used, if `exc` says so; None for any other error (a real bug or bad input)."""
    if isinstance(exc, Unavailable):
        return exc.detail
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_BUSY_CODES:  # extended codes keep the primary in the low byte
            return "the database is locked by another writer"
        return None
    if isinstance(exc, _PG_UNAVAILABLE):
        return f"the database cannot be reached: {_first_line(exc)}"
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and ("closed" in str(exc) or "closing" in str(exc)):
        return f"the database connection was lost: {_first_line(exc)}"
    if isinstance(exc, OSError | TimeoutError):  # refused, reset, unreachable, DNS, connect timeout
        return f"the database cannot be reached: {_first_line(exc) or type(exc).__name__}"
    return None


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """The domain error for a storage failure (detail says why, a retry may succeed), or None."""
    reason = unavailable_reason(exc)
    if reason is None:
        return None
    if isinstance(exc, Unavailable):
        return exc
    return Unavailable(f"{reason}; try again shortly")


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise a storage-unavailable driver error as `Unavailable` (chained, so the cause is kept for debugging)."""
    try:
        yield
    except Unavailable:
        raise
    except Exception as exc:
        translated = as_unavailable(exc)
        if translated is None:
            raise
        raise translated from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


class ReleasingTransaction:
    """Mixin for Piccolo transactions: the end of a transaction always gives its connection back.

    Commit or rollback may fail on a dead connection; the connection then goes back as broken (never reused, since
    it may still be inside a transaction) and the caller sees `Unavailable`, or its own error when there was one.
    """

    # Each engine's transaction says how a connection goes back to its pool (or is closed, when `broken`).
    _give_back: Callable[..., Awaitable[None]]

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:  # type: ignore[attr-defined]
            return exception is None
        try:
            with storage_errors():
                if exception:
                    if not self._rolled_back:  # type: ignore[attr-defined]
                        await self.rollback()  # type: ignore[attr-defined]
                elif not self._committed and not self._rolled_back:  # type: ignore[attr-defined]
                    await self.commit()  # type: ignore[attr-defined]
        except BaseException:
            await self._give_back(broken=True)
            self.engine.current_transaction.reset(self.context)  # type: ignore[attr-defined]
            if exception is not None:
                return False  # the original error says more than the failed rollback
            raise
        await self._give_back(broken=False)
        self.engine.current_transaction.reset(self.context)  # type: ignore[attr-defined]
        return exception is None
