"""Build the database engine from settings, bind every table to it, and apply the shipped migrations."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType

from app.db import piccolo_conf
from app.db.pg_engine import ResilientPostgresEngine
from app.db.piccolo_app import APP_CONFIG
from app.db.sqlite_pool import PooledSQLiteEngine
from app.db.tables import TABLES
from app.db.unavailable import unavailable_reason
from app.settings import Settings

PICCOLO_CONF_VAR = "PICCOLO_CONF"
WRITE_PROBE_S = 1.0  # how long readiness waits for SQLite's write lock (a normal write holds it for milliseconds)
PG_MIGRATE_LOCK = 0x6D61_6D67  # "mamg": one advisory lock serialises instances migrating the same database
log = logging.getLogger("maestro.db")
_migrate_lock = asyncio.Lock()


@dataclass
class Database:
    """The engine a running app uses, plus what readiness needs to know about it."""

    engine: Engine
    backend: str  # "sqlite" | "postgresql"
    target: str  # file path or URL without credentials


class DatabaseOpenError(RuntimeError):
    """The database could not be opened or migrated at startup; the message names the database and the cause."""


async def open_database(settings: Settings) -> Database:
    """Create the engine, start its pool, bind the tables and apply pending migrations.

    On failure nothing stays open (aiosqlite's connection threads are not daemons: left open, they kept a process
    whose startup had failed alive and not listening) and the error says which database and why.
    """
    if settings.uses_postgres:
        engine: Engine = ResilientPostgresEngine(config={"dsn": settings.database_url})
        db = Database(engine, "postgresql", _redact(settings.database_url or ""))
    else:
        busy_s = settings.sqlite_busy_timeout_s
        engine = PooledSQLiteEngine(
            path=str(settings.database_path),
            factory=_connection_class(settings.sqlite_synchronous, busy_s),
            timeout=busy_s,
        )
        db = Database(engine, "sqlite", str(settings.database_path))
    try:
        if isinstance(engine, PostgresEngine):
            bind(engine)
            # No floor of idle connections: asyncpg restores a floor in the background, logging a traceback per
            # attempt while PostgreSQL is away. Connections are opened on demand (and kept idle for 5 minutes).
            await engine.start_connection_pool(min_size=0, max_size=10)
        else:
            settings.home.mkdir(parents=True, exist_ok=True)
            _prepare_sqlite_file(db.target, settings.sqlite_busy_timeout_s)
            bind(engine)
        await apply_migrations(engine)
    except Exception as exc:
        await close_database(db)
        raise DatabaseOpenError(f"cannot open the {db.backend} database {db.target}: {_describe(exc)}") from exc
    except BaseException:
        await close_database(db)
        raise
    return db


async def close_database(db: Database) -> None:
    """Close the connection pool."""
    if isinstance(db.engine, PostgresEngine):
        if db.engine.pool is not None:
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
    """Run every shipped migration not yet recorded, each in one transaction with its record; idempotent.

    Piccolo's runner commits a migration's changes and then records it in a second transaction: a process killed
    in between left a database that no later start could open ("table already exists"). Here the migration's
    MigrationManager joins our transaction (Piccolo transactions nest), so its DDL and its record commit together
    or not at all, on SQLite and PostgreSQL alike (both have transactional DDL). Returns the ids it applied.
    """
    async with _migrate_lock:
        bind(engine)
        await Migration.create_table(if_not_exists=True)
        modules = _shipped_migrations()
        ran = set(await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name))
        applied: list[str] = []
        chatter = io.StringIO()  # Piccolo prints progress; keep it out of the server's output
        with contextlib.redirect_stdout(chatter), _piccolo_conf_for_migrations():
            for migration_id in sorted(modules):
                if migration_id not in ran and await _apply_one(engine, migration_id, modules[migration_id]):
                    applied.append(migration_id)
        if applied:
            log.info("applied %d migration(s): %s", len(applied), ", ".join(applied))
        return applied


@functools.cache
def _shipped_migrations() -> dict[str, Any]:
    """The migration modules by id, found once (Piccolo's finder adds the folder to sys.path on every call, and
    readiness asks on every probe)."""
    finder = ForwardsMigrationManager(app_name=APP_CONFIG.app_name)
    return finder.get_migration_modules(APP_CONFIG.resolved_migrations_folder_path)


async def _apply_one(engine: Engine, migration_id: str, module: Any) -> bool:
    """Apply one migration and record it in the same transaction; False if another process applied it first."""
    if isinstance(engine, PostgresEngine):
        transaction = engine.transaction()
    else:  # immediate: take the write lock before re-checking, so two processes never both apply it
        transaction = engine.transaction(transaction_type=TransactionType.immediate)
    async with transaction:
        if isinstance(engine, PostgresEngine):
            await Migration.raw(f"SELECT pg_advisory_xact_lock({PG_MIGRATE_LOCK})")
        done = await Migration.exists().where(
            (Migration.name == migration_id) & (Migration.app_name == APP_CONFIG.app_name)
        )
        if done:
            return False
        manager = await module.forwards()
        if isinstance(manager, MigrationManager) and not manager.fake:
            await manager.run()  # its own engine.transaction() joins ours
        await Migration.insert(Migration(name=migration_id, app_name=APP_CONFIG.app_name))
    return True


async def pending_migrations() -> list[str]:
    """Ids of shipped migrations that the bound database has not applied."""
    shipped = sorted(_shipped_migrations())
    ran = set(await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name))
    return [m for m in shipped if m not in ran]


async def writes_blocked(db: Database) -> str | None:
    """Why a write would have to wait right now, or None. Only SQLite needs asking: while another program holds
    its write lock, reads still work (WAL), so "the database answers" alone would say ready. On PostgreSQL an
    outage fails reads just the same."""
    if db.backend != "sqlite":
        return None
    return await asyncio.to_thread(_probe_sqlite_write_lock, db.target)


def _probe_sqlite_write_lock(path: str) -> str | None:
    """Take and drop the write lock on a connection of its own (no fsync: nothing is written)."""
    conn = sqlite3.connect(path, timeout=WRITE_PROBE_S, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        return reason
    finally:
        conn.close()
    return None


def _connection_class(synchronous: str, busy_timeout_s: float) -> type[sqlite3.Connection]:
    """A sqlite3 Connection subclass applying per-connection PRAGMAs (Piccolo opens one per query)."""
    sync = synchronous.upper()

    class MaestroConnection(sqlite3.Connection):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.execute("PRAGMA foreign_keys = ON")
            self.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self.execute(f"PRAGMA synchronous = {sync}")

    return MaestroConnection


def _prepare_sqlite_file(path: str, busy_timeout_s: float) -> None:
    """Create the file with owner-only permissions and switch it to WAL (a persistent setting)."""
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=busy_timeout_s)
    try:  # closed explicitly: sqlite3's context manager only ends the transaction
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


def _describe(exc: BaseException) -> str:
    """The cause in one line, with its type when the message alone would not say what failed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _redact(url: str) -> str:
    """The URL without a password, for readiness output."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        rest = f"{user}@{host}"
    return f"{scheme}{sep}{rest}"
