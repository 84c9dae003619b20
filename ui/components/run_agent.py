"""Starting agents from the browser: the Run agent dialog (profile, role, tasks, skills, where it works, an extra
instruction) and the one-keystroke plain shell, both ending on the new session's page.

Where it works: in the project's folder, in a git worktree of its own (off a base branch), or in the worktree its
task already has (a reviewer after a coder). A folder that is not a git repository offers in place only, and says why.

Refusals (a program that is not installed, an unknown profile or skill, a task deleted meanwhile) are shown in the
dialog, which stays open with what was chosen; the runner refuses before it records anything, so nothing is created.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import msgspec
from nicegui import app, ui

from app.errors import MaestroError
from app.models.profiles import Profile
from app.models.projects import Project
from app.models.sessions import SessionSpawn
from app.models.tasks import Task
from app.models.worktrees import Worktree
from app.services import projects, tasks
from app.services.agents import profiles, skills
from app.services.runtime import Runtime
from app.services.worktrees import gitflow, records
from ui.actions import run
from ui.context import UI_ACTOR, tid

log = logging.getLogger("maestro.ui")

LAST_PROFILE = "run_agent_profile"  # app.storage.user: the profile this browser ran last (the dialog's default)
TASK_PAGES = 4  # the dialog offers up to 2,000 of a project's tasks (pages of 500)
ROLES = {"worker": "Worker", "orchestrator": "Orchestrator"}
ROLE_HINT = {
    "worker": "does its tasks itself and reports back",
    "orchestrator": "splits its tasks into subtasks and runs a worker on each",
}
ISOLATIONS = {"worktree": "Own worktree", "in_place": "In place"}


class Launcher:
    """Starts sessions from one page. Its dialogs live in one holder, emptied before the next opens, so a redraw of
    the page never deletes an open dialog and closed ones do not linger."""

    def __init__(self, runtime: Runtime, project_id: str | None) -> None:
        self.runtime = runtime
        self.project_id = project_id
        self.holder = ui.element("div")

    async def run_agent(self, task_ids: Sequence[str] = (), *, profile: str | None = None) -> None:
        """Open the Run agent dialog, with these tasks (and this project) chosen."""
        all_projects = await projects.list_projects()
        if not all_projects:
            ui.notify("Create a project first: an agent works in a project's folder.", type="warning")
            return
        self.holder.clear()
        with self.holder:
            dialog = RunAgentDialog(self.runtime, all_projects, self.project_id, list(task_ids), profile)
        await dialog.open()

    def shell_button(self) -> ui.button:
        """An "Open a shell" button; the browser starts keeping the keys typed after its click at once, as after `s`
        (static/type_ahead.js, data-shell-button), since the server's word that it keeps them comes a round trip
        later."""
        return ui.button("Open a shell", icon="terminal", on_click=self.open_shell).props("data-shell-button")

    async def open_shell(self) -> None:
        """A plain shell in the project's folder, then its page; without a project in view (and several), ask."""
        project_id = self.project_id
        if project_id is None:
            found = await projects.list_projects()
            if len(found) != 1:
                ui.run_javascript("window.maestroKeys && window.maestroKeys.cancel()")  # the keys are the dialog's
                await self.run_agent(profile=profiles.SHELL)
                return
            project_id = found[0].id
        # "In the project's folder" whatever the project's default: a quick look around needs no branch of its own.
        body = SessionSpawn(project_id=project_id, profile=profiles.SHELL, isolation="in_place")
        # Keys typed while it starts go to the shell's page, not this page's shortcuts (static/type_ahead.js; its
        # carry() started already if `s` asked for the shell).
        ui.run_javascript("window.maestroKeys && window.maestroKeys.carry()")
        session = await run(self.runtime.runner.spawn(body, actor=UI_ACTOR))
        if session is not None:
            ui.navigate.to(f"/sessions/{session.id}")
        else:
            ui.run_javascript("window.maestroKeys && window.maestroKeys.cancel()")


class RunAgentDialog:
    """The dialog's fields and what choosing a project, a profile or Run does."""

    def __init__(
        self,
        runtime: Runtime,
        all_projects: list[Project],
        project_id: str | None,
        task_ids: list[str],
        profile: str | None,
    ) -> None:
        self.runtime = runtime
        self.projects = {p.id: p for p in all_projects}
        if project_id not in self.projects:
            project_id = all_projects[0].id if len(all_projects) == 1 else None
        self.wanted_tasks = task_ids
        self.wanted_profile = profile
        self.profiles: dict[str, Profile] = {}
        self.missing: dict[str, str] = {}
        self.shared: Worktree | None = None  # the first chosen task's active worktree, which the agent may join
        self.not_git: str | None = None  # why worktree mode is unavailable for the chosen project
        self.base_branch = ""  # what a new worktree branches off when no base is typed
        self.filling = False
        with ui.dialog() as self.dialog, ui.card().classes("w-[40rem] max-w-full gap-2"):
            tid(self.dialog, "run-agent-dialog")
            ui.label("Run an agent").classes("text-lg font-semibold")
            self.project = ui.select({p.id: p.name for p in all_projects}, value=project_id, label="Project")
            tid(self.project.classes("w-full"), "run-agent-project")
            with ui.row().classes("w-full items-end gap-4 no-wrap"):
                self.profile = tid(ui.select({}, label="Profile").classes("grow"), "run-agent-profile")
                self.role = tid(ui.toggle(ROLES, value="worker").props("no-caps"), "run-agent-role")
            self.note = tid(ui.label("").classes("text-sm text-grey-7 break-words"), "run-agent-profile-note")
            self.tasks = ui.select({}, label="Tasks it works on", multiple=True, with_input=True, value=[])
            tid(self.tasks.props("use-chips options-dense").classes("w-full"), "run-agent-tasks")
            self.skills = ui.select(
                {}, label="Skills", multiple=True, with_input=True, value=[], new_value_mode="add-unique"
            )
            tid(self.skills.props("use-chips options-dense").classes("w-full"), "run-agent-skills")
            self._isolation_fields()
            self.name = tid(ui.input("Name (optional)").classes("w-full"), "run-agent-name")
            self.instructions = ui.textarea("Extra instruction (optional)", placeholder="Added to the agent's prompt")
            tid(self.instructions.props("autogrow").classes("w-full"), "run-agent-instructions")
            self.problem = tid(ui.label("").classes("text-negative text-sm break-words"), "run-agent-error")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                self.start = ui.button("Run", icon="play_arrow", on_click=self.submit).props("unelevated")
                tid(self.start, "run-agent-start")
        self.dialog.on("hide", self.dialog.delete)  # a closed dialog is gone: old choices never linger in the page
        self.project.on_value_change(self._project_chosen)
        self.profile.on_value_change(self._describe)
        self.role.on_value_change(self._describe)
        self.tasks.on_value_change(self._tasks_chosen)
        self.isolation.on_value_change(self._describe_isolation)
        self.share.on_value_change(self._describe_isolation)

    def _isolation_fields(self) -> None:
        """Where the agent works: the choice, a line saying what it means, and the worktree's details."""
        with ui.row().classes("w-full items-center gap-3 no-wrap pt-1"):
            ui.label("Isolation").classes("text-sm text-grey-8")
            self.isolation = tid(ui.toggle(ISOLATIONS, value="in_place").props("no-caps"), "run-agent-isolation")
        self.isolation_note = ui.label("").classes("text-sm text-grey-7 break-words")
        tid(self.isolation_note, "run-agent-isolation-note")
        with ui.column().classes("w-full gap-0 pl-3 border-l-2 border-gray-300") as self.worktree_box:
            self.share = tid(ui.checkbox("Share the task's worktree"), "run-agent-share-worktree")
            self.base = ui.input("Base branch (optional)").props("dense stack-label").classes("w-full")
            tid(self.base, "run-agent-base-ref")
        self.worktree_box.bind_visibility_from(self.isolation, "value", value="worktree")
        self.base.bind_visibility_from(self.share, "value", backward=lambda shared: not shared)

    async def open(self) -> None:
        """Fill the choices for the chosen project and show the dialog."""
        await self._fill(self.wanted_tasks)
        self.wanted_profile = None  # asked for once: choosing another project keeps what the person picked
        self.dialog.open()

    async def _project_chosen(self) -> None:
        await self._fill([])

    async def _tasks_chosen(self) -> None:
        if not self.filling:  # _fill looks for the shared worktree itself, once it knows the project's repository
            await self._find_shared()

    async def _fill(self, task_ids: list[str]) -> None:
        """Profiles (marking those not installed), the project's tasks and skills; the tasks' skills preselected."""
        self.filling = True
        try:
            await self._fill_choices(task_ids)
        finally:
            self.filling = False

    async def _fill_choices(self, task_ids: list[str]) -> None:
        project = self.projects.get(self.project.value or "")
        self.profiles = {p.name: p for p in profiles.list_profiles(self.runtime.settings.home).items}
        runner = self.runtime.runner
        working_dir = project.working_dir if project else None
        self.missing = {}
        for name, profile in self.profiles.items():
            program = runner.with_program_check(profile, working_dir).missing_program
            if program is not None:
                self.missing[name] = program
        options = {name: f"{name} — not installed" if name in self.missing else name for name in sorted(self.profiles)}
        self.profile.set_options(options, value=self._default_profile())
        if project is None:
            self.tasks.set_options({}, value=[])
            self.skills.set_options({}, value=[])
            self._describe()
            await self._fill_isolation(None)
            return
        project_tasks = await _tasks_of(project.id)
        chosen = [t for t in task_ids if t in project_tasks]
        self.tasks.set_options({t.id: t.title for t in project_tasks.values()}, value=chosen)
        listing = await skills.list_skills(self.runtime.settings.home, project.id)
        skill_options = {s.name: f"{s.name} — {s.description}" if s.description else s.name for s in listing.items}
        wanted = list(dict.fromkeys(name for t in chosen for name in project_tasks[t].skills))
        for name in wanted:
            skill_options.setdefault(name, f"{name} — not found for this project")
        self.skills.set_options(skill_options, value=wanted)
        self._describe()
        await self._fill_isolation(project)

    async def _fill_isolation(self, project: Project | None) -> None:
        """The project's default isolation; worktree mode offered only in a git repository, off its base branch."""
        self.not_git = None
        self.base_branch = ""
        if project is not None:
            try:
                repo = await gitflow.repo_root(Path(project.working_dir))
            except MaestroError as exc:  # not a repository, or git is not installed
                self.not_git = exc.detail
            else:
                self.base_branch = project.git.base_ref
                if not self.base_branch:
                    with contextlib.suppress(MaestroError):  # a detached HEAD: the person names a base
                        self.base_branch = await gitflow.current_branch(repo)
        default = project.git.isolation if project is not None else "in_place"
        self.isolation.value = "in_place" if self.not_git else default
        self.isolation.set_enabled(project is not None and self.not_git is None)
        if not self.base_branch:
            placeholder = "a branch, tag or commit"
        elif project is not None and project.git.base_ref:
            placeholder = f"{self.base_branch} (the project's base)"
        else:
            placeholder = f"{self.base_branch} (checked out now)"
        self.base.props["placeholder"] = placeholder
        self.base.update()
        await self._find_shared()

    async def _find_shared(self) -> None:
        """Offer the first chosen task's active worktree to share (a reviewer after a coder)."""
        chosen = list(self.tasks.value or [])
        self.shared = None
        if chosen and self.not_git is None:
            try:
                self.shared = await records.worktree_of_task(chosen[0])
            except MaestroError:
                self.shared = None
        if self.shared is None:
            self.share.value = False
        else:
            self.share.text = f"Share the task's worktree (branch {self.shared.branch})"
        self.share.set_visibility(self.shared is not None)
        self._describe_isolation()

    def _describe_isolation(self) -> None:
        """Say plainly where the agent will work."""
        project = self.projects.get(self.project.value or "")
        self.isolation_note.classes(remove="text-orange-9")
        if project is None:
            self.isolation_note.text = ""
        elif self.not_git is not None:
            self.isolation_note.text = f"Own worktree is unavailable: {self.not_git}"
            self.isolation_note.classes("text-orange-9")
        elif self.isolation.value == "in_place":
            self.isolation_note.text = f"Works in {project.working_dir}, with any other in-place agents."
        elif self.share.value and self.shared is not None:
            count = len(self.shared.session_ids)
            self.isolation_note.text = (
                f"Works in the same checkout and branch as the {count} session{'s' if count != 1 else ''} before "
                "it, and sees their uncommitted changes."
            )
        else:
            setup = project.git.setup_command.strip()
            self.isolation_note.text = "A new branch in a checkout of its own, so parallel agents never collide." + (
                f" Runs `{setup}` there first." if setup else ""
            )

    def _default_profile(self) -> str:
        """The profile asked for, else the one this browser ran last, else the first installed agent, else shell."""
        for name in (self.wanted_profile, self.profile.value, app.storage.user.get(LAST_PROFILE)):
            if name in self.profiles:
                return name
        agents = [n for n in sorted(self.profiles) if n != profiles.SHELL and n not in self.missing]
        return agents[0] if agents else profiles.SHELL

    def _describe(self) -> None:
        """Say what the chosen profile runs, and plainly when its program is not installed."""
        name = self.profile.value
        profile = self.profiles.get(name or "")
        self.note.classes(remove="text-negative")
        if profile is None:
            self.note.text = ""
            return
        if name in self.missing:
            self.note.text = (
                f"Not installed: {self.missing[name]!r} is not on PATH. Install it, or pick another profile."
            )
            self.note.classes("text-negative")
            return
        what = profile.description or " ".join(profile.argv)
        if profile.prompt_via == "none":
            what += " Tasks and the instruction go into its manifest only."
        self.note.text = f"{what} As {self.role.value}: {ROLE_HINT[self.role.value]}."

    async def submit(self) -> None:
        """Spawn; a refusal stays in the dialog and nothing is created; success opens the session's page."""
        self.problem.text = ""
        self._base_error(None)
        if not self.project.value:
            self.problem.text = "Choose the project it works in."
            return
        values = {
            "project_id": self.project.value,
            "profile": self.profile.value or profiles.SHELL,
            "role": self.role.value,
            "task_ids": list(self.tasks.value or []),
            "skills": list(self.skills.value or []),
            "name": (self.name.value or "").strip() or None,
            "instructions": self.instructions.value or "",
            "isolation": self.isolation.value,
        }
        if self.isolation.value == "worktree":
            if self.share.value and self.shared is not None:
                values["worktree_id"] = self.shared.id
            elif base := (self.base.value or "").strip():
                values["base_ref"] = base
        try:
            body = msgspec.convert(values, SessionSpawn)
        except msgspec.ValidationError as exc:
            if "$.base_ref" in str(exc):
                self._base_error(_invalid(exc))
            else:
                self.problem.text = _invalid(exc)
            return
        self.start.disable()
        try:
            session = await self.runtime.runner.spawn(body, actor=UI_ACTOR)
        except MaestroError as exc:
            if values.get("base_ref") and isinstance(exc.extra, dict) and {"base_ref", "ref"} & set(exc.extra):
                self._base_error(exc.detail)  # an unknown base branch: said beside the field
            else:
                self.problem.text = f"Not started: {exc.detail}"
            return
        except Exception:
            log.exception("spawning from the Run agent dialog failed")
            self.problem.text = "Something went wrong; the server log has the details."
            return
        finally:
            self.start.enable()
        app.storage.user[LAST_PROFILE] = body.profile
        self.dialog.close()
        ui.notify(f"Started '{session.name}'", type="positive")
        ui.navigate.to(f"/sessions/{session.id}")

    def _base_error(self, message: str | None) -> None:
        self.base.props["error"] = message is not None
        self.base.props["error-message"] = message
        self.base.update()


async def _tasks_of(project_id: str) -> dict[str, Task]:
    """The project's live tasks by id, in tree order (the first 2,000 are plenty for a picker)."""
    found: dict[str, Task] = {}
    cursor = None
    for _ in range(TASK_PAGES):
        page = await tasks.list_tasks(project_id=project_id, sort="position", limit=500, cursor=cursor)
        found.update((t.id, t) for t in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


def _invalid(exc: msgspec.ValidationError) -> str:
    """A validation message in the dialog's words."""
    text = str(exc)
    if "$.skills" in text:
        return "Skill names are letters, digits, '.', '_' and '-' (at most 100 characters)."
    if "$.name" in text:
        return "The name may have at most 200 characters."
    if "$.base_ref" in text:
        return "A base branch is a git ref: letters, digits and . _ / @ ^ ~ + - (at most 200 characters)."
    if "$.instructions" in text:
        return "The instruction is too long (at most 65,536 characters)."
    return text
