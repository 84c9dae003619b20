"""The task page: breadcrumb, title and description edited in place, pickers with why the task has its status, its run
plan and how the run stands, subtasks, dependencies, sessions and the agents' timeline, all live; archive and delete
with a confirmation that counts what goes with the task."""

from __future__ import annotations

import logging

import msgspec
from fastapi import Request
from nicegui import ui

from app.errors import MaestroError, NotFound
from app.models.common import utcnow
from app.models.events import EventRecord
from app.models.projects import Project
from app.models.tasks import TaskUpdate
from app.services import projects, tasks
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.inline_edit import InlineEdit
from ui.components.palette import Entry
from ui.components.run_agent import Launcher
from ui.components.run_badges import reason_tip, reason_words
from ui.components.run_plan import RunPanel
from ui.components.task_form import open_task_form
from ui.components.task_sections import (
    DependencyEditor,
    TaskData,
    Timeline,
    draw_sessions,
    draw_subtasks,
    load_task_data,
)
from ui.context import UI_ACTOR, tid
from ui.design import PRIORITY_COLOR, STATUS_LABEL
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

log = logging.getLogger("maestro.ui")

TICK_S = 30.0  # how often the "… ago" texts are brought up to date


@ui.page("/tasks/{task_id}")
async def task_page(request: Request, task_id: str) -> None:
    """One task, everything about it; an unknown id shows a friendly not-found page."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()
    try:
        data = await load_task_data(task_id)
    except NotFound:
        _not_found(all_projects)
        return
    project = next((p for p in all_projects if p.id == data.task.project_id), None)
    page = TaskPage(runtime, data, project)

    actions = [
        Entry("Run agent on this task", "action", page.run_agent),
        Entry("New subtask of this task", "action", page.add_subtask),
        Entry("Plan a run of this task…", "action", lambda: page.run_panel.open_form(tree=False)),
    ]
    if data.subtasks():
        actions.append(Entry("Run this tree…", "action", lambda: page.run_panel.open_form(tree=True)))
    actions += [
        Entry(f"Set status: {label}", "action", lambda s=status: page.set_field("status", s))
        for status, label in STATUS_LABEL.items()
    ]
    with frame(
        data.task.title,
        projects=all_projects,
        current=project,
        active="tasks",
        actions=actions,
        keys={"c": page.add_subtask, "r": page.run_agent},
    ):
        page.build()
    follow(
        runtime.hub, lambda batch: page.refresh() if page.concerned(batch) else None, project_id=data.task.project_id
    )


def _not_found(all_projects: list[Project]) -> None:
    with frame("Not found", projects=all_projects, current=None, active="home"):
        tid(ui.label("That task does not exist (any more).").classes("text-lg"), "not-found")
        ui.link("Back to all projects", "/")


class TaskPage:
    """This tab's view of one task: its sections and how a live refresh updates them."""

    def __init__(self, runtime: Runtime, data: TaskData, project: Project | None) -> None:
        self.runtime = runtime
        self.data = data
        self.project = project
        self.gone = False

    @property
    def task_id(self) -> str:
        """The task shown."""
        return self.data.task.id

    def concerned(self, batch: list[EventRecord]) -> bool:
        """Does this batch change what the page shows? (Other sessions' activity in the project does not.)"""
        if not batch:
            return True  # a reset: re-read everything
        linked = {s.id for s in self.data.sessions}
        return any(r.type.startswith("task.") or r.entity_id == self.task_id or r.entity_id in linked for r in batch)

    def build(self) -> None:
        """Lay out every section and draw it from the loaded data."""
        task = self.data.task
        self.crumbs = tid(ui.row().classes("w-full items-center gap-1 text-sm text-grey-8"), "task-breadcrumb")
        self.deleted = tid(ui.label("This task was deleted.").classes("text-lg text-negative"), "task-deleted")
        self.deleted.set_visibility(False)
        self.forms = ui.element("div")  # dialogs: one at a time, a closed one dropped before the next opens
        self.launcher = Launcher(self.runtime, task.project_id)
        with ui.column().classes("w-full gap-4") as self.body:
            # On a phone the title takes the whole width and the controls wrap under it.
            with ui.row().classes("w-full items-start gap-3 no-wrap max-md:flex-wrap"):
                with ui.column().classes("grow min-w-0 gap-0 max-md:w-full"):
                    self.title = InlineEdit(
                        task.title, self.save_title, name="task-title", classes="text-2xl font-semibold"
                    )
                    with ui.row().classes("items-center gap-1 text-xs text-grey-7 no-wrap min-w-0"):
                        ui.icon("history", size="xs")
                        self.status_reason = tid(ui.label("").classes("break-words"), "task-status-reason")
                        with self.status_reason:
                            self.status_reason_tip = ui.tooltip("")
                self.archived = tid(ui.badge("archived").props("color=grey-7"), "task-archived")
                self.status = ui.select(STATUS_LABEL, value=task.status, label="Status")
                tid(self.status.props("dense outlined options-dense").classes("w-40"), "task-status")
                self.status.on_value_change(lambda e: self.set_field("status", e.value))
                self.priority = ui.select({p: p.capitalize() for p in PRIORITY_COLOR}, value=task.priority)
                tid(
                    self.priority.props('dense outlined options-dense label="Priority"').classes("w-32"),
                    "task-priority",
                )
                self.priority.on_value_change(lambda e: self.set_field("priority", e.value))
                start = ui.button("Run agent", icon="smart_toy", on_click=self.run_agent)
                tid(start.props("unelevated no-caps").tooltip("Run an agent on this task (r)"), "run-agent")
                self.archive_button = ui.button("Archive", icon="archive", on_click=self.confirm_archive)
                tid(self.archive_button.props("flat dense no-caps"), "task-archive")
                delete = ui.button("Delete", icon="delete", on_click=lambda: self.confirm("delete"))
                tid(delete.props("flat dense no-caps color=negative"), "task-delete")
            self.description = InlineEdit(
                task.description,
                self.save_description,
                name="task-description",
                multiline=True,
                placeholder="Add a description (markdown)…",
            )
            self.run_panel = RunPanel(self.runtime, self.refresh)
            with ui.grid().classes("w-full grid-cols-1 md:grid-cols-3 gap-4"):
                self.subtasks = tid(ui.card().classes("gap-1"), "task-subtasks")
                with tid(ui.card().classes("gap-1"), "task-dependencies"):
                    ui.label("Depends on").classes("font-semibold")
                    self.dependencies = DependencyEditor(self.runtime, self.refresh)
                self.sessions = tid(ui.card().classes("gap-1"), "task-sessions")
            with tid(ui.card().classes("w-full gap-2"), "task-timeline"):
                ui.label("Timeline").classes("font-semibold")
                self.timeline = Timeline(task.id)
        self.draw()
        ui.timer(0, self._first_timeline, once=True)
        ui.timer(TICK_S, self.tick)

    async def _first_timeline(self) -> None:
        await self.timeline.update(self.data)

    def draw(self) -> None:
        """Bring every section in line with `self.data` (editors being used are left alone)."""
        task = self.data.task
        self.crumbs.clear()
        with self.crumbs:
            if self.project is not None:
                ui.link(self.project.name, f"/projects/{self.project.id}/tasks").classes("break-all")
                ui.icon("chevron_right")
            for ancestor in self.data.ancestors():
                ui.link(ancestor.title, f"/tasks/{ancestor.id}").classes("break-all")
                ui.icon("chevron_right")
            ui.label(task.title).classes("font-medium break-all")
        ui.page_title(f"{task.title} · Maestro")
        self.title.show(task.title)
        self.description.show(task.description)
        self.status.value = task.status  # the change handler ignores a value that is already stored
        self.priority.value = task.priority
        self.archived.set_visibility(task.archived_at is not None)
        self.archive_button.set_text("Unarchive" if task.archived_at is not None else "Archive")
        self.subtasks.clear()
        with self.subtasks:
            draw_subtasks(self.data, self.add_subtask)
        self.dependencies.draw(self.data)
        self.sessions.clear()
        with self.sessions:
            draw_sessions(self.data)
        self.run_panel.draw(self.data, self.project)
        self.tick()

    def tick(self) -> None:
        """Why the task has its status, with how long ago (kept current); the run panel's reason likewise."""
        reason = self.data.task.status_reason
        if reason is None:
            self.status_reason.text = ""
            self.status_reason_tip.text = ""
        else:
            names = {s.id: s.name for s in self.data.sessions}
            titles = {t.id: t.title for t in self.data.project_tasks.values()}
            why = reason_words(reason, utcnow(), tasks=titles, sessions=names)
            self.status_reason.text = f"Status: {why}"
            self.status_reason_tip.text = reason_tip(reason)
        self.run_panel.tick()

    async def refresh(self) -> None:
        """Re-read the task and its surroundings (a live change, or after our own write)."""
        if self.gone:
            return
        try:
            self.data = await load_task_data(self.task_id)
        except NotFound:
            self.gone = True
            self.body.set_visibility(False)
            self.deleted.set_visibility(True)
            return
        # Drawn from a place that stays: the button that asked for this refresh may have been redrawn away by a live
        # refresh meanwhile, and NiceGUI finds the page (for its title) through the current slot.
        with self.forms:
            self.draw()
            await self.timeline.update(self.data)

    async def _update(self, **fields: object) -> str | None:
        try:
            body = msgspec.convert(fields, TaskUpdate)
        except msgspec.ValidationError as exc:
            return _validation_message(exc)
        try:
            self.data.task = await tasks.update_task(self.runtime.writer, self.task_id, body, UI_ACTOR)
        except MaestroError as exc:
            return exc.detail
        except Exception:
            log.exception("updating a task failed")
            return "Something went wrong; the server log has the details."
        return None

    async def save_title(self, text: str) -> str | None:
        """Save a new title (the editor shows a refusal under itself)."""
        problem = await self._update(title=text.strip())
        if problem is None:
            self.draw()
        return problem

    async def save_description(self, text: str) -> str | None:
        """Save a new description."""
        return await self._update(description=text)

    async def set_field(self, name: str, value: str | None) -> None:
        """Status or priority picked: write it unless it is what is already stored (a redraw sets it too)."""
        if value is None or getattr(self.data.task, name) == value:
            return
        body = msgspec.convert({name: value}, TaskUpdate)
        updated = await run(tasks.update_task(self.runtime.writer, self.task_id, body, UI_ACTOR))
        if updated is not None:
            self.data.task = updated
        self.draw()  # refused: the picker goes back to the stored value

    async def run_agent(self) -> None:
        """Open the Run agent dialog with this task chosen."""
        if not self.gone:
            await self.launcher.run_agent([self.task_id])

    def add_subtask(self) -> None:
        """Open the new-task dialog for a subtask of this task."""
        if not self.gone:
            self.forms.clear()
            with self.forms:
                open_task_form(
                    self.runtime, project_id=self.data.task.project_id, parent=self.data.task, on_saved=self._saved
                )

    async def _saved(self, _: object) -> None:
        await self.refresh()

    async def confirm_archive(self) -> None:
        """Unarchiving is harmless and immediate; archiving asks first."""
        if self.data.task.archived_at is None:
            await self.confirm("archive")
            return
        body = msgspec.convert({"archived": False}, TaskUpdate)
        if await run(tasks.update_task(self.runtime.writer, self.task_id, body, UI_ACTOR), success="Unarchived"):
            await self.refresh()

    async def confirm(self, action: str) -> None:
        """Ask before archiving or deleting, saying how many subtasks go with the task."""
        tree = await run(tasks.get_tree(self.task_id, include_archived=True))
        if tree is None:
            return
        count, stack = 0, list(tree.children)
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.children)
        subtasks = f"{count} subtask{'s' if count != 1 else ''}"
        title = self.data.task.title
        self.forms.clear()
        with self.forms, ui.dialog() as dialog, ui.card().classes("max-w-lg"):
            tid(dialog, "confirm-task-action")
            ui.label(f"{action.capitalize()} '{title}'?").classes("text-lg font-semibold break-all")
            if action == "delete":
                text = (
                    f"This deletes it and its {subtasks}, with their dependencies and timelines. It cannot be undone."
                )
            else:
                text = f"Its {subtasks} are hidden from the board and the tree with it. You can unarchive it later."
            tid(ui.label(text), "confirm-task-action-text")

            async def go() -> None:
                dialog.close()
                await self._do(action)

            with ui.row().classes("w-full justify-end"):
                ui.button("Keep it", on_click=dialog.close).props("flat")
                button = ui.button(action.capitalize(), on_click=go)
                tid(button.props("unelevated" + (" color=negative" if action == "delete" else "")), "confirm-task")
        dialog.open()

    async def _do(self, action: str) -> None:
        task = self.data.task
        if action == "delete":
            deleted = await run(tasks.delete_task(self.runtime.writer, task.id, UI_ACTOR), success="Deleted")
            if deleted is not None:
                self.gone = True
                ui.navigate.to(f"/projects/{task.project_id}/tasks")
            return
        body = msgspec.convert({"archived": True}, TaskUpdate)
        if await run(tasks.update_task(self.runtime.writer, task.id, body, UI_ACTOR), success="Archived"):
            await self.refresh()


def _validation_message(exc: msgspec.ValidationError) -> str:
    if "$.title" in str(exc):
        return "A title is needed (at most 200 characters)."
    return str(exc)
