"""/api/v1/projects through the real stack: rules, errors, events and idempotent creates."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.db.tables import Event
from app.ids import is_id


async def create(client: httpx.AsyncClient, name: str, working_dir: Path, **extra) -> httpx.Response:
    return await client.post("/api/v1/projects", json={"name": name, "working_dir": str(working_dir), **extra})


async def test_create_get_list_update_delete(client: httpx.AsyncClient, tmp_path: Path):
    created = await create(client, "Alpha", tmp_path, description="first")
    assert created.status_code == 201
    project = created.json()
    assert is_id(project["id"], "prj")
    assert project["name"] == "Alpha" and project["working_dir"] == str(tmp_path)
    assert (await client.get(f"/api/v1/projects/{project['id']}")).json() == project
    assert [p["name"] for p in (await client.get("/api/v1/projects")).json()] == ["Alpha"]
    updated = await client.patch(f"/api/v1/projects/{project['id']}", json={"name": "Beta"})
    assert updated.status_code == 200 and updated.json()["name"] == "Beta"
    assert updated.json()["updated_at"] > project["updated_at"]
    assert (await client.delete(f"/api/v1/projects/{project['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/projects/{project['id']}")).status_code == 404
    types = [e["type"] for e in await Event.select(Event.type).order_by(Event.seq)]
    assert types == ["project.created", "project.updated", "project.deleted"]


async def test_bad_input_is_a_4xx_that_writes_nothing(client: httpx.AsyncClient, tmp_path: Path):
    await create(client, "Taken", tmp_path)
    cases = [
        ({"name": "Taken", "working_dir": str(tmp_path)}, 409),
        ({"name": "", "working_dir": str(tmp_path)}, 400),
        ({"name": "   ", "working_dir": str(tmp_path)}, 400),
        ({"name": "x" * 201, "working_dir": str(tmp_path)}, 400),
        ({"name": "New", "working_dir": "relative/dir"}, 400),
        ({"name": "New", "working_dir": str(tmp_path / "missing")}, 400),
        ({"name": "New", "working_dir": str(tmp_path), "surprise": 1}, 400),
        ({"name": 5, "working_dir": str(tmp_path)}, 400),
        ({"working_dir": str(tmp_path)}, 400),
    ]
    for body, status in cases:
        response = await client.post("/api/v1/projects", json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    assert len((await client.get("/api/v1/projects")).json()) == 1
    assert await Event.count() == 1
    assert (await client.get("/api/v1/projects/not-an-id")).status_code == 400
    assert (await client.get("/api/v1/projects/prj_0000000000000000000000")).status_code == 404


async def test_idempotency_key_returns_the_first_result(client: httpx.AsyncClient, tmp_path: Path):
    headers = {"Idempotency-Key": "retry-1"}
    body = {"name": "Once", "working_dir": str(tmp_path)}
    first = await client.post("/api/v1/projects", json=body, headers=headers)
    again = await client.post("/api/v1/projects", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len((await client.get("/api/v1/projects")).json()) == 1
    other = await client.post("/api/v1/projects", json={**body, "name": "Other"}, headers=headers)
    assert other.status_code == 409


async def test_delete_with_content_needs_cascade(client: httpx.AsyncClient, tmp_path: Path):
    from app.db.tables import Task
    from app.ids import new_id
    from app.models.common import utcnow

    project = (await create(client, "Full", tmp_path)).json()
    now = utcnow()
    await Task.insert(Task(id=new_id("tsk"), project=project["id"], title="t", created_at=now, updated_at=now))
    refused = await client.delete(f"/api/v1/projects/{project['id']}")
    assert refused.status_code == 409 and refused.json()["extra"] == {"tasks": 1, "sessions": 0}
    assert (await client.delete(f"/api/v1/projects/{project['id']}?cascade=true")).status_code == 204
    assert await Task.count() == 0


async def test_actor_comes_from_the_client_header(client: httpx.AsyncClient, tmp_path: Path):
    await client.post(
        "/api/v1/projects", json={"name": "Cli", "working_dir": str(tmp_path)}, headers={"X-Maestro-Client": "cli"}
    )
    assert (await Event.select(Event.actor).first())["actor"] == "cli"
