"""The frame on every page: name, project switcher, navigation, connection status, theme toggle, palette button."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from nicegui import app, ui
from nicegui.events import KeyEventArguments

from app.models.projects import Project
from ui.components.attention import Attention
from ui.components.palette import Entry, Palette
from ui.components.run_agent import Launcher
from ui.components.terminal import script_url
from ui.context import tid
from ui.runtime import runtime_of

# The browser half of the connection indicator: NiceGUI's socket.io connection, shown as live / reconnecting /
# offline (NiceGUI reconnects by itself; the page's server-side subscription resumes where it was).
_CONNECTION_JS = """
<link rel="manifest" href="/static/manifest.webmanifest" crossorigin="use-credentials">
<meta name="theme-color" content="#0f172a">
<script>
(() => {
  function show(state) {
    const el = document.querySelector('[data-testid="connection-status"]');
    if (!el) return;
    el.dataset.state = state;
    el.title = {live: 'Live: changes appear as they happen', reconnecting: 'Reconnecting…', offline: 'Offline'}[state];
    const label = el.querySelector('.conn-label');
    if (label) label.textContent = {live: 'Live', reconnecting: 'Reconnecting', offline: 'Offline'}[state];
  }
  function hook() {
    if (!window.socket) { setTimeout(hook, 100); return; }
    window.socket.on('connect', () => show('live'));
    window.socket.on('disconnect', () => show('reconnecting'));
    window.socket.io.on('reconnect_failed', () => show('offline'));
    window.addEventListener('offline', () => show('offline'));
    window.addEventListener('online', () => show(window.socket.connected ? 'live' : 'reconnecting'));
    show(window.socket.connected ? 'live' : 'reconnecting');
  }
  document.addEventListener('DOMContentLoaded', hook);
})();
</script>
<style>
  /* Surfaces that follow Quasar's dark mode (Tailwind's dark: variant does not see body--dark). */
  .m-surface { background: #eef0f3; }
  .body--dark .m-surface { background: #1e293b; }
  .m-selected { background: #dbeafe; }
  .body--dark .m-selected { background: #334155; }
  /* Quasar's darkest greys are body text on a light page; on a dark one they would all but vanish. (An important
     rule of an earlier layer beats one of a later layer: NiceGUI's "overrides" comes before "quasar_importants".) */
  @layer overrides {
    .body--dark .text-grey-9 { color: #e2e8f0 !important; }
    .body--dark .text-grey-8 { color: #cbd5e1 !important; }
  }
  [data-testid="connection-status"] .conn-dot { width: 8px; height: 8px; border-radius: 50%; background: #9ca3af; }
  [data-testid="connection-status"][data-state="live"] .conn-dot { background: #22c55e; }
  [data-testid="connection-status"][data-state="reconnecting"] .conn-dot { background: #f59e0b; }
  [data-testid="connection-status"][data-state="offline"] .conn-dot { background: #ef4444; }
</style>
"""

NAV = (
    ("Board", "board", "view_kanban"),
    ("Tasks", "tasks", "account_tree"),
    ("Graph", "graph", "schema"),
    ("Worktrees", "worktrees", "call_split"),
    ("Sessions", "sessions", "terminal"),
)


SHORTCUTS = (
    ("Ctrl/Cmd + K", "Command palette: jump anywhere, run an action"),
    ("?", "This sheet"),
    ("c", "New task"),
    ("s", "Open a plain shell in the project's folder"),
    ("r", "Run an agent (on a task page: on that task)"),
    ("/", "Focus the search or filter box"),
    ("j / k", "Move down / up in lists and on the board"),
    ("Enter", "Open the selected item"),
    ("Esc", "Close a dialog"),
)


@contextlib.contextmanager
def frame(
    title: str,
    *,
    projects: list[Project],
    current: Project | None,
    active: str,
    actions: list[Entry] | None = None,
    keys: dict[str, Callable[[], object]] | None = None,
    wide: bool = False,
) -> Iterator[ui.column]:
    """Lay out the page frame and yield the content column.

    `actions` join the palette's; `keys` are this page's single-key shortcuts (`c`, `/`, `j`, `k`, `Enter`); `s`
    (a shell) and `r` (Run agent) are every page's unless the page gives its own.
    """
    ui.page_title(f"{title} · Maestro" if title != "Maestro" else title)
    dark = ui.dark_mode(app.storage.user.get("dark", False))
    runtime = runtime_of(ui.context.client.request)
    launcher = Launcher(runtime, current.id if current else None)
    keys = {"s": launcher.open_shell, "r": launcher.run_agent, **(keys or {})}
    # Where `s` opens a shell, the browser starts keeping the keys typed after it at once (static/type_ahead.js).
    shell_key = ' data-shell-key="s"' if keys["s"] == launcher.open_shell else ""
    ui.add_head_html(_CONNECTION_JS + f'<script src="{script_url("type_ahead.js")}"{shell_key}></script>')

    def toggle() -> None:
        dark.value = not dark.value
        app.storage.user["dark"] = dark.value

    base_actions = [
        Entry("Toggle dark / light theme", "action", toggle),
        Entry("Settings and server status", "action", lambda: ui.navigate.to("/settings")),
    ]
    if current is not None:
        base_actions.insert(0, Entry("Open board", "action", lambda: ui.navigate.to(f"/projects/{current.id}/board")))
        base_actions.insert(
            1, Entry("Open task tree", "action", lambda: ui.navigate.to(f"/projects/{current.id}/tasks"))
        )
        base_actions.insert(
            2, Entry("Open run graph", "action", lambda: ui.navigate.to(f"/projects/{current.id}/graph"))
        )
    if not any(entry.label.startswith("Run agent") for entry in actions or []):
        base_actions.insert(0, Entry("Run agent…", "action", launcher.run_agent))
    base_actions.insert(1, Entry("Open a shell", "action", launcher.open_shell, "s"))
    if keys and "c" in keys and not any(entry.label.startswith("New ") for entry in actions or []):
        base_actions.insert(0, Entry("New task" if current else "New project", "action", keys["c"]))
    palette = Palette([*(actions or []), *base_actions], current.id if current else None)
    sheet = _shortcut_sheet()
    _keyboard(palette, sheet, keys or {})
    with ui.header().classes("items-center gap-3 px-4 py-2 bg-slate-900 text-white"):
        ui.link("Maestro", "/").classes("text-lg font-bold text-amber-300 no-underline")
        switcher = (
            ui.select(
                {p.id: p.name for p in projects},
                value=current.id if current else None,
                on_change=lambda e: e.value and ui.navigate.to(f"/projects/{e.value}/board"),
            )
            .props('dense dark options-dense borderless placeholder="Choose a project"')
            .classes("min-w-40")
        )
        tid(switcher, "project-switcher")
        with ui.row().classes("gap-1"):
            for label, key, icon in NAV:
                target = f"/projects/{current.id}/{key}" if current and key != "sessions" else f"/{key}"
                if key != "sessions" and current is None:
                    continue
                button = ui.button(label, icon=icon, on_click=lambda t=target: ui.navigate.to(t)).props(
                    "flat dense no-caps" + (" color=amber" if key == active else " color=white")
                )
                tid(button, f"nav-{key}")
            tid(
                ui.button("Settings", icon="settings", on_click=lambda: ui.navigate.to("/settings")).props(
                    "flat dense no-caps" + (" color=amber" if active == "settings" else " color=white")
                ),
                "nav-settings",
            )
        ui.space()
        Attention(runtime, current)
        with tid(ui.row().classes("items-center gap-2 text-sm"), "connection-status"):
            ui.element("div").classes("conn-dot")
            ui.label("Connecting").classes("conn-label")
        palette_button = ui.button(icon="search", on_click=palette.open)
        palette_button.props("flat round dense color=white").tooltip("Command palette (Ctrl+K)")
        tid(palette_button, "open-palette")
        theme = ui.button(icon="dark_mode", on_click=toggle).props("flat round dense color=white")
        tid(theme.tooltip("Dark / light"), "theme-toggle")
    width = "w-full px-4" if wide else "w-full max-w-7xl mx-auto px-4"
    with ui.column().classes(f"{width} py-4 gap-4") as content:
        yield content


def _shortcut_sheet() -> ui.dialog:
    with ui.dialog() as sheet, ui.card().classes("min-w-96"):
        tid(sheet, "shortcut-sheet")
        ui.label("Keyboard shortcuts").classes("text-lg font-semibold")
        with ui.grid(columns=2).classes("gap-x-6 gap-y-1"):
            for key, meaning in SHORTCUTS:
                ui.label(key).classes("font-mono text-sm")
                ui.label(meaning).classes("text-sm")
    return sheet


def _keyboard(palette: Palette, sheet: ui.dialog, keys: dict[str, Callable[[], object]]) -> None:
    """Global shortcuts; typing in a text field never triggers them (NiceGUI ignores keys in inputs)."""

    async def on_key(event: KeyEventArguments) -> None:
        if not event.action.keydown or event.action.repeat:
            return
        name = event.key.name
        if name.lower() == "k" and (event.modifiers.ctrl or event.modifiers.meta):
            await palette.open()
        elif event.modifiers.ctrl or event.modifiers.meta or event.modifiers.alt:
            return
        elif name == "?":
            sheet.open()
        elif name in keys:
            result = keys[name]()
            if hasattr(result, "__await__"):
                await result

    ui.keyboard(on_key=on_key, ignore=["input", "select", "textarea"])  # a focused button must not swallow keys
