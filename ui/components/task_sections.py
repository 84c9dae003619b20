"""The task page's sections: subtasks, dependencies with their editor, linked sessions, and the agents' timeline."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nicegui import ui

from app.errors import MaestroError
from app.models.sessions import Session
from app.models.tasks import Task
from app.services import sessions, tasks, timeline
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.timeline import LiveTimeline
from ui.context import UI_ACTOR, tid
from ui.design import SESSION_COLOR, STATUS_COLOR, STATUS_LABEL

log = logging.getLogger("maestro.ui")

PAGE = 500
_TASK_ID = re.compile(r"\btsk_[A-Za-z0-9_-]+")


@dataclass
class TaskData:
    """What the page draws, loaded once per refresh: the task and every task of its project (archived too)."""

    task: Task
    project_tasks: dict[str, Task]
    sessions: list[Session] = field(default_factory=list)

    def title(self, task_id: str) -> str:
        """A task's title, or a neutral name for one that is gone."""
        found = self.project_tasks.get(task_id)
        return found.title if found else "a deleted task"

    def ancestors(self) -> list[Task]:
        """Root first, down to the task's parent."""
        chain: list[Task] = []
        parent = self.task.parent_id
        while parent is not None and parent in self.project_tasks and all(t.id != parent for t in chain):
            chain.append(self.project_tasks[parent])
            parent = self.project_tasks[parent].parent_id
        return chain[::-1]

    def subtasks(self) -> list[Task]:
        """Direct children, by position."""
        kids = [t for t in self.project_tasks.values() if t.parent_id == self.task.id]
        return sorted(kids, key=lambda t: (t.archived_at is not None, t.position, t.id))

    def in_words(self, detail: str) -> str:
        """A service message with task ids replaced by quoted titles (people read titles, not ids)."""
        return _TASK_ID.sub(lambda m: f"'{self.title(m.group(0))}'", detail)


async def load_task_data(task_id: str) -> TaskData:
    """The task, its project's tasks (pages of 500, archived included) and the sessions linked to it."""
    task = await tasks.get_task(task_id)
    items: dict[str, Task] = {}
    cursor = None
    while True:
        page = await tasks.list_tasks(
            project_id=task.project_id, include_archived=True, sort="position", limit=PAGE, cursor=cursor
        )
        items.update((t.id, t) for t in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    linked = await sessions.list_sessions(task_id=task.id, limit=100)
    return TaskData(task=task, project_tasks=items, sessions=linked)


def status_badge(status: str) -> ui.badge:
    """A task status as a coloured badge."""
    return ui.badge(STATUS_LABEL[status]).props(f"color={STATUS_COLOR[status]}")


def draw_subtasks(data: TaskData, on_add: Callable[[], None]) -> None:
    """Direct subtasks with their status; "add subtask" opens the new-task dialog."""
    kids = data.subtasks()
    with ui.row().classes("w-full items-center"):
        ui.label(f"Subtasks ({len(kids)})").classes("font-semibold")
        ui.space()
        tid(ui.button("Add subtask", icon="add", on_click=on_add).props("flat dense no-caps"), "task-add-subtask")
    if not kids:
        ui.label("No subtasks.").classes("text-sm text-grey-6")
    for kid in kids:
        with tid(ui.row().classes("w-full items-center gap-2 no-wrap"), "task-subtask"):
            status_badge(kid.status)
            ui.link(kid.title, f"/tasks/{kid.id}").classes("grow truncate")
            if kid.archived_at is not None:
                ui.badge("archived").props("outline color=grey-7")


class DependencyEditor:
    """The dependencies with their state, remove buttons, and an add editor whose refusals show inline."""

    def __init__(self, runtime: Runtime, reload: Callable[[], Awaitable[None]]) -> None:
        self.runtime = runtime
        self.reload = reload
        self.data: TaskData | None = None
        self.list = ui.column().classes("w-full gap-1")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.pick = ui.select({}, label="Depends on…", with_input=True).props("dense outlined options-dense")
            tid(self.pick.classes("grow"), "task-dependency-pick")
            tid(ui.button("Add", on_click=self.add).props("unelevated dense no-caps"), "task-dependency-add")
        self.problem = tid(ui.label("").classes("text-negative text-sm break-words"), "task-dependency-error")

    def draw(self, data: TaskData) -> None:
        """Redraw the list and the choices from fresh data (the editor's error stays until the next attempt)."""
        self.data = data
        task = data.task
        self.list.clear()
        with self.list:
            if not task.dependencies:
                ui.label("No dependencies.").classes("text-sm text-grey-6")
            for dep_id in task.dependencies:
                dep = data.project_tasks.get(dep_id)
                row = tid(ui.row().classes("w-full items-center gap-2 no-wrap"), "task-dependency")
                row.mark("task-dependency", f"task-dependency-{dep_id}")
                with row:
                    if dep is not None:
                        status_badge(dep.status)
                        ui.link(dep.title, f"/tasks/{dep.id}").classes("grow truncate")
                    else:
                        ui.label(data.title(dep_id)).classes("grow")
                    if dep_id in task.blocked_by:
                        ui.badge("blocking").props("outline color=red-7")
                    remove = ui.button(icon="close", on_click=lambda d=dep_id: self.remove(d))
                    tid(
                        remove.props('flat dense round size=sm title="Remove" aria-label="Remove"'),
                        "task-dependency-remove",
                    )
        taken = {task.id, *task.dependencies}
        choices = {
            t.id: t.title
            for t in sorted(data.project_tasks.values(), key=lambda t: t.title.lower())
            if t.id not in taken and t.archived_at is None
        }
        self.pick.set_options(choices, value=self.pick.value if self.pick.value in choices else None)

    async def add(self) -> None:
        """Add the picked dependency; a refusal (a cycle, a duplicate) is shown next to the editor."""
        if self.data is None or not self.pick.value:
            self.problem.text = "Pick a task first."
            return
        try:
            await tasks.add_dependency(self.runtime.writer, self.data.task.id, self.pick.value, UI_ACTOR)
        except MaestroError as exc:
            self.problem.text = f"Refused: {self.data.in_words(exc.detail)}"
            ui.notify(self.problem.text, type="warning", multi_line=True)
            return
        except Exception:
            log.exception("adding a dependency failed")
            self.problem.text = "Something went wrong; the server log has the details."
            return
        self.problem.text = ""
        self.pick.value = None
        await self.reload()

    async def remove(self, depends_on: str) -> None:
        """Remove one dependency."""
        if self.data is None:
            return
        call = tasks.remove_dependency(self.runtime.writer, self.data.task.id, depends_on, UI_ACTOR)
        await run(call)
        await self.reload()


def draw_sessions(data: TaskData) -> None:
    """Sessions linked to the task, with their status and the link's own status."""
    ui.label(f"Sessions ({len(data.sessions)})").classes("font-semibold")
    if not data.sessions:
        ui.label("No agent has worked on this task yet.").classes("text-sm text-grey-6")
    for session in data.sessions:
        link = next((lk for lk in session.tasks if lk.task_id == data.task.id), None)
        with tid(ui.row().classes("w-full items-center gap-2 no-wrap"), "task-session"):
            ui.badge(session.status.replace("_", " ")).props(f"color={SESSION_COLOR[session.status]}")
            ui.link(session.name, f"/sessions/{session.id}").classes("grow truncate font-medium")
            ui.label(session.profile).classes("text-xs text-grey-7")
            if link is not None:
                ui.badge(link.status.replace("_", " ")).props("outline color=grey-8")
    if data.sessions:
        ui.link("All sessions", "/sessions").classes("text-sm")


class Timeline:
    """The task's timeline: entries name the session that wrote them."""

    def __init__(self, task_id: str) -> None:
        self.names: dict[str, str] = {}
        self.live = LiveTimeline(
            lambda after, limit: timeline.task_timeline(task_id, after=after, limit=limit),
            test_id="task-timeline",
            empty="No reports yet. Agents' progress, questions and results appear here as they come.",
            author=lambda entry: self.names.get(entry.session_id, "an agent session") if entry.session_id else None,
        )

    async def update(self, data: TaskData) -> None:
        """Append the entries written since the last update."""
        self.names = {s.id: s.name for s in data.sessions}
        await self.live.update()
