"""The command palette (Ctrl/Cmd-K): fuzzy jump to any project, task or session, and run actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui

from app.services import projects, sessions, tasks
from ui.context import tid

MAX_RESULTS = 12


@dataclass
class Entry:
    """One palette line: what it shows and what choosing it does."""

    label: str
    kind: str  # project | task | session | action
    run: Callable[[], object]
    hint: str = ""


def fuzzy_score(query: str, text: str) -> int | None:
    """A subsequence match score (higher is better), or None when `query`'s letters do not appear in order."""
    query, text = query.lower(), text.lower()
    if not query:
        return 0
    if query in text:
        return 1000 - text.index(query)
    score, position, streak = 0, 0, 0
    for char in query:
        found = text.find(char, position)
        if found < 0:
            return None
        streak = streak + 1 if found == position else 0
        score += 1 + streak * 2
        position = found + 1
    return score


class Palette:
    """A dialog with a search box; results update as the person types; Enter runs the first (or chosen) one."""

    def __init__(self, actions: list[Entry], project_id: str | None) -> None:
        self.actions = actions
        self.project_id = project_id
        self.entries: list[Entry] = []
        self.selected = 0
        with ui.dialog() as self.dialog, ui.card().classes("w-[36rem] max-w-full p-2 self-start mt-16"):
            tid(self.dialog, "command-palette")
            self.search = ui.input(placeholder="Jump to a project, task or session, or run an action…")
            self.search.props("autofocus outlined dense clearable").classes("w-full")
            tid(self.search, "palette-input")
            self.search.on_value_change(self._changed)
            self.search.on("keydown.enter", self._choose)
            self.search.on("keydown.down", lambda: self._move(1))
            self.search.on("keydown.up", lambda: self._move(-1))
            self.results = ui.column().classes("w-full gap-0")

    async def open(self) -> None:
        """Show the palette with the actions and recent items."""
        self.search.value = ""
        self.dialog.open()
        await self._refresh("")

    async def _changed(self) -> None:
        await self._refresh(self.search.value or "")

    async def _refresh(self, query: str) -> None:
        candidates = list(self.actions)
        for project in await projects.list_projects():
            candidates.append(Entry(project.name, "project", _go(f"/projects/{project.id}/board"), project.id))
        if query.strip():
            page = await tasks.list_tasks(project_id=self.project_id, limit=200, sort="-updated_at")
            for task in page.items:
                candidates.append(Entry(task.title, "task", _go(f"/tasks/{task.id}"), task.id))
            for session in await sessions.list_sessions(project_id=self.project_id, limit=100):
                candidates.append(Entry(session.name, "session", _go(f"/sessions/{session.id}"), session.id))
        scored = []
        for entry in candidates:
            # 0 is a match (an empty query matches everything), so None, not falsiness, means "no match".
            scores = [s for s in (fuzzy_score(query, entry.label), fuzzy_score(query, entry.hint)) if s is not None]
            if scores:
                scored.append((max(scores), entry))
        scored.sort(key=lambda pair: -pair[0])
        self.entries = [entry for _, entry in scored[:MAX_RESULTS]]
        self.selected = 0
        self._render()

    def _render(self) -> None:
        self.results.clear()
        with self.results:
            if not self.entries:
                ui.label("Nothing matches").classes("text-grey-6 p-2")
            for index, entry in enumerate(self.entries):
                row = ui.row().classes("w-full items-center gap-2 px-2 py-1 rounded cursor-pointer")
                if index == self.selected:
                    row.classes("m-selected")
                with row:
                    ui.badge(entry.kind).props("outline")
                    ui.label(entry.label).classes("grow truncate")
                    ui.label(entry.hint).classes("text-xs text-grey-6 font-mono")
                row.on("click", lambda e=entry: self._run(e))
                tid(row, "palette-result")

    def _move(self, step: int) -> None:
        if self.entries:
            self.selected = (self.selected + step) % len(self.entries)
            self._render()

    async def _choose(self) -> None:
        if self.entries:
            await self._run(self.entries[self.selected])

    async def _run(self, entry: Entry) -> None:
        self.dialog.close()
        result = entry.run()
        if hasattr(result, "__await__"):
            await result


def _go(path: str) -> Callable[[], None]:
    return lambda: ui.navigate.to(path)
