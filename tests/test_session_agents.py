"""Agent sessions on a real server: manifest, environment, session-scoped token limits, reports, idle, recording."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from pathlib import Path

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import LiveServer, live_server, maestro_env, wait_for
from tests.test_session_terminals import Term, attach

FAKE_AGENT = Path(__file__).parent / "fixtures" / "fake_agent.py"


def setup_project(api: httpx.Client, tmp_path: Path, name: str = "app") -> tuple[dict, dict]:
    """A project with one task that has a subtask."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    project = api.post("/api/v1/projects", json={"name": name, "working_dir": str(folder)}).json()
    task = api.post(
        "/api/v1/tasks", json={"project_id": project["id"], "title": "Fix the login", "description": "It loops."}
    ).json()
    api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Write a test", "parent_id": task["id"]})
    return project, task


def fake_agent_profile(api: httpx.Client, results: Path, **env: str) -> None:
    response = api.put(
        "/api/v1/profiles/fake",
        json={
            "argv": [sys.executable, str(FAKE_AGENT), "--session", "{session_id}"],
            "env": {"FAKE_AGENT_RESULTS": str(results), **env},
            "prompt_via": "file",
            "description": "the tests' stand-in agent",
        },
    )
    assert response.status_code in (200, 201), response.text


def test_fake_worker_reads_its_manifest_reports_and_stays_in_its_lane(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        project, task = setup_project(api, tmp_path)
        other, _ = setup_project(api, tmp_path, "other")
        results = tmp_path / "worker.json"
        fake_agent_profile(api, results, FAKE_AGENT_OTHER_PROJECT=other["id"])
        before = api.get("/api/v1/events").json()["items"][-1]["seq"]

        response = api.post(
            "/api/v1/sessions",
            json={"project_id": project["id"], "task_ids": [task["id"]], "profile": "fake", "name": "worker 1"},
        )
        assert response.status_code == 201, response.text
        session = response.json()
        assert session["role"] == "worker" and session["profile"] == "fake"
        assert session["command"][-1] == "{session_id}"  # the record keeps the template, not the expanded prompt

        ended = wait_for(lambda: _ended(api, session["id"]))
        seen = json.loads(results.read_text())
        task_now = api.get(f"/api/v1/tasks/{task['id']}").json()
        events = api.get(f"/api/v1/events?after={before}&limit=500").json()["items"]
        timeline = api.get(f"/api/v1/sessions/{session['id']}/timeline").json()

    assert ended["status"] == "completed" and ended["exit_code"] == 0, ended
    assert [link["status"] for link in ended["tasks"]] == ["completed"]
    assert seen["role"] == "worker" and seen["task_titles"] == ["Fix the login"]
    assert seen["manifest_version"] == 1 and seen["cwd"] == str(tmp_path / "app")
    assert seen["argv"] == ["--session", session["id"]]
    assert seen["token_prefix"] == "mst_"
    assert seen["env"]["MAESTRO_SESSION_ID"] == session["id"]
    assert seen["env"]["MAESTRO_PROJECT_ID"] == project["id"]
    assert seen["env"]["MAESTRO_TASK_IDS"] == task["id"]
    assert seen["env"]["MAESTRO_API_URL"] == f"http://127.0.0.1:{server.port}"
    assert Path(seen["env"]["MAESTRO_MANIFEST"]) == home / "sessions" / session["id"] / "manifest.json"
    assert "MAESTRO_HOME" not in seen["env"]  # nothing of the server's own configuration leaks
    assert stat.S_IMODE((home / "sessions" / session["id"] / "manifest.json").stat().st_mode) == 0o600
    assert (home / "sessions" / session["id"] / "prompt.md").read_text().count("Fix the login") >= 1
    assert seen["probes"] == {
        "read_own_task": 200,
        "list_own_tasks": 200,
        "list_tasks_without_project": 403,
        "export": 403,
        "login_link": 403,
        "delete_project": 403,
        "report_on_another_session": 403,
        "read_other_project": 403,
        "create_task_in_other_project": 403,
        "spawn": 403,  # a worker may not spawn
        "progress": 201,
        "complete": 201,
    }
    assert task_now["status"] == "completed"
    assert [e["kind"] for e in timeline] == ["progress", "completed"]
    by_agent = [e for e in events if e["actor"] == session["id"]]
    assert {"timeline.added", "task.updated"} <= {e["type"] for e in by_agent}, [e["type"] for e in events]
    statuses = [
        (e["data"]["from"], e["data"]["to"])
        for e in events
        if e["type"] == "session.status_changed" and e["entity_id"] == session["id"]
    ]
    assert statuses == [("spawning", "running"), ("running", "completed")]


def test_orchestrator_spawns_a_child_and_the_token_dies_with_the_session(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        project, task = setup_project(api, tmp_path)
        results = tmp_path / "lead.json"
        fake_agent_profile(api, results)
        session = api.post(
            "/api/v1/sessions",
            json={"project_id": project["id"], "task_ids": [task["id"]], "profile": "fake", "role": "orchestrator"},
        ).json()
        wait_for(lambda: _ended(api, session["id"]))
        seen = json.loads(results.read_text())
        assert seen["probes"]["spawn"] == 201 and seen["role"] == "orchestrator"
        child = api.get(f"/api/v1/sessions/{seen['child']['id']}").json()
        assert child["parent_session_id"] == session["id"] and child["spawn_source"] == "session"
        assert child["status"] == "running"  # the child outlives its parent until stopped
        children = api.get(f"/api/v1/sessions?parent_session_id={session['id']}").json()
        assert [c["id"] for c in children] == [child["id"]]

        # The child's token works while it runs, and only as long.
        token = _token_of(server, child["id"])
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as agent:
            assert agent.get(f"/api/v1/projects/{project['id']}").status_code == 200
            assert api.post(f"/api/v1/sessions/{child['id']}/stop").json()["status"] == "stopped"
            assert agent.get(f"/api/v1/projects/{project['id']}").status_code == 401


def test_session_token_limits_on_websockets(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server, server.client() as api:
        project, _ = setup_project(api, tmp_path)
        session = api.post("/api/v1/sessions", json={"project_id": project["id"]}).json()
        token = _token_of(server, session["id"])
        base = f"ws://127.0.0.1:{server.port}/api/v1"

        async def scenario() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            # The event stream, within its own project only.
            async with websockets.connect(f"{base}/events?project_id={project['id']}", additional_headers=headers):
                pass
            for path in ("/events", f"/sessions/{session['id']}/terminal"):
                try:
                    async with websockets.connect(base + path, additional_headers=headers) as ws:
                        await asyncio.wait_for(ws.recv(), 5)
                    raise AssertionError(f"{path} accepted a session token")
                except InvalidStatus as exc:
                    assert exc.response.status_code == 403
                except ConnectionClosed as exc:
                    assert exc.rcvd is not None and exc.rcvd.code == 4403

        asyncio.run(scenario())


def test_missing_program_is_a_400_that_creates_nothing(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server, server.client() as api:
        project, task = setup_project(api, tmp_path)
        api.put("/api/v1/profiles/ghost", json={"argv": ["no-such-agent-xyz", "{prompt}"]})
        before = api.get("/api/v1/events").json()["items"][-1]["seq"]
        response = api.post(
            "/api/v1/sessions", json={"project_id": project["id"], "task_ids": [task["id"]], "profile": "ghost"}
        )
        assert response.status_code == 400
        assert "no-such-agent-xyz" in response.json()["detail"]
        assert response.json()["extra"]["program"] == "no-such-agent-xyz"
        unknown = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "nope"})
        assert unknown.status_code == 400 and unknown.json()["extra"] == {"profile": "nope"}
        bad_skill = api.post("/api/v1/sessions", json={"project_id": project["id"], "skills": ["not-a-skill"]})
        assert bad_skill.status_code == 400
        assert api.get("/api/v1/sessions").json() == []
        assert api.get(f"/api/v1/events?after={before}").json()["items"] == []
        assert not list((home / "sessions").glob("*")) if (home / "sessions").exists() else True


def test_prompt_typed_on_stdin(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server, server.client() as api:
        project, task = setup_project(api, tmp_path)
        reader = "import sys, time; open('got.txt', 'w').write(sys.stdin.readline()); time.sleep(60)"
        api.put("/api/v1/profiles/reader", json={"argv": [sys.executable, "-c", reader], "prompt_via": "stdin"})
        session = api.post(
            "/api/v1/sessions", json={"project_id": project["id"], "task_ids": [task["id"]], "profile": "reader"}
        ).json()
        got = wait_for(lambda: (tmp_path / "app" / "got.txt").exists() and (tmp_path / "app" / "got.txt").read_text())
        prompt = (home / "sessions" / session["id"] / "prompt.md").read_text()
        assert got.strip() == prompt.splitlines()[0].strip()


def test_idle_needs_input_and_recording(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, SHELL="/bin/sh", MAESTRO_SESSION_IDLE_S="1")
    with live_server(home, env=env) as server, server.client() as api:
        project, task = setup_project(api, tmp_path)
        session = api.post("/api/v1/sessions", json={"project_id": project["id"], "task_ids": [task["id"]]}).json()
        assert session["status"] == "running"
        wait_for(lambda: _status(api, session["id"]) == "idle")
        idle = api.get(f"/api/v1/sessions/{session['id']}").json()
        assert idle["last_activity_at"] is not None

        async def type_something(text: bytes, marker: bytes) -> None:
            async with attach(server, session["id"]) as ws:
                await ws.send(text)
                await Term(ws).until(marker)

        asyncio.run(type_something(b"echo __AW''AKE__\n", b"__AWAKE__"))
        wait_for(lambda: _status(api, session["id"]) == "running")

        reported = api.post(
            f"/api/v1/sessions/{session['id']}/reports", json={"kind": "needs_input", "message": "Which branch?"}
        )
        assert reported.status_code == 201, reported.text
        assert _status(api, session["id"]) == "needs_input"
        time.sleep(1.5)  # quiet: still waiting for the user, never "idle"
        assert _status(api, session["id"]) == "needs_input"
        asyncio.run(type_something(b"echo __ANS''WER__\n", b"__ANSWER__"))
        wait_for(lambda: _status(api, session["id"]) == "running")

        download = api.get(f"/api/v1/sessions/{session['id']}/recording")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/x-asciicast")
        assert "attachment" in download.headers["content-disposition"]
        lines = download.text.splitlines()
        assert json.loads(lines[0])["version"] == 2
        events = [json.loads(line) for line in lines[1:]]
        assert all(isinstance(e[0], float | int) and e[1] in ("o", "i", "r", "m") for e in events)
        assert "__AWAKE__" in "".join(e[2] for e in events if e[1] == "o")
        assert api.get("/api/v1/sessions/ses_0000000000000000000000/recording").status_code == 404


# ---------------------------------------------------------------------------------------------- helpers
def _ended(api: httpx.Client, session_id: str) -> dict | None:
    session = api.get(f"/api/v1/sessions/{session_id}").json()
    return session if session["exit_code"] is not None else None


def _status(api: httpx.Client, session_id: str) -> str:
    return api.get(f"/api/v1/sessions/{session_id}").json()["status"]


def _token_of(server: LiveServer, session_id: str) -> str:
    """A running session's token, read the way its own programs can: from the process environment."""
    pid = wait_for(lambda: _pid_of(server, session_id))
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"MAESTRO_TOKEN="))


def _pid_of(server: LiveServer, session_id: str) -> int | None:
    import sqlite3

    with sqlite3.connect(server.home / "maestro.db") as db:
        row = db.execute("select pid from sessions where id = ?", (session_id,)).fetchone()
    return row[0] if row else None
