"""/api/v1/tasks through the real stack: CRUD, timestamps, filters, sorting, pagination, idempotency, bad input."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.tables import Event
from app.db.tables import Task as TaskRow
from app.ids import is_id, new_id
from app.models.common import utcnow

API = "/api/v1"
TASK_KEYS = {
    "id", "project_id", "parent_id", "title", "description", "status", "priority", "position", "skills",
    "initial_prompt", "due_date", "started_at", "completed_at", "archived_at", "created_at", "updated_at",
    "dependencies", "blocked_by", "session_ids", "status_reason", "run_plan", "run",
}  # fmt: skip


async def make_project(client: httpx.AsyncClient, working_dir: Path, name: str = "Alpha") -> str:
    """Create a project through the API; its id."""
    response = await client.post(f"{API}/projects", json={"name": name, "working_dir": str(working_dir)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_task(client: httpx.AsyncClient, project_id: str, title: str = "task", **fields: Any) -> dict:
    """Create a task through the API; the answer."""
    response = await client.post(f"{API}/tasks", json={"project_id": project_id, "title": title, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def list_ids(client: httpx.AsyncClient, params: Any) -> list[str]:
    """The ids of one page of GET /tasks."""
    response = await client.get(f"{API}/tasks", params=params)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


async def events_of(prefix: str = "task.") -> list[dict]:
    """Stored events whose type starts with `prefix`, oldest first."""
    rows = await Event.select().where(Event.type.like(f"{prefix}%")).order_by(Event.seq).output(load_json=True)
    return rows


async def test_create_get_update_delete(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(
        client, pid, "  Write docs ", description="**md**", priority="high", skills=["python"], due_date="2030-01-02"
    )
    assert set(task) == TASK_KEYS
    assert is_id(task["id"], "tsk") and task["project_id"] == pid and task["parent_id"] is None
    assert task["title"] == "Write docs" and task["status"] == "todo" and task["position"] == 0
    assert task["skills"] == ["python"] and task["due_date"] == "2030-01-02"
    assert task["dependencies"] == task["blocked_by"] == task["session_ids"] == []
    assert task["started_at"] is None and task["completed_at"] is None and task["archived_at"] is None
    assert (await client.get(f"{API}/tasks/{task['id']}")).json() == task

    updated = await client.patch(f"{API}/tasks/{task['id']}", json={"title": "Docs", "due_date": None})
    assert updated.status_code == 200
    body = updated.json()
    assert body["title"] == "Docs" and body["due_date"] is None and body["updated_at"] > task["updated_at"]
    assert (await client.get(f"{API}/tasks/{task['id']}")).json() == body

    assert (await client.delete(f"{API}/tasks/{task['id']}")).status_code == 204
    assert (await client.get(f"{API}/tasks/{task['id']}")).status_code == 404
    assert (await client.delete(f"{API}/tasks/{task['id']}")).status_code == 404

    created, changed, deleted = await events_of()
    assert [created["type"], changed["type"], deleted["type"]] == ["task.created", "task.updated", "task.deleted"]
    for event in (created, changed, deleted):
        assert event["project_id"] == pid and event["entity_id"] == task["id"] and event["actor"] == "api"
    assert created["data"] == task
    assert changed["data"] == {"task": body, "changed": ["due_date", "title"]}
    assert deleted["data"] == {"id": task["id"], "deleted_ids": [task["id"]]}


async def test_patch_with_nothing_different_writes_nothing(client: httpx.AsyncClient, tmp_path: Path):
    task = await make_task(client, await make_project(client, tmp_path), "same")
    before = await Event.count()
    for body in ({}, {"title": "same", "status": "todo"}, {"archived": False}):
        response = await client.patch(f"{API}/tasks/{task['id']}", json=body)
        assert response.status_code == 200 and response.json() == task
    assert await Event.count() == before


async def test_first_transition_timestamps_are_never_overwritten(client: httpx.AsyncClient, tmp_path: Path):
    task = await make_task(client, await make_project(client, tmp_path))
    url = f"{API}/tasks/{task['id']}"
    started = (await client.patch(url, json={"status": "in_progress"})).json()
    assert started["started_at"] is not None and started["completed_at"] is None
    done = (await client.patch(url, json={"status": "completed"})).json()
    assert done["started_at"] == started["started_at"] and done["completed_at"] is not None
    await client.patch(url, json={"status": "todo"})
    await client.patch(url, json={"status": "in_progress"})
    again = (await client.patch(url, json={"status": "completed"})).json()
    assert again["started_at"] == started["started_at"] and again["completed_at"] == done["completed_at"]
    changed = [e["data"]["changed"] for e in await events_of("task.updated")]
    assert changed[:2] == [["started_at", "status"], ["completed_at", "status"]]
    assert changed[2:] == [["status"], ["status"], ["status"]]


async def test_created_already_in_progress_or_completed_gets_its_timestamp(client: httpx.AsyncClient, tmp_path):
    pid = await make_project(client, tmp_path)
    running = await make_task(client, pid, status="in_progress")
    done = await make_task(client, pid, status="completed")
    assert running["started_at"] == running["created_at"] and running["completed_at"] is None
    assert done["completed_at"] == done["created_at"] and done["started_at"] is None


async def test_archive_and_unarchive(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(client, pid, "old")
    other = await make_task(client, pid, "current")
    archived = (await client.patch(f"{API}/tasks/{task['id']}", json={"archived": True})).json()
    assert archived["archived_at"] is not None
    assert await list_ids(client, {"project_id": pid}) == [other["id"]]
    assert await list_ids(client, {"project_id": pid, "include_archived": "true"}) == [task["id"], other["id"]]
    again = (await client.patch(f"{API}/tasks/{task['id']}", json={"archived": True})).json()
    assert again["archived_at"] == archived["archived_at"]  # archiving twice keeps the first time
    restored = (await client.patch(f"{API}/tasks/{task['id']}", json={"archived": False})).json()
    assert restored["archived_at"] is None
    assert [e["data"]["changed"] for e in await events_of("task.updated")] == [["archived_at"], ["archived_at"]]


async def test_filters_each_and_combined(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    other_pid = await make_project(client, tmp_path, "Other")
    root = await make_task(client, pid, "Root planning", status="in_progress")
    child = await make_task(client, pid, "Child", parent_id=root["id"], description="Fix the LOGIN page")
    blocked = await make_task(client, pid, "Blocked child", parent_id=root["id"], status="blocked")
    loose = await make_task(client, pid, "100% done_ish", status="completed")
    foreign = await make_task(client, other_pid, "login elsewhere")

    assert await list_ids(client, {}) == [root["id"], child["id"], blocked["id"], loose["id"], foreign["id"]]
    assert await list_ids(client, {"project_id": other_pid}) == [foreign["id"]]
    assert await list_ids(client, {"project_id": pid, "status": "blocked"}) == [blocked["id"]]
    multi = [("project_id", pid), ("status", "blocked"), ("status", "in_progress")]
    assert await list_ids(client, multi) == [root["id"], blocked["id"]]
    assert await list_ids(client, {"parent_id": "root", "project_id": pid}) == [root["id"], loose["id"]]
    assert await list_ids(client, {"parent_id": root["id"]}) == [child["id"], blocked["id"]]
    assert await list_ids(client, {"q": "login"}) == [child["id"], foreign["id"]]
    assert await list_ids(client, {"q": "LOGIN", "project_id": pid}) == [child["id"]]
    assert await list_ids(client, {"q": "child", "status": "todo"}) == [child["id"]]
    # % and _ in the search text are literal characters, not wildcards.
    assert await list_ids(client, {"q": "100%"}) == [loose["id"]]
    assert await list_ids(client, {"q": "e_i"}) == [loose["id"]]
    assert await list_ids(client, {"q": "0%d"}) == []
    combined = [("project_id", pid), ("parent_id", root["id"]), ("status", "todo"), ("status", "blocked"), ("q", "b")]
    assert await list_ids(client, combined) == [blocked["id"]]
    assert await list_ids(client, {"project_id": new_id("prj")}) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["a", "b", "c"]),
        ("-created_at", ["c", "b", "a"]),
        ("updated_at", ["a", "c", "b"]),
        ("-updated_at", ["b", "c", "a"]),
        ("title", ["c", "a", "b"]),
        ("-title", ["b", "a", "c"]),
        ("position", ["b", "a", "c"]),
        ("-position", ["c", "a", "b"]),
    ],
)
async def test_sort_orders(client: httpx.AsyncClient, tmp_path: Path, sort: str, expected: list[str]):
    pid = await make_project(client, tmp_path)
    a = await make_task(client, pid, "m")
    b = await make_task(client, pid, "z", position=0)  # positions now: b=0, a=1
    c = await make_task(client, pid, "b")  # c=2
    await client.patch(f"{API}/tasks/{b['id']}", json={"priority": "high"})  # b updated last
    names = {a["id"]: "a", b["id"]: "b", c["id"]: "c"}
    assert [names[i] for i in await list_ids(client, {"project_id": pid, "sort": sort})] == expected


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "-updated_at", "title", "position", "-position"])
async def test_cursor_pagination_returns_every_task_exactly_once(client: httpx.AsyncClient, tmp_path, sort):
    pid = await make_project(client, tmp_path)
    created = [await make_task(client, pid, f"t{i % 4}", status="todo" if i % 3 else "blocked") for i in range(23)]
    # Identical sort values across many rows: the id tie-breaker must still page through them correctly.
    await TaskRow.update({TaskRow.created_at: utcnow(), TaskRow.updated_at: utcnow()}).where(
        TaskRow.id.is_in([t["id"] for t in created[5:15]])
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"project_id": pid, "sort": sort, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{API}/tasks", params=params)).json()
        pages += 1
        assert len(page["items"]) <= 5
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == len(set(seen)) == 23
    assert sorted(seen) == sorted(t["id"] for t in created)
    all_at_once = await list_ids(client, {"project_id": pid, "sort": sort, "limit": 500})
    assert seen == all_at_once


async def test_cursor_with_status_filter_and_exact_page_boundary(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    blocked = [(await make_task(client, pid, f"b{i}", status="blocked"))["id"] for i in range(4)]
    await make_task(client, pid, "other")
    first = (await client.get(f"{API}/tasks", params={"status": "blocked", "limit": 2})).json()
    second = (
        await client.get(f"{API}/tasks", params={"status": "blocked", "limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [t["id"] for t in first["items"] + second["items"]] == blocked
    assert second["next_cursor"] is None  # exactly two left: no empty extra page


async def test_malformed_cursor_limit_and_query_values_are_400(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    for _ in range(3):
        await make_task(client, pid)
    cursor = (await client.get(f"{API}/tasks", params={"limit": 1})).json()["next_cursor"]

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    bad_params = [
        {"cursor": "not a cursor!"},
        {"cursor": "zzz"},
        {"cursor": b64(b"[1, 2]")},
        {"cursor": b64(b'["created_at", "yesterday", "tsk_x"]')},
        {"cursor": b64(b'["created_at", "2030-01-01T00:00:00Z", "nope"]')},
        {"cursor": b64(b'["created_at", "2030-01-01T00:00:00", "tsk_0000000000000000000000"]')},
        {"cursor": b64(b'["position", "x", "tsk_0000000000000000000000"]')},
        {"cursor": b64("\u00e9".encode())},
        {"cursor": b64(b'["position", 99999999999999999999999, "tsk_0000000000000000000000"]'), "sort": "position"},
        {"cursor": b64(b'["title", "a\\u0000", "tsk_0000000000000000000000"]'), "sort": "title"},
        {"cursor": b64(b'["created_at", "9999-12-31T23:00:00-05:00", "tsk_0000000000000000000000"]')},
        {"cursor": cursor, "sort": "title"},  # a cursor from another sort order
        {"limit": 501},
        {"limit": 0},
        {"limit": "ten"},
        {"sort": "priority"},
        {"status": "later"},
        {"parent_id": "tsk_bad"},
        {"project_id": "prj_short"},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "a\x00"},
        {"include_archived": "perhaps"},
    ]
    for params in bad_params:
        response = await client.get(f"{API}/tasks", params=params)
        assert response.status_code == 400, (params, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    assert (await client.get(f"{API}/tasks", params={"limit": 500})).status_code == 200


async def test_idempotent_create(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    body = {"project_id": pid, "title": "once"}
    headers = {"Idempotency-Key": "task-retry-1"}
    first = await client.post(f"{API}/tasks", json=body, headers=headers)
    again = await client.post(f"{API}/tasks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert len(await list_ids(client, {"project_id": pid})) == 1
    assert len(await events_of("task.created")) == 1
    other = await client.post(f"{API}/tasks", json={**body, "title": "twice"}, headers=headers)
    assert other.status_code == 409
    fresh = await client.post(f"{API}/tasks", json=body, headers={"Idempotency-Key": "task-retry-2"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


async def test_bad_input_is_a_4xx_that_writes_nothing(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    other_pid = await make_project(client, tmp_path, "Other")
    task = await make_task(client, pid, "existing")
    foreign = await make_task(client, other_pid, "foreign")
    missing_task = new_id("tsk")
    before = await Event.count()
    base = {"project_id": pid, "title": "t"}
    creates = [
        ({"title": "t"}, 400),
        ({"project_id": pid}, 400),
        ({**base, "surprise": 1}, 400),
        ({**base, "title": ""}, 400),
        ({**base, "title": "   "}, 400),
        ({**base, "title": "x" * 201}, 400),
        ({**base, "title": 5}, 400),
        ({**base, "title": "nul\x00inside"}, 400),  # PostgreSQL text cannot hold NUL: refused on both databases
        ({**base, "description": "\x00"}, 400),
        ({**base, "description": "x" * 65537}, 400),
        ({**base, "initial_prompt": "x" * 65537}, 400),
        ({**base, "status": "done"}, 400),
        ({**base, "priority": "urgent"}, 400),
        ({**base, "position": -1}, 400),
        ({**base, "position": "first"}, 400),
        ({**base, "skills": "python"}, 400),
        ({**base, "skills": ["bad skill name"]}, 400),
        ({**base, "due_date": "tomorrow"}, 400),
        ({**base, "parent_id": "tsk_nope"}, 400),
        ({**base, "parent_id": task["project_id"]}, 400),
        ({**base, "parent_id": missing_task}, 400),
        ({**base, "parent_id": foreign["id"]}, 400),
        ({**base, "project_id": "prj_nope"}, 400),
        ({**base, "project_id": new_id("prj")}, 400),
        ({**base, "project_id": None}, 400),
    ]
    for body, status in creates:
        response = await client.post(f"{API}/tasks", json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    for raw in (b"not json", b"[]", b'"x"', b"{"):
        response = await client.post(f"{API}/tasks", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
    url = f"{API}/tasks/{task['id']}"
    patches = [
        {"title": ""},
        {"title": None},
        {"status": "finished"},
        {"priority": 3},
        {"archived": "yes"},
        {"description": "x" * 65537},
        {"project_id": other_pid},
        {"parent_id": None},
        {"position": 3},
        {"started_at": "2030-01-01T00:00:00Z"},
    ]
    for body in patches:
        response = await client.patch(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    for method, path in [
        ("GET", f"{API}/tasks/not-an-id"),
        ("PATCH", f"{API}/tasks/tsk_short"),
        ("DELETE", f"{API}/tasks/{pid}"),
        ("GET", f"{API}/tasks/{task['id']}x/tree"),
    ]:
        response = await client.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 400, (method, path, response.text)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, f"{API}/tasks/{missing_task}", json={} if method == "PATCH" else None)
        assert response.status_code == 404 and set(response.json()) == {"status_code", "detail", "extra"}
    assert await Event.count() == before
    assert len(await list_ids(client, {})) == 2
