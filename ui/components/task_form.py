"""The new-task dialog (also for subtasks): title first, everything else optional; refusals shown in place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from nicegui import ui

from app.errors import MaestroError
from app.models.tasks import Task, TaskCreate
from app.services import tasks
from app.services.runtime import Runtime
from ui.context import UI_ACTOR, tid
from ui.design import PRIORITY_COLOR, STATUS_LABEL


def open_task_form(
    runtime: Runtime,
    *,
    project_id: str,
    parent: Task | None = None,
    status: str = "todo",
    on_saved: Callable[[Task], Awaitable[None] | None] | None = None,
) -> None:
    """Show the dialog; the new task is created through the task service with the UI as actor."""
    with ui.dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
        tid(dialog, "task-form")
        heading = f"New subtask of '{parent.title}'" if parent else "New task"
        ui.label(heading).classes("text-lg font-semibold break-all")
        title = tid(ui.input("Title").props("autofocus").classes("w-full"), "task-form-title")
        description = tid(ui.textarea("Description (markdown, optional)").props("autogrow"), "task-form-description")
        description.classes("w-full")
        with ui.row().classes("w-full gap-4"):
            status_pick = tid(ui.select(STATUS_LABEL, value=status, label="Status").classes("grow"), "task-form-status")
            priority = ui.select({p: p.capitalize() for p in PRIORITY_COLOR}, value="medium", label="Priority")
            tid(priority.classes("grow"), "task-form-priority")
        problem = tid(ui.label("").classes("text-negative text-sm"), "task-form-error")

        async def save() -> None:
            values = {
                "project_id": project_id,
                "title": (title.value or "").strip(),
                "description": description.value or "",
                "status": status_pick.value,
                "priority": priority.value,
                "parent_id": parent.id if parent else None,
            }
            try:
                body = msgspec.convert(values, TaskCreate)
                task = await tasks.create_task(runtime.writer, body, UI_ACTOR)
            except msgspec.ValidationError as exc:
                problem.text = "A title is needed (at most 200 characters)" if "$.title" in str(exc) else str(exc)
                return
            except MaestroError as exc:
                problem.text = exc.detail
                return
            dialog.close()
            ui.notify(f"Created '{task.title}'", type="positive")
            if on_saved is not None:
                result = on_saved(task)
                if hasattr(result, "__await__"):
                    await result

        title.on("keydown.enter", save)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            tid(ui.button("Create task", on_click=save).props("unelevated"), "task-form-save")
    dialog.on("hide", dialog.delete)  # a closed form is gone: old inputs never linger in the page
    dialog.open()
