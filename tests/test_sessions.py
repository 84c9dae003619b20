"""/api/v1/sessions records through the real stack: create service, filters, status rules, task links, events."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.db.tables import Event, Task
from app.errors import InvalidInput, NotFound
from app.ids import is_id, new_id
from app.models.common import utcnow
from app.services.sessions.records import create_session_record
from app.web import MaestroApp

MISSING_SES = "ses_0000000000000000000000"
MISSING_TSK = "tsk_0000000000000000000000"


async def make_project(client: httpx.AsyncClient, tmp_path: Path, name: str = "Alpha") -> str:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    response = await client.post("/api/v1/projects", json={"name": name, "working_dir": str(folder)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_task(project_id: str, title: str = "t") -> str:
    now = utcnow()
    task_id = new_id("tsk")
    await Task.insert(Task(id=task_id, project=project_id, title=title, created_at=now, updated_at=now))
    return task_id


async def make_session(app: MaestroApp, project_id: str, **kwargs):
    args = {
        "name": "worker",
        "profile": "shell",
        "command": ["bash", "-l"],
        "cwd": "/tmp",
        "spawn_source": "api",
        "actor": "api",
        **kwargs,
    }
    return await create_session_record(app.runtime.writer, project_id=project_id, **args)


async def events_after(seq: int = 0) -> list[dict]:
    return await Event.select().where(Event.seq > seq).order_by(Event.seq).output(load_json=True)


async def last_seq() -> int:
    row = await Event.select(Event.seq).order_by(Event.seq, ascending=False).first()
    return row["seq"] if row else 0


async def test_create_record_links_tasks_and_emits(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    t1, t2 = await make_task(pid), await make_task(pid)
    seq = await last_seq()
    session = await make_session(app, pid, task_ids=[t1, t2, t1])
    assert is_id(session.id, "ses") and session.status == "spawning"
    assert session.started_at is None and session.ended_at is None and session.last_activity_at is None
    got = (await client.get(f"/api/v1/sessions/{session.id}")).json()
    assert got["project_id"] == pid and got["command"] == ["bash", "-l"] and got["spawn_source"] == "api"
    assert [(link["task_id"], link["status"]) for link in got["tasks"]] == [(t1, "working"), (t2, "working")]
    events = await events_after(seq)
    assert [e["type"] for e in events] == ["session.created", "task.linked", "task.linked"]
    assert all(e["project_id"] == pid for e in events)
    assert events[0]["entity_id"] == session.id and events[0]["data"]["id"] == session.id
    assert events[1]["entity_id"] == t1
    assert events[1]["data"] == {"task_id": t1, "session_id": session.id, "status": "working"}
    child = await make_session(app, pid, parent_session_id=session.id, status="running", spawn_source="session")
    assert child.parent_session_id == session.id and child.started_at is not None


async def test_create_record_refusals_write_nothing(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid, other = await make_project(client, tmp_path, "A"), await make_project(client, tmp_path, "B")
    foreign_task = await make_task(other)
    foreign_session = await make_session(app, other)
    seq = await last_seq()
    cases = [
        ({"task_ids": [foreign_task]}, InvalidInput),
        ({"task_ids": [MISSING_TSK]}, InvalidInput),
        ({"task_ids": ["nope"]}, InvalidInput),
        ({"parent_session_id": foreign_session.id}, InvalidInput),
        ({"parent_session_id": MISSING_SES}, InvalidInput),
        ({"status": "flying"}, InvalidInput),
        ({"spawn_source": "robot"}, InvalidInput),
        ({"profile": ""}, InvalidInput),
        ({"command": "bash"}, InvalidInput),
        ({"name": "x" * 201}, InvalidInput),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            await make_session(app, pid, **kwargs)
    with pytest.raises(NotFound):
        await make_session(app, "prj_0000000000000000000000")
    assert await last_seq() == seq
    assert len((await client.get(f"/api/v1/sessions?project_id={pid}")).json()) == 0


async def test_list_filters_and_order(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid, other = await make_project(client, tmp_path, "A"), await make_project(client, tmp_path, "B")
    task = await make_task(pid)
    first = await make_session(app, pid, task_ids=[task])
    second = await make_session(app, pid, status="running", parent_session_id=first.id)
    third = await make_session(app, pid, status="failed")
    elsewhere = await make_session(app, other)

    async def ids(query: str = "") -> list[str]:
        response = await client.get(f"/api/v1/sessions{query}")
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()]

    assert await ids() == [elsewhere.id, third.id, second.id, first.id]  # newest first
    assert await ids(f"?project_id={pid}") == [third.id, second.id, first.id]
    assert await ids("?status=running&status=failed") == [third.id, second.id]
    assert await ids("?status=spawning") == [elsewhere.id, first.id]
    assert await ids(f"?project_id={pid}&status=spawning") == [first.id]
    assert await ids(f"?task_id={task}") == [first.id]
    assert await ids(f"?parent_session_id={first.id}") == [second.id]
    assert await ids("?limit=2") == [elsewhere.id, third.id]
    listed = (await client.get(f"/api/v1/sessions?task_id={task}")).json()
    assert listed[0]["tasks"][0]["task_id"] == task


async def test_status_changes_set_timestamps_and_terminal_is_final(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    pid = await make_project(client, tmp_path)
    session = await make_session(app, pid)
    url = f"/api/v1/sessions/{session.id}"
    seq = await last_seq()

    async def set_status(status: str) -> httpx.Response:
        return await client.patch(url, json={"status": status})

    running = (await set_status("running")).json()
    assert running["status"] == "running" and running["started_at"] is not None and running["ended_at"] is None
    idle = (await set_status("idle")).json()
    again = (await set_status("running")).json()
    assert idle["started_at"] == again["started_at"] == running["started_at"]  # only the first time
    unchanged = await set_status("running")
    assert unchanged.status_code == 200
    done = (await set_status("completed")).json()
    assert done["ended_at"] is not None and done["ended_at"] >= done["started_at"]
    refused = await set_status("running")
    assert refused.status_code == 409
    assert refused.json()["extra"] == {"from": "completed", "to": "running"}
    for live in ("spawning", "idle", "needs_input"):
        assert (await set_status(live)).status_code == 409
    corrected = (await set_status("failed")).json()  # terminal to terminal: a correction, ended_at kept
    assert corrected["status"] == "failed" and corrected["ended_at"] == done["ended_at"]
    events = await events_after(seq)
    assert [e["type"] for e in events] == ["session.status_changed"] * 5
    assert [(e["data"]["from"], e["data"]["to"]) for e in events] == [
        ("spawning", "running"),
        ("running", "idle"),
        ("idle", "running"),
        ("running", "completed"),
        ("completed", "failed"),
    ]
    assert all(e["entity_id"] == session.id and e["project_id"] == pid for e in events)
    assert events[-1]["data"]["session"]["status"] == "failed"
    assert (await client.get(url)).json()["status"] == "failed"


async def test_rename_and_status_in_one_patch(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    session = await make_session(app, pid, status="running")
    seq = await last_seq()
    url = f"/api/v1/sessions/{session.id}"
    renamed = await client.patch(url, json={"name": "  reviewer  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "reviewer"
    both = (await client.patch(url, json={"name": "closer", "status": "stopped"})).json()
    assert both["name"] == "closer" and both["status"] == "stopped" and both["ended_at"] is not None
    assert (await client.patch(url, json={})).json()["name"] == "closer"
    assert (await client.patch(url, json={"name": "closer"})).status_code == 200
    events = await events_after(seq)
    assert [e["type"] for e in events] == ["session.updated", "session.updated", "session.status_changed"]
    assert events[0]["data"]["changed"] == ["name"] and events[0]["data"]["session"]["name"] == "reviewer"
    assert events[2]["data"]["session"]["name"] == "closer"


async def test_link_and_unlink_tasks(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid, other = await make_project(client, tmp_path, "A"), await make_project(client, tmp_path, "B")
    task, foreign = await make_task(pid), await make_task(other)
    session = await make_session(app, pid)
    base = f"/api/v1/sessions/{session.id}/tasks"
    seq = await last_seq()

    created = await client.post(f"{base}/{task}")
    assert created.status_code == 201
    assert created.json()["status"] == "working" and created.json()["session_id"] == session.id
    updated = await client.post(f"{base}/{task}", json={"status": "blocked"})
    assert updated.status_code == 200 and updated.json()["status"] == "blocked"
    same = await client.post(f"{base}/{task}", json={"status": "blocked"})
    assert same.status_code == 200
    links = (await client.get(f"/api/v1/sessions/{session.id}")).json()["tasks"]
    assert [(link["task_id"], link["status"]) for link in links] == [(task, "blocked")]
    second = await make_task(pid)
    assert (await client.post(f"{base}/{second}", json={"status": "completed"})).status_code == 201

    assert (await client.post(f"{base}/{foreign}")).status_code == 400
    assert (await client.post(f"{base}/{MISSING_TSK}")).status_code == 404
    assert (await client.post(f"/api/v1/sessions/{MISSING_SES}/tasks/{task}")).status_code == 404

    assert (await client.delete(f"{base}/{task}")).status_code == 204
    assert (await client.delete(f"{base}/{task}")).status_code == 404
    assert (await client.delete(f"{base}/{foreign}")).status_code == 404
    remaining = (await client.get(f"/api/v1/sessions/{session.id}")).json()["tasks"]
    assert [link["task_id"] for link in remaining] == [second]

    events = await events_after(seq)
    assert [(e["type"], e["data"]["status"]) for e in events] == [
        ("task.linked", "working"),
        ("task.linked", "blocked"),
        ("task.linked", "completed"),
        ("task.unlinked", "blocked"),
    ]
    assert all(e["project_id"] == pid and e["data"]["session_id"] == session.id for e in events)
    assert [e["entity_id"] for e in events] == [task, task, second, task]


async def test_bad_input_is_a_4xx_that_writes_nothing(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(pid)
    session = await make_session(app, pid)
    url = f"/api/v1/sessions/{session.id}"
    seq = await last_seq()
    cases = [
        ("PATCH", url, {"status": "flying"}, 400),
        ("PATCH", url, {"status": 3}, 400),
        ("PATCH", url, {"name": ""}, 400),
        ("PATCH", url, {"name": "   "}, 400),
        ("PATCH", url, {"name": "x" * 201}, 400),
        ("PATCH", url, {"exit_code": 1}, 400),
        ("PATCH", url, ["running"], 400),
        ("PATCH", "/api/v1/sessions/not-an-id", {"name": "x"}, 400),
        ("PATCH", "/api/v1/sessions/tsk_0000000000000000000000", {"name": "x"}, 400),
        ("PATCH", f"/api/v1/sessions/{MISSING_SES}", {"name": "x"}, 404),
        ("GET", "/api/v1/sessions/not-an-id", None, 400),
        ("GET", f"/api/v1/sessions/{MISSING_SES}", None, 404),
        ("GET", "/api/v1/sessions?status=flying", None, 400),
        ("GET", "/api/v1/sessions?limit=0", None, 400),
        ("GET", "/api/v1/sessions?limit=501", None, 400),
        ("GET", "/api/v1/sessions?limit=many", None, 400),
        ("GET", "/api/v1/sessions?project_id=nope", None, 400),
        ("GET", "/api/v1/sessions?task_id=nope", None, 400),
        ("GET", "/api/v1/sessions?parent_session_id=nope", None, 400),
        ("POST", f"{url}/tasks/{task}", {"status": "done"}, 400),
        ("POST", f"{url}/tasks/{task}", {"status": "working", "extra": 1}, 400),
        ("POST", f"{url}/tasks/{task}", {"status": None}, 400),
        ("POST", f"{url}/tasks/not-a-task", None, 400),
        ("POST", f"{url}/tasks/{session.id}", None, 400),
        ("DELETE", f"{url}/tasks/not-a-task", None, 400),
        ("DELETE", f"{url}/tasks/{task}", None, 404),
    ]
    for method, path, body, status in cases:
        response = (
            await client.request(method, path, json=body) if body is not None else await client.request(method, path)
        )
        assert response.status_code == status, (method, path, body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    assert await last_seq() == seq
    assert (await client.get(url)).json()["tasks"] == []


async def test_openapi_documents_the_session_routes(client: httpx.AsyncClient):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    link = paths["/api/v1/sessions/{session_id}/tasks/{task_id}"]
    assert {"200", "201"} <= set(link["post"]["responses"]) and "delete" in link
    assert {"get", "patch"} <= set(paths["/api/v1/sessions/{session_id}"])
    assert "get" in paths["/api/v1/sessions"]
