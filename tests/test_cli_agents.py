"""`maestro report|task|session` against a real server: from the user's terminal, and from inside a session."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.ids import new_id
from tests.helpers import MAESTRO, LiveServer, live_server, maestro_env, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module: each test makes its own project."""
    home = tmp_path_factory.mktemp("cli-agents") / "home"
    with live_server(home) as running:
        yield running


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def project(api: httpx.Client, tmp_path: Path) -> dict:
    folder = tmp_path / "work"
    folder.mkdir()
    response = api.post("/api/v1/projects", json={"name": f"p-{tmp_path.name}", "working_dir": str(folder)})
    assert response.status_code == 201, response.text
    return response.json()


def run_cli(server: LiveServer, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as the user runs it: MAESTRO_HOME of the server, hence the user's token."""
    return subprocess.run(
        [*MAESTRO, *args],
        env=maestro_env(server.home, COLUMNS="200"),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def spawn_shell(api: httpx.Client, project: dict, task_ids: list[str]) -> dict:
    response = api.post("/api/v1/sessions", json={"project_id": project["id"], "task_ids": task_ids})
    assert response.status_code == 201, response.text
    return response.json()


def test_task_create_list_show(server: LiveServer, project: dict):
    created = run_cli(server, "task", "create", "Ship", "it", "--project", project["id"], "--priority", "high")
    root_id = ok(created).strip()
    assert root_id.startswith("tsk_")

    # No --project: a subtask lives in its parent's project.
    args = ["task", "create", "Write the docs", "--parent", root_id, "--description-file", "-", "--json"]
    child = json.loads(ok(run_cli(server, *args, stdin="# Docs\nevery command\n")))
    assert child["project_id"] == project["id"] and child["parent_id"] == root_id
    assert child["description"] == "# Docs\nevery command\n" and child["priority"] == "medium"

    listed = json.loads(ok(run_cli(server, "task", "list", "--project", project["id"], "--json")))
    assert [(t["id"], t["title"]) for t in listed] == [(root_id, "Ship it"), (child["id"], "Write the docs")]
    roots = json.loads(ok(run_cli(server, "task", "list", "--project", project["id"], "--parent", "root", "--json")))
    assert [t["id"] for t in roots] == [root_id]
    done = run_cli(server, "task", "list", "--project", project["id"], "--status", "completed", "--json")
    assert json.loads(ok(done)) == []

    table = ok(run_cli(server, "task", "list", "--project", project["id"]))
    assert root_id in table and "Ship it" in table and "high" in table and "Write the docs" in table

    shown = json.loads(ok(run_cli(server, "task", "show", root_id, "--json")))
    assert shown["title"] == "Ship it" and shown["priority"] == "high"
    human = ok(run_cli(server, "task", "show", child["id"]))
    assert "Write the docs" in human and root_id in human and "every command" in human


def test_task_errors_print_the_server_detail(server: LiveServer, project: dict):
    missing = new_id("tsk")
    shown = run_cli(server, "task", "show", missing)
    assert shown.returncode == 1 and missing in shown.stderr and "404" in shown.stderr
    no_project = run_cli(server, "task", "create", "Orphan")
    assert no_project.returncode != 0 and "--project" in no_project.stderr
    both = run_cli(
        server, "task", "create", "x", "--project", project["id"], "--description", "a", "--description-file", "-"
    )
    assert both.returncode != 0 and "not both" in both.stderr


def test_session_spawn_and_list(server: LiveServer, api: httpx.Client, project: dict):
    task = api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Look around"}).json()
    out = ok(
        run_cli(
            server,
            "session",
            "spawn",
            "--profile",
            "shell",
            "--task",
            task["id"],
            "--project",
            project["id"],
            "--name",
            "poke",
        )
    )
    session_id, status = out.split()
    try:
        assert session_id.startswith("ses_") and status == "running"
        record = api.get(f"/api/v1/sessions/{session_id}").json()
        assert record["spawn_source"] == "cli" and record["name"] == "poke" and record["role"] == "worker"
        assert [link["task_id"] for link in record["tasks"]] == [task["id"]]

        listed = json.loads(ok(run_cli(server, "session", "list", "--project", project["id"], "--json")))
        assert [s["id"] for s in listed] == [session_id]
        running = run_cli(server, "session", "list", "--project", project["id"], "--status", "running")
        assert session_id in ok(running) and "poke" in running.stdout and "Look around" in running.stdout
        assert "poke" in ok(run_cli(server, "session", "show", session_id))
    finally:
        assert api.post(f"/api/v1/sessions/{session_id}/stop").status_code == 200
    assert api.get(f"/api/v1/sessions/{session_id}").json()["status"] == "stopped"
    ended = run_cli(server, "session", "list", "--project", project["id"], "--status", "running", "--json")
    assert json.loads(ok(ended)) == []


def test_report_from_the_users_terminal(server: LiveServer, api: httpx.Client, project: dict):
    no_session = run_cli(server, "report", "progress", "x")
    assert no_session.returncode != 0
    assert "inside a Maestro session" in no_session.stderr and "--session" in no_session.stderr

    task = api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Report on me"}).json()
    session = spawn_shell(api, project, [task["id"]])
    sid = session["id"]
    try:
        said = ok(run_cli(server, "report", "progress", "x", "--session", sid, "--task", task["id"]))
        assert said.strip() == f"reported progress on 'Report on me' ({task['id']}) in session {sid} (session running)"
        timeline = api.get(f"/api/v1/sessions/{sid}/timeline").json()
        assert [(e["kind"], e["message"], e["task_id"]) for e in timeline] == [("progress", "x", task["id"])]
        assert api.get(f"/api/v1/tasks/{task['id']}").json()["status"] == "in_progress"

        asked = json.loads(
            ok(run_cli(server, "report", "needs-input", "which", "database?", "--session", sid, "--json"))
        )
        assert asked["entry"]["kind"] == "needs_input" and asked["entry"]["message"] == "which database?"
        assert api.get(f"/api/v1/sessions/{sid}").json()["status"] == "needs_input"

        unknown = new_id("tsk")
        refused = run_cli(server, "report", "blocked", "stuck", "--session", sid, "--task", unknown)
        assert refused.returncode == 1 and f"task {unknown} is not linked to session {sid}" in refused.stderr
        bad_kind = run_cli(server, "report", "finished", "x", "--session", sid)
        assert bad_kind.returncode == 2 and "needs-input" in bad_kind.stderr
        assert len(api.get(f"/api/v1/sessions/{sid}/timeline").json()) == 2  # nothing written by the refusals
    finally:
        api.post(f"/api/v1/sessions/{sid}/stop")


def test_agent_inside_a_session_reports_creates_a_subtask_and_may_not_spawn(
    server: LiveServer, api: httpx.Client, project: dict
):
    script = (
        "exec > agent.out 2>&1; "
        'maestro report progress "from inside" && maestro task create "sub" --parent "$MAESTRO_TASK_IDS" '
        "&& maestro session spawn --profile shell; "
        'maestro report complete "done"'
    )
    profile = api.put("/api/v1/profiles/cli-agent", json={"argv": ["/bin/sh", "-c", script], "prompt_via": "none"})
    assert profile.status_code in (200, 201), profile.text
    task = api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Parent work"}).json()
    response = api.post(
        "/api/v1/sessions", json={"project_id": project["id"], "task_ids": [task["id"]], "profile": "cli-agent"}
    )
    assert response.status_code == 201, response.text
    sid = response.json()["id"]

    def ended() -> dict | None:
        record = api.get(f"/api/v1/sessions/{sid}").json()
        return record if record["exit_code"] is not None else None

    record = wait_for(ended, timeout=60)
    output = (Path(project["working_dir"]) / "agent.out").read_text()
    assert record["status"] == "completed" and record["exit_code"] == 0, (record, output)

    timeline = api.get(f"/api/v1/sessions/{sid}/timeline").json()
    assert [(e["kind"], e["message"]) for e in timeline] == [("progress", "from inside"), ("completed", "done")]
    subtasks = api.get("/api/v1/tasks", params={"project_id": project["id"], "parent_id": task["id"]}).json()
    assert [t["title"] for t in subtasks["items"]] == ["sub"]
    assert subtasks["items"][0]["id"] in output  # `task create` printed the new id
    assert "only an orchestrator session may do this" in output and "403" in output, output
    sessions = api.get("/api/v1/sessions", params={"project_id": project["id"]}).json()
    assert [s["id"] for s in sessions] == [sid]  # the worker's spawn created nothing
    assert f"reported progress on 'Parent work' ({task['id']}) in session {sid} (session running)" in output
    assert api.get(f"/api/v1/tasks/{task['id']}").json()["status"] == "completed"
