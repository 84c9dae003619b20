"""`maestro session …`, `report`, `profile`, `skill` and `manifest` against a real server, from the user's terminal
and from inside a spawned session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import api, as_json, cli, failed, new_project, ok
from tests.helpers import LiveServer, live_server, wait_for

GHOST = "maestro-test-ghost-program"  # a program no machine has


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module: each test makes its own project."""
    with live_server(tmp_path_factory.mktemp("cli-sessions") / "home") as running:
        yield running


@pytest.fixture
def project(server: LiveServer, tmp_path: Path) -> dict:
    return new_project(server, tmp_path / "work", f"p-{tmp_path.name}")


def task_in(server: LiveServer, project: dict, title: str) -> dict:
    return as_json(cli(server, "task", "create", title, "--project", project["id"], "--json"))


def test_session_spawn_list_show_stop_and_recording(server: LiveServer, project: dict, tmp_path: Path):
    task = task_in(server, project, "Look around")
    # No --project: the task says which project.
    spawned = as_json(
        cli(server, "session", "spawn", "--profile", "shell", "--task", task["id"], "--name", "poke", "--json")
    )
    sid = spawned["id"]
    assert (
        spawned["status"] == "running" and spawned["project_id"] == project["id"] and spawned["spawn_source"] == "cli"
    )

    listed = as_json(cli(server, "session", "list", "--project", project["name"], "--json"))
    assert [s["id"] for s in listed] == [sid]
    table = ok(cli(server, "session", "list", "--project", project["id"], "--status", "running"))
    row = next(line for line in table.splitlines() if sid in line)
    assert "poke" in row and "Look around" in row and "shell" in row
    assert as_json(cli(server, "session", "show", sid, "--json"))["tasks"][0]["task_id"] == task["id"]
    ok(cli(server, "report", "progress", "having a look", "--session", sid))
    shown = ok(cli(server, "session", "show", sid))
    assert (
        "poke" in shown and "Look around (working)" in shown and project["name"] in shown and "having a look" in shown
    )
    assert "its program started (pid" in shown and "reported" in shown  # why it runs, and its last report

    stopped = as_json(cli(server, "session", "stop", sid, "--json"))
    assert stopped["status"] == "stopped"
    again = failed(cli(server, "session", "stop", sid), 1)
    assert "409" in again

    saved = as_json(cli(server, "session", "recording", sid, "-o", str(tmp_path / "s.cast"), "--json"))
    header = json.loads((tmp_path / "s.cast").read_text().splitlines()[0])
    assert header["version"] == 2 and saved["bytes"] == (tmp_path / "s.cast").stat().st_size > 0
    streamed = ok(cli(server, "session", "recording", sid, "-o", "-"))
    assert streamed == (tmp_path / "s.cast").read_text()
    assert f"{sid}.cast" in ok(cli(server, "session", "recording", sid, cwd=tmp_path))
    assert (tmp_path / f"{sid}.cast").read_text() == streamed


def test_report_applies_to_the_sessions_only_task(server: LiveServer, project: dict):
    one, two, three = (task_in(server, project, title) for title in ("One", "Two", "Three"))
    with api(server) as client:
        pair = client.post(
            "/api/v1/sessions", json={"project_id": project["id"], "task_ids": [one["id"], two["id"]]}
        ).json()
        single = client.post("/api/v1/sessions", json={"project_id": project["id"], "task_ids": [three["id"]]}).json()
        try:
            # Two tasks and no --task: the report is about the session only; the tasks stay as they were.
            entry = as_json(cli(server, "report", "progress", "warming up", "--session", pair["id"], "--json"))["entry"]
            assert entry["task_id"] is None
            assert {client.get(f"/api/v1/tasks/{t['id']}").json()["status"] for t in (one, two)} == {"todo"}
            # Exactly one task: the report applies to it, unless --no-task.
            said = ok(cli(server, "report", "progress", "on it", "--session", single["id"]))
            assert (
                said.strip()
                == f"reported progress on 'Three' ({three['id']}) in session {single['id']} (session running)"
            )
            assert client.get(f"/api/v1/tasks/{three['id']}").json()["status"] == "in_progress"
            blocked = as_json(cli(server, "report", "blocked", "hm", "--session", single["id"], "--no-task", "--json"))
            assert blocked["entry"]["task_id"] is None
            assert client.get(f"/api/v1/tasks/{three['id']}").json()["status"] == "in_progress"
        finally:
            for session in (pair, single):
                client.post(f"/api/v1/sessions/{session['id']}/stop")


def test_report_and_manifest_from_inside_a_spawned_session(server: LiveServer, project: dict):
    script = (
        "exec > agent.out 2>&1; "
        'maestro report progress "step one" && '
        'maestro task show "$MAESTRO_TASK_IDS" --json > after-progress.json && '
        "maestro manifest show --json > manifest.json && maestro manifest show > manifest.txt && "
        # No default configured (an empty MAESTRO_HOME): a session spawns with its own profile by default.
        'MAESTRO_HOME="$PWD/empty-home" maestro profile list --json > profiles.json && '
        'maestro report complete "all done"'
    )
    with api(server) as client:
        put = client.put("/api/v1/profiles/cli-inside", json={"argv": ["/bin/sh", "-c", script], "prompt_via": "none"})
        assert put.status_code in (200, 201), put.text
    task = task_in(server, project, "Inside job")
    spawn = ("session", "spawn", "--profile", "cli-inside", "--task", task["id"], "--instructions", "Keep it small")
    sid = ok(cli(server, *spawn)).split()[0]

    def ended() -> dict | None:
        record = as_json(cli(server, "session", "show", sid, "--json"))
        return record if record["exit_code"] is not None else None

    record = wait_for(ended, timeout=60)
    folder = Path(project["working_dir"])
    output = (folder / "agent.out").read_text()
    assert record["status"] == "completed" and record["exit_code"] == 0, output
    # `report progress` without --task moved the session's one task to in_progress, `complete` completed it.
    assert json.loads((folder / "after-progress.json").read_text())["status"] == "in_progress"
    assert as_json(cli(server, "task", "show", task["id"], "--json"))["status"] == "completed"
    timeline = as_json(cli(server, "task", "timeline", task["id"], "--json"))
    assert [(e["kind"], e["message"], e["session_id"]) for e in timeline] == [
        ("progress", "step one", sid),
        ("completed", "all done", sid),
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["session"]["id"] == sid and [t["id"] for t in manifest["tasks"]] == [task["id"]]
    assert manifest["instructions"] == "Keep it small"
    assert "Inside job" in (folder / "manifest.txt").read_text()
    defaults = [p["name"] for p in json.loads((folder / "profiles.json").read_text()) if p["default"]]
    assert defaults == ["cli-inside"]
    # From the user's terminal, the same manifest by session id.
    assert as_json(cli(server, "manifest", "show", "--session", sid, "--json")) == manifest
    assert "no manifest" in failed(cli(server, "manifest", "show"), 2)


def test_profiles_default_profile_and_a_missing_program(server: LiveServer, project: dict):
    with api(server) as client:
        put = client.put("/api/v1/profiles/ghost", json={"argv": [GHOST, "{prompt}"], "description": "not here"})
        assert put.status_code in (200, 201), put.text
    profiles = {p["name"]: p for p in as_json(cli(server, "profile", "list", "--json"))}
    assert profiles["shell"]["installed"] and not profiles["ghost"]["installed"]
    assert profiles["ghost"]["source"] == "config"
    table = ok(cli(server, "profile", "list"))
    assert any("ghost" in line and " no " in line for line in table.splitlines())
    ghost = as_json(cli(server, "profile", "show", "ghost", "--json"))
    assert ghost["argv"] == [GHOST, "{prompt}"] and ghost["installed"] is False
    assert ghost["missing_program"] == GHOST  # judged by the server, on the sessions' PATH
    assert "not here" in ok(cli(server, "profile", "show", "ghost"))
    assert "available: " in failed(cli(server, "profile", "show", "nobody"), 1)
    assert "not a profile name" in failed(cli(server, "profile", "show", "no body"), 2)

    # The default profile is configurable; a missing program names the profiles that are installed.
    refused = failed(cli(server, "session", "spawn", "--project", project["id"], MAESTRO_DEFAULT_PROFILE="ghost"), 1)
    installed = refused.split("Profiles whose programs are installed: ")[1].split(".")[0].split(", ")
    assert f"'{GHOST}'" in refused and "shell" in installed and "ghost" not in installed
    assert "MAESTRO_DEFAULT_PROFILE" in refused and "config.toml" in refused
    config = server.home / "config.toml"
    config.write_text(config.read_text() + '\n[cli]\ndefault_profile = "shell"\n')
    assert as_json(cli(server, "profile", "list", "--json"))[-1]["default"]  # shell, last by name
    spawned = as_json(cli(server, "session", "spawn", "--project", project["id"], "--json"))
    assert spawned["profile"] == "shell" and spawned["status"] == "running"
    ok(cli(server, "session", "stop", spawned["id"]))
    # The environment wins over config.toml.
    failed(cli(server, "session", "spawn", "--project", project["id"], MAESTRO_DEFAULT_PROFILE="ghost"), 1)


def test_skills(server: LiveServer, project: dict):
    review = server.home / "skills" / "review"
    review.mkdir(parents=True)
    (review / "SKILL.md").write_text("---\nname: review\ndescription: Review a change\n---\n# Review\nRead it all.\n")
    lint = Path(project["working_dir"]) / ".maestro" / "skills" / "lint"
    lint.mkdir(parents=True)
    (lint / "SKILL.md").write_text("# Lint\nRun ruff.\n")

    assert [s["name"] for s in as_json(cli(server, "skill", "list", "--json"))] == ["review"]
    both = as_json(cli(server, "skill", "list", "--project", project["name"], "--json"))
    assert {(s["name"], s["scope"]) for s in both} == {("review", "global"), ("lint", "project")}
    assert "Review a change" in ok(cli(server, "skill", "list"))
    shown = as_json(cli(server, "skill", "show", "review", "--json"))
    assert shown["instructions"].startswith("# Review") and shown["description"] == "Review a change"
    assert "Run ruff." in ok(cli(server, "skill", "show", "lint", "--project", project["id"]))
    assert "404" in failed(cli(server, "skill", "show", "lint"), 1)
