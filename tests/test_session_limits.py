"""Session spawns and limits on a real server: a program that exits at once is a session that ran (201, completed or
failed), the concurrent-session cap answers 429 in the one error shape, and a session that forks beyond the
per-session process limit is killed with the reason on its timeline."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from app.settings import settings_from_env
from app.terminals.process import session_members
from tests.helpers import live_server, maestro_env, wait_for
from tests.test_session_agents import _pid_of


def new_project(api: httpx.Client, folder: Path) -> dict:
    folder.mkdir(exist_ok=True)
    response = api.post("/api/v1/projects", json={"name": folder.name, "working_dir": str(folder)})
    assert response.status_code == 201, response.text
    return response.json()


def profile(api: httpx.Client, name: str, argv: list[str]) -> None:
    response = api.put(f"/api/v1/profiles/{name}", json={"argv": argv, "prompt_via": "file"})
    assert response.status_code in (200, 201), response.text


def ended(api: httpx.Client, session_id: str) -> dict | None:
    session = api.get(f"/api/v1/sessions/{session_id}").json()
    return session if session["exit_code"] is not None else None


def status_changes(api: httpx.Client, session_id: str) -> list[tuple[str, str]]:
    events = api.get("/api/v1/events?limit=500").json()["items"]
    return [
        (e["data"]["from"], e["data"]["to"])
        for e in events
        if e["type"] == "session.status_changed" and e["entity_id"] == session_id
    ]


def test_a_program_that_exits_at_once_is_a_session_that_ran(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        project = new_project(api, tmp_path / "app")
        profile(api, "quick", ["true"])
        profile(api, "broken", ["false"])
        for name, status, code in (("quick", "completed", 0), ("broken", "failed", 1)):
            for _ in range(5):  # the exit races the spawn's own writes: every ordering must give the same answer
                response = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": name})
                assert response.status_code == 201, response.text
                session = response.json()
                assert session["status"] in ("running", status), session  # the session as it is at the answer
                if session["status"] == status:
                    assert session["exit_code"] == code
                final = wait_for(lambda sid=session["id"]: ended(api, sid))
                assert (final["status"], final["exit_code"]) == (status, code), final
                assert final["started_at"] and final["ended_at"]
                assert status_changes(api, session["id"]) == [("spawning", "running"), ("running", status)]


def test_one_session_beyond_the_cap_is_a_429_that_creates_nothing(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, SHELL="/bin/sh", MAESTRO_MAX_SESSIONS="1")
    with live_server(home, env=env) as server, server.client() as api:
        project = new_project(api, tmp_path / "app")
        first = api.post("/api/v1/sessions", json={"project_id": project["id"]})
        assert first.status_code == 201, first.text
        before = api.get("/api/v1/events").json()["items"][-1]["seq"]

        refused = api.post("/api/v1/sessions", json={"project_id": project["id"]})
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert set(body) == {"status_code", "detail", "extra"} and body["status_code"] == 429
        assert "MAESTRO_MAX_SESSIONS" in body["detail"]
        assert body["extra"] == {"limit": 1, "running": 1}
        assert refused.headers["retry-after"].isdigit()
        assert [s["id"] for s in api.get("/api/v1/sessions").json()] == [first.json()["id"]]
        assert api.get(f"/api/v1/events?after={before}").json()["items"] == []  # nothing was written

        # A session that ends frees its place.
        assert api.post(f"/api/v1/sessions/{first.json()['id']}/stop").json()["status"] == "stopped"
        again = api.post("/api/v1/sessions", json={"project_id": project["id"]})
        assert again.status_code == 201, again.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sessions are counted through /proc")
def test_a_session_forking_beyond_its_process_limit_is_killed_with_the_reason(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, MAESTRO_SESSION_MAX_PROCESSES="10")
    forker = 'i=0; while [ "$i" -lt 40 ]; do sleep 600 & i=$((i+1)); done; wait'
    pid = None
    try:
        with live_server(home, env=env) as server, server.client() as api:
            project = new_project(api, tmp_path / "app")
            profile(api, "forker", ["sh", "-c", forker])
            profile(api, "modest", ["sh", "-c", "sleep 600 & sleep 600 & wait"])
            modest = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "modest"}).json()
            session = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "forker"}).json()
            pid = wait_for(lambda: _pid_of(server, session["id"]))
            final = wait_for(lambda: ended(api, session["id"]))
            timeline = api.get(f"/api/v1/sessions/{session['id']}/timeline").json()
            members = session_members(pid)
            neighbour = api.get(f"/api/v1/sessions/{modest['id']}").json()
        assert final["status"] == "stopped" and final["exit_code"] == -signal.SIGKILL, final
        assert [e["kind"] for e in timeline] == ["error"], timeline
        reason = re.fullmatch(
            r"stopped: its processes \((\d+)\) exceeded the limit of 10 per session "
            r"\(MAESTRO_SESSION_MAX_PROCESSES\); every process in it was killed",
            timeline[0]["message"],
        )
        assert reason and 10 < int(reason[1]) <= 41, timeline  # counted at some point while it forked
        assert members == []  # every sleep it forked is gone too
        assert neighbour["status"] in ("running", "idle")  # a session within the limit is left alone
    finally:
        if pid is not None:
            for member in session_members(pid):
                with contextlib.suppress(OSError):
                    os.kill(member, signal.SIGKILL)


def test_the_limits_are_read_from_the_environment_and_must_be_positive(tmp_path: Path):
    env = {"MAESTRO_HOME": str(tmp_path), "MAESTRO_MAX_SESSIONS": "3", "MAESTRO_SESSION_MAX_PROCESSES": "20"}
    settings = settings_from_env(env)
    assert (settings.max_sessions, settings.session_max_processes) == (3, 20)
    defaults = settings_from_env({"MAESTRO_HOME": str(tmp_path)})
    assert (defaults.max_sessions, defaults.session_max_processes) == (64, 512)
    for name in ("MAESTRO_MAX_SESSIONS", "MAESTRO_SESSION_MAX_PROCESSES"):
        with pytest.raises(ValueError, match="must be at least 1"):
            settings_from_env({"MAESTRO_HOME": str(tmp_path), name: "0"})
