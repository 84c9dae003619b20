"""The replay player in a real browser against a real `maestro serve`: a shell session types a few commands and
reports through `maestro report`; the player on its page plays, pauses, seeks, changes speed, jumps to the report,
and still plays once the session has ended."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from websockets.sync.client import connect

from tests.helpers import LiveServer, live_server, maestro_env

# The report comes a second after the first output and two before the last: the screen at the report's marker
# shows the first output, never the last, and a pause soon after the first output is well before the last.
SCRIPT = b"echo first-step; sleep 1; maestro report progress 'halfway there'; sleep 2; echo final-scr''een\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """One server and project for this module's tests (a plain /bin/sh keeps the screen predictable)."""
    folder = tmp_path_factory.mktemp("replay")
    with live_server(folder / "home", env=maestro_env(folder / "home", SHELL="/bin/sh")) as server:
        with server.client() as api:
            project = api.post("/api/v1/projects", json={"name": "Replays", "working_dir": str(folder)}).json()
        yield server, project["id"]


@pytest.fixture(scope="module")
def running(shared: tuple[LiveServer, str]) -> dict:
    """A running shell session that ran SCRIPT (shared: the tests only read its recording, or add to its end)."""
    return recorded_session(*shared)


def recorded_session(server: LiveServer, project_id: str, *, then: bytes = b"") -> dict:
    """A shell session that ran SCRIPT (and `then`) to the end, typed through its terminal WebSocket."""
    with server.client() as api:
        session = api.post("/api/v1/sessions", json={"project_id": project_id, "profile": "shell"}).json()
    with terminal(server, session) as ws:
        ws.send(SCRIPT)
        read_until(ws, b"final-screen")
        if then:
            ws.send(then)
            while not _is_exit(ws.recv(timeout=20)):
                pass
    return session


def terminal(server: LiveServer, session: dict):
    url = f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session['id']}/terminal"
    return connect(url, additional_headers={"Authorization": f"Bearer {server.token}"})


def read_until(ws, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        frame = ws.recv(timeout=20)
        if isinstance(frame, bytes):
            seen += frame
            ws.send(json.dumps({"type": "ack", "bytes": len(frame)}))


def _is_exit(frame: str | bytes) -> bool:
    return isinstance(frame, str) and json.loads(frame)["type"] == "exit"


def open_player(browser: Browser, server: LiveServer, session: dict) -> tuple[Page, Locator]:
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(f"{server.url}sessions/{session['id']}?token={server.token}")
    player = page.get_by_test_id("replay-player")
    expect(player).to_have_attribute("data-state", "paused", timeout=20_000)  # loaded, at the start
    return page, player


def screen(player: Locator) -> Locator:
    """The terminal's drawn rows (xterm.js renders text into the DOM)."""
    return player.get_by_test_id("replay-terminal").locator(".xterm-rows")


def clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def test_play_pause_seek_speed_and_follow_live(browser: Browser, shared: tuple[LiveServer, str], running: dict):
    server, _ = shared
    page, player = open_player(browser, server, running)
    expect(screen(player)).not_to_contain_text("first-step")  # nothing played yet
    expect(player.get_by_test_id("replay-time")).to_contain_text("0:00 / 0:0")

    player.get_by_test_id("replay-play").click()  # 1×
    expect(screen(player)).to_contain_text("first-step")
    player.get_by_test_id("replay-play").click()
    expect(player.get_by_test_id("replay-play")).to_have_attribute("data-state", "paused")
    expect(player).to_have_attribute("data-state", "paused")
    expect(screen(player)).not_to_contain_text("final-screen")  # paused seconds before it

    seek = player.get_by_test_id("replay-seek")
    seek.press("End")  # the end: the final screen
    expect(screen(player)).to_contain_text("final-screen")
    expect(player).to_have_attribute("data-state", "ended")
    seek.press("Home")  # back to the start: the terminal is reset, nothing printed yet
    expect(screen(player)).not_to_contain_text("first-step")
    expect(player.get_by_test_id("replay-time")).to_contain_text("0:00 /")

    for speed in ("8", "instant"):  # faster speeds play the same screen to the end
        player.get_by_test_id("replay-speed").select_option(speed)
        seek.press("Home")
        expect(screen(player)).not_to_contain_text("first-step")
        player.get_by_test_id("replay-play").click()
        expect(screen(player)).to_contain_text("final-screen")
        expect(player).to_have_attribute("data-state", "waiting")  # live: at the end it waits for more output
        if speed == "8":
            player.get_by_test_id("replay-play").click()

    with terminal(server, running) as ws:  # playing at the end of a live session follows what it prints next
        ws.send(b"echo more-out''put\n")
        read_until(ws, b"more-output")
    expect(screen(player)).to_contain_text("more-output")
    page.context.close()


def test_next_report_jumps_to_its_marker(browser: Browser, shared: tuple[LiveServer, str], running: dict):
    server, _ = shared
    session = running
    with server.client() as api:
        (entry,) = api.get(f"/api/v1/sessions/{session['id']}/timeline").json()
    started = dt.datetime.fromisoformat(session["started_at"])
    at = (dt.datetime.fromisoformat(entry["created_at"]) - started).total_seconds()
    page, player = open_player(browser, server, session)

    marker = player.get_by_test_id("replay-marker")
    expect(marker).to_have_count(1)
    expect(marker).to_have_attribute("data-time", f"{at:.2f}")
    expect(marker).to_have_attribute("title", f"{clock(at)} progress: halfway there")
    player.get_by_test_id("replay-next-report").click()
    expect(player).to_have_attribute("data-state", "paused")
    assert abs(float(player.get_by_test_id("replay-seek").input_value()) - at) < 0.01
    expect(screen(player)).to_contain_text("first-step")
    expect(screen(player)).not_to_contain_text("final-screen")
    expect(player.get_by_test_id("replay-report")).to_have_text(f"{clock(at)} progress: halfway there")
    expect(player.get_by_test_id("replay-next-report")).to_be_disabled()  # it was the only one
    page.context.close()


def test_an_ended_session_still_plays(browser: Browser, shared: tuple[LiveServer, str]):
    server, project_id = shared
    session = recorded_session(server, project_id, then=b"exit 0\n")
    page, player = open_player(browser, server, session)
    expect(player).to_have_attribute("data-live", "false")
    expect(player.get_by_test_id("replay-refresh")).to_be_hidden()  # nothing more will come

    player.get_by_test_id("replay-speed").select_option("instant")
    player.get_by_test_id("replay-play").click()
    expect(screen(player)).to_contain_text("final-screen")
    expect(player).to_have_attribute("data-state", "ended")
    expect(player.get_by_test_id("replay-play")).to_have_attribute("data-state", "paused")
    player.get_by_test_id("replay-speed").select_option("1")
    player.get_by_test_id("replay-play").click()  # at the end, play starts over
    expect(screen(player)).to_contain_text("first-step")
    expect(screen(player)).not_to_contain_text("final-screen")
    expect(player).to_have_attribute("data-state", "playing")
    page.context.close()
