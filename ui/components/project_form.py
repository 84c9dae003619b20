"""The project dialog (create or edit): errors appear beside the field they concern, nothing is lost on a refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from nicegui import ui

from app.errors import MaestroError
from app.models.projects import Project, ProjectCreate, ProjectUpdate
from app.services import projects
from app.services.runtime import Runtime
from ui.context import UI_ACTOR, tid

FIELDS = ("name", "working_dir", "description")


def open_project_form(
    runtime: Runtime, *, project: Project | None = None, on_saved: Callable[[Project], Awaitable[None] | None]
) -> None:
    """Show the dialog; `on_saved` gets the created or updated project."""
    with ui.dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
        tid(dialog, "project-form")
        ui.label("Edit project" if project else "New project").classes("text-lg font-semibold")
        name = tid(ui.input("Name", value=project.name if project else "").classes("w-full"), "project-name")
        working_dir = ui.input(
            "Working directory", value=project.working_dir if project else "", placeholder="/home/me/code/my-app"
        ).classes("w-full")
        tid(working_dir.props("hint='An existing folder: the agents work there'"), "project-working-dir")
        description = ui.textarea("Description (optional)", value=project.description if project else "")
        tid(description.classes("w-full").props("autogrow"), "project-description")
        inputs = {"name": name, "working_dir": working_dir, "description": description}
        problem = tid(ui.label("").classes("text-negative text-sm"), "project-form-error")

        def show_error(field: str | None, message: str) -> None:
            for key, element in inputs.items():
                element.props["error"] = key == field
                element.props["error-message"] = message if key == field else None
                element.update()
            problem.text = "" if field in inputs else message

        async def save() -> None:
            values = {"name": name.value.strip(), "working_dir": working_dir.value.strip()}
            values["description"] = description.value or ""
            try:
                if project is None:
                    body = msgspec.convert(values, ProjectCreate)
                    saved = await projects.create_project(runtime.writer, body, UI_ACTOR)
                else:
                    changed = {k: v for k, v in values.items() if getattr(project, k) != v}
                    body_update = msgspec.convert(changed, ProjectUpdate)
                    saved = await projects.update_project(runtime.writer, project.id, body_update, UI_ACTOR)
            except msgspec.ValidationError as exc:
                show_error(_field_of(str(exc)), _friendly(str(exc)))
                return
            except MaestroError as exc:
                field = next(iter(exc.extra), None) if isinstance(exc.extra, dict) else None
                if "name" in exc.detail and "already exists" in exc.detail:
                    field = "name"
                show_error(field, exc.detail)
                return
            dialog.close()
            result = on_saved(saved)
            if hasattr(result, "__await__"):
                await result

        for field in (name, working_dir):  # Enter in a one-line field submits, as in any form
            field.on("keydown.enter", save)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            tid(ui.button("Save" if project else "Create project", on_click=save).props("unelevated"), "project-save")
    dialog.on("hide", dialog.delete)  # a closed form is gone: old inputs never linger in the page
    dialog.open()


def _field_of(message: str) -> str | None:
    for field in FIELDS:
        if f"`$.{field}`" in message:
            return field
    return None


def _friendly(message: str) -> str:
    """msgspec's validation messages name the rule; say it the way a person would."""
    if "`$.name`" in message:
        return "A name is needed (at most 200 characters)"
    if "`$.working_dir`" in message:
        return "Give the folder as an absolute path, like /home/me/code/app"
    return message
