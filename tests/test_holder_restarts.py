"""Agents outlive the server: real `maestro serve` processes killed with -9 at random moments, started again.

Each session's pty is owned by a holder process; a restarted server takes the sessions back (same pid, scrollback,
a continuous recording), session tokens keep working, `maestro stop --keep-sessions` leaves them running, and a
holder killed under a running server makes its session lost at once, with the reason and no process left behind.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.terminals.process import process_start_time
from tests.cli_support import ok, run_cli
from tests.helpers import LiveServer, live_server, maestro_env, start_server, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process identity is read from /proc")

TICKER = 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done'
AGENT = """import os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text(os.environ["MAESTRO_TOKEN"])
time.sleep(600)
"""
LIVE = ("spawning", "running", "idle", "needs_input")


def setup(server: LiveServer, folder: Path) -> dict:
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "p", "working_dir": str(folder)}).json()
        for name, argv in (("ticker", ["sh", "-c", TICKER]), ("sleeper", ["sleep", "600"])):
            assert api.put(f"/api/v1/profiles/{name}", json={"argv": argv}).status_code in (200, 201)
        return project


def session(server: LiveServer, session_id: str) -> dict:
    with server.client() as api:
        return api.get(f"/api/v1/sessions/{session_id}").json()


def ticks(recording: str) -> list[int]:
    """The tick numbers printed, in order, from an asciicast recording's output events."""
    out = "".join(json.loads(line)[2] for line in recording.splitlines()[1:] if line.strip() and '"o"' in line)
    return [int(n) for n in re.findall(r"tick (\d+)", out)]


def kill_hard(server: LiveServer) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)


def test_twenty_kills_at_random_moments_lose_no_session_and_no_line(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home)
    rng = random.Random(16)
    server = start_server(home, env=env)
    try:
        project = setup(server, tmp_path)
        with server.client() as api:
            ticker = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "ticker"}).json()
        pid = wait_for(lambda: _pid(home, ticker["id"]))
        started = process_start_time(pid)
        others: list[str] = []
        for round_no in range(20):
            moment = ("idle", "spawn", "stop")[round_no % 3]
            background = None
            if moment == "spawn":  # kill while another session is being spawned

                def spawn_one(url: str = server.url, token: str = server.token) -> None:
                    body = {"project_id": project["id"], "profile": "sleeper"}
                    try:
                        response = httpx.post(
                            f"{url}api/v1/sessions", json=body, headers={"Authorization": f"Bearer {token}"}
                        )
                        if response.status_code == 201:
                            others.append(response.json()["id"])
                    except httpx.HTTPError:
                        pass  # the server died mid-request: the record may or may not exist

                background = threading.Thread(target=spawn_one)
            elif moment == "stop" and others:  # kill while a session is being stopped
                victim = others[-1]

                def stop_one(url: str = server.url, token: str = server.token, sid: str = victim) -> None:
                    try:
                        httpx.post(f"{url}api/v1/sessions/{sid}/stop", headers={"Authorization": f"Bearer {token}"})
                    except httpx.HTTPError:
                        pass

                background = threading.Thread(target=stop_one)
            if background is not None:
                background.start()
            time.sleep(rng.uniform(0.0, 0.3))
            kill_hard(server)
            if background is not None:
                background.join(timeout=15)
            server = start_server(home, env=env)
            now = session(server, ticker["id"])
            assert now["status"] in ("running", "idle"), (round_no, now)
            assert _pid(home, ticker["id"]) == pid and process_start_time(pid) == started  # the same process
        with server.client() as api:
            records = api.get("/api/v1/sessions", params={"limit": 500}).json()
            before = len(ticks(api.get(f"/api/v1/sessions/{ticker['id']}/recording").text))
            time.sleep(0.5)
            recording = api.get(f"/api/v1/sessions/{ticker['id']}/recording").text
        numbers = ticks(recording)
        assert len(numbers) > before  # it still ticks
        assert numbers == list(range(1, len(numbers) + 1))  # no line lost, none twice: the recording is continuous
        for record in records:  # every session is either still live with its process, or over with none left
            row_pid = _pid(home, record["id"])
            if record["status"] in LIVE:
                assert row_pid is not None and process_start_time(row_pid) is not None, record
            else:
                assert row_pid is None, record
    finally:
        if server.proc.poll() is None:
            server.stop()
    wait_for(lambda: process_start_time(pid) is None)  # the final, normal stop stopped every session


def test_stop_with_keep_sessions_leaves_agents_running_and_their_tokens_working(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home)
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    token_file = tmp_path / "token"
    with live_server(home, env=env) as server:
        project = setup(server, tmp_path)
        with server.client() as api:
            assert api.put("/api/v1/profiles/agent", json={"argv": [sys.executable, str(script), str(token_file)]})
            agent = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "agent"}).json()
        token = wait_for(lambda: token_file.exists() and token_file.read_text())
        pid = wait_for(lambda: _pid(home, agent["id"]))
        assert "Maestro stopped." in ok(run_cli(home, "stop", "--keep-sessions"))
    assert process_start_time(pid) is not None  # the agent runs on without a server

    with live_server(home, env=env) as again:
        assert session(again, agent["id"])["status"] in ("running", "idle")
        report = {"kind": "progress", "message": "still here after the restart"}
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{again.url}api/v1/sessions/{agent['id']}/reports"
        assert httpx.post(url, json=report, headers=headers).status_code == 201  # its token survived (hashed in the db)
        with again.client() as api:
            assert api.post(f"/api/v1/sessions/{agent['id']}/stop").status_code == 200
        assert httpx.post(url, json=report, headers=headers).status_code == 401  # and died with the session
    assert process_start_time(pid) is None


def test_a_holder_killed_under_a_running_server_makes_its_session_lost_at_once(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home)) as server:
        project = setup(server, tmp_path)
        with server.client() as api:
            sleeper = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "sleeper"}).json()
        pid = wait_for(lambda: _pid(home, sleeper["id"]))
        holder = _parent(pid)
        os.kill(holder, signal.SIGKILL)
        killed_at = time.monotonic()
        lost = wait_for(lambda: session(server, sleeper["id"])["status"] == "lost" and session(server, sleeper["id"]))
        assert time.monotonic() - killed_at < 2.0
        assert lost["ended_at"] and process_start_time(pid) is None  # no orphaned process group remains
        with server.client() as api:
            timeline = api.get(f"/api/v1/sessions/{sleeper['id']}/timeline").json()
        assert any("holder process died" in e["message"] for e in timeline), timeline


def test_the_holders_socket_is_private(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home)) as server:
        project = setup(server, tmp_path)
        with server.client() as api:
            sleeper = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "sleeper"}).json()
        wait_for(lambda: _pid(home, sleeper["id"]))
        folder = home / "holders"
        sock = folder / f"{sleeper['id']}.sock"
        assert folder.stat().st_mode & 0o777 == 0o700 and sock.stat().st_mode & 0o777 == 0o600


def _pid(home: Path, session_id: str) -> int | None:
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "maestro.db")) as db:
        row = db.execute("select pid from sessions where id = ?", (session_id,)).fetchone()
    return row[0] if row else None


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[1])
