"""Home, first run and project overview pages with NiceGUI's User driver over the real app (gate included)."""

from __future__ import annotations

from pathlib import Path

import httpx
from nicegui import ui
from nicegui.testing import User

from app.services import projects
from app.web import MaestroApp
from tests.ui_support import eventually, make_project, make_task


async def test_first_run_creates_a_project_with_the_directory_checked_in_place(user: User, tmp_path: Path):
    await user.open("/")
    await user.should_see(marker="first-run")
    user.find(marker="new-project").click()
    user.find(marker="project-name").type("My app")
    user.find(marker="project-working-dir").type(str(tmp_path / "missing"))
    user.find(marker="project-save").click()
    await user.should_see(marker="project-form")  # still open, nothing lost
    field = user.find(marker="project-working-dir").elements.pop()
    await eventually(lambda: field.props.get("error") and "existing directory" in field.props["error-message"])
    assert await projects.list_projects() == []
    field.value = str(tmp_path)
    user.find(marker="project-working-dir").trigger("keydown.enter")  # Enter submits, like the button
    await user.should_see(marker="project-title", retries=20)  # the new project's overview
    [created] = await projects.list_projects()
    assert created.name == "My app" and created.working_dir == str(tmp_path)


async def test_home_lists_projects_with_counts_and_a_duplicate_name_is_refused(user: User, app: MaestroApp):
    project = await make_project(app, "Alpha")
    await make_task(app, project, "One", status="in_progress")
    await user.open("/")
    await user.should_see("Alpha")
    await user.should_see("In progress 1")
    user.find(marker="new-project").click()
    user.find(marker="project-name").type("Alpha")
    user.find(marker="project-working-dir").type(str(app.settings.home))
    user.find(marker="project-save").click()
    field = user.find(marker="project-name").elements.pop()
    await eventually(lambda: "already exists" in (field.props.get("error-message") or ""))


async def test_overview_tells_recent_activity_in_words_and_follows_api_changes_live(
    user: User, app: MaestroApp, client: httpx.AsyncClient
):
    project = await make_project(app, "Logs")
    await user.open(f"/projects/{project.id}")
    await user.should_see("Project 'Logs' created by the API")
    response = await client.post(
        "/api/v1/tasks", json={"project_id": project.id, "title": "Parse"}, headers={"X-Maestro-Client": "cli"}
    )
    assert response.status_code == 201
    await user.should_see("Task 'Parse' created by you (CLI)", retries=40)


async def test_delete_states_what_goes_with_the_project(user: User, app: MaestroApp):
    project = await make_project(app, "Doomed")
    await make_task(app, project, "A")
    await make_task(app, project, "B")
    await user.open(f"/projects/{project.id}")
    user.find(marker="delete-project").click()
    await user.should_see("This deletes its 2 tasks and 0 session records", retries=20)
    user.find(marker="confirm-delete-button").click()
    await user.should_see(marker="first-run", retries=20)
    assert await projects.list_projects() == []


async def test_an_unknown_project_is_a_friendly_page(user: User):
    await user.open("/projects/prj_01jd8n1k2m3p4q5r6s7t8v")
    await user.should_see(marker="not-found")
    assert ui  # the page rendered without an error log (the fixture fails on one)


async def test_settings_show_where_the_data_lives_and_check_readiness(user: User, app: MaestroApp):
    await user.open("/settings")
    await user.should_see(f"Data directory: {app.settings.home}")
    user.find(marker="check-readiness").click()
    await user.should_see("Readiness: ready · 0 pending migrations", retries=20)


async def test_the_sessions_page_teaches_how_to_start_when_empty(user: User):
    await user.open("/sessions")
    await user.should_see(marker="sessions-empty")
    await user.should_see("No agent has run yet.")


async def test_a_new_projects_git_settings_are_checked_beside_their_fields(user: User, tmp_path: Path):
    await user.open("/")
    user.find(marker="new-project").click()
    user.find(marker="project-name").type("Plain folder")
    user.find(marker="project-working-dir").type(str(tmp_path))
    isolation = user.find(marker="project-git-isolation").elements.pop()
    isolation.value = "worktree"
    user.find(marker="project-git-setup").type("make deps")
    user.find(marker="project-git-copy-files").type(".env\n\nlocal.toml, .env")
    user.find(marker="project-save").click()
    await eventually(lambda: isolation.props.get("error"))
    assert "is not a git repository; worktree mode needs one" in isolation.props["error-message"]
    assert await projects.list_projects() == []  # nothing created, nothing lost
    isolation.value = "in_place"
    user.find(marker="project-save").click()
    await user.should_see(marker="project-title", retries=20)
    [created] = await projects.list_projects()
    assert (created.git.isolation, created.git.setup_command) == ("in_place", "make deps")
    assert created.git.copy_files == [".env", "local.toml"]  # split on commas and lines, blanks and repeats gone
