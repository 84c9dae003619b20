"""The session page and the terminals view, driven like a user through the real app with real shell sessions."""

from __future__ import annotations

import msgspec
from nicegui import ui
from nicegui.testing import User

from app.models.reports import ReportCreate
from app.models.sessions import Session, SessionSpawn
from app.services import sessions
from app.web import MaestroApp
from tests.ui_support import ACTOR, eventually, make_project, make_task

HTML = "<img src=x onerror=alert(1)>"


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


def texts(user: User, marker: str) -> list[str]:
    return [getattr(e, "text", "") for e in user.find(marker=marker).elements]


async def spawn(app: MaestroApp, project, **fields) -> Session:
    """A real shell session in the project's directory (the app's shutdown stops it)."""
    body = msgspec.convert({"project_id": project.id, "profile": "shell", **fields}, SessionSpawn)
    return await app.runtime.runner.spawn(body, actor=ACTOR)


async def status_is(session_id: str, status: str) -> bool:
    return (await sessions.get_session(session_id)).status == status


async def test_everything_about_a_session_is_shown(user: User, app: MaestroApp) -> None:
    project = await make_project(app, name="Compiler")
    task = await make_task(app, project, "Parse the logs")
    session = await spawn(app, project, task_ids=[task.id], name="parser-agent")
    await user.open(f"/sessions/{session.id}")

    with user.scope(marker="session-breadcrumb"):
        await user.should_see("Compiler")
        await user.should_see("parser-agent")
    assert only(user, "session-name").text == "parser-agent"
    assert only(user, "session-status").text == "running"
    assert only(user, "session-profile").text == "shell"
    assert only(user, "session-role").text == "worker"
    assert only(user, "session-cwd").text == project.working_dir
    assert only(user, "session-started").text.endswith("UTC")
    assert only(user, "session-ended").text == "still running"
    assert only(user, "session-spawned-by").text == "the API"
    await user.should_not_see(marker="session-exit-code")
    await user.should_see(marker="terminal")
    assert only(user, "terminal").props["data-session"] == session.id  # what static/terminal.js attaches to
    assert only(user, "terminal-state").text == "Connecting…"  # the browser module takes over from here
    await user.should_see(marker="terminal-stop")
    with user.scope(marker="session-tasks"):
        await user.should_see("Parse the logs")
        await user.should_see("working")
    download = only(user, "session-recording-download")
    assert download.props["href"] == f"/api/v1/sessions/{session.id}/recording"
    await user.should_see(marker="session-recording")
    await user.should_see("No reports yet")


async def test_the_manifest_opens_as_text(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, HTML)
    session = await spawn(app, project, task_ids=[task.id])
    await user.open(f"/sessions/{session.id}")

    user.find(marker="session-manifest").click()
    await user.should_see(marker="session-manifest-dialog")
    text = only(user, "session-manifest-text").text
    assert f'"id": "{session.id}"' in text
    assert HTML in text  # the task's title, as characters: a label never renders HTML


async def test_reports_and_status_changes_appear_live(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Pick a database")
    session = await spawn(app, project, task_ids=[task.id])
    await user.open(f"/sessions/{session.id}")
    await user.should_see("No reports yet")

    body = msgspec.convert({"kind": "needs_input", "message": f"Which DB? {HTML}", "task_id": task.id}, ReportCreate)
    await sessions.report(app.runtime.writer, session.id, body, session.id)
    await user.should_see(f"Which DB? {HTML}")  # as text
    await eventually(lambda: only(user, "session-status").text == "needs input")
    assert only(user, "session-asks-question").text == f"Which DB? {HTML}"  # above the terminal, as text

    body = msgspec.convert({"kind": "blocked", "message": "Waiting for credentials", "task_id": task.id}, ReportCreate)
    await sessions.report(app.runtime.writer, session.id, body, session.id)
    await user.should_see("Waiting for credentials")
    with user.scope(marker="session-tasks"):
        await user.should_see("blocked")  # the task link's own status
    assert len(user.find(marker="timeline-entry").elements) == 2
    await user.should_see(marker="session-asks")  # blocked on a task, the question still stands

    body = msgspec.convert({"kind": "progress", "message": "Using Postgres", "task_id": task.id}, ReportCreate)
    await sessions.report(app.runtime.writer, session.id, body, session.id)
    await eventually(lambda: only(user, "session-status").text == "running")
    await user.should_not_see(marker="session-asks")  # answered: no question above the terminal


async def test_stop_asks_first_then_shows_how_it_ended(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    session = await spawn(app, project)
    await user.open(f"/sessions/{session.id}")

    user.find(marker="terminal-stop").click()
    await user.should_see(marker="terminal-stop-dialog")
    user.find(marker="terminal-stop-cancel").click()
    assert await status_is(session.id, "running")  # "keep it running" keeps it running

    user.find(marker="terminal-stop").click()
    user.find(marker="terminal-stop-confirm").click()
    await eventually(lambda: status_is(session.id, "stopped"), timeout=10)
    await eventually(lambda: only(user, "session-status").text == "stopped")
    await user.should_not_see(marker="terminal-stop")
    assert only(user, "terminal-exit").text == "killed by SIGHUP"  # a hang-up ends a shell
    assert only(user, "session-ended").text.endswith("UTC")
    await user.should_see(marker="session-exit-code")
    stopped = await sessions.get_session(session.id)
    assert stopped.exit_code is not None and stopped.exit_code < 0


async def test_a_program_that_exits_shows_its_exit_status(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    session = await spawn(app, project)
    await user.open(f"/sessions/{session.id}")

    app.runtime.runner.get(session.id).write(b"exit 3\r")
    await eventually(lambda: status_is(session.id, "failed"), timeout=10)
    await eventually(lambda: only(user, "terminal-exit").text == "exit status 3")
    assert only(user, "session-status").text == "failed"
    assert only(user, "session-exit-code").text == "3"
    await user.should_not_see(marker="terminal-stop")


async def test_an_unknown_session_is_a_friendly_not_found(user: User, app: MaestroApp) -> None:
    await user.open("/sessions/ses_doesnotexist00000000")
    await user.should_see(marker="not-found")
    await user.open("/sessions/not-an-id")
    await user.should_see(marker="not-found")


async def test_terminals_side_by_side_and_in_tabs(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    first = await spawn(app, project, name="first")
    second = await spawn(app, project, name="second")
    await user.open(f"/terminals?ids={first.id},{second.id},ses_unknown00000000000,junk")

    assert len(user.find(marker="terminal").elements) == 2
    assert sorted(texts(user, "terminal-name")) == ["first", "second"]
    assert texts(user, "session-status") == ["running", "running"]
    await user.should_see("Not found: ses_unknown00000000000, junk")

    await app.runtime.runner.stop(second.id, ACTOR)
    await eventually(lambda: sorted(texts(user, "session-status")) == ["running", "stopped"])
    assert len(user.find(marker="terminal-stop").elements) == 1  # the stopped one has no stop button any more
    await user.should_see("killed by SIGHUP")

    await user.open(f"/terminals?ids={first.id},{second.id}&view=tabs")
    assert len(user.find(marker="terminal-tab").elements) == 2
    assert len(user.find(marker="terminal").elements) == 2


async def test_terminals_without_ids_shows_every_running_session(user: User, app: MaestroApp) -> None:
    await user.open("/terminals")
    await user.should_see(marker="terminals-empty")

    project = await make_project(app)
    running = await spawn(app, project, name="still-going")
    ended = await spawn(app, project, name="finished")
    await app.runtime.runner.stop(ended.id, ACTOR)
    await user.open("/terminals")
    assert texts(user, "terminal-name") == ["still-going"]
    assert only(user, "terminal").props["data-session"] == running.id
