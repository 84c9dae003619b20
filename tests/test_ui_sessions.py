"""The sessions page and the attention badge (User driver over the real app, real ptys): grouping by what a session
needs from the person, changing live as an agent reports with its own token; why each status is what it is; the
reply box typing into the terminal; the count of sessions waiting in every page's frame."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import msgspec
from nicegui import ElementFilter, ui
from nicegui.testing import User

from app.models.reports import ReportCreate
from app.models.sessions import Session, SessionSpawn, SessionUpdate
from app.services import sessions
from app.services.sessions import records
from app.services.sessions import status as session_status
from app.web import MaestroApp
from tests.conftest import BASE_URL
from tests.ui_support import eventually, make_project, make_task

# A stand-in agent: it hands its session token to the test (as a file in its working directory) and waits.
TOKEN_WRITER = "import os, time; open('token', 'w').write(os.environ['MAESTRO_TOKEN']); time.sleep(600)"


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


def badge(user: User) -> ui.badge:
    """The frame's count of sessions waiting for input (found even while hidden, at 0)."""
    assert user.client is not None
    with user.client:
        (element,) = ElementFilter(kind=ui.badge, marker="attention-count")
    return element


def group_of(user: User, session_id: str) -> str:
    """Which group ("needs-input", "working", "idle", "ended") shows the session's row."""
    row = only(user, f"session-row-{session_id}")
    box = row.parent_slot.parent
    return next(mark.removeprefix("sessions-") for mark in box._markers if mark.startswith("sessions-"))


def text_in(user: User, session_id: str, marker: str) -> str:
    """The text of one element of a session's row."""
    with user.scope(marker=f"session-row-{session_id}"):
        (element,) = user.find(marker=marker).elements
    return element.text


async def agent(app: MaestroApp, tmp_path: Path, **spawn: object) -> tuple[Session, str]:
    """A running agent session (real pty) and its session token, read as the agent itself got it."""
    project = await make_project(app, working_dir=str(tmp_path))
    task = await make_task(app, project, "Pick a database")
    (app.settings.home / "config.toml").write_text(
        f'[profiles.agent]\nargv = ["{sys.executable}", "-c", "{TOKEN_WRITER}"]\nprompt_via = "none"\n'
    )
    body = msgspec.convert({"project_id": project.id, "task_ids": [task.id], "profile": "agent", **spawn}, SessionSpawn)
    session = await app.runtime.runner.spawn(body, actor="api")
    token_file = tmp_path / "token"
    await eventually(lambda: token_file.exists() and token_file.read_text().startswith("mst_"))
    return session, token_file.read_text()


async def report(app: MaestroApp, session_id: str, token: str, kind: str, message: str) -> None:
    """Report as the agent would: over the API with its own session token."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        response = await api.post(f"/api/v1/sessions/{session_id}/reports", json={"kind": kind, "message": message})
    assert response.status_code == 201, response.text


async def test_a_session_moves_between_groups_live_as_its_agent_reports(
    user: User, app: MaestroApp, tmp_path: Path
) -> None:
    session, token = await agent(app, tmp_path, name="db-agent")
    await user.open("/sessions")
    await eventually(lambda: group_of(user, session.id) == "working")
    assert text_in(user, session.id, "session-status") == "running"
    assert re.fullmatch(r"(last output|started) \d+ s ago.*", text_in(user, session.id, "session-why"))
    assert text_in(user, session.id, "session-task") == "Pick a database"
    assert badge(user).text == "0"

    await report(app, session.id, token, "needs_input", "Which DB?\nPostgres or SQLite?")
    await eventually(lambda: group_of(user, session.id) == "needs-input")
    assert text_in(user, session.id, "session-question") == "Which DB?\nPostgres or SQLite?"
    assert re.fullmatch(r"reported needs input at \d\d:\d\d", text_in(user, session.id, "session-why"))
    with user.scope(marker=f"session-row-{session.id}"):
        await user.should_see(marker="reply-box")
    await eventually(lambda: badge(user).text == "1")
    await user.should_see("'db-agent' needs your input: Which DB?")  # the toast, with its first line
    assert only(user, "sessions-needs-input-heading").text == "Needs input (1)"

    await report(app, session.id, token, "complete", "Chose SQLite: one file, no server")
    await eventually(lambda: group_of(user, session.id) == "ended")
    assert text_in(user, session.id, "session-status") == "completed"
    assert re.fullmatch(r"reported complete at \d\d:\d\d", text_in(user, session.id, "session-why"))
    assert text_in(user, session.id, "session-last-report") == "completed: Chose SQLite: one file, no server"
    await eventually(lambda: badge(user).text == "0")
    await user.should_see("'db-agent' completed")
    with user.scope(marker=f"session-row-{session.id}"):
        await user.should_not_see(marker="reply-box")


async def test_the_reply_box_types_the_answer_into_the_terminal(user: User, app: MaestroApp, tmp_path: Path) -> None:
    project = await make_project(app, working_dir=str(tmp_path))
    body = SessionSpawn(project_id=project.id, profile="shell", name="sh")
    session = await app.runtime.runner.spawn(body, actor="api")
    await sessions.report(app.runtime.writer, session.id, ReportCreate(kind="needs_input", message="Say hi"), "api")
    await user.open("/sessions")
    await eventually(lambda: group_of(user, session.id) == "needs-input")

    with user.scope(marker=f"session-row-{session.id}"):
        user.find(marker="reply-box").type("echo reply-$((40 + 2))")
        user.find(marker="reply-send").click()
    terminal = app.runtime.runner.get(session.id)
    await eventually(lambda: b"reply-42" in terminal.output_since(0, 1 << 20)[1])  # the shell ran what was typed
    await user.should_see(f"Typed into '{session.name}'")
    assert only(user, "reply-box").value == ""


async def test_a_reply_to_a_session_without_a_terminal_here_says_so(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    session = await records.create_session_record(
        app.runtime.writer,
        project_id=project.id,
        name="elsewhere",
        profile="claude",
        command=["claude"],
        cwd=str(app.settings.home),
        spawn_source="api",
        actor="api",
        status="needs_input",
    )
    await user.open("/sessions")
    assert text_in(user, session.id, "session-why").startswith("marked as needing input at ")
    with user.scope(marker=f"session-row-{session.id}"):
        await user.should_see("It did not say what it needs: open its terminal.")
        user.find(marker="reply-box").type("yes")
        user.find(marker="reply-send").click()
    await user.should_see(f"session {session.id} has no running terminal here")


async def test_every_status_says_why(user: User, app: MaestroApp) -> None:
    project = await make_project(app)

    async def record(name: str, status: str = "running") -> Session:
        return await records.create_session_record(
            app.runtime.writer,
            project_id=project.id,
            name=name,
            profile="codex",
            command=["codex"],
            cwd=str(app.settings.home),
            spawn_source="api",
            actor="api",
            status=status,
        )

    failed = await record("crashed")
    await session_status.record_exit(app.runtime.writer, failed.id, 1, stopped=False)
    stopped = await record("halted")
    await session_status.record_exit(app.runtime.writer, stopped.id, -15, stopped=True)
    lost = await record("orphan", "lost")
    quiet = await record("quiet", "idle")
    await user.open("/sessions")
    await eventually(lambda: group_of(user, failed.id) == "ended")
    assert re.fullmatch(r"exited 1 at \d\d:\d\d", text_in(user, failed.id, "session-why"))
    assert re.fullmatch(r"stopped at \d\d:\d\d, killed by SIGTERM", text_in(user, stopped.id, "session-why"))
    assert text_in(user, lost.id, "session-why").startswith("the server restarted while it ran")
    assert group_of(user, quiet.id) == "idle"
    assert re.fullmatch(r"started \d+ s ago, no output yet", text_in(user, quiet.id, "session-why"))
    assert only(user, "sessions-ended-heading").text == "Ended (3)"


async def test_the_badge_counts_sessions_waiting_on_every_page_live(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    waiting = [
        await records.create_session_record(
            app.runtime.writer,
            project_id=project.id,
            name=f"asker {n}",
            profile="claude",
            command=["claude"],
            cwd=str(app.settings.home),
            spawn_source="api",
            actor="api",
            status="needs_input",
        )
        for n in range(2)
    ]
    for path in (f"/projects/{project.id}/board", "/settings", "/"):
        await user.open(path)
        await eventually(lambda: badge(user).text == "2")
        assert badge(user).visible
    body = SessionUpdate(status="completed")
    await sessions.update_session(app.runtime.writer, waiting[0].id, body, "api")
    await eventually(lambda: badge(user).text == "1")
    await sessions.update_session(app.runtime.writer, waiting[1].id, body, "api")
    await eventually(lambda: badge(user).text == "0")
    assert not badge(user).visible


async def test_notification_preferences_are_remembered_per_browser(user: User, app: MaestroApp) -> None:
    project = await make_project(app, "Noisy")
    user.javascript_rules[re.compile(r".*requestPermission.*")] = lambda _: "granted"
    await user.open(f"/projects/{project.id}/board")
    user.find(marker="notifications-bell").click()
    user.find(marker="notify-browser").click()
    await eventually(lambda: only(user, "notifications-bell").props["icon"] == "notifications")
    user.find(marker="notify-mute").click()
    await user.open(f"/projects/{project.id}/tasks")  # another page, the same browser
    assert only(user, "notify-browser").value is True
    assert only(user, "notify-mute").value is True


async def test_the_empty_page_teaches_with_buttons(user: User, app: MaestroApp, tmp_path: Path) -> None:
    await make_project(app, working_dir=str(tmp_path))
    await user.open("/sessions")
    await user.should_see(marker="sessions-empty")
    user.find(marker="sessions-empty-open-shell").click()
    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    (session,) = await sessions.list_sessions()
    assert (session.profile, session.cwd) == ("shell", str(tmp_path))
