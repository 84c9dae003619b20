"""Worktrees through the real stack: agents spawned in their own git worktree, reviewed, committed, merged, discarded.

Real git in temporary repositories, real ptys running small Python "agents", the app in process over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.services.worktrees import actions
from app.web import MaestroApp

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}
# The stand-in agent: writes what it saw (cwd, MAESTRO_* variables) and the files named in AGENT_WRITES, then exits.
AGENT = """
import json, os, pathlib
for spec in filter(None, os.environ.get("AGENT_WRITES", "").split(";")):
    name, _, text = spec.partition("=")
    pathlib.Path(name).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(name).write_text(text + "\\n")
seen = {"cwd": os.getcwd(), **{k: v for k, v in os.environ.items() if k.startswith("MAESTRO_")}}
pathlib.Path(os.environ["AGENT_RESULTS"]).write_text(json.dumps(seen))
"""


def git(repo: Path, *args: str) -> str:
    import os

    done = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada")
    git(path, "config", "user.email", "ada@example.com")
    (path / "README.md").write_text("hello\n")
    (path / "app.py").write_text("print('v1')\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path


async def setup(client: httpx.AsyncClient, tmp_path: Path, *, git_settings: dict | None = None) -> tuple[dict, dict]:
    repo = make_repo(tmp_path / "repo")
    body = {"name": "app", "working_dir": str(repo), "git": {"isolation": "worktree", **(git_settings or {})}}
    project = (await client.post("/api/v1/projects", json=body)).json()
    assert project["git"]["isolation"] == "worktree", project
    task = await client.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Fix the login loop"})
    return project, task.json()


async def agent_profile(client: httpx.AsyncClient, results: Path, writes: str = "") -> None:
    script = results.parent / "agent.py"
    script.write_text(AGENT)
    response = await client.put(
        "/api/v1/profiles/agent",
        json={
            "argv": [sys.executable, str(script)],
            "env": {"AGENT_RESULTS": str(results), "AGENT_WRITES": writes},
            "description": "the tests' stand-in agent",
        },
    )
    assert response.status_code in (200, 201), response.text


async def spawn(client: httpx.AsyncClient, app: MaestroApp, body: dict) -> dict:
    response = await client.post("/api/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    session = response.json()
    await app.runtime.runner.settled(session["id"])
    return (await client.get(f"/api/v1/sessions/{session['id']}")).json()


async def agent_run(client: httpx.AsyncClient, app: MaestroApp, project: dict, task: dict) -> dict:
    """The stand-in agent spawned on `task` (isolation as the project says), once it has ended."""
    body = {"project_id": project["id"], "task_ids": [task["id"]], "profile": "agent"}
    return await wait_ended(client, (await spawn(client, app, body))["id"])


async def wait_ended(client: httpx.AsyncClient, session_id: str) -> dict:
    for _ in range(300):
        session = (await client.get(f"/api/v1/sessions/{session_id}")).json()
        if session["status"] in ("completed", "failed", "stopped", "lost"):
            return session
        await asyncio.sleep(0.05)
    raise AssertionError(f"session {session_id} did not end")


async def test_an_agent_works_in_its_own_worktree_and_its_changes_are_listed(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path)
    results = tmp_path / "seen.json"
    await agent_profile(client, results, writes="feature.txt=new work;app.py=print('v2')")
    session = await spawn(client, app, {"project_id": project["id"], "task_ids": [task["id"]], "profile": "agent"})
    session = await wait_ended(client, session["id"])
    assert session["status"] == "completed" and session["isolation"] == "worktree"

    worktree = (await client.get(f"/api/v1/sessions/{session['id']}/worktree")).json()
    seen = json.loads(results.read_text())
    home = app.runtime.settings.home
    assert worktree["path"] == session["cwd"] == seen["cwd"] == seen["MAESTRO_WORKTREE"]
    assert Path(worktree["path"]).is_relative_to(home / "worktrees" / project["id"])
    assert worktree["branch"].startswith("maestro/fix-the-login-loop-") and seen["MAESTRO_BRANCH"] == worktree["branch"]
    assert (
        worktree["base_ref"] == "main" and worktree["state"] == "dirty" and worktree["session_ids"] == [session["id"]]
    )
    manifest = json.loads(Path(seen["MAESTRO_MANIFEST"]).read_text())
    assert (
        manifest["worktree"]["branch"] == worktree["branch"] and manifest["session"]["working_dir"] == worktree["path"]
    )

    repo = Path(project["working_dir"])
    assert not (repo / "feature.txt").exists() and (repo / "app.py").read_text() == "print('v1')\n"
    assert git(repo, "status", "--porcelain") == ""  # the user's checkout never sees the agent's files

    changes = (await client.get(f"/api/v1/worktrees/{worktree['id']}/changes")).json()
    assert [(f["path"], f["kind"], f["added"], f["removed"]) for f in changes["files"]] == [
        ("app.py", "modified", 1, 1),
        ("feature.txt", "added", 1, 0),
    ]
    assert changes["total"] == 2 and changes["added"] == 2 and changes["removed"] == 1
    diff = (await client.get(f"/api/v1/worktrees/{worktree['id']}/diff", params={"path": "app.py"})).json()
    assert "-print('v1')" in diff["diff"] and "+print('v2')" in diff["diff"]
    page = (await client.get(f"/api/v1/worktrees/{worktree['id']}/diffs")).json()
    assert [d["path"] for d in page] == ["app.py", "feature.txt"]

    timeline = (await client.get(f"/api/v1/tasks/{task['id']}/timeline")).json()
    assert any(worktree["branch"] in e["message"] for e in timeline), timeline
    events = (await client.get("/api/v1/events")).json()["items"]
    assert any(e["type"] == "worktree.created" and e["entity_id"] == worktree["id"] for e in events)


async def test_two_agents_in_parallel_do_not_see_each_other(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    project, task = await setup(client, tmp_path)
    other = (await client.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Other"})).json()
    await agent_profile(client, tmp_path / "seen.json", writes="shared.txt=mine")
    first, second = await asyncio.gather(
        spawn(client, app, {"project_id": project["id"], "task_ids": [task["id"]], "profile": "agent"}),
        spawn(client, app, {"project_id": project["id"], "task_ids": [other["id"]], "profile": "agent"}),
    )
    await wait_ended(client, first["id"])
    await wait_ended(client, second["id"])
    assert first["worktree_id"] != second["worktree_id"] and first["cwd"] != second["cwd"]
    for session in (first, second):
        assert (Path(session["cwd"]) / "shared.txt").read_text() == "mine\n"
        changes = (await client.get(f"/api/v1/worktrees/{session['worktree_id']}/changes")).json()
        assert [f["path"] for f in changes["files"]] == ["shared.txt"]


async def test_sessions_can_share_a_worktree_and_in_place_stays_available(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json", writes="coder.txt=done")
    coder = await spawn(client, app, {"project_id": project["id"], "task_ids": [task["id"]], "profile": "agent"})
    await wait_ended(client, coder["id"])
    await agent_profile(client, tmp_path / "reviewer.json")
    reviewer = await spawn(
        client,
        app,
        {
            "project_id": project["id"],
            "task_ids": [task["id"]],
            "profile": "agent",
            "worktree_id": coder["worktree_id"],
        },
    )
    await wait_ended(client, reviewer["id"])
    assert reviewer["worktree_id"] == coder["worktree_id"] and reviewer["cwd"] == coder["cwd"]
    assert json.loads((tmp_path / "reviewer.json").read_text())["cwd"] == coder["cwd"]
    task_worktree = (await client.get(f"/api/v1/tasks/{task['id']}/worktree")).json()
    assert task_worktree["session_ids"] == [coder["id"], reviewer["id"]]

    in_place = await spawn(client, app, {"project_id": project["id"], "profile": "agent", "isolation": "in_place"})
    assert in_place["isolation"] == "in_place" and in_place["worktree_id"] is None
    assert in_place["cwd"] == project["working_dir"]


async def test_setup_command_runs_first_and_its_failure_stops_the_agent(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(
        client, tmp_path, git_settings={"setup_command": "echo installed > setup.log", "copy_files": [".env"]}
    )
    (Path(project["working_dir"]) / ".env").write_text("SECRET=1\n")  # untracked: copied into fresh worktrees
    results = tmp_path / "seen.json"
    await agent_profile(client, results)
    ok = await agent_run(client, app, project, task)
    assert ok["status"] == "completed", ok
    assert (Path(ok["cwd"]) / "setup.log").read_text() == "installed\n"
    assert (Path(ok["cwd"]) / ".env").read_text() == "SECRET=1\n" and results.exists()

    results.unlink()
    update = {"git": {"isolation": "worktree", "setup_command": "echo npm broke; exit 7"}}
    assert (await client.patch(f"/api/v1/projects/{project['id']}", json=update)).status_code == 200
    failed = await agent_run(client, app, project, task)
    assert failed["status"] == "failed" and failed["exit_code"] == 7
    assert not results.exists()  # the agent never started
    recording = (await client.get(f"/api/v1/sessions/{failed['id']}/recording")).text
    assert "npm broke" in recording and "setup failed with exit status 7" in recording


async def test_a_project_that_is_not_a_git_repository_refuses_worktree_mode(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    folder = tmp_path / "plain"
    folder.mkdir()
    project = (await client.post("/api/v1/projects", json={"name": "plain", "working_dir": str(folder)})).json()
    await agent_profile(client, tmp_path / "seen.json")
    refused = await client.post(
        "/api/v1/sessions", json={"project_id": project["id"], "profile": "agent", "isolation": "worktree"}
    )
    assert refused.status_code == 400 and "not a git repository" in refused.json()["detail"]
    assert (await client.get("/api/v1/sessions")).json() == []  # nothing was created
    in_place = await spawn(client, app, {"project_id": project["id"], "profile": "agent"})
    assert in_place["cwd"] == str(folder)


async def test_commit_then_merge_fast_forward_records_everything(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json", writes="feature.txt=new work")
    session = await agent_run(client, app, project, task)
    wid = session["worktree_id"]
    dirty_merge = await client.post(f"/api/v1/worktrees/{wid}/merge")
    assert dirty_merge.status_code == 409 and "uncommitted" in dirty_merge.json()["detail"]

    suggestion = (await client.get(f"/api/v1/worktrees/{wid}/commit-message")).json()["message"]
    assert suggestion.startswith("Fix the login loop")
    committed = await client.post(f"/api/v1/worktrees/{wid}/commit", json={"message": suggestion})
    assert committed.status_code == 200, committed.text
    assert (await client.post(f"/api/v1/worktrees/{wid}/commit", json={"message": "again"})).status_code == 409

    merged = await client.post(f"/api/v1/worktrees/{wid}/merge")
    assert merged.status_code == 200, merged.text
    result = merged.json()
    repo = Path(project["working_dir"])
    assert result["fast_forward"] is True and git(repo, "rev-parse", "main") == result["commit"]
    assert (repo / "feature.txt").read_text() == "new work\n"  # the user's checkout of main moved with it
    worktree = (await client.get(f"/api/v1/worktrees/{wid}")).json()
    assert (
        worktree["status"] == "merged"
        and worktree["state"] == "merged"
        and worktree["merged_commit"] == result["commit"]
    )
    events = [e for e in (await client.get("/api/v1/events")).json()["items"] if e["type"] == "worktree.updated"]
    assert [e["data"]["action"] for e in events] == ["committed", "merged"]
    timeline = (await client.get(f"/api/v1/tasks/{task['id']}/timeline")).json()
    assert any(e["kind"] == "milestone" and "Merged" in e["message"] for e in timeline)


async def test_a_conflicting_merge_changes_nothing_and_names_the_files(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path, git_settings={"merge_strategy": "merge_commit"})
    await agent_profile(client, tmp_path / "seen.json", writes="app.py=print('agent')")
    session = await agent_run(client, app, project, task)
    wid = session["worktree_id"]
    assert (await client.post(f"/api/v1/worktrees/{wid}/commit", json={"message": "agent"})).status_code == 200
    repo = Path(project["working_dir"])
    (repo / "app.py").write_text("print('person')\n")
    git(repo, "commit", "-q", "-am", "person")
    before = git(repo, "rev-parse", "main")

    refused = await client.post(f"/api/v1/worktrees/{wid}/merge")
    assert refused.status_code == 409, refused.text
    assert "app.py" in refused.json()["detail"] and refused.json()["extra"]["files"] == ["app.py"]
    assert git(repo, "rev-parse", "main") == before and git(repo, "status", "--porcelain") == ""
    assert (repo / "app.py").read_text() == "print('person')\n"
    assert (await client.get(f"/api/v1/worktrees/{wid}")).json()["status"] == "active"


async def test_discard_warns_about_uncommitted_work_and_keeps_the_branch(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json", writes="draft.txt=half done")
    session = await agent_run(client, app, project, task)
    wid = session["worktree_id"]
    warned = await client.post(f"/api/v1/worktrees/{wid}/discard", json={})
    assert warned.status_code == 409 and warned.json()["extra"]["needs_force"] is True
    assert Path(session["cwd"]).is_dir()

    discarded = await client.post(f"/api/v1/worktrees/{wid}/discard", json={"force": True})
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert not Path(session["cwd"]).exists()
    repo = Path(project["working_dir"])
    assert git(repo, "branch", "--list", discarded.json()["branch"])  # the branch is kept
    gone = await client.get(f"/api/v1/worktrees/{wid}/changes")
    assert gone.status_code == 409 and "gone" in gone.json()["detail"]


async def test_diff_paths_cannot_leave_the_worktree(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    project, task = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json", writes="a.txt=x")
    session = await agent_run(client, app, project, task)
    wid = session["worktree_id"]
    for path in ("../repo/README.md", "/etc/passwd", "a/../../x", ".git/config"):
        response = await client.get(f"/api/v1/worktrees/{wid}/diff", params={"path": path})
        assert response.status_code == 400, (path, response.text)
    unchanged = await client.get(f"/api/v1/worktrees/{wid}/diff", params={"path": "README.md"})
    assert unchanged.status_code == 404


async def test_cleanup_removes_finished_clean_and_merged_worktrees_only(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json")
    clean = await agent_run(client, app, project, task)
    await agent_profile(client, tmp_path / "seen.json", writes="wip.txt=unsaved")
    dirty = await agent_run(client, app, project, task)
    removed = (await client.post(f"/api/v1/projects/{project['id']}/worktrees/cleanup")).json()
    assert [w["id"] for w in removed] == [clean["worktree_id"]]
    listed = {w["id"]: w for w in (await client.get("/api/v1/worktrees", params={"project_id": project["id"]})).json()}
    assert listed[clean["worktree_id"]]["status"] == "discarded"
    assert listed[dirty["worktree_id"]]["state"] == "dirty" and Path(dirty["cwd"]).is_dir()


async def test_a_merge_done_but_not_recorded_is_corrected_on_start(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    project, task = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json", writes="feature.txt=done")
    session = await agent_run(client, app, project, task)
    wid = session["worktree_id"]
    assert (await client.post(f"/api/v1/worktrees/{wid}/commit", json={"message": "done"})).status_code == 200
    branch = (await client.get(f"/api/v1/worktrees/{wid}")).json()["branch"]
    git(Path(project["working_dir"]), "merge", "-q", "--ff-only", branch)  # as if the server died after git's part

    assert await actions.reconcile(app.runtime.writer) == 1
    worktree = (await client.get(f"/api/v1/worktrees/{wid}")).json()
    assert worktree["status"] == "merged" and worktree["merged_commit"] == git(
        Path(project["working_dir"]), "rev-parse", "main"
    )
    assert await actions.reconcile(app.runtime.writer) == 0


@pytest.mark.parametrize(
    "body", [{"isolation": "in_place", "worktree_id": "wtr_0000000000000000000000"}, {"base_ref": "--help"}]
)
async def test_contradictory_or_hostile_spawn_options_are_refused(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path, body: dict
):
    project, _ = await setup(client, tmp_path)
    await agent_profile(client, tmp_path / "seen.json")
    response = await client.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "agent", **body})
    assert response.status_code == 400, response.text
    assert (await client.get("/api/v1/worktrees")).json() == []
