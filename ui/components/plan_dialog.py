"""The run plan dialog: set a task's plan (profile, role, skills, instruction, where it works, exit check and its
time limit, failure policy and retries), or plan every unfinished leaf of a tree with one (Run this tree).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nicegui import app, ui

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
    PLAN_ICON,
)
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
