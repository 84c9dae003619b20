"""The sessions page: every agent session grouped by what it needs from the person (read-only for now)."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from nicegui import ui

from app.models.common import utcnow
from app.models.sessions import Session
from app.services import projects, sessions
from ui.context import tid
from ui.design import SESSION_COLOR
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

GROUPS = (
    ("Needs input", ("needs_input",)),
    ("Working", ("spawning", "running")),
    ("Idle", ("idle",)),
    ("Ended", ("completed", "failed", "stopped", "lost")),
)


@ui.page("/sessions")
async def sessions_page(request: Request) -> None:
    """Sessions of every project, needs-input first; terminals and replies arrive with the sessions UI."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()
    names = {p.id: p.name for p in all_projects}
    with frame("Sessions", projects=all_projects, current=None, active="sessions"):
        ui.label("Sessions").classes("text-2xl font-semibold")

        @ui.refreshable
        async def groups() -> None:
            found = await sessions.list_sessions(limit=500)
            if not found:
                with tid(ui.card().classes("w-full"), "sessions-empty"):
                    ui.label("No agent has run yet.").classes("font-semibold")
                    ui.label("Start one from a terminal: `maestro session spawn --project <id> --profile shell`.")
                return
            for title, statuses in GROUPS:
                members = [s for s in found if s.status in statuses]
                if not members:
                    continue
                ui.label(f"{title} ({len(members)})").classes("text-lg font-semibold mt-2")
                with tid(ui.column().classes("w-full gap-1"), f"sessions-{title.lower().replace(' ', '-')}"):
                    for session in members:
                        _row(session, names)

        await groups()
    follow(runtime.hub, lambda _: groups.refresh())


def _row(session: Session, project_names: dict[str, str]) -> None:
    with tid(ui.row().classes("w-full items-center gap-3 p-2 rounded m-surface"), "session-row"):
        ui.badge(session.status.replace("_", " ")).props(f"color={SESSION_COLOR[session.status]}")
        ui.label(session.name).classes("font-medium break-all")
        ui.label(session.profile).classes("text-sm text-grey-7")
        ui.label(project_names.get(session.project_id, "")).classes("text-sm text-grey-7 break-all")
        ui.space()
        ui.label(_why(session)).classes("text-sm text-grey-7")


def _why(session: Session) -> str:
    """Why the status is what it is, in words."""
    if session.status in ("completed", "failed", "stopped") and session.exit_code is not None:
        return f"exited {session.exit_code}"
    if session.status == "lost":
        return "the server restarted while it ran"
    if session.last_activity_at is not None:
        return f"last output {_ago(session.last_activity_at)}"
    return ""


def _ago(when: dt.datetime) -> str:
    seconds = max(0, int((utcnow() - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
