"""Health and readiness checks."""

from __future__ import annotations

from app import __version__
from app.db.engine import Database, pending_migrations
from app.models.system import DatabaseStatus, Health, MigrationStatus, Readiness


def health() -> Health:
    """Liveness needs nothing but a running process."""
    return Health(version=__version__)


async def readiness(db: Database) -> Readiness:
    """Check that the database answers and every shipped migration has been applied."""
    try:
        await db.engine.run_ddl("SELECT 1")
        pending = await pending_migrations()
    except Exception as exc:  # any driver error means "not ready", reported, never a 500
        return Readiness(
            status="not_ready",
            version=__version__,
            database=DatabaseStatus(backend=db.backend, reachable=False, error=type(exc).__name__),
            migrations=MigrationStatus(pending=[]),
        )
    return Readiness(
        status="ready" if not pending else "not_ready",
        version=__version__,
        database=DatabaseStatus(backend=db.backend, reachable=True),
        migrations=MigrationStatus(pending=pending),
    )
