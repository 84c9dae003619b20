"""Run plans through the real stack: plan, unplan, run a tree, bump and decide over HTTP, their refusals in the one
error shape, the events they emit, and who may call them.

Planned tasks here always wait on an unfinished "gate" task, so whether a scheduler runs or not, none starts: what
is tested is what the routes answer and store, never when an agent starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx

from app.web import MaestroApp
from tests.test_tasks import events_of, make_project, make_task
from tests.test_worktrees_api import wait_ended

API = "/api/v1"
PLAN = {"profile": "shell"}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error body, after checking its status and its one shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"} and body["status_code"] == status, body
    return body


async def gated(client: httpx.AsyncClient, project_id: str, title: str, gate: dict, **fields: Any) -> dict:
    """A task that depends on `gate` (unfinished), so a plan on it waits."""
    task = await make_task(client, project_id, title, **fields)
    response = await client.post(f"{API}/tasks/{task['id']}/dependencies", json={"depends_on": gate["id"]})
    assert response.status_code == 201, response.text
    return response.json()


async def plan(client: httpx.AsyncClient, task_id: str, body: dict | None = None) -> dict:
    response = await client.put(f"{API}/tasks/{task_id}/plan", json=body or PLAN)
    assert response.status_code == 200, response.text
    return response.json()


async def quick_profile(client: httpx.AsyncClient) -> None:
    """A profile `quick` whose program exits at once without reporting anything."""
    body = {"argv": [sys.executable, "-c", "pass"], "prompt_via": "none"}
    response = await client.put(f"{API}/profiles/quick", json=body)
    assert response.status_code in (200, 201), response.text


async def ended_without_report(client: httpx.AsyncClient, app: MaestroApp, project_id: str, title: str) -> dict:
    """A task whose agent exited without reporting it complete: its run ended without report."""
    task = await make_task(client, project_id, title)
    spawned = await client.post(
        f"{API}/sessions", json={"project_id": project_id, "task_ids": [task["id"]], "profile": "quick"}
    )
    assert spawned.status_code == 201, spawned.text
    await app.runtime.runner.settled(spawned.json()["id"])
    await wait_ended(client, spawned.json()["id"])
    task = (await client.get(f"{API}/tasks/{task['id']}")).json()
    assert task["run"]["state"] == "ended_without_report", task
    return task


async def test_plan_arms_a_task_and_unplan_disarms_it(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    gate = await make_task(client, pid, "gate")
    task = await gated(client, pid, "Write the parser", gate)
    body = {
        "profile": "shell",
        "skills": ["python"],
        "instructions": "Keep it small",
        "check": {"command": "pytest -q"},
        "on_failure": "retry",
        "retries": 3,
    }
    planned = await plan(client, task["id"], body)
    assert planned["run_plan"] == {
        "profile": "shell",
        "role": "worker",
        "skills": ["python"],
        "instructions": "Keep it small",
        "isolation": None,
        "base_ref": None,
        "check": {"command": "pytest -q", "timeout_s": 600},
        "on_failure": "retry",
        "retries": 3,
    }
    run = planned["run"]
    assert run["state"] == "waiting" and run["attempt"] == 0 and run["session_id"] is None
    assert run["queue_position"] is None and run["failed_dependencies"] == []
    assert run["reason"]["by"] == "api" and "planned by api" in run["reason"]["why"]
    assert run["reason"]["event"] == "task.updated" and run["reason"]["at"]
    assert (await client.get(f"{API}/tasks/{task['id']}")).json() == planned

    # A new plan replaces the old one; the run keeps waiting.
    replaced = await plan(client, task["id"], {"profile": "shell", "on_failure": "ask"})
    assert replaced["run_plan"]["on_failure"] == "ask" and replaced["run_plan"]["check"] is None
    assert replaced["run"]["state"] == "waiting"

    response = await client.delete(f"{API}/tasks/{task['id']}/plan")
    assert response.status_code == 200, response.text
    unplanned = response.json()
    assert unplanned["run_plan"] is None and unplanned["run"] is None
    again = await client.delete(f"{API}/tasks/{task['id']}/plan")
    assert again.status_code == 200 and again.json() == unplanned  # nothing left to remove: no change

    updates = [e for e in await events_of("task.updated") if e["entity_id"] == task["id"]]
    assert [e["data"]["changed"] for e in updates] == [["run", "run_plan"], ["run_plan"], ["run", "run_plan"]]
    assert [e["data"]["task"] for e in updates] == [planned, replaced, unplanned]
    assert {e["actor"] for e in updates} == {"api"}


async def test_plan_refusals_are_in_the_one_error_shape(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    task = await make_task(client, pid, "t")
    url = f"{API}/tasks/{task['id']}/plan"

    bad_name = error_of(await client.put(url, json={"profile": "-oops"}), 400)
    assert bad_name["extra"] and "profile" in str(bad_name["extra"])
    unknown = error_of(await client.put(url, json={"profile": "nobody-has-this"}), 400)
    assert "nobody-has-this" in unknown["detail"] and "shell" in unknown["detail"]
    assert unknown["extra"] == {"profile": "nobody-has-this"}
    error_of(await client.put(url, json={"profile": "shell", "retries": 11}), 400)
    error_of(await client.put(url, json={"profile": "shell", "on_failure": "pray"}), 400)
    error_of(await client.put(url, json={"profile": "shell", "check": {"command": "  "}}), 400)
    error_of(await client.put(url, json={"profile": "shell", "surprise": 1}), 400)
    error_of(await client.put(url, json={}), 400)
    assert (await client.get(f"{API}/tasks/{task['id']}")).json()["run_plan"] is None  # nothing was stored

    missing = "tsk_0000000000000000000000"
    for response in (
        await client.put(f"{API}/tasks/{missing}/plan", json=PLAN),
        await client.delete(f"{API}/tasks/{missing}/plan"),
        await client.post(f"{API}/tasks/{missing}/run-tree", json={"plan": PLAN}),
        await client.post(f"{API}/tasks/{missing}/bump"),
        await client.post(f"{API}/tasks/{missing}/run/decide", json={"action": "retry"}),
    ):
        error_of(response, 404)
    error_of(await client.put(f"{API}/tasks/not-an-id/plan", json=PLAN), 400)


async def test_bump_moves_an_armed_task_to_the_front(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    gate = await make_task(client, pid, "gate")
    first = await gated(client, pid, "first", gate)
    second = await gated(client, pid, "second", gate)

    refused = error_of(await client.post(f"{API}/tasks/{second['id']}/bump"), 409)
    assert "not waiting to start" in refused["detail"] and refused["extra"] == {"run_state": None}

    await plan(client, first["id"])
    await plan(client, second["id"])
    response = await client.post(f"{API}/tasks/{second['id']}/bump")
    assert response.status_code == 200, response.text
    bumped = response.json()
    assert bumped["run"]["state"] == "waiting"
    assert bumped["run"]["reason"]["why"] == "moved to the front of the queue by api"
    last = [e for e in await events_of("task.updated") if e["entity_id"] == second["id"]][-1]
    assert last["data"] == {"task": bumped, "changed": ["run"]}


async def test_decide_answers_a_failed_run(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    await quick_profile(client)
    gate = await make_task(client, pid, "gate")
    waiting = await gated(client, pid, "waiting", gate)
    await plan(client, waiting["id"])
    refused = error_of(await client.post(f"{API}/tasks/{waiting['id']}/run/decide", json={"action": "stop"}), 409)
    assert "has not failed" in refused["detail"] and refused["extra"] == {"run_state": "waiting"}
    error_of(await client.post(f"{API}/tasks/{waiting['id']}/run/decide", json={"action": "give up"}), 400)

    broken = await ended_without_report(client, app, pid, "broken")
    assert "without reporting it complete" in broken["run"]["reason"]["why"]
    downstream = await gated(client, pid, "downstream", broken)
    downstream = await plan(client, downstream["id"], {"profile": "quick"})  # it may start once Build is skipped
    assert downstream["run"]["state"] == "waiting" and downstream["run"]["failed_dependencies"] == [broken["id"]]

    no_plan = error_of(await client.post(f"{API}/tasks/{broken['id']}/run/decide", json={"action": "retry"}), 409)
    assert "no run plan" in no_plan["detail"]
    response = await client.post(f"{API}/tasks/{broken['id']}/run/decide", json={"action": "stop"})
    assert response.status_code == 200, response.text
    stopped = response.json()
    assert stopped["run"]["state"] == "failed" and stopped["status"] != "completed"
    assert stopped["run"]["reason"]["why"].startswith("stopped by api")
    after = (await client.get(f"{API}/tasks/{downstream['id']}")).json()
    assert after["run"]["failed_dependencies"] == [broken["id"]] and after["blocked_by"] == [broken["id"]]

    skipped = (await client.post(f"{API}/tasks/{broken['id']}/run/decide", json={"action": "skip"})).json()
    assert skipped["status"] == "completed" and skipped["run"]["state"] == "done"
    assert skipped["status_reason"]["why"].startswith("skipped by api")
    after = (await client.get(f"{API}/tasks/{downstream['id']}")).json()
    assert after["blocked_by"] == [] and after["run"]["failed_dependencies"] == []
    decided = [e for e in await events_of("task.updated") if e["entity_id"] == broken["id"]][-2:]
    assert [e["data"]["changed"] for e in decided] == [["run"], ["completed_at", "run", "status"]]


async def test_run_tree_plans_every_unfinished_leaf_once(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    gate = await make_task(client, pid, "gate")
    root = await make_task(client, pid, "Release")
    leaf = await gated(client, pid, "leaf", gate, parent_id=root["id"])
    mine = await gated(client, pid, "has a plan", gate, parent_id=root["id"])
    await plan(client, mine["id"], {"profile": "shell", "on_failure": "ask"})
    await make_task(client, pid, "done already", parent_id=root["id"], status="completed")
    middle = await make_task(client, pid, "middle", parent_id=root["id"])
    deep = await gated(client, pid, "deep", gate, parent_id=middle["id"])

    tree_plan = {"profile": "shell", "role": "worker", "check": {"command": "true", "timeout_s": 30}}
    response = await client.post(f"{API}/tasks/{root['id']}/run-tree", json={"plan": tree_plan})
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {"planned", "already_planned"}
    assert sorted(result["planned"]) == sorted([leaf["id"], deep["id"]])
    assert result["already_planned"] == [mine["id"]]
    for task_id in result["planned"]:
        task = (await client.get(f"{API}/tasks/{task_id}")).json()
        assert task["run_plan"]["check"] == {"command": "true", "timeout_s": 30} and task["run"]["state"] == "waiting"
        assert "with its tree" in task["run"]["reason"]["why"]
    assert (await client.get(f"{API}/tasks/{mine['id']}")).json()["run_plan"]["on_failure"] == "ask"
    for task_id in (root["id"], middle["id"]):  # parents are never planned: their leaves are
        assert (await client.get(f"{API}/tasks/{task_id}")).json()["run_plan"] is None

    finished = await make_task(client, pid, "Finished")
    await make_task(client, pid, "child", parent_id=finished["id"], status="cancelled")
    refused = error_of(await client.post(f"{API}/tasks/{finished['id']}/run-tree", json={"plan": PLAN}), 400)
    assert "no unfinished leaf" in refused["detail"] and refused["extra"] == {"task_id": finished["id"]}
    unknown = {"plan": {"profile": "nobody-has-this"}}
    error_of(await client.post(f"{API}/tasks/{root['id']}/run-tree", json=unknown), 400)
    error_of(await client.post(f"{API}/tasks/{root['id']}/run-tree", json=PLAN), 400)  # not wrapped in "plan"


async def test_only_an_orchestrator_session_may_plan(
    app: MaestroApp, anon: httpx.AsyncClient, client: httpx.AsyncClient, tmp_path: Path
):
    pid = await make_project(client, tmp_path)
    (tmp_path / "other").mkdir()
    other = await make_project(client, tmp_path / "other", "Other")
    gate = await make_task(client, pid, "gate")
    task = await gated(client, pid, "work", gate)
    foreign = await make_task(client, other, "not yours")
    worker = app.grants.issue("ses_000000000000000000000w", pid, "worker")
    boss = app.grants.issue("ses_000000000000000000000b", pid, "orchestrator")
    as_worker = {"Authorization": f"Bearer {worker}"}
    as_boss = {"Authorization": f"Bearer {boss}"}

    calls = [
        ("PUT", f"/tasks/{task['id']}/plan", PLAN),
        ("POST", f"/tasks/{task['id']}/bump", None),
        ("POST", f"/tasks/{task['id']}/run/decide", {"action": "skip"}),
        ("POST", f"/tasks/{task['id']}/run-tree", {"plan": PLAN}),
        ("DELETE", f"/tasks/{task['id']}/plan", None),
    ]
    for method, path, body in calls:
        refused = error_of(await anon.request(method, API + path, json=body, headers=as_worker), 403)
        assert "only an orchestrator" in refused["detail"], (method, path)
    assert (await client.get(f"{API}/tasks/{task['id']}")).json()["run_plan"] is None

    response = await anon.put(f"{API}/tasks/{task['id']}/plan", json=PLAN, headers=as_boss)
    assert response.status_code == 200, response.text
    assert response.json()["run"]["reason"]["by"] == "ses_000000000000000000000b"
    assert (await anon.post(f"{API}/tasks/{task['id']}/bump", headers=as_boss)).status_code == 200
    assert (await anon.delete(f"{API}/tasks/{task['id']}/plan", headers=as_boss)).status_code == 200
    outside = await anon.put(f"{API}/tasks/{foreign['id']}/plan", json=PLAN, headers=as_boss)
    assert "its own project" in error_of(outside, 403)["detail"]
    event = [e for e in await events_of("task.updated") if e["entity_id"] == task["id"]][-3]
    assert event["actor"] == "ses_000000000000000000000b"


async def test_the_routes_document_their_errors(client: httpx.AsyncClient):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    plan_path = paths[f"{API}/tasks/{{task_id}}/plan"]
    assert {"400", "404"} <= set(plan_path["put"]["responses"]) and "200" in plan_path["put"]["responses"]
    assert "200" in plan_path["delete"]["responses"]
    assert "409" in paths[f"{API}/tasks/{{task_id}}/bump"]["post"]["responses"]
    assert "409" in paths[f"{API}/tasks/{{task_id}}/run/decide"]["post"]["responses"]
    run_tree = paths[f"{API}/tasks/{{task_id}}/run-tree"]["post"]
    assert run_tree["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TreeRunResult"
    }
