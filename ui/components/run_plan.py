"""A task's run plan on its page: the plan (agent, exit check, failure policy, where it works) with Edit and Remove
(the dialog is ui.components.plan_dialog), and how the run stands: its state and why, the attempt, the queue
position with Start next, its session, and Retry / Skip / Stop once it failed or asks the person.

With a plan, Maestro starts the agent by itself once every dependency is completed (app.services.tasks.runs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from nicegui import ui

from app.models.common import utcnow
from app.models.projects import Project
from app.models.runs import RunPlan
from app.models.tasks import Task
from app.services.runtime import Runtime
from app.services.tasks import runs
from ui.actions import run
from ui.components.plan_dialog import PlanDialog
from ui.components.run_agent import ISOLATIONS
from ui.components.run_badges import (
    NEEDS_PERSON,
    PLAN_ICON,
    RUN_COLOR,
    RUN_HINT,
    RUN_WORDS,
    duration,
    policy_words,
    reason_label,
    reason_words,
)
from ui.components.task_sections import TaskData
from ui.context import UI_ACTOR, tid


class RunPanel:
    """The task page's Run plan card; its dialogs live in one holder, emptied before the next opens."""

    def __init__(self, runtime: Runtime, reload: Callable[[], Awaitable[None]]) -> None:
        self.runtime = runtime
        self.reload = reload
        self.data: TaskData | None = None
        self.project: Project | None = None
        self.holder = ui.element("div")
        self.card = tid(ui.card().classes("w-full gap-2"), "task-run")
        self.reason: ui.label | None = None

    def draw(self, data: TaskData, project: Project | None) -> None:
        """Redraw the card from fresh data."""
        self.data, self.project = data, project
        task, now = data.task, utcnow()
        run_ = task.run
        self.card.clear()
        self.reason = None
        self.card.classes(remove="border-l-4 border-amber-500")
        if run_ is not None and run_.state in NEEDS_PERSON:
            self.card.classes("border-l-4 border-amber-500")
        with self.card:
            with ui.row().classes("w-full items-center gap-2"):
                ui.icon(PLAN_ICON).classes("text-grey-7")
                ui.label("Run plan").classes("font-semibold")
                if run_ is not None:
                    state = ui.badge(RUN_WORDS[run_.state]).props(f"color={RUN_COLOR[run_.state]}")
                    tid(state.tooltip(RUN_HINT[run_.state]), "run-state")
                ui.space()
                self._actions(task, bool(data.subtasks()))
            if task.run_plan is None and run_ is None:
                text = "No plan. With one, Maestro starts the agent by itself once every dependency is completed."
                tid(ui.label(text).classes("text-sm text-grey-6"), "run-plan-empty")
            if task.run_plan is not None:
                self._plan(task.run_plan)
            if run_ is not None:
                if task.run_plan is not None:
                    ui.separator()
                self._run(data, now)

    def _actions(self, task: Task, has_children: bool) -> None:
        if has_children:
            tree = ui.button("Run this tree", icon="account_tree", on_click=lambda: self.open_form(tree=True))
            tid(tree.props("outline dense no-caps").tooltip("Plan every unfinished leaf under this task"), "run-tree")
        if task.run_plan is None:
            add = ui.button("Plan a run", icon="add", on_click=lambda: self.open_form(tree=False))
            tid(add.props("flat dense no-caps"), "run-plan-add")
            return
        edit = ui.button("Edit", icon="edit", on_click=lambda: self.open_form(tree=False))
        tid(edit.props("flat dense no-caps"), "run-plan-edit")
        remove = ui.button("Remove", icon="close", on_click=self.remove).props("flat dense no-caps color=negative")
        tid(remove, "run-plan-remove")

    def _plan(self, plan: RunPlan) -> None:
        with tid(ui.grid(columns="auto 1fr").classes("w-full gap-x-4 gap-y-0.5 text-sm"), "run-plan-summary"):
            agent = f"{plan.profile} · {plan.role}" + (f" · skills: {', '.join(plan.skills)}" if plan.skills else "")
            _fact("Agent", agent, "run-plan-agent")
            if plan.check is not None:
                ui.label("Exit check").classes("text-grey-7")
                with ui.row().classes("items-baseline gap-2 min-w-0"):
                    tid(ui.label(plan.check.command).classes("font-mono break-all"), "run-plan-check-text")
                    ui.label(f"time limit {duration(plan.check.timeout_s)}").classes("text-grey-7")
            else:
                _fact("Exit check", "none: the agent's complete report is enough", "run-plan-check-text")
            _fact("On failure", policy_words(plan), "run-plan-policy-text")
            default = f" ({ISOLATIONS[self.project.git.isolation].lower()})" if self.project is not None else ""
            where = ISOLATIONS[plan.isolation] if plan.isolation else f"the project's default{default}"
            if plan.isolation == "worktree" and plan.base_ref:
                where += f", off {plan.base_ref}"
            _fact("Works", where, "run-plan-isolation-text")
            if plan.instructions.strip():
                _fact("Instruction", plan.instructions.strip().splitlines()[0][:200], "run-plan-instructions-text")

    def _run(self, data: TaskData, now: dt.datetime) -> None:
        task = data.task
        run_ = task.run
        assert run_ is not None
        names, titles = _names(data)
        with ui.row().classes("w-full items-center gap-x-3 gap-y-1 text-sm"):
            if run_.attempt:
                plan = task.run_plan
                of = f" of {plan.retries + 1}" if plan is not None and plan.on_failure == "retry" else ""
                tid(ui.label(f"attempt {run_.attempt}{of}").classes("text-grey-8"), "run-attempt")
            if run_.state == "queued" and run_.queue_position:
                tid(ui.label(f"#{run_.queue_position} in queue").classes("font-medium"), "run-queue-position")
                if run_.queue_position > 1:
                    bump = ui.button("Start next", icon="vertical_align_top", on_click=self.bump)
                    tid(bump.props("outline dense no-caps").tooltip("Move it to the front of the queue"), "run-bump")
            session_id = run_.session_id or (_newest(data) if run_.attempt else None)
            if session_id:
                name = names.get(session_id, "its session")
                live = run_.state in ("starting", "running", "checking")
                link = ui.link(f"{'Session' if live else 'Last session'}: {name}", f"/sessions/{session_id}")
                tid(link, "run-session")
        if run_.reason is not None:
            self.reason = reason_label(run_.reason, now, "run-reason", tasks=titles, sessions=names)
            self.reason.classes(replace="text-sm text-grey-9 break-words")
        for dep_id in run_.failed_dependencies:
            with tid(ui.row().classes("items-center gap-1 text-sm"), "run-failed-dependency"):
                ui.icon("block", color="red-7")
                ui.label("Blocked by failed")
                ui.link(data.title(dep_id), f"/tasks/{dep_id}").classes("break-all")
        if run_.state in NEEDS_PERSON:
            self._decide(task)

    def _decide(self, task: Task) -> None:
        with tid(ui.row().classes("w-full items-center gap-2"), "run-decide"):
            ui.label("What now?").classes("text-sm font-medium")
            retry = ui.button("Retry", icon="replay", on_click=lambda: self.decide("retry"))
            tid(retry.props("unelevated dense no-caps"), "run-retry")
            if task.run_plan is None:
                retry.disable()
                retry.tooltip("It has no plan any more: plan it first")
            skip = ui.button("Skip (count as completed)", icon="redo", on_click=lambda: self.decide("skip"))
            tid(skip.props("outline dense no-caps"), "run-skip")
            stop = ui.button("Stop", icon="stop", on_click=lambda: self.decide("stop"))
            stop.props("flat dense no-caps color=negative").tooltip("Tasks that depend on it stay blocked")
            tid(stop, "run-stop")

    def tick(self) -> None:
        """Bring the "… ago" text of the run's reason up to date."""
        data = self.data
        if self.reason is None or data is None or data.task.run is None or data.task.run.reason is None:
            return
        names, titles = _names(data)
        self.reason.text = reason_words(data.task.run.reason, utcnow(), tasks=titles, sessions=names)

    async def open_form(self, *, tree: bool) -> None:
        """Open the plan dialog for this task (tree: for every leaf under it)."""
        if self.data is None:
            return
        self.holder.clear()
        with self.holder:
            dialog = PlanDialog(self.runtime, self.data.task, self.project, tree=tree, on_saved=self.reload)
        await dialog.open()

    async def remove(self) -> None:
        """Remove the plan (a run not started yet is disarmed; a live one carries on)."""
        await self._act(lambda task_id: runs.clear_plan(self.runtime.writer, task_id, UI_ACTOR), "Plan removed")

    async def bump(self) -> None:
        """Move the task to the front of its project's queue."""
        await self._act(lambda task_id: runs.bump(self.runtime.writer, task_id, UI_ACTOR), "Starts next")

    async def decide(self, action: str) -> None:
        """Answer a failed run: retry it, skip it (the task completes) or stop."""
        said = {"retry": "Retrying", "skip": "Skipped: counted as completed", "stop": "Stopped"}[action]
        await self._act(lambda task_id: runs.decide(self.runtime.writer, task_id, action, UI_ACTOR), said)

    async def _act(self, call: Callable[[str], Awaitable[Task]], success: str) -> None:
        """A service call on this task; a refusal is a toast (ui.actions), a success redraws the page."""
        if self.data is not None and await run(call(self.data.task.id), success=success) is not None:
            await self.reload()


def _newest(data: TaskData) -> str | None:
    """The newest session that worked on the task (a run that ended before its session was recorded names none)."""
    newest = max(data.sessions, key=lambda s: s.created_at, default=None)
    return newest.id if newest is not None else None


def _names(data: TaskData) -> tuple[dict[str, str], dict[str, str]]:
    """Session names and task titles by id, for reasons that name them."""
    return {s.id: s.name for s in data.sessions}, {t.id: t.title for t in data.project_tasks.values()}


def _fact(name: str, value: str, test_id: str) -> None:
    ui.label(name).classes("text-grey-7")
    tid(ui.label(value).classes("break-words min-w-0"), test_id)
