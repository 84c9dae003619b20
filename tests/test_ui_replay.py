"""The replay player on the session page, without a browser: what the page renders for running, ended, lost and
never-started sessions, and the requests static/replay.js makes with the page's cookie (e2e/ plays it for real)."""

from __future__ import annotations

import json

import httpx
import msgspec
from nicegui import ui
from nicegui.testing import User

from app.errors import NotFound
from app.models.sessions import Session, SessionSpawn
from app.services import sessions
from app.services.sessions import records
from app.services.sessions import status as session_status
from app.web import MaestroApp
from tests.conftest import BASE_URL
from tests.ui_support import ACTOR, eventually, make_project
from ui.components.replay import replay_player


@ui.page("/test/replay/{session_id}")
async def _player_alone(session_id: str) -> None:
    """The player by itself, with a button standing in for a page that redraws when the session changes."""
    player = replay_player(await sessions.get_session(session_id))

    async def changed() -> None:
        try:
            player.update(await sessions.get_session(session_id))
        except NotFound:  # pragma: no cover - the tests never delete it
            pass

    ui.button("Session changed", on_click=changed)


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


async def spawn(app: MaestroApp, project) -> Session:
    """A real shell session (the app's shutdown stops it)."""
    body = msgspec.convert({"project_id": project.id, "profile": "shell"}, SessionSpawn)
    return await app.runtime.runner.spawn(body, actor=ACTOR)


async def test_a_running_session_offers_its_recording_so_far(user: User, app: MaestroApp) -> None:
    session = await spawn(app, await make_project(app))
    await user.open(f"/sessions/{session.id}")

    player = only(user, "replay-player")
    assert player.props["data-session-id"] == session.id  # what static/replay.js fetches
    assert player.props["data-live"] == "true"  # it offers a refresh and follows the end while playing
    assert player.props["data-started"] == session.started_at.isoformat()  # report markers are placed from here
    with user.scope(marker="replay-player"):
        await user.should_see(marker="replay-terminal")
        await user.should_see("The recording so far: the session still runs; playing on at the end follows it.")


async def test_the_player_says_when_a_session_it_shows_has_ended(user: User, app: MaestroApp) -> None:
    session = await spawn(app, await make_project(app))
    await user.open(f"/test/replay/{session.id}")
    await user.should_see("The recording so far: the session still runs; playing on at the end follows it.")

    app.runtime.runner.get(session.id).write(b"exit 0\r")
    await eventually(lambda: _status_is(session.id, "completed"))
    user.find("Session changed").click()
    await user.should_see("The whole session, until it ended (completed, exit code 0).")
    assert only(user, "replay-player").props["data-live"] == "false"  # static/replay.js stops following


async def test_an_ended_session_replays_whole_with_how_it_ended(user: User, app: MaestroApp) -> None:
    session = await spawn(app, await make_project(app))
    app.runtime.runner.get(session.id).write(b"exit 3\r")
    await eventually(lambda: _status_is(session.id, "failed"))
    await user.open(f"/sessions/{session.id}")

    assert only(user, "replay-player").props["data-live"] == "false"
    with user.scope(marker="replay-player"):
        await user.should_see(marker="replay-terminal")
        await user.should_see("The whole session, until it ended (failed, exit code 3).")


async def test_a_lost_session_replays_what_was_recorded(user: User, app: MaestroApp) -> None:
    session = await spawn(app, await make_project(app))
    await app.runtime.runner.stop(session.id, ACTOR)
    await session_status.set_status(app.runtime.writer, session.id, "lost", ACTOR)  # as a restart finds it
    await user.open(f"/sessions/{session.id}")

    assert only(user, "replay-player").props["data-live"] == "false"
    with user.scope(marker="replay-player"):
        await user.should_see(marker="replay-terminal")
        await user.should_see("The server stopped while this session ran: the recording ends where it was cut off.")


async def test_a_session_that_never_started_says_there_is_nothing_to_replay(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    record = await records.create_session_record(
        app.runtime.writer,
        project_id=project.id,
        name="never",
        profile="shell",
        command=["sh"],
        cwd=project.working_dir,
        spawn_source="api",
        actor=ACTOR,
    )
    await session_status.set_status(app.runtime.writer, record.id, "failed", ACTOR)
    await user.open(f"/sessions/{record.id}")

    with user.scope(marker="replay-player"):
        await user.should_see("This session never started, so nothing was recorded.")
        await user.should_not_see(marker="replay-terminal")


async def test_the_pages_cookie_reads_the_recording_and_timeline_but_not_from_another_site(
    app: MaestroApp, token: str
) -> None:
    """What static/replay.js does: same-origin GETs with the browser's cookie (no token in the page)."""
    session = await spawn(app, await make_project(app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as browser:
        assert (await browser.get(f"/?token={token}")).status_code == 303  # the login link sets the cookie
        same_origin = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
        recording = await browser.get(f"/api/v1/sessions/{session.id}/recording", headers=same_origin)
        assert recording.status_code == 200
        assert json.loads(recording.text.splitlines()[0])["version"] == 2
        for path in (f"/api/v1/sessions/{session.id}/timeline?limit=500&after=0", f"/api/v1/sessions/{session.id}"):
            assert (await browser.get(path, headers=same_origin)).status_code == 200
        other_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
        refused = await browser.get(f"/api/v1/sessions/{session.id}/recording", headers=other_site)
        assert refused.status_code == 403


async def _status_is(session_id: str, status: str) -> bool:
    return (await sessions.get_session(session_id)).status == status
