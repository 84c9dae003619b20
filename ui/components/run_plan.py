"""A task's run plan on its page: the plan (agent, exit check, failure policy, where it works) with Edit and Remove;
the dialog that sets it, or plans every leaf of a tree; and how the run stands: its state and why, the attempt, the
queue position with Start next, its session, and Retry / Skip / Stop once it failed or asks the person.

With a plan, Maestro starts the agent by itself once every dependency is completed (app.services.tasks.runs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nicegui import app, ui

from app.models.common import utcnow
from app.models.profiles import Profile
from app.models.projects import Project
from app.models.runs import DEFAULT_CHECK_TIMEOUT_S, RunPlan
from app.models.tasks import Task
from app.services.agents import profiles, skills
from app.services.runtime import Runtime
from app.services.tasks import runs
from ui.actions import run
from ui.components.run_agent import ISOLATIONS, LAST_PROFILE, ROLES
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

POLICIES = {"stop": "Stop", "retry": "Retry", "ask": "Ask me"}
POLICY_HINT = {
    "stop": "The run stops there; tasks that depend on it show “blocked by failed …” until you decide.",
    "retry": "Starts it again, up to the number of retries, then stops.",
    "ask": "Waits for you: retry, skip (count as completed) or stop.",
}
DEFAULT = "default"  # the isolation choice "the project's setting" (RunPlan.isolation None)
_FIELDS = {  # where msgspec reports a bad value -> the dialog's field, and what to say
    "$.profile": ("profile", "Pick a profile."),
    "$.skills": ("skills", "Skill names are letters, digits, '.', '_' and '-' (at most 100 characters)."),
    "$.instructions": ("instructions", "The instruction is too long (at most 65,536 characters)."),
    "$.base_ref": ("base_ref", "A git ref: letters, digits and . _ / @ ^ ~ + - (at most 200 characters)."),
    "$.check.command": ("check", "A command, at most 4,096 characters."),
    "$.check.timeout_s": ("timeout", "From 1 second to 24 hours."),
    "$.retries": ("retries", "From 0 to 10."),
}


class PlanDialog:
    """Set a task's run plan, or (tree=True) give every unfinished leaf of its subtree that has none this plan."""

    def __init__(
        self,
        runtime: Runtime,
        task: Task,
        project: Project | None,
        *,
        tree: bool,
        on_saved: Callable[[], Awaitable[None]],
    ) -> None:
        self.runtime, self.task, self.project, self.tree, self.on_saved = runtime, task, project, tree, on_saved
        plan = None if tree else task.run_plan
        self.profiles: dict[str, Profile] = {}
        self.missing: dict[str, str] = {}
        self._wanted = (plan.profile if plan else None, list(plan.skills) if plan else list(task.skills))
        with ui.dialog() as self.dialog, ui.card().classes("w-[40rem] max-w-full gap-2"):
            tid(self.dialog, "run-plan-dialog")
            ui.label("Run this tree" if tree else "Run plan").classes("text-lg font-semibold")
            limit = f"up to {project.max_agents} agents at once" if project is not None else "a few agents at once"
            if tree:
                explain = (
                    f"Every unfinished leaf task under '{task.title}' that has no plan yet gets this one. Each starts "
                    f"once its dependencies are completed, {limit}; the others queue."
                )
            else:
                explain = f"Maestro starts this agent by itself once every dependency is completed ({limit})."
            tid(ui.label(explain).classes("text-sm text-grey-8 break-words"), "run-plan-explain")
            self._agent_fields(plan)
            self._place_fields(plan)
            self._check_fields(plan)
            self.problem = tid(ui.label("").classes("text-negative text-sm break-words"), "run-plan-error")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                save = ui.button("Plan its leaves" if tree else "Save plan", icon=PLAN_ICON, on_click=self.submit)
                self.save = tid(save.props("unelevated"), "run-plan-save")
        self.dialog.on("hide", self.dialog.delete)  # a closed dialog is gone: old choices never linger in the page
        self.profile.on_value_change(self._describe)

    def _agent_fields(self, plan: RunPlan | None) -> None:
        """Which agent: profile and role, skills, an extra instruction."""
        with ui.row().classes("w-full items-end gap-4 no-wrap"):
            self.profile = tid(ui.select({}, label="Profile").classes("grow"), "run-plan-profile")
            self.role = tid(ui.toggle(ROLES, value=plan.role if plan else "worker").props("no-caps"), "run-plan-role")
        self.note = tid(ui.label("").classes("text-sm text-grey-7 break-words"), "run-plan-profile-note")
        self.skills = ui.select({}, label="Skills", multiple=True, with_input=True, new_value_mode="add-unique")
        tid(self.skills.props("use-chips options-dense").classes("w-full"), "run-plan-skills")
        self.instructions = ui.textarea("Extra instruction (optional)", value=plan.instructions if plan else "")
        tid(self.instructions.props("autogrow").classes("w-full"), "run-plan-instructions")

    def _place_fields(self, plan: RunPlan | None) -> None:
        """Where it works: the project's default, in place, or a worktree of its own (off a base branch)."""
        default = ISOLATIONS[self.project.git.isolation] if self.project is not None else "In place"
        with ui.row().classes("w-full items-end gap-3 no-wrap"):
            choices = {DEFAULT: f"Project default ({default})", **ISOLATIONS}
            value = plan.isolation if plan and plan.isolation else DEFAULT
            self.isolation = ui.select(choices, value=value, label="Where it works")
            tid(self.isolation.classes("w-60"), "run-plan-isolation")
            self.base_ref = ui.input("Base branch (optional)", value=(plan.base_ref or "") if plan else "")
            tid(self.base_ref.props("stack-label").classes("grow"), "run-plan-base-ref")
        self.base_ref.bind_visibility_from(self.isolation, "value", backward=lambda v: v == "worktree")

    def _check_fields(self, plan: RunPlan | None) -> None:
        """The exit check and its time limit; what happens on failure."""
        check = plan.check if plan else None
        with ui.row().classes("w-full items-end gap-3 no-wrap"):
            self.check = ui.input("Exit check (optional)", value=check.command if check else "")
            self.check.props("stack-label input-class=font-mono placeholder='pytest -q'")
            tid(self.check.classes("grow"), "run-plan-check")
            seconds = check.timeout_s if check else DEFAULT_CHECK_TIMEOUT_S
            self.timeout = ui.number("Time limit (min)", value=round(seconds / 60, 2), min=0.1, max=1440)
            tid(self.timeout.classes("w-36"), "run-plan-timeout")
        hint = "Runs in its working directory when the agent reports complete: the task completes only if it passes."
        ui.label(hint).classes("text-xs text-grey-7")
        with ui.row().classes("w-full items-center gap-3 no-wrap pt-1"):
            ui.label("On failure").classes("text-sm text-grey-8")
            self.policy = ui.toggle(POLICIES, value=plan.on_failure if plan else "stop").props("no-caps")
            tid(self.policy, "run-plan-policy")
            self.retries = ui.number("Retries", value=plan.retries if plan else 2, min=0, max=10, precision=0)
            tid(self.retries.props("dense").classes("w-24"), "run-plan-retries")
        self.retries.bind_visibility_from(self.policy, "value", backward=lambda v: v == "retry")
        note = ui.label("").classes("text-sm text-grey-7")
        note.bind_text_from(self.policy, "value", backward=lambda v: POLICY_HINT[v])

    async def open(self) -> None:
        """Fill the profiles (marking those not installed) and the project's skills, then show the dialog."""
        working_dir = self.project.working_dir if self.project is not None else None
        self.profiles = {p.name: p for p in profiles.list_profiles(self.runtime.settings.home).items}
        self.missing = {}
        for name, profile in self.profiles.items():
            program = self.runtime.runner.with_program_check(profile, working_dir).missing_program
            if program is not None:
                self.missing[name] = program
        options = {n: f"{n} — not installed" if n in self.missing else n for n in sorted(self.profiles)}
        self.profile.set_options(options, value=self._default_profile())
        listing = await skills.list_skills(self.runtime.settings.home, self.task.project_id)
        skill_options = {s.name: f"{s.name} — {s.description}" if s.description else s.name for s in listing.items}
        for name in self._wanted[1]:
            skill_options.setdefault(name, f"{name} — not found for this project")
        self.skills.set_options(skill_options, value=self._wanted[1])
        self._describe()
        self.dialog.open()

    def _default_profile(self) -> str:
        """The plan's profile, else the one this browser ran last, else the first installed agent, else shell."""
        for name in (self._wanted[0], app.storage.user.get(LAST_PROFILE)):
            if name in self.profiles:
                return name
        agents = [n for n in sorted(self.profiles) if n != profiles.SHELL and n not in self.missing]
        return agents[0] if agents else profiles.SHELL

    def _describe(self) -> None:
        profile = self.profiles.get(self.profile.value or "")
        self.note.classes(remove="text-negative")
        if profile is None:
            self.note.text = ""
        elif profile.name in self.missing:
            self.note.text = f"Not installed here: {self.missing[profile.name]!r} is not on PATH; the run would fail."
            self.note.classes("text-negative")
        else:
            self.note.text = profile.description or " ".join(profile.argv)

    def values(self) -> dict[str, Any]:
        """The form as a RunPlan's fields."""
        values: dict[str, Any] = {
            "profile": self.profile.value or "",
            "role": self.role.value,
            "skills": list(self.skills.value or []),
            "instructions": self.instructions.value or "",
            "on_failure": self.policy.value,
            "retries": int(self.retries.value) if self.retries.value is not None else -1,
        }
        if self.isolation.value != DEFAULT:
            values["isolation"] = self.isolation.value
        if self.isolation.value == "worktree" and (base := (self.base_ref.value or "").strip()):
            values["base_ref"] = base
        if command := (self.check.value or "").strip():
            minutes = self.timeout.value
            values["check"] = {"command": command, "timeout_s": round(minutes * 60) if minutes is not None else 0}
        return values

    async def submit(self) -> None:
        """Save: a bad value is said beside its field; a refusal is a toast and the dialog stays open."""
        self._mark(None, "")
        try:
            plan = msgspec.convert(self.values(), RunPlan)
        except msgspec.ValidationError as exc:
            where = next((field for path, field in _FIELDS.items() if f"`{path}" in str(exc)), None)
            self._mark(where[0] if where else None, where[1] if where else str(exc))
            return
        self.save.disable()
        try:
            if self.tree:
                result = await run(runs.plan_tree(self.runtime.writer, self.task.id, plan, UI_ACTOR))
                if result is not None:
                    ui.notify(_tree_words(len(result.planned), len(result.already_planned)), type="positive")
            else:
                result = await run(runs.set_plan(self.runtime.writer, self.task.id, plan, UI_ACTOR), success="Planned")
        finally:
            self.save.enable()
        if result is None:
            return
        app.storage.user[LAST_PROFILE] = plan.profile
        self.dialog.close()
        await self.on_saved()

    def _mark(self, field: str | None, message: str) -> None:
        inputs = {"profile": self.profile, "skills": self.skills, "instructions": self.instructions}
        inputs |= {"base_ref": self.base_ref, "check": self.check, "timeout": self.timeout, "retries": self.retries}
        for name, element in inputs.items():
            element.props["error"] = name == field
            element.props["error-message"] = message if name == field else None
            element.update()
        self.problem.text = "" if field in inputs else message


def _tree_words(planned: int, kept: int) -> str:
    text = f"Planned {planned} task{'s' if planned != 1 else ''}"
    return text + (f"; {kept} already had a plan (kept)" if kept else "")


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
