"""Run plans and run states in the browser (User driver over the real app): the task page's plan form and run panel
(remove, start next, retry / skip / stop), run badges on board cards and tree rows, stalled sessions with their
evidence, the attention menu, and the project's "Agents at once"."""

from __future__ import annotations

import json
import sys

from nicegui import ElementFilter, ui
from nicegui.testing import User

from app.db.writer import Tx
from app.models.projects import Project, ProjectUpdate
from app.models.runs import ExitCheck, RunPlan
from app.models.sessions import Session
from app.models.tasks import Task
from app.services import projects, tasks
from app.services.sessions import records
from app.services.sessions import status as session_status
from app.services.tasks import runs
from app.services.tasks.queries import get_row
from app.web import MaestroApp
from tests.ui_support import ACTOR, eventually, make_project, make_task

HTML = "<img src=x onerror=alert(1)>"
EVIDENCE = "no output for 14 min (last 10:02), no report since 09:58, process alive (pid 1234)"


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


def texts(user: User, marker: str) -> list[str]:
    return [getattr(e, "text", "") for e in user.find(marker=marker).elements]


def shown_kind(user: User, kind: type[ui.element]) -> bool:
    """Is an element of this kind drawn?"""
    assert user.client is not None
    with user.client:
        return any(True for _ in ElementFilter(kind=kind))


def shown(user: User, marker: str) -> bool:
    """Is an element with this marker drawn?"""
    assert user.client is not None
    with user.client:
        return any(True for _ in ElementFilter(marker=marker))


async def planned(app: MaestroApp, task: Task, **fields) -> Task:
    """Give a task a run plan through the service (a dependency not completed keeps it waiting)."""
    return await runs.set_plan(app.runtime.writer, task.id, RunPlan(profile="shell", **fields), ACTOR)


async def end_attempt(app: MaestroApp, task: Task, outcome: str, why: str) -> None:
    """The current attempt ends badly, as a session's end or a failed check would end it."""

    async def op(tx: Tx) -> None:
        await runs.end_attempt_in(tx, await get_row(task.id), outcome, why)

    await app.runtime.writer.write(op, "test")


def sleeper_profile(app: MaestroApp) -> None:
    """Profile "sleeper": an agent that starts and waits (its run stays running until the app stops it)."""
    argv = json.dumps([sys.executable, "-c", "import time; time.sleep(600)"])
    (app.settings.home / "config.toml").write_text(f'[profiles.sleeper]\nargv = {argv}\nprompt_via = "none"\n')


async def one_agent_busy(app: MaestroApp, project: Project) -> Task:
    """The project may run one agent at a time, and one planned run holds that slot (a real session)."""
    sleeper_profile(app)
    await projects.update_project(app.runtime.writer, project.id, ProjectUpdate(max_agents=1), ACTOR)
    busy = await make_task(app, project, "Busy")
    await runs.set_plan(app.runtime.writer, busy.id, RunPlan(profile="sleeper"), ACTOR)
    await eventually(lambda: _is(run_state(busy.id), "running"), timeout=15)
    return busy


async def queued(app: MaestroApp, project: Project, *titles: str) -> list[Task]:
    """Ready planned tasks that queue behind the busy slot, in this order."""
    found = []
    for title in titles:
        task = await make_task(app, project, title)
        await runs.set_plan(app.runtime.writer, task.id, RunPlan(profile="sleeper"), ACTOR)
        await eventually(lambda t=task: _is(run_state(t.id), "queued"))
        found.append(task)
    return found


async def gated(app: MaestroApp, project: Project, title: str) -> tuple[Task, Task]:
    """A task depending on another that is not completed: a plan on it waits."""
    first = await make_task(app, project, f"Before {title}")
    task = await make_task(app, project, title)
    await tasks.add_dependency(app.runtime.writer, task.id, first.id, ACTOR)
    return task, first


async def run_state(task_id: str) -> str | None:
    run = (await tasks.get_task(task_id)).run
    return run.state if run is not None else None


async def test_the_plan_form_sets_a_plan_and_the_task_shows_it(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task, _ = await gated(app, project, "Parse logs")
    await user.open(f"/tasks/{task.id}")
    await user.should_see(marker="run-plan-empty")
    assert only(user, "task-status-reason").text.startswith("Status: created as To do by the API · ")

    user.find(marker="run-plan-add").click()
    await eventually(lambda: any(d.value for d in user.find(marker="run-plan-dialog").elements))
    assert "shell" in only(user, "run-plan-profile").options
    only(user, "run-plan-profile").value = "shell"
    only(user, "run-plan-instructions").value = "Keep the output stable."
    user.find(marker="run-plan-check").type("pytest -q")
    only(user, "run-plan-timeout").value = 5
    only(user, "run-plan-policy").value = "retry"
    only(user, "run-plan-retries").value = 3
    user.find(marker="run-plan-save").click()

    async def stored() -> RunPlan | None:
        return (await tasks.get_task(task.id)).run_plan

    await eventually(stored)
    plan = await stored()
    assert plan is not None
    assert (plan.profile, plan.instructions, plan.on_failure, plan.retries) == (
        "shell",
        "Keep the output stable.",
        "retry",
        3,
    )
    assert plan.check == ExitCheck(command="pytest -q", timeout_s=300)
    await eventually(lambda: shown(user, "run-plan-summary"))
    assert only(user, "run-plan-check-text").text == "pytest -q"
    with user.scope(marker="run-plan-summary"):
        await user.should_see("time limit 5 min")
    assert only(user, "run-plan-policy-text").text == "retry up to 3 times, then stop"
    assert only(user, "run-plan-agent").text == "shell · worker"
    assert only(user, "run-state").text == "waiting"
    assert only(user, "run-reason").text.startswith("planned by you (browser): shell starts once it is ready · ")
    await user.should_not_see(marker="run-decide")  # nothing failed: nothing to decide

    user.find(marker="run-plan-edit").click()  # the form opens with the plan
    await eventually(lambda: any(d.value for d in user.find(marker="run-plan-dialog").elements))
    assert only(user, "run-plan-check").value == "pytest -q"
    assert only(user, "run-plan-retries").value == 3


async def test_run_this_tree_plans_its_leaves_and_says_how_many(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    gate = await make_task(app, project, "Gate")
    root = await make_task(app, project, "Release")
    leaves = [await make_task(app, project, title, parent=root) for title in ("Build", "Sign")]
    for leaf in leaves:
        await tasks.add_dependency(app.runtime.writer, leaf.id, gate.id, ACTOR)  # they wait: nothing starts
    await planned(app, leaves[1])
    await user.open(f"/tasks/{root.id}")
    user.find(marker="run-tree").click()
    await eventually(lambda: any(d.value for d in user.find(marker="run-plan-dialog").elements))
    assert "Every unfinished leaf task under 'Release'" in only(user, "run-plan-explain").text
    only(user, "run-plan-profile").value = "shell"
    user.find(marker="run-plan-save").click()
    await user.should_see("Planned 1 task; 1 already had a plan (kept)")
    assert (await tasks.get_task(leaves[0].id)).run_plan is not None
    assert (await tasks.get_task(root.id)).run_plan is None  # a parent is not run itself


async def test_a_bad_value_is_said_beside_its_field_and_nothing_is_saved(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task, _ = await gated(app, project, "Parse logs")
    await user.open(f"/tasks/{task.id}")
    user.find(marker="run-plan-add").click()
    await eventually(lambda: any(d.value for d in user.find(marker="run-plan-dialog").elements))
    only(user, "run-plan-profile").value = "shell"
    only(user, "run-plan-policy").value = "retry"
    only(user, "run-plan-retries").value = 11
    user.find(marker="run-plan-save").click()
    retries = only(user, "run-plan-retries")
    await eventually(lambda: retries.props.get("error") and retries.props["error-message"] == "From 0 to 10.")
    assert (await tasks.get_task(task.id)).run_plan is None


async def test_remove_the_plan(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task, _ = await gated(app, project, "Parse logs")
    await planned(app, task)
    await user.open(f"/tasks/{task.id}")
    assert only(user, "run-state").text == "waiting"
    user.find(marker="run-plan-remove").click()
    await eventually(lambda: shown(user, "run-plan-empty"))
    stored = await tasks.get_task(task.id)
    assert stored.run_plan is None and stored.run is None  # disarmed: it will not start by itself
    await user.should_see("Plan removed")


async def test_decide_buttons_show_only_for_failed_runs_and_they_work(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task, _ = await gated(app, project, "Parse logs")
    await planned(app, task, on_failure="stop")
    await user.open(f"/tasks/{task.id}")
    assert only(user, "run-state").text == "waiting"
    assert not shown(user, "run-decide")

    await end_attempt(app, task, "ended_without_report", "its session ended without reporting it complete")
    await eventually(lambda: shown(user, "run-decide"))  # live
    assert only(user, "run-state").text == "ended without report"
    assert "its session ended without reporting it complete" in only(user, "run-reason").text
    user.find(marker="run-retry").click()
    await eventually(lambda: _is(run_state(task.id), "waiting"))
    await eventually(lambda: not shown(user, "run-decide"))

    await end_attempt(app, task, "failed", "the check failed")
    await eventually(lambda: only(user, "run-state").text == "run failed")
    user.find(marker="run-stop").click()
    await eventually(lambda: "stopped by you (browser)" in only(user, "run-reason").text)
    assert await run_state(task.id) == "failed"

    user.find(marker="run-skip").click()
    await eventually(lambda: _is(run_state(task.id), "done"))
    assert (await tasks.get_task(task.id)).status == "completed"
    await eventually(lambda: not shown(user, "run-decide"))
    await eventually(lambda: only(user, "task-status").value == "completed")
    assert only(user, "task-status-reason").text.startswith(
        "Status: skipped by you (browser): counted as completed without a passing run · "
    )


async def test_a_run_that_asks_the_person_is_in_the_attention_menu(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    task, _ = await gated(app, project, "Parse logs")
    await planned(app, task, on_failure="ask")
    await end_attempt(app, task, "failed", "the check failed")
    assert await run_state(task.id) == "needs_person"
    await user.open(f"/projects/{project.id}/board")
    await eventually(lambda: _attention(user).text == "1")
    user.find(marker="attention").click()
    with user.scope(marker="attention-menu"):
        await user.should_see("Parse logs")
        await user.should_see("needs you: attempt 1: the check failed; asking you: retry, skip or stop")
    user.find(marker="attention-item").click()
    await eventually(lambda: user.back_history[-1] == f"/tasks/{task.id}")

    await runs.decide(app.runtime.writer, task.id, "skip", ACTOR)
    await eventually(lambda: _attention(user).text == "0")


async def test_start_next_from_the_task_page(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    await one_agent_busy(app, project)
    first, second = await queued(app, project, "First", "Second")
    await user.open(f"/tasks/{second.id}")
    assert only(user, "run-state").text == "queued"
    assert only(user, "run-queue-position").text == "#2 in queue"
    user.find(marker="run-bump").click()
    await eventually(lambda: only(user, "run-queue-position").text == "#1 in queue")
    assert not shown(user, "run-bump")  # already next
    assert (await tasks.get_task(first.id)).run.queue_position == 2  # type: ignore[union-attr]
    assert "moved to the front of the queue by you (browser)" in only(user, "run-reason").text


async def test_cards_and_tree_rows_show_the_run(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    busy = await one_agent_busy(app, project)
    first, second = await queued(app, project, "Queued first", "Queued second")
    broken, _ = await gated(app, project, HTML)
    await planned(app, broken)
    await end_attempt(app, broken, "failed", "the check failed")
    downstream = await make_task(app, project, "Deploy")
    await tasks.add_dependency(app.runtime.writer, downstream.id, broken.id, ACTOR)
    await planned(app, downstream)
    waiting, _ = await gated(app, project, "Waiting")
    await planned(app, waiting)

    def badges() -> dict[str, str]:
        return {card_title(user, badge): badge.text for badge in user.find(marker="run-badge").elements}

    await user.open(f"/projects/{project.id}/board")
    await user.should_see(marker="board")
    await eventually(
        lambda: (
            badges()
            == {
                "Queued first": "queued #1",
                "Queued second": "queued #2",
                HTML: "run failed",
                "Deploy": f"blocked by failed {HTML}",  # the title as text, never as HTML
                "Waiting": "waiting on 1",
            }
        )
    )
    assert not shown_kind(user, ui.html)
    assert len(user.find(marker="run-plan-icon").elements) == 6  # the busy one's too
    chips = [card_title(user, chip) for chip in user.find(marker="session-chip").elements]
    assert chips == [busy.title]  # its session chip says it runs: no "running" badge beside it
    # The session is named after the task: the chip names the agent instead of repeating the card's title.
    assert [chip.text for chip in user.find(marker="session-chip").elements] == ["sleeper: running"]

    await runs.bump(app.runtime.writer, second.id, ACTOR)  # live: positions follow
    await eventually(lambda: badges()["Queued second"] == "queued #1" and badges()["Queued first"] == "queued #2")

    await user.open(f"/projects/{project.id}/tasks")
    with user.scope(marker=f"task-row-{downstream.id}"):
        (badge,) = user.find(marker="run-badge").elements
    assert badge.text == f"blocked by failed {HTML}"
    assert "Run plan: shell (worker)" in badge.props["title"]  # a native tooltip: rows stay light
    with user.scope(marker=f"task-row-{first.id}"):
        assert [b.text for b in user.find(marker="run-badge").elements] == ["queued #2"]


async def test_a_stalled_session_shows_its_evidence(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    session = await stalled_session(app, project)
    await user.open("/sessions")
    row = only(user, f"session-row-{session.id}")
    assert row.parent_slot is not None and "sessions-stalled" in row.parent_slot.parent._markers
    with user.scope(marker=f"session-row-{session.id}"):
        assert only(user, "session-status").text == "stalled"
        assert only(user, "session-evidence").text == EVIDENCE
        (tip,) = user.find(marker="session-status-reason").elements
    assert tip.text.startswith(f"stalled: {EVIDENCE} · Maestro")  # every status says why, in its badge's tooltip

    await eventually(lambda: _attention(user).text == "1")
    user.find(marker="attention").click()
    with user.scope(marker="attention-menu"):
        await user.should_see("checker")
        await user.should_see(f"stalled: {EVIDENCE}")

    await user.open(f"/sessions/{session.id}")
    assert only(user, "session-evidence").text == EVIDENCE
    await user.should_see(marker="session-stalled")


async def test_project_form_saves_agents_at_once(user: User, app: MaestroApp) -> None:
    project = await make_project(app)
    await user.open(f"/projects/{project.id}")
    user.find(marker="edit-project").click()
    field = only(user, "project-max-agents")
    assert field.value == 3
    field.value = 65
    user.find(marker="project-save").click()
    await eventually(lambda: field.props.get("error") and field.props["error-message"] == "A whole number from 1 to 64")
    field.value = 5
    user.find(marker="project-save").click()
    await eventually(lambda: _is(_max_agents(project.id), 5))


async def stalled_session(app: MaestroApp, project: Project) -> Session:
    """A session record Maestro found quiet too long without a report."""
    session = await records.create_session_record(
        app.runtime.writer,
        project_id=project.id,
        name="checker",
        profile="codex",
        command=["codex"],
        cwd=str(app.settings.home),
        spawn_source="api",
        actor=ACTOR,
        status="running",
    )
    why = f"stalled: {EVIDENCE}"  # as the activity monitor words it
    return await session_status.set_status(app.runtime.writer, session.id, "stalled", "maestro", why=why)


def card_title(user: User, element: ui.element) -> str:
    """The title of the board card an element is drawn in."""
    node = element
    while "task-card" not in node._markers:
        assert node.parent_slot is not None
        node = node.parent_slot.parent
    with user.client:  # type: ignore[union-attr]
        labels = [e.text for e in ElementFilter(kind=ui.label).within(instance=node)]
    return labels[0]


def _attention(user: User) -> ui.badge:
    assert user.client is not None
    with user.client:
        (element,) = ElementFilter(kind=ui.badge, marker="attention-count")
    return element


async def _is(value, expected) -> bool:
    return await value == expected


async def _max_agents(project_id: str) -> int:
    return (await projects.get_project(project_id)).max_agents
