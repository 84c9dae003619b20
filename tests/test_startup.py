"""Startup: a kill during migrations never bricks the database, and a failed start exits at once, saying why."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from app.db import engine as db_engine
from app.db.engine import close_database, open_database, pending_migrations
from app.db.piccolo_app import APP_CONFIG
from app.db.sqlite_pool import PooledSQLiteEngine
from app.db.tables import Project
from app.settings import Settings
from tests.helpers import MAESTRO, live_server, maestro_env


def _first_migration_id() -> str:
    from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

    finder = ForwardsMigrationManager(app_name=APP_CONFIG.app_name)
    return finder.get_migration_ids(finder.get_migration_modules(APP_CONFIG.resolved_migrations_folder_path))[0]


async def _refuse_recording(settings: Settings, migration_id: str, *, install: bool) -> None:
    """Install (or remove) a trigger that makes recording `migration_id` fail: the failure a kill would cause
    right after the migration's changes, injected in the real database."""
    from piccolo.apps.migrations.tables import Migration
    from piccolo.engine.postgres import PostgresEngine

    if settings.uses_postgres:
        engine = PostgresEngine(config={"dsn": settings.database_url})
        sql = (
            [
                "CREATE FUNCTION refuse_record() RETURNS trigger AS $$ BEGIN IF NEW.name = "
                f"'{migration_id}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_record BEFORE INSERT ON migration FOR EACH ROW EXECUTE FUNCTION refuse_record()",
            ]
            if install
            else ["DROP TRIGGER refuse_record ON migration", "DROP FUNCTION refuse_record()"]
        )
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = PooledSQLiteEngine(path=str(settings.database_path))
        sql = (
            [
                f"CREATE TRIGGER refuse_record BEFORE INSERT ON migration WHEN NEW.name = '{migration_id}' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ]
            if install
            else ["DROP TRIGGER refuse_record"]
        )
    db_engine.bind(engine)
    await Migration.create_table(if_not_exists=True)
    for statement in sql:
        await engine.run_ddl(statement)
    if isinstance(engine, PooledSQLiteEngine):
        await engine.close_pool()


async def test_a_migration_and_its_record_commit_together(tmp_path: Path, database_url: str | None):
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    first = _first_migration_id()
    await _refuse_recording(settings, first, install=True)
    with pytest.raises(db_engine.DatabaseOpenError, match="injected failure"):
        await open_database(settings)
    await _refuse_recording(settings, first, install=False)

    db = await open_database(settings)  # its tables were rolled back with the failed record: it applies cleanly
    try:
        assert await pending_migrations() == []
        assert await Project.count() == 0
    finally:
        await close_database(db)


def _schema_objects(path: Path) -> int:
    """How many tables and indexes the file holds, read without disturbing the writer (WAL: readers never block)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
    except sqlite3.Error:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _kill_when(home: Path, at_least: int) -> None:
    """Start `maestro serve` on a fresh home and SIGKILL it as soon as its database holds `at_least` objects."""
    home.mkdir(parents=True)
    proc = subprocess.Popen(
        [*MAESTRO, "serve", "--no-browser", "--port", "0"],
        env=maestro_env(home),
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    path = home / "maestro.db"
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if (home / "server.json").exists() or (path.exists() and _schema_objects(path) >= at_least):
                break
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=20)


async def test_a_kill_at_any_point_of_the_first_start_leaves_a_database_that_opens(tmp_path: Path):
    # Kill points spread over the whole schema (objects appear migration by migration); each is killed the moment
    # the database shows that much schema, the state where changes were on disk before their record.
    thresholds = [1, 2, 3, 10, 25, 26, 28, 33, 36, 37, 39]
    homes = [tmp_path / f"kill-{n}" for n in thresholds]
    await asyncio.gather(*(asyncio.to_thread(_kill_when, home, n) for home, n in zip(homes, thresholds, strict=True)))
    for home in homes:
        db = await open_database(Settings(home=home))  # a later start
        try:
            assert await pending_migrations() == []
            assert (await Project.raw("PRAGMA integrity_check"))[0]["integrity_check"] == "ok"
        finally:
            await close_database(db)
    with live_server(homes[1]) as server, server.client() as http:  # and a real server opens it too
        assert http.get("/api/v1/ready").json()["status"] == "ready"


def _serve_expecting_failure(home: Path, env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [*MAESTRO, "serve", "--no-browser", "--port", "0"],
        env=env,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.returncode, proc.stderr, time.monotonic() - started


def _inconsistent_database(home: Path) -> None:
    """What an interrupted migration used to leave: its table present, its record missing."""
    home.mkdir(parents=True)
    with sqlite3.connect(home / "maestro.db") as conn:
        conn.execute("CREATE TABLE projects (id TEXT)")


def _corrupt_database(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "maestro.db").write_bytes(os.urandom(8192))


@pytest.mark.parametrize(
    ("prepare", "cause"),
    [(_inconsistent_database, 'table "projects" already exists'), (_corrupt_database, "file is not a database")],
)
def test_a_failed_start_exits_at_once_and_says_why(tmp_path: Path, prepare, cause: str):
    home = tmp_path / "home"
    prepare(home)
    code, stderr, took = _serve_expecting_failure(home, maestro_env(home))
    assert code != 0
    assert took < 15  # the process ends by itself (it used to hang, alive and not listening)
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: Maestro could not start:") and cause in last and str(home) in last
    assert not (home / "server.json").exists()


def test_an_unreachable_postgresql_fails_the_start_at_once(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    with socket_nobody_listens_on() as port:
        url = f"postgresql://maestro:secret@127.0.0.1:{port}/maestro"
        code, stderr, took = _serve_expecting_failure(home, maestro_env(home, MAESTRO_DATABASE_URL=url))
    assert code != 0 and took < 15
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: Maestro could not start:") and "refused" in last.lower()
    assert "secret" not in stderr  # the password never reaches the log


class socket_nobody_listens_on:  # noqa: N801 - used as a context manager, like a function
    """A local port that refuses connections, reserved while the test runs (bound, never listening)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_failed_open_leaves_no_thread_behind(tmp_path: Path):
    home = tmp_path / "home"
    _inconsistent_database(home)
    before = {t.ident for t in threading.enumerate()}

    async def attempt() -> None:
        with pytest.raises(db_engine.DatabaseOpenError, match="already exists"):
            await open_database(Settings(home=home))

    asyncio.run(attempt())
    left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon]
    assert left == []
