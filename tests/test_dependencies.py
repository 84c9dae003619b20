"""Task dependencies through the real stack: add, remove, blocked_by, session ids, and every refusal."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.db.tables import Event, TaskDependency, TaskSession
from app.db.tables import Session as SessionRow
from app.ids import new_id
from app.models.common import utcnow
from tests.test_tasks import API, events_of, make_project, make_task


async def depend(client: httpx.AsyncClient, task_id: str, depends_on: str) -> httpx.Response:
    """POST /tasks/{task_id}/dependencies."""
    return await client.post(f"{API}/tasks/{task_id}/dependencies", json={"depends_on": depends_on})


async def test_add_and_remove(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    a = await make_task(client, pid, "a")
    b = await make_task(client, pid, "b")
    c = await make_task(client, pid, "c", status="completed")
    added = await depend(client, a["id"], b["id"])
    assert added.status_code == 201
    assert added.json()["dependencies"] == [b["id"]] and added.json()["blocked_by"] == [b["id"]]
    both = (await depend(client, a["id"], c["id"])).json()
    assert both["dependencies"] == sorted([b["id"], c["id"]]) and both["blocked_by"] == [b["id"]]
    assert (await client.get(f"{API}/tasks/{a['id']}")).json() == both
    assert (await client.get(f"{API}/tasks/{b['id']}")).json()["dependencies"] == []

    removed = await client.delete(f"{API}/tasks/{a['id']}/dependencies/{b['id']}")
    assert removed.status_code == 204
    after = (await client.get(f"{API}/tasks/{a['id']}")).json()
    assert after["dependencies"] == [c["id"]] and after["blocked_by"] == []
    again = await client.delete(f"{API}/tasks/{a['id']}/dependencies/{b['id']}")
    assert again.status_code == 404 and set(again.json()) == {"status_code", "detail", "extra"}

    events = await events_of("task.dependency")
    assert [e["type"] for e in events] == ["task.dependency_added", "task.dependency_added", "task.dependency_removed"]
    assert events[0]["data"] == {"task_id": a["id"], "depends_on": b["id"]}
    assert events[2]["data"] == {"task_id": a["id"], "depends_on": b["id"]}
    assert all(e["project_id"] == pid and e["entity_id"] == a["id"] for e in events)


async def test_blocked_by_follows_the_status_of_dependencies(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    a = await make_task(client, pid, "a")
    b = await make_task(client, pid, "b")
    await depend(client, a["id"], b["id"])
    assert (await client.get(f"{API}/tasks/{a['id']}")).json()["blocked_by"] == [b["id"]]
    await client.patch(f"{API}/tasks/{b['id']}", json={"status": "completed"})
    assert (await client.get(f"{API}/tasks/{a['id']}")).json()["blocked_by"] == []
    await client.patch(f"{API}/tasks/{b['id']}", json={"status": "in_review"})
    page = (await client.get(f"{API}/tasks", params={"project_id": pid})).json()["items"]
    assert {t["id"]: t["blocked_by"] for t in page} == {a["id"]: [b["id"]], b["id"]: []}


async def test_page_hydrates_dependencies_and_session_ids_in_bulk(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tasks = [await make_task(client, pid, f"t{i}") for i in range(6)]
    for i in range(1, 6):
        assert (await depend(client, tasks[i]["id"], tasks[i - 1]["id"])).status_code == 201
    now = utcnow()
    sessions = sorted(new_id("ses") for _ in range(2))
    for sid in sessions:
        await SessionRow.insert(SessionRow(id=sid, project=pid, created_at=now, updated_at=now))
        await TaskSession.insert(TaskSession(task=tasks[2]["id"], session=sid, created_at=now, updated_at=now))
    page = (await client.get(f"{API}/tasks", params={"project_id": pid})).json()["items"]
    by_id = {t["id"]: t for t in page}
    assert by_id[tasks[0]["id"]]["dependencies"] == []
    for i in range(1, 6):
        assert by_id[tasks[i]["id"]]["dependencies"] == [tasks[i - 1]["id"]]
    assert by_id[tasks[2]["id"]]["session_ids"] == sessions
    assert all(t["session_ids"] == [] for t in page if t["id"] != tasks[2]["id"])
    tree = (await client.get(f"{API}/tasks/{tasks[2]['id']}/tree")).json()
    assert tree["task"]["session_ids"] == sessions


async def test_refusals_write_nothing(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    other = await make_project(client, tmp_path, "Other")
    a = await make_task(client, pid, "a")
    b = await make_task(client, pid, "b")
    c = await make_task(client, pid, "c")
    foreign = await make_task(client, other, "foreign")
    assert (await depend(client, a["id"], b["id"])).status_code == 201
    assert (await depend(client, b["id"], c["id"])).status_code == 201
    before = await Event.count()
    edges = await TaskDependency.count()
    url = f"{API}/tasks/{a['id']}/dependencies"
    cases = [
        (url, {"depends_on": a["id"]}, 409),  # itself
        (url, {"depends_on": b["id"]}, 409),  # duplicate
        (f"{API}/tasks/{c['id']}/dependencies", {"depends_on": a["id"]}, 409),  # a -> b -> c -> a
        (f"{API}/tasks/{b['id']}/dependencies", {"depends_on": a["id"]}, 409),  # a -> b -> a
        (url, {"depends_on": foreign["id"]}, 400),
        (url, {"depends_on": new_id("tsk")}, 400),
        (url, {"depends_on": "tsk_bad"}, 400),
        (url, {"depends_on": pid}, 400),
        (url, {"depends_on": None}, 400),
        (url, {}, 400),
        (url, {"depends_on": b["id"], "extra": True}, 400),
        (f"{API}/tasks/{new_id('tsk')}/dependencies", {"depends_on": a["id"]}, 404),
        (f"{API}/tasks/not-an-id/dependencies", {"depends_on": a["id"]}, 400),
    ]
    for path, body, status in cases:
        response = await client.post(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    for path, status in [
        (f"{API}/tasks/{a['id']}/dependencies/{c['id']}", 404),
        (f"{API}/tasks/{new_id('tsk')}/dependencies/{b['id']}", 404),
        (f"{API}/tasks/{a['id']}/dependencies/nope", 400),
    ]:
        response = await client.delete(path)
        assert response.status_code == status, (path, response.text)
    assert await Event.count() == before
    assert await TaskDependency.count() == edges
    # A diamond is not a cycle: a -> c directly as well as through b.
    assert (await depend(client, a["id"], c["id"])).status_code == 201
