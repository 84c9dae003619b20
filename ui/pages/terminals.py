"""Several terminals at once: `/terminals?ids=ses_a,ses_b` side by side (or `&view=tabs`); without ids, every
running session. Each pane has its status badge, connection state, exit status and stop button."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from nicegui import ui

from app.errors import NotFound
from app.ids import is_id
from app.models.events import EventRecord
from app.models.sessions import Session
from app.services import projects, sessions
from ui.components.terminal import TerminalPane, load_script
from ui.context import tid
from ui.design import LIVE_SESSION_STATUSES, SESSION_COLOR
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

MAX_TERMINALS = 12  # more would leave each too small to read


@ui.page("/terminals")
async def terminals_page(request: Request, ids: str = "", view: str = "grid") -> None:
    """The sessions named in `ids` (comma-separated), or every running session; unknown ids are said, not fatal."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()
    wanted = [i for i in dict.fromkeys(part.strip() for part in ids.split(",")) if i][:MAX_TERMINALS]
    shown: list[Session] = []
    missing: list[str] = []
    if wanted:
        for session_id in wanted:
            try:
                if not is_id(session_id, "ses"):
                    raise NotFound(session_id)
                shown.append(await sessions.get_session(session_id))
            except NotFound:
                missing.append(session_id)
    else:
        shown = await sessions.list_sessions(statuses=LIVE_SESSION_STATUSES, limit=MAX_TERMINALS)
    tabs = view == "tabs"
    load_script()
    panes: dict[str, TerminalPane] = {}
    badges: dict[str, ui.badge] = {}
    with frame("Terminals", projects=all_projects, current=None, active="sessions", wide=True):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Terminals").classes("text-2xl font-semibold")
            ui.label(f"{len(shown)} open").classes("text-grey-7")
            ui.space()
            _adder(ids=[s.id for s in shown], view=view)
            toggle = ui.toggle({"grid": "Side by side", "tabs": "Tabs"}, value="tabs" if tabs else "grid")
            toggle.on_value_change(lambda e: ui.navigate.to(_url([s.id for s in shown], e.value)))
            tid(toggle.props("dense no-caps"), "terminals-view")
        if missing:
            tid(ui.label(f"Not found: {', '.join(missing)}").classes("text-warning"), "terminals-missing")
        if not shown:
            with tid(ui.card().classes("w-full"), "terminals-empty"):
                ui.label("No session is running.").classes("font-semibold")
                ui.label("Start one from a task or the Sessions page; its terminal opens here.")
                ui.link("All sessions", "/sessions")
        elif tabs:
            with ui.tabs().classes("w-full").props("align=left no-caps") as tab_bar:
                for session in shown:
                    with tid(ui.tab(session.id, label=""), "terminal-tab"), ui.row().classes("items-center gap-2"):
                        ui.label(session.name)
                        badges[session.id] = ui.badge("")
            with ui.tab_panels(tab_bar, value=shown[0].id).classes("w-full bg-transparent"):
                for session in shown:
                    with ui.tab_panel(session.id).classes("p-0"):
                        height = "max(320px, calc(100vh - 300px))"  # the tab bar and the header above it
                        panes[session.id] = TerminalPane(runtime, session, height=height, show_name=True)
        else:
            columns = "grid-cols-1" if len(shown) == 1 else "grid-cols-1 xl:grid-cols-2"
            height = "72vh" if len(shown) <= 2 else "40vh"
            with ui.grid().classes(f"w-full gap-4 {columns}"):
                for session in shown:
                    panes[session.id] = TerminalPane(runtime, session, height=height, show_name=True)
    _show_badges(shown, badges)

    async def on_events(batch: list[EventRecord]) -> None:
        touched = set(panes) if not batch else {r.entity_id for r in batch if r.entity_id in panes}
        fresh: list[Session] = []
        for session_id in touched:
            try:
                fresh.append(await sessions.get_session(session_id))
            except NotFound:
                continue  # deleted with its project: its pane keeps what it showed
        for session in fresh:
            panes[session.id].update(session)
        _show_badges(fresh, badges)

    follow(runtime.hub, on_events)


def _show_badges(found: list[Session], badges: dict[str, ui.badge]) -> None:
    for session in found:
        badge = badges.get(session.id)
        if badge is not None:
            badge.set_text(session.status.replace("_", " "))
            badge.props(f"color={SESSION_COLOR[session.status]}")


def _adder(*, ids: list[str], view: str) -> None:
    """A picker of running sessions not shown yet; picking one opens it next to the others."""

    async def options() -> dict[str, str]:
        live = await sessions.list_sessions(statuses=LIVE_SESSION_STATUSES, limit=100)
        return {s.id: s.name for s in live if s.id not in ids}

    pick = ui.select({}, label="Add a running session…", with_input=True)
    tid(pick.props("dense outlined options-dense").classes("w-64"), "terminals-add")
    pick.on_value_change(lambda e: e.value and ui.navigate.to(_url([*ids, e.value], view)))

    async def fill() -> None:
        pick.set_options(await options())

    ui.timer(0, fill, once=True)


def _url(ids: list[str], view: str) -> str:
    return "/terminals?" + urlencode({"ids": ",".join(ids), "view": view})
