"""The task tree page, driven like a user through the real app: create, expand, move, reorder, search, pickers."""

from __future__ import annotations

import asyncio

import httpx
from nicegui import ui
from nicegui.testing import User

from app.services import tasks
from app.web import MaestroApp
from tests.ui_support import eventually, make_project, make_task
from ui.components.tree import ROW_BUDGET


async def parent_of(task_id: str) -> str | None:
    return (await tasks.get_task(task_id)).parent_id


async def _equals(value, expected) -> bool:
    return await value == expected


def row_of(user: User, task_id: str) -> ui.element:
    """The one drawn row of a task."""
    (row,) = user.find(marker=f"task-row-{task_id}").elements
    return row


async def test_create_a_task_and_a_subtask_from_the_tree(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    await user.open(f"/projects/{project.id}/tasks")
    await user.should_see(marker="task-tree-empty")

    user.find(marker="new-task").click()
    user.find(marker="task-form-title").type("Write the parser")
    user.find(marker="task-form-save").click()

    async def roots() -> list:
        return (await tasks.list_tasks(project_id=project.id)).items

    await eventually(roots)
    (root,) = await roots()
    await eventually(lambda: row_of(user, root.id))

    with user.scope(marker=f"task-row-{root.id}"):
        user.find(marker="task-add-subtask").click()
    user.find(marker="task-form-title").type("Tokenizer")
    user.find(marker="task-form-save").click()

    async def children_of_root() -> list:
        return (await tasks.list_tasks(project_id=project.id, parent_id=root.id)).items

    await eventually(children_of_root)
    children = await children_of_root()
    await eventually(lambda: row_of(user, children[0].id))  # the parent opened to show its new child
    assert [c.title for c in children] == ["Tokenizer"]
    assert row_of(user, children[0].id).props["data-task-id"] == children[0].id


async def test_collapsed_children_are_not_drawn_until_expanded(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    parent = await make_task(app, project, "Parent")
    child = await make_task(app, project, "Hidden child", parent=parent)
    await make_task(app, project, "Grandchild", parent=child)
    await user.open(f"/projects/{project.id}/tasks")
    await user.should_see("Parent")
    assert not list(user.find(marker="task-tree").elements)[0].default_slot.children[0].default_slot.children[1:]
    await user.should_not_see("Hidden child")

    with user.scope(marker=f"task-row-{parent.id}"):
        user.find(marker="task-toggle").click()
    await user.should_see("Hidden child")
    await user.should_not_see("Grandchild")
    with user.scope(marker=f"task-row-{parent.id}"):
        user.find(marker="task-toggle").click()
    await user.should_not_see("Hidden child")


async def test_move_under_another_task_and_a_cycle_is_refused(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    apple = await make_task(app, project, "Apple")
    pip = await make_task(app, project, "Pip", parent=apple)
    banana = await make_task(app, project, "Banana")
    await user.open(f"/projects/{project.id}/tasks")

    with user.scope(marker=f"task-row-{banana.id}"):
        user.find(marker="task-menu").click()
        user.find(marker="task-move").click()
    with user.scope(marker="task-move-dialog"):
        user.find(marker="task-move-target").click()
        user.find("Apple").click()
        user.find(marker="task-move-save").click()
    await eventually(lambda: _equals(parent_of(banana.id), apple.id))
    await eventually(lambda: row_of(user, banana.id))  # drawn: its new parent opened to show it

    # Apple under its own child: the service refuses, the toast says why, nothing moves.
    with user.scope(marker=f"task-row-{apple.id}"):
        user.find(marker="task-menu").click()
        user.find(marker="task-move").click()
    with user.scope(marker="task-move-dialog"):
        user.find(marker="task-move-target").click()
        user.find("Pip").click()
        user.find(marker="task-move-save").click()
    await user.should_see("a task cannot move under itself or one of its descendants")
    assert (await tasks.get_task(apple.id)).parent_id is None
    assert (await tasks.get_task(pip.id)).parent_id == apple.id


async def test_move_to_top_level_and_reorder(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    first = await make_task(app, project, "First")
    second = await make_task(app, project, "Second")
    nested = await make_task(app, project, "Nested", parent=first)
    await user.open(f"/projects/{project.id}/tasks")

    with user.scope(marker=f"task-row-{first.id}"):
        user.find(marker="task-menu").click()
        user.find(marker="task-down").click()

    async def order() -> list[str]:
        page = await tasks.list_tasks(project_id=project.id, parent_id="root", sort="position")
        return [t.title for t in page.items]

    await eventually(lambda: _equals(order(), ["Second", "First"]))

    with user.scope(marker=f"task-row-{first.id}"):
        user.find(marker="task-toggle").click()
    with user.scope(marker=f"task-row-{nested.id}"):
        user.find(marker="task-menu").click()
        user.find(marker="task-move").click()
    with user.scope(marker="task-move-dialog"):
        user.find(marker="task-move-target").click()
        user.find("Top level").click()
        user.find(marker="task-move-save").click()
    await eventually(lambda: _equals(parent_of(nested.id), None))
    assert second.id in {t.id for t in (await tasks.list_tasks(project_id=project.id, parent_id="root")).items}


async def test_search_reveals_a_match_inside_collapsed_parents_and_dims_the_rest(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    top = await make_task(app, project, "Backend")
    middle = await make_task(app, project, "Storage layer", parent=top)
    leaf = await make_task(app, project, "Find the needle", parent=middle)
    other = await make_task(app, project, "Frontend")
    await user.open(f"/projects/{project.id}/tasks")
    await user.should_not_see("Find the needle")

    user.find(marker="task-tree-search").type("NEEDLE")
    await user.should_see("Find the needle")
    assert "opacity-40" not in row_of(user, leaf.id).classes
    for dimmed in (top, middle, other):
        assert "opacity-40" in row_of(user, dimmed.id).classes
    await user.should_see("1 of 4 tasks match")

    user.find(marker="task-tree-search").clear()
    await user.should_not_see("Find the needle")
    assert "opacity-40" not in row_of(user, other.id).classes


async def test_status_and_priority_change_in_the_row(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task = await make_task(app, project, "Ship it")
    await user.open(f"/projects/{project.id}/tasks")

    with user.scope(marker=f"task-row-{task.id}"):
        user.find(marker="task-status").click()  # a chip until used: the select is created on the first click
        user.find(marker="task-status-select").click()
        user.find("In progress").click()
        user.find(marker="task-priority").click()
        user.find(marker="task-priority-select").click()
        user.find("Critical").click()

    async def stored() -> tuple[str, str]:
        found = await tasks.get_task(task.id)
        return found.status, found.priority

    await eventually(lambda: _equals(stored(), ("in_progress", "critical")))


async def test_a_change_made_elsewhere_shows_up_live(user: User, app: MaestroApp, client: httpx.AsyncClient) -> None:
    project = await make_project(app)
    await make_task(app, project, "Existing")
    await user.open(f"/projects/{project.id}/tasks")
    await user.should_see("Existing")

    response = await client.post("/api/v1/tasks", json={"project_id": project.id, "title": "Made by the API"})
    assert response.status_code == 201, response.text
    await user.should_see("Made by the API", retries=30)


async def test_an_unknown_project_shows_a_friendly_page(user: User) -> None:
    await user.open("/projects/prj_doesnotexist/tasks")
    await user.should_see(marker="not-found")


async def test_a_thousand_tasks_draw_lazily_and_expand_all_stays_bounded(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    roots = await asyncio.gather(*(make_task(app, project, f"Root {i}") for i in range(10)))
    await asyncio.gather(*(make_task(app, project, f"Leaf {r.title} {i}", parent=r) for r in roots for i in range(99)))
    await user.open(f"/projects/{project.id}/tasks")
    await user.should_see("1000 tasks")
    assert len(user.find(marker="task-row").elements) == 10  # collapsed children are not drawn at all

    user.find(marker="task-tree-expand-all").click()
    drawn = len(user.find(marker="task-row").elements)
    assert 10 < drawn <= 10 + ROW_BUDGET
    await user.should_see(marker="task-tree-more")


def press(user: User, key: str) -> None:
    """A key pressed outside any text field (what the page's keyboard handler receives from the browser)."""
    args = {"action": "keydown", "repeat": False, "altKey": False, "ctrlKey": False, "metaKey": False}
    user.find(kind=ui.keyboard).trigger("key", {**args, "shiftKey": False, "key": key, "code": key, "location": 0})


async def test_keyboard_c_creates_and_j_k_enter_move_and_open(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    first = await make_task(app, project, "First")
    second = await make_task(app, project, "Second")
    await user.open(f"/projects/{project.id}/tasks")

    press(user, "j")
    await eventually(lambda: "bg-amber-2" in row_of(user, first.id).classes)
    press(user, "j")
    await eventually(lambda: "bg-amber-2" in row_of(user, second.id).classes)
    assert "bg-amber-2" not in row_of(user, first.id).classes
    press(user, "k")
    await eventually(lambda: "bg-amber-2" in row_of(user, first.id).classes)

    press(user, "c")
    await user.should_see(marker="task-form")
    press(user, "Enter")
    await eventually(lambda: user.back_history[-1] == f"/tasks/{first.id}")
