"""Storage: pragmas, migrations and persistence, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest
from piccolo.engine.sqlite import TransactionType

from app.db.engine import apply_migrations, close_database, open_database, pending_migrations
from app.db.sqlite_pool import POOL_SIZE
from app.db.tables import Event, Project, Task, TaskDependency
from app.errors import Unavailable
from app.settings import Settings, settings_from_env

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


async def test_migrations_apply_once_and_data_persists(tmp_path: Path, database_url: str | None):
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    db = await open_database(settings)
    try:
        assert await pending_migrations() == []
        assert await apply_migrations(db.engine) == []  # idempotent
        await Project.insert(Project(id="prj_a", name="Alpha", working_dir="/tmp", created_at=NOW, updated_at=NOW))
        await Task.insert(
            Task(id="tsk_root", project="prj_a", title="root", created_at=NOW, updated_at=NOW),
            Task(id="tsk_child", project="prj_a", parent="tsk_root", title="child", created_at=NOW, updated_at=NOW),
        )
        await Event.insert(Event(type="project.created", project_id="prj_a", entity_id="prj_a", data={}, ts=NOW))
        await Event.insert(Event(type="task.created", project_id="prj_a", entity_id="tsk_root", data={}, ts=NOW))
    finally:
        await close_database(db)

    db = await open_database(settings)  # a restart: nothing re-applied, everything still there
    try:
        assert await pending_migrations() == []
        child = await Task.objects().get(Task.id == "tsk_child")
        assert child.parent == "tsk_root"
        seqs = [row["seq"] for row in await Event.select(Event.seq).order_by(Event.seq)]
        assert len(seqs) == 2 and seqs[0] < seqs[1]
    finally:
        await close_database(db)


async def test_foreign_keys_cascade_and_unique_pairs(tmp_path: Path, database_url: str | None):
    db = await open_database(Settings(home=tmp_path / "home", database_url=database_url))
    try:
        await Project.insert(Project(id="prj_a", name="Alpha", working_dir="/tmp", created_at=NOW, updated_at=NOW))
        await Task.insert(
            Task(id="tsk_1", project="prj_a", title="one", created_at=NOW, updated_at=NOW),
            Task(id="tsk_2", project="prj_a", parent="tsk_1", title="two", created_at=NOW, updated_at=NOW),
        )
        await TaskDependency.insert(TaskDependency(task="tsk_2", depends_on="tsk_1", created_at=NOW))
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            await TaskDependency.insert(TaskDependency(task="tsk_2", depends_on="tsk_1", created_at=NOW))
        with pytest.raises(Exception, match="(?i)foreign key"):
            await Task.insert(Task(id="tsk_x", project="prj_missing", title="x", created_at=NOW, updated_at=NOW))
        await Task.delete().where(Task.id == "tsk_1")
        assert await Task.count() == 0  # the child went with its parent
        assert await TaskDependency.count() == 0
    finally:
        await close_database(db)


@pytest.mark.parametrize("level", ["NORMAL", "FULL"])
async def test_sqlite_connection_settings(tmp_path: Path, level: str):
    db = await open_database(Settings(home=tmp_path / "home", sqlite_synchronous=level))
    try:
        rows = await Project.raw("PRAGMA journal_mode")
        assert rows[0]["journal_mode"] == "wal"
        assert (await Project.raw("PRAGMA foreign_keys"))[0]["foreign_keys"] == 1
        assert (await Project.raw("PRAGMA busy_timeout"))[0]["timeout"] >= 5000
        expected = {"NORMAL": 1, "FULL": 2}[level]
        assert (await Project.raw("PRAGMA synchronous"))[0]["synchronous"] == expected
    finally:
        await close_database(db)
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    with sqlite3.connect(tmp_path / "home" / "maestro.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("users_own", [None, "myproject.piccolo_conf"])
async def test_opening_the_database_leaves_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, users_own: str | None
):
    # Agents inherit the server's environment: Maestro's Piccolo configuration must not leak into their projects.
    if users_own is None:
        monkeypatch.delenv("PICCOLO_CONF", raising=False)
    else:
        monkeypatch.setenv("PICCOLO_CONF", users_own)
    db = await open_database(Settings(home=tmp_path / "home"))
    try:
        assert await pending_migrations() == []
    finally:
        await close_database(db)
    assert os.environ.get("PICCOLO_CONF") == users_own


async def test_the_busy_timeout_is_configurable(tmp_path: Path):
    # The tests of a locked database (tests/test_unavailable.py) rely on it; users may want longer waits.
    db = await open_database(Settings(home=tmp_path / "home", sqlite_busy_timeout_s=0.25))
    try:
        assert (await Project.raw("PRAGMA busy_timeout"))[0]["timeout"] == 250
    finally:
        await close_database(db)
    assert (
        settings_from_env({"MAESTRO_HOME": str(tmp_path), "MAESTRO_SQLITE_BUSY_TIMEOUT_S": "0.5"}).sqlite_busy_timeout_s
        == 0.5
    )
    with pytest.raises(ValueError, match="must not be negative"):
        settings_from_env({"MAESTRO_HOME": str(tmp_path), "MAESTRO_SQLITE_BUSY_TIMEOUT_S": "-1"})


async def test_failed_writes_give_their_connections_back(tmp_path: Path):
    # More lock timeouts than the pool has connections: each must return its connection, or later queries hang.
    settings = Settings(home=tmp_path / "home", sqlite_busy_timeout_s=0.05)
    db = await open_database(settings)
    holder = sqlite3.connect(settings.database_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for _ in range(POOL_SIZE + 2):
            with pytest.raises(Unavailable, match="locked by another writer"):
                async with db.engine.transaction(transaction_type=TransactionType.immediate):
                    pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        async with asyncio.timeout(5):
            await Project.insert(Project(id="prj_a", name="A", working_dir="/tmp", created_at=NOW, updated_at=NOW))
            assert await Project.count() == 1
    finally:
        await close_database(db)
