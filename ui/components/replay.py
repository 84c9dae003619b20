"""The replay player: a session's asciicast recording played back in an xterm.js terminal in the browser.

This renders the element, the terminal and an empty control bar; static/replay.js fetches the recording and the
session's timeline with the page's cookie (the bytes never travel over NiceGUI's socket), builds the controls
(play / pause, speed, seek bar with report markers, next report) and plays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache

from nicegui import ui

from app.models.sessions import Session
from app.resources import static_dir
from ui.context import tid
from ui.design import LIVE_SESSION_STATUSES

# A player shows, it takes no input; its size comes from the recording (the header and its resize events).
TERMINAL_OPTIONS = {
    "disableStdin": True,
    "cursorBlink": False,
    "fontSize": 13,
    "fontFamily": "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace",
    "scrollback": 5000,
    "theme": {"background": "#0b1120", "foreground": "#e2e8f0", "cursor": "#fbbf24", "selectionBackground": "#334155"},
}


def replay_player(session: Session) -> ReplayPlayer:
    """Render the player for `session`'s recording in place (running sessions: the recording so far)."""
    return ReplayPlayer(session)


class ReplayPlayer:
    """The player's element; `update(session)` brings its caption in line with a fresh record (the playing state
    lives in the browser and is never redrawn from here)."""

    def __init__(self, session: Session) -> None:
        live = session.status in LIVE_SESSION_STATUSES
        with tid(ui.element("div"), "replay-player").classes("m-replay w-full") as self.root:
            self.root.props["data-session-id"] = session.id
            self.root.props["data-live"] = "true" if live else "false"  # static/replay.js stops following at false
            self.root.props["tabindex"] = "0"  # keys: space play/pause, arrows ±5 s, n next report
            if session.started_at is None and not live:
                ui.label("This session never started, so nothing was recorded.").classes("text-sm text-grey-7")
                self.caption = None
                return
            # Report markers are placed relative to the start: the recording begins when the program is spawned,
            # milliseconds before started_at is written (the header's own timestamp has whole seconds only).
            self.root.props["data-started"] = _iso(session.started_at or session.created_at)
            with ui.element("div").classes("m-replay-screen"):
                terminal = tid(ui.xterm(TERMINAL_OPTIONS), "replay-terminal")
            ui.element("div").classes("m-replay-controls")  # static/replay.js builds the controls in here
            self.caption = tid(ui.label(caption(session)).classes("text-sm text-grey-7"), "replay-caption")
        ui.run_javascript(f'import("{script_url()}").then((m) => m.attach({self.root.id}, {terminal.id}))')

    def update(self, session: Session) -> None:
        """The session changed (it ended, say): say what the recording now covers."""
        if self.caption is not None:
            self.caption.set_text(caption(session))
            self.root.props["data-live"] = "true" if session.status in LIVE_SESSION_STATUSES else "false"


@cache
def script_url() -> str:
    """static/replay.js with a content hash, so a browser never runs a stale copy after an upgrade."""
    digest = hashlib.sha256((static_dir() / "replay.js").read_bytes()).hexdigest()[:12]
    return f"/static/replay.js?v={digest}"


def caption(session: Session) -> str:
    """What the recording covers, in words."""
    if session.status in LIVE_SESSION_STATUSES:
        return "The recording so far: the session still runs; playing on at the end follows it."
    if session.status == "lost":
        return "The server stopped while this session ran: the recording ends where it was cut off."
    if session.exit_code is not None:
        return f"The whole session, until it ended ({session.status}, exit code {session.exit_code})."
    return f"The whole session, until it ended ({session.status})."


def _iso(moment: dt.datetime) -> str:
    """An ISO time the browser reads as UTC (a naive time from the database is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()
