"""The offline outbox against real server subprocesses: changes made while the server is down are queued, then sent
in order, exactly once, by `maestro sync` or the next command that reaches the server; conflicts are reported and set
aside, never applied; an agent's changes are sent with its own session token."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx

from tests.helpers import MAESTRO, live_server, maestro_env
from tests.test_session_terminals import Term, attach


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as the user runs it, with MAESTRO_HOME = `home`."""
    return subprocess.run(
        [*MAESTRO, *args],
        env=maestro_env(home, COLUMNS="200", **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> subprocess.CompletedProcess[str]:
    assert result.returncode == code, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def created(api: httpx.Client, path: str, body: dict) -> dict:
    response = api.post(f"/api/v1{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def events_after(api: httpx.Client, seq: int) -> list[dict]:
    return api.get("/api/v1/events", params={"after": seq, "limit": 500}).json()["items"]


def last_seq(api: httpx.Client) -> int:
    return api.get("/api/v1/events", params={"limit": 1}).json()["last_seq"]


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_offline_round_trip_across_a_restart(tmp_path: Path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = maestro_env(home, SHELL="/bin/sh")
    with live_server(home, env=env) as first, first.client() as api:
        project = created(api, "/projects", {"name": "Offline", "working_dir": str(work)})
        kept = created(api, "/tasks", {"project_id": project["id"], "title": "Kept"})
        doomed = created(api, "/tasks", {"project_id": project["id"], "title": "Doomed"})
        session = created(api, "/sessions", {"project_id": project["id"], "task_ids": [kept["id"]]})

    # The server is down: changes are queued (exit 0, and said so), reads fail (exit 3).
    queued = ok(run_cli(home, "task", "create", "Written", "offline", "--project", project["id"], "--json"))
    answer = json.loads(queued.stdout)  # with --json, stdout is one JSON object and nothing else
    assert answer["queued"] is True and answer["id"] == 1 and answer["method"] == "POST" and "token" not in answer
    assert "queued as #1" in queued.stderr and "maestro sync" in queued.stderr
    ok(run_cli(home, "task", "update", kept["id"], "--status", "in_review"))
    report = ok(run_cli(home, "report", "progress", "parser", "done", "--session", session["id"], "--task", kept["id"]))
    assert "queued as #3" in report.stderr
    ok(run_cli(home, "task", "update", doomed["id"], "--title", "Renamed offline"))

    read = ok(run_cli(home, "task", "list", "--project", project["id"]), code=3)
    assert "Maestro is not running" in read.stderr
    stop = ok(run_cli(home, "session", "stop", session["id"]), code=3)  # starting and stopping are never queued
    assert "queued" not in stop.stderr
    off = ok(run_cli(home, "task", "create", "Not", "kept", "--project", project["id"], MAESTRO_OUTBOX="off"), code=3)
    assert "queued" not in off.stderr

    outbox = home / "outbox.db"
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
    waiting = json.loads(ok(run_cli(home, "outbox", "list", "--json")).stdout)
    assert [(c["id"], c["method"], c["state"]) for c in waiting] == [
        (1, "POST", "pending"),
        (2, "PATCH", "pending"),
        (3, "POST", "pending"),
        (4, "PATCH", "pending"),
    ]
    assert waiting[2]["path"] == f"/sessions/{session['id']}/reports" and waiting[2]["body"]["message"] == "parser done"
    assert all("token" not in change for change in waiting)

    with live_server(home, env=env) as second, second.client() as api:
        assert api.delete(f"/api/v1/tasks/{doomed['id']}").status_code == 204  # deleted meanwhile: a conflict
        before = last_seq(api)

        synced = run_cli(home, "sync", "--json")
        assert synced.returncode == 1, synced.stderr  # something was refused: exit 1, and said so
        result = json.loads(synced.stdout)
        assert [c["id"] for c in result["sent"]] == [1, 2]
        assert [c["id"] for c in result["set_aside"]] == [3, 4]
        assert result["waiting"] == 0 and result["stopped"] is None
        assert "has ended" in result["set_aside"][0]["reason"]  # the restart ended the session: no late report
        assert "not found" in result["set_aside"][1]["reason"] and "[HTTP 404]" in result["set_aside"][1]["reason"]

        # Applied in the order queued, each once; the refused ones not at all.
        changes = [(e["type"], e["entity_id"]) for e in events_after(api, before)]
        new_task = result["sent"][0]["answer"]["id"]
        assert changes == [("task.created", new_task), ("task.updated", kept["id"])]
        tasks = api.get("/api/v1/tasks", params={"project_id": project["id"]}).json()["items"]
        assert sorted(t["title"] for t in tasks) == ["Kept", "Written offline"]
        assert next(t for t in tasks if t["id"] == kept["id"])["status"] == "in_review"
        timeline = api.get(f"/api/v1/sessions/{session['id']}/timeline").json()
        assert not any(entry["message"] == "parser done" for entry in timeline)

        # A second sync is a no-op.
        again = json.loads(ok(run_cli(home, "sync", "--json")).stdout)
        assert again == {"sent": [], "set_aside": [], "waiting": 0, "stopped": None}
        assert ok(run_cli(home, "sync")).stdout.strip() == "nothing queued (2 set aside: `maestro outbox list`)"
        assert last_seq(api) == before + 2

        # The crash window: the server applied a create but the outbox did not record it. Sent again with its
        # Idempotency-Key, it gets the first answer back and creates nothing.
        with sqlite3.connect(outbox) as db:
            db.execute(
                "INSERT INTO changes (queued_at, method, path, body, idempotency_key, actor, command) "
                "VALUES ('2030-01-01T00:00:00Z', 'POST', '/tasks', ?, ?, 'you', 'maestro task create Written offline')",
                (json.dumps(waiting[0]["body"]), waiting[0]["idempotency_key"]),
            )
        resent = json.loads(ok(run_cli(home, "sync", "--json")).stdout)
        assert resent["sent"][0]["answer"]["id"] == new_task
        assert last_seq(api) == before + 2
        assert len(api.get("/api/v1/tasks", params={"project_id": project["id"]}).json()["items"]) == 2

        # The conflicts stay visible (the report's words are not lost) until dropped.
        listed = json.loads(ok(run_cli(home, "outbox", "list", "--json")).stdout)
        assert [(c["id"], c["state"]) for c in listed] == [(3, "set_aside"), (4, "set_aside")]
        assert listed[0]["body"]["message"] == "parser done"
        table = ok(run_cli(home, "outbox")).stdout
        assert "set aside" in table and "maestro report progress parser done" in table
        ok(run_cli(home, "outbox", "drop", "4"))
        assert [c["id"] for c in json.loads(ok(run_cli(home, "outbox", "list", "--json")).stdout)] == [3]
        assert "no change #4" in ok(run_cli(home, "outbox", "drop", "4"), code=1).stderr


def test_an_agents_changes_made_while_the_server_is_unreachable_go_with_its_session_token(tmp_path: Path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server, server.client() as api:
        project = created(api, "/projects", {"name": "Agents", "working_dir": str(work)})
        task = created(api, "/tasks", {"project_id": project["id"], "title": "Parser"})
        session = created(api, "/sessions", {"project_id": project["id"], "task_ids": [task["id"]]})
        unreachable = f"MAESTRO_API_URL=http://127.0.0.1:{closed_port()}"

        async def typed(command: str) -> tuple[int, str]:
            """Run a command in the session's shell: its exit code, and what the terminal showed."""
            n = len(commands)
            commands.append(command)
            async with attach(server, session["id"]) as ws:
                term = Term(ws)
                await ws.send(f"{command}; echo RC{n}=$?=E''ND{n}\n".encode())  # quoted: the echoed line differs
                shown = await term.until(f"=END{n}".encode(), timeout=30)
            shown = shown[shown.rindex(command) :]
            return int(re.search(rf"RC{n}=(\d+)=END{n}", shown)[1]), shown

        commands: list[str] = []

        # Inside the session, with the server out of reach: a report and a task change are queued in the server's
        # home (not the session's default ~/.maestro), each with the session's token.
        rc, shown = asyncio.run(typed(f"{unreachable} maestro report progress made offline"))
        assert rc == 0 and "queued as #1" in shown
        rc, shown = asyncio.run(typed(f"{unreachable} maestro task update {task['id']} --priority high"))
        assert rc == 0 and "queued as #2" in shown
        waiting = json.loads(ok(run_cli(home, "outbox", "list", "--json")).stdout)
        assert [(c["id"], c["actor"]) for c in waiting] == [(1, session["id"]), (2, session["id"])]
        before = last_seq(api)

        # The user's next command that reaches the server sends them first, with the session's token.
        listing = ok(run_cli(home, "task", "list", "--project", project["id"], "--json"))
        assert "sent 2 queued changes" in listing.stderr
        assert [t["priority"] for t in json.loads(listing.stdout)] == ["high"]  # stdout: only the JSON
        changes = events_after(api, before)
        assert {e["actor"] for e in changes} == {session["id"]}  # sent as the agent, not as the user
        timeline = api.get(f"/api/v1/sessions/{session['id']}/timeline").json()
        assert [e["message"] for e in timeline if e["message"] == "made offline"] == ["made offline"]
        assert ok(run_cli(home, "sync")).stdout.strip() == "nothing queued"

        # A change whose session ended before it could be sent: its token is dead, so it is set aside; only the
        # user may send it, explicitly, as themselves.
        rc, shown = asyncio.run(typed(f"{unreachable} maestro task update {task['id']} --priority low"))
        assert rc == 0 and "queued as #3" in shown
        assert api.post(f"/api/v1/sessions/{session['id']}/stop").status_code == 200
        refused = run_cli(home, "sync")
        assert refused.returncode == 1
        assert "change #3" in refused.stdout and "token is no longer accepted" in refused.stdout
        assert api.get(f"/api/v1/tasks/{task['id']}").json()["priority"] == "high"
        before = last_seq(api)
        retried = json.loads(ok(run_cli(home, "outbox", "retry", "3", "--as-me", "--json")).stdout)
        assert [c["id"] for c in retried["sent"]] == [3]
        assert api.get(f"/api/v1/tasks/{task['id']}").json()["priority"] == "low"
        assert [e["actor"] for e in events_after(api, before)] == ["cli"]
        assert json.loads(ok(run_cli(home, "outbox", "list", "--json")).stdout) == []


def test_an_agents_report_queued_across_a_server_restart_is_delivered_as_the_agent(tmp_path: Path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = maestro_env(home, SHELL="/bin/sh")
    with live_server(home, env=env) as server, server.client() as api:
        project = created(api, "/projects", {"name": "Restart", "working_dir": str(work)})
        task = created(api, "/tasks", {"project_id": project["id"], "title": "Parser"})
        session = created(api, "/sessions", {"project_id": project["id"], "task_ids": [task["id"]]})
        unreachable = f"MAESTRO_API_URL=http://127.0.0.1:{closed_port()}"

        async def report_offline() -> str:
            async with attach(server, session["id"]) as ws:
                await ws.send(f"{unreachable} maestro report progress half way; echo E''ND\n".encode())
                return await Term(ws).until(b"END", timeout=30)

        assert "queued as #1" in asyncio.run(report_offline())  # with the session's token, as the agent
        # An upgrade: the server goes away and comes back; the agent never stops.
        assert "Maestro stopped." in ok(run_cli(home, "stop", "--keep-sessions")).stdout

    with live_server(home, env=env) as again, again.client() as api:
        assert api.get(f"/api/v1/sessions/{session['id']}").json()["status"] in ("running", "idle")
        before = last_seq(api)
        sent = json.loads(ok(run_cli(home, "sync", "--json")).stdout)
        assert [c["id"] for c in sent["sent"]] == [1] and sent["set_aside"] == []  # its token survived the restart
        assert {e["actor"] for e in events_after(api, before)} == {session["id"]}
        timeline = api.get(f"/api/v1/sessions/{session['id']}/timeline").json()
        assert [e["message"] for e in timeline] == ["half way"]
