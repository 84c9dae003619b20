"""Settings and server status: where the data lives, the database, a live readiness check, the API docs."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from app import __version__
from app.services import projects, system
from ui.context import tid
from ui.frame import frame
from ui.runtime import runtime_of


@ui.page("/settings")
async def settings_page(request: Request) -> None:
    """Show the server's status; the button re-checks readiness in place."""
    runtime = runtime_of(request)
    settings = runtime.settings
    with frame("Settings", projects=await projects.list_projects(), current=None, active="settings"):
        ui.label("Settings and server status").classes("text-2xl font-semibold")
        with ui.card().classes("w-full"):
            ui.label("Server").classes("text-lg font-semibold")
            ui.label(f"Maestro {__version__}")
            # Paths have no spaces to break at: on a narrow screen they break anywhere rather than widen the page.
            tid(ui.label(f"Data directory: {settings.home}").classes("break-all"), "home-dir")
            ui.label(f"Database: {runtime.db.backend} ({runtime.db.target})").classes("break-all")
            status = tid(ui.label("Readiness: not checked yet"), "readiness")

            async def check() -> None:
                result = await system.readiness(runtime.db)
                pending = len(result.migrations.pending)
                status.text = f"Readiness: {result.status} · {pending} pending migrations"
                ui.notify("Database checked", type="positive" if result.status == "ready" else "warning")

            tid(ui.button("Check readiness", on_click=check), "check-readiness")
        with ui.card().classes("w-full"):
            ui.label("Automation").classes("text-lg font-semibold")
            ui.markdown(
                "The REST API lives under `/api/v1`, documented at [/schema/swagger](/schema/swagger); "
                "the `maestro` command line covers the same ground."
            )
