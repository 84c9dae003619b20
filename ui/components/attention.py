"""Who needs you, on every page: the number of sessions waiting for input (in the frame and the tab's title), a toast
when a session needs input, completes or fails, and opt-in browser notifications with a per-project mute.

The preferences are this browser's (`app.storage.user`): browser notifications on or off, and the projects muted.
A mute silences only the browser's notifications; the in-app toast always shows.
"""

from __future__ import annotations

import json

from nicegui import app, ui

from app.models.events import EventRecord, SessionStatusChanged, decode_data
from app.models.projects import Project
from app.services import sessions, timeline
from app.services.runtime import Runtime
from ui.context import tid
from ui.live import follow

NOTIFY = "notify_browser"  # app.storage.user: True once this browser asked for notifications (and was allowed)
MUTED = "notify_muted"  # app.storage.user: ids of the projects whose browser notifications are muted
MAX_TOASTS = 3  # per live batch; beyond, one toast counts the rest
ANNOUNCED = {
    "needs_input": ("needs your input", "warning"),
    "completed": ("completed", "positive"),
    "failed": ("failed", "negative"),
}

# The browser half: the count in the tab's title (kept when a page changes its title) and browser notifications,
# shown only while the tab is not in front (the toast covers that) and tagged per session, so several open tabs
# make one notification, not one each.
_HEAD = """
<script>
(() => {
  let count = 0;
  const apply = () => {
    const base = document.title.replace(/^\\(\\d+\\) /, '');
    const wanted = count ? `(${count}) ${base}` : base;
    if (document.title !== wanted) document.title = wanted;
  };
  window.maestroAttention = (n) => { count = n; apply(); };
  document.addEventListener('DOMContentLoaded', () => {
    const title = document.querySelector('title');
    if (title) new MutationObserver(apply).observe(title, {childList: true, characterData: true, subtree: true});
  });
  window.maestroNotify = (n) => {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    const note = new Notification(n.title, {body: n.body, tag: n.tag, icon: '/static/icon-192.png'});
    note.onclick = () => { window.focus(); window.location.assign(n.url); note.close(); };
  };
})();
</script>
"""
_ASK = "return ('Notification' in window) ? await Notification.requestPermission() : 'unsupported'"


class Attention:
    """The frame's attention badge and notification bell for one tab, kept live from the event hub."""

    def __init__(self, runtime: Runtime, project: Project | None) -> None:
        self.project = project
        self.count = 0
        ui.add_head_html(_HEAD)
        button = ui.button(icon="pan_tool", on_click=lambda: ui.navigate.to("/sessions"))
        self.button = tid(button.props("flat round dense color=grey-6"), "attention")
        with self.button:
            self.tip = ui.tooltip("No session needs your input")
            self.badge = ui.badge("0").props("floating color=amber-7 text-color=black rounded")
            tid(self.badge, "attention-count").set_visibility(False)
        self._bell()
        self.runtime = runtime
        self.following = False
        # Started once the browser attached, never earlier: waiting for the connection while the page is still
        # being built would make NiceGUI serve it half drawn.
        ui.context.client.on_connect(self._attached)

    async def _attached(self) -> None:
        if not self.following:  # on_connect runs again after a reconnect; one subscription per tab is enough
            self.following = True
            follow(self.runtime.hub, self.update)
        await self.refresh()

    def _bell(self) -> None:
        store = app.storage.user
        self.bell = ui.button(icon="notifications" if store.get(NOTIFY) else "notifications_off")
        tid(self.bell.props("flat round dense color=white").tooltip("Notifications"), "notifications-bell")
        with self.bell, ui.menu(), ui.column().classes("p-3 gap-1 max-w-80"):
            ui.label("Notifications").classes("font-semibold")
            ui.label("A toast shows here whenever a session needs input, completes or fails.").classes(
                "text-xs text-grey-7"
            )
            self.browser = ui.switch("Browser notifications (this browser)", value=bool(store.get(NOTIFY)))
            tid(self.browser, "notify-browser").on_value_change(self._browser_switched)
            if self.project is not None:
                muted = self.project.id in store.get(MUTED, [])
                self.mute = ui.switch(f"Mute browser notifications of '{self.project.name}'", value=muted)
                tid(self.mute.classes("break-all"), "notify-mute").on_value_change(self._mute_switched)

    async def refresh(self) -> None:
        """Re-count the sessions waiting for input (every project's) and show it."""
        waiting = await sessions.list_sessions(statuses=("needs_input",), limit=500)
        self.count = len(waiting)
        self.badge.text = str(self.count)
        self.badge.set_visibility(self.count > 0)
        people = f"{self.count} session{'s' if self.count != 1 else ''} need{'s' if self.count == 1 else ''}"
        self.tip.text = f"{people} your input" if self.count else "No session needs your input"
        self.button.props(f"color={'amber' if self.count else 'grey-6'}")  # dim while nobody waits
        ui.run_javascript(f"window.maestroAttention && window.maestroAttention({self.count})")

    async def update(self, batch: list[EventRecord]) -> None:
        """A live batch: announce what needs announcing, and re-count when sessions changed (or after a reset)."""
        if batch and not any(r.type.startswith("session.") or r.type == "project.deleted" for r in batch):
            return
        await self._announce(batch)
        await self.refresh()

    async def _announce(self, batch: list[EventRecord]) -> None:
        changes = []
        for record in batch:
            if record.type != SessionStatusChanged.TYPE:
                continue
            data = decode_data(record)
            if isinstance(data, SessionStatusChanged) and data.to in ANNOUNCED:
                changes.append(data)
        if not changes:
            return
        asking = [c.session.id for c in changes if c.to == "needs_input"]
        # The question is in the report's timeline entry; it may have arrived in an earlier batch, so read it.
        questions = await timeline.latest_session_entries(asking, ("needs_input",)) if asking else {}
        for change in changes[:MAX_TOASTS]:
            question = questions.get(change.session.id)
            self._tell(change, question.message if question is not None else "")
        if len(changes) > MAX_TOASTS:
            rest = len(changes) - MAX_TOASTS
            _toast(f"…and {rest} more session{'s' if rest != 1 else ''} changed", "info", "/sessions")

    def _tell(self, change: SessionStatusChanged, question: str) -> None:
        session = change.session
        what, kind = ANNOUNCED[change.to]
        first_line = question.strip().splitlines()[0][:200] if question.strip() else ""
        message = f"'{session.name}' {what}" + (f": {first_line}" if first_line else "")
        url = f"/sessions/{session.id}"
        _toast(message, kind, url)
        store = app.storage.user
        if store.get(NOTIFY) and session.project_id not in store.get(MUTED, []):
            payload = {
                "title": f"{session.name} {what}",
                "body": first_line or f"Profile {session.profile}",
                "tag": f"{session.id}:{change.to}",
                "url": url,
            }
            ui.run_javascript(f"window.maestroNotify && window.maestroNotify({json.dumps(payload)})")

    async def _browser_switched(self) -> None:
        """Turning notifications on asks the browser's permission; a refusal turns the switch back off."""
        if not self.browser.value:
            app.storage.user[NOTIFY] = False
            self.bell.props("icon=notifications_off")
            return
        try:
            answer = await ui.run_javascript(_ASK, timeout=60)
        except TimeoutError:
            answer = "default"
        if answer != "granted":
            self.browser.value = False
            reason = "does not support them" if answer == "unsupported" else "did not allow them for this site"
            ui.notify(f"No browser notifications: this browser {reason}. Toasts still show here.", type="warning")
            return
        app.storage.user[NOTIFY] = True
        self.bell.props("icon=notifications")
        ui.notify("Browser notifications are on for this browser", type="positive")

    def _mute_switched(self) -> None:
        assert self.project is not None
        muted = [p for p in app.storage.user.get(MUTED, []) if p != self.project.id]
        if self.mute.value:
            muted.append(self.project.id)
        app.storage.user[MUTED] = muted


def _toast(message: str, kind: str, url: str) -> None:
    """An in-app toast with a button to the session (its text is untrusted: Quasar shows it as text, not HTML)."""
    action = {"label": "Open", "color": "white", ":handler": f"() => window.location.assign({json.dumps(url)})"}
    ui.notification(message, type=kind, multi_line=True, timeout=8, actions=[action])  # type: ignore[arg-type]
