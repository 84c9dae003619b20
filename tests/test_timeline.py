"""Timelines on tasks and sessions through the real stack: one entry shows on both, paging, refusals, events."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.web import MaestroApp
from tests.test_sessions import MISSING_SES, MISSING_TSK, events_after, last_seq, make_project, make_session, make_task


async def test_task_timeline_with_a_session(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(pid)
    session = await make_session(app, pid)
    url = f"/api/v1/tasks/{task}/timeline"
    seq = await last_seq()
    first = await client.post(url, json={"kind": "progress", "message": "started"})
    assert first.status_code == 201
    entry = first.json()
    assert entry["kind"] == "progress" and entry["task_id"] == task and entry["session_id"] is None
    second = (await client.post(url, json={"kind": "blocked", "message": "waiting", "session_id": session.id})).json()
    assert second["session_id"] == session.id and second["id"] > entry["id"]
    listed = (await client.get(url)).json()
    assert [e["message"] for e in listed] == ["started", "waiting"]  # newest last
    assert listed[0] == entry
    on_session = (await client.get(f"/api/v1/sessions/{session.id}/timeline")).json()
    assert [e["id"] for e in on_session] == [second["id"]]

    events = await events_after(seq)
    assert [e["type"] for e in events] == ["timeline.added", "timeline.added"]
    assert all(e["project_id"] == pid and e["entity_id"] == task for e in events)
    assert events[1]["data"] == second


async def test_session_timeline_with_a_task(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(pid)
    session = await make_session(app, pid)
    url = f"/api/v1/sessions/{session.id}/timeline"
    seq = await last_seq()
    plain = (await client.post(url, json={"kind": "note", "message": "hello"})).json()
    assert plain["session_id"] == session.id and plain["task_id"] is None
    about = (await client.post(url, json={"kind": "milestone", "message": "tests pass", "task_id": task})).json()
    assert about["task_id"] == task
    assert [e["id"] for e in (await client.get(url)).json()] == [plain["id"], about["id"]]
    assert [e["id"] for e in (await client.get(f"/api/v1/tasks/{task}/timeline")).json()] == [about["id"]]
    events = await events_after(seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [("timeline.added", session.id), ("timeline.added", task)]
    assert all(e["project_id"] == pid for e in events)


async def test_every_kind_and_paging(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(pid)
    url = f"/api/v1/tasks/{task}/timeline"
    kinds = ["progress", "blocked", "needs_input", "milestone", "error", "completed", "note"]
    for kind in kinds:
        assert (await client.post(url, json={"kind": kind, "message": kind})).status_code == 201
    page = (await client.get(f"{url}?limit=3")).json()
    assert [e["kind"] for e in page] == kinds[:3]
    rest = (await client.get(f"{url}?after={page[-1]['id']}&limit=500")).json()
    assert [e["kind"] for e in rest] == kinds[3:]
    assert (await client.get(f"{url}?after={rest[-1]['id']}")).json() == []


async def test_bad_input_is_a_4xx_that_writes_nothing(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid, other = await make_project(client, tmp_path, "A"), await make_project(client, tmp_path, "B")
    task, foreign_task = await make_task(pid), await make_task(other)
    session, foreign_session = await make_session(app, pid), await make_session(app, other)
    task_url = f"/api/v1/tasks/{task}/timeline"
    session_url = f"/api/v1/sessions/{session.id}/timeline"
    ok = {"kind": "note", "message": "m"}
    seq = await last_seq()
    cases = [
        (task_url, {**ok, "session_id": foreign_session.id}, 400),
        (task_url, {**ok, "session_id": MISSING_SES}, 400),
        (task_url, {**ok, "session_id": "nope"}, 400),
        (task_url, {**ok, "session_id": task}, 400),
        (task_url, {**ok, "task_id": task}, 400),  # the task comes from the path
        (task_url, {"kind": "gossip", "message": "m"}, 400),
        (task_url, {"kind": "note", "message": ""}, 400),
        (task_url, {"kind": "note", "message": "x" * 65537}, 400),
        (task_url, {"kind": "note"}, 400),
        (task_url, {"kind": "note", "message": 5}, 400),
        (task_url, {**ok, "extra": True}, 400),
        (session_url, {**ok, "task_id": foreign_task}, 400),
        (session_url, {**ok, "task_id": MISSING_TSK}, 400),
        (session_url, {**ok, "task_id": "nope"}, 400),
        (session_url, {**ok, "session_id": session.id}, 400),
        (f"/api/v1/tasks/{MISSING_TSK}/timeline", ok, 404),
        (f"/api/v1/sessions/{MISSING_SES}/timeline", ok, 404),
        ("/api/v1/tasks/not-a-task/timeline", ok, 400),
        ("/api/v1/sessions/not-a-session/timeline", ok, 400),
    ]
    for url, body, status in cases:
        response = await client.post(url, json=body)
        assert response.status_code == status, (url, body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    for url, status in [
        (f"{task_url}?after=-1", 400),
        (f"{task_url}?limit=0", 400),
        (f"{task_url}?limit=501", 400),
        (f"{session_url}?after=x", 400),
        (f"/api/v1/tasks/{MISSING_TSK}/timeline", 404),
        (f"/api/v1/sessions/{MISSING_SES}/timeline", 404),
    ]:
        response = await client.get(url)
        assert response.status_code == status, (url, response.text)
    assert await last_seq() == seq
    assert (await client.get(task_url)).json() == [] and (await client.get(session_url)).json() == []
