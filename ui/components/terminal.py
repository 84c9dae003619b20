"""A session's terminal in the browser: NiceGUI's xterm, attached by static/terminal.js to the session's terminal
WebSocket, with its status badge, connection state, exit status and a stop button that asks first.

Terminal bytes never pass through NiceGUI's socket: the browser module talks to /api/v1/sessions/{id}/terminal
itself (binary frames, acks after xterm.js parsed the data, resize after fitting, resume by offset). This side only
lays out the elements and tells the browser which session to attach; statuses come from the session record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import cache

from nicegui import ui

from app.models.common import ENDED_STATUSES
from app.models.sessions import Session
from app.resources import static_dir
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.run_badges import exit_words
from ui.context import UI_ACTOR, tid
from ui.design import SESSION_COLOR

XTERM_OPTIONS = {
    # A blinking cursor redraws on every key; Chromium then draws a frame before it hands over the echo (~4 ms more).
    "cursorBlink": False,
    "fontSize": 13,
    "fontFamily": "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace",
    "scrollback": 10000,
    "theme": {"background": "#0b1120", "foreground": "#e2e8f0", "cursor": "#fbbf24", "selectionBackground": "#334155"},
}


@cache
def script_url(name: str = "terminal.js") -> str:
    """A script in static/ with a content hash, so a browser never runs a stale copy after an upgrade."""
    digest = hashlib.sha256((static_dir() / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


_STATE_STYLE = """<style>
  .terminal-state::before { content: ''; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
    margin-right: 6px; background: #9ca3af; }
  .terminal-state[data-state="connected"]::before { background: #22c55e; }
  .terminal-state[data-state="reconnecting"]::before { background: #f59e0b; }
  .terminal-state[data-state="ended"]::before { background: #475569; }
</style>"""


def load_script(*, catch_keys: bool = False) -> None:
    """Add the browser module to this page (once per page, while the page is built: the observer filter must run
    before NiceGUI's deferred scripts create their observers). `catch_keys`: the page's terminal is where one types
    (attached with focus), so keys typed before it is ready are kept for it instead of going to page shortcuts."""
    observers = script_url("terminal_observers.js")
    frames = script_url("terminal_frames.js")
    catch = " data-catch-keys" if catch_keys else ""
    scripts = f'<script src="{observers}"></script><script src="{frames}"></script>'
    scripts += f'<script src="{script_url()}"{catch}></script>'
    ui.add_head_html(scripts + _STATE_STYLE)


def exit_text(session: Session) -> str:
    """How the program ended, in words, or "" while it runs."""
    if session.status not in ENDED_STATUSES:
        return ""
    if session.exit_code is None:
        return "the server restarted while it ran" if session.status == "lost" else ""
    if session.exit_code < 0:
        return exit_words(session.exit_code)
    return f"exit status {session.exit_code}"


class TerminalPane:
    """One session's terminal with its header: name (optional), status badge, connection state, exit status, stop.

    `update(session)` brings the header in line with a fresh record; the terminal itself is never redrawn.
    """

    def __init__(
        self,
        runtime: Runtime,
        session: Session,
        *,
        height: str = "60vh",
        show_name: bool = False,
        focus: bool = False,
        on_stopped: Callable[[Session], object] | None = None,
    ) -> None:
        self.runtime = runtime
        self.session = session
        self.on_stopped = on_stopped
        with tid(ui.column().classes("w-full gap-1 min-w-0"), "terminal-pane") as self.root:
            with ui.row().classes("w-full items-center gap-2 no-wrap min-h-9"):
                if show_name:
                    name = ui.link(session.name, f"/sessions/{session.id}").classes("font-medium truncate")
                    tid(name, "terminal-name")
                self.badge = tid(ui.badge(""), "session-status")
                # Written by static/terminal.js only (connecting / connected / reconnecting / ended): never update it
                # from here, or a server-side redraw would overwrite what the browser knows.
                self.state = tid(ui.label("Connecting…"), "terminal-state")
                self.state.classes("terminal-state text-xs text-grey-7").props('data-state="connecting"')
                self.exit = tid(ui.label("").classes("text-sm text-grey-8"), "terminal-exit")
                ui.space()
                self.stop_button = ui.button("Stop", icon="stop_circle", on_click=self.confirm_stop)
                tid(self.stop_button.props("flat dense no-caps color=negative"), "terminal-stop")
            self.xterm = ui.xterm(XTERM_OPTIONS).classes("w-full rounded overflow-hidden maestro-terminal")
            tid(self.xterm.style(f"height: {height}; background: #0b1120; padding: 4px"), "terminal")
            self.xterm.props(f"data-session={session.id}")
            self.dialogs = ui.element("div")
        # focus: keys go to the terminal from the start, unless the person already focused something else.
        options = json.dumps({"focus": focus})
        args = f"{self.xterm.id}, {json.dumps(session.id)}, {json.dumps(self.state.html_id)}, {options}"
        ui.run_javascript(f"window.maestroTerminal.attach({args})")
        self.update(session)

    def update(self, session: Session) -> None:
        """Show the record's status, the exit status once it ended, and the stop button only while it runs."""
        self.session = session
        self.badge.set_text(session.status.replace("_", " "))
        self.badge.props(f"color={SESSION_COLOR[session.status]}")
        self.exit.set_text(exit_text(session))
        self.stop_button.set_visibility(session.status not in ENDED_STATUSES)

    def confirm_stop(self) -> None:
        """Ask before stopping: the program and everything it started end."""
        self.dialogs.clear()
        with self.dialogs, ui.dialog() as dialog, ui.card().classes("max-w-lg"):
            tid(dialog, "terminal-stop-dialog")
            ui.label(f"Stop '{self.session.name}'?").classes("text-lg font-semibold break-all")
            ui.label(
                "Its program and everything it started get a hang-up, then a terminate and, 3 seconds later, a kill. "
                "The recording and the timeline stay."
            )

            async def stop() -> None:
                dialog.close()
                await self.stop()

            with ui.row().classes("w-full justify-end"):
                tid(ui.button("Keep it running", on_click=dialog.close).props("flat"), "terminal-stop-cancel")
                tid(ui.button("Stop", on_click=stop).props("unelevated color=negative"), "terminal-stop-confirm")
        dialog.open()

    async def stop(self) -> None:
        """Stop the session through the runner (recorded with the UI actor)."""
        self.stop_button.props("loading")
        stopped = await run(self.runtime.runner.stop(self.session.id, UI_ACTOR), success="Stopped")
        self.stop_button.props(remove="loading")
        if stopped is not None:
            self.update(stopped)
            if self.on_stopped is not None:
                self.on_stopped(stopped)
