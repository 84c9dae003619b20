"""The home page (first run, or every project with its counts) and a project's overview."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from app.models.events import EventRecord
from app.models.projects import Project
from app.services import events, projects, sessions, tasks
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.project_form import open_project_form
from ui.components.task_form import open_task_form
from ui.context import UI_ACTOR, tid
from ui.describe import describe
from ui.design import LIVE_SESSION_STATUSES, STATUS_COLOR, STATUS_LABEL
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

RECENT = 12


@ui.page("/")
async def home(request: Request) -> None:
    """Every project with its counts; on a fresh install, the three steps to a first agent."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()

    async def created(project: Project) -> None:
        ui.navigate.to(f"/projects/{project.id}")

    def new_project() -> None:
        open_project_form(runtime, on_saved=created)

    with frame("Maestro", projects=all_projects, current=None, active="home", keys={"c": new_project}):

        @ui.refreshable
        async def listing() -> None:
            found = await projects.list_projects()
            if not found:
                _first_run(new_project)
                return
            with ui.row().classes("w-full items-center"):
                ui.label("Projects").classes("text-2xl font-semibold")
                ui.space()
                tid(ui.button("New project", icon="add", on_click=new_project).props("unelevated"), "new-project")
            with ui.grid().classes("w-full grid-cols-1 md:grid-cols-2 lg:grid-cols-3 gap-4"):
                for project in found:
                    await _project_card(project)

        await listing()
    follow(runtime.hub, lambda _: listing.refresh())


async def _project_card(project: Project) -> None:
    summary = await projects.project_summary(project.id)
    with tid(ui.card().classes("cursor-pointer hover:shadow-lg"), "project-card") as card:
        card.on("click", lambda: ui.navigate.to(f"/projects/{project.id}"))
        ui.label(project.name).classes("text-lg font-semibold break-all")
        ui.label(project.working_dir).classes("text-xs font-mono text-grey-7 break-all")
        _status_counts(summary.tasks)
        live = sum(summary.sessions.get(s, 0) for s in LIVE_SESSION_STATUSES)
        waiting = summary.sessions.get("needs_input", 0)
        ui.label(f"{live} session{'s' if live != 1 else ''} running" + (f", {waiting} need you" if waiting else ""))


def _first_run(new_project) -> None:
    with tid(ui.card().classes("w-full max-w-2xl mx-auto p-6 gap-4"), "first-run"):
        ui.label("Welcome to Maestro").classes("text-2xl font-semibold")
        ui.label("Run coding agents side by side and keep their work in order. Three steps to your first agent:")
        with ui.row().classes("items-center gap-3"):
            ui.badge("1").classes("text-base")
            ui.label("Create a project: a name and the folder your agents will work in.")
        tid(ui.button("Create a project", icon="add", on_click=new_project).props("unelevated"), "new-project")
        with ui.row().classes("items-center gap-3 text-grey-7"):
            ui.badge("2").props("color=grey")
            ui.label("Add a task to it: what you want done.")
        with ui.row().classes("items-center gap-3 text-grey-7"):
            ui.badge("3").props("color=grey")
            ui.label("Run an agent on it: “Run agent” on the task (or press r), and watch it work in its terminal.")


def _status_counts(counts: dict[str, int]) -> None:
    with ui.row().classes("gap-1 flex-wrap"):
        for status, label in STATUS_LABEL.items():
            if counts.get(status):
                ui.badge(f"{label} {counts[status]}").props(f"color={STATUS_COLOR[status]}")
        if not any(counts.values()):
            ui.label("No tasks yet").classes("text-sm text-grey-6")


@ui.page("/projects/{project_id}")
async def project_overview(request: Request, project_id: str) -> None:
    """Counts by status, sessions, recent activity in words; edit and delete."""
    runtime = runtime_of(request)
    found = await project_or_not_found(project_id)
    if found is None:
        return
    project, all_projects = found

    async def saved(_: Project) -> None:
        ui.navigate.reload()

    def new_task() -> None:
        open_task_form(runtime, project_id=project.id, on_saved=lambda t: ui.navigate.to(f"/tasks/{t.id}"))

    with frame(project.name, projects=all_projects, current=project, active="overview", keys={"c": new_task}):
        with ui.row().classes("w-full items-center gap-2"):
            tid(ui.label(project.name).classes("text-2xl font-semibold break-all"), "project-title")
            ui.space()
            tid(ui.button("New task", icon="add", on_click=new_task).props("unelevated"), "new-task")
            edit = ui.button(
                "Edit", icon="edit", on_click=lambda: open_project_form(runtime, project=project, on_saved=saved)
            )
            tid(edit.props("flat"), "edit-project")
            tid(
                ui.button("Delete", icon="delete", on_click=lambda: _confirm_delete(runtime, project)).props(
                    "flat color=negative"
                ),
                "delete-project",
            )
        ui.label(project.working_dir).classes("font-mono text-sm text-grey-7 break-all")
        if project.description:
            ui.markdown(project.description).classes("text-sm")

        @ui.refreshable
        async def overview() -> None:
            summary = await projects.project_summary(project.id)
            with ui.row().classes("w-full gap-4 items-stretch"):
                with tid(ui.card().classes("grow"), "task-counts"):
                    ui.label("Tasks").classes("font-semibold")
                    _status_counts(summary.tasks)
                    ui.link("Open the board", f"/projects/{project.id}/board")
                with tid(ui.card().classes("grow"), "session-counts"):
                    ui.label("Sessions").classes("font-semibold")
                    live = sum(summary.sessions.get(s, 0) for s in LIVE_SESSION_STATUSES)
                    ui.label(f"{live} running, {summary.sessions.get('needs_input', 0)} needing input")
            with tid(ui.card().classes("w-full"), "recent-activity"):
                ui.label("Recent activity").classes("font-semibold")
                recent = await events.recent_events(project.id, RECENT)
                if not recent:
                    ui.label("Nothing has happened here yet.").classes("text-grey-6")
                titles = {t.id: t.title for t in (await tasks.list_tasks(project_id=project.id, limit=500)).items}
                names = {s.id: s.name for s in await sessions.list_sessions(project_id=project.id, limit=500)}
                for record in recent:
                    with ui.row().classes("w-full gap-2 text-sm"):
                        ui.label(record.ts.strftime("%H:%M:%S")).classes("font-mono text-grey-6")
                        ui.label(describe(record, titles, names))

        await overview()
    follow(runtime.hub, lambda _: overview.refresh(), project_id=project.id, gone=project_deleted)


def project_deleted(event: EventRecord) -> bool:
    """For `follow(gone=…)` on a project's pages (their subscription is already limited to the project)."""
    return event.type == "project.deleted"


async def _confirm_delete(runtime: Runtime, project: Project) -> None:
    """Ask first, saying what goes with the project; then delete it all and go home."""
    summary = await projects.project_summary(project.id)
    task_count = sum(summary.tasks.values()) + summary.archived_tasks
    session_count = sum(summary.sessions.values())
    with ui.dialog() as dialog, ui.card():
        tid(dialog, "confirm-delete")
        ui.label(f"Delete '{project.name}'?").classes("text-lg font-semibold break-all")
        ui.label(
            f"This deletes its {task_count} task{'s' if task_count != 1 else ''} and "
            f"{session_count} session record{'s' if session_count != 1 else ''}. Files in "
            f"{project.working_dir} are not touched."
        )

        async def delete_everything() -> bool:
            await projects.delete_project(runtime.writer, project.id, UI_ACTOR, cascade=True)
            return True

        async def delete() -> None:
            done = await run(delete_everything(), success=f"Deleted '{project.name}'")
            dialog.close()
            if done:
                ui.navigate.to("/")

        with ui.row().classes("w-full justify-end"):
            ui.button("Keep it", on_click=dialog.close).props("flat")
            tid(ui.button("Delete", on_click=delete).props("unelevated color=negative"), "confirm-delete-button")
    dialog.on("hide", dialog.delete)
    dialog.open()


def _not_found(all_projects: list[Project], message: str) -> None:
    with frame("Not found", projects=all_projects, current=None, active="home"):
        tid(ui.label(message).classes("text-lg"), "not-found")
        ui.link("Back to all projects", "/")


async def project_or_not_found(project_id: str) -> tuple[Project, list[Project]] | None:
    """The project and every project (for the switcher); or a friendly not-found page and None."""
    all_projects = await projects.list_projects()
    project = next((p for p in all_projects if p.id == project_id), None)
    if project is None:
        _not_found(all_projects, "That project does not exist (any more).")
        return None
    return project, all_projects
