"""Planned runs against a real server: dependency gates, exit checks, failure policies, explicit completion."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    fresh_postgres_database,
    live_server,
    maestro_env,
    postgres_url_or_skip,
    redis_url_or_skip,
    wait_for,
)

RUN_AGENT = Path(__file__).parent / "fixtures" / "run_agent.py"
API = "/api/v1"


def runner_profile(api: httpx.Client, log: Path, delay: float = 0.0) -> None:
    """The stand-in agent as profile "runner"; it logs its starts and ends to `log`."""
    response = api.put(
        f"{API}/profiles/runner",
        json={
            "argv": [sys.executable, str(RUN_AGENT)],
            "env": {"RUN_AGENT_LOG": str(log), "RUN_AGENT_DELAY": str(delay)},
            "prompt_via": "file",
            "description": "the tests' stand-in agent for planned runs",
        },
    )
    assert response.status_code in (200, 201), response.text


def make_project(api: httpx.Client, folder: Path, **fields) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    response = api.post(f"{API}/projects", json={"name": folder.name, "working_dir": str(folder), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def make_task(api: httpx.Client, project: dict, title: str, behaviour: str = "", *deps: dict) -> dict:
    body = {"project_id": project["id"], "title": title, "description": behaviour}
    task = api.post(f"{API}/tasks", json=body).json()
    for dep in deps:
        response = api.post(f"{API}/tasks/{task['id']}/dependencies", json={"depends_on": dep["id"]})
        assert response.status_code in (200, 201), response.text
    return task


def plan(api: httpx.Client, task: dict, **fields) -> dict:
    response = api.put(f"{API}/tasks/{task['id']}/plan", json={"profile": "runner", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def get(api: httpx.Client, task: dict) -> dict:
    return api.get(f"{API}/tasks/{task['id']}").json()


def log_lines(log: Path) -> list[tuple[str, str]]:
    """(what, task title) per line of the run log, in order."""
    if not log.exists():
        return []
    return [tuple(line.split()[1:3]) for line in log.read_text().splitlines()]  # type: ignore[misc]


def test_a_diamond_starts_in_dependency_order_each_task_once(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log, delay=0.2)
        project = make_project(api, tmp_path / "diamond")
        a = make_task(api, project, "A")
        b = make_task(api, project, "B", "", a)
        c = make_task(api, project, "C", "", a)
        d = make_task(api, project, "D", "", b, c)
        for task in (d, c, b):  # planned before their dependency is: they wait
            assert plan(api, task)["run"]["state"] == "waiting"
        plan(api, a)

        wait_for(lambda: all(get(api, t)["status"] == "completed" for t in (a, b, c, d)), timeout=60)
        lines = log_lines(log)
        order = [title for what, title in lines if what == "start"]
        assert sorted(order) == ["A", "B", "C", "D"]  # each started exactly once
        position = {(what, title): n for n, (what, title) in enumerate(lines)}
        assert position[("done", "A")] < position[("start", "B")] and position[("done", "A")] < position[("start", "C")]
        assert position[("start", "D")] > max(position[("done", "B")], position[("done", "C")])
        for task in (a, b, c, d):
            final = get(api, task)
            assert final["run"]["state"] == "done" and final["run"]["attempt"] == 1
            assert len(final["session_ids"]) == 1
            assert "reported it complete" in final["status_reason"]["why"]
            session = api.get(f"{API}/sessions/{final['session_ids'][0]}").json()
            assert session["spawn_source"] == "maestro" and session["status"] == "completed"


def overlaps(lines: list[tuple[str, str]]) -> int:
    """The most agents that ran at once, from the run log's start and done lines."""
    running = most = 0
    for what, _title in lines:
        running += 1 if what == "start" else -1 if what == "done" else 0
        most = max(most, running)
    return most


def test_the_agent_limit_queues_in_order_and_a_bumped_task_starts_next(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log, delay=0.3)
        project = make_project(api, tmp_path / "limits", max_agents=2)
        gate = make_task(api, project, "gate")
        tasks = [make_task(api, project, f"T{n}", "", gate) for n in range(6)]
        for task in tasks:
            plan(api, task)
        # Nothing may start before the gate opens: the queue forms once it does.
        response = api.patch(f"{API}/projects/{project['id']}", json={"max_agents": 1})
        assert response.status_code == 200 and response.json()["max_agents"] == 1
        api.patch(f"{API}/tasks/{gate['id']}", json={"status": "completed"})
        wait_for(lambda: get(api, tasks[-1])["run"]["state"] == "queued")
        bumped = api.post(f"{API}/tasks/{tasks[-1]['id']}/bump")
        assert bumped.status_code == 200, bumped.text
        assert "front of the queue" in bumped.json()["run"]["reason"]["why"]
        positions = {t["id"]: get(api, t)["run"]["queue_position"] for t in tasks}
        assert positions[tasks[-1]["id"]] == 1
        api.patch(f"{API}/projects/{project['id']}", json={"max_agents": 2})

        wait_for(lambda: all(get(api, t)["status"] == "completed" for t in tasks), timeout=60)
        lines = log_lines(log)
        starts = [title for what, title in lines if what == "start"]
        assert sorted(starts) == [f"T{n}" for n in range(6)]
        assert starts.index("T5") <= 1  # bumped: among the first to start (T0 may have started before the bump)
        assert overlaps(lines) <= 2


def test_a_failing_check_sends_the_task_back_and_tells_the_agent(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "checked")
        task = make_task(api, project, "fix", "fix-on-tell")
        plan(api, task, check={"command": "echo checking; test -f fixed.txt", "timeout_s": 30})

        wait_for(lambda: get(api, task)["status"] == "completed", timeout=60)
        told = [line for line in (log.read_text().splitlines()) if " told " in line]
        assert len(told) == 1 and "check `echo checking; test -f fixed.txt` failed (exit 1)" in told[0]
        assert f"maestro task show {task['id']}" in told[0]
        timeline = api.get(f"{API}/tasks/{task['id']}/timeline").json()
        messages = [(e["kind"], e["message"]) for e in timeline]
        failed = [m for k, m in messages if k == "error"]
        assert len(failed) == 1 and failed[0].endswith("checking")  # the check's output, on the timeline
        assert any(k == "milestone" and "passed" in m for k, m in messages)
        final = get(api, task)
        assert final["run"]["state"] == "done" and "passed" in final["status_reason"]["why"]


def test_a_check_that_runs_too_long_is_stopped_and_fails(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "slow")
        task = make_task(api, project, "slow")  # reports complete and exits: nobody to tell
        plan(api, task, check={"command": "sleep 30", "timeout_s": 1})
        wait_for(lambda: get(api, task)["run"]["state"] == "failed", timeout=30)
        final = get(api, task)
        assert "timed out after 1 s" in final["run"]["reason"]["why"] and final["status"] == "in_progress"


def test_the_stop_policy_blocks_downstream_until_a_person_decides(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "stops")
        first = make_task(api, project, "first", "silent")
        after = make_task(api, project, "after", "", first)
        plan(api, first, on_failure="stop")
        plan(api, after)

        wait_for(lambda: get(api, first)["run"]["state"] == "ended_without_report", timeout=30)
        failed = get(api, first)
        assert "without reporting it complete" in failed["run"]["reason"]["why"]
        assert failed["status"] == "in_progress"  # never completed by accident
        blocked = get(api, after)
        assert blocked["run"]["state"] == "waiting" and blocked["run"]["failed_dependencies"] == [first["id"]]
        assert not [line for line in log_lines(log) if line[1] == "after"]

        decided = api.post(f"{API}/tasks/{first['id']}/run/decide", json={"action": "skip"})
        assert decided.status_code == 200 and decided.json()["status"] == "completed"
        wait_for(lambda: get(api, after)["status"] == "completed", timeout=30)


def test_the_retry_policy_tries_again_then_stops(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "retries")
        task = make_task(api, project, "flaky", "fails")
        plan(api, task, on_failure="retry", retries=2)
        wait_for(lambda: get(api, task)["run"]["state"] == "ended_without_report", timeout=60)
        final = get(api, task)
        assert final["run"]["attempt"] == 3 and len(final["session_ids"]) == 3
        assert "no retries left (3 attempts)" in final["run"]["reason"]["why"]
        assert [what for what, title in log_lines(log)] == ["start"] * 3


def test_the_ask_policy_waits_for_the_person(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "asks")
        task = make_task(api, project, "asks", "silent")
        plan(api, task, on_failure="ask")
        wait_for(lambda: get(api, task)["run"]["state"] == "needs_person", timeout=30)
        assert "asking you" in get(api, task)["run"]["reason"]["why"]
        api.patch(f"{API}/tasks/{task['id']}", json={"description": "now it works"})
        response = api.post(f"{API}/tasks/{task['id']}/run/decide", json={"action": "retry"})
        assert response.status_code == 200, response.text
        wait_for(lambda: get(api, task)["status"] == "completed", timeout=30)
        assert get(api, task)["run"]["attempt"] == 2


def test_a_session_that_exits_without_report_leaves_its_task_ended_without_report(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "unplanned")
        task = make_task(api, project, "by hand", "silent")
        body = {"project_id": project["id"], "task_ids": [task["id"]], "profile": "runner"}
        session = api.post(f"{API}/sessions", json=body).json()
        wait_for(lambda: get(api, task)["run"] is not None, timeout=30)
        final = get(api, task)
        assert final["run"]["state"] == "ended_without_report" and final["status"] != "completed"
        assert session["id"] in final["run"]["reason"]["why"]
        link = api.get(f"{API}/sessions/{session['id']}").json()["tasks"][0]
        assert link["status"] == "ended_without_report"

        # Starting another session on it is the person's decision: the task no longer asks for one.
        body = {"project_id": project["id"], "task_ids": [task["id"]], "profile": "shell", "name": "again"}
        again = api.post(f"{API}/sessions", json=body).json()
        assert get(api, task)["run"] is None
        api.post(f"{API}/sessions/{again['id']}/stop")
        wait_for(lambda: (get(api, task)["run"] or {}).get("state") == "ended_without_report", timeout=30)


def test_a_quiet_agent_is_stalled_with_its_evidence(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    env = maestro_env(home, MAESTRO_SESSION_IDLE_S="0.5", MAESTRO_STALL_AFTER_S="1.5")
    with live_server(home, env=env) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "stalls")
        task = make_task(api, project, "stuck", "hang")
        plan(api, task)
        wait_for(lambda: get(api, task)["run"]["state"] == "running", timeout=30)
        session_id = get(api, task)["run"]["session_id"]
        session = wait_for(lambda: (s := api.get(f"{API}/sessions/{session_id}").json())["status"] == "stalled" and s)
        why = session["status_reason"]["why"]
        assert "no output for" in why and "no report yet" in why and "process alive (pid " in why
        assert session["status_reason"]["by"] == "maestro"
        api.post(f"{API}/sessions/{session_id}/stop")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_after_a_kill_between_a_dependency_completing_and_the_next_start_it_starts_once(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    port = str(free_port())  # the same address after the restart: the agents report to it
    pauses = (0.0, 0.02, 0.1, 0.3)
    with live_server(home, "--port", port, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log, delay=0.5)
        project = make_project(api, tmp_path / "restarts")
        pairs = []
        for n in range(len(pauses)):
            first = make_task(api, project, f"A{n}")
            pairs.append((first, make_task(api, project, f"B{n}", "", first)))
            plan(api, pairs[-1][1], on_failure="retry", retries=1)
    for (first, _), pause in zip(pairs, pauses, strict=True):
        with live_server(home, "--port", port, env=maestro_env(home)) as server, server.client() as api:
            api.patch(f"{API}/tasks/{first['id']}", json={"status": "completed"})
            time.sleep(pause)
            server.stop(signal.SIGKILL)
    with live_server(home, "--port", port, env=maestro_env(home)) as server, server.client() as api:
        wait_for(lambda: all(get(api, b)["status"] == "completed" for _, b in pairs), timeout=60)
        starts = sorted(title for what, title in log_lines(log) if what == "start")
        assert starts == [f"B{n}" for n in range(len(pauses))]  # each exactly once
        for _, second in pairs:
            final = get(api, second)
            assert final["run"]["attempt"] == 1  # a session killed before its program ran is not an attempt
            sessions = [api.get(f"{API}/sessions/{s}").json() for s in final["session_ids"]]
            assert len([s for s in sessions if s["started_at"] is not None]) == 1


@pytest.mark.postgres
def test_two_instances_on_one_database_start_each_task_once_within_the_limit(tmp_path: Path):
    redis_url = redis_url_or_skip()
    log = tmp_path / "run.log"
    with fresh_postgres_database(postgres_url_or_skip()) as db_url:
        homes = (tmp_path / "a", tmp_path / "b")
        envs = [maestro_env(h, MAESTRO_DATABASE_URL=db_url, MAESTRO_REDIS_URL=redis_url) for h in homes]
        with live_server(homes[0], env=envs[0]) as a, live_server(homes[1], env=envs[1]) as b:
            with a.client() as api, b.client() as api_b:
                runner_profile(api, log, delay=0.3)
                runner_profile(api_b, log, delay=0.3)
                project = make_project(api, tmp_path / "shared", max_agents=3)
                gate = make_task(api, project, "gate")
                tasks = [make_task(api, project, f"T{n:02}", "", gate) for n in range(12)]
                for task in tasks:
                    plan(api, task)
                api_b.patch(f"{API}/tasks/{gate['id']}", json={"status": "completed"})  # the other instance
                wait_for(lambda: all(get(api, t)["status"] == "completed" for t in tasks), timeout=90)
                lines = log_lines(log)
                assert sorted(t for what, t in lines if what == "start") == [f"T{n:02}" for n in range(12)]
                assert overlaps(lines) <= 3
                for task in tasks:
                    assert len(get(api_b, task)["session_ids"]) == 1


def test_a_failed_run_blocks_every_task_downstream_of_it(tmp_path: Path):
    home, log = tmp_path / "home", tmp_path / "run.log"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log)
        project = make_project(api, tmp_path / "chain")
        first = make_task(api, project, "first", "fails")
        second = make_task(api, project, "second", "", first)
        third = make_task(api, project, "third", "", second)
        for task in (first, second, third):
            plan(api, task)
        wait_for(lambda: get(api, first)["run"]["state"] == "ended_without_report", timeout=30)
        assert get(api, second)["run"]["failed_dependencies"] == [first["id"]]
        assert get(api, third)["run"]["failed_dependencies"] == [first["id"]]  # further up counts too
        api.post(f"{API}/tasks/{first['id']}/run/decide", json={"action": "stop"})
        assert get(api, first)["run"]["state"] == "failed"
        assert "stopped by api" in get(api, first)["run"]["reason"]["why"]
        assert get(api, third)["run"]["failed_dependencies"] == [first["id"]]


ORCHESTRATOR = Path(__file__).parent / "fixtures" / "orchestrator_agent.py"


def test_an_orchestrator_agent_plans_runs_and_waits_for_its_tree_with_its_own_token(tmp_path: Path):
    home, log, results = tmp_path / "home", tmp_path / "run.log", tmp_path / "orchestrator.json"
    with live_server(home, env=maestro_env(home)) as server, server.client() as api:
        runner_profile(api, log, delay=0.2)
        profile = {"argv": [sys.executable, str(ORCHESTRATOR)], "env": {"ORCHESTRATOR_RESULTS": str(results)}}
        assert api.put(f"{API}/profiles/boss", json=profile).status_code in (200, 201)
        project = make_project(api, tmp_path / "orchestrated")
        root = make_task(api, project, "ship the parser")
        body = {"project_id": project["id"], "task_ids": [root["id"]], "profile": "boss", "role": "orchestrator"}
        boss = api.post(f"{API}/sessions", json=body).json()

        seen = wait_for(lambda: results.exists() and json.loads(results.read_text()), timeout=90)
        assert seen["dep"] == 0 and seen["run_tree"][0] == 0, seen
        assert sorted(seen["run_tree"][1]["planned"]) == sorted([seen["parse"], seen["test"]])
        code, outcomes = seen["wait"]
        assert code == 0, outcomes
        assert {o["task_id"]: o["outcome"] for o in outcomes} == {seen["parse"]: "completed", seen["test"]: "completed"}
        assert seen["show"][0] == 0 and "done" in seen["show"][1]
        assert seen["report"] == 0
        starts = [title for what, title in log_lines(log) if what == "start"]
        assert starts == ["parse", "test"]  # in dependency order, each once
        final = wait_for(lambda: (s := api.get(f"{API}/sessions/{boss['id']}").json())["status"] == "completed" and s)
        assert final["status_reason"]["why"] == "its agent reported all its tasks complete"
