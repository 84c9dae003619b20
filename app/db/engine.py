"""Build the database engine from settings, bind every table to it, and apply the shipped migrations."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from app.db import piccolo_conf
from app.db.piccolo_app import APP_CONFIG
from app.db.sqlite_pool import PooledSQLiteEngine
from app.db.tables import TABLES
from app.settings import Settings

BUSY_TIMEOUT_S = 10.0
PICCOLO_CONF_VAR = "PICCOLO_CONF"
log = logging.getLogger("maestro.db")
_migrate_lock = asyncio.Lock()


@dataclass
class Database:
    """The engine a running app uses, plus what readiness needs to know about it."""

    engine: Engine
    backend: str  # "sqlite" | "postgresql"
    target: str  # file path or URL without credentials


async def open_database(settings: Settings) -> Database:
    """Create the engine, start its pool, bind the tables and apply pending migrations."""
    if settings.uses_postgres:
        engine: Engine = PostgresEngine(config={"dsn": settings.database_url})
        db = Database(engine, "postgresql", _redact(settings.database_url or ""))
        bind(engine)
        await engine.start_connection_pool(min_size=1, max_size=10)
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        path = settings.database_path
        _prepare_sqlite_file(str(path))
        engine = PooledSQLiteEngine(
            path=str(path),
            factory=_connection_class(settings.sqlite_synchronous),
            timeout=BUSY_TIMEOUT_S,
        )
        db = Database(engine, "sqlite", str(path))
        bind(engine)
    await apply_migrations(engine)
    return db


async def close_database(db: Database) -> None:
    """Close the connection pool."""
    if isinstance(db.engine, PostgresEngine):
        await db.engine.close_connection_pool()
    elif isinstance(db.engine, PooledSQLiteEngine):
        await db.engine.close_pool()


def bind(engine: Engine) -> None:
    """Point every table, Piccolo's migration table and the migration runner's configuration at `engine`."""
    for table in (*TABLES, Migration):
        table._meta.db = engine
    piccolo_conf.DB = engine


@contextlib.contextmanager
def _piccolo_conf_for_migrations() -> Iterator[None]:
    """Piccolo's migration runner finds its engine only through the PICCOLO_CONF variable: name our module while
    migrations run, then restore the variable, so no agent started later inherits it (nor loses the user's own)."""
    saved = os.environ.get(PICCOLO_CONF_VAR)
    os.environ[PICCOLO_CONF_VAR] = piccolo_conf.__name__
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(PICCOLO_CONF_VAR, None)
        else:
            os.environ[PICCOLO_CONF_VAR] = saved


async def apply_migrations(engine: Engine) -> list[str]:
    """Run every shipped migration not yet recorded; idempotent. Returns the ids it applied."""
    async with _migrate_lock:
        bind(engine)
        manager = ForwardsMigrationManager(app_name=APP_CONFIG.app_name)
        await manager.create_migration_table()
        before = set(await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name))
        chatter = io.StringIO()  # Piccolo prints progress; keep it out of the server's output
        with contextlib.redirect_stdout(chatter), _piccolo_conf_for_migrations():
            result = await manager.run_migrations(APP_CONFIG)
        if not result.success:
            raise RuntimeError(f"database migration failed: {result.message}\n{chatter.getvalue()}")
        after = set(await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name))
        applied = sorted(after - before)
        if applied:
            log.info("applied %d migration(s): %s", len(applied), ", ".join(applied))
        return applied


async def pending_migrations() -> list[str]:
    """Ids of shipped migrations that the bound database has not applied."""
    manager = ForwardsMigrationManager(app_name=APP_CONFIG.app_name)
    shipped = manager.get_migration_ids(manager.get_migration_modules(APP_CONFIG.resolved_migrations_folder_path))
    ran = set(await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name))
    return [m for m in shipped if m not in ran]


def _connection_class(synchronous: str) -> type[sqlite3.Connection]:
    """A sqlite3 Connection subclass applying per-connection PRAGMAs (Piccolo opens one per query)."""
    sync = synchronous.upper()

    class MaestroConnection(sqlite3.Connection):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.execute("PRAGMA foreign_keys = ON")
            self.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self.execute(f"PRAGMA synchronous = {sync}")

    return MaestroConnection


def _prepare_sqlite_file(path: str) -> None:
    """Create the file with owner-only permissions and switch it to WAL (a persistent setting)."""
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with sqlite3.connect(path, timeout=BUSY_TIMEOUT_S) as conn:
        conn.execute("PRAGMA journal_mode = WAL")


def _redact(url: str) -> str:
    """The URL without a password, for readiness output."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        rest = f"{user}@{host}"
    return f"{scheme}{sep}{rest}"
