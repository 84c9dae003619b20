"""The grouped write path: all-or-nothing per operation, events committed with changes, failures isolated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from app.db.engine import close_database, open_database
from app.db.tables import Event, Project
from app.db.writer import Tx, Writer
from app.errors import Conflict
from app.models.common import utcnow
from app.models.events import EventData
from app.settings import Settings


@pytest.fixture
async def writer(tmp_path: Path, database_url: str | None):
    db = await open_database(Settings(home=tmp_path / "home", database_url=database_url))
    published: list = []

    async def publish(records):
        published.extend(records)

    w = Writer(db.engine, publish)
    w.published = published  # type: ignore[attr-defined]
    await w.start()
    yield w
    await w.stop()
    await close_database(db)


class ProjectNamed(EventData, kw_only=True):
    TYPE: ClassVar[str] = "project.created"
    name: str


def make_project(name: str):
    async def op(tx: Tx) -> str:
        if name.startswith("bad"):
            await Project.insert(
                Project(id=f"prj_{name}", name=name, working_dir="/", created_at=utcnow(), updated_at=utcnow())
            )
            raise Conflict(f"{name} is refused after a partial write")
        now = utcnow()
        await Project.insert(Project(id=f"prj_{name}", name=name, working_dir="/", created_at=now, updated_at=now))
        tx.emit(ProjectNamed(name=name), project_id=f"prj_{name}", entity_id=f"prj_{name}")
        return name

    return op


async def test_a_failing_operation_never_takes_its_group_down(writer: Writer):
    names = [f"ok{i}" if i % 7 else f"bad{i}" for i in range(60)]
    results = await asyncio.gather(*(writer.write(make_project(n), "api") for n in names), return_exceptions=True)
    for name, result in zip(names, results, strict=True):
        if name.startswith("bad"):
            assert isinstance(result, Conflict)
        else:
            assert result == name
    stored = {r["name"] for r in await Project.select(Project.name)}
    assert stored == {n for n in names if n.startswith("ok")}  # partial writes of failures rolled back
    events = await Event.select().order_by(Event.seq).output(load_json=True)
    assert len(events) == len(stored)
    assert [e.seq for e in writer.published] == [e["seq"] for e in events]  # published after commit, in order


async def test_a_cancelled_caller_still_gets_all_or_nothing(writer: Writer):
    task = asyncio.create_task(writer.write(make_project("late"), "api"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    assert await Project.exists().where(Project.name == "late")
    assert await Event.count() == 1
