"""The sessions page: every agent session grouped by what it needs from the person — needs input, working, idle,
ended — with why, the agents' questions answered in place, and Run agent / Open a shell at hand."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from app.services import projects
from ui.components.run_agent import Launcher
from ui.components.session_list import SessionList
from ui.context import tid
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

TICK_S = 15.0  # how often the "… ago" texts are brought up to date


@ui.page("/sessions")
async def sessions_page(request: Request) -> None:
    """Sessions of every project, those waiting for the person first; live."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()
    with frame("Sessions", projects=all_projects, current=None, active="sessions"):
        launcher = Launcher(runtime, None)
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Sessions").classes("text-2xl font-semibold")
            ui.space()
            shell = launcher.shell_button()
            tid(shell.props("outline no-caps").tooltip("A plain shell in a project's folder (s)"), "open-shell")
            start = ui.button("Run agent", icon="smart_toy", on_click=lambda: launcher.run_agent())
            tid(start.props("unelevated no-caps").tooltip("Run an agent on tasks (r)"), "run-agent")
        listing = SessionList(runtime, launcher)
        await listing.reload()
        ui.timer(TICK_S, listing.tick)
    follow(runtime.hub, listing.follow)
