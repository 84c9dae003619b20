"""The home page: what is running, where its data lives, and a live readiness check."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from app import __version__
from app.services import system


@ui.page("/")
async def home(request: Request) -> None:
    """Show the server's status; the button re-checks readiness in place."""
    state = request.scope["maestro"]
    settings = state.settings
    ui.page_title("Maestro")
    with ui.header().classes("items-center bg-slate-800"):
        ui.label("Maestro").classes("text-xl font-bold text-amber-300")
        ui.label(f"v{__version__}").classes("text-sm text-slate-300")
    with ui.column().classes("w-full max-w-3xl mx-auto p-6 gap-4"):
        ui.label("Your agents' control room").classes("text-2xl")
        ui.markdown(
            "Projects, task trees and agent sessions arrive in the next releases. "
            "Automation: the REST API under `/api/v1`, documented at [/schema/swagger](/schema/swagger)."
        )
        with ui.card().classes("w-full"):
            ui.label("Server").classes("text-lg font-semibold")
            db = state.database()
            ui.label(f"Data directory: {settings.home}").props("data-testid=home-dir")
            ui.label(f"Database: {db.backend} ({db.target})")
            status = ui.label("Readiness: not checked yet").props("data-testid=readiness")

            async def check() -> None:
                result = await system.readiness(state.database())
                pending = len(result.migrations.pending)
                status.text = f"Readiness: {result.status} · {pending} pending migrations"
                ui.notify("Database checked", type="positive" if result.status == "ready" else "warning")

            ui.button("Check readiness", on_click=check).props("data-testid=check-readiness")
