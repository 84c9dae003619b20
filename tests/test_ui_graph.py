"""The run graph page with NiceGUI's User driver over the real app: what each box says (the drawing's props, which
the browser draws as text), the ready queue in start order with its "to front" button, the running agents with
their sessions, the empty state and hints, the subtree in the URL, live updates and the not-found page. Planned runs
are started by the real scheduler, with an agent that only waits. (tests/test_graph_api.py covers the API;
e2e/test_ui_graph.py the drawing in a browser.)"""

from __future__ import annotations

import json
import sys

import msgspec
import pytest
from nicegui import ui
from nicegui.testing import User

from app.models.projects import Project, ProjectUpdate
from app.models.runs import RunPlan
from app.models.tasks import Task
from app.services import projects, tasks
from app.services.orchestration.graph import run_graph
from app.services.tasks.runs import set_plan
from app.web import MaestroApp
from tests.ui_support import ACTOR, eventually, make_project, make_task

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
PLAN = RunPlan(profile="sleeper")


@pytest.fixture(autouse=True)
def sleeper_profile(app: MaestroApp) -> None:
    """An agent whose program exists and waits: planned runs start and keep running."""
    (app.settings.home / "config.toml").write_text(
        f'[profiles.sleeper]\nargv = {json.dumps(SLEEPER)}\nprompt_via = "none"\n'
    )


def drawing(user: User) -> ui.element:
    (element,) = user.find(marker="graph").elements
    return element


def words(user: User) -> dict[str, str]:
    """Each box's title and the state word it shows."""
    return {n["title"]: n["word"] for n in drawing(user)._props["nodes"]}


async def depend(app: MaestroApp, task: Task, *on: Task) -> None:
    for dep in on:
        await tasks.add_dependency(app.runtime.writer, task.id, dep.id, ACTOR)


async def plan(app: MaestroApp, *planned: Task) -> None:
    for task in planned:
        await set_plan(app.runtime.writer, task.id, PLAN, ACTOR)


async def one_slot(app: MaestroApp, project: Project) -> None:
    body = msgspec.convert({"max_agents": 1}, ProjectUpdate)
    await projects.update_project(app.runtime.writer, project.id, body, ACTOR)


async def running(project: Project) -> bool:
    """Has the scheduler started a run (its session runs)?"""
    graph = await run_graph(project.id)
    return any(n.run_state == "running" for n in graph.nodes)


async def queued(project: Project, count: int) -> bool:
    return len((await run_graph(project.id)).queue) == count


async def busy_project(app: MaestroApp) -> tuple[Project, dict[str, Task]]:
    """One agent slot, taken by "Write docs"; "Build the API" and "Lint" queue; "Ship it" waits for two tasks."""
    project = await make_project(app)
    await one_slot(app, project)
    made = {
        "design": await make_task(app, project, "Design", status="completed"),
        "docs": await make_task(app, project, "Write docs", priority="high"),
        "api": await make_task(app, project, "Build the API"),
        "lint": await make_task(app, project, "Lint", priority="low"),
        "ship": await make_task(app, project, "Ship it"),
    }
    await depend(app, made["api"], made["design"])
    await depend(app, made["ship"], made["api"], made["docs"])
    await plan(app, made["docs"])
    await eventually(lambda: running(project), timeout=15)
    await plan(app, made["api"], made["lint"], made["ship"])
    await eventually(lambda: queued(project, 2), timeout=15)
    return project, made


async def test_boxes_say_each_state_and_the_panel_lists_queue_and_running_agents(user: User, app: MaestroApp):
    project, made = await busy_project(app)
    await user.open(f"/projects/{project.id}/graph")
    await user.should_see(marker="graph")
    assert words(user) == {
        "Design": "done",
        "Write docs": "running",
        "Build the API": "queued #1",  # medium priority starts before low
        "Lint": "queued #2",
        "Ship it": "waits for 2",
    }
    edges = {(e["from"], e["to"]) for e in drawing(user)._props["edges"]}
    ids = {key: task.id for key, task in made.items()}
    assert edges == {(ids["design"], ids["api"]), (ids["api"], ids["ship"]), (ids["docs"], ids["ship"])}
    with user.scope(marker="graph-running"):
        await user.should_see("Write docs")
        await user.should_see("1 of 1")
        await user.should_see(marker="graph-session-link")
    session_link = user.find(marker="graph-session-link").elements.pop()
    assert session_link.props["href"].startswith("/sessions/ses_")
    assert queue_titles(user) == ["Build the API", "Lint"]
    await user.should_see("1 planned task waiting for dependencies.")
    await user.should_not_see(marker="graph-empty")


async def test_to_front_moves_a_queued_task_to_the_front(user: User, app: MaestroApp):
    project, made = await busy_project(app)
    await user.open(f"/projects/{project.id}/graph")
    await user.should_not_see(marker=f"graph-bump-{made['api'].id}")  # already first: nothing to move
    user.find(marker=f"graph-bump-{made['lint'].id}").click()
    await user.should_see("'Lint' starts next")
    assert (await run_graph(project.id)).queue == [made["lint"].id, made["api"].id]
    await eventually(lambda: words(user)["Lint"] == "queued #1" and words(user)["Build the API"] == "queued #2")
    assert queue_titles(user) == ["Lint", "Build the API"]
    await user.should_see(marker=f"graph-bump-{made['api'].id}")


async def test_an_empty_project_teaches_what_to_do(user: User, app: MaestroApp):
    project = await make_project(app)
    await user.open(f"/projects/{project.id}/graph")
    await user.should_see(marker="graph-empty")
    await user.should_see("No tasks yet.")
    await user.should_see("maestro task dep add TASK_ID DEPENDS_ON_ID", retries=1)
    with user.scope(marker="graph-queue"):
        await user.should_see("Nothing is ready and waiting for an agent slot.")
    with user.scope(marker="graph-running"):
        await user.should_see("No planned run is running.")

    # Tasks without dependencies: they are drawn, and the hint says how to add dependencies and plans.
    first = await make_task(app, project, "Parse logs")
    await user.should_see(marker="graph-hint-dependencies")
    await user.should_not_see(marker="graph-empty")
    assert words(user) == {"Parse logs": "to do"}
    second = await make_task(app, project, "Summarise")
    await depend(app, second, first)
    await user.should_see(marker="graph-hint-plans")  # dependencies, but nothing planned to run by itself


async def test_a_subtree_from_the_url_and_the_picker(user: User, app: MaestroApp):
    project = await make_project(app)
    release = await make_task(app, project, "Release 2.0")
    migrate = await make_task(app, project, "Migrate", parent=release)
    await make_task(app, project, "Unrelated")
    await user.open(f"/projects/{project.id}/graph?root={release.id}")
    await user.should_see(marker="graph")
    assert set(words(user)) == {"Release 2.0", "Migrate"}
    picker = user.find(marker="graph-root").elements.pop()
    assert picker.value == release.id and picker.options[release.id] == "Release 2.0"
    picker.value = ""  # the whole project
    await eventually(lambda: set(words(user)) == {"Release 2.0", "Migrate", "Unrelated"})
    picker.value = release.id
    await eventually(lambda: set(words(user)) == {"Release 2.0", "Migrate"})

    # A root from elsewhere shows the whole project and says so.
    await user.open(f"/projects/{project.id}/graph?root=tsk_0000000000000000000000")
    await user.should_see(marker="graph-root-missing")
    assert set(words(user)) == {"Release 2.0", "Migrate", "Unrelated"}
    await user.open(f"/projects/{project.id}/graph?root={migrate.id}")
    assert set(words(user)) == {"Migrate"}


async def test_titles_stay_text_and_changes_appear_live(user: User, app: MaestroApp):
    project = await make_project(app)
    html = "<img src=x onerror=alert(1)>"
    task = await make_task(app, project, html)
    await user.open(f"/projects/{project.id}/graph")
    assert words(user) == {html: "to do"}  # a prop, written by Vue as text
    later = await make_task(app, project, "Added elsewhere")
    await depend(app, later, task)
    edge = {"from": task.id, "to": later.id, "met": False, "failed": False}
    await eventually(lambda: drawing(user)._props["edges"] == [edge])
    assert words(user) == {html: "to do", "Added elsewhere": "to do"}


async def test_the_frame_links_the_graph_and_an_unknown_project_is_not_found(user: User, app: MaestroApp):
    project = await make_project(app)
    await user.open(f"/projects/{project.id}/board")
    user.find(marker="nav-graph").click()
    await user.should_see("Run graph")
    await user.open("/projects/prj_0000000000000000000000/graph")
    await user.should_see(marker="not-found")


def queue_titles(user: User) -> list[str]:
    """The titles of the ready queue's rows, top to bottom."""
    (queue,) = user.find(marker="graph-queue").elements
    rows = [e for e in queue.descendants() if "graph-queue-item" in e._markers]
    return [link.text for row in rows for link in row.descendants() if "graph-task-link" in link._markers]


async def test_a_run_waiting_for_the_person_names_its_session_not_its_id(user: User, app: MaestroApp):
    config = app.settings.home / "config.toml"
    quitter = json.dumps([sys.executable, "-c", "pass"])
    config.write_text(config.read_text() + f'\n[profiles.quitter]\nargv = {quitter}\nprompt_via = "none"\n')
    project = await make_project(app)
    task = await make_task(app, project, "Ingest the logs")
    await set_plan(app.runtime.writer, task.id, RunPlan(profile="quitter"), ACTOR)

    async def ended() -> bool:
        return any(n.run_state == "ended_without_report" for n in (await run_graph(project.id)).nodes)

    await eventually(ended, timeout=15)
    await user.open(f"/projects/{project.id}/graph")
    with user.scope(marker="graph-decisions"):
        await user.should_see("Ingest the logs")
        await user.should_see("session 'Ingest the logs' ended (completed) without reporting it complete")
        await user.should_not_see("ses_")
    (box,) = [n for n in drawing(user)._props["nodes"] if n["title"] == "Ingest the logs"]
    assert "ses_" not in box["tip"] and "ended (completed) without reporting it complete" in box["tip"]
