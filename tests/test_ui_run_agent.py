"""Running agents from the browser (User driver over the real app, real ptys): the Run agent dialog, its refusals
(nothing is created), the one-keystroke shell, and the spawn body's extra instruction."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import msgspec
from nicegui import ui
from nicegui.testing import User

from app.models.projects import ProjectUpdate
from app.services import projects, sessions
from app.web import MaestroApp
from tests.ui_support import eventually, make_project, make_task

MISSING = "maestro-test-no-such-program"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


async def dialog_open(user: User) -> None:
    """Wait until the Run agent dialog is shown (its choices are filled before it opens)."""
    await eventually(lambda: any(d.value for d in user.find(marker="run-agent-dialog").elements))


def write_profiles(home: Path) -> None:
    """The user's own profiles in MAESTRO_HOME/config.toml: one whose program exists, one whose does not."""
    (home / "config.toml").write_text(
        f'[profiles.ghost]\nargv = ["{MISSING}", "{{prompt}}"]\ndescription = "Not here"\n\n'
        f'[profiles.sleeper]\nargv = {json.dumps(SLEEPER)}\nprompt_via = "none"\n'
    )


def press(user: User, key: str) -> None:
    """A key pressed outside any text field (what the page's keyboard handler receives from the browser)."""
    args = {"action": "keydown", "repeat": False, "altKey": False, "ctrlKey": False, "metaKey": False}
    user.find(kind=ui.keyboard).trigger("key", {**args, "shiftKey": False, "key": key, "code": key, "location": 0})


async def test_run_agent_from_a_task_page_starts_it_on_the_task_and_opens_its_page(user: User, app: MaestroApp) -> None:
    write_profiles(app.settings.home)
    project = await make_project(app)
    task = await make_task(app, project, "Parse logs")
    await user.open(f"/tasks/{task.id}")
    user.find(marker="run-agent").click()
    await dialog_open(user)
    assert only(user, "run-agent-tasks").value == [task.id]  # preselected from where it was opened
    profiles = only(user, "run-agent-profile").options
    assert profiles["ghost"] == "ghost — not installed" and profiles["sleeper"] == "sleeper"
    assert profiles["shell"] == "shell"

    user.find(marker="run-agent-profile").click()
    user.find("sleeper").click()
    user.find(marker="run-agent-role").click()  # a toggle: the User driver sets it through its value
    only(user, "run-agent-role").value = "orchestrator"
    user.find(marker="run-agent-name").type("log parser")
    only(user, "run-agent-instructions").value = "Keep the output format stable."
    user.find(marker="run-agent-start").click()

    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    (session,) = await sessions.list_sessions(project_id=project.id)
    assert user.back_history[-1] == f"/sessions/{session.id}"
    assert (session.name, session.profile, session.role, session.spawn_source) == (
        "log parser",
        "sleeper",
        "orchestrator",
        "ui",
    )
    assert [link.task_id for link in session.tasks] == [task.id]
    folder = app.settings.home / "sessions" / session.id
    assert json.loads((folder / "manifest.json").read_text())["instructions"] == "Keep the output format stable."
    prompt = (folder / "prompt.md").read_text()
    assert prompt.endswith("# Instructions from the user\n\nKeep the output format stable.\n")


async def test_a_missing_program_is_marked_and_its_refusal_shown_in_the_dialog(user: User, app: MaestroApp) -> None:
    write_profiles(app.settings.home)
    project = await make_project(app)
    task = await make_task(app, project, "Parse logs")
    await user.open(f"/tasks/{task.id}")
    user.find(marker="run-agent").click()
    await dialog_open(user)
    user.find(marker="run-agent-profile").click()
    user.find("ghost — not installed").click()
    note = only(user, "run-agent-profile-note")
    await eventually(lambda: f"Not installed: '{MISSING}' is not on PATH" in note.text)

    user.find(marker="run-agent-start").click()
    problem = only(user, "run-agent-error")
    await eventually(lambda: problem.text)
    assert problem.text == f"Not started: profile 'ghost': program '{MISSING}' was not found on PATH"
    assert only(user, "run-agent-dialog").value  # still open, with what was chosen
    assert only(user, "run-agent-tasks").value == [task.id]
    assert await sessions.list_sessions() == []  # nothing was created
    assert not (app.settings.home / "sessions").exists() or not any((app.settings.home / "sessions").iterdir())


async def test_an_unknown_skill_is_refused_in_the_dialog_and_nothing_is_created(user: User, app: MaestroApp) -> None:
    write_profiles(app.settings.home)
    project = await make_project(app)
    task = await make_task(app, project, "Review the parser", skills=["code-review"])
    await user.open(f"/tasks/{task.id}")
    user.find(marker="run-agent").click()
    await dialog_open(user)
    skills = only(user, "run-agent-skills")
    assert skills.value == ["code-review"]  # the task asks for it, and it is shown as missing
    assert skills.options["code-review"] == "code-review — not found for this project"
    user.find(marker="run-agent-profile").click()
    user.find("sleeper").click()
    user.find(marker="run-agent-start").click()
    problem = only(user, "run-agent-error")
    await eventually(lambda: problem.text == "Not started: unknown skill(s): code-review")
    assert await sessions.list_sessions() == []

    user.find(marker="run-agent-skills").click()
    user.find("code-review — not found for this project").click()  # unchosen
    assert skills.value == []
    user.find(marker="run-agent-start").click()
    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    assert [s.profile for s in await sessions.list_sessions()] == ["sleeper"]


async def test_s_opens_a_plain_shell_in_the_projects_folder(user: User, app: MaestroApp, tmp_path: Path) -> None:
    project = await make_project(app, working_dir=str(tmp_path))
    await user.open(f"/projects/{project.id}/board")
    await user.should_see(marker="board")
    press(user, "s")
    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    (session,) = await sessions.list_sessions()
    assert (session.profile, session.cwd, session.tasks) == ("shell", str(tmp_path), [])
    assert user.back_history[-1] == f"/sessions/{session.id}"


async def test_the_palette_offers_run_agent_and_open_a_shell(user: User, app: MaestroApp) -> None:
    await make_project(app)
    await user.open("/sessions")
    user.find(marker="open-palette").click()
    await user.should_see("Run agent…", retries=20)
    user.find("Open a shell").click()  # the only project: no need to ask which
    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    assert [s.profile for s in await sessions.list_sessions()] == ["shell"]


async def test_the_spawn_body_takes_an_extra_instruction(client: httpx.AsyncClient, app: MaestroApp) -> None:
    project = await make_project(app)
    body = {"project_id": project.id, "instructions": "Only read; change nothing."}
    response = await client.post("/api/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    folder = app.settings.home / "sessions" / response.json()["id"]
    assert json.loads((folder / "manifest.json").read_text())["instructions"] == "Only read; change nothing."
    assert "# Instructions from the user\n\nOnly read; change nothing.\n" in (folder / "prompt.md").read_text()

    refused = await client.post("/api/v1/sessions", json={**body, "instructions": "a\x00b"})
    assert refused.status_code == 400 and "instructions" in json.dumps(refused.json()["extra"])
    assert len(await sessions.list_sessions()) == 1


async def test_s_opens_the_shell_in_place_even_when_the_project_defaults_to_worktrees(
    user: User, app: MaestroApp, tmp_path: Path
) -> None:
    project = await make_project(app, working_dir=str(tmp_path))
    body = msgspec.convert({"git": {"isolation": "worktree"}}, ProjectUpdate)
    await projects.update_project(app.runtime.writer, project.id, body, "api")
    await user.open(f"/projects/{project.id}/board")
    await user.should_see(marker="board")
    press(user, "s")  # a quick look around the project's folder needs no branch (nor a git repository)
    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    (session,) = await sessions.list_sessions()
    assert (session.isolation, session.cwd, session.worktree_id) == ("in_place", str(tmp_path), None)
