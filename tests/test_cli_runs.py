"""`maestro task plan|unplan|run-tree|bump|decide|wait` and `project update --max-agents`, as a user (and an
orchestrator agent) runs them, against a real server.

Planned tasks here either wait on an unfinished task or plan the `quick` profile (exits at once), so the tests
hold whether or not the scheduler starts ready tasks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import api, as_json, cli, failed, new_project, ok
from tests.helpers import MAESTRO, LiveServer, live_server, maestro_env, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("cli-runs") / "home") as running:
        with api(running) as client:  # `quick`: a program that exits at once without reporting anything
            body = {"argv": [sys.executable, "-c", "pass"], "prompt_via": "none"}
            assert client.put("/api/v1/profiles/quick", json=body).status_code in (200, 201)
        yield running


@pytest.fixture
def project(server: LiveServer, tmp_path: Path) -> dict:
    return new_project(server, tmp_path / "work", f"p-{tmp_path.name}")


def task_in(server: LiveServer, project: dict, title: str, *more: str) -> dict:
    return as_json(cli(server, "task", "create", title, "--project", project["id"], *more, "--json"))


def gated(server: LiveServer, project: dict, title: str, gate: dict, *more: str) -> dict:
    """A task depending on `gate`: a plan on it waits while the gate is unfinished."""
    task = task_in(server, project, title, *more)
    return as_json(cli(server, "task", "dep", "add", task["id"], gate["id"], "--json"))


def wait_in_background(server: LiveServer, *args: str) -> subprocess.Popen[str]:
    """`maestro task wait ARGS` running while the test changes the tasks."""
    return subprocess.Popen(
        [*MAESTRO, "task", "wait", *args],
        env=maestro_env(server.home, COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ended_without_report(server: LiveServer, project: dict, title: str) -> dict:
    """A task whose agent exited at once without reporting: its run ended without report."""
    task = task_in(server, project, title)
    ok(cli(server, "session", "spawn", "--task", task["id"], "--profile", "quick"))

    def ended() -> dict | None:
        shown = as_json(cli(server, "task", "show", task["id"], "--json"))
        return shown if (shown["run"] or {}).get("state") == "ended_without_report" else None

    return wait_for(ended, timeout=60)


def test_plan_show_bump_unplan(server: LiveServer, project: dict):
    gate = task_in(server, project, "Gate")
    task = gated(server, project, "Write the parser", gate)
    planned = as_json(
        cli(
            server, "task", "plan", task["id"], "--profile", "shell", "--skill", "python", "--check", "pytest -q",
            "--check-timeout", "30", "--on-failure", "retry", "--retries", "1", "--instructions", "Keep it small",
            "--json",
        )
    )  # fmt: skip
    assert planned["run_plan"]["check"] == {"command": "pytest -q", "timeout_s": 30}
    assert planned["run_plan"]["skills"] == ["python"] and planned["run_plan"]["retries"] == 1
    assert planned["run"]["state"] == "waiting" and planned["run"]["reason"]["by"] == "cli"

    shown = ok(cli(server, "task", "show", task["id"]))
    assert "shell (worker, skills python)" in shown and "pytest -q (at most 30 s)" in shown
    assert "retry, up to 1 more time(s)" in shown and "Keep it small" in shown
    run_row = next(line for line in shown.splitlines() if line.startswith("run "))
    assert "waiting — planned by cli: shell starts once it is ready" in run_row and "(by " not in run_row
    status_row = next(line for line in shown.splitlines() if line.startswith("status "))
    assert "todo" in status_row and "created as todo by cli" in status_row

    listed = ok(cli(server, "task", "list", "--project", project["id"]))
    header, *rows = listed.splitlines()
    assert header.split()[:3] == ["title", "status", "run"]
    assert "waiting" in next(row for row in rows if task["id"] in row)
    assert "run: waiting" in ok(cli(server, "task", "list", "--project", project["id"], "--tree"))

    bumped = ok(cli(server, "task", "bump", task["id"]))
    assert bumped.startswith("bumped Write the parser") and "moved to the front of the queue by cli" in bumped
    again = ok(cli(server, "task", "plan", task["id"], "--profile", "shell"))
    assert again.startswith(f"planned Write the parser {task['id']} with shell: waiting")

    assert "removed the run plan of Write the parser" in ok(cli(server, "task", "unplan", task["id"]))
    unplanned = as_json(cli(server, "task", "show", task["id"], "--json"))
    assert unplanned["run_plan"] is None and unplanned["run"] is None
    assert "plan " not in ok(cli(server, "task", "show", task["id"]))
    assert "not waiting to start" in failed(cli(server, "task", "bump", task["id"]), 1)


def test_plan_refusals(server: LiveServer, project: dict):
    task = task_in(server, project, "t")
    plan = ("task", "plan", task["id"])
    assert "--retries needs --on-failure retry" in failed(cli(server, *plan, "--profile", "shell", "--retries", "1"), 2)
    assert "--check-timeout needs --check" in failed(
        cli(server, *plan, "--profile", "shell", "--check-timeout", "9"), 2
    )
    assert "profile" in failed(cli(server, *plan, "--profile", "-bad"), 2)
    assert "Missing option '--profile'" in failed(cli(server, *plan), 2)
    unknown = failed(cli(server, *plan, "--profile", "nobody-has-this"), 1)
    assert "nobody-has-this" in unknown and "400" in unknown
    assert "not found" in failed(cli(server, "task", "plan", "tsk_0000000000000000000000", "--profile", "shell"), 1)
    assert "has not failed" in failed(cli(server, "task", "decide", task["id"], "retry"), 1)
    assert "'maybe' is not one of" in failed(cli(server, "task", "decide", task["id"], "maybe"), 2)


def test_run_tree_plans_the_leaves(server: LiveServer, project: dict):
    gate = task_in(server, project, "Gate")
    root = task_in(server, project, "Release")
    first = gated(server, project, "Notes", gate, "--parent", root["id"])
    second = gated(server, project, "Tag", gate, "--parent", root["id"])
    printed = ok(cli(server, "task", "run-tree", root["id"], "--profile", "shell", "--check", "true"))
    lines = printed.splitlines()
    assert lines[0] == "planned 2 task(s) with shell:"
    assert sorted(lines[1:]) == sorted([f"  Notes  {first['id']}", f"  Tag  {second['id']}"])
    result = as_json(cli(server, "task", "run-tree", root["id"], "--profile", "shell", "--json"))
    assert result == {"planned": [], "already_planned": result["already_planned"]}
    assert sorted(result["already_planned"]) == sorted([first["id"], second["id"]])
    assert "planned no new task" in ok(cli(server, "task", "run-tree", root["id"], "--profile", "shell"))
    for task_id in (first["id"], second["id"]):
        assert as_json(cli(server, "task", "show", task_id, "--json"))["run_plan"]["check"]["command"] == "true"

    done = task_in(server, project, "Done", "--status", "completed")
    assert "no unfinished leaf" in failed(cli(server, "task", "run-tree", done["id"], "--profile", "shell"), 1)


def test_project_max_agents(server: LiveServer, project: dict):
    updated = as_json(cli(server, "project", "update", project["id"], "--max-agents", "2", "--json"))
    assert updated["max_agents"] == 2
    assert "at most 2 planned run(s) at once" in ok(cli(server, "project", "show", project["id"]))
    assert "--max-agents" in failed(cli(server, "project", "update", project["id"], "--max-agents", "0"), 2)


def test_wait_returns_0_once_every_task_completed(server: LiveServer, project: dict):
    one, two = task_in(server, project, "One"), task_in(server, project, "Two")
    waiting = wait_in_background(server, one["id"], two["id"])
    try:
        ok(cli(server, "task", "update", one["id"], "--status", "completed"))
        assert waiting.poll() is None  # Two is not done: wait cannot have returned
        ok(cli(server, "task", "update", two["id"], "--status", "completed"))
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, (out, err)
    lines = out.splitlines()
    assert len(lines) == 2 and err == ""
    assert lines[0].startswith(f"{one['id']}  completed  One — set to completed by cli")
    assert lines[1].startswith(f"{two['id']}  completed  Two — set to completed by cli")


def test_wait_reports_failures_and_blocked_tasks(server: LiveServer, project: dict):
    broken = ended_without_report(server, project, "Build")
    downstream = gated(server, project, "Deploy", broken)
    ok(cli(server, "task", "plan", downstream["id"], "--profile", "quick"))

    result = cli(server, "task", "wait", broken["id"], downstream["id"], "--json")
    assert result.returncode == 1, result
    records = json.loads(result.stdout)
    assert [set(r) for r in records] == [
        {"task_id", "title", "outcome", "status", "run_state", "reason", "failed_dependencies"}
    ] * 2
    first, second = records
    assert first["task_id"] == broken["id"] and first["title"] == "Build"
    assert first["outcome"] == "ended_without_report" and first["run_state"] == "ended_without_report"
    assert "without reporting it complete" in first["reason"] and first["failed_dependencies"] == []
    assert second["outcome"] == "blocked" and second["run_state"] == "waiting"
    assert second["failed_dependencies"] == [broken["id"]] and second["reason"].startswith(f"{broken['id']} (Build)")

    stopped = ok(cli(server, "task", "decide", broken["id"], "stop"))
    assert stopped.startswith(f"stop: Build {broken['id']}: failed") and "stopped by cli" in stopped
    result = cli(server, "task", "wait", broken["id"], downstream["id"])
    assert result.returncode == 1 and result.stderr == "", result
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{broken['id']}  failed  Build — stopped by cli")
    assert lines[1].startswith(f"{downstream['id']}  blocked by failed {broken['id']}  Deploy — {broken['id']} (Build)")
    shown = ok(cli(server, "task", "show", downstream["id"]))
    assert f"blocked by failed {broken['id']}" in shown


def test_wait_times_out_with_exit_4(server: LiveServer, project: dict):
    done = task_in(server, project, "Done", "--status", "completed")
    open_task = task_in(server, project, "Still open")
    result = cli(server, "task", "wait", done["id"], open_task["id"], "--timeout", "0.5")
    assert result.returncode == 4, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{done['id']}  completed  Done")
    assert lines[1].startswith(f"{open_task['id']}  still running (todo)  Still open")
    assert result.stderr.strip() == f"timed out after 0.5 s; still running: {open_task['id']}"
    result = cli(server, "task", "wait", open_task["id"], "--timeout", "0.2", "--json")
    assert result.returncode == 4 and json.loads(result.stdout)[0]["outcome"] == "running"
    assert "not a task id" in failed(cli(server, "task", "wait", "nope"), 2)
    assert "not found" in failed(cli(server, "task", "wait", "tsk_0000000000000000000000"), 1)


def test_an_orchestrator_agent_waits_with_its_session_token(server: LiveServer, project: dict):
    work = task_in(server, project, "Worker's job")
    script = 'touch wait.started; maestro task wait "$WAIT_FOR" --json > wait.json 2> wait.err; echo $? > wait.code'
    with api(server) as client:
        body = {"argv": ["/bin/sh", "-c", script], "prompt_via": "none", "env": {"WAIT_FOR": work["id"]}}
        assert client.put("/api/v1/profiles/waiter", json=body).status_code in (200, 201)
    spawn = ("session", "spawn", "--profile", "waiter", "--role", "orchestrator", "--project", project["id"])
    spawned = as_json(cli(server, *spawn, "--json"))
    folder = Path(project["working_dir"])
    wait_for(lambda: (folder / "wait.started").exists(), 60)
    ok(cli(server, "task", "update", work["id"], "--status", "completed"))
    code = wait_for(lambda: (folder / "wait.code").exists() and (folder / "wait.code").read_text().strip(), 60)
    assert code == "0", (folder / "wait.err").read_text()
    records = json.loads((folder / "wait.json").read_text())
    assert [(r["task_id"], r["outcome"]) for r in records] == [(work["id"], "completed")]
    assert spawned["role"] == "orchestrator"


def test_wait_follows_runs_the_scheduler_starts(server: LiveServer, project: dict):
    """Needs the scheduler: planned tasks start by themselves once their dependencies are completed."""
    with api(server) as client:
        body = {"argv": ["/bin/sh", "-c", 'maestro report complete "built it"'], "prompt_via": "none"}
        assert client.put("/api/v1/profiles/reporter", json=body).status_code in (200, 201)
    build = task_in(server, project, "Build")
    ship = gated(server, project, "Ship", build)
    ok(cli(server, "task", "plan", ship["id"], "--profile", "quick"))  # exits without reporting: a failed run
    ok(cli(server, "task", "plan", build["id"], "--profile", "reporter"))

    result = cli(server, "task", "wait", build["id"], ship["id"])
    assert result.returncode == 1, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{build['id']}  completed  Build — ")
    assert lines[1].startswith(f"{ship['id']}  ended without report  Ship — attempt 1: session ")
    assert "without reporting it complete" in lines[1]

    stopped = as_json(cli(server, "task", "decide", ship["id"], "stop", "--json"))
    assert stopped["run"]["state"] == "failed" and stopped["run"]["attempt"] == 1
    records = json.loads(cli(server, "task", "wait", ship["id"], "--json").stdout)
    assert [(r["outcome"], r["run_state"]) for r in records] == [("failed", "failed")]
