"""Health and readiness checks."""

from __future__ import annotations

import asyncio

from app import __version__
from app.db.engine import Database, pending_migrations, writes_blocked
from app.db.unavailable import unavailable_reason
from app.models.system import DatabaseStatus, Health, MigrationStatus, Readiness

READY_CHECK_S = 5.0  # a probe must answer even when the database hangs instead of refusing


def health() -> Health:
    """Liveness needs nothing but a running process."""
    return Health(version=__version__)


async def readiness(db: Database) -> Readiness:
    """Check that the database answers and every shipped migration has been applied; say why when not."""
    try:
        async with asyncio.timeout(READY_CHECK_S):
            await db.engine.run_ddl("SELECT 1")
            pending = await pending_migrations()
            blocked = await writes_blocked(db)
    except Exception as exc:  # any driver error means "not ready", reported, never a 500
        if isinstance(exc, TimeoutError):
            reason = f"the database did not answer within {READY_CHECK_S:.0f} s"
        else:
            reason = unavailable_reason(exc) or f"the database answered with an error ({type(exc).__name__})"
        return Readiness(
            status="not_ready",
            reason=reason,
            version=__version__,
            database=DatabaseStatus(backend=db.backend, reachable=False, error=reason),
            migrations=MigrationStatus(pending=[]),
        )
    reason = f"migrations not applied: {', '.join(pending)}" if pending else None
    if blocked is not None:
        reason = f"writes cannot proceed: {blocked}"
    return Readiness(
        status="ready" if reason is None else "not_ready",
        reason=reason,
        version=__version__,
        database=DatabaseStatus(backend=db.backend, reachable=True, error=blocked),
        migrations=MigrationStatus(pending=pending),
    )
