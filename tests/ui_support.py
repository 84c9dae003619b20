"""UI test support: NiceGUI's `User` driver over Maestro's real ASGI app (gate and front door included).

tests/conftest.py loads this module as a plugin, so every test can ask for the `user` fixture:
`async def test_x(user: User, app: MaestroApp) -> None: await user.open("/")`. The fixture signs in with the
server's token, fails the test on any ERROR log (as NiceGUI's own fixture does), deletes the browser clients it
opened (which cancels their live subscriptions) and restores the `ui.navigate`/`ui.notify`/`ui.download` that
`User` replaces. NiceGUI's `prepare_simulation` is not needed: the app already called `ui.run_with`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from nicegui import Client, background_tasks, ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing import User

from app.models.projects import Project, ProjectCreate
from app.models.tasks import Task, TaskCreate
from app.services import projects, tasks
from app.web import MaestroApp
from tests.conftest import BASE_URL
from ui.live import COALESCE_S

ACTOR = "api"  # data a test prepares is written as if through the API, so pages show it as someone else's change


@pytest.fixture(name="user")
async def user_fixture(app: MaestroApp, token: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[User]:
    """A signed-in browser tab driven in-process; ERROR logs during the test fail it."""
    before = set(Client.instances)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        driver = User(http)
        try:
            yield driver
        finally:
            for client_id in set(Client.instances) - before:
                client = Client.instances.get(client_id)
                if client is not None:
                    client.delete()  # runs on_delete handlers: live subscriptions end with the tab
            await _settle()
            ui.navigate = Navigate()
            ui.notify = notify
            ui.download = download
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    if errors:
        pytest.fail("ERROR logs during the test:\n" + "\n".join(r.getMessage() for r in errors), pytrace=False)


async def _settle(timeout: float = 3.0) -> None:
    """Let the tab's last work finish before the app stops: a query still in flight when the test's event loop
    closes would end in aiosqlite's worker thread with "Event loop is closed"."""
    await asyncio.sleep(COALESCE_S * 2)  # a live refresh scheduled just before the tab closed runs now
    current = asyncio.current_task()
    busy = [
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and (
            "run_refresh" in task.get_coro().__qualname__  # ui.live's coalesced refresh (not tied to the tab)
            or (task in background_tasks.running_tasks and task.get_coro().__qualname__ not in _LONG_LIVED)
        )
    ]
    if busy:
        await asyncio.wait(busy, timeout=timeout)


_LONG_LIVED = {"Timer._run_in_loop", "refresh_loop", "Outbox.loop"}  # NiceGUI's own loops: they end with the app


async def make_project(app: MaestroApp, name: str = "Demo", working_dir: str | None = None) -> Project:
    """A project created through the project service (working in MAESTRO_HOME unless told otherwise)."""
    body = msgspec.convert({"name": name, "working_dir": working_dir or str(app.settings.home)}, ProjectCreate)
    return await projects.create_project(app.runtime.writer, body, ACTOR)


async def make_task(app: MaestroApp, project: Project, title: str, parent: Task | None = None, **fields) -> Task:
    """A task created through the task service (extra fields: status, priority, description, …)."""
    values = {"project_id": project.id, "title": title, "parent_id": parent.id if parent else None, **fields}
    return await tasks.create_task(app.runtime.writer, msgspec.convert(values, TaskCreate), ACTOR)


async def eventually(check, *, timeout: float = 5.0) -> None:
    """Wait until `check()` holds: a sync or async callable returning truthy (or raising AssertionError until then)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            problem: Exception = AssertionError(f"condition never held: {check}")
        except AssertionError as exc:
            problem = exc
        if loop.time() > deadline:
            raise problem
        await asyncio.sleep(0.05)
