"""GET /api/v1/events: every committed change is in the log, in seq order, filterable and pageable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx


async def test_log_pages_by_seq_and_filters_by_project(client: httpx.AsyncClient, tmp_path: Path):
    a = (await client.post("/api/v1/projects", json={"name": "A", "working_dir": str(tmp_path)})).json()
    b = (await client.post("/api/v1/projects", json={"name": "B", "working_dir": str(tmp_path)})).json()
    await client.patch(f"/api/v1/projects/{a['id']}", json={"description": "changed"})
    page = (await client.get("/api/v1/events")).json()
    assert [e["type"] for e in page["items"]] == ["project.created", "project.created", "project.updated"]
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and page["last_seq"] == seqs[-1]
    first = page["items"][0]
    assert first["v"] == 1 and first["actor"] == "api" and first["entity_id"] == a["id"]
    assert first["data"]["name"] == "A"
    only_b = (await client.get("/api/v1/events", params={"project_id": b["id"]})).json()["items"]
    assert [e["entity_id"] for e in only_b] == [b["id"]]
    after = (await client.get("/api/v1/events", params={"after": seqs[0], "limit": 1})).json()["items"]
    assert [e["seq"] for e in after] == [seqs[1]]


async def test_concurrent_writes_get_distinct_increasing_seqs(client: httpx.AsyncClient, tmp_path: Path):
    bodies = [{"name": f"P{i}", "working_dir": str(tmp_path)} for i in range(40)]
    answers = await asyncio.gather(*(client.post("/api/v1/projects", json=b) for b in bodies))
    assert all(r.status_code == 201 for r in answers)
    items = (await client.get("/api/v1/events", params={"limit": 1000})).json()["items"]
    assert len(items) == 40
    assert [e["seq"] for e in items] == sorted({e["seq"] for e in items})
    assert {e["entity_id"] for e in items} == {r.json()["id"] for r in answers}


async def test_bad_parameters_are_400(client: httpx.AsyncClient):
    for params in ({"after": -1}, {"limit": 0}, {"limit": 5000}, {"project_id": "nope"}, {"after": "x"}):
        response = await client.get("/api/v1/events", params=params)
        assert response.status_code == 400, params
