"""The task page, driven like a user through the real app: edit in place, pickers, dependencies, live, safety."""

from __future__ import annotations

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

from app.errors import NotFound
from app.services import tasks
from app.web import MaestroApp
from tests.ui_support import eventually, make_project, make_task

HTML = "<img src=x onerror=alert(1)>"


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


async def stored(task_id: str, field: str):
    return getattr(await tasks.get_task(task_id), field)


async def is_stored(task_id: str, field: str, expected) -> bool:
    return await stored(task_id, field) == expected


async def test_everything_about_a_task_is_shown(user: User, app: MaestroApp) -> None:
    project = await make_project(app, name="Compiler")
    root = await make_task(app, project, "Front end")
    task = await make_task(app, project, "Parser", parent=root, description="Parse **everything**")
    await make_task(app, project, "Tokens", parent=task, status="completed")
    await user.open(f"/tasks/{task.id}")

    with user.scope(marker="task-breadcrumb"):
        await user.should_see("Compiler")
        await user.should_see("Front end")
        await user.should_see("Parser")
    assert only(user, "task-title").text == "Parser"
    assert only(user, "task-description").content == "Parse **everything**"
    assert only(user, "task-status").value == "todo"
    assert only(user, "task-priority").value == "medium"
    with user.scope(marker="task-subtasks"):
        await user.should_see("Tokens")
        await user.should_see("Done")
    for section in ("task-dependencies", "task-timeline", "task-sessions"):
        await user.should_see(marker=section)
    await user.should_see(marker="run-agent")  # the prominent action: its dialog is tested in test_ui_run_agent.py


async def test_edit_the_title_in_place_enter_saves_and_esc_cancels(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Old title")
    await user.open(f"/tasks/{task.id}")

    user.find(marker="task-title").click()
    user.find(marker="task-title-input").clear().type("New title").trigger("keydown.enter")
    await eventually(lambda: is_stored(task.id, "title", "New title"))
    await eventually(lambda: only(user, "task-title").text == "New title")

    user.find(marker="task-title").click()
    user.find(marker="task-title-input").clear().type("Never saved").trigger("keydown.esc").trigger("blur")
    await eventually(lambda: only(user, "task-title").text == "New title")
    assert await stored(task.id, "title") == "New title"

    user.find(marker="task-title").click()
    user.find(marker="task-title-input").clear().trigger("keydown.enter")
    await user.should_see("A title is needed")  # shown under the editor, which stays open
    assert await stored(task.id, "title") == "New title"


async def test_edit_the_description_in_place_blur_saves(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Describe me")
    await user.open(f"/tasks/{task.id}")

    user.find(marker="task-description-placeholder").click()
    user.find(marker="task-description-input").type("Use **bold** words").trigger("blur")
    await eventually(lambda: is_stored(task.id, "description", "Use **bold** words"))
    await eventually(lambda: only(user, "task-description").content == "Use **bold** words")


async def test_status_and_priority_pickers(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Pick me")
    await user.open(f"/tasks/{task.id}")

    user.find(marker="task-status").click()
    user.find("In review").click()
    await eventually(lambda: is_stored(task.id, "status", "in_review"))
    user.find(marker="task-priority").click()
    user.find("High").click()
    await eventually(lambda: is_stored(task.id, "priority", "high"))


async def test_add_a_dependency_and_a_cycle_is_refused_inline(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    alpha = await make_task(app, project, "Alpha")
    bravo = await make_task(app, project, "Bravo")
    await user.open(f"/tasks/{alpha.id}")

    with user.scope(marker="task-dependencies"):
        user.find(marker="task-dependency-pick").click()
        user.find("Bravo").click()
        user.find(marker="task-dependency-add").click()
    await eventually(lambda: is_stored(alpha.id, "dependencies", [bravo.id]))
    await user.should_see(marker=f"task-dependency-{bravo.id}")

    await user.open(f"/tasks/{bravo.id}")
    with user.scope(marker="task-dependencies"):
        user.find(marker="task-dependency-pick").click()
        user.find("Alpha").click()
        user.find(marker="task-dependency-add").click()
    await eventually(lambda: "would create a cycle" in only(user, "task-dependency-error").text)
    # The service's message, with titles instead of ids, next to the editor.
    assert only(user, "task-dependency-error").text == "Refused: task 'Bravo' depending on 'Alpha' would create a cycle"
    assert await stored(bravo.id, "dependencies") == []

    await user.open(f"/tasks/{alpha.id}")
    user.find(marker="task-dependency-remove").click()
    await eventually(lambda: is_stored(alpha.id, "dependencies", []))


async def test_changes_through_the_api_show_up_live(user: User, app: MaestroApp, client: httpx.AsyncClient) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Before")
    await user.open(f"/tasks/{task.id}")
    await user.should_see(marker="task-title")

    response = await client.patch(f"/api/v1/tasks/{task.id}", json={"title": "After", "status": "blocked"})
    assert response.status_code == 200, response.text
    await eventually(lambda: only(user, "task-title").text == "After")
    assert only(user, "task-status").value == "blocked"

    response = await client.post("/api/v1/tasks", json={"project_id": project.id, "title": "Sub", "parent_id": task.id})
    assert response.status_code == 201, response.text
    with user.scope(marker="task-subtasks"):
        await user.should_see("Sub", retries=50)

    response = await client.post(
        f"/api/v1/tasks/{task.id}/timeline", json={"kind": "progress", "message": "Half way " + HTML}
    )
    assert response.status_code == 201, response.text
    with user.scope(marker="task-timeline"):
        await user.should_see("Half way " + HTML, retries=50)  # an agent's message, as text


async def test_html_in_a_title_is_text_and_in_a_description_is_sanitised(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, HTML, description=f"Look: {HTML}")
    await user.open(f"/tasks/{task.id}")

    title = only(user, "task-title")
    assert isinstance(title, ui.label) and title.text == HTML  # a label's text is a text node, never markup
    with user.scope(marker="task-breadcrumb"):
        await user.should_see(kind=ui.label, content=HTML)
    description = only(user, "task-description")
    assert isinstance(description, ui.markdown)
    assert description.props["sanitize"] is True  # DOMPurify runs in the browser before the HTML is inserted

    page = await user.http_client.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and HTML not in page.text  # <title> and the element data are escaped


async def test_delete_asks_first_and_counts_the_subtasks(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Doomed")
    child = await make_task(app, project, "Child", parent=task)
    await make_task(app, project, "Grandchild", parent=child)
    await user.open(f"/tasks/{task.id}")

    user.find(marker="task-delete").click()
    await user.should_see("This deletes it and its 2 subtasks", retries=20)
    user.find(marker="confirm-task").click()
    await eventually(lambda: user.back_history[-1] == f"/projects/{project.id}/tasks")
    with pytest.raises(NotFound):
        await tasks.get_task(task.id)


async def test_archive_asks_first_and_unarchive_restores(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Old news")
    await user.open(f"/tasks/{task.id}")

    user.find(marker="task-archive").click()
    await user.should_see("Its 0 subtasks are hidden", retries=20)
    user.find(marker="confirm-task").click()
    await eventually(lambda: _archived(task.id))
    await user.should_see(marker="task-archived", retries=20)
    user.find(marker="task-archive").click()
    await eventually(lambda: _not_archived(task.id))


async def _archived(task_id: str) -> bool:
    return await stored(task_id, "archived_at") is not None


async def _not_archived(task_id: str) -> bool:
    return await stored(task_id, "archived_at") is None


async def test_an_unknown_task_shows_a_friendly_page(user: User) -> None:
    await user.open("/tasks/tsk_doesnotexist")
    await user.should_see(marker="not-found")
    await user.open("/tasks/%3Cscript%3E")
    await user.should_see(marker="not-found")
