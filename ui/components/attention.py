"""Who needs you, on every page: the number of things waiting for the person — sessions asking a question, stalled
sessions, planned runs that failed or ask what to do — in the frame and the tab's title, with a menu listing each one
(one click opens its session or task); a toast when a session needs input, stalls, completes or fails, or a run needs
the person; and opt-in browser notifications with a per-project mute.

The preferences are this browser's (`app.storage.user`): browser notifications on or off, and the projects muted.
A mute silences only the browser's notifications; the in-app toast always shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nicegui import app, ui

from app.models.events import EventRecord, SessionStatusChanged, TaskDeleted, TaskUpdated, decode_data
from app.models.projects import Project
from app.models.sessions import Session
from app.models.tasks import Task
from app.services import sessions, tasks, timeline
from app.services.runtime import Runtime
from ui.components.run_badges import NEEDS_PERSON, RUN_COLOR, RUN_WORDS, evidence, in_words
from ui.context import tid
from ui.design import SESSION_COLOR
from ui.live import follow

NOTIFY = "notify_browser"  # app.storage.user: True once this browser asked for notifications (and was allowed)
MUTED = "notify_muted"  # app.storage.user: ids of the projects whose browser notifications are muted
MAX_TOASTS = 3  # per live batch; beyond, one toast counts the rest
MENU_ITEMS = 30  # items listed in the menu; the count covers them all
RUN_ANNOUNCED = {
    "failed": "'{}': its run failed",
    "needs_person": "'{}' needs you: its run failed",
    "ended_without_report": "'{}': its session ended without reporting complete",
}
ANNOUNCED = {
    "needs_input": ("needs your input", "warning"),
    "stalled": ("stalled", "warning"),
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


@dataclass
class Item:
    """One thing that needs the person, as the menu lists it."""

    kind: str  # question | stalled | run
    title: str
    detail: str
    url: str
    color: str


class Attention:
    """The frame's attention button (count and menu) and notification bell for one tab, kept live from the hub."""

    def __init__(self, runtime: Runtime, project: Project | None) -> None:
        self.project = project
        self.count = 0
        self.waiting: list[Session] = []  # asking a question
        self.stalled: list[Session] = []
        self.runs: dict[str, Task] = {}  # planned runs that failed or ask the person, by task id
        ui.add_head_html(_HEAD)
        self.button = tid(ui.button(icon="pan_tool").props("flat round dense color=grey-6"), "attention")
        with self.button:
            self.tip = ui.tooltip("Nothing needs you")
            self.badge = ui.badge("0").props("floating color=amber-7 text-color=black rounded")
            tid(self.badge, "attention-count").set_visibility(False)
            with ui.menu().props("max-height=70vh") as self.menu:
                self.list = tid(ui.list().props("dense separator").classes("min-w-80 max-w-md"), "attention-menu")
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
        await self.refresh(runs=True)

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

    async def refresh(self, *, runs: bool = False) -> None:
        """Re-read the sessions that need the person (every project's), and with `runs` the runs too; show them."""
        found = await sessions.list_sessions(statuses=("needs_input", "stalled"), limit=500)
        self.waiting = [s for s in found if s.status == "needs_input"]
        self.stalled = [s for s in found if s.status == "stalled"]
        if runs:
            self.runs = await _runs_needing_person()
        if not self.button.is_deleted:  # the tab may have gone while we read
            self.show()

    def show(self) -> None:
        """The count (button, tab title), its tooltip and the menu's items."""
        self.count = len(self.waiting) + len(self.stalled) + len(self.runs)
        self.badge.text = str(self.count)
        self.badge.set_visibility(self.count > 0)
        self.tip.text = _summary(len(self.waiting), len(self.stalled), len(self.runs))
        self.button.props(f"color={'amber' if self.count else 'grey-6'}")  # dim while nothing waits
        ui.run_javascript(f"window.maestroAttention && window.maestroAttention({self.count})")
        items = self.items()
        self.list.clear()
        with self.list:
            if not items:
                ui.item_label("Nothing needs you right now.").classes("p-3 text-grey-7")
            for item in items[:MENU_ITEMS]:
                self._item(item)
            if len(items) > MENU_ITEMS:
                ui.item_label(f"…and {len(items) - MENU_ITEMS} more").classes("p-2 text-grey-7")
            with tid(ui.item(on_click=lambda: ui.navigate.to("/sessions")), "attention-all-sessions"):
                with ui.item_section():
                    ui.item_label("All sessions").classes("text-primary")

    def items(self) -> list[Item]:
        """Questions first, then runs that need a decision, then stalled sessions."""
        found = [
            Item("question", s.name, "asks you a question", f"/sessions/{s.id}", SESSION_COLOR[s.status])
            for s in self.waiting
        ]
        for task in self.runs.values():
            run = task.run
            assert run is not None
            why = in_words(run.reason.why, {task.id: task.title}) if run.reason is not None else ""
            detail = f"{RUN_WORDS[run.state]}" + (f": {why}" if why else "")
            found.append(Item("run", task.title, detail, f"/tasks/{task.id}", RUN_COLOR[run.state]))
        for session in self.stalled:
            url = f"/sessions/{session.id}"
            found.append(Item("stalled", session.name, f"stalled: {evidence(session)}", url, SESSION_COLOR["stalled"]))
        return found

    def _item(self, item: Item) -> None:
        icon = {"question": "help_outline", "stalled": "hourglass_bottom", "run": "error_outline"}[item.kind]
        row = tid(ui.item(on_click=lambda: ui.navigate.to(item.url)), "attention-item")
        row.props(f"clickable v-close-popup data-kind={item.kind}")
        with row:
            with ui.item_section().props("avatar"):
                ui.icon(icon, color=item.color)
            with ui.item_section():
                # Titles, names and agents' words are untrusted: labels show them as text.
                ui.item_label(item.title).classes("font-medium break-all")
                ui.item_label(item.detail).props("caption lines=2").classes("break-words")

    async def update(self, batch: list[EventRecord]) -> None:
        """A live batch: announce what needs announcing; re-read sessions when they changed, follow runs from the
        task events themselves (a reset or a deleted project re-reads everything)."""
        if not batch or any(r.type == "project.deleted" for r in batch):
            await self.refresh(runs=True)
            return
        runs_changed = self._follow_runs(batch)
        if any(r.type.startswith("session.") for r in batch):
            await self._announce(batch)
            await self.refresh()
        elif runs_changed:
            self.show()

    def _follow_runs(self, batch: list[EventRecord]) -> bool:
        """Keep `self.runs` in line with the batch's task events; announce runs that newly need the person."""
        changed = False
        for record in batch:
            if record.type == TaskDeleted.TYPE:
                data = decode_data(record)
                if isinstance(data, TaskDeleted):
                    changed |= any(self.runs.pop(task_id, None) is not None for task_id in data.deleted_ids)
            elif record.type == TaskUpdated.TYPE:
                data = decode_data(record)
                if not isinstance(data, TaskUpdated):
                    continue
                task, before = data.task, self.runs.get(data.task.id)
                if _needs_person(task):
                    self.runs[task.id] = task
                    if before is None or (before.run and task.run and before.run.state != task.run.state):
                        self._tell_run(task)
                    changed = True
                elif before is not None:
                    del self.runs[task.id]
                    changed = True
        return changed

    def _tell_run(self, task: Task) -> None:
        assert task.run is not None
        message = RUN_ANNOUNCED[task.run.state].format(task.title)
        url = f"/tasks/{task.id}"
        _toast(message, "warning", url)
        body = "Open the task to retry, skip or stop"
        self._browser_notify(message, body, f"{task.id}:{task.run.state}", url, task.project_id)

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
        said = question if change.to == "needs_input" else ""
        if change.to == "stalled":
            said = evidence(session)
        first_line = said.strip().splitlines()[0][:200] if said.strip() else ""
        message = f"'{session.name}' {what}" + (f": {first_line}" if first_line else "")
        url = f"/sessions/{session.id}"
        _toast(message, kind, url)
        body = first_line or f"Profile {session.profile}"
        self._browser_notify(f"{session.name} {what}", body, f"{session.id}:{change.to}", url, session.project_id)

    def _browser_notify(self, title: str, body: str, tag: str, url: str, project_id: str) -> None:
        """A browser notification, when this browser asked for them and the project is not muted."""
        store = app.storage.user
        if store.get(NOTIFY) and project_id not in store.get(MUTED, []):
            payload = {"title": title, "body": body, "tag": tag, "url": url}
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


def _needs_person(task: Task) -> bool:
    return task.run is not None and task.run.state in NEEDS_PERSON and task.archived_at is None


async def _runs_needing_person() -> dict[str, Task]:
    """Every project's planned runs that failed or ask the person (one indexed query)."""
    return {t.id: t for t in await tasks.runs_needing_person() if _needs_person(t)}


def _summary(questions: int, stalled: int, runs: int) -> str:
    """The button's tooltip: what waits, in words."""
    parts = []
    if questions:
        parts.append(f"{_count(questions, 'session')} need{'s' if questions == 1 else ''} your input")
    if runs:
        parts.append(f"{_count(runs, 'run')} need{'s' if runs == 1 else ''} a decision")
    if stalled:
        parts.append(f"{_count(stalled, 'session')} stalled")
    return "; ".join(parts) if parts else "Nothing needs you"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
