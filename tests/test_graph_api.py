"""GET /projects/{id}/graph through the real stack: nodes with their run states and reasons, edges only between
shown tasks, archived tasks left out, the ready queue in start order, the runs holding agent slots, subtrees, and
every refusal. Planned runs are started by the real scheduler, with an agent that only waits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from app.web import MaestroApp
from tests.test_tasks import API, make_project, make_task
from tests.ui_support import eventually

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
PLAN = {"profile": "sleeper", "on_failure": "stop"}


@pytest.fixture(autouse=True)
def sleeper_profile(app: MaestroApp) -> None:
    """An agent whose program exists and waits: planned runs start and keep running."""
    (app.settings.home / "config.toml").write_text(
        f'[profiles.sleeper]\nargv = {json.dumps(SLEEPER)}\nprompt_via = "none"\n'
    )


async def depend(client: httpx.AsyncClient, task: dict, *on: dict) -> None:
    for dep in on:
        response = await client.post(f"{API}/tasks/{task['id']}/dependencies", json={"depends_on": dep["id"]})
        assert response.status_code == 201, response.text


async def plan(client: httpx.AsyncClient, *tasks: dict) -> None:
    for task in tasks:
        response = await client.put(f"{API}/tasks/{task['id']}/plan", json=PLAN)
        assert response.status_code == 200, response.text


async def graph(client: httpx.AsyncClient, project_id: str, **params: str) -> dict:
    response = await client.get(f"{API}/projects/{project_id}/graph", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def graph_running(client: httpx.AsyncClient, project_id: str) -> bool:
    """Does a run of the project run in its session (past "starting")?"""
    found = await graph(client, project_id)
    return any(n["run_state"] == "running" for n in found["nodes"])


def by_id(found: dict) -> dict[str, dict]:
    return {n["id"]: n for n in found["nodes"]}


async def test_the_graph_shows_states_edges_the_queue_and_the_running_agent(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    assert (await client.patch(f"{API}/projects/{pid}", json={"max_agents": 1})).status_code == 200
    # A diamond (design -> api, ui -> ship) beside two independent planned tasks, and an archived one.
    design = await make_task(client, pid, "Design", status="completed")
    api = await make_task(client, pid, "Build the API")
    web = await make_task(client, pid, "Build the UI")
    ship = await make_task(client, pid, "Ship it")
    docs = await make_task(client, pid, "Write docs", priority="high")
    lint = await make_task(client, pid, "Lint")
    old = await make_task(client, pid, "Old idea")
    await depend(client, api, design)
    await depend(client, web, design)
    await depend(client, ship, api, web, old)
    await client.patch(f"{API}/tasks/{old['id']}", json={"archived": True})
    await plan(client, docs)  # planned first, it takes the one agent slot
    await eventually(lambda: graph_running(client, pid), timeout=15)
    await plan(client, api, web, ship, lint)

    # One slot, taken: the others that are ready queue in start order; the one whose dependencies wait, waits.
    async def settled() -> dict:
        found = await graph(client, pid)
        return found if found["running"] and len(found["queue"]) == 3 else {}

    await eventually(settled, timeout=15)
    found = await graph(client, pid)
    nodes = by_id(found)
    assert found["project_id"] == pid and found["root_id"] is None and found["max_agents"] == 1
    assert old["id"] not in nodes and len(nodes) == 6
    assert found["running"] == [docs["id"]]
    running = nodes[docs["id"]]
    assert running["run_state"] == "running" and running["session_id"].startswith("ses_")
    assert "running in session" in running["reason"]
    assert found["queue"][0] == api["id"] and set(found["queue"]) == {api["id"], web["id"], lint["id"]}
    assert [nodes[t]["queue_position"] for t in found["queue"]] == [1, 2, 3]
    assert nodes[ship["id"]]["run_state"] == "waiting" and nodes[ship["id"]]["planned"] is True
    assert nodes[design["id"]]["run_state"] is None and nodes[design["id"]]["planned"] is False
    assert nodes[design["id"]]["status"] == "completed"
    edges = {(e["depends_on"], e["task_id"]) for e in found["edges"]}
    assert edges == {
        (design["id"], api["id"]),
        (design["id"], web["id"]),
        (api["id"], ship["id"]),
        (web["id"], ship["id"]),
    }  # the edge to the archived task is left out

    # Bumped to the front, a queued task starts next.
    assert (await client.post(f"{API}/tasks/{lint['id']}/bump")).status_code == 200
    assert (await graph(client, pid))["queue"][0] == lint["id"]


async def test_a_subtree_shows_only_its_tasks_and_the_edges_between_them(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    root = await make_task(client, pid, "Release 2.0")
    a = await make_task(client, pid, "Migrate", parent_id=root["id"])
    b = await make_task(client, pid, "Backfill", parent_id=a["id"])
    outside = await make_task(client, pid, "Unrelated")
    await depend(client, b, a)
    await depend(client, a, outside)
    found = await graph(client, pid, root_id=root["id"])
    assert found["root_id"] == root["id"]
    assert {n["id"] for n in found["nodes"]} == {root["id"], a["id"], b["id"]}
    assert found["edges"] == [{"task_id": b["id"], "depends_on": a["id"]}]
    assert by_id(found)[b["id"]]["parent_id"] == a["id"]
    whole = await graph(client, pid)
    assert len(whole["nodes"]) == 4 and len(whole["edges"]) == 2


async def test_refusals(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    other = await make_project(client, tmp_path, name="Beta")
    theirs = await make_task(client, other, "Not yours")
    empty = await graph(client, pid)
    assert empty["nodes"] == [] and empty["edges"] == [] and empty["queue"] == [] and empty["running"] == []

    unknown = await client.get(f"{API}/projects/prj_{'0' * 22}/graph")
    assert unknown.status_code == 404 and set(unknown.json()) == {"status_code", "detail", "extra"}
    foreign = await client.get(f"{API}/projects/{pid}/graph", params={"root_id": theirs["id"]})
    assert foreign.status_code == 404 and theirs["id"] in foreign.json()["detail"]
    missing = await client.get(f"{API}/projects/{pid}/graph", params={"root_id": f"tsk_{'0' * 22}"})
    assert missing.status_code == 404
    malformed = await client.get(f"{API}/projects/{pid}/graph", params={"root_id": "nope"})
    assert malformed.status_code == 400
