"""POST /api/v1/sessions/{id}/reports through the real stack: timeline entries, status effects, events, refusals."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.services.sessions.records import create_session_record
from app.web import MaestroApp

MISSING_SES = "ses_0000000000000000000000"


async def make_project(client: httpx.AsyncClient, tmp_path: Path, name: str = "Alpha") -> str:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    response = await client.post("/api/v1/projects", json={"name": name, "working_dir": str(folder)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_task(client: httpx.AsyncClient, project_id: str, status: str = "todo") -> str:
    response = await client.post("/api/v1/tasks", json={"project_id": project_id, "title": "t", "status": status})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_session(app: MaestroApp, project_id: str, task_ids=(), status: str = "running") -> str:
    session = await create_session_record(
        app.runtime.writer,
        project_id=project_id,
        name="worker",
        profile="shell",
        command=["bash"],
        cwd="/tmp",
        spawn_source="api",
        actor="api",
        task_ids=task_ids,
        status=status,
    )
    return session.id


async def set_link(client: httpx.AsyncClient, session_id: str, task_id: str, status: str) -> None:
    response = await client.post(f"/api/v1/sessions/{session_id}/tasks/{task_id}", json={"status": status})
    assert response.status_code == 200, response.text


async def last_seq(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/v1/events", params={"limit": 1})).json()["last_seq"]


async def events_after(client: httpx.AsyncClient, seq: int) -> list[dict]:
    return (await client.get("/api/v1/events", params={"after": seq, "limit": 1000})).json()["items"]


async def report(client: httpx.AsyncClient, session_id: str, kind: str, task_id: str | None = None) -> dict:
    body = {"kind": kind, "message": f"{kind} report"}
    if task_id is not None:
        body["task_id"] = task_id
    response = await client.post(f"/api/v1/sessions/{session_id}/reports", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def task_of(client: httpx.AsyncClient, task_id: str) -> dict:
    return (await client.get(f"/api/v1/tasks/{task_id}")).json()


def link_statuses(result: dict) -> dict[str, str]:
    return {link["task_id"]: link["status"] for link in result["links"]}


async def test_progress_with_task_resumes_everything(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid)
    sid = await make_session(app, pid, [tid], status="idle")
    await set_link(client, sid, tid, "blocked")
    seq = await last_seq(client)
    result = await report(client, sid, "progress", tid)
    entry = result["entry"]
    assert (entry["kind"], entry["message"], entry["task_id"], entry["session_id"]) == (
        "progress",
        "progress report",
        tid,
        sid,
    )
    assert result["session"]["status"] == "running" and result["session"]["started_at"] is not None
    assert link_statuses(result) == {tid: "working"} and result["session"]["tasks"] == result["links"]
    task = await task_of(client, tid)
    assert task["status"] == "in_progress" and task["started_at"] is not None
    events = await events_after(client, seq)
    assert [e["type"] for e in events] == ["timeline.added", "task.linked", "task.updated", "session.status_changed"]
    assert all(e["project_id"] == pid and e["actor"] == "api" for e in events)
    assert events[0]["entity_id"] == tid and events[0]["data"] == entry
    assert events[1]["data"] == {"task_id": tid, "session_id": sid, "status": "working"}
    assert events[2]["data"]["task"]["status"] == "in_progress"
    assert events[2]["data"]["changed"] == ["started_at", "status"]
    changed = events[3]["data"]
    assert (changed["from"], changed["to"], changed["session"]["status"]) == ("idle", "running", "running")
    assert changed["session"]["tasks"][0]["status"] == "working"
    # The one entry shows on both timelines.
    for path in (f"/api/v1/sessions/{sid}/timeline", f"/api/v1/tasks/{tid}/timeline"):
        assert [e["id"] for e in (await client.get(path)).json()] == [entry["id"]]


async def test_progress_changes_only_what_needs_changing(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid, status="in_review")
    sid = await make_session(app, pid, [tid], status="needs_input")
    seq = await last_seq(client)
    result = await report(client, sid, "progress")
    assert result["entry"]["task_id"] is None and result["session"]["status"] == "running"
    assert [e["type"] for e in await events_after(client, seq)] == ["timeline.added", "session.status_changed"]
    # Running session, working link, task past todo: only the entry is recorded.
    seq = await last_seq(client)
    result = await report(client, sid, "progress", tid)
    assert result["session"]["status"] == "running" and link_statuses(result) == {tid: "working"}
    assert (await task_of(client, tid))["status"] == "in_review"
    events = await events_after(client, seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [("timeline.added", tid)]


async def test_progress_revives_a_failed_link(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid, status="blocked")
    sid = await make_session(app, pid, [tid])
    await set_link(client, sid, tid, "failed")
    result = await report(client, sid, "progress", tid)
    assert link_statuses(result) == {tid: "working"}
    assert (await task_of(client, tid))["status"] == "blocked"  # only todo becomes in_progress


async def test_blocked_with_task(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    t1, t2 = await make_task(client, pid, "in_progress"), await make_task(client, pid)
    sid = await make_session(app, pid, [t1, t2])
    seq = await last_seq(client)
    result = await report(client, sid, "blocked", t1)
    assert result["entry"]["kind"] == "blocked" and result["session"]["status"] == "running"
    assert link_statuses(result) == {t1: "blocked", t2: "working"}
    assert (await task_of(client, t1))["status"] == "blocked"
    assert (await task_of(client, t2))["status"] == "todo"
    events = await events_after(client, seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [
        ("timeline.added", t1),
        ("task.linked", t1),
        ("task.updated", t1),
    ]
    assert events[2]["data"]["changed"] == ["status"]


async def test_blocked_without_task_blocks_working_links(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    t1, t2, t3 = [await make_task(client, pid, "in_progress") for _ in range(3)]
    sid = await make_session(app, pid, [t1, t2, t3])
    await set_link(client, sid, t3, "completed")
    seq = await last_seq(client)
    result = await report(client, sid, "blocked")
    assert result["entry"]["task_id"] is None and result["session"]["status"] == "running"
    assert link_statuses(result) == {t1: "blocked", t2: "blocked", t3: "completed"}
    assert [(await task_of(client, t))["status"] for t in (t1, t2, t3)] == ["in_progress"] * 3
    events = await events_after(client, seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [
        ("timeline.added", sid),
        ("task.linked", t1),
        ("task.linked", t2),
    ]


@pytest.mark.parametrize("with_task", [False, True])
async def test_needs_input(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path, with_task: bool):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid)
    sid = await make_session(app, pid, [tid])
    seq = await last_seq(client)
    result = await report(client, sid, "needs_input", tid if with_task else None)
    assert result["entry"]["kind"] == "needs_input" and result["entry"]["task_id"] == (tid if with_task else None)
    assert result["session"]["status"] == "needs_input" and link_statuses(result) == {tid: "working"}
    assert (await task_of(client, tid))["status"] == "todo"
    events = await events_after(client, seq)
    assert [e["type"] for e in events] == ["timeline.added", "session.status_changed"]
    assert (events[1]["data"]["from"], events[1]["data"]["to"]) == ("running", "needs_input")
    # Asking again changes no status: only the entry.
    seq = await last_seq(client)
    await report(client, sid, "needs_input")
    assert [e["type"] for e in await events_after(client, seq)] == ["timeline.added"]


async def test_completing_the_last_task_completes_the_session(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    pid = await make_project(client, tmp_path)
    t1, t2 = await make_task(client, pid, "in_progress"), await make_task(client, pid, "in_progress")
    sid = await make_session(app, pid, [t1, t2])
    seq = await last_seq(client)
    first = await report(client, sid, "complete", t1)
    assert first["entry"]["kind"] == "completed" and first["session"]["status"] == "running"
    assert link_statuses(first) == {t1: "completed", t2: "working"}
    task = await task_of(client, t1)
    assert task["status"] == "completed" and task["completed_at"] is not None
    events = await events_after(client, seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [
        ("timeline.added", t1),
        ("task.linked", t1),
        ("task.updated", t1),
    ]
    assert events[2]["data"]["changed"] == ["completed_at", "status"]
    seq = await last_seq(client)
    last = await report(client, sid, "complete", t2)
    assert last["session"]["status"] == "completed" and last["session"]["ended_at"] is not None
    assert link_statuses(last) == {t1: "completed", t2: "completed"}
    events = await events_after(client, seq)
    assert [e["type"] for e in events] == ["timeline.added", "task.linked", "task.updated", "session.status_changed"]
    changed = events[3]["data"]
    assert (changed["from"], changed["to"]) == ("running", "completed")
    assert [link["status"] for link in changed["session"]["tasks"]] == ["completed", "completed"]
    # Completed is final: a second completion is refused like any report on an ended session.
    response = await client.post(f"/api/v1/sessions/{sid}/reports", json={"kind": "complete", "message": "again"})
    assert response.status_code == 409 and response.json()["extra"] == {"status": "completed"}


async def test_complete_without_task_completes_open_links(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    t1, t2, t3 = [await make_task(client, pid, "in_progress") for _ in range(3)]
    sid = await make_session(app, pid, [t1, t2, t3])
    await set_link(client, sid, t2, "blocked")
    await set_link(client, sid, t3, "failed")
    seq = await last_seq(client)
    result = await report(client, sid, "complete")
    assert link_statuses(result) == {t1: "completed", t2: "completed", t3: "failed"}
    assert [(await task_of(client, t))["status"] for t in (t1, t2, t3)] == ["completed", "completed", "in_progress"]
    # A failed link means not all the work is done: the session stays open.
    assert result["session"]["status"] == "running"
    events = await events_after(client, seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [
        ("timeline.added", sid),
        ("task.linked", t1),
        ("task.updated", t1),
        ("task.linked", t2),
        ("task.updated", t2),
    ]


async def test_complete_without_task_completes_the_session(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    bare = await make_session(app, pid, status="idle")
    seq = await last_seq(client)
    result = await report(client, bare, "complete")
    assert result["session"]["status"] == "completed" and result["links"] == []
    assert [e["type"] for e in await events_after(client, seq)] == ["timeline.added", "session.status_changed"]
    tid = await make_task(client, pid, "completed")
    linked = await make_session(app, pid, [tid])
    await set_link(client, linked, tid, "completed")
    seq = await last_seq(client)
    result = await report(client, linked, "complete")
    assert result["session"]["status"] == "completed" and link_statuses(result) == {tid: "completed"}
    assert [e["type"] for e in await events_after(client, seq)] == ["timeline.added", "session.status_changed"]


async def test_error_with_task_fails_only_the_link(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    t1, t2 = await make_task(client, pid, "in_progress"), await make_task(client, pid)
    sid = await make_session(app, pid, [t1, t2])
    seq = await last_seq(client)
    result = await report(client, sid, "error", t1)
    assert result["entry"]["kind"] == "error" and result["session"]["status"] == "running"
    assert link_statuses(result) == {t1: "failed", t2: "working"}
    assert (await task_of(client, t1))["status"] == "in_progress"
    events = await events_after(client, seq)
    assert [(e["type"], e["entity_id"]) for e in events] == [("timeline.added", t1), ("task.linked", t1)]
    assert events[1]["data"]["status"] == "failed"


async def test_error_without_task_fails_the_session(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid)
    sid = await make_session(app, pid, [tid])
    seq = await last_seq(client)
    result = await report(client, sid, "error")
    assert result["session"]["status"] == "failed" and result["session"]["ended_at"] is not None
    assert link_statuses(result) == {tid: "failed"}  # reported: never "ended without report"
    assert result["session"]["status_reason"]["why"] == "its agent reported an error"
    events = await events_after(client, seq)
    assert [e["type"] for e in events] == ["timeline.added", "task.linked", "session.status_changed"]
    assert (events[2]["data"]["from"], events[2]["data"]["to"]) == ("running", "failed")


async def test_refused_reports_write_nothing(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid, other = await make_project(client, tmp_path, "A"), await make_project(client, tmp_path, "B")
    linked, unlinked, foreign = (
        await make_task(client, pid),
        await make_task(client, pid),
        await make_task(client, other),
    )
    sid = await make_session(app, pid, [linked])
    ended = {status: await make_session(app, pid, [linked], status=status) for status in ("stopped", "lost", "failed")}
    ok = {"kind": "progress", "message": "fine"}
    cases = [
        (sid, {**ok, "task_id": unlinked}, 400, f"task {unlinked} is not linked to session {sid}"),
        (sid, {**ok, "task_id": foreign}, 400, "is not linked"),
        (sid, {**ok, "task_id": "tsk_bad"}, 400, None),
        (sid, {**ok, "kind": "completed"}, 400, None),  # a timeline kind, not a report kind
        (sid, {**ok, "kind": "finished"}, 400, None),
        (sid, {**ok, "message": "   "}, 400, None),
        (sid, {**ok, "message": ""}, 400, None),
        (sid, {"kind": "progress"}, 400, None),
        (sid, {**ok, "session_id": sid}, 400, None),
        (sid, {**ok, "status": "running"}, 400, None),
        (MISSING_SES, ok, 404, f"session {MISSING_SES} not found"),
        ("ses_bad", ok, 400, None),
        *((ended_id, {**ok, "kind": "complete"}, 409, "has ended") for ended_id in ended.values()),
    ]
    seq = await last_seq(client)
    for session_id, body, status, detail in cases:
        response = await client.post(f"/api/v1/sessions/{session_id}/reports", json=body)
        assert response.status_code == status, (session_id, body, response.text)
        answer = response.json()
        assert set(answer) == {"status_code", "detail", "extra"} and answer["status_code"] == status
        if detail is not None:
            assert detail in answer["detail"], answer
    assert await events_after(client, seq) == []
    for session_id in (sid, *ended.values()):
        assert (await client.get(f"/api/v1/sessions/{session_id}/timeline")).json() == []
    for task_id in (linked, unlinked, foreign):
        assert (await client.get(f"/api/v1/tasks/{task_id}/timeline")).json() == []
    assert (await client.get(f"/api/v1/sessions/{sid}")).json()["status"] == "running"
    assert (await task_of(client, linked))["status"] == "todo"


async def test_report_route_is_documented_in_openapi(client: httpx.AsyncClient):
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/v1/sessions/{session_id}/reports"]["post"]
    assert operation["tags"] == ["sessions"] and "201" in operation["responses"]


async def test_an_agent_reports_only_on_itself(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid)
    sid, sibling = await make_session(app, pid, [tid]), await make_session(app, pid, [tid])
    agent_token = app.grants.issue(sid, pid, "worker")
    headers = {"Authorization": f"Bearer {agent_token}"}
    seq = await last_seq(client)
    body = {"kind": "progress", "message": "started", "task_id": tid}
    response = await client.post(f"/api/v1/sessions/{sibling}/reports", json=body, headers=headers)
    assert response.status_code == 403 and set(response.json()) == {"status_code", "detail", "extra"}
    assert await events_after(client, seq) == []
    response = await client.post(f"/api/v1/sessions/{sid}/reports", json=body, headers=headers)
    assert response.status_code == 201, response.text
    events = await events_after(client, seq)
    assert [e["type"] for e in events] == ["timeline.added", "task.updated"]
    assert {e["actor"] for e in events} == {sid}
